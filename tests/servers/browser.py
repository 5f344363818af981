"""Headless Chromium through Playwright, with every request off this machine blocked.

Fixtures: ``chromium`` (session-scoped ``Browser``; the machine's Debian
``/usr/bin/chromium``, Playwright never downloads one) and ``browser_page``
(a :class:`BrowserPage` in a fresh context per test). Every request whose host
is not loopback is recorded in ``remote_requests`` and aborted; Chromium's own
background traffic is switched off and its resolver answers only for loopback,
so nothing leaves the machine even if a request escapes the route. Under
pytest-xdist each worker process starts its own browser.

Without Chromium the tests are skipped, or fail under ``CI=true``
(:func:`tests.corpus.need`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, Route, sync_playwright

from tests.corpus import need

CHROMIUM = os.environ.get("CRMSYNC_CHROMIUM", "/usr/bin/chromium")
INSTALL_HINT = "chromium not installed: apt-get install chromium"
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# Schemes that never touch the network (data: and blob: are in-page, about: is empty).
LOCAL_SCHEMES = frozenset({"data", "blob", "about", "chrome-error", "devtools"})
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    # The last line of defence: no name resolves except loopback.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
]


def is_remote(url: str) -> bool:
    """Whether loading ``url`` would leave this machine."""
    parts = urlsplit(url)
    if parts.scheme in LOCAL_SCHEMES:
        return False
    return (parts.hostname or "") not in LOCAL_HOSTS


@dataclass
class BrowserPage:
    """A page in its own browser context, and what it tried to do.

    ``remote_requests`` lists the URL of every request to a host other than
    loopback that reached the network stack, from any frame or popup of the
    context; all were aborted. ``remote_attempts`` also has those the browser
    refused itself before the network (Content-Security-Policy, mixed content,
    an external protocol such as ``vbscript:``). ``console_errors`` holds the
    console errors and uncaught page exceptions.
    """

    page: Page
    remote_requests: list[str] = field(default_factory=list)
    remote_attempts: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def remote_hosts(self) -> set[str]:
        """The hosts that requests were attempted to."""
        return {urlsplit(url).hostname or url for url in self.remote_requests}


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    """The machine's headless Chromium, one per test process."""
    need(os.access(CHROMIUM, os.X_OK), f"{INSTALL_HINT} (no {CHROMIUM})")
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    except Exception:
        playwright.stop()
        raise
    yield browser
    browser.close()
    playwright.stop()


@pytest.fixture
def browser_page(chromium: Browser) -> Iterator[BrowserPage]:
    """A fresh context and page; requests off this machine are recorded and aborted."""
    context = chromium.new_context(service_workers="block")
    found = BrowserPage(page=context.new_page())

    def on_request(request: Request) -> None:
        if is_remote(request.url):
            found.remote_attempts.append(request.url)

    def route(route: Route) -> None:
        if is_remote(route.request.url):
            found.remote_requests.append(route.request.url)
            route.abort("blockedbyclient")
        else:
            route.continue_()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            found.console_errors.append(message.text)

    context.on("request", on_request)
    context.route("**/*", route)
    found.page.on("console", on_console)
    found.page.on("pageerror", lambda error: found.console_errors.append(str(error)))
    try:
        yield found
    finally:
        context.close()
