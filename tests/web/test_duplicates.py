"""The duplicates page: pairs with their evidence, merge, "not duplicates", CSRF, roles.

Runs on SQLite and PostgreSQL (the ``sessions`` fixture)."""

from __future__ import annotations

import html

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from crm import audit
from crm.models import (
    ContactPoint,
    CustomerMerge,
    DuplicateDismissal,
    Organization,
    Person,
)
from tests.web.conftest import Browser

PAGE = "/admin/duplicates"


@pytest.fixture
def pair(app, sessions: sessionmaker[Session]) -> dict[str, int]:
    """Jana Petersen twice at Nordwind (one "Petersen, Jana" with a second address and a
    mobile number), and Tom at another organization."""
    with sessions.begin() as session:
        nordwind = Organization(name="Nordwind Logistik GmbH")
        other = Organization(name="Südwind AG")
        jana = Person(display_name="Jana Petersen", organization=nordwind)
        jana.contact_points = [
            ContactPoint(kind="email", value="jana.petersen@nordwind.de"),
            ContactPoint(kind="phone", value="+4940123456"),
        ]
        twin = Person(display_name="Petersen, Jana", organization=nordwind)
        twin.contact_points = [
            ContactPoint(kind="email", value="jana@petersen-privat.de"),
            ContactPoint(kind="phone", value="+4917612345678"),
        ]
        tom = Person(display_name="Tom Petersen", organization=other)
        session.add_all([nordwind, other, jana, twin, tom])
        session.flush()
        return {"jana": jana.id, "twin": twin.id, "tom": tom.id}


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def test_the_page_shows_pairs_side_by_side_with_evidence(admin: Browser, pair) -> None:
    page = admin.get(PAGE)
    assert page.status_code == 200
    body = text(page)
    assert "Jana Petersen" in body and "Petersen, Jana" in body
    assert "similar names in Nordwind Logistik GmbH: 'Jana Petersen' / 'Petersen, Jana'" in body
    assert "jana@petersen-privat.de" in body and "+4940123456" in body
    assert "Merge into left" in body and "Merge into right" in body and "Not duplicates" in body
    assert f'data-pair="{pair["jana"]}-{pair["twin"]}"' in body
    assert "Tom Petersen" not in body
    assert ">Duplicates</a>" in body  # the admin's nav link
    assert "No likely duplicates" in text(admin.get(PAGE + "?kind=organization"))


def test_merge_into_left(admin: Browser, pair, sessions: sessionmaker[Session]) -> None:
    admin.get(PAGE)
    response = admin.post(
        PAGE + "/merge", {"kind": "person", "keep_id": pair["jana"], "merge_id": pair["twin"]}
    )
    assert response.status_code == 302
    page = text(admin.get(response.headers["Location"]))
    assert "'Petersen, Jana' merged into 'Jana Petersen': moved 1 e-mail address(es)" in page
    assert "1 phone number(s)" in page
    assert "No likely duplicates" in page
    with sessions() as session:
        assert session.get(Person, pair["twin"]) is None
        kept = session.get(Person, pair["jana"])
        assert kept is not None
        assert {p.value for p in kept.contact_points} == {
            "jana.petersen@nordwind.de",
            "+4940123456",
            "jana@petersen-privat.de",
            "+4917612345678",
        }
        merged = session.scalars(select(CustomerMerge)).one()
        assert (merged.kept_id, merged.merged_id, merged.merged_by) == (
            pair["jana"],
            pair["twin"],
            "admin",
        )
        assert audit.entries(session, action="person.merge")[0].actor == "admin"


def test_not_duplicates(admin: Browser, pair, sessions: sessionmaker[Session]) -> None:
    admin.get(PAGE)
    response = admin.post(
        PAGE + "/dismiss", {"kind": "person", "a_id": pair["twin"], "b_id": pair["jana"]}
    )
    assert response.status_code == 302
    page = text(admin.get(PAGE))
    assert "the pair is not proposed again" in page
    assert "Petersen, Jana" not in page
    with sessions() as session:
        row = session.scalars(select(DuplicateDismissal)).one()
        assert (row.first_id, row.second_id, row.dismissed_by) == (
            pair["jana"],
            pair["twin"],
            "admin",
        )
        assert session.scalar(select(func.count()).select_from(Person)) == 3


def test_merge_of_an_unknown_record_is_an_error_message(admin: Browser, pair) -> None:
    admin.get(PAGE)
    response = admin.post(
        PAGE + "/merge", {"kind": "person", "keep_id": pair["jana"], "merge_id": 999_999}
    )
    assert response.status_code == 302
    assert "no person 999999" in text(admin.get(PAGE))
    bad = admin.post(PAGE + "/merge", {"kind": "customer", "keep_id": 1, "merge_id": 2})
    assert bad.status_code == 400


def test_csrf_refused(admin: Browser, pair, sessions: sessionmaker[Session]) -> None:
    for url, data in (
        ("/merge", {"kind": "person", "keep_id": pair["jana"], "merge_id": pair["twin"]}),
        ("/dismiss", {"kind": "person", "a_id": pair["jana"], "b_id": pair["twin"]}),
    ):
        response = admin.client.post(PAGE + url, data=data)
        assert response.status_code == 400
        assert "The CSRF token is missing" in response.get_data(as_text=True)
        forged = admin.client.post(PAGE + url, data={**data, "csrf_token": "forged"})
        assert forged.status_code == 400
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Person)) == 3
        assert session.scalar(select(func.count()).select_from(DuplicateDismissal)) == 0


def test_staff_gets_403(staff: Browser, pair, sessions: sessionmaker[Session]) -> None:
    assert staff.get(PAGE).status_code == 403
    data = {"kind": "person", "keep_id": pair["jana"], "merge_id": pair["twin"]}
    assert staff.post(PAGE + "/merge", data).status_code == 403
    assert (
        staff.post(PAGE + "/dismiss", {"kind": "person", "a_id": 1, "b_id": 2}).status_code == 403
    )
    assert ">Duplicates</a>" not in text(staff.get("/customers"))
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Person)) == 3
