"""End to end in headless Chromium against ``crmsync run``: what a person does in the
browser, from logging in to adding a mailbox and seeing its first mail arrive."""

from __future__ import annotations

import base64
import http.client
import re
import time
from email.message import EmailMessage
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from crm.apppasswords import verify
from crm.db import make_engine, make_sessionmaker
from tests.servers.browser import BrowserPage
from tests.servers.crmsync_web import ADMIN_PASSWORD, RunningCrmsync
from tests.servers.dovecot import DovecotServer, ImapUser
from tests.servers.radicale import RadicaleServer

pytestmark = pytest.mark.slow


def log_in(page: Page, url: str, name: str = "admin", password: str = ADMIN_PASSWORD) -> None:
    page.goto(url)
    expect(page).to_have_url(url + "login?next=%2F")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Customers")).to_be_visible()


def test_search_open_timeline_and_read_a_mail(
    crmsync_web: RunningCrmsync, browser_page: BrowserPage
) -> None:
    page = browser_page.page
    log_in(page, crmsync_web.url)
    page.get_by_role("searchbox", name="Search customers").fill("Rahmenvertrag Seefracht")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="Jana Petersen").click()
    expect(page.get_by_role("heading", name="Jana Petersen")).to_be_visible()
    entry = page.locator(
        "details.entry", has=page.get_by_text("Anfrage Rahmenvertrag 2027", exact=True)
    )
    expect(entry).to_have_count(1)
    entry.locator("summary").click()
    frame = page.frame_locator(f"#{entry.get_attribute('id')} iframe.body")
    expect(frame.locator("body")).to_contain_text("Rahmenvertrag über die Seefracht")
    assert not browser_page.console_errors, browser_page.console_errors  # no CSP violation
    assert not browser_page.remote_requests


def test_assign_an_address_and_see_its_old_mail_on_the_customer(
    crmsync_web: RunningCrmsync, browser_page: BrowserPage
) -> None:
    page = browser_page.page
    log_in(page, crmsync_web.url)
    page.get_by_role("link", name="Review").click()
    item = page.locator("article.review-item", has_text="einkauf@kranich-bau.example")
    item.get_by_role("searchbox").fill("Nordwind")
    item.get_by_role("button", name="Assign…").click()
    page.get_by_role("button", name="Assign to Nordwind Logistik GmbH").click()
    expect(page.locator(".flash")).to_contain_text("einkauf@kranich-bau.example assigned")
    expect(page.locator("article.review-item", has_text="einkauf@kranich-bau")).to_have_count(0)
    page.get_by_role("link", name="Open the timeline").click()
    expect(page.get_by_role("heading", name="Nordwind Logistik GmbH")).to_be_visible()
    expect(page.locator("details.entry", has_text="Anfrage Kranmiete Dezember")).to_have_count(1)
    assert not browser_page.console_errors, browser_page.console_errors


def _customer_mail() -> bytes:
    mail = EmailMessage()
    mail["From"] = "Jana Petersen <jana.petersen@nordwind-logistik.example>"
    mail["To"] = "bob@example.com"
    mail["Subject"] = "Neue Sendung ab Bremen"
    mail["Message-ID"] = "<bremen-1@nordwind-logistik.example>"
    mail["Date"] = "Mon, 23 Nov 2026 09:00:00 +0000"
    mail.set_content("Hallo Bob, ab Montag kommt die Ware aus Bremen. Gruß Jana")
    return bytes(mail)


def test_add_an_account_test_it_and_see_its_first_sync(
    crmsync_web: RunningCrmsync,
    browser_page: BrowserPage,
    dovecot: DovecotServer,
    imap_user: ImapUser,
) -> None:
    dovecot.append(imap_user.name, "INBOX", [_customer_mail()])
    page = browser_page.page
    log_in(page, crmsync_web.url)
    page.get_by_role("link", name="Accounts").click()
    page.get_by_role("link", name="Add an IMAP account").click()
    page.get_by_label("Name").first.fill("bob-mail")
    page.get_by_label("IMAP server").fill(imap_user.host)
    page.get_by_label("Security").select_option("none")
    page.get_by_label("Port").fill(str(imap_user.port))
    page.get_by_label("User name").fill(imap_user.name)
    page.get_by_label("Password").fill("not the password")
    page.get_by_label("Folders").fill("INBOX")
    page.get_by_role("button", name="Test connection").click()
    result = page.locator("#test-result")
    expect(result).to_contain_text("login refused")
    page.get_by_label("Password").fill(imap_user.password)
    page.get_by_role("button", name="Test connection").click()
    expect(result).to_contain_text("Logged in")
    expect(result.locator("li", has_text="INBOX")).to_have_count(1)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="Sync status")).to_be_visible()
    row = page.locator("tr", has=page.get_by_role("link", name="bob-mail"))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the scheduler picks the new account up by itself
        page.reload()
        if row.locator(".badge.ok").count():
            break
        time.sleep(1)
    expect(row.locator(".badge.ok")).to_be_visible()
    expect(row).to_contain_text("1 / 0")
    page.get_by_role("link", name="Customers").click()
    page.get_by_role("searchbox", name="Search customers").fill("Bremen")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="Jana Petersen").click()
    expect(page.locator("details.entry", has_text="Neue Sendung ab Bremen")).to_have_count(1)
    log = crmsync_web.log_text()
    assert imap_user.password not in log and "not the password" not in log
    assert not browser_page.console_errors, browser_page.console_errors


def test_add_a_carddav_account_and_test_it_in_the_browser(
    crmsync_web: RunningCrmsync, browser_page: BrowserPage, radicale: RadicaleServer
) -> None:
    radicale.make_addressbook(displayname="Field staff contacts")
    page = browser_page.page
    log_in(page, crmsync_web.url)
    page.get_by_role("link", name="Accounts").click()
    page.get_by_role("link", name="Add a CardDAV address book").click()
    expect(page.get_by_role("heading", name="Add a CardDAV address book account")).to_be_visible()
    page.get_by_label("Name").first.fill("alice-contacts")
    page.get_by_label("Server URL").fill(radicale.url)
    page.get_by_label("User name").fill(radicale.username)
    page.get_by_label("Password").fill(radicale.password)
    page.get_by_label("Contacts policy").select_option("import")
    page.get_by_role("button", name="Test connection").click()
    result = page.locator("#test-result")
    expect(result).to_contain_text("Logged in")
    expect(result.locator("li", has_text="Field staff contacts")).to_have_count(1)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="Sync status")).to_be_visible()
    page.get_by_role("link", name="Accounts").click()
    row = page.locator("tr[data-account=alice-contacts]")
    expect(row).to_contain_text("carddav")
    expect(row).to_contain_text(f"{radicale.username} @ {radicale.url}")
    assert radicale.password not in crmsync_web.log_text()
    assert not browser_page.console_errors, browser_page.console_errors


def test_create_an_app_password_on_the_profile_page_and_revoke_it(
    crmsync_web: RunningCrmsync, browser_page: BrowserPage
) -> None:
    page = browser_page.page
    log_in(page, crmsync_web.url)
    page.get_by_role("link", name="admin (admin)").click()
    expect(page).to_have_url(crmsync_web.url + "profile")
    expect(page.locator("#server-url")).to_have_text(crmsync_web.url)
    expect(page.locator("tr[data-book=customers]")).to_contain_text(
        crmsync_web.url + "dav/addressbooks/admin/customers/"
    )
    page.get_by_label("Device name").fill("iPhone")
    with page.expect_response(lambda r: r.url.endswith("/profile/app-passwords")) as answer:
        page.get_by_role("button", name="Create app password").click()
    assert answer.value.status == 200 and answer.value.headers["cache-control"] == "no-store"
    shown = page.locator("#app-password")
    expect(shown).to_be_visible()
    password = shown.inner_text().strip()
    assert re.fullmatch(r"[a-z0-9]{4}(-[a-z0-9]{4}){5}", password)
    assert crmsync_web.url + "profile/app-passwords" == page.url  # not in a URL
    assert _verifies(crmsync_web, password)
    assert _propfind(crmsync_web, password) == 207  # what a phone does with it

    page.get_by_role("link", name="admin (admin)").click()  # shown once: gone on the next page
    row = page.locator("tr[data-app-password=iPhone]")
    expect(row.locator("td").nth(2).locator("time")).to_have_count(1)  # last used: just now
    expect(page.locator("#app-password")).to_have_count(0)
    assert password not in page.content()
    questions: list[str] = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.accept()))
    page.get_by_role("button", name="Revoke iPhone").click()
    expect(page.locator(".flash")).to_contain_text("App password “iPhone” revoked")
    expect(page.locator("tr[data-app-password=iPhone]")).to_have_count(0)
    assert questions == ["Revoke “iPhone”? The device using it stops syncing."]
    assert not _verifies(crmsync_web, password)
    assert _propfind(crmsync_web, password) == 401
    assert password not in crmsync_web.log_text()
    assert not browser_page.console_errors, browser_page.console_errors
    assert not browser_page.remote_requests


def _verifies(server: RunningCrmsync, password: str) -> bool:
    engine = make_engine(f"sqlite:///{server.config.parent / 'crmsync.db'}")
    try:
        with make_sessionmaker(engine)() as session:
            return verify(session, "admin", password) is not None
    finally:
        engine.dispose()


def _propfind(server: RunningCrmsync, password: str) -> int:
    """The status of a PROPFIND on admin's "All customers" with this app password."""
    credentials = base64.b64encode(f"admin:{password}".encode()).decode()
    where = urlsplit(server.url)
    connection = http.client.HTTPConnection(where.hostname or "", where.port, timeout=10)
    try:
        connection.request(
            "PROPFIND",
            "/dav/addressbooks/admin/customers/",
            headers={"Authorization": f"Basic {credentials}", "Depth": "0"},
        )
        return connection.getresponse().status
    finally:
        connection.close()
