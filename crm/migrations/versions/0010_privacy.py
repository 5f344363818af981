"""privacy: who an interaction belongs to and who may see it, the labels a source gave
it, the users' own addresses, privacy rules, the audit log, and the key that finds a
forwarded mail's original

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-24
"""

from __future__ import annotations

import importlib

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

DT = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("email", sa.String(320), nullable=False, server_default=""))
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("role", sa.String(16), nullable=False, server_default="mailbox"))
    # Plain ADD COLUMN, never a batch copy of the table: on SQLite that would drop the
    # full-text triggers of 0003 (and copy every mail). No index on owner_id: every
    # stored mail would pay for it, and the visibility test runs on rows found otherwise.
    op.add_column(
        "interactions",
        sa.Column("visibility", sa.String(16), nullable=False, server_default="everyone"),
    )
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "ALTER TABLE interactions ADD COLUMN owner_id INTEGER"
            " CONSTRAINT fk_interactions_owner_id_users REFERENCES users (id) ON DELETE SET NULL"
        )
    else:
        op.add_column("interactions", sa.Column("owner_id", sa.Integer(), nullable=True))
        op.create_foreign_key(
            op.f("fk_interactions_owner_id_users"),
            "interactions",
            "users",
            ["owner_id"],
            ["id"],
            ondelete="SET NULL",
        )
    op.add_column("interactions", sa.Column("fuzzy_key", sa.String(128), nullable=True))
    op.create_index(  # only inline forwards' originals have one
        "ix_interactions_fuzzy_key",
        "interactions",
        ["fuzzy_key"],
        postgresql_where=sa.text("fuzzy_key IS NOT NULL"),
        sqlite_where=sa.text("fuzzy_key IS NOT NULL"),
    )
    with op.batch_alter_table("interaction_sources") as batch:
        batch.add_column(sa.Column("labels", sa.Text(), nullable=False, server_default=""))
    op.create_table(
        "privacy_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value", sa.String(512), nullable=False),
        sa.Column("created_at", DT, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_privacy_rules_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_rules")),
    )
    op.create_index(op.f("ix_privacy_rules_user_id"), "privacy_rules", ["user_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", DT, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(512), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_audit_log_at"), table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index(op.f("ix_privacy_rules_user_id"), table_name="privacy_rules")
    op.drop_table("privacy_rules")
    with op.batch_alter_table("interaction_sources") as batch:
        batch.drop_column("labels")
    sqlite = op.get_bind().dialect.name == "sqlite"
    with op.batch_alter_table("interactions") as batch:
        batch.drop_index("ix_interactions_fuzzy_key")
        if not sqlite:  # SQLite's copy of the table leaves it out with its column
            batch.drop_constraint(batch.f("fk_interactions_owner_id_users"), type_="foreignkey")
        batch.drop_column("fuzzy_key")
        batch.drop_column("owner_id")
        batch.drop_column("visibility")
    if sqlite:  # the copy of the table lost its triggers
        fts = importlib.import_module("crm.migrations.versions.0003_web_view")
        for statement in fts.SQLITE_FTS_DROP:
            op.execute(statement)
        for statement in fts.SQLITE_FTS:  # as 0004 made them
            op.execute(statement.replace("tokenize=", "prefix='2 3', tokenize="))
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("role")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("email")
