"""CRM essentials: follow-ups, API tokens, merges and dismissed duplicate pairs,
payment and tax ids on customers, and the day of each user's last digest

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

DT = sa.DateTime(timezone=True)
IDS = ("iban", 34), ("bic", 11), ("vat_id", 20)


def upgrade() -> None:
    # plain ADD COLUMN: no copy of a table (SQLite would lose triggers and take long)
    for table in ("organizations", "people"):
        for column, size in IDS:
            op.add_column(
                table, sa.Column(column, sa.String(size), nullable=False, server_default="")
            )
    op.add_column("users", sa.Column("last_digest_on", sa.Date(), nullable=True))
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", DT, nullable=False),
        sa.Column("last_used_at", DT, nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_tokens_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
        sa.UniqueConstraint("user_id", "name", name=op.f("uq_api_tokens_user_id")),
    )
    op.create_index(op.f("ix_api_tokens_user_id"), "api_tokens", ["user_id"])
    op.create_table(
        "follow_ups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(64), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("organization_id", sa.Integer(), nullable=True),
        sa.Column("interaction_id", sa.Integer(), nullable=True),
        sa.Column("assignee_id", sa.Integer(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("waiting_for_reply", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", DT, nullable=False),
        sa.Column("updated_at", DT, nullable=False),
        sa.Column("closed_at", DT, nullable=True),
        sa.Column("closed_by", sa.String(128), nullable=False),
        sa.Column("closed_by_interaction_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "person_id IS NOT NULL OR organization_id IS NOT NULL",
            name=op.f("ck_follow_ups_owner"),
        ),
        sa.CheckConstraint(
            "status IN ('open', 'done', 'cancelled')", name=op.f("ck_follow_ups_status")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_follow_ups_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"],
            name=op.f("fk_follow_ups_organization_id_organizations"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["interaction_id"], ["interactions.id"],
            name=op.f("fk_follow_ups_interaction_id_interactions"), ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["closed_by_interaction_id"], ["interactions.id"],
            name=op.f("fk_follow_ups_closed_by_interaction_id_interactions"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["assignee_id"], ["users.id"], name=op.f("fk_follow_ups_assignee_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_follow_ups")),
        sa.UniqueConstraint("uid", name=op.f("uq_follow_ups_uid")),
    )  # fmt: skip
    op.create_index(op.f("ix_follow_ups_person_id"), "follow_ups", ["person_id"])
    op.create_index(op.f("ix_follow_ups_organization_id"), "follow_ups", ["organization_id"])
    op.create_index(op.f("ix_follow_ups_interaction_id"), "follow_ups", ["interaction_id"])
    op.create_index(
        "ix_follow_ups_assignee_status_due", "follow_ups", ["assignee_id", "status", "due_on"]
    )
    op.create_table(
        "customer_merges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("kept_id", sa.Integer(), nullable=False),
        sa.Column("merged_id", sa.Integer(), nullable=False),
        sa.Column("merged_uid", sa.String(64), nullable=False),
        sa.Column("merged_name", sa.String(255), nullable=False),
        sa.Column("merged_by", sa.String(128), nullable=False),
        sa.Column("merged_at", DT, nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_merges")),
    )
    op.create_index(op.f("ix_customer_merges_kept_id"), "customer_merges", ["kept_id"])
    op.create_table(
        "duplicate_dismissals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("first_id", sa.Integer(), nullable=False),
        sa.Column("second_id", sa.Integer(), nullable=False),
        sa.Column("dismissed_by", sa.String(128), nullable=False),
        sa.Column("dismissed_at", DT, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_duplicate_dismissals")),
        sa.UniqueConstraint(
            "kind", "first_id", "second_id", name=op.f("uq_duplicate_dismissals_kind")
        ),
    )


def downgrade() -> None:
    op.drop_table("duplicate_dismissals")
    op.drop_index(op.f("ix_customer_merges_kept_id"), table_name="customer_merges")
    op.drop_table("customer_merges")
    op.drop_table("follow_ups")
    op.drop_index(op.f("ix_api_tokens_user_id"), table_name="api_tokens")
    op.drop_table("api_tokens")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("last_digest_on")
    for table in ("people", "organizations"):
        with op.batch_alter_table(table) as batch:
            for column, _ in IDS:
                batch.drop_column(column)
