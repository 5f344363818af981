"""Accounts added in the web view: read from the database, synced from a real Dovecot."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from crm.models import Account, FolderStatus, SyncRun
from crm.secrets import SecretBox, generate_key
from crm.syncstate import ensure_account
from sync.config import ConfigError
from sync.runner import Runner
from sync.stored import all_accounts, stored_accounts
from tests.mailgen import messages
from tests.servers.dovecot import DovecotServer, ImapUser
from tests.sync.helpers import (
    account_row,
    add_web_account,
    change_web_account,
    files_account,
    maildir,
    make_config,
    runs,
)

NOWHERE = ImapUser("nobody", "pw-of-nobody", "127.0.0.1", 1)


def test_web_rows_become_imap_accounts(
    tmp_path: Path, db_url: str, sessions: sessionmaker[Session]
) -> None:
    config = make_config(tmp_path, db_url)
    add_web_account(sessions, config, "bob-mail", NOWHERE, password="s3cret-Pw", interval=60)
    add_web_account(sessions, config, "old-mail", NOWHERE, enabled=False, folders=["Archive"])
    with sessions.begin() as session:
        ensure_account(session, "from-the-file", "files")  # origin config: not a web account
    with sessions() as session:
        bob, old = stored_accounts(session, SecretBox(config.secrets.keys()))
    assert (bob.name, bob.kind, bob.host, bob.port, bob.security) == (
        "bob-mail", "imap", "127.0.0.1", 1, "none",
    )  # fmt: skip
    assert (bob.username, bob.folders, bob.interval_seconds, bob.enabled) == (
        "nobody", ("INBOX", "\\Sent"), 60, True,
    )  # fmt: skip
    assert bob.password() == "s3cret-Pw"
    assert "s3cret-Pw" not in repr(bob)
    assert (old.enabled, old.folders, old.interval_seconds) == (False, ("Archive",), 300)


def test_a_password_that_does_not_decrypt_is_an_error_naming_the_account(
    tmp_path: Path, db_url: str, sessions: sessionmaker[Session]
) -> None:
    config = make_config(tmp_path, db_url)
    add_web_account(sessions, config, "bob-mail", NOWHERE, password="s3cret-Pw")
    with sessions() as session:
        [other_key] = stored_accounts(session, SecretBox(generate_key()))
        [no_key] = stored_accounts(session, None)
    for account in (other_key, no_key):
        with pytest.raises(ConfigError, match='account "bob-mail"') as raised:
            account.password()
        assert "s3cret-Pw" not in str(raised.value)
    with pytest.raises(ConfigError, match="does not decrypt"):
        other_key.password()


def test_settings_that_would_send_the_password_in_clear_are_refused(
    tmp_path: Path, db_url: str, sessions: sessionmaker[Session]
) -> None:
    config = make_config(tmp_path, db_url)
    add_web_account(sessions, config, "bob-mail", NOWHERE)
    settings = {**account_row(sessions, "bob-mail").settings, "host": "mail.example.org"}
    change_web_account(sessions, "bob-mail", settings=settings)
    [account] = all_accounts(config, sessions)
    with pytest.raises(
        ConfigError, match=r'settings\.security: "none" sends the password unencrypted'
    ):
        account.password()


def test_all_accounts_are_the_files_then_the_web_ones(
    tmp_path: Path,
    db_url: str,
    sessions: sessionmaker[Session],
    caplog: pytest.LogCaptureFixture,
) -> None:
    box = maildir(tmp_path / "mail", {"INBOX": []})
    config = make_config(tmp_path, db_url, [files_account("archive", box)])
    add_web_account(sessions, config, "bob-mail", NOWHERE)
    add_web_account(sessions, config, "archive", NOWHERE)  # the file's name: the file wins
    assert [(a.name, a.kind) for a in all_accounts(config, sessions)] == [
        ("archive", "files"),
        ("bob-mail", "imap"),
    ]
    assert "in the config file and in the web view" in caplog.text


def test_a_web_account_syncs_from_dovecot(
    tmp_path: Path,
    db_url: str,
    sessions: sessionmaker[Session],
    dovecot: DovecotServer,
    imap_user: ImapUser,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    dovecot.append(imap_user.name, "INBOX", messages(3, seed=11))
    dovecot.append(imap_user.name, "Sent", messages(2, seed=12))
    config = make_config(tmp_path, db_url, batch_max_items=2)
    add_web_account(sessions, config, "bob-mail", imap_user)
    [result] = Runner(config, sessions).sync_all()
    assert result.ok, result.error
    assert result.ingest.new + result.ingest.known + result.ingest.skipped == 5
    [run] = runs(sessions, "bob-mail")
    assert (run.trigger, run.status, run.new_count) == ("manual", "ok", result.ingest.new)
    with sessions() as session:
        folders = {f.collection: f for f in session.scalars(select(FolderStatus))}
    assert set(folders) == {"INBOX", "Sent"}
    assert sum(f.last_new for f in folders.values()) == result.ingest.new
    assert all(f.last_success_at and not f.last_error for f in folders.values())
    assert imap_user.password not in caplog.text


def test_a_wrong_stored_password_needs_attention(
    tmp_path: Path,
    db_url: str,
    sessions: sessionmaker[Session],
    imap_user: ImapUser,
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = make_config(tmp_path, db_url)
    add_web_account(sessions, config, "bob-mail", imap_user, password="not-the-password")
    [result] = Runner(config, sessions).sync_all()
    assert result.auth_failed and "login refused" in result.error
    row = account_row(sessions, "bob-mail")
    assert row.needs_attention and "login refused" in row.last_error
    assert "not-the-password" not in caplog.text + row.last_error
    with sessions() as session:
        assert session.scalars(select(SyncRun.status)).all() == ["failed"]
        assert session.scalars(select(Account.origin)).all() == ["web"]
