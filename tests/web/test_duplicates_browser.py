"""Headless Chromium against ``crmsync run`` with the sample data: a staff member adds
Jana Petersen a second time (with her mobile number, no address); the admin finds the
pair on the duplicates page, merges it, and Jana's page has both numbers."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.servers.browser import BrowserPage
from tests.servers.crmsync_web import RunningCrmsync
from tests.web.test_browser import log_in

pytestmark = pytest.mark.slow


def test_the_admin_merges_a_second_record_of_a_customer(
    crmsync_web: RunningCrmsync, browser_page: BrowserPage
) -> None:
    page = browser_page.page
    log_in(page, crmsync_web.url)
    page.goto(crmsync_web.url + "people/new")
    form = page.locator("#customer-form")
    form.locator("input[name=name]").fill("Petersen, Jana")
    form.get_by_label("Organization (its name)").fill("Nordwind Logistik GmbH")
    form.locator("textarea[name=phones]").fill("+49 151 23456789\n0151 98765432")
    form.get_by_role("button", name="Add person").click()
    expect(page.get_by_role("heading", name="Petersen, Jana")).to_be_visible()

    page.get_by_role("link", name="Duplicates").click()
    pair = page.locator("tr[data-kind=person]", has_text="Petersen, Jana").filter(
        has_text="Jana Petersen"
    )
    expect(pair).to_have_count(1)
    expect(pair.locator(".evidence")).to_contain_text("+4915123456789")
    left = pair.locator("td.side").first.inner_text()
    button = "Merge into left" if "jana.petersen@" in left else "Merge into right"
    pair.get_by_role("button", name=button).click()
    expect(page.locator(".flash")).to_contain_text("Jana Petersen")
    expect(page.locator("tr[data-kind=person]", has_text="Petersen, Jana")).to_have_count(0)
    page.locator(".flash a").click()
    expect(page.get_by_role("heading", name="Jana Petersen")).to_be_visible()
    expect(page.locator("main")).to_contain_text("0151 98765432")  # moved over, as written
    assert not browser_page.console_errors, browser_page.console_errors
