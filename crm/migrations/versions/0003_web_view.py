"""web view: users, login throttling, sync requests, folder status, notes, full-text search

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23

Full-text search over interactions (crm.search): on SQLite an FTS5 table that
indexes subject and body through triggers (external content, so the text is
stored once); on PostgreSQL a GIN index over the same expression that
crm.search queries with. Both index the first 100,000 characters of a body
(PostgreSQL refuses a tsvector above 1 MB; nobody searches for the tail of a
log file someone mailed).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

DT = sa.DateTime(timezone=True)
NOW = sa.text("CURRENT_TIMESTAMP")

SQLITE_FTS = [
    # External content: the text stays in interactions, the index alone is added.
    "CREATE VIRTUAL TABLE interactions_fts USING fts5("
    " subject, body_text, content='interactions', content_rowid='id',"
    " tokenize='unicode61 remove_diacritics 2')",
    "INSERT INTO interactions_fts(rowid, subject, body_text)"
    " SELECT id, subject, substr(body_text, 1, 100000) FROM interactions",
    "CREATE TRIGGER interactions_fts_insert AFTER INSERT ON interactions BEGIN"
    " INSERT INTO interactions_fts(rowid, subject, body_text)"
    " VALUES (new.id, new.subject, substr(new.body_text, 1, 100000)); END",
    "CREATE TRIGGER interactions_fts_delete AFTER DELETE ON interactions BEGIN"
    " INSERT INTO interactions_fts(interactions_fts, rowid, subject, body_text)"
    " VALUES ('delete', old.id, old.subject, substr(old.body_text, 1, 100000)); END",
    "CREATE TRIGGER interactions_fts_update AFTER UPDATE OF subject, body_text ON interactions"
    " BEGIN INSERT INTO interactions_fts(interactions_fts, rowid, subject, body_text)"
    " VALUES ('delete', old.id, old.subject, substr(old.body_text, 1, 100000));"
    " INSERT INTO interactions_fts(rowid, subject, body_text)"
    " VALUES (new.id, new.subject, substr(new.body_text, 1, 100000)); END",
]
SQLITE_FTS_DROP = [
    "DROP TRIGGER IF EXISTS interactions_fts_update",
    "DROP TRIGGER IF EXISTS interactions_fts_delete",
    "DROP TRIGGER IF EXISTS interactions_fts_insert",
    "DROP TABLE IF EXISTS interactions_fts",
]
PG_FTS = (
    "CREATE INDEX ix_interactions_fts ON interactions USING gin"
    " (to_tsvector('simple'::regconfig, subject || ' ' || left(body_text, 100000)))"
)


def upgrade() -> None:
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(length=320), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", DT, nullable=True),
        sa.Column("updated_at", DT, nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_throttle")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", DT, nullable=False),
        sa.Column("password_changed_at", DT, nullable=False),
        sa.Column("last_login_at", DT, nullable=True),
        sa.CheckConstraint("role IN ('admin', 'staff', 'viewer')", name=op.f("ck_users_role")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("name", name=op.f("uq_users_name")),
    )
    op.create_table(
        "folder_status",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("collection", sa.String(length=512), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("last_run_at", DT, nullable=True),
        sa.Column("last_success_at", DT, nullable=True),
        sa.Column("last_new", sa.Integer(), nullable=False),
        sa.Column("last_known", sa.Integer(), nullable=False),
        sa.Column("last_quarantined", sa.Integer(), nullable=False),
        sa.Column("total_new", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_folder_status_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_folder_status")),
        sa.UniqueConstraint("account_id", "collection", name=op.f("uq_folder_status_account_id")),
    )
    op.create_table(
        "sync_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("requested_at", DT, nullable=False),
        sa.Column("taken_at", DT, nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_sync_requests_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_requests")),
    )
    op.create_index(op.f("ix_sync_requests_account_id"), "sync_requests", ["account_id"])

    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("settings", sa.JSON(), nullable=False, server_default="{}"))
        batch.add_column(sa.Column("secret", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("interval_seconds", sa.Double(), nullable=True))
        batch.add_column(sa.Column("next_run_at", DT, nullable=True))
        batch.add_column(sa.Column("updated_at", DT, nullable=False, server_default=NOW))
    with op.batch_alter_table("interactions") as batch:
        batch.add_column(
            sa.Column("created_by", sa.String(length=64), nullable=False, server_default="")
        )
    with op.batch_alter_table("sync_runs") as batch:
        batch.add_column(
            sa.Column("trigger", sa.String(length=16), nullable=False, server_default="manual")
        )

    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_FTS:
            op.execute(statement)
    else:
        op.execute(PG_FTS)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_FTS_DROP:
            op.execute(statement)
    else:
        op.execute("DROP INDEX IF EXISTS ix_interactions_fts")
    with op.batch_alter_table("sync_runs") as batch:
        batch.drop_column("trigger")
    with op.batch_alter_table("interactions") as batch:
        batch.drop_column("created_by")
    with op.batch_alter_table("accounts") as batch:
        for column in ("updated_at", "next_run_at", "interval_seconds", "secret", "settings"):
            batch.drop_column(column)
    op.drop_index(op.f("ix_sync_requests_account_id"), table_name="sync_requests")
    op.drop_table("sync_requests")
    op.drop_table("folder_status")
    op.drop_table("users")
    op.drop_table("login_throttle")
