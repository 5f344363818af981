"""Change tracking for the CardDAV export: a counter, each customer's ``card_seq``, and
tombstones.

Whatever changes a person or organization through the ORM (web forms, imports, the
review queue, a merge) is seen in one ``before_flush`` hook: the flush takes the next
counter value and stamps it on every customer whose card may have changed, and a
deleted customer leaves a tombstone with that value. The CardDAV side then needs no
scan of the collection: ``getctag`` and the sync token are the counter, and a
sync-collection since token *n* reads the customers and tombstones with a value above
*n* through their indexes.

Taking a value is an UPDATE of the counter's one row, which holds the row's lock until
commit. Card-changing transactions therefore commit in the order of their values, and a
client that synced at value *n* can never miss a change that commits later with a value
at or below *n* (what a database sequence, handed out without that lock, would allow).

Changes made with bulk Core statements (``update(Person)``) are not seen; code that
changes customers that way must call :func:`touch_people` itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, event, func, inspect, select, update
from sqlalchemy.orm import Session, UOWTransaction

from crm.models import (
    CardTombstone,
    ChangeCounter,
    ContactPoint,
    CustomerCategory,
    Organization,
    Person,
    utcnow,
)

#: attributes whose change does not change a card (or any book's membership)
_NOT_ON_CARD = frozenset({"updated_at", "created_at", "card_seq", "external_id"})
#: organization attributes that appear on (or decide the books of) its people's cards
_ORG_SHOWN_ON_PEOPLE = frozenset({"name", "owner_id"})


def next_value(session: Session) -> int:
    """Take the next counter value (locks the counter row until commit)."""
    value = session.execute(
        update(ChangeCounter)
        .where(ChangeCounter.id == 1)
        .values(value=ChangeCounter.value + 1)
        .returning(ChangeCounter.value)
    ).scalar_one_or_none()
    if value is None:  # a database made before the counter existed, or emptied by a test
        session.add(ChangeCounter(id=1, value=1, cards_seq=0, horizon=0))
        session.flush()
        return 1
    return int(value)


def touch_people(session: Session, seq: int, organization_ids: Iterable[int]) -> None:
    """Stamp ``seq`` on the people of these organizations (their ORG line changed)."""
    ids = sorted(set(organization_ids))
    if ids:
        session.execute(
            update(Person)
            .where(Person.organization_id.in_(ids))
            .values(card_seq=seq)
            .execution_options(synchronize_session=False)
        )


def _changed(obj: Any) -> set[str]:
    """Names of the attributes of a dirty object whose value really changed (setting
    the same value again is no change)."""
    return {attr.key for attr in inspect(obj).attrs if attr.history.has_changes()}


def _owner_of(
    session: Session, obj: ContactPoint | CustomerCategory
) -> Person | Organization | None:
    if obj.person is not None:
        return obj.person
    if obj.organization is not None:
        return obj.organization
    with session.no_autoflush:
        if obj.person_id is not None:
            return session.get(Person, obj.person_id)
        if obj.organization_id is not None:
            return session.get(Organization, obj.organization_id)
    return None


def _previous_owners(
    session: Session, obj: ContactPoint | CustomerCategory
) -> list[Person | Organization]:
    """The customers a point or category was moved away from (their cards change too)."""
    found: list[Person | Organization] = []
    state: Any = inspect(obj)
    for old in state.attrs["person_id"].history.deleted or ():
        with session.no_autoflush:
            person = session.get(Person, old) if old is not None else None
        if person is not None:
            found.append(person)
    for old in state.attrs["organization_id"].history.deleted or ():
        with session.no_autoflush:
            org = session.get(Organization, old) if old is not None else None
        if org is not None:
            found.append(org)
    return found


def _before_flush(session: Session, _context: UOWTransaction, _instances: Any) -> None:
    touched: set[Person | Organization] = set()
    orgs_shown_on_people: set[int] = set()
    deleted: list[Person | Organization] = []
    for obj in session.new:
        if isinstance(obj, Person | Organization):
            touched.add(obj)
        elif isinstance(obj, ContactPoint | CustomerCategory):
            owner = _owner_of(session, obj)
            if owner is not None:
                touched.add(owner)
    for obj in session.dirty:
        if isinstance(obj, Person | Organization):
            changed = _changed(obj) - _NOT_ON_CARD
            if changed:
                touched.add(obj)
                if isinstance(obj, Organization) and changed & _ORG_SHOWN_ON_PEOPLE and obj.id:
                    orgs_shown_on_people.add(obj.id)
        elif isinstance(obj, ContactPoint | CustomerCategory) and _changed(obj):
            owner = _owner_of(session, obj)
            if owner is not None:
                touched.add(owner)
            touched.update(_previous_owners(session, obj))
    for obj in session.deleted:
        if isinstance(obj, Person | Organization):
            deleted.append(obj)
            if isinstance(obj, Organization) and obj.id:
                orgs_shown_on_people.add(obj.id)
        elif isinstance(obj, ContactPoint | CustomerCategory):
            owner = _owner_of(session, obj)
            if owner is not None and owner not in session.deleted:
                touched.add(owner)
    touched -= set(deleted)
    if not (touched or deleted or orgs_shown_on_people):
        return
    with session.no_autoflush:
        seq = next_value(session)
        for customer in touched:
            customer.card_seq = seq
        for customer in deleted:
            if customer.uid:
                session.add(CardTombstone(uid=customer.uid, seq=seq))
        touch_people(session, seq, orgs_shown_on_people)


def install() -> None:
    """Track card changes in every ORM session (idempotent)."""
    if not event.contains(Session, "before_flush", _before_flush):
        event.listen(Session, "before_flush", _before_flush)


def prune_tombstones(session: Session, keep: timedelta) -> int:
    """Delete tombstones older than ``keep``; sync tokens from before the newest pruned
    one become expired (a client holding one syncs afresh). The number deleted."""
    cutoff = utcnow() - keep
    newest = session.scalar(
        select(func.max(CardTombstone.seq)).where(CardTombstone.deleted_at < cutoff)
    )
    if newest is None:
        return 0
    result = session.execute(delete(CardTombstone).where(CardTombstone.seq <= newest))
    session.execute(
        update(ChangeCounter)
        .where(ChangeCounter.id == 1, ChangeCounter.horizon < newest)
        .values(horizon=newest)
    )
    return int(getattr(result, "rowcount", 0) or 0)
