"""The address books the CardDAV export serves, who may read them, and their cards.

Every staff member and admin has "All customers". An admin may add books holding the
customers of one owner (organizations whose owner is that user, with their people)
or of one category, each for the roles listed.

All reads go through the rendered cards (crm.cards) and the change counter
(crm.changes): listing a book is one indexed query over ``cards``, the ctag and the
sync token are the counter's value, and changes since a token are the cards and
tombstones with a higher value.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from crm import audit
from crm.models import (
    AddressBook,
    Card,
    CardTombstone,
    ChangeCounter,
    CustomerCategory,
    Organization,
    Person,
    User,
)
from crm.users import ROLES, UserError

ALL_SLUG = "customers"
ALL_ROLES = ("admin", "staff")
KINDS = ("owner", "category")
_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")


@dataclass(frozen=True)
class Book:
    """An address book: ``kind`` is "all", "owner" (``value`` a user name) or "category"."""

    slug: str
    name: str
    kind: str
    value: str
    roles: tuple[str, ...]

    def allows(self, role: str) -> bool:
        return role in self.roles

    @property
    def description(self) -> str:
        if self.kind == "owner":
            return f"Customers looked after by {self.value}"
        if self.kind == "category":
            return f"Customers in the category {self.value}"
        return "Every person and organization in crmsync"


ALL_CUSTOMERS = Book(ALL_SLUG, "All customers", "all", "", ALL_ROLES)


@dataclass(frozen=True)
class CardRef:
    uid: str
    etag: str
    #: None when listed without dates (see :func:`list_cards`)
    changed_at: datetime | None


@dataclass(frozen=True)
class CardData(CardRef):
    vcard3: str
    vcard4: str


@dataclass(frozen=True)
class SyncState:
    """The counter as the export sees it: ``token`` is the value the cards are rendered
    up to; tokens below ``horizon`` are expired."""

    token: int
    horizon: int
    stale: bool


def _book(row: AddressBook) -> Book:
    roles = tuple(r for r in row.roles.split(",") if r in ROLES)
    return Book(row.slug, row.name, row.kind, row.value, roles)


def all_books(session: Session) -> list[Book]:
    """Every address book, "All customers" first."""
    rows = session.scalars(select(AddressBook).order_by(AddressBook.name))
    return [ALL_CUSTOMERS, *(_book(r) for r in rows)]


def books_for(session: Session, role: str) -> list[Book]:
    """The address books a user with ``role`` may read."""
    return [b for b in all_books(session) if b.allows(role)]


def get_book(session: Session, slug: str) -> Book | None:
    """The book with this slug, allowed or not (the caller decides 403 or 404)."""
    if slug == ALL_SLUG:
        return ALL_CUSTOMERS
    row = session.scalars(select(AddressBook).where(AddressBook.slug == slug)).first()
    return _book(row) if row is not None else None


def add_book(
    session: Session,
    slug: str,
    name: str,
    kind: str,
    value: str,
    roles: Sequence[str],
    *,
    actor: str = "system",
) -> Book:
    """A new address book; :class:`UserError` saying what is wrong with the input."""
    slug = slug.strip().lower()
    if not _SLUG.fullmatch(slug) or slug == ALL_SLUG:
        raise UserError(
            "the short name is 1 to 64 lower-case letters, digits and dashes"
            f" (and not {ALL_SLUG!r})"
        )
    if session.scalars(select(AddressBook.id).where(AddressBook.slug == slug)).first():
        raise UserError(f"an address book {slug!r} exists already")
    if kind not in KINDS:
        raise UserError(f"an address book holds customers by {' or '.join(KINDS)}")
    value = value.strip()
    if not value:
        raise UserError("name the owner's user name" if kind == "owner" else "name the category")
    owner = session.scalars(select(User.id).where(User.name == value)).first()
    if kind == "owner" and owner is None:
        raise UserError(f"there is no user named {value!r}")
    bad = [r for r in roles if r not in ROLES]
    if bad or not roles:
        raise UserError(f"choose the roles that may read it from {', '.join(ROLES)}")
    row = AddressBook(
        slug=slug, name=name.strip() or slug, kind=kind, value=value, roles=",".join(roles)
    )
    session.add(row)
    session.flush()
    audit.record(session, actor, "addressbook.create", slug, kind=kind, value=value, roles=roles)
    return _book(row)


def delete_book(session: Session, slug: str, *, actor: str = "system") -> bool:
    """Remove a configured address book (the customers stay); False when there is none."""
    row = session.scalars(select(AddressBook).where(AddressBook.slug == slug)).first()
    if row is None:
        return False
    session.delete(row)
    session.flush()
    audit.record(session, actor, "addressbook.delete", slug)
    return True


# -- cards of a book ----------------------------------------------------------------------


def sync_state(session: Session) -> SyncState:
    """The current token (what getctag and sync-token answer) and the horizon."""
    row = session.execute(
        select(ChangeCounter.value, ChangeCounter.cards_seq, ChangeCounter.horizon).where(
            ChangeCounter.id == 1
        )
    ).first()
    if row is None:
        return SyncState(0, 0, False)
    value, cards_seq, horizon = row
    return SyncState(int(cards_seq), int(horizon), cards_seq < value)


_CARDS = Card.__table__
_REF = select(Card.uid, Card.etag, Card.changed_at)
_DATA = select(Card.uid, Card.etag, Card.changed_at, Card.vcard3, Card.vcard4)


def _data(row: Any) -> CardData:
    uid, etag, changed_at, vcard3, vcard4 = row
    return CardData(uid, etag, changed_at, vcard3, vcard4)


def _members(book: Book, query: Any) -> Any:
    """``query`` (a select over ``cards``) narrowed to the cards of ``book``."""
    if book.kind == "owner":
        orgs = (
            select(Organization.id)
            .join(User, User.id == Organization.owner_id)
            .where(User.name == book.value)
        )
        people = select(Person.id).where(Person.organization_id.in_(orgs))
        members = or_(Card.organization_id.in_(orgs), Card.person_id.in_(people))
        return query.where(members)
    if book.kind == "category":
        named = CustomerCategory.name == book.value
        return query.where(
            or_(
                Card.person_id.in_(select(CustomerCategory.person_id).where(named)),
                Card.organization_id.in_(select(CustomerCategory.organization_id).where(named)),
            )
        )
    return query


def list_cards(session: Session, book: Book, dates: bool = True) -> list[CardRef]:
    """Every card of the book (UID, ETag and, with ``dates``, when it changed), by UID."""
    if not dates:  # the common listing: a depth-1 PROPFIND for getetag
        query = _members(book, select(_CARDS.c.uid, _CARDS.c.etag).order_by(_CARDS.c.uid))
        # on the connection: plain rows, without the ORM's per-row work
        return [CardRef(uid, etag, None) for uid, etag in session.connection().execute(query)]
    rows = session.execute(_members(book, _REF).order_by(Card.uid))
    return [CardRef(*row) for row in rows]


def get_cards(session: Session, book: Book, uids: Sequence[str]) -> dict[str, CardData]:
    """The cards of the book among ``uids`` (those not in it are left out)."""
    found: dict[str, CardData] = {}
    wanted = list(dict.fromkeys(uids))
    for start in range(0, len(wanted), 500):
        part = wanted[start : start + 500]
        query = _DATA.where(Card.uid.in_(part))
        for row in session.execute(_members(book, query)):
            found[row[0]] = _data(row)
    return found


def all_cards(session: Session, book: Book) -> list[CardData]:
    """Every card of the book with its text (for addressbook-query), by UID."""
    return [_data(row) for row in session.execute(_members(book, _DATA.order_by(Card.uid)))]


def changes_since(session: Session, book: Book, token: int) -> tuple[list[CardRef], list[str]]:
    """Cards of the book changed after ``token``, and UIDs that left it or were deleted.

    For a book that holds only some customers, a changed card outside it is reported as
    gone: it may have just left the book (its owner or category changed). A client that
    never had it ignores that.
    """
    changed = [
        CardRef(*row)
        for row in session.execute(_REF.where(Card.seq > token).order_by(Card.seq, Card.uid))
    ]
    members = (
        None
        if book.kind == "all"
        else {
            uid
            for (uid,) in session.execute(_members(book, select(Card.uid).where(Card.seq > token)))
        }
    )
    present = [c for c in changed if members is None or c.uid in members]
    gone = [c.uid for c in changed if members is not None and c.uid not in members]
    present_uids = {c.uid for c in present}
    tombstones = session.scalars(
        select(CardTombstone.uid).where(CardTombstone.seq > token).order_by(CardTombstone.seq)
    )
    gone.extend(uid for uid in dict.fromkeys(tombstones) if uid not in present_uids)
    return present, gone
