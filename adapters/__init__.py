"""Protocol adapters: each turns a remote store into normalized records.

Adapters know nothing of the database or of customers. What they hand over is
defined in :mod:`adapters.records`; the interface they implement is
:class:`adapters.base.Source`.
"""
