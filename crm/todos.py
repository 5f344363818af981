"""Follow-ups as to-dos (VTODO, RFC 5545) for the read-only CalDAV task list.

Each user has one task list: the follow-ups assigned to them that are open, and those
done or cancelled in the last :data:`RECENT` days (so a client that saw one open sees
it completed, then sees it go). This module only reads ``follow_ups``; follow-ups are
made and closed in the CRM (crm.followups).

The iCalendar text of a to-do is a function of the follow-up and its customer's name
only (DTSTAMP is the follow-up's last change, not the time of the request), so it
and its ETag stay the same until the follow-up or the customer's name changes. Nothing
in it depends on the day it is read: overdue to-dos are not given a PRIORITY, because
that would change a to-do's content without changing its ETag or the list's ctag;
clients mark overdue to-dos from DUE themselves.

The list's ctag (:func:`collection_ctag`) is a digest of the UIDs and ETags of every
to-do in the list: it changes when a follow-up of the user is created, changed,
closed, reassigned or deleted (its row gone), when a customer of one is renamed, and
when a closed one leaves the list after :data:`RECENT` days. A user has at most a few
hundred follow-ups in the list, so computing it costs one small query.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from icalendar import Calendar
from icalendar import Todo as VTodo
from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session

from crm.models import FollowUp, Organization, Person, utcnow

#: how long a done or cancelled follow-up stays in the task list after it was closed
RECENT = timedelta(days=30)
PRODID = "-//crmsync//follow-ups//EN"
CATEGORY = "crmsync"
WAITING = "Waiting for a reply"
#: VTODO STATUS of each follow-up status
STATUS = {"open": "NEEDS-ACTION", "done": "COMPLETED", "cancelled": "CANCELLED"}


@dataclass(frozen=True)
class Todo:
    """A follow-up as the task list shows it (a plain copy of the row and its customer)."""

    uid: str
    status: str  # open | done | cancelled
    due_on: date
    note: str
    waiting_for_reply: bool
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    customer_name: str
    person_id: int | None
    organization_id: int | None

    @property
    def summary(self) -> str:
        first = next((line.strip() for line in self.note.splitlines() if line.strip()), "")
        return f"{self.customer_name}: {first}" if first else f"Follow up {self.customer_name}"


def _query(user_id: int, now: datetime | None) -> Select[FollowUp, str, str]:
    since = (now or utcnow()) - RECENT
    return (
        select(FollowUp, Person.display_name, Organization.name)
        .outerjoin(Person, Person.id == FollowUp.person_id)
        .outerjoin(Organization, Organization.id == FollowUp.organization_id)
        .where(
            FollowUp.assignee_id == user_id,
            or_(
                FollowUp.status == "open",
                and_(FollowUp.closed_at.is_not(None), FollowUp.closed_at >= since),
            ),
        )
    )


def _todo(row: FollowUp, person: str | None, organization: str | None) -> Todo:
    if person and organization:
        name = f"{person} ({organization})"
    else:
        name = person or organization or "a customer"
    return Todo(
        uid=row.uid,
        status=row.status,
        due_on=row.due_on,
        note=row.note or "",
        waiting_for_reply=bool(row.waiting_for_reply),
        created_at=row.created_at,
        updated_at=row.updated_at,
        closed_at=row.closed_at,
        customer_name=name,
        person_id=row.person_id,
        organization_id=row.organization_id,
    )


def todos_for(session: Session, user_id: int, now: datetime | None = None) -> list[Todo]:
    """The user's task list: their open follow-ups and those closed since ``now`` minus
    :data:`RECENT`, by due day, then UID."""
    rows = session.execute(_query(user_id, now).order_by(FollowUp.due_on, FollowUp.uid))
    return [_todo(f, p, o) for f, p, o in rows]


def get_todos(
    session: Session, user_id: int, uids: list[str], now: datetime | None = None
) -> dict[str, Todo]:
    """The to-dos of the user's task list with these UIDs, by UID (others are left out)."""
    if not uids:
        return {}
    rows = session.execute(_query(user_id, now).where(FollowUp.uid.in_(uids)))
    return {f.uid: _todo(f, p, o) for f, p, o in rows}


def todo_ics(todo: Todo, customer_url: str = "") -> bytes:
    """A VCALENDAR with the one VTODO of ``todo``; ``customer_url`` (the customer's page
    in the web view, when the caller knows the site's address) becomes its URL. No
    ATTENDEE or ORGANIZER: the customer is never invited to anything."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    item = VTodo()
    item.add("uid", todo.uid)
    item.add("dtstamp", todo.updated_at)
    item.add("created", todo.created_at)
    item.add("last-modified", todo.updated_at)
    item.add("summary", todo.summary)
    description = todo.note.strip()
    if todo.waiting_for_reply:
        description = f"{description}\n\n{WAITING}" if description else WAITING
    if description:
        item.add("description", description)
    item.add("due", todo.due_on)  # a DATE value: DUE;VALUE=DATE
    item.add("status", STATUS.get(todo.status, "NEEDS-ACTION"))
    if todo.status == "done":
        item.add("completed", todo.closed_at or todo.updated_at)
        item.add("percent-complete", 100)
    else:
        item.add("percent-complete", 0)
    if customer_url:
        item.add("url", customer_url)
    item.add("categories", [CATEGORY])
    calendar.add_component(item)
    return calendar.to_ical()


def etag(todo: Todo, customer_url: str = "") -> str:
    """The to-do's entity tag: a digest of its iCalendar text as :func:`todo_ics` writes it
    (so it changes exactly when the text does)."""
    return hashlib.sha256(todo_ics(todo, customer_url)).hexdigest()[:32]


def collection_ctag(session: Session, user_id: int, now: datetime | None = None) -> str:
    """A token that changes whenever the user's task list does: a digest of the number of
    to-dos and each one's UID and ETag (see the module's description)."""
    digest = hashlib.sha256()
    todos = todos_for(session, user_id, now)
    digest.update(str(len(todos)).encode())
    for todo in sorted(todos, key=lambda t: t.uid):
        digest.update(f"\n{todo.uid} {etag(todo)}".encode())
    return digest.hexdigest()[:32]
