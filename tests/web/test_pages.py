"""What users see and do in the web view (Flask test client, SQLite and PostgreSQL)."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from crm.models import Account, Interaction, LoginThrottle, Participant, ReviewItem, SyncRequest
from crm.users import FREE_FAILURES
from tests.web.conftest import PASSWORDS, Browser, _logged_in
from tests.web.data import PDF, populate


@pytest.fixture
def ids(app: Flask, sessions: sessionmaker[Session], tmp_path) -> dict[str, int]:
    return populate(sessions, tmp_path / "archive")


def text(response) -> str:
    return response.get_data(as_text=True)


# -- login ------------------------------------------------------------------------------


def test_wrong_password_is_refused_then_throttled(anonymous: Browser, sessions) -> None:
    for _ in range(FREE_FAILURES):
        response = anonymous.login("staff", "wrong password!")
        assert response.status_code == 401
        assert "Wrong user name or password." in text(response)
    # locked now: even the right password waits
    response = anonymous.login("staff")
    assert response.status_code == 429
    assert "too many failed logins" in text(response)
    with sessions() as session:
        lock = session.get(LoginThrottle, "user:staff")
        assert lock is not None and lock.locked_until is not None


def test_unknown_user_answers_like_a_wrong_password(anonymous: Browser) -> None:
    response = anonymous.login("nobody", "whatever-password")
    assert response.status_code == 401
    assert "Wrong user name or password." in text(response)


def test_login_redirects_only_to_local_pages(anonymous: Browser) -> None:
    anonymous.get("/login")
    response = anonymous.post(
        "/login?next=https://evil.example/", {"name": "viewer", "password": PASSWORDS["viewer"]}
    )
    assert response.headers["Location"] == "/"


def test_changing_the_password_ends_other_sessions(app: Flask) -> None:
    first, second = _logged_in(app, "staff"), _logged_in(app, "staff")
    first.get("/account/password")
    response = first.post(
        "/account/password",
        {"current": PASSWORDS["staff"], "new": "a-new-password-1", "repeat": "a-new-password-1"},
    )
    assert response.status_code == 302
    assert first.get("/customers").status_code == 200  # this session goes on
    assert second.get("/customers").status_code == 302  # the other one is logged out
    fresh = Browser(app.test_client())
    assert fresh.login("staff", "a-new-password-1").status_code == 302


def test_short_new_password_is_refused(staff: Browser) -> None:
    response = staff.post(
        "/account/password", {"current": PASSWORDS["staff"], "new": "short", "repeat": "short"}
    )
    assert response.status_code == 400
    assert "at least 10 characters" in text(response)


def test_logout_ends_the_session(staff: Browser) -> None:
    assert staff.post("/logout").status_code == 302
    assert staff.get("/customers").status_code == 302


def test_cookies_and_security_headers(app: Flask) -> None:
    browser = Browser(app.test_client())
    browser.get("/login")
    response = browser.post("/login", {"name": "viewer", "password": PASSWORDS["viewer"]})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    page = browser.get("/customers")
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "<script>" not in text(page) and " on" + "click=" not in text(page)
    secure = Browser(app.test_client())
    secure.client.get("/login", base_url="https://crm.example")
    response = secure.client.post(
        "/login",
        base_url="https://crm.example",
        headers={"Referer": "https://crm.example/login"},  # Flask-WTF checks it over HTTPS
        data={
            "csrf_token": _token(secure, "https://crm.example"),
            "name": "viewer",
            "password": PASSWORDS["viewer"],
        },
    )
    assert "Secure" in response.headers["Set-Cookie"]


def _token(browser: Browser, base: str) -> str:
    page = browser.client.get("/login", base_url=base)
    found = re.search(r'name="csrf-token" content="([^"]+)"', page.get_data(as_text=True))
    assert found
    return found[1]


# -- customers and timelines --------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("Greta", "Greta Hansen"),  # a name
        ("greta.hansen@nordwind", "Greta Hansen"),  # an address
        ("nordwind-logistik.de", "Nordwind Logistik GmbH"),  # a domain
        ("Nordwind", "Nordwind Logistik GmbH"),  # an organization's name
        ("Seefracht Oslo", "Greta Hansen"),  # words from a mail
        ("seefr", "Greta Hansen"),  # the beginning of a word
    ],
)
def test_search_finds_customers(viewer: Browser, ids, query, expected) -> None:
    page = text(viewer.get("/customers", query_string={"q": query}))
    assert expected in page


def test_search_without_hits_says_so(viewer: Browser, ids) -> None:
    page = text(viewer.get("/customers", query_string={"q": "Quantenkryptographie"}))
    assert "No customer matches" in page


def test_customer_list_is_paginated(viewer: Browser, ids, sessions) -> None:
    from crm.models import Person

    with sessions.begin() as session:
        session.add_all(Person(display_name=f"Person {i:03d}") for i in range(30))
    first = text(viewer.get("/customers"))
    assert "Person 000" in first and "Person 029" not in first and "Next →" in first
    second = text(viewer.get("/customers?page=2"))
    assert "Person 029" in second


def test_organization_timeline_shows_its_people_mail(viewer: Browser, ids) -> None:
    page = text(viewer.get(f"/organizations/{ids['nordwind']}"))
    for subject in ("Anfrage Rahmenvertrag", "Angebot Seefracht", "Lieferavis KW 48"):
        assert subject in page
    assert "Frage 01" not in page  # Jan's mail is not Nordwind's
    assert "Greta Hansen" in page and "nordwind-logistik.de" in page
    assert "2 in this thread" in page  # the offer answers the request


def test_timeline_is_paged_by_cursor_and_filters(viewer: Browser, ids) -> None:
    first = text(viewer.get(f"/people/{ids['jan']}"))
    assert first.count('class="entry ') == 50
    older = re.search(r'href="([^"]+before=[^"]+)"', first)
    assert older
    second = text(viewer.get(older[1].replace("&amp;", "&")))
    assert second.count('class="entry ') == 10
    assert "Frage 59" in second and "Frage 59" not in first
    outbound = text(viewer.get(f"/people/{ids['jan']}?direction=outbound"))
    assert "Nothing here" in outbound
    dated = text(viewer.get(f"/people/{ids['jan']}?since=2026-03-01&until=2026-03-01"))
    assert dated.count('class="entry ') == 1
    bad = text(viewer.get(f"/people/{ids['jan']}?since=yesterday&before=garbage"))
    assert "is not a date" in bad and "not a page cursor" in bad


def test_admin_timeline_shows_unmatched_only(admin: Browser, ids) -> None:
    page = text(admin.get("/timeline?unmatched=1"))
    assert "Anfrage Kranmiete Dezember" in page
    assert "Angebot Seefracht" not in page


def test_mail_body_is_a_sandboxed_sanitized_document(viewer: Browser, ids, sessions) -> None:
    with sessions() as session:
        offer = session.scalars(
            select(Interaction).where(Interaction.subject.like("Angebot%"))
        ).one()
    page = text(viewer.get(f"/organizations/{ids['nordwind']}"))
    frame = re.search(rf'<iframe[^>]+src="/interactions/{offer.id}/body"[^>]*>', page)
    assert frame and 'sandbox="allow-popups allow-popups-to-escape-sandbox"' in frame[0]
    body = viewer.get(f"/interactions/{offer.id}/body")
    assert "<b>anbei</b>" in text(body)
    assert "tracker.example" not in text(body)  # remote image blocked
    assert "img-src 'self'" in body.headers["Content-Security-Policy"]
    assert "script-src" not in body.headers["Content-Security-Policy"]
    with_images = viewer.get(f"/interactions/{offer.id}/body?images=1")
    assert "https://tracker.example/p.gif" in text(with_images)


def test_attachment_downloads_from_the_archive(viewer: Browser, ids, sessions) -> None:
    with sessions() as session:
        offer = session.scalars(
            select(Interaction).where(Interaction.subject.like("Angebot%"))
        ).one()
        attachment_id = offer.attachments[0].id
    response = viewer.client.get(f"/attachments/{attachment_id}")
    assert response.data == PDF
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == "attachment; filename=Angebot.pdf"
    response.close()
    assert viewer.get("/attachments/999999").status_code == 404


def test_staff_add_a_note_and_viewers_may_not(app: Flask, ids) -> None:
    staff = _logged_in(app, "staff")
    url = f"/people/{ids['greta']}"
    staff.get(url)
    response = staff.post(url + "/notes", {"text": "Rief an: will Angebot bis Freitag.\nRückruf"})
    assert response.status_code == 302
    page = text(staff.get(url))
    assert "Rief an: will Angebot bis Freitag." in page and "note by staff" in page
    assert text(staff.get(f"/organizations/{ids['nordwind']}")).count("note by staff") == 1
    viewer = _logged_in(app, "viewer")
    assert "Add a note" not in text(viewer.get(url))
    assert viewer.post(url + "/notes", {"text": "x"}).status_code == 403


def test_missing_customer_is_404(viewer: Browser) -> None:
    assert viewer.get("/people/424242").status_code == 404
    assert viewer.get("/organizations/424242").status_code == 404


# -- review queue -------------------------------------------------------------------------


def _review_id(sessions, email: str) -> int:
    with sessions() as session:
        return session.scalars(select(ReviewItem.id).where(ReviewItem.email == email)).one()


def test_review_queue_lists_counts_and_sample_subjects(admin: Browser, ids) -> None:
    page = text(admin.get("/review"))
    assert "einkauf@kranich-bau.example" in page and "Anfrage Kranmiete Dezember" in page
    assert "Ignore kranich-bau.example" in page


def test_assigning_an_address_links_stored_mail(admin: Browser, ids, sessions) -> None:
    item = _review_id(sessions, "einkauf@kranich-bau.example")
    choices = text(admin.get(f"/review/{item}/assign?q=Nordwind"))
    assert f'value="organization:{ids["nordwind"]}"' in choices
    response = admin.post(f"/review/{item}/assign", {"target": f"organization:{ids['nordwind']}"})
    assert response.status_code == 302
    assert "stored mail participant(s) linked" in text(admin.get("/review"))
    page = text(admin.get(f"/organizations/{ids['nordwind']}"))
    assert "Anfrage Kranmiete Dezember" in page
    assert "einkauf@kranich-bau.example" not in text(admin.get("/review"))


def test_creating_a_person_creates_the_organization_of_the_domain(admin, ids, sessions) -> None:
    item = _review_id(sessions, "einkauf@kranich-bau.example")
    response = admin.post(
        f"/review/{item}/create", {"display_name": "Einkauf Kranich", "with_organization": "y"}
    )
    assert response.status_code == 302
    with sessions() as session:
        linked = session.scalars(
            select(Participant).where(Participant.email == "einkauf@kranich-bau.example")
        ).one()
        assert linked.person is not None and linked.person.display_name == "Einkauf Kranich"
        assert linked.person.organization is not None
        assert linked.person.organization.name == "Kranich Bau"


def test_ignoring_a_domain_closes_its_entries(admin: Browser, ids, sessions) -> None:
    item = _review_id(sessions, "einkauf@kranich-bau.example")
    assert admin.post(f"/review/{item}/ignore", {"scope": "domain"}).status_code == 302
    with sessions() as session:
        assert session.get(ReviewItem, item).status == "ignored"
    assert "kranich-bau.example is ignored" in text(admin.get("/review"))


# -- sync status and accounts ------------------------------------------------------------------


def test_sync_now_writes_a_request_for_the_worker(admin: Browser, ids, sessions) -> None:
    with sessions() as session:
        account = session.scalars(select(Account)).first()
        assert account is not None
        account_id = account.id
    page = text(admin.get("/sync"))
    assert "alice-mail" in page and "Sync now" in page
    assert admin.post(f"/sync/{account_id}/now").status_code == 302
    with sessions() as session:
        requests = session.scalars(select(SyncRequest)).all()
        assert [(r.account_id, r.requested_by) for r in requests] == [(account_id, "admin")]
    assert "requested" in text(admin.get("/sync"))
    details = text(admin.get(f"/sync/{account_id}"))
    assert "Recent runs" in details


ACCOUNT = {
    "name": "bob-mail",
    "owner": "bob",
    "host": "imap.example.net",
    "port": "993",
    "security": "ssl",
    "username": "bob@example.com",
    "password": "the-secret-imap-password",
    "folders": "INBOX\n\\Sent",
    "interval_minutes": "10",
    "tls_verify": "y",
    "enabled": "y",
    "action": "save",
}


def test_adding_an_account_stores_the_password_encrypted(admin: Browser, sessions, app) -> None:
    admin.get("/admin/accounts/new")
    response = admin.post("/admin/accounts/new", ACCOUNT)
    assert response.status_code == 302, text(response)
    with sessions() as session:
        account = session.scalars(select(Account).where(Account.name == "bob-mail")).one()
        assert account.origin == "web" and account.interval_seconds == 600
        assert account.settings["host"] == "imap.example.net"
        assert account.settings["folders"] == ["INBOX", "\\Sent"]
        assert b"the-secret-imap-password" not in account.secret
        assert "the-secret-imap-password" not in repr(account.settings)
        box = app.extensions["crmsync.settings"].secret_box
        assert box.decrypt(account.secret) == "the-secret-imap-password"
        account_id = account.id
    edit = text(admin.get(f"/admin/accounts/{account_id}/edit"))
    assert "the-secret-imap-password" not in edit and "imap.example.net" in edit
    # saving with an empty password keeps the stored one
    response = admin.post(
        f"/admin/accounts/{account_id}/edit",
        {**ACCOUNT, "password": "", "host": "mail.example.net"},
    )
    assert response.status_code == 302
    with sessions() as session:
        account = session.get(Account, account_id)
        assert account.settings["host"] == "mail.example.net"
        assert box.decrypt(account.secret) == "the-secret-imap-password"
    assert admin.post(f"/admin/accounts/{account_id}/disable").status_code == 302
    with sessions() as session:
        assert not session.get(Account, account_id).enabled


def test_account_form_reports_each_bad_field(admin: Browser) -> None:
    admin.get("/admin/accounts/new")
    bad = {**ACCOUNT, "name": "", "host": "not a host!", "port": "99999", "password": ""}
    page = text(admin.post("/admin/accounts/new", bad))
    assert "This field is required." in page
    assert "not a host name" in page
    assert "Number must be between 1 and 65535." in page


def test_config_accounts_are_read_only(admin: Browser, ids, sessions) -> None:
    with sessions() as session:
        account_id = session.scalars(select(Account.id)).first()
    assert "read-only" in text(admin.get("/admin/accounts"))
    assert admin.get(f"/admin/accounts/{account_id}/edit").status_code == 403


def test_server_errors_do_not_leak(sessions, tmp_path) -> None:
    from tests.web.conftest import make_app

    app = make_app(sessions, tmp_path)

    @app.route("/boom")
    def boom():
        raise RuntimeError("secret internals /etc/passwd")

    from crm.users import add_user

    with sessions.begin() as session:
        add_user(session, "admin", PASSWORDS["admin"], "admin")
    admin = _logged_in(app, "admin")
    response = admin.get("/boom")
    assert response.status_code == 500
    assert "secret internals" not in text(response) and "Traceback" not in text(response)
