"""The review queue: external addresses that matched no customer, and what admins decide.

A decision becomes a :class:`~crm.models.MatchRule` (or a contact point, when an
address is assigned to a person) and is applied to the backlog at once: the
mail already stored appears on the customer's timeline.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import CursorResult, Insert, Update, case, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from crm import audit
from crm.matching import MatchPolicy, Resolver
from crm.models import (
    ContactPoint,
    Interaction,
    MatchRule,
    Participant,
    Person,
    ReviewItem,
    utcnow,
)
from crm.normalize import InvalidValueError, email_key, valid_domain


@dataclass(frozen=True)
class Relinked:
    """How an admin decision changed the history."""

    participants: int
    review_items_closed: int


def note_unmatched(session: Session, sightings: Iterable[tuple[str, str, datetime]]) -> None:
    """Count each (address, name, when) in the queue: new entries open, known ones grow.

    One upsert that adds to the stored count in the database: several accounts
    store mail from the same sender at once, and a count read, raised in Python
    and written back would lose the other transactions' additions. Rows go in
    address order, so two transactions take their row locks in the same order.
    """
    by_email: dict[str, list[tuple[str, datetime]]] = {}
    for email, name, when in sightings:
        by_email.setdefault(email, []).append((name, when))
    if not by_email:
        return
    rows = []
    for email in sorted(by_email):
        seen = by_email[email]
        times = [when for _, when in seen]
        rows.append(
            {
                "email": email,
                "name": next((n for n, _ in reversed(seen) if n), ""),
                "status": "open",
                "interaction_count": len(seen),
                "first_seen_at": min(times),
                "last_seen_at": max(times),
            }
        )
    session.execute(_count_upsert(session), rows)


def _count_upsert(session: Session) -> Insert:
    postgres = session.get_bind().dialect.name == "postgresql"
    insert = postgresql.insert if postgres else sqlite.insert
    least, greatest = (func.least, func.greatest) if postgres else (func.min, func.max)
    stmt = insert(ReviewItem)
    table, new = ReviewItem.__table__.c, stmt.excluded
    return stmt.on_conflict_do_update(
        index_elements=[table.email],
        set_={
            "interaction_count": table.interaction_count + new.interaction_count,
            "first_seen_at": least(table.first_seen_at, new.first_seen_at),
            "last_seen_at": greatest(table.last_seen_at, new.last_seen_at),
            "name": case((new.name != "", new.name), else_=table.name),
            # an assigned address seen unmatched again: its customer is gone
            "status": case((table.status == "assigned", "open"), else_=table.status),
        },
    )


def open_items(session: Session, limit: int | None = None, offset: int = 0) -> list[ReviewItem]:
    """The open queue, most frequent first."""
    query = (
        select(ReviewItem)
        .where(ReviewItem.status == "open")
        .order_by(
            ReviewItem.interaction_count.desc(), ReviewItem.last_seen_at.desc(), ReviewItem.id
        )
        .offset(offset)
        .limit(limit)
    )
    return list(session.scalars(query))


def assign_address(
    session: Session,
    email: str,
    policy: MatchPolicy,
    *,
    person_id: int | None = None,
    organization_id: int | None = None,
    actor: str = "system",
) -> Relinked:
    """The address belongs to a person (becomes their contact point) or to an organization
    (a rule). Stored mail is re-linked."""
    email = email_key(email)
    if person_id is not None:
        person = session.get(Person, person_id)
        if person is None:
            raise InvalidValueError("person", str(person_id), "no such person")
        session.add(ContactPoint(person_id=person_id, kind="email", value=email, original=email))
    elif organization_id is not None:
        session.add(MatchRule(pattern=email, action="assign", organization_id=organization_id))
    else:
        raise InvalidValueError("assignment", email, "name a person or an organization")
    session.flush()
    done = apply_to_backlog(session, policy, [email])
    customer = f"person {person_id}" if person_id is not None else f"organization {organization_id}"
    audit.record(session, actor, "review.assign", email, to=customer, relinked=done.participants)
    return done


def ignore(
    session: Session, pattern: str, policy: MatchPolicy, *, actor: str = "system"
) -> Relinked:
    """Never queue this address (or ``@domain``) again; close its queue entries."""
    pattern = "@" + valid_domain(pattern) if pattern.startswith("@") else email_key(pattern)
    session.add(MatchRule(pattern=pattern, action="ignore"))
    session.flush()
    if pattern.startswith("@"):
        emails = list(
            session.scalars(
                select(ReviewItem.email).where(
                    ReviewItem.status == "open", ReviewItem.email.like("%" + pattern)
                )
            )
        )
    else:
        emails = [pattern]
    done = apply_to_backlog(session, policy, emails)
    audit.record(session, actor, "review.ignore", pattern, closed=done.review_items_closed)
    return done


def apply_to_backlog(
    session: Session, policy: MatchPolicy, emails: Iterable[str] | None = None
) -> Relinked:
    """Re-resolve unlinked external participants (all open queue entries if ``emails`` is
    None) and link those that now match; close their queue entries."""
    if emails is None:
        emails = session.scalars(select(ReviewItem.email).where(ReviewItem.status == "open"))
    wanted = sorted(set(emails))
    resolved = Resolver(session, policy).resolve(wanted)
    linked = closed = 0
    now = utcnow()
    for email, match in resolved.items():
        if match is None:
            continue
        if match.is_match:
            linked += _rowcount(
                session,
                update(Participant)
                .where(
                    Participant.email == email,
                    Participant.is_internal.is_(False),
                    Participant.person_id.is_(None),
                    Participant.organization_id.is_(None),
                )
                .values(
                    person_id=match.person_id,
                    organization_id=match.organization_id,
                    match_reason=match.reason,
                ),
            )
        status = "assigned" if match.is_match else "ignored"
        closed += _rowcount(
            session,
            update(ReviewItem)
            .where(ReviewItem.email == email, ReviewItem.status == "open")
            .values(status=status, resolved_at=now),
        )
    return Relinked(participants=linked, review_items_closed=closed)


def _rowcount(session: Session, statement: Update) -> int:
    result = session.execute(statement)
    return result.rowcount if isinstance(result, CursorResult) else 0


def get_item(session: Session, item_id: int) -> ReviewItem | None:
    """One queue entry by id."""
    return session.get(ReviewItem, item_id)


def count_open(session: Session) -> int:
    """How many addresses wait for a decision."""
    return (
        session.scalar(
            select(func.count()).select_from(ReviewItem).where(ReviewItem.status == "open")
        )
        or 0
    )


def sample_subjects(
    session: Session, emails: Sequence[str], per_address: int = 3
) -> dict[str, list[tuple[int, str, datetime]]]:
    """The newest few (interaction id, subject, when) per address, for the queue page."""
    if not emails:
        return {}
    ranked = (
        select(
            Participant.email,
            Interaction.id,
            Interaction.subject,
            Interaction.occurred_at,
            func.row_number()
            .over(partition_by=Participant.email, order_by=Interaction.occurred_at.desc())
            .label("n"),
        )
        .join(Interaction, Interaction.id == Participant.interaction_id)
        .where(Participant.email.in_(list(emails)))
        .subquery()
    )
    rows = session.execute(
        select(ranked.c.email, ranked.c.id, ranked.c.subject, ranked.c.occurred_at)
        .where(ranked.c.n <= per_address)
        .order_by(ranked.c.email, ranked.c.occurred_at.desc())
    )
    found: dict[str, list[tuple[int, str, datetime]]] = {}
    for email, interaction_id, subject, when in rows:
        found.setdefault(email, []).append((interaction_id, subject, when))
    return found
