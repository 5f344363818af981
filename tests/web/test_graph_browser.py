"""Adding an Exchange Online account and signing in with Microsoft, in headless Chromium.

``crmsync run`` serves the sample data (tests/servers/crmsync_web.py); the Graph simulator
plays Microsoft's login page and Graph (HTTPS with a self-signed certificate, which the
browser context accepts and crmsync trusts through ``REQUESTS_CA_BUNDLE``). The admin
fills in the form, saves, presses "Sign in with Microsoft", passes through the
authority (the user is already signed in there) and comes back to the callback; then
"Sync now" reads the mailbox with the stored sign-in.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.adapters.test_ews import mail
from tests.servers.crmsync_web import RunningCrmsync, start_run, stop_run, write_config
from tests.servers.graph import GraphServer
from tests.web.test_browser import log_in

ALICE = "alice@contoso.onmicrosoft.com"


@pytest.fixture
def crmsync_for_graph(
    tmp_path: Path, crmsync_web_template: Path, graph: GraphServer
) -> Iterator[RunningCrmsync]:
    """``crmsync run`` on the sample data, trusting the simulator's certificate."""
    for name in ("crmsync.db", "secret.key"):
        shutil.copy(crmsync_web_template / name, tmp_path / name)
    shutil.copytree(crmsync_web_template / "archive", tmp_path / "archive")
    env = {**os.environ, "REQUESTS_CA_BUNDLE": str(graph.ca_file)}
    server = start_run(write_config(tmp_path), tmp_path / "crmsync.log", env=env)
    try:
        yield server
    finally:
        stop_run(server)


def test_add_an_exchange_online_account_and_sign_in_with_microsoft(
    crmsync_for_graph: RunningCrmsync, chromium: Browser, graph: GraphServer
) -> None:
    web = crmsync_for_graph
    graph.add_user(ALICE)
    graph.sign_in(ALICE)  # Alice is signed in at Microsoft in this browser already
    callback = web.url + "admin/accounts/graph/callback"
    client_id = graph.add_app(public_client=True, redirect_uris=(callback,))
    graph.add_message(ALICE, "inbox", mail(1, sender="jana@nordwind-logistik.example", to=ALICE))
    context = chromium.new_context(ignore_https_errors=True, service_workers="block")
    errors: list[str] = []
    try:
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        log_in(page, web.url)
        page.get_by_role("link", name="Accounts").click()
        page.get_by_role("link", name="Add an Exchange Online account").click()
        page.get_by_label("Name").first.fill("alice-online")
        page.get_by_label("Tenant (directory id or domain)").fill(graph.tenant_id)
        page.get_by_label("Application (client) id").fill(client_id)
        page.get_by_label("Sign-in").select_option("user")
        page.get_by_label("Login endpoint").fill(graph.base_url)
        page.get_by_label("Graph endpoint").fill(graph.graph_url)
        page.get_by_label("Mail folders (one per line)").fill("Inbox")
        page.get_by_label("Read the calendars").uncheck()
        page.get_by_label("Read the contacts").uncheck()
        page.get_by_role("button", name="Save").click()
        page.get_by_role("link", name="Accounts").click()
        page.locator("tr[data-account=alice-online]").get_by_role("link", name="Sign-in").click()
        expect(page.locator("#graph-redirect-uri")).to_have_text(callback)
        expect(page.locator("#graph-signin-state")).to_contain_text("Nobody has signed in yet")
        page.get_by_role("button", name="Sign in with Microsoft").click()
        expect(page.get_by_role("status")).to_contain_text(f"Signed in as {ALICE}")
        assert page.url.startswith(web.url)  # back from the authority, on crmsync's page
        authorize = [r for r in graph.requests if r.path.endswith("/oauth2/v2.0/authorize")]
        assert authorize and authorize[-1].query["redirect_uri"] == callback
        expect(page.locator("#graph-signin-state")).to_contain_text("A sign-in is stored")
        page.get_by_role("link", name="Sync status of alice-online").click()
        page.get_by_role("button", name="Sync now").click()  # or the scheduler was first
        page.get_by_role("link", name="Customers").click()
        page.get_by_role("searchbox", name="Search customers").fill("Nordwind")
        page.get_by_role("button", name="Search").click()
        page.get_by_role("link", name="Nordwind Logistik GmbH").click()
        entry = page.locator("details.entry", has_text="Offer 1")
        for _ in range(40):  # the worker takes the "Sync now" within its poll interval
            if entry.count():
                break
            page.wait_for_timeout(500)
            page.reload()
        expect(entry).to_have_count(1)
    finally:
        context.close()
    assert not errors, errors
    assert "refresh_token" not in web.log_text()
