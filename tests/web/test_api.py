"""The JSON API (/api/v1): bearer tokens, roles, validation, timelines, caller ID; on SQLite
and PostgreSQL (the ``sessions`` fixture)."""

from __future__ import annotations

import base64
from datetime import date, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from crm import apitokens, audit
from crm.models import ApiToken, ContactPoint, Organization, Person, User
from crm.visibility import Viewer, set_visibility
from tests.web.conftest import Browser


def _token(sessions: sessionmaker[Session], user: str, name: str = "test") -> str:
    with sessions.begin() as session:
        found = session.scalars(select(User).where(User.name == user)).one()
        return apitokens.create(session, found, name)


@pytest.fixture
def tokens(app: Flask, sessions: sessionmaker[Session]) -> dict[str, str]:
    return {role: _token(sessions, role) for role in ("admin", "staff", "viewer")}


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _count(sessions: sessionmaker[Session], model: Any) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _nordwind(sessions: sessionmaker[Session]) -> dict[str, int]:
    with sessions.begin() as session:
        owner = session.scalars(select(User).where(User.name == "staff")).one()
        org = Organization(name="Nordwind Logistik GmbH", owner_id=owner.id)
        jana = Person(display_name="Jana Petersen", organization=org)
        jana.contact_points.append(
            ContactPoint(kind="phone", value="+49401234567", original="040 1234567")
        )
        session.add_all([org, jana])
        session.flush()
        return {"org": org.id, "jana": jana.id, "owner": owner.id}


# -- authentication ---------------------------------------------------------------------


def test_no_token_no_answer(client: FlaskClient, tokens: dict[str, str]) -> None:
    response = client.get("/api/v1/customers")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.is_json and "token" in response.json["error"]


def test_wrong_and_malformed_tokens_are_refused(
    client: FlaskClient, tokens: dict[str, str]
) -> None:
    for header in (
        "Bearer crm_wrong",
        "Bearer " + tokens["admin"][:-1],
        "Basic " + tokens["admin"],
        tokens["admin"],
        "Bearer",
    ):
        response = client.get("/api/v1/customers", headers={"Authorization": header})
        assert response.status_code == 401, header
        assert response.is_json


def test_a_revoked_token_stops_working(
    client: FlaskClient, sessions: sessionmaker[Session], tokens: dict[str, str]
) -> None:
    assert client.get("/api/v1/customers", headers=_auth(tokens["staff"])).status_code == 200
    with sessions.begin() as session:
        staff = session.scalars(select(User).where(User.name == "staff")).one()
        assert apitokens.revoke(session, staff.id, "test")
        assert not apitokens.revoke(session, staff.id, "test")
    assert client.get("/api/v1/customers", headers=_auth(tokens["staff"])).status_code == 401


def test_an_inactive_users_token_is_refused(
    client: FlaskClient, sessions: sessionmaker[Session], tokens: dict[str, str]
) -> None:
    with sessions.begin() as session:
        session.scalars(select(User).where(User.name == "viewer")).one().active = False
    assert client.get("/api/v1/customers", headers=_auth(tokens["viewer"])).status_code == 401


def test_a_login_cookie_is_not_a_token(admin: Browser) -> None:
    response = admin.client.get("/api/v1/customers")
    assert response.status_code == 401
    assert response.is_json


def test_tokens_are_stored_hashed_and_use_is_noted(
    client: FlaskClient, sessions: sessionmaker[Session], tokens: dict[str, str]
) -> None:
    assert tokens["admin"].startswith("crm_") and len(tokens["admin"]) > 40
    with sessions() as session:
        row = session.scalars(select(ApiToken).where(ApiToken.name == "test")).first()
        assert row is not None and row.last_used_at is None
        hashes = set(session.scalars(select(ApiToken.token_hash)))
    assert apitokens.digest(tokens["admin"]) in hashes
    assert not any(token in hashes for token in tokens.values())
    client.get("/api/v1/customers", headers=_auth(tokens["admin"]))
    with sessions() as session:
        listed = apitokens.list_for(session)
    used = {owner: token.last_used_at for token, owner in listed}
    assert used["admin"] is not None and used["staff"] is None


def test_a_taken_token_name_is_refused(app: Flask, sessions: sessionmaker[Session]) -> None:
    from crm.users import UserError

    _token(sessions, "admin", "pbx")
    with pytest.raises(UserError):
        _token(sessions, "admin", "pbx")


# -- roles and errors -------------------------------------------------------------------


def test_a_viewer_reads_but_cannot_write(
    client: FlaskClient, sessions: sessionmaker[Session], tokens: dict[str, str]
) -> None:
    ids = _nordwind(sessions)
    viewer = _auth(tokens["viewer"])
    assert client.get(f"/api/v1/people/{ids['jana']}", headers=viewer).status_code == 200
    before = _count(sessions, Person)
    for url, body in (
        ("/api/v1/people", {"name": "Neu"}),
        ("/api/v1/organizations", {"name": "Neu GmbH"}),
        ("/api/v1/interactions", {"person_id": ids["jana"], "text": "hi"}),
    ):
        response = client.post(url, json=body, headers=viewer)
        assert response.status_code == 403, url
        assert response.is_json
    response = client.patch(f"/api/v1/people/{ids['jana']}", json={"title": "x"}, headers=viewer)
    assert response.status_code == 403
    assert _count(sessions, Person) == before


def test_errors_are_json_never_pages(client: FlaskClient, tokens: dict[str, str]) -> None:
    admin = _auth(tokens["admin"])
    for method, url, status in (
        ("GET", "/api/v1/nothing-here", 404),
        ("GET", "/api/v1/people/999999", 404),
        ("GET", "/api/v1/people/99999999999999999999", 404),
        ("DELETE", "/api/v1/people/1", 405),
        ("GET", "/api/v1/customers?limit=0", 400),
        ("GET", "/api/v1/people/1/timeline?cursor=nonsense", 404),
    ):
        response = client.open(url, method=method, headers=admin)
        assert response.status_code == status, url
        assert response.is_json and "error" in response.json, url
    response = client.post(
        "/api/v1/people", data="{not json", content_type="application/json", headers=admin
    )
    assert response.status_code == 400 and response.is_json


# -- customers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "body"),
    [
        ("iban", {"iban": "DE89 3704 0044 0532 0130 01"}),
        ("vat_id", {"vat_id": "DE136695977"}),
        ("phones", {"phones": ["12"]}),
        ("emails", {"emails": ["not an address"]}),
        ("bic", {"bic": "COBADEF"}),
    ],
)
def test_invalid_values_are_refused_and_nothing_is_stored(
    client: FlaskClient,
    sessions: sessionmaker[Session],
    tokens: dict[str, str],
    field: str,
    body: dict[str, Any],
) -> None:
    people, orgs, points = (_count(sessions, m) for m in (Person, Organization, ContactPoint))
    good = {"emails": ["jana@nordwind.example"], "phones": ["040 1234567"]}
    response = client.post(
        "/api/v1/people", json={"name": "Jana", **good, **body}, headers=_auth(tokens["staff"])
    )
    assert response.status_code == 422
    problems = response.json["problems"]
    assert [p["field"] for p in problems] == [field]
    assert problems[0]["reason"] and problems[0]["value"]
    if field not in ("phones", "emails"):  # organizations have the same checks
        response = client.post(
            "/api/v1/organizations", json={"name": "N", **body}, headers=_auth(tokens["staff"])
        )
        assert response.status_code == 422
        assert response.json["problems"][0]["field"] == field
    after = tuple(_count(sessions, m) for m in (Person, Organization, ContactPoint))
    assert after == (people, orgs, points)


def test_unknown_fields_and_wrong_types_are_refused(
    client: FlaskClient, tokens: dict[str, str]
) -> None:
    response = client.post(
        "/api/v1/people",
        json={"name": 5, "emails": "a@b.example", "shoe_size": 44, "organization_id": "x"},
        headers=_auth(tokens["staff"]),
    )
    assert response.status_code == 422
    fields = {p["field"] for p in response.json["problems"]}
    assert fields == {"name", "emails", "shoe_size", "organization_id"}


def test_create_a_person_then_read_it(
    client: FlaskClient, sessions: sessionmaker[Session], tokens: dict[str, str]
) -> None:
    ids = _nordwind(sessions)
    staff = _auth(tokens["staff"])
    response = client.post(
        "/api/v1/people",
        json={
            "name": "Greta Hansen",
            "given_name": "Greta",
            "family_name": "Hansen",
            "organization_id": ids["org"],
            "emails": ["Greta.Hansen@Nordwind.example"],
            "phones": ["+49 (0)40-123 45 99"],
            "iban": "DE89 3704 0044 0532 0130 00",
            "bic": "COBADEFFXXX",
            "vat_id": "DE136695976",
            "title": "Disponentin",
        },
        headers=staff,
    )
    assert response.status_code == 201, response.json
    created = response.json
    assert response.headers["Location"] == f"/api/v1/people/{created['id']}"
    read = client.get(f"/api/v1/people/{created['id']}", headers=staff).json
    assert read == created
    assert read["name"] == "Greta Hansen" and read["title"] == "Disponentin"
    assert read["emails"][0]["value"] == "greta.hansen@nordwind.example"
    assert read["phones"][0] == {
        "value": "+494012345 99".replace(" ", ""),
        "original": "+49 (0)40-123 45 99",
        "label": "",
    }
    assert read["iban"] == "DE89370400440532013000" and read["vat_id"] == "DE136695976"
    assert read["organization"] == {"id": ids["org"], "name": "Nordwind Logistik GmbH"}
    assert read["owner"] == {"id": ids["owner"], "name": "staff"}
    org = client.get(f"/api/v1/organizations/{ids['org']}", headers=staff).json
    assert {"id": created["id"], "name": "Greta Hansen"} in org["people"]
    found = client.get("/api/v1/customers?q=greta&kind=person", headers=staff).json
    assert [c["id"] for c in found["customers"]] == [created["id"]]


def test_an_api_create_is_audited(
    client: FlaskClient, sessions: sessionmaker[Session], tokens: dict[str, str]
) -> None:
    response = client.post(
        "/api/v1/organizations",
        json={"name": "Kranich Bau AG", "vat_id": "DE 136 695 976"},
        headers=_auth(tokens["staff"]),
    )
    assert response.status_code == 201
    with sessions() as session:
        entries = audit.entries(session, actor="staff", action="organization.create")
        assert len(entries) == 1
        assert entries[0].target == f"organization {response.json['id']} Kranich Bau AG"
        assert "vat_id" in audit.details(entries[0])["fields"]


def test_patch_changes_only_what_it_names(
    client: FlaskClient, sessions: sessionmaker[Session], tokens: dict[str, str]
) -> None:
    ids = _nordwind(sessions)
    staff = _auth(tokens["staff"])
    url = f"/api/v1/people/{ids['jana']}"
    response = client.patch(url, json={"title": "Einkauf", "iban": "nope"}, headers=staff)
    assert response.status_code == 422
    assert client.get(url, headers=staff).json["title"] == ""
    response = client.patch(url, json={"title": "Einkauf"}, headers=staff)
    assert response.status_code == 200
    assert response.json["title"] == "Einkauf"
    assert response.json["phones"][0]["value"] == "+49401234567"
    assert response.json["organization"]["id"] == ids["org"]
    response = client.patch(
        f"/api/v1/organizations/{ids['org']}", json={"owner_id": None}, headers=staff
    )
    assert response.status_code == 200 and response.json["owner"] is None
    assert client.patch("/api/v1/people/999999", json={}, headers=staff).status_code == 404
    response = client.patch(url, json={"organization_id": 999999}, headers=staff)
    assert response.status_code == 422
    assert response.json["problems"][0]["field"] == "organization_id"


# -- timelines and interactions ---------------------------------------------------------


def test_timeline_hides_another_users_private_interaction(
    client: FlaskClient, sessions: sessionmaker[Session], tokens: dict[str, str]
) -> None:
    ids = _nordwind(sessions)
    staff = _auth(tokens["staff"])
    shared = client.post(
        "/api/v1/interactions",
        json={"person_id": ids["jana"], "text": "Rückruf wegen Angebot"},
        headers=staff,
    )
    assert shared.status_code == 201
    secret = client.post(
        "/api/v1/interactions",
        json={
            "person_id": ids["jana"],
            "kind": "call",
            "text": "Privat: Jana wechselt die Firma",
            "occurred_at": "2026-01-05T10:00:00+01:00",
        },
        headers=staff,
    )
    assert secret.status_code == 201
    assert secret.json["kind"] == "call" and secret.json["owner"] == "staff"
    assert secret.json["occurred_at"] == "2026-01-05T09:00:00+00:00"
    with sessions.begin() as session:
        set_visibility(session, secret.json["id"], "private", Viewer(ids["owner"], False))
    for role, expected in (
        ("staff", [shared.json["id"], secret.json["id"]]),
        ("admin", [shared.json["id"], secret.json["id"]]),
        ("viewer", [shared.json["id"]]),
    ):
        for url in (
            f"/api/v1/people/{ids['jana']}/timeline",
            f"/api/v1/organizations/{ids['org']}/timeline",
        ):
            page = client.get(url, headers=_auth(tokens[role])).json
            assert [e["id"] for e in page["entries"]] == expected, (role, url)
    first = client.get(
        f"/api/v1/people/{ids['jana']}/timeline?limit=1", headers=_auth(tokens["staff"])
    ).json
    assert first["next_cursor"]
    rest = client.get(
        f"/api/v1/people/{ids['jana']}/timeline?limit=1&cursor={first['next_cursor']}",
        headers=_auth(tokens["staff"]),
    ).json
    assert [e["id"] for e in rest["entries"]] == [secret.json["id"]]


def test_an_api_note_is_audited_and_checked(
    client: FlaskClient, sessions: sessionmaker[Session], tokens: dict[str, str]
) -> None:
    ids = _nordwind(sessions)
    staff = _auth(tokens["staff"])
    for body, field in (
        ({"person_id": ids["jana"], "text": "  "}, "text"),
        ({"person_id": ids["jana"], "text": "x", "kind": "fax"}, "kind"),
        ({"text": "x"}, "person_id"),
        ({"person_id": 999999, "text": "x"}, "person_id"),
        ({"person_id": ids["jana"], "text": "x", "occurred_at": "yesterday"}, "occurred_at"),
    ):
        response = client.post("/api/v1/interactions", json=body, headers=staff)
        assert response.status_code == 422, body
        assert field in [p["field"] for p in response.json["problems"]], body
    response = client.post(
        "/api/v1/interactions",
        json={"organization_id": ids["org"], "text": "Anruf", "kind": "call"},
        headers=staff,
    )
    assert response.status_code == 201
    with sessions() as session:
        [entry] = audit.entries(session, actor="staff", action="interaction.call")
        assert audit.details(entry)["interaction"] == response.json["id"]


# -- caller ID --------------------------------------------------------------------------


def test_lookup_json_and_text(
    client: FlaskClient, sessions: sessionmaker[Session], tokens: dict[str, str]
) -> None:
    ids = _nordwind(sessions)
    viewer = _auth(tokens["viewer"])
    client.post(
        "/api/v1/interactions",
        json={"person_id": ids["jana"], "text": "Angebot besprochen", "kind": "call"},
        headers=_auth(tokens["staff"]),
    )
    for written in ("+49 40 1234567", "0049401234567", "040 1234567", "+49 (0)40-123 45 67"):
        response = client.get("/api/v1/lookup", query_string={"phone": written}, headers=viewer)
        assert response.status_code == 200, written
        found = response.json
        assert found["number"] == "+49401234567"
        assert found["display_name"] == "Jana Petersen (Nordwind Logistik GmbH)"
        assert found["person"] == {"id": ids["jana"], "name": "Jana Petersen"}
        assert found["organization"] == {"id": ids["org"], "name": "Nordwind Logistik GmbH"}
        assert found["owner"] == {"id": ids["owner"], "name": "staff"}
        assert [e["subject"] for e in found["last_interactions"]] == ["Call: Angebot besprochen"]
    text = client.get("/api/v1/lookup.txt?phone=040%201234567", headers=viewer)
    assert text.status_code == 200 and text.mimetype == "text/plain"
    assert text.get_data(as_text=True) == "Jana Petersen (Nordwind Logistik GmbH)"
    missing = client.get("/api/v1/lookup?phone=040 7654321", headers=viewer)
    assert missing.status_code == 404 and missing.is_json
    assert client.get("/api/v1/lookup?phone=anonymous", headers=viewer).status_code == 400
    for phone in ("040 7654321", "anonymous"):
        empty = client.get("/api/v1/lookup.txt", query_string={"phone": phone}, headers=viewer)
        assert empty.status_code == 404 and empty.get_data() == b""
    assert client.get("/api/v1/lookup.txt?phone=040 1234567").status_code == 401
    # a telephone system that can only put user and password in the URL: Basic auth
    basic = base64.b64encode(f"pbx:{tokens['viewer']}".encode()).decode()
    pbx = client.get(
        "/api/v1/lookup.txt?phone=040 1234567", headers={"Authorization": f"Basic {basic}"}
    )
    assert pbx.get_data(as_text=True) == "Jana Petersen (Nordwind Logistik GmbH)"
    wrong = base64.b64encode(b"pbx:crm_wrong").decode()
    refused = client.get(
        "/api/v1/lookup.txt?phone=040 1234567", headers={"Authorization": f"Basic {wrong}"}
    )
    assert refused.status_code == 401


# -- follow-ups -------------------------------------------------------------------------


def test_follow_ups_created_and_listed(
    client: FlaskClient, sessions: sessionmaker[Session], tokens: dict[str, str]
) -> None:
    ids = _nordwind(sessions)
    staff = _auth(tokens["staff"])
    soon = date.today() + timedelta(days=7)
    response = client.post(
        "/api/v1/follow-ups",
        json={"person_id": ids["jana"], "due_on": f"{soon}", "note": "Angebot nachfassen"},
        headers=staff,
    )
    assert response.status_code == 201, response.json
    assert response.json["assignee"] == "staff" and response.json["status"] == "open"
    bad = client.post(
        "/api/v1/follow-ups", json={"person_id": ids["jana"], "due_on": "soon"}, headers=staff
    )
    assert bad.status_code == 422 and bad.json["problems"][0]["field"] == "due_on"
    for body, field in (
        ({"person_id": ids["jana"], "due_on": "2020-01-01"}, "due_on"),  # in the past
        ({"due_on": f"{soon}"}, "person_id"),
        ({"organization_id": 999999, "due_on": f"{soon}"}, "organization_id"),
        ({"person_id": ids["jana"], "due_on": f"{soon}", "assignee": "viewer"}, "assignee"),
    ):
        bad = client.post("/api/v1/follow-ups", json=body, headers=staff)
        assert bad.status_code == 422, body
        assert [p["field"] for p in bad.json["problems"]] == [field], body
    with sessions() as session:
        [entry] = audit.entries(session, actor="staff", action="follow_up.create")
        assert entry.target == f"follow-up {response.json['id']}"
    listed = client.get("/api/v1/follow-ups", headers=staff).json["follow_ups"]
    assert [f["id"] for f in listed] == [response.json["id"]]
    others = client.get("/api/v1/follow-ups?assignee=admin", headers=staff).json
    assert others["follow_ups"] == []
