"""End to end in headless Chromium against ``crmsync run``: an admin answers an erasure
request and finds it in the audit log."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.servers.browser import BrowserPage
from tests.servers.crmsync_web import RunningCrmsync
from tests.web.test_browser import log_in

pytestmark = pytest.mark.slow
TOBIAS = "tobias.beispiel@gmail.com"


def test_look_up_erase_and_find_it_in_the_audit_log(
    crmsync_web: RunningCrmsync, browser_page: BrowserPage
) -> None:
    page = browser_page.page
    log_in(page, crmsync_web.url)
    page.get_by_role("link", name="Data requests").click()
    page.get_by_label("E-mail address").fill(TOBIAS)
    page.get_by_role("button", name="Look up").click()
    expect(page.get_by_role("heading", name=f"Stored about {TOBIAS}")).to_be_visible()
    expect(page.locator("table.interactions")).to_contain_text("Rückruf wegen Beratungsprojekt")
    page.get_by_role("link", name="Erase…").click()
    expect(page.get_by_role("heading", name=f"Erase {TOBIAS}")).to_be_visible()
    expect(page.locator("table.deleted")).to_contain_text("Rückruf wegen Beratungsprojekt")
    page.get_by_role("button", name="Erase everything listed").click()
    expect(page.locator(".flash")).to_contain_text(f"{TOBIAS} erased: 1 people, 1 interactions")
    expect(page.locator("section.subject")).to_contain_text("Nothing is stored")
    page.get_by_role("link", name="Audit log").click()
    row = page.locator("table.audit tr", has_text="person.erase")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(TOBIAS)
    expect(row).to_contain_text("admin")
    assert not browser_page.console_errors, browser_page.console_errors
