"""Exchange Online (Microsoft Graph) accounts in the admin pages of the app as ``crmsync
serve`` builds it (sync.webapp): the form, "test connection", and "Sign in with Microsoft"
(the authorization code flow with PKCE) against the Graph simulator, ending with the
sign-in stored encrypted and usable by the sync."""

from __future__ import annotations

import base64
import html
import json
import re
import urllib.parse
import zlib
from pathlib import Path

import pytest
from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from adapters.graphauth import GraphAuth, HttpSession
from crm.models import Account, AccountToken
from crm.secrets import SecretBox
from crm.users import add_user
from sync.config import KINDS, Config
from sync.sources import graph_settings, token_store
from sync.stored import all_accounts
from sync.webapp import build_app
from tests.servers.graph import GraphServer
from tests.sync.helpers import make_config
from tests.web.conftest import PASSWORDS, Browser
from web.graphsignin import PENDING

ALICE = "alice@contoso.example"
CALLBACK = "http://localhost/admin/accounts/graph/callback"


def _text(response: object) -> str:
    page = response.get_data(as_text=True)  # type: ignore[attr-defined]
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


@pytest.fixture
def server(graph: GraphServer, monkeypatch: pytest.MonkeyPatch) -> GraphServer:
    """The simulator, trusted the way a web account trusts a server (the system's CAs)."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(graph.ca_file))
    graph.add_user(ALICE, "Alice Staff")
    return graph


@pytest.fixture
def config(tmp_path: Path, db_url: str) -> Config:
    return make_config(tmp_path, db_url)


@pytest.fixture
def crm_app(config: Config, sessions: sessionmaker[Session]) -> Flask:
    with sessions.begin() as session:
        for role, password in PASSWORDS.items():
            add_user(session, role, password, role)
    return build_app(config, sessions)


def _browser(app: Flask, role: str) -> Browser:
    browser = Browser(app.test_client())
    assert browser.login(role).status_code == 302
    return browser


@pytest.fixture
def admin(crm_app: Flask) -> Browser:
    return _browser(crm_app, "admin")


def _form(server: GraphServer, client_id: str, **more: str) -> dict[str, str]:
    return {
        "name": "alice-online",
        "owner": "alice",
        "interval_minutes": "5",
        "enabled": "y",
        "tenant": server.tenant_id,
        "client_id": client_id,
        "sign_in": "user",
        "password": "",
        "cloud": "global",
        "login_url": server.base_url,
        "graph_url": server.graph_url,
        "mailboxes": "",
        "folders": "Inbox\nSent Items",
        "calendar": "y",
        "contacts": "y",
        "policy": "enrich",
        "private_categories": "Private",
        **more,
    }


def _add(admin: Browser, form: dict[str, str]) -> None:
    admin.get("/admin/accounts/new?kind=graph")
    response = admin.post("/admin/accounts/new?kind=graph", {**form, "action": "save"})
    assert response.status_code == 302, _text(response)


def _row(sessions: sessionmaker[Session], name: str = "alice-online") -> Account:
    with sessions() as session:
        return session.scalars(select(Account).where(Account.name == name)).one()


def _sign_in(admin: Browser, server: GraphServer, account_id: int) -> str:
    """Press "Sign in with Microsoft"; the browser's way through the authority: the
    redirect back (path and query) to the callback."""
    admin.get(f"/admin/accounts/{account_id}/graph")
    started = admin.post(f"/admin/accounts/{account_id}/graph/signin")
    assert started.status_code == 302, _text(started)
    auth_uri = started.headers["Location"]
    assert auth_uri.startswith(server.authority + "/oauth2/v2.0/authorize?")
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(auth_uri).query))
    assert query["redirect_uri"] == CALLBACK and query["code_challenge_method"] == "S256"
    with server.http_session() as login:
        back = login.get(auth_uri, allow_redirects=False).headers["Location"]
    assert back.startswith(CALLBACK)
    return back.removeprefix("http://localhost")


def test_sign_in_with_microsoft_stores_the_sign_in_for_the_sync(
    admin: Browser, server: GraphServer, config: Config, sessions: sessionmaker[Session]
) -> None:
    client_id = server.add_app(public_client=True, redirect_uris=(CALLBACK,))
    admin.get("/admin/accounts/new?kind=graph")
    untested = admin.post(
        "/admin/accounts/new?kind=graph",
        {**_form(server, client_id), "action": "test"},
        headers={"Accept": "application/json"},
    ).get_json()
    assert not untested["ok"] and "sign in with Microsoft" in untested["message"]
    _add(admin, _form(server, client_id))
    row = _row(sessions)
    assert set(row.settings) <= set(KINDS["graph"]) and row.secret is None
    assert "Sign in with Microsoft" in _text(admin.get(f"/admin/accounts/{row.id}/edit"))
    page = _text(admin.get(f"/admin/accounts/{row.id}/graph"))
    assert "Nobody has signed in yet" in page and CALLBACK in page
    server.sign_in(ALICE)
    done = admin.get(_sign_in(admin, server, row.id))
    assert done.status_code == 200, _text(done)
    assert f"Signed in as {ALICE}" in _text(done), _text(done)[:900]
    assert "A sign-in is stored (encrypted)" in _text(done)
    with sessions() as session:
        raw = session.scalars(select(AccountToken.cache)).one()
    assert ALICE.encode() not in raw and b"refresh" not in raw.lower()
    # the sync signs in from what the page stored
    [account] = [a for a in all_accounts(config, sessions) if a.name == "alice-online"]
    settings = graph_settings(account, config.sync)
    with HttpSession(settings.verify, settings.timeout) as http:
        auth = GraphAuth(settings, http, store=token_store(account), account=account.name)
        assert auth.token() and auth.signed_in_as() == ALICE
    # "test connection" goes through the stored sign-in
    admin.get(f"/admin/accounts/{row.id}/edit")
    tested = admin.post(
        f"/admin/accounts/{row.id}/edit",
        {**_form(server, client_id), "action": "test"},
        headers={"Accept": "application/json"},
    ).get_json()
    assert tested["ok"], tested
    assert f"signed in as {ALICE}" in tested["folders"][0]


def test_a_confidential_app_signs_in_with_its_secret(
    admin: Browser, server: GraphServer, sessions: sessionmaker[Session]
) -> None:
    client_id = server.add_app(secret="s3cret", redirect_uris=(CALLBACK,))
    _add(admin, _form(server, client_id, password="s3cret"))
    row = _row(sessions)
    assert row.secret is not None and b"s3cret" not in row.secret
    server.sign_in(ALICE)
    assert f"Signed in as {ALICE}" in _text(admin.get(_sign_in(admin, server, row.id)))


def _cookie_text(value: str) -> str:
    """The payload of Flask's session cookie as text (``.`` first: zlib-compressed)."""
    payload = value.lstrip(".").split(".", 1)[0]
    data = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    return (zlib.decompress(data) if value.startswith(".") else data).decode("utf-8")


def test_the_started_sign_in_is_sealed_in_the_session_cookie(
    crm_app: Flask,
    admin: Browser,
    server: GraphServer,
    config: Config,
    sessions: sessionmaker[Session],
) -> None:
    client_id = server.add_app(public_client=True, redirect_uris=(CALLBACK,))
    _add(admin, _form(server, client_id))
    row = _row(sessions)
    server.sign_in(ALICE)
    back = _sign_in(admin, server, row.id)
    cookie = admin.client.get_cookie("crmsync_session")
    assert cookie is not None
    text = _cookie_text(cookie.value)
    interface = crm_app.session_interface
    assert isinstance(interface, SecureCookieSessionInterface)
    serializer = interface.get_signing_serializer(crm_app)
    assert serializer is not None
    sealed = serializer.loads(cookie.value)[PENDING]
    assert isinstance(sealed, str)
    # the app's key opens it: the flow with its PKCE verifier is in there, and only there
    pending = json.loads(SecretBox(config.secrets.keys()).decrypt(sealed.encode()))
    verifier = pending["flow"]["code_verifier"]
    assert pending["account"] == row.id and len(verifier) >= 43
    assert verifier not in text and "code_verifier" not in text and "state" not in text
    # an altered seal, or a flow kept in the clear, is no sign-in
    for forged in (sealed[:-6] + "AAAAAA", {"account": row.id, "flow": pending["flow"]}):
        with admin.client.session_transaction() as browser_session:
            browser_session[PENDING] = forged
        refused = admin.get(back)
        assert refused.status_code == 400
        assert "No sign-in was started in this browser" in _text(refused)
    with admin.client.session_transaction() as browser_session:
        browser_session[PENDING] = sealed
    done = admin.get(back)
    assert done.status_code == 200 and f"Signed in as {ALICE}" in _text(done), _text(done)[:900]


def test_a_refused_sign_in_is_said_in_words(
    admin: Browser, server: GraphServer, sessions: sessionmaker[Session]
) -> None:
    client_id = server.add_app(public_client=True, redirect_uris=(CALLBACK,))
    _add(admin, _form(server, client_id))
    row = _row(sessions)
    server.sign_in(ALICE)
    server.revoke_consent(client_id, ALICE)
    refused = admin.get(_sign_in(admin, server, row.id))
    assert refused.status_code == 400
    assert "The sign-in did not succeed: the app is not (or no longer) consented" in _text(refused)
    server.grant_consent(client_id, ALICE)
    first = _sign_in(admin, server, row.id)
    second = _sign_in(admin, server, row.id)  # started twice: only the last one counts
    stale = admin.get(first)
    assert stale.status_code == 400 and "does not belong to the sign-in" in _text(stale)
    again = admin.get(second)
    assert "No sign-in was started in this browser" in _text(again)
    with sessions() as session:
        assert session.scalars(select(AccountToken)).all() == []


def test_app_only_needs_its_client_secret_and_tests_the_mailboxes(
    admin: Browser, server: GraphServer, sessions: sessionmaker[Session], config: Config
) -> None:
    client_id = server.add_app(secret="s3cret")
    form = _form(server, client_id, sign_in="app", mailboxes=ALICE)
    admin.get("/admin/accounts/new?kind=graph")
    missing = admin.post("/admin/accounts/new?kind=graph", {**form, "action": "save"})
    assert missing.status_code == 400 and "enter the client secret" in _text(missing)
    tested = admin.post(
        "/admin/accounts/new?kind=graph",
        {**form, "password": "s3cret", "action": "test"},
        headers={"Accept": "application/json"},
    ).get_json()
    assert tested["ok"], tested
    assert tested["folders"][0].startswith(f"{ALICE}: Inbox, Sent Items")
    wrong = admin.post(
        "/admin/accounts/new?kind=graph",
        {**form, "password": "nope", "action": "test"},
        headers={"Accept": "application/json"},
    ).get_json()
    assert not wrong["ok"] and "the client secret is wrong" in wrong["message"]
    _add(admin, {**form, "password": "s3cret"})
    row = _row(sessions)
    box = SecretBox(config.secrets.keys())
    assert row.secret is not None and box.decrypt(row.secret) == "s3cret"
    assert row.settings["mailboxes"] == [ALICE] and row.settings["sign_in"] == "app"
    not_delegated = admin.get(f"/admin/accounts/{row.id}/graph")
    assert not_delegated.status_code == 400
    assert "This account does not sign in as a user" in _text(not_delegated)


def test_only_admins_sign_in(
    crm_app: Flask, admin: Browser, server: GraphServer, sessions: sessionmaker[Session]
) -> None:
    client_id = server.add_app(public_client=True, redirect_uris=(CALLBACK,))
    _add(admin, _form(server, client_id))
    row = _row(sessions)
    staff = _browser(crm_app, "staff")
    assert staff.get(f"/admin/accounts/{row.id}/graph").status_code == 403
    assert staff.post(f"/admin/accounts/{row.id}/graph/signin").status_code == 403
    assert staff.get("/admin/accounts/graph/callback?code=x&state=y").status_code == 403
    unsigned = admin.client.post(f"/admin/accounts/{row.id}/graph/signin")
    assert unsigned.status_code == 400  # no CSRF token
