"""Reading the interaction history: a customer's timeline, or everyone's.

Pages are cut by keyset (``occurred_at``, ``id``), never by offset, so the
hundredth page costs what the first does and nothing loads the whole history.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, func, or_, select, union
from sqlalchemy.orm import Session, selectinload

from crm.models import (
    ContactPoint,
    Interaction,
    InteractionSource,
    Organization,
    OrganizationDomain,
    Participant,
    Person,
    User,
    utcnow,
)
from crm.normalize import email_key
from crm.visibility import Viewer, visible_to

KINDS = ("email", "meeting", "note")
DIRECTIONS = ("inbound", "outbound", "internal")


class UnknownCustomerError(LookupError):
    """Raised when no person has that address and no organization that domain or name."""

    def __init__(self, key: str) -> None:
        super().__init__(f"no customer found for {key!r}")
        self.key = key


class BadCursorError(ValueError):
    """Raised for a page cursor that this code did not write (a mangled link)."""


@dataclass(frozen=True)
class Customer:
    """A person or an organization, as the timeline names it."""

    kind: str  # person | organization
    id: int
    name: str


@dataclass(frozen=True)
class FileRef:
    """An attachment as a page lists it."""

    id: int
    filename: str
    content_type: str
    size: int


@dataclass(frozen=True)
class TimelineEntry:
    """One interaction as a timeline shows it."""

    id: int
    kind: str
    direction: str
    occurred_at: datetime
    subject: str
    snippet: str
    participants: list[dict[str, Any]]
    customers: list[Customer]
    attachments: list[str]
    sources: int
    thread_key: str
    is_bulk: bool = field(default=False)
    files: list[FileRef] = field(default_factory=list)
    has_html: bool = False
    created_by: str = ""
    meeting: Meeting | None = None
    #: "everyone" | "private" (crm.visibility)
    visibility: str = "everyone"
    owner_id: int | None = None
    #: the owner's user name ("" for none)
    owner: str = ""

    @property
    def private(self) -> bool:
        return self.visibility == "private"


@dataclass(frozen=True)
class Meeting:
    """What a meeting entry adds: its end, place and status, and whether it is still
    to come. A private one (CLASS:PRIVATE/CONFIDENTIAL) shows neither title nor text."""

    ends_at: datetime | None
    location: str
    status: str
    all_day: bool
    private: bool
    upcoming: bool


@dataclass(frozen=True)
class TimelineFilter:
    """What a timeline page shows; empty fields filter nothing."""

    kinds: tuple[str, ...] = ()
    direction: str | None = None
    since: date | None = None
    until: date | None = None  # inclusive
    account_id: int | None = None
    unmatched: bool = False


@dataclass(frozen=True)
class TimelinePage:
    """One page, newest first; ``next_cursor`` fetches the older entries after it."""

    entries: list[TimelineEntry]
    next_cursor: str | None

    @property
    def threads(self) -> list[list[TimelineEntry]]:
        """The entries grouped by thread, each group where its newest entry stands."""
        groups: dict[str, list[TimelineEntry]] = {}
        for entry in self.entries:
            groups.setdefault(entry.thread_key, []).append(entry)
        return list(groups.values())


def find_customer(session: Session, key: str) -> Customer:
    """A customer by e-mail address (a person, or an organization's address), by mail
    domain (an organization), or by exact name."""
    key = key.strip()
    if "@" in key and not key.startswith("@"):
        point = session.scalars(
            select(ContactPoint).where(
                ContactPoint.kind == "email", ContactPoint.value == email_key(key)
            )
        ).first()
        if point is not None and point.person is not None:
            return Customer("person", point.person.id, point.person.display_name)
        if point is not None and point.organization is not None:
            return Customer("organization", point.organization.id, point.organization.name)
        raise UnknownCustomerError(key)
    org = session.scalars(
        select(Organization)
        .join(OrganizationDomain)
        .where(OrganizationDomain.domain == key.lstrip("@").lower())
    ).first()
    org = org or session.scalars(select(Organization).where(Organization.name == key)).first()
    if org is not None:
        return Customer("organization", org.id, org.name)
    person = session.scalars(select(Person).where(Person.display_name == key)).first()
    if person is not None:
        return Customer("person", person.id, person.display_name)
    raise UnknownCustomerError(key)


def timeline(
    session: Session,
    customer: Customer | None = None,
    *,
    viewer: Viewer,
    limit: int = 50,
    before: datetime | None = None,
) -> list[TimelineEntry]:
    """Newest first: a customer's interactions (an organization's include its people's),
    or all of them, as far as ``viewer`` may see them."""
    cursor = encode_cursor(before, 2**62) if before is not None else None
    return timeline_page(session, customer, viewer=viewer, limit=limit, cursor=cursor).entries


def timeline_page(
    session: Session,
    customer: Customer | None = None,
    filters: TimelineFilter | None = None,
    *,
    viewer: Viewer,
    limit: int = 50,
    cursor: str | None = None,
) -> TimelinePage:
    """One page of a customer's timeline (or everyone's), filtered, newest first: what
    ``viewer`` may see."""
    query = select(Interaction).order_by(Interaction.occurred_at.desc(), Interaction.id.desc())
    conditions = list(_conditions(filters or TimelineFilter()))
    if not viewer.is_admin:
        conditions.append(visible_to(viewer))
    position = decode_cursor(cursor) if cursor else None
    if customer is not None:
        # the page's ids first, from the (customer, time) indexes of participants
        query = query.where(
            Interaction.id.in_(_page_ids(session, customer, conditions, position, limit + 1))
        )
    else:
        query = query.where(*conditions)
        if position is not None:
            query = query.where(_before(Interaction.occurred_at, Interaction.id, position))
    rows = list(session.scalars(_with_details(query.limit(limit + 1))))
    entries = _entries(session, rows[:limit])
    more = len(rows) > limit
    return TimelinePage(
        entries, encode_cursor(entries[-1].occurred_at, entries[-1].id) if more else None
    )


def encode_cursor(when: datetime, last_id: int) -> str:
    """The cursor of the entry a page ended with."""
    return f"{when.astimezone(UTC):%Y%m%dT%H%M%S.%fZ}_{last_id}"


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """(occurred_at, id) from :func:`encode_cursor`; :class:`BadCursorError` if mangled."""
    try:
        stamp, _, last_id = cursor.partition("_")
        when = datetime.strptime(stamp, "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=UTC)
        return when, int(last_id)
    except ValueError:
        raise BadCursorError(f"not a page cursor: {cursor[:40]!r}") from None


def get_entry(session: Session, interaction_id: int, *, viewer: Viewer) -> TimelineEntry | None:
    """One entry by id, with its participants and files; None when there is none that
    ``viewer`` may see."""
    query = select(Interaction).where(Interaction.id == interaction_id, visible_to(viewer))
    found = session.scalars(_with_details(query)).first()
    return _entries(session, [found])[0] if found is not None else None


def thread_entries(
    session: Session, thread_key: str, *, viewer: Viewer, limit: int = 200
) -> list[TimelineEntry]:
    """The interactions of one thread that ``viewer`` may see, oldest first."""
    query = (
        select(Interaction)
        .where(Interaction.thread_key == thread_key, visible_to(viewer))
        .order_by(Interaction.occurred_at, Interaction.id)
        .limit(limit)
    )
    return _entries(session, list(session.scalars(_with_details(query))))


def activity_by_month(
    session: Session,
    customer: Customer,
    months: int = 24,
    today: date | None = None,
    *,
    viewer: Viewer,
) -> list[tuple[str, int]]:
    """Interactions per month for the last ``months`` months, oldest first ("2026-03", n),
    counting what ``viewer`` may see."""
    today = today or datetime.now(UTC).date()
    first = date(today.year, today.month, 1)
    for _ in range(months - 1):
        first = (first - timedelta(days=1)).replace(day=1)
    start = datetime(first.year, first.month, 1, tzinfo=UTC)
    arms = []
    for link in _links(customer):
        arm = select(Participant.interaction_id, Participant.occurred_at).where(
            link, Participant.occurred_at >= start
        )
        if not viewer.is_admin:
            arm = arm.join(Interaction, Interaction.id == Participant.interaction_id)
            arm = arm.where(visible_to(viewer))
        arms.append(arm)
    linked = union(*arms).subquery()
    if session.get_bind().dialect.name == "postgresql":
        month = func.to_char(func.timezone("UTC", linked.c.occurred_at), "YYYY-MM")
    else:  # SQLite keeps UTC as text: "2026-11-23 09:15:00.000000"
        month = func.substr(linked.c.occurred_at, 1, 7)
    rows = session.execute(select(month, func.count()).group_by(month))
    counts: dict[str, int] = {str(key): int(n) for key, n in rows}
    labels, cur = [], first
    for _ in range(months):
        labels.append(f"{cur:%Y-%m}")
        cur = (cur + timedelta(days=32)).replace(day=1)
    return [(label, counts.get(label, 0)) for label in labels]


def _with_details(query: Select[Any]) -> Select[Any]:
    return query.options(
        selectinload(Interaction.participants).selectinload(Participant.person),
        selectinload(Interaction.participants).selectinload(Participant.organization),
        selectinload(Interaction.attachments),
        selectinload(Interaction.sources),
    )


def _conditions(f: TimelineFilter) -> Sequence[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if f.kinds:
        conditions.append(Interaction.kind.in_(f.kinds))
    if f.direction:
        conditions.append(Interaction.direction == f.direction)
    if f.since:
        conditions.append(Interaction.occurred_at >= _midnight(f.since))
    if f.until:
        conditions.append(Interaction.occurred_at < _midnight(f.until + timedelta(days=1)))
    if f.account_id is not None:
        conditions.append(
            exists().where(
                InteractionSource.interaction_id == Interaction.id,
                InteractionSource.account_id == f.account_id,
            )
        )
    if f.unmatched:
        conditions.append(Interaction.kind != "note")
        conditions.append(
            ~exists().where(
                Participant.interaction_id == Interaction.id,
                or_(Participant.person_id.is_not(None), Participant.organization_id.is_not(None)),
            )
        )
    return conditions


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _links(customer: Customer) -> list[ColumnElement[bool]]:
    """How participants link to the customer; each alone walks one (customer, time) index
    (an OR of them would defeat both indexes on PostgreSQL)."""
    if customer.kind == "person":
        return [Participant.person_id == customer.id]
    people = select(Person.id).where(Person.organization_id == customer.id)
    return [Participant.organization_id == customer.id, Participant.person_id.in_(people)]


def _before(when_column: Any, id_column: Any, position: tuple[datetime, int]) -> Any:
    when, last_id = position
    return or_(when_column < when, and_(when_column == when, id_column < last_id))


def _page_ids(
    session: Session,
    customer: Customer,
    conditions: Sequence[ColumnElement[bool]],
    position: tuple[datetime, int] | None,
    count: int,
) -> list[int]:
    """The ids of the ``count`` newest interactions linked to the customer, before
    ``position``: the newest ``count`` of each link, merged."""
    arms = []
    for link in _links(customer):
        arm = select(Participant.occurred_at, Participant.interaction_id).where(link).distinct()
        if conditions:
            arm = arm.join(Interaction, Interaction.id == Participant.interaction_id)
            arm = arm.where(*conditions)
        if position is not None:
            arm = arm.where(_before(Participant.occurred_at, Participant.interaction_id, position))
        arm = arm.order_by(Participant.occurred_at.desc(), Participant.interaction_id.desc())
        arms.append(select(arm.limit(count).subquery()))
    merged = union(*arms).subquery()
    page = (
        select(merged.c.interaction_id)
        .order_by(merged.c.occurred_at.desc(), merged.c.interaction_id.desc())
        .limit(count)
    )
    return list(session.scalars(page))


def _participant(p: Participant) -> dict[str, Any]:
    return {
        "role": p.role,
        "email": p.email,
        "name": p.name,
        "customer": (
            p.person.display_name if p.person else p.organization.name if p.organization else None
        ),
        "person_id": p.person_id,
        "organization_id": p.organization_id,
        "match": p.match_reason,
        "internal": "yes" if p.is_internal else "no",
        "status": p.status,
    }


def _entries(session: Session, rows: Sequence[Interaction]) -> list[TimelineEntry]:
    owner_ids = {i.owner_id for i in rows if i.owner_id is not None}
    owners: dict[int, str] = {}
    if owner_ids:
        owners = {
            uid: name
            for uid, name in session.execute(
                select(User.id, User.name).where(User.id.in_(owner_ids))
            )
        }
    return [_entry(i, owners.get(i.owner_id, "") if i.owner_id else "") for i in rows]


def _entry(interaction: Interaction, owner: str = "") -> TimelineEntry:
    customers: dict[tuple[str, int], Customer] = {}
    for p in interaction.participants:
        if p.person is not None:
            customers[("person", p.person.id)] = Customer(
                "person", p.person.id, p.person.display_name
            )
        if p.organization is not None:
            customers[("organization", p.organization.id)] = Customer(
                "organization", p.organization.id, p.organization.name
            )
    files = [
        FileRef(a.id, a.filename, a.content_type, a.size)
        for a in sorted(interaction.attachments, key=lambda a: a.id)
    ]
    meeting = None
    private = interaction.kind == "meeting" and interaction.is_private
    if interaction.kind == "meeting":
        meeting = Meeting(
            ends_at=interaction.ends_at,
            location="" if private else interaction.location,
            status=interaction.status,
            all_day=interaction.all_day,
            private=private,
            upcoming=interaction.occurred_at > utcnow(),
        )
    return TimelineEntry(
        id=interaction.id,
        kind=interaction.kind,
        direction=interaction.direction,
        occurred_at=interaction.occurred_at,
        subject="Private meeting" if private else interaction.subject,
        snippet="" if private else " ".join(interaction.body_text[:2000].split())[:200],
        participants=[_participant(p) for p in interaction.participants if p.email],
        customers=list(customers.values()),
        attachments=[f.filename for f in files],
        sources=len(interaction.sources),
        thread_key=interaction.thread_key,
        is_bulk=interaction.is_bulk,
        files=files,
        has_html=bool(interaction.body_html),
        created_by=interaction.created_by,
        meeting=meeting,
        visibility=interaction.visibility,
        owner_id=interaction.owner_id,
        owner=owner,
    )
