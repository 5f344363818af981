"""Follow-ups (Wiedervorlage): get back to a customer by a day.

A follow-up belongs to a person or an organization, is assigned to a staff user, and is
open until someone closes it (done or cancelled) or, when it is ``waiting_for_reply``,
until the customer's reply is synced (:func:`close_on_replies`, called by crm.ingest).

Which reply closes which follow-up: the sender of a new inbound mail resolved to a
person closes that person's follow-ups; the sender's organization (the one the address
matched, or the person's) closes the organization's own follow-ups (those without a
person). A colleague's reply therefore closes "waiting for Nordwind", but not "waiting
for Greta": a follow-up on a person waits for that person.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.orm import Session, aliased

from crm import audit
from crm.models import FollowUp, Interaction, Organization, Participant, Person, User, utcnow
from crm.normalize import InvalidValueError
from crm.visibility import Viewer

MAX_NOTE = 4000
STATUSES = ("open", "done", "cancelled")

#: the quick choices of the forms: label, and how :func:`due_for` reads them
QUICK_CHOICES: dict[str, str] = {
    "no-reply-3d": "If no reply in 3 days",
    "tomorrow": "Tomorrow",
    "next-week": "Next week (Monday)",
    "in-2-weeks": "In 2 weeks",
}


def due_for(choice: str, today: date) -> tuple[date, bool]:
    """The due day of a quick choice and whether it waits for a reply; :class:`KeyError`
    for an unknown choice."""
    if choice == "no-reply-3d":
        return today + timedelta(days=3), True
    if choice == "tomorrow":
        return today + timedelta(days=1), False
    if choice == "next-week":
        return today + timedelta(days=7 - today.weekday()), False
    if choice == "in-2-weeks":
        return today + timedelta(days=14), False
    raise KeyError(choice)


@dataclass(frozen=True)
class FollowUpItem:
    """A follow-up as lists show it: with its customer's name and link data."""

    id: int
    due_on: date
    note: str
    status: str
    waiting_for_reply: bool
    assignee_id: int
    assignee: str
    created_by: str
    created_at: datetime
    customer_kind: str  # person | organization
    customer_id: int
    customer_name: str
    interaction_id: int | None
    closed_by: str = ""

    @property
    def customer_path(self) -> str:
        """The customer's page, relative to the web view's root."""
        kind = "people" if self.customer_kind == "person" else "organizations"
        return f"/{kind}/{self.customer_id}"


@dataclass
class Agenda:
    """One user's open follow-ups: overdue, due today, and later."""

    overdue: list[FollowUpItem] = field(default_factory=list)
    today: list[FollowUpItem] = field(default_factory=list)
    upcoming: list[FollowUpItem] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.overdue) + len(self.today) + len(self.upcoming)


def create_follow_up(
    session: Session,
    *,
    assignee_id: int,
    due_on: date,
    actor: str,
    person_id: int | None = None,
    organization_id: int | None = None,
    interaction_id: int | None = None,
    note: str = "",
    waiting_for_reply: bool = False,
    today: date | None = None,
) -> FollowUp:
    """A new open follow-up; :class:`InvalidValueError` naming the field for: no
    customer (none given, and none among the interaction's external participants), a
    due day in the past, a note over :data:`MAX_NOTE` characters, an unknown, inactive
    or viewer assignee, an unknown customer or interaction."""
    today = today or date.today()
    note = note.strip()
    if interaction_id is not None:
        if session.get(Interaction, interaction_id) is None:
            raise InvalidValueError("interaction", str(interaction_id), "no such timeline entry")
        if person_id is None and organization_id is None:
            person_id, organization_id = _customer_of(session, interaction_id)
    if person_id is None and organization_id is None:
        raise InvalidValueError("customer", "", "a follow-up needs a person or an organization")
    if person_id is not None and session.get(Person, person_id) is None:
        raise InvalidValueError("person", str(person_id), "no such person")
    if organization_id is not None and session.get(Organization, organization_id) is None:
        raise InvalidValueError("organization", str(organization_id), "no such organization")
    if due_on < today:
        raise InvalidValueError("due_on", due_on.isoformat(), "the due day is in the past")
    if len(note) > MAX_NOTE:
        raise InvalidValueError("note", note[:20], f"a note holds at most {MAX_NOTE} characters")
    assignee = session.get(User, assignee_id)
    if assignee is None or not assignee.active:
        raise InvalidValueError("assignee", str(assignee_id), "no such user")
    if assignee.role == "viewer":
        raise InvalidValueError("assignee", assignee.name, "a viewer cannot be assigned")
    follow_up = FollowUp(
        person_id=person_id,
        organization_id=organization_id if person_id is None else None,
        interaction_id=interaction_id,
        assignee_id=assignee_id,
        due_on=due_on,
        note=note,
        status="open",
        waiting_for_reply=waiting_for_reply,
        created_by=actor[:128],
    )
    session.add(follow_up)
    session.flush()
    audit.record(
        session,
        actor,
        "follow_up.create",
        f"follow-up {follow_up.id}",
        person_id=follow_up.person_id,
        organization_id=follow_up.organization_id,
        interaction_id=interaction_id,
        assignee=assignee.name,
        due_on=due_on.isoformat(),
        waiting_for_reply=waiting_for_reply,
    )
    return follow_up


def _customer_of(session: Session, interaction_id: int) -> tuple[int | None, int | None]:
    """The first external participant's person, else the first one's organization."""
    rows = session.execute(
        select(Participant.person_id, Participant.organization_id)
        .where(
            Participant.interaction_id == interaction_id,
            Participant.is_internal.is_(False),
            or_(Participant.person_id.is_not(None), Participant.organization_id.is_not(None)),
        )
        .order_by(Participant.id)
    ).all()
    for person_id, _ in rows:
        if person_id is not None:
            return person_id, None
    for _, organization_id in rows:
        if organization_id is not None:
            return None, organization_id
    return None, None


def may_change(session: Session, follow_up: FollowUp, viewer: Viewer) -> bool:
    """Whether ``viewer`` may close or reopen it: its assignee, its creator, an admin."""
    if viewer.is_admin:
        return True
    if viewer.user_id is None:
        return False
    if follow_up.assignee_id == viewer.user_id:
        return True
    name = session.scalar(select(User.name).where(User.id == viewer.user_id))
    return name is not None and name == follow_up.created_by


def close_follow_up(
    session: Session, follow_up_id: int, *, actor: str, viewer: Viewer, status: str = "done"
) -> FollowUp:
    """Mark it done or cancelled; :class:`LookupError` if there is none,
    :class:`PermissionError` if ``viewer`` may not (see :func:`may_change`)."""
    if status not in ("done", "cancelled"):
        raise ValueError("status must be done or cancelled")
    follow_up = _changeable(session, follow_up_id, viewer)
    previous = follow_up.status
    follow_up.status = status
    follow_up.closed_at = utcnow()
    follow_up.closed_by = actor[:128]
    follow_up.closed_by_interaction_id = None
    audit.record(
        session, actor, "follow_up.close", f"follow-up {follow_up.id}",
        status=status, previous=previous,
    )  # fmt: skip
    session.flush()
    return follow_up


def reopen_follow_up(
    session: Session,
    follow_up_id: int,
    *,
    actor: str,
    viewer: Viewer,
    due_on: date | None = None,
) -> FollowUp:
    """Open it again (optionally due another day); errors as :func:`close_follow_up`."""
    follow_up = _changeable(session, follow_up_id, viewer)
    previous = follow_up.status
    follow_up.status = "open"
    follow_up.closed_at = None
    follow_up.closed_by = ""
    follow_up.closed_by_interaction_id = None
    if due_on is not None:
        follow_up.due_on = due_on
    audit.record(
        session, actor, "follow_up.reopen", f"follow-up {follow_up.id}",
        previous=previous, due_on=follow_up.due_on.isoformat(),
    )  # fmt: skip
    session.flush()
    return follow_up


def _changeable(session: Session, follow_up_id: int, viewer: Viewer) -> FollowUp:
    follow_up = session.get(FollowUp, follow_up_id)
    if follow_up is None:
        raise LookupError(f"no follow-up {follow_up_id}")
    if not may_change(session, follow_up, viewer):
        raise PermissionError("only its assignee, its creator or an admin may change it")
    return follow_up


# -- lists ------------------------------------------------------------------------------


def _items(session: Session, *conditions: ColumnElement[bool]) -> list[FollowUpItem]:
    person, org, assignee = aliased(Person), aliased(Organization), aliased(User)
    rows = session.execute(
        select(FollowUp, person.display_name, org.name, assignee.name)
        .join(assignee, assignee.id == FollowUp.assignee_id)
        .outerjoin(person, person.id == FollowUp.person_id)
        .outerjoin(org, org.id == FollowUp.organization_id)
        .where(*conditions)
        .order_by(FollowUp.due_on, FollowUp.id)
    )
    items = []
    for f, person_name, org_name, assignee_name in rows:
        is_person = f.person_id is not None
        items.append(
            FollowUpItem(
                id=f.id,
                due_on=f.due_on,
                note=f.note,
                status=f.status,
                waiting_for_reply=f.waiting_for_reply,
                assignee_id=f.assignee_id,
                assignee=assignee_name,
                created_by=f.created_by,
                created_at=f.created_at,
                customer_kind="person" if is_person else "organization",
                customer_id=(f.person_id if is_person else f.organization_id) or 0,
                customer_name=(person_name if is_person else org_name) or "",
                interaction_id=f.interaction_id,
                closed_by=f.closed_by,
            )
        )
    return items


def follow_ups_for(session: Session, user_id: int, *, today: date) -> Agenda:
    """``user_id``'s open follow-ups, by due day, split at ``today``."""
    agenda = Agenda()
    for item in _items(session, FollowUp.assignee_id == user_id, FollowUp.status == "open"):
        if item.due_on < today:
            agenda.overdue.append(item)
        elif item.due_on == today:
            agenda.today.append(item)
        else:
            agenda.upcoming.append(item)
    return agenda


def recently_closed(session: Session, user_id: int, *, since: datetime) -> list[FollowUpItem]:
    """``user_id``'s follow-ups done or cancelled since ``since``, to reopen by mistake."""
    return _items(
        session,
        FollowUp.assignee_id == user_id,
        FollowUp.status != "open",
        FollowUp.closed_at >= since,
    )


def open_for_customer(session: Session, kind: str, customer_id: int) -> list[FollowUpItem]:
    """A person's or an organization's open follow-ups (an organization's include those
    on its people)."""
    if kind == "person":
        who = FollowUp.person_id == customer_id
    else:
        people = select(Person.id).where(Person.organization_id == customer_id)
        who = or_(FollowUp.organization_id == customer_id, FollowUp.person_id.in_(people))
    return _items(session, who, FollowUp.status == "open")


def due_by_user(
    session: Session, today: date, user_id: int | None = None
) -> dict[int, list[FollowUpItem]]:
    """Open follow-ups due ``today`` or before, per assignee (one user's with ``user_id``)."""
    conditions = [FollowUp.status == "open", FollowUp.due_on <= today]
    if user_id is not None:
        conditions.append(FollowUp.assignee_id == user_id)
    found: dict[int, list[FollowUpItem]] = {}
    for item in _items(session, *conditions):
        found.setdefault(item.assignee_id, []).append(item)
    return found


def claim_digest(session: Session, user_id: int, today: date) -> bool:
    """Take the right to mail ``user_id`` today's digest: True for exactly one caller a day
    (an atomic UPDATE; two workers never both win). The caller commits."""
    done = session.execute(
        update(User)
        .where(
            User.id == user_id,
            or_(User.last_digest_on.is_(None), User.last_digest_on < today),
        )
        .values(last_digest_on=today)
        .execution_options(synchronize_session=False)
    )
    return bool(done.rowcount)  # type: ignore[attr-defined]


def release_digest(session: Session, user_id: int, today: date, previous: date | None) -> None:
    """Give a claim back (the mail could not be sent): the next try sends it."""
    session.execute(
        update(User)
        .where(User.id == user_id, User.last_digest_on == today)
        .values(last_digest_on=previous)
        .execution_options(synchronize_session=False)
    )


# -- replies ----------------------------------------------------------------------------


def close_on_replies(session: Session, interaction_ids: Sequence[int]) -> int:
    """Close the open follow-ups waiting for a reply that these new mails answer: for each
    inbound mail, those on its sender's person, and those on its sender's organization
    (without a person), created before the mail. How many were closed.

    Costs one query when no follow-up waits for a reply at all."""
    if not interaction_ids:
        return 0
    waiting = session.scalar(
        select(FollowUp.id)
        .where(FollowUp.status == "open", FollowUp.waiting_for_reply.is_(True))
        .limit(1)
    )
    if waiting is None:
        return 0
    senders: list[Any] = []  # (interaction, time, person, organization, person's org)
    ids = list(interaction_ids)
    for start in range(0, len(ids), 500):
        senders += session.execute(
            select(
                Interaction.id,
                Interaction.occurred_at,
                Participant.person_id,
                Participant.organization_id,
                Person.organization_id,
            )
            .join(Participant, Participant.interaction_id == Interaction.id)
            .outerjoin(Person, Person.id == Participant.person_id)
            .where(
                Interaction.id.in_(ids[start : start + 500]),
                Interaction.kind == "email",
                Interaction.direction == "inbound",
                Participant.role == "from",
                Participant.is_internal.is_(False),
            )
        ).all()
    closed = 0
    for iid, when, person_id, org_id, person_org_id in sorted(senders, key=lambda r: r[1]):
        who = []
        if person_id is not None:
            who.append(FollowUp.person_id == person_id)
        for organization in {org_id, person_org_id} - {None}:
            who.append(and_(FollowUp.person_id.is_(None), FollowUp.organization_id == organization))
        if not who:
            continue
        answered = session.scalars(
            select(FollowUp).where(
                FollowUp.status == "open",
                FollowUp.waiting_for_reply.is_(True),
                FollowUp.created_at < when,
                or_(*who),
            )
        ).all()
        for follow_up in answered:
            follow_up.status = "done"
            follow_up.closed_at = utcnow()
            follow_up.closed_by = "reply"
            follow_up.closed_by_interaction_id = iid
            audit.record(
                session, "reply", "follow_up.close", f"follow-up {follow_up.id}",
                status="done", interaction_id=iid,
            )  # fmt: skip
            closed += 1
    if closed:
        session.flush()
    return closed
