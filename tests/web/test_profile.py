"""The profile page: CardDAV set-up and app passwords (SQLite and PostgreSQL)."""

from __future__ import annotations

import base64
import logging
import re

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from crm.addressbooks import add_book
from crm.apppasswords import verify
from crm.models import AppPassword
from tests.web.conftest import PASSWORDS, Browser, _logged_in

_NEW_PASSWORD = re.compile(r'id="app-password">([a-z0-9-]+)</code>')


def text(response) -> str:
    return response.get_data(as_text=True)


def create(browser: Browser, name: str) -> str:
    """Create an app password through the form; the password read off the answer."""
    browser.get("/profile")
    response = browser.post("/profile/app-passwords", {"name": name})
    assert response.status_code == 200, text(response)
    found = _NEW_PASSWORD.search(text(response))
    assert found, text(response)
    return found[1]


def count_app_passwords(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(AppPassword)) or 0


# -- what the page shows ----------------------------------------------------------------


def test_profile_shows_the_user_and_the_carddav_setup(staff: Browser) -> None:
    page = text(staff.get("/profile"))
    assert "<strong>staff</strong>" in page
    assert 'href="/account/password"' in page
    assert '<code id="server-url">http://localhost/</code>' in page
    assert '<code id="dav-user">staff</code>' in page
    assert "All customers" in page
    assert "<code>http://localhost/dav/addressbooks/staff/customers/</code>" in page
    assert "No app passwords yet." in page
    assert "gets no address book" not in page


def test_the_user_name_in_the_navigation_opens_the_profile(viewer: Browser) -> None:
    page = text(viewer.get("/customers"))
    assert re.search(r'<a href="/profile"[^>]*>viewer \(viewer\)</a>', page)


def test_a_viewer_is_told_that_their_role_gets_no_address_book(viewer: Browser) -> None:
    response = viewer.get("/profile")
    assert response.status_code == 200
    page = text(response)
    assert "Your role (viewer) gets no address book." in page
    assert "/dav/addressbooks/" not in page
    assert "Create app password" in page  # a book for viewers may come later


def test_books_configured_for_a_role_appear_with_their_urls(
    app: Flask, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        add_book(session, "vip", "VIP customers", "category", "VIP", ["viewer", "staff"])
        add_book(session, "admins-own", "Admin's", "owner", "admin", ["admin"])
    viewer = text(_logged_in(app, "viewer").get("/profile"))
    assert "VIP customers" in viewer and "Customers in the category VIP" in viewer
    assert "http://localhost/dav/addressbooks/viewer/vip/" in viewer
    assert "All customers" not in viewer and "admins-own" not in viewer
    assert "gets no address book" not in viewer
    staff = text(_logged_in(app, "staff").get("/profile"))
    assert "/dav/addressbooks/staff/customers/" in staff
    assert "/dav/addressbooks/staff/vip/" in staff
    assert "admins-own" not in staff


def test_the_server_url_follows_the_address_the_browser_used(app: Flask) -> None:
    site = "https://crm.example.com"
    browser = Browser(app.test_client())
    browser.get("/login", base_url=site)
    login = {"name": "staff", "password": PASSWORDS["staff"]}
    # over HTTPS Flask-WTF also wants a same-site Referer, as a browser sends
    browser.post("/login", login, base_url=site, headers={"Referer": f"{site}/login"})
    page = text(browser.get("/profile", base_url=site))
    assert '<code id="server-url">https://crm.example.com/</code>' in page
    assert "https://crm.example.com/dav/addressbooks/staff/customers/" in page
    assert "crm.example.com</code>" in page  # what iOS asks for as "Server"
    assert "plain HTTP" not in page
    assert "plain HTTP" in text(_logged_in(app, "staff").get("/profile"))


# -- creating, listing and revoking app passwords ---------------------------------------


def test_a_new_app_password_is_shown_once_and_logs_in(
    staff: Browser, sessions: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    staff.get("/profile")
    response = staff.post("/profile/app-passwords", {"name": "iPhone"})
    assert response.status_code == 200  # rendered in the answer, not redirected
    assert response.headers["Cache-Control"] == "no-store"
    password = _NEW_PASSWORD.search(text(response))[1]  # type: ignore[index]
    assert re.fullmatch(r"[a-z0-9]{4}(-[a-z0-9]{4}){5}", password)
    assert "Your new app password for “iPhone”" in text(response)
    with sessions() as session:
        found = verify(session, "staff", password)
        assert found is not None
        who, row = found
        assert who.name == "staff" and row.name == "iPhone"
        assert password not in row.digest
        assert verify(session, "admin", password) is None  # another user's name
    # nowhere else: not in the cookie session, not in a log line, not in the next page
    with staff.client.session_transaction() as cookie:
        assert password not in repr(dict(cookie))
    assert all(password not in h for h in response.headers.getlist("Set-Cookie"))
    assert password not in caplog.text
    later = text(staff.get("/profile"))
    assert password not in later
    assert 'data-app-password="iPhone"' in later
    assert "never" in later  # not used yet


def test_the_app_password_opens_the_address_book_until_it_is_revoked(
    app: Flask, staff: Browser
) -> None:
    password = create(staff, "iPhone")
    phone = app.test_client()  # no cookies: HTTP Basic, as a phone logs in
    book = "/dav/addressbooks/staff/customers/"
    credentials = base64.b64encode(f"staff:{password}".encode()).decode()
    headers = {"Authorization": f"Basic {credentials}", "Depth": "0"}
    assert phone.open(book, method="PROPFIND", headers=headers).status_code == 207
    row = re.search(r'<tr data-app-password="iPhone">.*?</tr>', text(staff.get("/profile")), re.S)
    assert row and "never" not in row[0] and "<time" in row[0]  # last used: just now
    staff.post("/profile/app-passwords/revoke", {"name": "iPhone"})
    assert phone.open(book, method="PROPFIND", headers=headers).status_code == 401


def test_app_password_names_are_checked(staff: Browser, sessions) -> None:
    create(staff, "iPhone")
    taken = staff.post("/profile/app-passwords", {"name": "iPhone"})
    assert taken.status_code == 400
    assert "has an app password named &#39;iPhone&#39; already" in text(taken)
    assert not _NEW_PASSWORD.search(text(taken))
    empty = staff.post("/profile/app-passwords", {"name": "   "})
    assert empty.status_code == 400
    long = staff.post("/profile/app-passwords", {"name": "x" * 65})
    assert long.status_code == 400
    assert count_app_passwords(sessions) == 1


def test_revoking_an_app_password_locks_its_device_out(staff: Browser, sessions) -> None:
    iphone, laptop = create(staff, "iPhone"), create(staff, "Thunderbird")
    staff.get("/profile")
    response = staff.post("/profile/app-passwords/revoke", {"name": "iPhone"})
    assert response.status_code == 302 and response.headers["Location"] == "/profile"
    page = text(staff.get("/profile"))
    assert "App password “iPhone” revoked" in page
    assert 'data-app-password="iPhone"' not in page
    assert 'data-app-password="Thunderbird"' in page
    with sessions() as session:
        assert verify(session, "staff", iphone) is None
        assert verify(session, "staff", laptop) is not None


def test_a_user_sees_and_revokes_only_their_own_app_passwords(app: Flask, sessions) -> None:
    admin, staff = _logged_in(app, "admin"), _logged_in(app, "staff")
    admins = create(admin, "Admin's iPad")
    page = text(staff.get("/profile"))
    assert "Admin&#39;s iPad" not in page and "No app passwords yet." in page
    response = staff.post("/profile/app-passwords/revoke", {"name": "Admin's iPad"})
    assert response.status_code == 302
    assert "You have no app password named “Admin&#39;s iPad”" in text(staff.get("/profile"))
    with sessions() as session:
        assert verify(session, "admin", admins) is not None
    assert "Admin&#39;s iPad" in text(admin.get("/profile"))


def test_app_password_forms_need_the_csrf_token(staff: Browser, sessions) -> None:
    create(staff, "iPhone")
    refused = staff.client.post("/profile/app-passwords", data={"name": "Android"})
    assert refused.status_code == 400
    assert "The CSRF token is missing" in text(refused)
    forged = staff.client.post(
        "/profile/app-passwords/revoke", data={"name": "iPhone", "csrf_token": "forged"}
    )
    assert forged.status_code == 400
    assert "The CSRF token is invalid" in text(forged)
    assert count_app_passwords(sessions) == 1  # none added, none revoked


def test_anonymous_requests_go_to_the_login(anonymous: Browser, sessions) -> None:
    response = anonymous.post("/profile/app-passwords", {"name": "iPhone"})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")
    assert count_app_passwords(sessions) == 0
