"""Privacy rules in headless Chromium against ``crmsync run`` with the sample data."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.servers.browser import BrowserPage
from tests.servers.crmsync_web import RunningCrmsync
from tests.web.test_browser import log_in

pytestmark = pytest.mark.slow


def test_admin_checks_the_count_then_adds_a_never_log_domain(
    crmsync_web: RunningCrmsync, browser_page: BrowserPage
) -> None:
    page = browser_page.page
    log_in(page, crmsync_web.url)
    page.get_by_role("link", name="Privacy").click()
    form = page.locator("#add-admin-rule")
    form.get_by_label("Never log mail by").select_option("domain")
    form.get_by_label("Value").fill("fjordlys.example")
    form.get_by_role("button", name="Check and add…").click()
    expect(page.locator("#rule-impact")).to_contain_text("1 stored entry will be removed")
    page.get_by_role("button", name="Remove 1 and add the rule").click()
    expect(page.locator(".flash")).to_contain_text("1 stored entries removed")
    expect(page.locator('#admin-rule-list tr[data-rule="domain:fjordlys.example"]')).to_have_count(
        1
    )
    assert not browser_page.console_errors, browser_page.console_errors
