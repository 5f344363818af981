"""Headless Chromium against ``crmsync run``: a staff member corrects a customer's
payment data; a wrong IBAN is refused at its field, the right one is stored."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.servers.browser import BrowserPage
from tests.servers.crmsync_web import RunningCrmsync
from tests.web.test_browser import log_in

pytestmark = pytest.mark.slow


def test_a_wrong_iban_is_refused_at_its_field_and_the_right_one_saved(
    crmsync_web: RunningCrmsync, browser_page: BrowserPage
) -> None:
    page = browser_page.page
    log_in(page, crmsync_web.url)
    page.get_by_role("searchbox", name="Search customers").fill("Jana Petersen")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="Jana Petersen").click()
    page.get_by_role("link", name="Edit person").click()
    form = page.locator("#customer-form")
    expect(form.locator("input[name=name]")).to_have_value("Jana Petersen")
    form.get_by_label("IBAN").fill("DE89 3704 0044 0532 0130 01")
    form.get_by_role("button", name="Save").click()
    expect(page.locator("#form-problems")).to_contain_text("Nothing was saved")
    expect(form.locator("label.invalid", has_text="IBAN")).to_contain_text(
        "the check digits do not match"
    )
    form.get_by_label("IBAN").fill("DE89 3704 0044 0532 0130 00")
    form.get_by_label("VAT id").fill("DE 136695976")
    form.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="Jana Petersen")).to_be_visible()
    expect(page.locator(".flash")).to_contain_text("Saved: Jana Petersen")
    page.get_by_role("link", name="Edit person").click()
    expect(page.locator("#customer-form").get_by_label("IBAN")).to_have_value(
        "DE89370400440532013000"
    )
    # the refused save was answered 400 (Chromium logs that); nothing else went wrong
    assert [e for e in browser_page.console_errors if "status of 400" not in e] == []
    assert len(browser_page.console_errors) == 1
