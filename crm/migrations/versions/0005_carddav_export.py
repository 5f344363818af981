"""CardDAV export: card fields, categories, owners, change counter, cards, app passwords

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23

Columns are added with ALTER TABLE ... ADD COLUMN on both databases (never Alembic's
copy-and-move batch mode: on SQLite, dropping the old ``people`` table with foreign
keys on would cascade into everything that points at it). Existing customers get a
random UID and ``card_seq`` 1, so the first CardDAV request renders all their cards.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

DT = sa.DateTime(timezone=True)
CARD_FIELDS = [
    ("website", 512),
    ("street", 255),
    ("locality", 128),
    ("region", 128),
    ("postal_code", 32),
    ("country", 128),
]
SQLITE_UUID = (
    "lower(substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-4' || substr(h, 14, 3) || '-'"
    " || substr('89ab', 1 + (abs(random()) % 4), 1) || substr(h, 18, 3) || '-' || substr(h, 21, 12))"
)


def _customer_columns(table: str) -> None:
    for name, length in CARD_FIELDS:
        op.add_column(
            table, sa.Column(name, sa.String(length), nullable=False, server_default="")
        )
    op.add_column(table, sa.Column("uid", sa.String(64), nullable=True))
    op.add_column(
        table, sa.Column("card_seq", sa.BigInteger(), nullable=False, server_default="1")
    )
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            f"UPDATE {table} SET uid = (SELECT {SQLITE_UUID} FROM"
            f" (SELECT hex(randomblob(16)) AS h))"
        )
    else:
        op.execute(f"UPDATE {table} SET uid = gen_random_uuid()::text")
        op.alter_column(table, "uid", nullable=False)
    op.create_index(f"uq_{table}_uid", table, ["uid"], unique=True)
    op.create_index(f"ix_{table}_card_seq", table, ["card_seq"])


def upgrade() -> None:
    _customer_columns("people")
    _customer_columns("organizations")
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "ALTER TABLE organizations ADD COLUMN owner_id INTEGER"
            " CONSTRAINT fk_organizations_owner_id_users REFERENCES users (id) ON DELETE SET NULL"
        )
    else:
        op.add_column("organizations", sa.Column("owner_id", sa.Integer(), nullable=True))
        op.create_foreign_key(
            "fk_organizations_owner_id_users",
            "organizations",
            "users",
            ["owner_id"],
            ["id"],
            ondelete="SET NULL",
        )
    op.create_index("ix_organizations_owner_id", "organizations", ["owner_id"])

    op.create_table(
        "customer_categories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("organization_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.CheckConstraint(
            "person_id IS NOT NULL OR organization_id IS NOT NULL",
            name=op.f("ck_customer_categories_owner"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_customer_categories_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_customer_categories_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_categories")),
    )
    op.create_index("ix_customer_categories_name", "customer_categories", ["name"])
    op.create_index(
        "ix_customer_categories_organization_id", "customer_categories", ["organization_id"]
    )
    op.create_index("ix_customer_categories_person_id", "customer_categories", ["person_id"])

    counter = op.create_table(
        "change_counter",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("cards_seq", sa.BigInteger(), nullable=False),
        sa.Column("horizon", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_change_counter")),
    )
    op.bulk_insert(counter, [{"id": 1, "value": 1, "cards_seq": 0, "horizon": 0}])
    op.create_table(
        "cards",
        sa.Column("uid", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("organization_id", sa.Integer(), nullable=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("etag", sa.String(length=64), nullable=False),
        sa.Column("vcard3", sa.Text(), nullable=False),
        sa.Column("vcard4", sa.Text(), nullable=False),
        sa.Column("changed_at", DT, nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_cards_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_cards_person_id_people"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("uid", name=op.f("pk_cards")),
        sa.UniqueConstraint("organization_id", name=op.f("uq_cards_organization_id")),
        sa.UniqueConstraint("person_id", name=op.f("uq_cards_person_id")),
    )
    op.create_index("ix_cards_seq", "cards", ["seq"])
    op.create_table(
        "card_tombstones",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("deleted_at", DT, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_card_tombstones")),
    )
    op.create_index("ix_card_tombstones_seq", "card_tombstones", ["seq"])
    op.create_index("ix_card_tombstones_uid", "card_tombstones", ["uid"])
    op.create_table(
        "address_books",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=128), nullable=False),
        sa.Column("roles", sa.String(length=64), nullable=False),
        sa.Column("created_at", DT, nullable=False),
        sa.CheckConstraint("kind IN ('owner', 'category')", name=op.f("ck_address_books_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_address_books")),
        sa.UniqueConstraint("slug", name=op.f("uq_address_books_slug")),
    )
    op.create_table(
        "app_passwords",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", DT, nullable=False),
        sa.Column("last_used_at", DT, nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_app_passwords_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_app_passwords")),
        sa.UniqueConstraint("digest", name=op.f("uq_app_passwords_digest")),
        sa.UniqueConstraint("user_id", "name", name=op.f("uq_app_passwords_user_id")),
    )
    op.create_index("ix_app_passwords_user_id", "app_passwords", ["user_id"])


def downgrade() -> None:
    for table in ("app_passwords", "address_books", "card_tombstones", "cards", "change_counter"):
        op.drop_table(table)
    op.drop_table("customer_categories")
    op.drop_index("ix_organizations_owner_id", "organizations")
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint("fk_organizations_owner_id_users", "organizations")
    for table in ("people", "organizations"):
        op.drop_index(f"uq_{table}_uid", table)
        op.drop_index(f"ix_{table}_card_seq", table)
        for name in ["card_seq", "uid", *[n for n, _ in CARD_FIELDS]]:
            op.drop_column(table, name)
    op.drop_column("organizations", "owner_id")
