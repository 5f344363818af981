"""Meetings on a customer's page: past and upcoming told apart, cancelled ones kept and
marked, attendees' answers shown, private ones without their details."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from adapters.records import Attendee
from crm.meetings import ingest_events
from crm.models import ContactPoint, Interaction, Person, utcnow
from crm.syncstate import ensure_account
from tests.crm.test_meetings import POLICY, event
from tests.web.conftest import Browser


def _setup(sessions: sessionmaker[Session]) -> int:
    now = utcnow().replace(microsecond=0)
    with sessions.begin() as session:
        ann = Person(display_name="Ann Kundin")
        ann.contact_points.append(ContactPoint(kind="email", value="ann@customer.example"))
        session.add(ann)
        session.flush()
        account = ensure_account(session, "alice-cal", "caldav").id
        records = [
            event("past", start=now - timedelta(days=3), summary="Kick-off done"),
            event("soon", start=now + timedelta(days=2), summary="Contract signing"),
            event("off", start=now + timedelta(days=5), summary="Site visit", status="CANCELLED"),
            replace(
                event("secret", start=now + timedelta(days=1), summary="Salary talk"),
                private=True,
                description="very private words",
                attendees=(Attendee("ann@customer.example", "Ann", status="DECLINED"),),
            ),
        ]
        ingest_events(
            session, account_id=account, collection="work", records=records, policy=POLICY
        )
        return ann.id


def test_meetings_on_the_customer_page(staff: Browser, sessions: sessionmaker[Session]) -> None:
    person_id = _setup(sessions)
    page = staff.get(f"/people/{person_id}").get_data(as_text=True)
    assert "Kick-off done" in page and "Contract signing" in page
    assert page.count("upcoming meeting") == 3  # signing, the cancelled visit, the private one
    assert "cancelled" in page and "Site visit" in page
    assert "(tentative)" in page  # Ann's answer to the ordinary meetings
    assert "Private meeting" in page
    assert "Salary talk" not in page and "very private words" not in page

    with sessions() as session:
        secret = session.scalars(
            select(Interaction).where(Interaction.dedupe_key == "ical:secret")
        ).one()
    body = staff.get(f"/interactions/{secret.id}/body").get_data(as_text=True)
    assert "very private words" not in body and "private meeting" in body


def test_the_timeline_filters_meetings(admin: Browser, sessions: sessionmaker[Session]) -> None:
    _setup(sessions)
    page = admin.get("/timeline?kind=meeting").get_data(as_text=True)
    assert "Contract signing" in page and "Kick-off done" in page
