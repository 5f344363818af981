"""Contacts from a contact source (a CardDAV address book) into the CRM.

Each account has a policy:

- ``enrich`` (the default): a card of someone the CRM already knows adds to that
  customer; a card of anyone else is left alone. Nobody is ever created.
- ``import``: as ``enrich``, and a card of someone unknown creates the person (and
  their organization) as ``crmsync import customers`` would (:mod:`crm.importing`).

Who a card is
-------------
The customer whose ``external_id`` is the card's UID (a customer an earlier import
created); else the owner of one of the card's e-mail addresses; else the one customer
that has one of its phone numbers (E.164; a number several customers share, a
switchboard, matches nobody). A person's card matches people only, an organization's
card organizations only. With the ``import`` policy a card that matched nobody is
looked for as an import row is (the same name at the same organization, and the
duplicate check of :mod:`crm.duplicates`: the same name in another spelling at the same
organization, an organization's name without its legal form) before a customer is
created; :attr:`ContactsResult.merged` reports the cards that found one that way.

What a card may change
----------------------
Sources only **add** values and fill **empty** fields; they never change what an admin
entered:

- phone numbers and e-mail addresses the customer lacks are added (an address that
  belongs to another customer is skipped), categories too; nothing is removed;
- the title (people only), the web site and the postal address (its five parts count
  as one field) are set when they are empty, or when they still hold the value this
  same card put there (the card changed it since): a value an admin edited, or that
  another source filled, is never overwritten;
- a person without an organization is linked to the organization the card names if
  the CRM has it (``import``: it is created).

Names and notes of a known customer are never changed.

What each source contributed is recorded in ``customer_field_sources`` (account,
address book, card href, field, value), so an admin can see which account added a
phone number. A value the card no longer states, and every value of a card deleted
at the source, keeps its row with ``removed_at`` set: the CRM keeps the value and the
customer (contacts deleted at the source are never deleted in the CRM).

An invalid e-mail address or phone number in a card is skipped with its reason
(:attr:`ContactsResult.skipped`); the rest of the card is stored. A card that cannot
be stored at all (an import of a card with neither a name nor an address) is a
problem of its own, in a savepoint of its own: the other cards are stored. The caller
owns the transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from adapters.records import ContactRecord
from crm import audit
from crm.importing import (
    FIELD_LIMITS,
    MAX_TEXT,
    CustomerRecord,
    Owner,
    RowError,
    find_customer,
    store_customer,
)
from crm.models import (
    Account,
    ContactPoint,
    CustomerCategory,
    CustomerFieldSource,
    Organization,
    Person,
    utcnow,
)
from crm.normalize import InvalidValueError, phone_e164, valid_email
from crm.vcardimport import customer_from_contact

log = logging.getLogger(__name__)

Policy = Literal["enrich", "import"]
POLICIES: tuple[Policy, ...] = ("enrich", "import")
#: the postal address: model attributes, in the order they are joined for provenance
ADDRESS = ("street", "locality", "region", "postal_code", "country")
_ADDRESS_LIMITS = [
    FIELD_LIMITS[name] for name in ("street", "city", "region", "postal_code", "country")
]

Value = tuple[str, str]  # (field, value) as recorded in customer_field_sources


@dataclass
class ContactsResult:
    """What one batch of cards did.

    ``created``: customers created (``import``); ``enriched``: known customers a card
    added something to; ``unchanged``: known customers it added nothing to;
    ``unmatched``: cards of nobody the CRM knows, left alone (``enrich``);
    ``removed``: cards deleted at the source; ``skipped``: values left out, with their
    reasons; ``problems``: cards not stored at all, with their reasons; ``merged``
    (``import``): cards of nobody known by UID, address or number that were most likely
    a stored customer all the same (:mod:`crm.duplicates`: the same name at the same
    organization, an organization's same name but for its legal form), which they
    enriched instead of creating a duplicate, with the reason.
    """

    created: int = 0
    enriched: int = 0
    unchanged: int = 0
    unmatched: int = 0
    removed: int = 0
    skipped: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    merged: list[str] = field(default_factory=list)


@dataclass
class _Card:
    """A card's values, validated: what it states, and where it came from."""

    contact: ContactRecord
    record: CustomerRecord
    emails: list[tuple[str, str]]  # (normalized, as written)
    phones: list[tuple[str, str, str]]  # (E.164, label, as written)
    skipped: list[str]

    def note(self, reason: str) -> None:
        self.skipped.append(f"{self.contact.remote_id}: {reason}")


def ingest_contacts(
    session: Session,
    *,
    account_id: int,
    collection: str,
    records: Iterable[ContactRecord],
    policy: str = "enrich",
    default_region: str,
    deleted: Iterable[str] = (),
) -> ContactsResult:
    """Store the cards of one batch of an address book (see the module docstring).

    ``deleted``: hrefs of cards deleted at the source; their contributions are marked
    removed, nothing else changes.
    """
    if policy not in POLICIES:
        raise ValueError(f"contacts policy {policy!r}: expected enrich or import")
    result = ContactsResult()
    now = utcnow()
    changed: dict[str, list[str]] = {}  # outcome -> the cards (remote ids), for the audit log
    for contact in records:
        card = _validated(contact, default_region)
        merged: list[str] = []
        try:
            with session.begin_nested():
                outcome = _ingest(
                    session, card, policy, default_region, account_id, collection, now, merged
                )
                session.flush()
        except (InvalidValueError, RowError) as exc:
            result.problems.append(f"{contact.remote_id}: {exc}")
        except DBAPIError as exc:  # a constraint we did not foresee: report, go on
            result.problems.append(f"{contact.remote_id}: not stored: {exc.orig}")
        else:
            setattr(result, outcome, getattr(result, outcome) + 1)
            result.skipped.extend(card.skipped)
            result.merged.extend(f"{contact.remote_id}: {note}" for note in merged)
            if outcome in ("created", "enriched"):
                changed.setdefault(outcome, []).append(contact.remote_id)
    gone = list(dict.fromkeys(deleted))
    if gone:
        session.execute(
            update(CustomerFieldSource)
            .where(
                CustomerFieldSource.account_id == account_id,
                CustomerFieldSource.collection == collection,
                CustomerFieldSource.remote_id.in_(gone),
                CustomerFieldSource.removed_at.is_(None),
            )
            .values(removed_at=now)
        )
        result.removed = len(gone)
    if changed:  # the audit log: which source created or changed customers
        name = session.scalar(select(Account.name).where(Account.id == account_id))
        audit.record(
            session,
            f"sync:{name or account_id}",
            "contacts.sync",
            collection,
            created=result.created,
            enriched=result.enriched,
            cards={k: v[:200] for k, v in changed.items()},
        )
    if result.problems or result.skipped:
        log.info(
            "contacts of account %d: %d cards not stored, %d values skipped",
            account_id,
            len(result.problems),
            len(result.skipped),
        )
    return result


# -- one card ---------------------------------------------------------------------------


def _validated(contact: ContactRecord, region: str) -> _Card:
    """The card as an import record without its invalid addresses and numbers."""
    record = customer_from_contact(contact, 0)
    card = _Card(contact, record, [], [], [])
    seen: set[str] = set()
    for original in record.emails:
        try:
            address = valid_email(original)
        except InvalidValueError as exc:
            card.note(str(exc))
            continue
        if address not in seen:
            seen.add(address)
            card.emails.append((address, original))
    for label, original in record.phones:
        try:
            number = phone_e164(original, region)
        except InvalidValueError as exc:
            card.note(str(exc))
            continue
        if number not in seen:
            seen.add(number)
            card.phones.append((number, label, original))
    record.emails = [original for _, original in card.emails]
    record.phones = [(label, original) for _, label, original in card.phones]
    return card


def _ingest(
    session: Session,
    card: _Card,
    policy: str,
    region: str,
    account_id: int,
    collection: str,
    now: datetime,
    merged: list[str],
) -> str:
    """Store one card; its outcome: created, enriched, unchanged or unmatched. With the
    ``import`` policy, a card that is most likely a stored customer (the duplicate
    check of :mod:`crm.duplicates`) enriches it, noted in ``merged``."""
    owner = _match(session, card)
    if owner is None and policy == "import":
        found: list[str] = []
        owner = find_customer(session, card.record, default_region=region, merged=found)
        if owner is not None and not _same_kind(owner, card):
            owner = None
        elif owner is not None:
            merged.extend(found)
    if owner is None:
        if policy != "import":
            return "unmatched"
        owner = _create(session, card, region, merged)
        added = _stated(card, owner)
        outcome = "created"
    else:
        added = _enrich(session, owner, card, policy, account_id, card.contact.remote_id)
        outcome = "enriched" if added else "unchanged"
    _record(session, owner, card, added, account_id, collection, now)
    return outcome


def _same_kind(owner: Owner, card: _Card) -> bool:
    return isinstance(owner, Organization) == (card.record.kind == "organization")


def _match(session: Session, card: _Card) -> Owner | None:
    """The customer the card is: by UID, an e-mail address, or a phone number."""
    uid = card.record.external_id
    if uid:
        found: Owner | None
        if card.record.kind == "organization":
            found = session.scalars(select(Organization).filter_by(external_id=uid)).first()
        else:
            found = session.scalars(select(Person).filter_by(external_id=uid)).first()
        if found is not None:
            return found
    for address, _ in card.emails:
        point = _email_point(session, address)
        owner = _owner(point) if point is not None else None
        if owner is not None and _same_kind(owner, card):
            return owner
    numbers = [number for number, _, _ in card.phones]
    if not numbers:
        return None
    points = session.scalars(
        select(ContactPoint).where(ContactPoint.kind == "phone", ContactPoint.value.in_(numbers))
    ).all()
    owners = {id(o): o for p in points if (o := _owner(p)) is not None and _same_kind(o, card)}
    return next(iter(owners.values())) if len(owners) == 1 else None


def _create(session: Session, card: _Card, region: str, merged: list[str]) -> Owner:
    """Create the card's customer (``import``), without addresses others own."""
    kept = []
    for address, original in card.emails:
        point = _email_point(session, address)
        if point is None:
            kept.append((address, original))
        else:
            card.note(f"email {original!r}: address already belongs to another customer")
    card.emails = kept
    card.record.emails = [original for _, original in kept]
    for name in ("title", "website"):
        if not _fits(card, name, getattr(card.record, name)):
            setattr(card.record, name, "")
    if not _address_fits(card, _card_address(card)):
        for name in ("street", "city", "region", "postal_code", "country"):
            setattr(card.record, name, "")
    _, owner = store_customer(session, card.record, default_region=region, merged=merged)
    session.flush()
    return owner


def _enrich(
    session: Session, owner: Owner, card: _Card, policy: str, account_id: int, remote_id: str
) -> set[Value]:
    """Add the card's values to a known customer; the values it added (see the docstring)."""
    added: set[Value] = set()
    ours = _ours(session, owner, account_id, remote_id)
    for address, original in card.emails:
        point = _email_point(session, address)
        if point is None:
            owner.contact_points.append(
                ContactPoint(kind="email", value=address, original=original)
            )
            added.add(("email", address))
        elif _owner(point) is not owner:
            card.note(f"email {original!r}: address already belongs to another customer")
    known = {p.value for p in owner.contact_points if p.kind == "phone"}
    for number, label, original in card.phones:
        if number not in known:
            point = ContactPoint(kind="phone", value=number, label=label, original=original)
            owner.contact_points.append(point)
            known.add(number)
            added.add(("phone", number))
    record = card.record
    scalars = [("website", "website", record.website)]
    if isinstance(owner, Person):
        scalars.append(("title", "title", record.title))
    for name, attribute, value in scalars:
        current = getattr(owner, attribute)
        mine = not current or (name, current) in ours
        if value and value != current and mine and _fits(card, name, value):
            setattr(owner, attribute, value)
            added.add((name, value))
    stated = _card_address(card)
    held = [getattr(owner, a) for a in ADDRESS]
    mine = not any(held) or ("address", _joined(held)) in ours
    if any(stated) and stated != held and mine and _address_fits(card, stated):
        for attribute, value in zip(ADDRESS, stated, strict=True):
            setattr(owner, attribute, value)
        added.add(("address", _joined(stated)))
    have = {c.name.casefold() for c in owner.categories}
    for name in _categories(card):
        if name.casefold() not in have:
            owner.categories.append(CustomerCategory(name=name))
            have.add(name.casefold())
            added.add(("category", name))
    if isinstance(owner, Person) and owner.organization is None and record.organization:
        org = _organization(session, record.organization, create=policy == "import")
        if org is not None:
            owner.organization = org
            added.add(("organization", org.name))
    return added


def _record(
    session: Session,
    owner: Owner,
    card: _Card,
    added: set[Value],
    account_id: int,
    collection: str,
    now: datetime,
) -> None:
    """Bring the card's provenance rows up to date: new contributions, seen and gone ones."""
    stated = _stated(card, owner)
    remote_id = card.contact.remote_id
    rows = session.scalars(
        select(CustomerFieldSource).where(
            CustomerFieldSource.account_id == account_id,
            CustomerFieldSource.remote_id == remote_id,
            _owned_by(owner),
        )
    ).all()
    have = set()
    for row in rows:
        key = (row.field, row.value)
        have.add(key)
        if key in stated:
            row.seen_at, row.removed_at, row.collection = now, None, collection
        elif row.removed_at is None:
            row.removed_at = now
    for name, value in sorted(added - have):
        session.add(
            CustomerFieldSource(
                person=owner if isinstance(owner, Person) else None,
                organization=owner if isinstance(owner, Organization) else None,
                field=name,
                value=value,
                account_id=account_id,
                collection=collection,
                remote_id=remote_id,
                seen_at=now,
            )
        )


def _stated(card: _Card, owner: Owner) -> set[Value]:
    """Every value the card states, as provenance records it."""
    record = card.record
    stated: set[Value] = {("email", address) for address, _ in card.emails}
    stated |= {("phone", number) for number, _, _ in card.phones}
    stated |= {("category", name) for name in _categories(card)}
    if record.website:
        stated.add(("website", record.website))
    if isinstance(owner, Person) and record.title:
        stated.add(("title", record.title))
    address = _card_address(card)
    if any(address):
        stated.add(("address", _joined(address)))
    if isinstance(owner, Person) and owner.organization is not None and record.organization:
        stated.add(("organization", owner.organization.name))
    return stated


# -- helpers ----------------------------------------------------------------------------


def _ours(session: Session, owner: Owner, account_id: int, remote_id: str) -> set[Value]:
    """The values this card contributed to ``owner`` before."""
    rows = session.execute(
        select(CustomerFieldSource.field, CustomerFieldSource.value).where(
            CustomerFieldSource.account_id == account_id,
            CustomerFieldSource.remote_id == remote_id,
            _owned_by(owner),
        )
    ).all()
    return {(name, value) for name, value in rows}


def _owned_by(owner: Owner) -> ColumnElement[bool]:
    if isinstance(owner, Person):
        return CustomerFieldSource.person_id == owner.id
    return CustomerFieldSource.organization_id == owner.id


def _email_point(session: Session, address: str) -> ContactPoint | None:
    return session.scalars(select(ContactPoint).filter_by(kind="email", value=address)).first()


def _owner(point: ContactPoint) -> Owner | None:
    return point.person if point.person is not None else point.organization


def _organization(session: Session, name: str, *, create: bool) -> Organization | None:
    """The one organization of that name (case-insensitive); created when asked to."""
    found = session.scalars(
        select(Organization).where(func.lower(Organization.name) == func.lower(name)).limit(2)
    ).all()
    if len(found) == 1:
        return found[0]
    if found or not create or len(name) > MAX_TEXT:
        return None
    org = Organization(name=name)
    session.add(org)
    return org


def _categories(card: _Card) -> list[str]:
    return list(dict.fromkeys(c.strip()[:64] for c in card.record.categories if c.strip()))


def _card_address(card: _Card) -> list[str]:
    r = card.record
    return [r.street, r.city, r.region, r.postal_code, r.country]


def _joined(parts: list[str]) -> str:
    return "\n".join(parts)


def _fits(card: _Card, name: str, value: str) -> bool:
    limit = FIELD_LIMITS.get(name, MAX_TEXT)
    if len(value) <= limit:
        return True
    card.note(f"{name}: longer than {limit} characters")
    return False


def _address_fits(card: _Card, parts: list[str]) -> bool:
    if all(len(p) <= limit for p, limit in zip(parts, _ADDRESS_LIMITS, strict=True)):
        return True
    card.note("address: a part is too long")
    return False
