"""Accounts of every kind added in the account admin page of the composed app (the
``sync.webapp`` wiring, as ``crmsync serve`` builds it): "test connection" against a real
Radicale and a folder of files, settings refused by the same rules as the config file's,
and the saved account synced by the runner."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from crm.models import Account, ContactPoint, Interaction, Person, SyncRun
from crm.secrets import SecretBox
from crm.users import add_user, use_hasher
from sync.config import Config
from sync.runner import Runner
from sync.webapp import build_app
from tests.adapters.test_caldav import ics
from tests.adapters.test_carddav import vcard
from tests.servers.dovecot import DovecotServer, ImapUser
from tests.servers.ews import EwsServer
from tests.servers.radicale import RadicaleServer
from tests.sync.helpers import maildir, make_config
from tests.web.conftest import Browser

use_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
START = datetime.now(UTC).replace(microsecond=0, second=0, minute=0) + timedelta(days=2)


def _text(response: object) -> str:
    page = response.get_data(as_text=True)  # type: ignore[attr-defined]
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


@pytest.fixture
def config(tmp_path: Path, db_url: str) -> Config:
    (tmp_path / "imports").mkdir()
    return make_config(tmp_path, db_url, web={"file_roots": ["imports"]})


@pytest.fixture
def admin(config: Config, sessions: sessionmaker[Session]) -> Browser:
    with sessions.begin() as session:
        add_user(session, "admin", "admin-pass-123", "admin")
    app: Flask = build_app(config, sessions)
    browser = Browser(app.test_client())
    assert browser.login("admin", "admin-pass-123").status_code == 302
    return browser


def _test(browser: Browser, url: str, form: dict[str, str]) -> dict[str, object]:
    browser.get(url)
    answer = browser.post(
        url, {**form, "action": "test"}, headers={"Accept": "application/json"}
    ).get_json()
    assert isinstance(answer, dict)
    return answer


def _row(sessions: sessionmaker[Session], name: str) -> Account:
    with sessions() as session:
        return session.scalars(select(Account).where(Account.name == name)).one()


def test_the_accounts_page_offers_every_kind(admin: Browser) -> None:
    page = _text(admin.get("/admin/accounts"))
    for label in ("Add an IMAP account", "Add a CalDAV calendar", "Add a CardDAV address book",
                  "Add a folder of files"):  # fmt: skip
        assert label in page
    assert "Add a CalDAV calendar account" in _text(admin.get("/admin/accounts/new?kind=caldav"))
    page = _text(admin.get("/admin/accounts/new?kind=ews"))
    assert "Add an Exchange Server account (EWS)" in page
    assert admin.get("/admin/accounts/new?kind=pop3").status_code == 404


def test_a_caldav_account_tested_saved_and_synced(
    admin: Browser,
    config: Config,
    sessions: sessionmaker[Session],
    radicale: RadicaleServer,
) -> None:
    calendar = radicale.make_calendar(displayname="Sales calendar")
    radicale.put_event(calendar, "visit.ics", ics("visit", START, "Visit at Ann's"))
    with sessions.begin() as session:
        ann = Person(display_name="Ann")
        ann.contact_points.append(ContactPoint(kind="email", value="ann@customer.example"))
        session.add(ann)
    form = {
        "name": "alice-calendar",
        "url": radicale.url,
        "username": radicale.username,
        "password": "wrong-password",
        "calendars": "Sales calendar",
        "past_days": "30",
        "future_days": "90",
        "interval_minutes": "15",
        "tls_verify": "y",
        "enabled": "y",
    }
    url = "/admin/accounts/new?kind=caldav"
    refused = _test(admin, url, form)
    assert refused["ok"] is False and "login refused" in str(refused["message"])
    answer = _test(admin, url, {**form, "password": radicale.password})
    assert answer["ok"] is True, answer
    assert "Sales calendar" in answer["folders"]  # type: ignore[operator]
    # the session's Radicale holds other tests' calendars too
    assert re.fullmatch(r"Logged in; (1 calendar|\d+ calendars)\.", str(answer["message"]))
    response = admin.post(url, {**form, "password": radicale.password, "action": "save"})
    assert response.status_code == 302, _text(response)
    row = _row(sessions, "alice-calendar")
    assert (row.kind, row.origin, row.interval_seconds) == ("caldav", "web", 900)
    assert row.settings == {
        "url": radicale.url, "username": radicale.username, "calendars": ["Sales calendar"],
        "past": "30d", "future": "90d", "tls_verify": True,
    }  # fmt: skip
    assert row.secret is not None and radicale.password.encode() not in row.secret
    assert SecretBox(config.secrets.keys()).decrypt(row.secret) == radicale.password
    edit = _text(admin.get(f"/admin/accounts/{row.id}/edit"))
    assert "Sales calendar" in edit and radicale.password not in edit
    [result] = Runner(config, sessions).sync_all(only="alice-calendar")
    assert result.error == "", result.error
    with sessions() as session:
        [run] = session.scalars(select(SyncRun)).all()
        assert run.status == "ok"
        titles = session.scalars(select(Interaction.subject)).all()
    assert titles == ["Visit at Ann's"]


def test_a_carddav_account_imports_with_the_chosen_policy(
    admin: Browser,
    config: Config,
    sessions: sessionmaker[Session],
    radicale: RadicaleServer,
) -> None:
    book = radicale.make_addressbook(displayname="Shared contacts")
    radicale.put_card(book, "ann.vcf", vcard("ann-web", "Smith Ann", "ann@customer.example"))
    form = {
        "name": "alice-contacts",
        "url": radicale.url,
        "username": radicale.username,
        "password": radicale.password,
        "books": "Shared contacts",
        "policy": "import",
        "interval_minutes": "60",
        "enabled": "y",
    }
    url = "/admin/accounts/new?kind=carddav"
    answer = _test(admin, url, form)
    assert answer["ok"] is True and "Shared contacts" in answer["folders"], answer  # type: ignore[operator]
    assert admin.post(url, {**form, "action": "save"}).status_code == 302
    assert _row(sessions, "alice-contacts").settings["policy"] == "import"
    [result] = Runner(config, sessions).sync_all(only="alice-contacts")
    assert result.error == "", result.error
    with sessions() as session:
        assert session.scalars(select(Person.display_name)).all() == ["Smith Ann"]


def test_a_files_account_reads_only_under_the_open_folders(
    admin: Browser, config: Config, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    mail = EmailMessage()
    mail["From"], mail["To"] = "ann@customer.example", "alice@example.com"
    mail["Subject"], mail["Message-ID"] = "Archive", "<archive-1@customer.example>"
    mail.set_content("from the archive")
    archive = maildir(tmp_path / "imports" / "archive", {"INBOX": [bytes(mail)]})
    outside = maildir(tmp_path / "elsewhere", {"INBOX": [bytes(mail)]})
    url = "/admin/accounts/new?kind=files"
    form = {"name": "archive", "format": "maildir", "past_days": "365", "future_days": "365",
            "interval_minutes": "60", "enabled": "y"}  # fmt: skip
    for path in (outside, tmp_path / "imports" / ".." / "elsewhere"):
        answer = _test(admin, url, {**form, "path": str(path)})
        assert answer["ok"] is False and "not under a folder open to the web view" in str(
            answer["message"]
        )
        page = admin.post(url, {**form, "path": str(path), "action": "save"})
        assert page.status_code == 400
        assert "not under a folder open to the web view" in _text(page)
    answer = _test(admin, url, {**form, "path": str(archive)})
    assert answer == {
        "ok": True,
        "folders": ["INBOX"],
        "message": "Read the folder; 1 collection.",
    }
    assert admin.post(url, {**form, "path": str(archive), "action": "save"}).status_code == 302
    row = _row(sessions, "archive")
    assert row.secret is None and row.settings["path"] == str(archive)
    [result] = Runner(config, sessions).sync_all(only="archive")
    assert result.error == "" and result.ingest.new == 1, result


def test_a_stored_account_whose_settings_no_longer_hold_needs_attention(
    admin: Browser, config: Config, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    with sessions.begin() as session:
        session.add(
            Account(
                name="moved", kind="files", origin="web",
                settings={"path": str(tmp_path / "elsewhere"), "format": "maildir"},
            )
        )  # fmt: skip
    [result] = Runner(config, sessions).sync_all(only="moved")
    assert result.auth_failed and "not under a folder open to the web view" in result.error
    assert _row(sessions, "moved").needs_attention


def test_an_exchange_account_tested_in_words_then_saved(
    admin: Browser, config: Config, sessions: sessionmaker[Session], ews: EwsServer
) -> None:
    ews.add_user("svc-crm", "svc-pass-123", impersonation=True)
    ews.add_mailbox("alice@example.com")
    form = {
        "name": "exchange",
        "url": ews.url,
        "username": "svc-crm",
        "password": "svc-pass-123",
        "auth": "basic",
        "access": "impersonation",
        "version": "auto",
        "mailboxes": "alice@example.com\nnobody@example.com",
        "folders": "Inbox\nSent Items",
        "calendar": "y",
        "contacts": "y",
        "policy": "enrich",
        "interval_minutes": "5",
        "enabled": "y",
        "tls_verify": "y",
    }
    url = "/admin/accounts/new?kind=ews"
    answer = _test(admin, url, form)
    assert answer["ok"] is False and "no mailbox nobody@example.com" in str(answer["message"])
    answer = _test(admin, url, {**form, "mailboxes": "alice@example.com"})
    assert answer == {
        "ok": True,
        "folders": ["alice@example.com: Inbox, Sent Items, Calendar, Contacts"],
        "message": "Logged in; 1 mailbox.",
    }
    bad = admin.post(url, {**form, "version": "2007", "action": "save"})
    assert bad.status_code == 400 and 'expected "auto", "2013"' in _text(bad)
    saved = admin.post(url, {**form, "mailboxes": "alice@example.com", "action": "save"})
    assert saved.status_code == 302
    row = _row(sessions, "exchange")
    assert row.kind == "ews" and row.settings["mailboxes"] == ["alice@example.com"]
    assert "svc-pass-123" not in repr(row.settings)
    [result] = Runner(config, sessions).sync_all(only="exchange")
    assert result.error == "", result.error


def test_an_imap_account_with_since_and_idle_from_the_form(
    admin: Browser,
    config: Config,
    sessions: sessionmaker[Session],
    dovecot: DovecotServer,
    imap_user: ImapUser,
) -> None:
    old, new = EmailMessage(), EmailMessage()
    for mail, n in ((old, 1), (new, 2)):
        mail["From"], mail["To"] = "ann@customer.example", imap_user.name
        mail["Subject"], mail["Message-ID"] = f"Mail {n}", f"<since-{n}@customer.example>"
        mail.set_content("text")
    client = dovecot.client(imap_user.name)
    client.append("INBOX", bytes(old), msg_time=datetime(2023, 7, 3, tzinfo=UTC))
    client.append("INBOX", bytes(new), msg_time=datetime.now(UTC))
    client.logout()
    url = "/admin/accounts/new?kind=imap"
    form = {"name": "bob-mail", "host": "127.0.0.1", "port": str(imap_user.port),
            "security": "none", "username": imap_user.name, "password": imap_user.password,
            "folders": "INBOX", "since": "2024-01-01", "idle": "y", "interval_minutes": "60",
            "enabled": "y", "action": "save"}  # fmt: skip
    admin.get(url)
    assert admin.post(url, form).status_code == 302
    row = _row(sessions, "bob-mail")
    assert (row.settings["since"], row.settings["idle"]) == ("2024-01-01", True)
    page = _text(admin.get(f"/admin/accounts/{row.id}/edit"))
    assert "Only mail received on or after" in page and "IMAP IDLE" in page
    edit = admin.get(f"/admin/accounts/{row.id}/edit").get_data(as_text=True)
    assert 'value="2024-01-01"' in edit  # shown again as stored
    [result] = Runner(config, sessions).sync_all(only="bob-mail")
    assert result.error == "" and result.ingest.new == 1, result  # the 2023 mail left out
