"""Alembic environment: crm.schema hands us a connection; we never read alembic.ini."""

from __future__ import annotations

from alembic import context

from crm.models import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - only through crm.schema
    raise RuntimeError("run migrations through crm.schema (crmsync init), not the alembic CLI")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite has no ALTER for most changes
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
