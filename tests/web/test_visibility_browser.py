"""End to end in headless Chromium against ``crmsync run``: a staff user makes a mail
private from the timeline; another staff user no longer sees it, the admin does."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.servers.browser import BrowserPage
from tests.servers.crmsync_web import RunningCrmsync
from tests.web.test_browser import log_in

pytestmark = pytest.mark.slow

SUBJECT = "Anfrage Rahmenvertrag 2027"
PASSWORDS = {"ada": "ada-password-e2e-1", "bert": "bert-password-e2e-1"}


def _add_staff(server: RunningCrmsync, name: str) -> None:
    result = server.command(
        "user", "add", name, "--role", "staff", "--password-stdin", stdin=PASSWORDS[name] + "\n"
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _open_jana(page: Page) -> None:
    page.get_by_role("link", name="Customers").click()
    page.get_by_role("searchbox", name="Search customers").fill("Jana Petersen")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="Jana Petersen").click()
    expect(page.get_by_role("heading", name="Jana Petersen")).to_be_visible()


def _log_out(page: Page) -> None:
    page.get_by_role("button", name="Log out").click()
    expect(page.locator(".flash")).to_contain_text("You are logged out")


def test_a_mail_made_private_disappears_for_other_staff_but_not_for_the_admin(
    crmsync_web: RunningCrmsync, browser_page: BrowserPage
) -> None:
    for name in PASSWORDS:
        _add_staff(crmsync_web, name)
    page = browser_page.page

    # ada makes the mail private from Jana's timeline
    log_in(page, crmsync_web.url, "ada", PASSWORDS["ada"])
    _open_jana(page)
    entry = page.locator("details.entry", has=page.get_by_text(SUBJECT, exact=True))
    expect(entry).to_have_count(1)
    entry_id = entry.get_attribute("id")
    assert entry_id is not None
    entry.locator("summary").click()
    entry.get_by_role("button", name="Make private", exact=True).click()
    expect(page.locator(".flash")).to_contain_text("Interaction made private.")
    expect(page).to_have_url(f"{page.url.split('#')[0]}#{entry_id}")
    entry = page.locator(f"#{entry_id}")
    expect(entry).to_have_attribute("data-visibility", "private")
    expect(entry.locator(".badge.private")).to_be_visible()
    expect(entry).to_contain_text("Private — visible to ada and admins")
    entry.locator("summary").click()
    expect(entry.get_by_role("button", name="Make visible to everyone")).to_be_visible()
    jana_url = page.url.split("#")[0]
    body_url = crmsync_web.url + f"interactions/{entry_id.removeprefix('i')}/body"
    assert not browser_page.console_errors, browser_page.console_errors
    _log_out(page)

    # bert, another member of staff, no longer sees it, not even by its address
    log_in(page, crmsync_web.url, "bert", PASSWORDS["bert"])
    _open_jana(page)
    expect(page.locator("details.entry").first).to_be_visible()  # the others are there
    expect(page.locator("details.entry", has=page.get_by_text(SUBJECT, exact=True))).to_have_count(
        0
    )
    expect(page.locator(f"#{entry_id}")).to_have_count(0)
    assert not browser_page.console_errors, browser_page.console_errors
    answer = page.goto(body_url)
    assert answer is not None and answer.status == 404
    browser_page.console_errors.clear()  # the 404 above is logged as a failed load
    page.goto(jana_url)
    _log_out(page)

    # the admin does see it, marked private, and may make it public again
    log_in(page, crmsync_web.url)
    _open_jana(page)
    entry = page.locator(f"#{entry_id}")
    expect(entry).to_contain_text(SUBJECT)
    expect(entry).to_contain_text("Private — visible to ada and admins")
    entry.locator("summary").click()
    frame = page.frame_locator(f"#{entry_id} iframe.body")
    expect(frame.locator("body")).to_contain_text("Rahmenvertrag über die Seefracht")
    expect(entry.get_by_role("button", name="Make visible to everyone")).to_be_visible()
    assert not browser_page.console_errors, browser_page.console_errors
    assert not browser_page.remote_requests
