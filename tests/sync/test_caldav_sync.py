"""Calendars through the whole sync: the same meeting in two staff calendars is one
timeline entry; gone from both, it stays in the history marked cancelled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from crm.models import ContactPoint, Interaction, Person
from sync.runner import Runner
from tests.adapters.test_caldav import ics
from tests.servers.radicale import RadicaleServer
from tests.sync.helpers import make_config

START = datetime.now(UTC).replace(microsecond=0, second=0, minute=0) + timedelta(days=3)


def _meetings(sessions: sessionmaker[Session]) -> list[Interaction]:
    with sessions() as session:
        rows = session.scalars(select(Interaction).where(Interaction.kind == "meeting")).all()
        for row in rows:
            _ = (row.sources, row.participants)
        return list(rows)


def test_the_same_meeting_in_two_calendars_is_one_entry(
    tmp_path,
    db_url: str,
    sessions: sessionmaker[Session],
    radicale: RadicaleServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CALDAV_TEST_PASSWORD", radicale.password)
    alice = radicale.make_calendar(displayname="Alice work")
    bob = radicale.make_calendar(displayname="Bob work")
    for calendar in (alice, bob):
        radicale.put_event(calendar, "kickoff.ics", ics("kickoff", START, "Kick-off with Ann"))
    radicale.put_event(
        alice,
        "internal.ics",
        ics("internal", START).replace(b"ann@customer.example", b"bob@example.com"),
    )
    with sessions.begin() as session:
        ann = Person(display_name="Ann")
        ann.contact_points.append(ContactPoint(kind="email", value="ann@customer.example"))
        session.add(ann)

    def account(name: str, calendar: str) -> dict[str, object]:
        return {
            "name": name,
            "kind": "caldav",
            "url": radicale.url,
            "username": radicale.username,
            "password_env": "CALDAV_TEST_PASSWORD",
            "calendars": [calendar],
        }

    config = make_config(
        tmp_path, db_url, [account("alice-cal", "Alice work"), account("bob-cal", "Bob work")]
    )
    results = Runner(config, sessions).sync_all()
    assert all(r.ok for r in results), [r.error for r in results]
    [meeting] = _meetings(sessions)
    assert meeting.subject == "Kick-off with Ann" and meeting.status == ""
    assert len(meeting.sources) == 2
    assert any(p.person_id for p in meeting.participants)

    radicale.delete(alice.rstrip("/") + "/kickoff.ics")
    assert all(r.ok for r in Runner(config, sessions).sync_all())
    [meeting] = _meetings(sessions)
    assert meeting.status != "cancelled", "Bob's calendar still has it"

    radicale.delete(bob.rstrip("/") + "/kickoff.ics")
    assert all(r.ok for r in Runner(config, sessions).sync_all())
    [meeting] = _meetings(sessions)
    assert meeting.status == "cancelled"
    assert all(s.removed_at is not None for s in meeting.sources)
