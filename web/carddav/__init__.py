"""The customers as a read-only CardDAV address book (RFC 6352, RFC 6578, RFC 6764).

One module per method, in the style of Radicale: :mod:`.propfind`, :mod:`.report`,
:mod:`.get`, :mod:`.options`, :mod:`.write` (refusals); :mod:`.app` authenticates
and dispatches, :mod:`.resources` maps paths to what they are and who may read them.
:mod:`.calendars` serves each user's follow-ups as a read-only CalDAV task list
(RFC 4791, VTODO) under ``/dav/calendars/``, with its own resources and methods.
"""
