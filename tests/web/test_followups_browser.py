"""End to end in headless Chromium against ``crmsync run``: a staff user adds a follow-up
"if no reply in 3 days" on a customer's page and finds it on "My follow-ups"."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from playwright.sync_api import expect

from tests.servers.browser import BrowserPage
from tests.servers.crmsync_web import RunningCrmsync
from tests.web.test_browser import log_in

pytestmark = pytest.mark.slow

PASSWORD = "clara-password-e2e-1"


def test_staff_adds_a_follow_up_and_finds_it_on_my_follow_ups(
    crmsync_web: RunningCrmsync, browser_page: BrowserPage
) -> None:
    result = crmsync_web.command(
        "user", "add", "clara", "--role", "staff", "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    page = browser_page.page
    log_in(page, crmsync_web.url, "clara", PASSWORD)
    page.get_by_role("searchbox", name="Search customers").fill("Jana Petersen")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="Jana Petersen").click()
    expect(page.get_by_role("heading", name="Jana Petersen")).to_be_visible()

    page.get_by_text("Add a follow-up").click()
    form = page.locator("#add-follow-up")
    expect(form.get_by_label("Assignee").locator("option:checked")).to_have_text("clara")
    form.locator("select[name=when]").select_option(label="If no reply in 3 days")
    form.get_by_role("textbox", name="Note").fill("Angebot Seefracht nachfassen")
    form.get_by_role("button", name="Add follow-up").click()
    due = (date.today() + timedelta(days=3)).isoformat()
    expect(page.locator(".flash")).to_contain_text(f"Follow-up added, due {due}.")
    section = page.locator("#customer-follow-ups")
    expect(section).to_contain_text("Angebot Seefracht nachfassen")
    expect(section).to_contain_text("waiting for a reply")

    page.get_by_role("link", name="Follow-ups").click()
    expect(page.get_by_role("heading", name="My follow-ups")).to_be_visible()
    upcoming = page.locator("#upcoming")
    item = upcoming.locator("li.follow-up", has_text="Angebot Seefracht nachfassen")
    expect(item).to_have_count(1)
    expect(item).to_contain_text(due)
    expect(item).to_contain_text("waiting for a reply")
    item.get_by_role("link", name="Jana Petersen").click()
    expect(page.get_by_role("heading", name="Jana Petersen")).to_be_visible()

    page.get_by_role("link", name="Follow-ups").click()
    page.locator("#upcoming li.follow-up").get_by_role("button", name="Done: Jana Petersen").click()
    expect(page.locator(".flash")).to_contain_text("Follow-up done.")
    expect(page.locator("#upcoming")).to_contain_text("Nothing coming up.")
    assert not browser_page.console_errors, browser_page.console_errors
