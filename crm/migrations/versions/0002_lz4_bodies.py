"""PostgreSQL: compress mail bodies with lz4 instead of pglz

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23

Mail bodies are most of what ingest writes; pglz compresses them at a fraction
of lz4's speed (PostgreSQL 14+, built with lz4, as Debian's and most are).
Where lz4 is not available the columns keep the default: nothing else changes.
SQLite stores text uncompressed either way.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

COLUMNS = ("body_text", "body_html")


def _set_compression(method: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql" or bind.dialect.server_version_info < (14,):
        return
    try:
        with bind.begin_nested():  # a build without lz4 refuses: keep the default then
            for column in COLUMNS:
                bind.execute(
                    sa.text(f"ALTER TABLE interactions ALTER COLUMN {column} SET COMPRESSION {method}")
                )
    except sa.exc.DBAPIError:
        pass


def upgrade() -> None:
    _set_compression("lz4")


def downgrade() -> None:
    _set_compression("pglz")
