"""Meetings from calendars on the timeline: once per occurrence, updated, never dropped."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from adapters.records import Attendee, EventRecord
from crm.matching import MatchPolicy
from crm.meetings import ingest_events
from crm.models import ContactPoint, Interaction, InteractionSource, Person, ReviewItem
from crm.syncstate import ensure_account

POLICY = MatchPolicy(internal_domains=frozenset({"example.com"}))
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
WINDOW = (T0 - timedelta(days=365), T0 + timedelta(days=365))


def event(
    uid: str = "m1", *, start: datetime = T0, occurrence: bool = False, **kw: object
) -> EventRecord:
    base = EventRecord(
        remote_id=f"/cal/{uid}.ics",
        dedupe_key=f"ical:{uid}" + (f"/{start:%Y%m%dT%H%M%SZ}" if occurrence else ""),
        uid=uid,
        recurrence_id=start if occurrence else None,
        summary="Quarterly review",
        location="Room 4",
        description="Agenda: numbers",
        starts_at=start,
        ends_at=start + timedelta(hours=1),
        all_day=False,
        status="CONFIRMED",
        private=False,
        organizer=Attendee("alice@example.com", "Alice"),
        attendees=(
            Attendee("bob@example.com", "Bob", status="ACCEPTED"),
            Attendee("Ann@Customer.example", "Ann", status="TENTATIVE"),
        ),
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def _ingest(session: Session, account: str, records: list[EventRecord], **kw: object):  # type: ignore[no-untyped-def]
    account_id = ensure_account(session, account, "caldav").id
    result = ingest_events(
        session,
        account_id=account_id,
        collection="work",
        records=records,
        policy=POLICY,
        window=WINDOW,
        **kw,  # type: ignore[arg-type]
    )
    session.commit()
    return result


def _meetings(session: Session) -> list[Interaction]:
    session.expire_all()
    return list(
        session.scalars(
            select(Interaction)
            .where(Interaction.kind == "meeting")
            .order_by(Interaction.occurred_at)
        )
    )


def test_a_meeting_with_a_customer_is_one_entry_whatever_the_calendars(session: Session) -> None:
    ann = Person(display_name="Ann")
    ann.contact_points.append(ContactPoint(kind="email", value="ann@customer.example"))
    session.add(ann)
    session.commit()
    first = _ingest(session, "alice-cal", [event()])
    again = _ingest(session, "alice-cal", [event()])
    other = _ingest(session, "bob-cal", [event()])
    assert (first.new, again.known, other.known) == (1, 1, 1)
    [meeting] = _meetings(session)
    assert meeting.subject == "Quarterly review" and meeting.location == "Room 4"
    assert meeting.direction == "outbound" and meeting.status == "confirmed"
    assert meeting.ends_at == T0 + timedelta(hours=1)
    assert len(meeting.sources) == 2
    by_email = {p.email: p for p in meeting.participants}
    assert by_email["ann@customer.example"].person_id == ann.id
    assert by_email["ann@customer.example"].status == "tentative"
    assert (
        by_email["alice@example.com"].role == "organizer"
        and by_email["alice@example.com"].is_internal
    )


def test_internal_meetings_are_not_logged_and_strangers_go_to_review(session: Session) -> None:
    internal = event("team", attendees=(Attendee("bob@example.com"),))
    result = _ingest(session, "alice-cal", [internal, event("x")])
    assert result.skipped == 1 and result.new == 1
    assert [m.dedupe_key for m in _meetings(session)] == ["ical:x"]
    assert session.scalars(select(ReviewItem.email)).all() == ["ann@customer.example"]


def test_a_moved_or_edited_occurrence_updates_its_entry(session: Session) -> None:
    _ingest(session, "alice-cal", [event()])
    moved = event(
        start=T0 + timedelta(hours=2),
        summary="Quarterly review (moved)",
        attendees=(Attendee("ann@customer.example", status="ACCEPTED"),),
    )
    result = _ingest(session, "alice-cal", [moved])
    assert result.updated == 1
    [meeting] = _meetings(session)
    assert meeting.occurred_at == T0 + timedelta(hours=2)
    assert meeting.subject == "Quarterly review (moved)"
    assert [(p.email, p.status) for p in meeting.participants if not p.is_internal] == [
        ("ann@customer.example", "accepted")
    ]
    assert all(p.occurred_at == meeting.occurred_at for p in meeting.participants)


def test_cancelled_and_deleted_meetings_stay_in_the_history_marked_cancelled(
    session: Session,
) -> None:
    _ingest(session, "alice-cal", [event("a"), event("b")])
    _ingest(session, "bob-cal", [event("b")])
    _ingest(session, "alice-cal", [event("a", status="CANCELLED")])
    a, b = _meetings(session)[0], _meetings(session)[1]
    assert {m.dedupe_key: m.status for m in _meetings(session)} == {
        "ical:a": "cancelled",
        "ical:b": "confirmed",
    }
    # b deleted from Alice's calendar: Bob still has it, so it is not cancelled
    result = _ingest(session, "alice-cal", [], deleted=["/cal/b.ics"])
    assert result.cancelled == 0
    assert {m.dedupe_key: m.status for m in _meetings(session)}["ical:b"] == "confirmed"
    # ...and from Bob's too: now it is
    result = _ingest(session, "bob-cal", [], deleted=["/cal/b.ics"])
    assert result.cancelled == 1
    assert {m.dedupe_key: m.status for m in _meetings(session)}["ical:b"] == "cancelled"
    assert a.id and b.id
    removed = session.scalars(
        select(InteractionSource).where(InteractionSource.removed_at.is_not(None))
    ).all()
    assert len(removed) == 2


def test_an_occurrence_that_disappears_inside_the_window_is_cancelled(session: Session) -> None:
    weekly = [event("w", start=T0 + timedelta(weeks=i), occurrence=True) for i in range(4)]
    old = event("w", start=WINDOW[0] - timedelta(days=7), occurrence=True)
    _ingest(session, "alice-cal", [old, *weekly])
    # read again: the third occurrence got an EXDATE, and the old one is before the window
    result = _ingest(session, "alice-cal", [weekly[0], weekly[1], weekly[3]])
    assert result.cancelled == 1
    status = {m.occurred_at: m.status for m in _meetings(session)}
    assert status[T0 + timedelta(weeks=2)] == "cancelled"
    assert status[old.starts_at] == "confirmed", "outside the window: not read, not removed"
    assert status[T0] == "confirmed"
