"""The hostile bodies as mail in the real web view (``crmsync run``, headless Chromium):
on a customer's timeline with every entry opened, none runs and nothing leaves.

tests/web/test_xss_sandbox.py holds the layer-by-layer checks and the negative
control; this is the same set through the app's own pages, routes and headers.
"""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from adapters.records import Address, MailRecord
from crm.archive import Archive
from crm.db import make_engine, make_sessionmaker, will_write
from crm.ingest import ingest_mail
from crm.matching import MatchPolicy
from crm.syncstate import ensure_account
from tests.servers.browser import BrowserPage
from tests.servers.crmsync_web import RunningCrmsync
from tests.web.hostile_bodies import CANARY_PREFIX, HOSTILE_BODIES, REMOTE_HOSTS
from tests.web.test_browser import log_in

pytestmark = pytest.mark.slow
SENDER = "jana.petersen@nordwind-logistik.example"
RECORD_CANARY = f"""
window.__fired = [];
addEventListener("message", event => {{
  const data = String(event.data);
  if (data.startsWith("{CANARY_PREFIX}")) window.__fired.push(data);
}});
"""


def _hostile_mail(index: int, name: str, html: str) -> MailRecord:
    return MailRecord(
        remote_id=str(index + 1),
        dedupe_key="hash:" + hashlib.sha256(name.encode()).hexdigest(),
        message_id=f"xss-{index}@nordwind-logistik.example",
        subject=f"XSS {name}",
        sender=Address(SENDER, "Jana Petersen"),
        to=(Address("alice@example.com"),),
        cc=(),
        bcc=(),
        reply_to=(),
        occurred_at=datetime(2027, 1, 1, tzinfo=UTC) + timedelta(minutes=index),
        in_reply_to=None,
        references=(),
        text="",
        html=html,
        attachments=(),
        size=len(html),
        automation_headers=(),
    )


def _store_hostile_mail(server: RunningCrmsync) -> int:
    url = "sqlite:///" + str(server.config.parent / "crmsync.db")
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine).begin() as session:
            will_write(session)  # the running server's scheduler writes too
            account = ensure_account(session, "xss-box", "imap")
            ingest_mail(
                session,
                account_id=account.id,
                collection="INBOX",
                records=[_hostile_mail(i, n, h) for i, (n, h) in enumerate(HOSTILE_BODIES)],
                policy=MatchPolicy(internal_domains=frozenset({"example.com"})),
                archive=Archive(server.config.parent / "archive"),
            )
    finally:
        engine.dispose()
    with sqlite3.connect(server.config.parent / "crmsync.db") as db:
        (person_id,) = db.execute(
            "SELECT person_id FROM contact_points WHERE value = ?", (SENDER,)
        ).fetchone()
    return int(person_id)


def test_hostile_mail_bodies_neither_run_nor_call_out(
    crmsync_web: RunningCrmsync, browser_page: BrowserPage
) -> None:
    assert len(HOSTILE_BODIES) >= 30
    person_id = _store_hostile_mail(crmsync_web)
    page = browser_page.page
    page.add_init_script(RECORD_CANARY)
    log_in(page, crmsync_web.url)
    bodies_loaded = 0
    for offset in range(0, len(HOSTILE_BODIES), 50):  # the timeline pages by 50
        url = f"{crmsync_web.url}people/{person_id}?kind=email"
        if offset:
            url = page.locator("a.older").get_attribute("href") or ""
            url = crmsync_web.url.rstrip("/") + url
        page.goto(url)
        entries = page.locator("details.entry", has_text="XSS ")
        count = entries.count()
        for i in range(count):  # open each one as a reader would; its body loads
            entry = entries.nth(i)
            entry.locator("summary").click()
            entry.locator("iframe.body").scroll_into_view_if_needed()
            frame = page.frame_locator(f"#{entry.get_attribute('id')} iframe.body")
            frame.locator("body").wait_for(state="attached")
            bodies_loaded += 1
        page.mouse.move(200, 300)
        page.wait_for_timeout(500)  # late events: media errors, refreshes
        assert page.evaluate("window.__fired") == []
        assert page.title().startswith("Jana Petersen"), page.title()
    assert bodies_loaded >= len(HOSTILE_BODIES)
    assert not browser_page.remote_requests, browser_page.remote_requests
    assert not {h for h in browser_page.remote_hosts() if h.endswith(REMOTE_HOSTS)}
