"""Caller ID (crm.lookup): one stored number found however it is written; on SQLite and
PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from crm.lookup import caller_number, caller_query, find_caller, lookup
from crm.models import ContactPoint, Organization, Person, User
from crm.normalize import InvalidValueError

WRITTEN = [
    "+49 40 1234567",
    "0049401234567",
    "040 1234567",
    "(040) 123 45 67",
    "+49 (0)40-123 45 67",
]


def _jana(session: Session) -> tuple[int, int, int]:
    owner = User(name="olaf", password_hash="x", role="staff")
    org = Organization(name="Nordwind Logistik GmbH", owner=owner)
    org.contact_points.append(ContactPoint(kind="phone", value="+49401234500", original="-0"))
    jana = Person(display_name="Jana Petersen", organization=org)
    jana.contact_points.append(
        ContactPoint(kind="phone", value="+49401234567", original="040 / 123 45 67")
    )
    session.add_all([owner, org, jana])
    session.commit()
    return jana.id, org.id, owner.id


@pytest.mark.parametrize("written", WRITTEN)
def test_one_number_in_five_formats(session: Session, written: str) -> None:
    jana_id, org_id, owner_id = _jana(session)
    found = find_caller(session, written, "DE")
    assert found is not None
    assert found.number == "+49401234567"
    assert found.person is not None and found.person.id == jana_id
    assert found.organization is not None and found.organization.id == org_id
    assert found.owner is not None and (found.owner.id, found.owner.name) == (owner_id, "olaf")
    assert found.display_name == "Jana Petersen (Nordwind Logistik GmbH)"


def test_unknown_number_is_none(session: Session) -> None:
    _jana(session)
    assert find_caller(session, "+49 40 7654321", "DE") is None
    assert lookup(session, "+4930123456") is None


def test_a_switchboard_names_the_organization(session: Session) -> None:
    _, org_id, _ = _jana(session)
    found = find_caller(session, "040 12345 00", "DE")
    assert found is not None and found.person is None
    assert found.organization is not None and found.organization.id == org_id
    assert found.display_name == "Nordwind Logistik GmbH"


def test_a_shared_number_prefers_the_person(session: Session) -> None:
    jana_id, org_id, _ = _jana(session)
    org = session.get_one(Organization, org_id)
    org.contact_points.append(ContactPoint(kind="phone", value="+49401234567"))
    session.commit()
    found = lookup(session, "+49401234567")
    assert found is not None and found.person is not None and found.person.id == jana_id


def test_national_numbers_follow_the_default_region() -> None:
    assert caller_number("040 1234567", "DE") == "+49401234567"
    assert caller_number("0049 40 1234567", "US") == "+49401234567"  # 00 read as +
    assert caller_number("tel:+49-40-1234567", "DE") == "+49401234567"


@pytest.mark.parametrize("junk", ["", "12", "anonymous", "+49 40 12345678901234567890", "1" * 99])
def test_what_is_no_number_is_refused(junk: str) -> None:
    with pytest.raises(InvalidValueError) as caught:
        caller_number(junk, "DE")
    assert caught.value.field == "phone"


def test_the_query_can_walk_the_index(session: Session) -> None:
    """The predicate fits ix_contact_points_kind_value (a tiny table is scanned anyway,
    so scans are switched off: what is left is the plan an index makes possible)."""
    _jana(session)
    compiled = caller_query("+49401234567").compile(
        session.get_bind(), compile_kwargs={"literal_binds": True}
    )
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(r[0] for r in session.execute(text(f"EXPLAIN {compiled}")))
    else:
        rows = session.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))
        plan = "\n".join(str(r[-1]) for r in rows)
    assert "ix_contact_points_kind_value" in plan
