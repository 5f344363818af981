"""Alembic migrations of the crm schema (run by ``crmsync init``)."""
