"""SQLAlchemy 2.0 typed models of the CRM.

Every datetime column holds aware UTC (see :class:`UTCDateTime`). The schema is
created and upgraded by Alembic (crm/migrations); never by ``create_all``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    """The current time, aware UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC in Python, on SQLite (which has no time zones) and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def new_uid() -> str:
    """A fresh vCard UID (a random UUID)."""
    return str(uuid.uuid4())


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
    }


# -- customers ------------------------------------------------------------------------


class Organization(Base):
    """A customer company; owns the mail domains that identify it."""

    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    notes: Mapped[str] = mapped_column(Text, default="")
    external_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    #: payment and tax ids, validated at entry (crm.validation): IBAN and BIC compact,
    #: the VAT id with its country prefix
    iban: Mapped[str] = mapped_column(String(34), default="", server_default="")
    bic: Mapped[str] = mapped_column(String(11), default="", server_default="")
    vat_id: Mapped[str] = mapped_column(String(20), default="", server_default="")
    #: the member of staff who looks after this customer (address books by owner)
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    website: Mapped[str] = mapped_column(String(512), default="")
    street: Mapped[str] = mapped_column(String(255), default="")
    locality: Mapped[str] = mapped_column(String(128), default="")
    region: Mapped[str] = mapped_column(String(128), default="")
    postal_code: Mapped[str] = mapped_column(String(32), default="")
    country: Mapped[str] = mapped_column(String(128), default="")
    #: the vCard UID of its card, stable forever (crm.cards)
    uid: Mapped[str] = mapped_column(String(64), default=new_uid)
    #: the change counter's value when its card last changed (crm.changes)
    card_seq: Mapped[int] = mapped_column(BigInteger, default=0, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    owner: Mapped[User | None] = relationship()
    categories: Mapped[list[CustomerCategory]] = relationship(
        back_populates="organization", cascade="all, delete-orphan"
    )
    domains: Mapped[list[OrganizationDomain]] = relationship(
        back_populates="organization", cascade="all, delete-orphan"
    )
    people: Mapped[list[Person]] = relationship(back_populates="organization")
    contact_points: Mapped[list[ContactPoint]] = relationship(
        back_populates="organization", cascade="all, delete-orphan"
    )

    __table_args__ = (
        Index("ix_organizations_name", "name"),
        Index("uq_organizations_uid", "uid", unique=True),
    )


class OrganizationDomain(Base):
    """A mail domain (``example.org``) whose addresses belong to an organization."""

    __tablename__ = "organization_domains"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    domain: Mapped[str] = mapped_column(String(255), unique=True)

    organization: Mapped[Organization] = relationship(back_populates="domains")


class Person(Base):
    """A customer contact, optionally working for an organization."""

    __tablename__ = "people"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="SET NULL"), index=True
    )
    display_name: Mapped[str] = mapped_column(String(255))
    given_name: Mapped[str] = mapped_column(String(255), default="")
    family_name: Mapped[str] = mapped_column(String(255), default="")
    title: Mapped[str] = mapped_column(String(255), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    external_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    iban: Mapped[str] = mapped_column(String(34), default="", server_default="")
    bic: Mapped[str] = mapped_column(String(11), default="", server_default="")
    vat_id: Mapped[str] = mapped_column(String(20), default="", server_default="")
    website: Mapped[str] = mapped_column(String(512), default="")
    street: Mapped[str] = mapped_column(String(255), default="")
    locality: Mapped[str] = mapped_column(String(128), default="")
    region: Mapped[str] = mapped_column(String(128), default="")
    postal_code: Mapped[str] = mapped_column(String(32), default="")
    country: Mapped[str] = mapped_column(String(128), default="")
    uid: Mapped[str] = mapped_column(String(64), default=new_uid)
    card_seq: Mapped[int] = mapped_column(BigInteger, default=0, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    organization: Mapped[Organization | None] = relationship(back_populates="people")
    contact_points: Mapped[list[ContactPoint]] = relationship(
        back_populates="person", cascade="all, delete-orphan"
    )
    categories: Mapped[list[CustomerCategory]] = relationship(
        back_populates="person", cascade="all, delete-orphan"
    )

    __table_args__ = (
        Index("ix_people_display_name", "display_name"),
        Index("uq_people_uid", "uid", unique=True),
    )


class ContactPoint(Base):
    """An e-mail address (normalized) or phone number (E.164) of a person or organization.

    An e-mail address belongs to one customer only (partial unique index), so
    matching by address is never ambiguous; a phone number may be shared (a
    switchboard).
    """

    __tablename__ = "contact_points"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), index=True
    )
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))  # "email" | "phone"
    value: Mapped[str] = mapped_column(String(320))  # normalized: lower-case address, E.164
    label: Mapped[str] = mapped_column(String(64), default="")  # work, home, mobile, ...
    original: Mapped[str] = mapped_column(String(320), default="")  # as the source wrote it

    person: Mapped[Person | None] = relationship(back_populates="contact_points")
    organization: Mapped[Organization | None] = relationship(back_populates="contact_points")

    __table_args__ = (
        CheckConstraint("kind IN ('email', 'phone')", name="kind"),
        CheckConstraint("person_id IS NOT NULL OR organization_id IS NOT NULL", name="owner"),
        Index("ix_contact_points_kind_value", "kind", "value"),
        Index(
            "uq_contact_points_email",
            "value",
            unique=True,
            sqlite_where=text("kind = 'email'"),
            postgresql_where=text("kind = 'email'"),
        ),
    )


class CustomerCategory(Base):
    """A category (tag) of a person or organization, such as "VIP" or "Supplier"."""

    __tablename__ = "customer_categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), index=True
    )
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(64), index=True)

    person: Mapped[Person | None] = relationship(back_populates="categories")
    organization: Mapped[Organization | None] = relationship(back_populates="categories")

    __table_args__ = (
        CheckConstraint("person_id IS NOT NULL OR organization_id IS NOT NULL", name="owner"),
    )


class CustomerFieldSource(Base):
    """A value a contact source contributed to a customer (see :mod:`crm.contacts`).

    One row per value: a phone number or e-mail address (``value`` normalized), a
    title, the web site, the postal address (its five parts joined by newlines), a
    category or the organization. ``account_id``, ``collection`` and ``remote_id`` (the
    card's href) say where it came from; ``removed_at`` is set when the card no longer
    states the value or was deleted at the source (the CRM keeps the value).
    """

    __tablename__ = "customer_field_sources"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), index=True
    )
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    field: Mapped[str] = mapped_column(String(32))
    value: Mapped[str] = mapped_column(Text)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    collection: Mapped[str] = mapped_column(String(512))
    remote_id: Mapped[str] = mapped_column(String(512))
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    removed_at: Mapped[datetime | None]

    person: Mapped[Person | None] = relationship()
    organization: Mapped[Organization | None] = relationship()
    account: Mapped[Account] = relationship()

    __table_args__ = (
        CheckConstraint("person_id IS NOT NULL OR organization_id IS NOT NULL", name="owner"),
        Index("ix_customer_field_sources_remote", "account_id", "remote_id"),
    )


# -- the CardDAV export: change tracking and the rendered cards ------------------------


class ChangeCounter(Base):
    """The one row counting changes to customers' cards (crm.changes).

    Every transaction that changes a card takes the next value with an UPDATE of this
    row, which also locks it until commit: card-changing transactions commit in the
    order of their values, so a sync token (a value) never skips a change that commits
    later.
    """

    __tablename__ = "change_counter"

    id: Mapped[int] = mapped_column(primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)
    #: the value up to which the rendered cards (``cards``) are current
    cards_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    #: sync tokens before this value are expired (their tombstones were pruned)
    horizon: Mapped[int] = mapped_column(BigInteger, default=0)


class Card(Base):
    """A customer's card as served over CardDAV, rendered when it changed."""

    __tablename__ = "cards"

    uid: Mapped[str] = mapped_column(String(64), primary_key=True)
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), unique=True
    )
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), unique=True
    )
    #: the customer's card_seq this row was rendered from
    seq: Mapped[int] = mapped_column(BigInteger, index=True)
    #: hash of the content; the ETag, which changes exactly when the content does
    etag: Mapped[str] = mapped_column(String(64))
    vcard3: Mapped[str] = mapped_column(Text)
    vcard4: Mapped[str] = mapped_column(Text)
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)


class CardTombstone(Base):
    """A deleted customer's card, so sync-collection can report the deletion."""

    __tablename__ = "card_tombstones"

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(64), index=True)
    seq: Mapped[int] = mapped_column(BigInteger, index=True)
    deleted_at: Mapped[datetime] = mapped_column(default=utcnow)


class AddressBook(Base):
    """An address book an admin configured beside "All customers": the customers of
    one owner, or those in one category, for the roles listed."""

    __tablename__ = "address_books"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))  # owner | category
    #: the owner's user name, or the category
    value: Mapped[str] = mapped_column(String(128))
    roles: Mapped[str] = mapped_column(String(64), default="admin,staff")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (CheckConstraint("kind IN ('owner', 'category')", name="kind"),)


class AppPassword(Base):
    """A password for one CardDAV client of a user, shown once when made.

    It is about 119 random bits, so a SHA-256 digest stores it safely (no guessing can
    invert it) and checking one costs microseconds, not argon2's tenth of a second on
    every DAV request.
    """

    __tablename__ = "app_passwords"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()

    __table_args__ = (UniqueConstraint("user_id", "name"),)


# -- accounts and sync state ----------------------------------------------------------


class Account(Base):
    """A mail, calendar or contacts account that crmsync pulls from."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    owner: Mapped[str] = mapped_column(String(128), default="")
    origin: Mapped[str] = mapped_column(String(16), default="config")  # config | web
    #: "mailbox" (a staff member's own) or "logging" (mail staff BCC or forward to it)
    role: Mapped[str] = mapped_column(String(16), default="mailbox", server_default="mailbox")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    needs_attention: Mapped[bool] = mapped_column(Boolean, default=False)
    last_error: Mapped[str] = mapped_column(Text, default="")
    last_success_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: how the adapter connects, for accounts added in the web view (no secret in here)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: the password of a web account, encrypted with the key from the config (crm.secrets)
    secret: Mapped[bytes | None] = mapped_column(LargeBinary)
    interval_seconds: Mapped[float | None]
    #: when this account is due next: the schedule every worker shares (written at the end
    #: of each run: the interval after a success, the back-off after a failure)
    next_run_at: Mapped[datetime | None]
    #: failed runs in a row (the back-off grows with it; a success resets it)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    #: the worker that claimed it last ("host:pid"): it has the first claim when the
    #: account is due again (it keeps the account's login, adapters.imapkeep)
    last_worker: Mapped[str] = mapped_column(String(128), default="")
    #: counters for /metrics: items stored (new) and failed runs, since the account exists
    items_total: Mapped[int] = mapped_column(BigInteger, default=0)
    errors_total: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SyncCursor(Base):
    """Where the last committed batch of one collection of an account ended."""

    __tablename__ = "sync_cursors"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    collection: Mapped[str] = mapped_column(String(512))
    cursor: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (UniqueConstraint("account_id", "collection"),)


class SyncRun(Base):
    """One pass over one account: when, what it brought, how it ended."""

    __tablename__ = "sync_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    started_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    finished_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16), default="running")  # running|ok|failed
    new_count: Mapped[int] = mapped_column(Integer, default=0)
    known_count: Mapped[int] = mapped_column(Integer, default=0)
    skipped_count: Mapped[int] = mapped_column(Integer, default=0)
    quarantined_count: Mapped[int] = mapped_column(Integer, default=0)
    unmatched_count: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    trigger: Mapped[str] = mapped_column(String(16), default="manual")  # schedule|request|manual
    #: which process ran it ("host:pid"), so a run a dead worker left open can be told
    worker: Mapped[str] = mapped_column(String(128), default="")


class FolderStatus(Base):
    """How the last pass over one collection (folder) of an account went."""

    __tablename__ = "folder_status"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    collection: Mapped[str] = mapped_column(String(512))
    name: Mapped[str] = mapped_column(String(512), default="")
    last_run_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    last_new: Mapped[int] = mapped_column(Integer, default=0)
    last_known: Mapped[int] = mapped_column(Integer, default=0)
    last_quarantined: Mapped[int] = mapped_column(Integer, default=0)
    total_new: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (UniqueConstraint("account_id", "collection"),)


class Worker(Base):
    """A running ``crmsync worker`` (or ``crmsync run``): seen at every poll, removed when it
    stops. /healthz counts the ones seen lately; the sync status page lists them."""

    __tablename__ = "workers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)  # host:pid
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: accounts it is syncing right now (names, comma-separated), for the status page
    running: Mapped[str] = mapped_column(Text, default="")


class SyncRequest(Base):
    """A "sync now" from the web view, waiting for the worker (which may be another process)."""

    __tablename__ = "sync_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    requested_by: Mapped[str] = mapped_column(String(64), default="")
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    taken_at: Mapped[datetime | None]


class AccountToken(Base):
    """The sign-in of a delegated account (Microsoft Graph, ``sign_in = "user"``): msal's
    token cache, which holds the refresh token, encrypted with the key from the config
    (crm.secrets), never in clear."""

    __tablename__ = "account_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), unique=True
    )
    cache: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# -- users of the web view -------------------------------------------------------------


class User(Base):
    """Someone who logs in to the web view (and, later, to the CardDAV export)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))  # admin | staff | viewer
    #: the user's own mail address: mail they send to the logging mailbox, and the
    #: interactions that are theirs (with the mailboxes they own, ``Account.owner``)
    email: Mapped[str] = mapped_column(String(320), default="", server_default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    password_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]
    #: the day of the last follow-up digest mailed to the user (one a day)
    last_digest_on: Mapped[date | None]

    __table_args__ = (CheckConstraint("role IN ('admin', 'staff', 'viewer')", name="role"),)


class ApiToken(Base):
    """A token for the JSON API (``Authorization: Bearer ...``): only its SHA-256 is kept."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]

    __table_args__ = (UniqueConstraint("user_id", "name"),)


class LoginThrottle(Base):
    """Failed logins per user name and per client address, for throttling."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(320), primary_key=True)  # user:NAME | ip:ADDR
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# -- the interaction history ----------------------------------------------------------


class Interaction(Base):
    """One entry of the history: a mail (later also meetings, calls, notes).

    ``dedupe_key`` makes it exactly-once: the same mail seen in two mailboxes,
    in Sent and in the logging inbox, or pulled twice, is one row with several
    :class:`InteractionSource` rows.
    """

    __tablename__ = "interactions"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # email | note (later meeting, call)
    direction: Mapped[str] = mapped_column(String(16))  # inbound | outbound | internal
    occurred_at: Mapped[datetime] = mapped_column(index=True)
    subject: Mapped[str] = mapped_column(Text, default="")
    body_text: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str] = mapped_column(Text, default="")
    dedupe_key: Mapped[str] = mapped_column(String(512), unique=True)
    message_id: Mapped[str | None] = mapped_column(String(998), index=True)
    thread_key: Mapped[str] = mapped_column(String(998), index=True)
    is_bulk: Mapped[bool] = mapped_column(Boolean, default=False)
    size: Mapped[int] = mapped_column(Integer, default=0)
    defects: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: the user who wrote a note (empty for synced items)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    # -- meetings (kind "meeting"; occurred_at is the start) --
    ends_at: Mapped[datetime | None]
    location: Mapped[str] = mapped_column(Text, default="")
    #: "" | confirmed | tentative | cancelled
    status: Mapped[str] = mapped_column(String(16), default="")
    all_day: Mapped[bool] = mapped_column(Boolean, default=False)
    #: CLASS:PRIVATE or CONFIDENTIAL at the source
    is_private: Mapped[bool] = mapped_column(Boolean, default=False)
    #: "everyone" with access to the customer, or "private": only its owner and admins
    visibility: Mapped[str] = mapped_column(
        String(16), default="everyone", server_default="everyone"
    )
    #: the staff user it belongs to: the owner of the mailbox it came from, the sender
    #: who logged it, a note's writer
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    #: an inline forward's original (no Message-ID): its sender, subject and minute,
    #: so that the real mail, when it comes, takes this entry over (crm.ingest)
    fuzzy_key: Mapped[str | None] = mapped_column(String(128))

    participants: Mapped[list[Participant]] = relationship(
        back_populates="interaction", cascade="all, delete-orphan", order_by="Participant.id"
    )
    sources: Mapped[list[InteractionSource]] = relationship(
        back_populates="interaction", cascade="all, delete-orphan"
    )
    attachments: Mapped[list[Attachment]] = relationship(
        back_populates="interaction", cascade="all, delete-orphan"
    )

    __table_args__ = (
        Index(
            "ix_interactions_fuzzy_key",
            "fuzzy_key",
            postgresql_where=text("fuzzy_key IS NOT NULL"),
            sqlite_where=text("fuzzy_key IS NOT NULL"),
        ),
    )


class InteractionSource(Base):
    """Where an interaction was seen: account, collection (folder) and remote id."""

    __tablename__ = "interaction_sources"

    id: Mapped[int] = mapped_column(primary_key=True)
    interaction_id: Mapped[int] = mapped_column(
        ForeignKey("interactions.id", ondelete="CASCADE"), index=True
    )
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    collection: Mapped[str] = mapped_column(String(512))
    remote_id: Mapped[str] = mapped_column(String(512))
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: when the item disappeared from this source (a deleted calendar event)
    removed_at: Mapped[datetime | None]
    #: the flags, keywords or categories the source gave it, one per line (privacy rules)
    labels: Mapped[str] = mapped_column(Text, default="", server_default="")

    interaction: Mapped[Interaction] = relationship(back_populates="sources")

    __table_args__ = (UniqueConstraint("interaction_id", "account_id", "collection"),)


class Participant(Base):
    """A sender, recipient, organizer or attendee, and who it resolved to, and why."""

    __tablename__ = "participants"

    id: Mapped[int] = mapped_column(primary_key=True)
    interaction_id: Mapped[int] = mapped_column(
        ForeignKey("interactions.id", ondelete="CASCADE"), index=True
    )
    #: from | to | cc | bcc | about (a note) | organizer | attendee (a meeting)
    role: Mapped[str] = mapped_column(String(16))
    #: a meeting attendee's answer: accepted | declined | tentative | needs-action | ""
    status: Mapped[str] = mapped_column(String(16), default="")
    email: Mapped[str] = mapped_column(String(320), index=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    is_internal: Mapped[bool] = mapped_column(Boolean, default=False)
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), index=True
    )
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="SET NULL"), index=True
    )
    match_reason: Mapped[str | None] = mapped_column(String(16))  # address | domain | rule
    #: the interaction's time, copied: a customer's timeline is then one index range per
    #: link (see the indexes below and crm.timeline), however long the whole history
    occurred_at: Mapped[datetime | None]

    interaction: Mapped[Interaction] = relationship(back_populates="participants")
    person: Mapped[Person | None] = relationship()
    organization: Mapped[Organization | None] = relationship()

    __table_args__ = (
        Index("ix_participants_person_time", "person_id", "occurred_at", "interaction_id"),
        Index("ix_participants_org_time", "organization_id", "occurred_at", "interaction_id"),
    )


class Document(Base):
    """A file in the content-addressed archive (stored once, however often attached)."""

    __tablename__ = "documents"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Attachment(Base):
    """A file attached to an interaction, pointing at its archived document."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    interaction_id: Mapped[int] = mapped_column(
        ForeignKey("interactions.id", ondelete="CASCADE"), index=True
    )
    document_sha256: Mapped[str] = mapped_column(ForeignKey("documents.sha256"), index=True)
    filename: Mapped[str] = mapped_column(String(512))
    content_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(Integer)

    interaction: Mapped[Interaction] = relationship(back_populates="attachments")


# -- what needs a person's attention ---------------------------------------------------


class QuarantineItem(Base):
    """A remote item that could not be parsed, kept with its reason and raw bytes."""

    __tablename__ = "quarantine"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    collection: Mapped[str] = mapped_column(String(512))
    remote_id: Mapped[str] = mapped_column(String(512))
    reason: Mapped[str] = mapped_column(Text)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("account_id", "collection", "remote_id"),)


class FollowUp(Base):
    """A follow-up (Wiedervorlage): get back to a customer by a day.

    ``waiting_for_reply``: it closes itself when the customer's reply is synced.
    """

    __tablename__ = "follow_ups"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: the VTODO's UID in the CalDAV task list
    uid: Mapped[str] = mapped_column(String(64), default=new_uid, unique=True)
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), index=True
    )
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    #: the timeline entry it was made from
    interaction_id: Mapped[int | None] = mapped_column(
        ForeignKey("interactions.id", ondelete="SET NULL"), index=True
    )
    assignee_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    due_on: Mapped[date]
    note: Mapped[str] = mapped_column(Text, default="")
    #: open | done | cancelled
    status: Mapped[str] = mapped_column(String(16), default="open")
    waiting_for_reply: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    closed_at: Mapped[datetime | None]
    #: who or what closed it: a user name, or "reply" (with the reply's interaction id)
    closed_by: Mapped[str] = mapped_column(String(128), default="")
    closed_by_interaction_id: Mapped[int | None] = mapped_column(
        ForeignKey("interactions.id", ondelete="SET NULL")
    )

    __table_args__ = (
        CheckConstraint("person_id IS NOT NULL OR organization_id IS NOT NULL", name="owner"),
        CheckConstraint("status IN ('open', 'done', 'cancelled')", name="status"),
        Index("ix_follow_ups_assignee_status_due", "assignee_id", "status", "due_on"),
    )


class CustomerMerge(Base):
    """Two records of one customer made one: which was kept, which went, who did it."""

    __tablename__ = "customer_merges"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # person | organization
    kept_id: Mapped[int] = mapped_column(Integer, index=True)
    merged_id: Mapped[int] = mapped_column(Integer)
    #: the merged record's vCard UID (CardDAV clients saw it deleted)
    merged_uid: Mapped[str] = mapped_column(String(64))
    merged_name: Mapped[str] = mapped_column(String(255))
    merged_by: Mapped[str] = mapped_column(String(128))
    merged_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: JSON: what moved over (addresses, phones, links, follow-ups, sources)
    details: Mapped[str] = mapped_column(Text, default="")


class DuplicateDismissal(Base):
    """An admin's "these two are different customers": never proposed again."""

    __tablename__ = "duplicate_dismissals"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # person | organization
    first_id: Mapped[int] = mapped_column(Integer)  # the smaller id
    second_id: Mapped[int] = mapped_column(Integer)
    dismissed_by: Mapped[str] = mapped_column(String(128))
    dismissed_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("kind", "first_id", "second_id"),)


class PrivacyRule(Base):
    """Mail that is never logged: a folder, label, address or domain.

    ``user_id`` empty: admin-wide (addresses and domains). A user's rule covers the
    mailboxes they own and the mail they log.
    """

    __tablename__ = "privacy_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))  # folder | label | address | domain
    value: Mapped[str] = mapped_column(String(512))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))


class AuditEntry(Base):
    """Who did what to which record, and when (web, command line or sync)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(128))  # a user name, "cli:<login>", "sync"
    action: Mapped[str] = mapped_column(String(64))  # e.g. person.erase, privacy_rule.add
    target: Mapped[str] = mapped_column(String(512))
    #: JSON: what the action changed or found
    details: Mapped[str] = mapped_column(Text, default="")


class ReviewItem(Base):
    """An external address that matched no customer: the review queue."""

    __tablename__ = "review_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    status: Mapped[str] = mapped_column(String(16), default="open")  # open|assigned|ignored
    interaction_count: Mapped[int] = mapped_column(Integer, default=0)
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_review_items_status_last_seen", "status", "last_seen_at"),)


class MatchRule(Base):
    """An admin's decision on an address or domain, applied to new mail and the backlog.

    ``pattern`` is a normalized address (``ann@example.org``) or a domain prefixed
    with ``@`` (``@example.org``).
    """

    __tablename__ = "match_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    pattern: Mapped[str] = mapped_column(String(320), unique=True)
    action: Mapped[str] = mapped_column(String(16))  # assign | ignore
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
