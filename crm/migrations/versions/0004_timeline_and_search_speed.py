"""timeline and search on large histories: participants.occurred_at, search indexes

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23

Measured with benchmarks/timeline.py on 1,000,000 interactions:

- A customer's timeline was "interactions whose id is IN (participants of the
  customer)": every linked interaction read and sorted (SQLite), or the whole table
  walked backwards by time (PostgreSQL, seconds for a small customer). With the
  interaction's time copied into participants and an index (customer, time,
  interaction) per link, a page is one short index range per link.
- PostgreSQL full-text search recomputed to_tsvector for each candidate row. The
  vector is now a stored generated column with the GIN index on it.
- Name, address and domain search ("contains") scanned whole tables on PostgreSQL;
  trigram GIN indexes serve them where the pg_trgm extension can be created
  (it ships with PostgreSQL; creating it needs the database owner's rights).
- SQLite's FTS5 table indexes 2- and 3-character prefixes, so a short prefix such as
  "de" is not expanded over every term.
"""

from __future__ import annotations

import importlib

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

FTS_TEXT = "subject || ' ' || left(body_text, 100000)"
TRIGRAM = [
    ("ix_people_name_trgm", "people", "display_name"),
    ("ix_organizations_name_trgm", "organizations", "name"),
    ("ix_contact_points_value_trgm", "contact_points", "value"),
    ("ix_organization_domains_domain_trgm", "organization_domains", "domain"),
]


def _v0003():  # the FTS5 statements of migration 0003, which this one amends
    return importlib.import_module("crm.migrations.versions.0003_web_view")


def upgrade() -> None:
    with op.batch_alter_table("participants") as batch:
        batch.add_column(sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE participants SET occurred_at ="
        " (SELECT occurred_at FROM interactions WHERE interactions.id = participants.interaction_id)"
    )
    op.create_index(
        "ix_participants_person_time", "participants", ["person_id", "occurred_at", "interaction_id"]
    )
    op.create_index(
        "ix_participants_org_time", "participants", ["organization_id", "occurred_at", "interaction_id"]
    )
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        old = _v0003()
        for statement in old.SQLITE_FTS_DROP:
            op.execute(statement)
        for statement in old.SQLITE_FTS:
            op.execute(statement.replace("tokenize=", "prefix='2 3', tokenize="))
        return
    op.execute("DROP INDEX IF EXISTS ix_interactions_fts")
    op.execute(
        "ALTER TABLE interactions ADD COLUMN search_vector tsvector"
        f" GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, {FTS_TEXT})) STORED"
    )
    op.execute("CREATE INDEX ix_interactions_search ON interactions USING gin (search_vector)")
    try:
        with bind.begin_nested():
            op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            for name, table, column in TRIGRAM:
                op.execute(
                    f"CREATE INDEX {name} ON {table} USING gin ({column} gin_trgm_ops)"
                )
    except sa.exc.DBAPIError:
        pass  # no right to create the extension: "contains" searches scan, still correct


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        old = _v0003()
        for statement in old.SQLITE_FTS_DROP:
            op.execute(statement)
        for statement in old.SQLITE_FTS:
            op.execute(statement)
    else:
        for name, _, _ in TRIGRAM:
            op.execute(f"DROP INDEX IF EXISTS {name}")
        op.execute("DROP INDEX IF EXISTS ix_interactions_search")
        op.execute("ALTER TABLE interactions DROP COLUMN IF EXISTS search_vector")
        op.execute(
            "CREATE INDEX ix_interactions_fts ON interactions USING gin"
            f" (to_tsvector('simple'::regconfig, {FTS_TEXT}))"
        )
    op.drop_index("ix_participants_org_time", table_name="participants")
    op.drop_index("ix_participants_person_time", table_name="participants")
    with op.batch_alter_table("participants") as batch:
        batch.drop_column("occurred_at")
