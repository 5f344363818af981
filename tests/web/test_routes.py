"""Every route of the web view: login required, role enforced, CSRF refused without a token.

Runs on SQLite and PostgreSQL (the ``sessions`` fixture)."""

from __future__ import annotations

import re
from datetime import date

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from crm.addressbooks import add_book
from crm.models import Account, FollowUp, Interaction, ReviewItem, User
from tests.web.conftest import Browser
from web import openapi

# (method, url, lowest role allowed); {account} is a web account, {config} a config one
ROUTES = [
    ("GET", "/", "viewer"),
    ("GET", "/customers", "viewer"),
    ("GET", "/customers?q=nordwind", "viewer"),
    ("GET", "/people/{person}", "viewer"),
    ("GET", "/organizations/{org}", "viewer"),
    ("POST", "/people/{person}/notes", "staff"),
    ("POST", "/organizations/{org}/notes", "staff"),
    ("GET", "/people/new", "staff"),
    ("POST", "/people/new", "staff"),
    ("GET", "/people/{person}/edit", "staff"),
    ("POST", "/people/{person}/edit", "staff"),
    ("GET", "/organizations/new", "staff"),
    ("POST", "/organizations/new", "staff"),
    ("GET", "/organizations/{org}/edit", "staff"),
    ("POST", "/organizations/{org}/edit", "staff"),
    ("GET", "/interactions/{interaction}/body", "viewer"),
    ("GET", "/attachments/{attachment}", "viewer"),
    ("POST", "/interactions/{interaction}/visibility", "staff"),
    ("GET", "/account/password", "viewer"),
    ("POST", "/account/password", "viewer"),
    ("GET", "/timeline", "admin"),
    ("GET", "/review", "admin"),
    ("GET", "/review/{review}/assign", "admin"),
    ("POST", "/review/{review}/assign", "admin"),
    ("POST", "/review/{review}/create", "admin"),
    ("POST", "/review/{review}/ignore", "admin"),
    ("GET", "/sync", "admin"),
    ("GET", "/sync/{account}", "admin"),
    ("POST", "/sync/{account}/now", "admin"),
    ("GET", "/admin/accounts", "admin"),
    ("GET", "/admin/accounts/new", "admin"),
    ("POST", "/admin/accounts/new", "admin"),
    ("GET", "/admin/accounts/{account}/edit", "admin"),
    ("POST", "/admin/accounts/{account}/edit", "admin"),
    ("POST", "/admin/accounts/{account}/disable", "admin"),
    ("POST", "/admin/accounts/{account}/enable", "admin"),
    ("GET", "/admin/accounts/{graph}/graph", "admin"),
    ("POST", "/admin/accounts/{graph}/graph/signin", "admin"),
    ("GET", "/admin/accounts/graph/callback", "admin"),
    ("GET", "/admin/address-books", "admin"),
    ("POST", "/admin/address-books", "admin"),
    ("POST", "/admin/address-books/{book}/delete", "admin"),
    ("GET", "/profile", "viewer"),
    ("POST", "/profile/app-passwords", "viewer"),
    ("POST", "/profile/app-passwords/revoke", "viewer"),
    ("GET", "/privacy", "viewer"),
    ("POST", "/privacy", "staff"),
    ("POST", "/privacy/remove", "staff"),
    ("GET", "/follow-ups", "viewer"),
    ("POST", "/follow-ups", "staff"),
    ("POST", "/follow-ups/{person}/close", "staff"),  # any id: the form is checked first
    ("POST", "/follow-ups/{followup}/reopen", "staff"),
    ("GET", "/admin/persons", "admin"),
    ("POST", "/admin/persons/export", "admin"),
    ("GET", "/admin/persons/erase", "admin"),
    ("POST", "/admin/persons/erase", "admin"),
    ("GET", "/admin/audit", "admin"),
    ("GET", "/admin/duplicates", "admin"),
    ("POST", "/admin/duplicates/merge", "admin"),
    ("POST", "/admin/duplicates/dismiss", "admin"),
]
RANK = {"viewer": 0, "staff": 1, "admin": 2}


@pytest.fixture
def ids(app: Flask, sessions: sessionmaker[Session], tmp_path) -> dict[str, int | str]:
    from tests.web.data import populate

    found = populate(sessions, tmp_path / "archive")
    with sessions.begin() as session:
        web = Account(name="web-box", kind="imap", origin="web", settings={"host": "h"})
        session.add(web)
        graph = Account(name="web-graph", kind="graph", origin="web", settings={"sign_in": "user"})
        session.add(graph)
        session.flush()
        offer = session.scalars(
            select(Interaction).where(Interaction.subject.like("Angebot%"))
        ).one()
        found.update(
            person=found["greta"],
            org=found["nordwind"],
            interaction=offer.id,
            attachment=offer.attachments[0].id,
            review=session.scalar(select(func.min(ReviewItem.id))),
            account=web.id,
            graph=graph.id,
        )
        add_book(session, "vip", "VIP customers", "category", "VIP", ["staff"])
        staff_id = session.scalar(select(User.id).where(User.name == "staff"))
        found["followup"] = FollowUp(
            person_id=found["greta"], assignee_id=staff_id, due_on=date(2030, 1, 1),
            created_by="staff",
        )  # fmt: skip
        session.add(found["followup"])
        session.flush()
        found["followup"] = found["followup"].id
    found["book"] = "vip"
    return found


def _url(template: str, ids: dict[str, int | str]) -> str:
    return template.format(**ids)


@pytest.mark.parametrize(("method", "url", "role"), ROUTES, ids=[f"{m} {u}" for m, u, _ in ROUTES])
def test_route_needs_login(anonymous: Browser, method, url, role) -> None:
    # the login check comes before any lookup: the ids need not exist
    target = _url(
        url,
        dict.fromkeys(
            [
                "person",
                "org",
                "interaction",
                "attachment",
                "review",
                "account",
                "graph",
                "book",
                "followup",
            ],
            1,
        ),
    )
    response = anonymous.get(target) if method == "GET" else anonymous.post(target, {})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize("who", ["viewer", "staff", "admin"])
def test_routes_enforce_roles(app: Flask, ids, who) -> None:
    from tests.web.conftest import _logged_in

    browser = _logged_in(app, who)
    wrong = []
    for method, url, role in ROUTES:
        target = _url(url, ids)
        response = browser.get(target) if method == "GET" else browser.post(target, {})
        allowed = RANK[who] >= RANK[role]
        if allowed and response.status_code not in (200, 302, 400, 422):
            wrong.append(f"{method} {target}: {response.status_code}, expected an answer")
        if not allowed and response.status_code != 403:
            wrong.append(f"{method} {target}: {response.status_code}, expected 403")
    assert not wrong, "\n".join(wrong)


def test_posts_without_csrf_token_are_refused(app: Flask, ids, sessions) -> None:
    from tests.web.conftest import _logged_in

    browser = _logged_in(app, "admin")
    with sessions() as session:
        before = session.scalar(select(func.count()).select_from(Interaction))
    for method, url, _ in ROUTES:
        if method != "POST":
            continue
        response = browser.client.post(
            _url(url, ids), data={"text": "a note", "target": "person:1"}
        )
        assert response.status_code == 400, url
        assert "The CSRF token is missing" in response.get_data(as_text=True), url
    with sessions() as session:  # no note was added
        assert session.scalar(select(func.count()).select_from(Interaction)) == before


def test_every_route_is_listed(app: Flask) -> None:
    """A new route must be added to ROUTES (and so to the checks above)."""
    placeholder = re.compile(r"\{\w+\}")
    listed = {(m, placeholder.sub("{x}", u.split("?")[0])) for m, u, _ in ROUTES} | {
        ("POST", "/login"),
        ("GET", "/login"),
        ("POST", "/logout"),
        ("GET", "/healthz"),  # public, names nothing: tests/web/test_health.py
        ("GET", "/metrics"),  # admin or bearer token: tests/web/test_health.py
    }
    # the JSON API: bearer tokens, no login redirect, no CSRF; listed in its OpenAPI
    # document (tests/web/test_api.py, test_openapi.py check every operation)
    listed |= {
        (method.upper(), placeholder.sub("{x}", "/api/v1" + path))
        for path, item in openapi.document()["paths"].items()
        for method in item
    }
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:int:)?\w+>", "{x}", rule.rule)
        path = path.replace("<any(enable, disable):action>", "enable")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (method, path) in listed, f"{method} {rule.rule} is not in ROUTES"
