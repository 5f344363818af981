"""Meetings on the timeline: calendar events with a customer among the attendees.

An event occurrence (adapters.records.EventRecord) with at least one external
organizer or attendee becomes one interaction of kind ``meeting``; its dedupe key
(UID + RECURRENCE-ID) makes the same meeting seen in five staff calendars one entry
with five sources. Pulled again after a change, an occurrence updates its entry (time,
place, text, attendees, status). Nothing is dropped from the history:

- a cancelled occurrence (STATUS:CANCELLED) is kept, marked cancelled;
- an event deleted from a calendar marks that source removed; when no calendar has
  it any more, the entry is marked cancelled;
- an occurrence that disappears from a recurring event (an EXDATE added, the series
  shortened) is treated like a deletion, but only inside the window the calendar was
  read for: occurrences before the window were not read again, not removed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from adapters.records import Attendee, EventRecord
from crm.ingest import clean, storage_key
from crm.matching import MatchPolicy, Resolution, Resolver, chunked
from crm.models import Interaction, InteractionSource, Participant, utcnow
from crm.normalize import email_key
from crm.review import note_unmatched

STATUSES = {"CONFIRMED": "confirmed", "TENTATIVE": "tentative", "CANCELLED": "cancelled"}
ANSWERS = {
    "ACCEPTED": "accepted",
    "DECLINED": "declined",
    "TENTATIVE": "tentative",
    "NEEDS-ACTION": "needs-action",
    "DELEGATED": "delegated",
}


@dataclass
class MeetingResult:
    new: int = 0
    updated: int = 0
    known: int = 0
    skipped: int = 0  # no external participant: an internal meeting, not logged
    cancelled: int = 0  # entries marked cancelled because their last source removed them

    def __iadd__(self, other: MeetingResult) -> MeetingResult:
        for name in ("new", "updated", "known", "skipped", "cancelled"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        return self


@dataclass(frozen=True)
class _People:
    """An occurrence's organizer and attendees: (role, email, name, status, internal)."""

    rows: tuple[tuple[str, str, str, str, bool], ...]

    @property
    def external(self) -> list[str]:
        return [email for _, email, _, _, internal in self.rows if not internal]


def _people(record: EventRecord, policy: MatchPolicy) -> _People:
    rows: list[tuple[str, str, str, str, bool]] = []
    seen: set[str] = set()
    pairs: list[tuple[str, Attendee]] = []
    if record.organizer is not None:
        pairs.append(("organizer", record.organizer))
    pairs += [("attendee", a) for a in record.attendees]
    for role, who in pairs:
        email = clean(email_key(who.email), 320)
        if not email or email in seen:
            continue
        seen.add(email)
        answer = ANSWERS.get(who.status.upper(), "")
        rows.append((role, email, clean(who.name, 255), answer, policy.is_internal(email)))
    return _People(tuple(rows))


def ingest_events(
    session: Session,
    *,
    account_id: int,
    collection: str,
    records: Sequence[EventRecord],
    policy: MatchPolicy,
    deleted: Iterable[str] = (),
    window: tuple[datetime, datetime] | None = None,
) -> MeetingResult:
    """Store one batch of event occurrences and deletions of one calendar.

    ``records`` hold every occurrence, inside ``window``, of each calendar object they
    come from; ``deleted`` names calendar objects (remote ids) that are gone.
    """
    result = MeetingResult()
    unique: dict[str, EventRecord] = {}
    for record in records:
        unique[storage_key(record.dedupe_key)] = record  # the last one read wins
    classified = {key: (r, _people(r, policy)) for key, r in unique.items()}
    logged = {k: v for k, v in classified.items() if v[1].external}
    result.skipped = len(classified) - len(logged)
    resolver = Resolver(session, policy)
    resolved = resolver.resolve({e for _, people in logged.values() for e in people.external})
    existing = _existing(session, list(logged))
    for key, (record, people) in logged.items():
        row = existing.get(key)
        if row is None:
            row = Interaction(dedupe_key=key, thread_key=clean(f"ical:{record.uid}", 998))
            session.add(row)
            result.new += 1
        elif _apply_needed(row, record, people):
            result.updated += 1
        else:
            result.known += 1
            _note_source(session, row, account_id, collection, record.remote_id)
            continue
        _apply(row, record, people, resolved)
        session.flush()
        _note_source(session, row, account_id, collection, record.remote_id)
    note_unmatched(session, _review_candidates(logged.values(), resolved))
    seen_objects = {r.remote_id for r in unique.values()}
    gone_keys = set(unique)
    result.cancelled += _remove_missing(
        session, account_id, collection, seen_objects, gone_keys, window
    )
    result.cancelled += _remove_objects(session, account_id, collection, set(deleted))
    return result


def _existing(session: Session, keys: list[str]) -> dict[str, Interaction]:
    found: dict[str, Interaction] = {}
    for part in chunked(keys):
        for row in session.scalars(select(Interaction).where(Interaction.dedupe_key.in_(part))):
            found[row.dedupe_key] = row
    return found


def _fields(record: EventRecord) -> dict[str, object]:
    return {
        "kind": "meeting",
        "occurred_at": record.starts_at,
        "ends_at": record.ends_at,
        "subject": clean(record.summary),
        "body_text": clean(record.description),
        "location": clean(record.location),
        "status": STATUSES.get(record.status.upper(), ""),
        "all_day": record.all_day,
        "is_private": record.private,
        "defects": clean("\n".join(record.defects)),
    }


def _apply_needed(row: Interaction, record: EventRecord, people: _People) -> bool:
    if any(getattr(row, name) != value for name, value in _fields(record).items()):
        return True
    stored = {(p.role, p.email, p.name, p.status) for p in row.participants}
    return stored != {(role, email, name, status) for role, email, name, status, _ in people.rows}


def _apply(
    row: Interaction,
    record: EventRecord,
    people: _People,
    resolved: dict[str, Resolution | None],
) -> None:
    for name, value in _fields(record).items():
        setattr(row, name, value)
    organizer_internal = next(
        (internal for role, _, _, _, internal in people.rows if role == "organizer"), None
    )
    row.direction = (
        "internal" if not people.external else "outbound" if organizer_internal else "inbound"
    )
    row.participants.clear()
    for role, email, name, status, internal in people.rows:
        match = None if internal else resolved.get(email)
        linked = match is not None and match.is_match
        row.participants.append(
            Participant(
                role=role,
                email=email,
                name=name,
                status=status,
                is_internal=internal,
                person_id=match.person_id if linked and match else None,
                organization_id=match.organization_id if linked and match else None,
                match_reason=match.reason if linked and match else None,
                occurred_at=record.starts_at,
            )
        )


def _note_source(
    session: Session, row: Interaction, account_id: int, collection: str, remote_id: str
) -> None:
    source = session.scalars(
        select(InteractionSource).where(
            InteractionSource.interaction_id == row.id,
            InteractionSource.account_id == account_id,
            InteractionSource.collection == collection,
        )
    ).first()
    if source is None:
        session.add(
            InteractionSource(
                interaction_id=row.id,
                account_id=account_id,
                collection=collection,
                remote_id=clean(remote_id, 512),
            )
        )
    else:
        source.remote_id = clean(remote_id, 512)
        source.removed_at = None  # seen again (undeleted, or back in the window)
    session.flush()


def _remove_missing(
    session: Session,
    account_id: int,
    collection: str,
    objects: set[str],
    present: set[str],
    window: tuple[datetime, datetime] | None,
) -> int:
    """Occurrences of the objects read now that they no longer yield (inside the window)."""
    if not objects:
        return 0
    query = (
        select(InteractionSource)
        .join(Interaction, Interaction.id == InteractionSource.interaction_id)
        .where(
            InteractionSource.account_id == account_id,
            InteractionSource.collection == collection,
            InteractionSource.remote_id.in_([clean(o, 512) for o in objects]),
            InteractionSource.removed_at.is_(None),
            Interaction.dedupe_key.not_in(present) if present else Interaction.id.is_not(None),
        )
    )
    if window is not None:
        query = query.where(
            Interaction.occurred_at >= window[0], Interaction.occurred_at < window[1]
        )
    return _mark_removed(session, list(session.scalars(query)))


def _remove_objects(session: Session, account_id: int, collection: str, gone: set[str]) -> int:
    if not gone:
        return 0
    sources: list[InteractionSource] = []
    for part in chunked(sorted(clean(g, 512) for g in gone)):
        sources += session.scalars(
            select(InteractionSource).where(
                InteractionSource.account_id == account_id,
                InteractionSource.collection == collection,
                InteractionSource.remote_id.in_(part),
                InteractionSource.removed_at.is_(None),
            )
        )
    return _mark_removed(session, sources)


def _mark_removed(session: Session, sources: list[InteractionSource]) -> int:
    """Mark sources removed; entries that no source has any more become cancelled."""
    if not sources:
        return 0
    now = utcnow()
    for source in sources:
        source.removed_at = now
    session.flush()
    ids = sorted({s.interaction_id for s in sources})
    still_seen = set(
        session.scalars(
            select(InteractionSource.interaction_id).where(
                InteractionSource.interaction_id.in_(ids), InteractionSource.removed_at.is_(None)
            )
        )
    )
    orphaned = [i for i in ids if i not in still_seen]
    if orphaned:
        session.execute(
            update(Interaction)
            .where(Interaction.id.in_(orphaned), Interaction.kind == "meeting")
            .values(status="cancelled")
            .execution_options(synchronize_session="fetch")
        )
    return len(orphaned)


def _review_candidates(
    logged: Iterable[tuple[EventRecord, _People]], resolved: dict[str, Resolution | None]
) -> list[tuple[str, str, datetime]]:
    out = []
    for record, people in logged:
        names = {email: name for _, email, name, _, _ in people.rows}
        for email in people.external:
            if resolved.get(email) is None:
                out.append((email, names.get(email, ""), record.starts_at))
    return out
