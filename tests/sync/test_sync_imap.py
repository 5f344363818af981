"""crmsync against a real Dovecot: incremental, exactly once, never marks mail read."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from adapters.errors import ItemError
from adapters.mime import parse_mail
from crm.models import Account, Interaction, InteractionSource, QuarantineItem, SyncCursor, SyncRun
from sync.config import Config, parse_config
from sync.runner import AccountResult, Runner
from tests.corpus import mail_messages
from tests.mailgen import messages
from tests.servers.dovecot import DovecotServer, ImapUser

NO_MESSAGE_ID = (
    b"From: Ingrid Solberg <ingrid.solberg@fjordlys.example>\r\n"
    b"To: alice@example.com\r\nSubject: =?utf-8?q?Innkj=C3=B8p?=\r\n"
    b"Date: Mon, 2 Nov 2026 10:00:00 +0100\r\n\r\nHei Alice, kan dere sende et tilbud?\r\n"
)

MakeConfig = Callable[..., Config]


@pytest.fixture
def make_config(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> MakeConfig:
    """A config with one IMAP account per given user (passwords through the environment)."""

    def make(*users: ImapUser, **sync: object) -> Config:
        accounts = []
        for user in users:
            variable = "PW_" + user.name.replace("-", "_").upper()
            monkeypatch.setenv(variable, user.password)
            accounts.append(
                {
                    "name": user.name,
                    "kind": "imap",
                    "host": user.host,
                    "port": user.port,
                    "security": "none",
                    "username": user.name,
                    "password_env": variable,
                }
            )
        data = {
            "database": {"url": db_url},
            "crm": {"internal_domains": ["example.com"]},
            "archive": {"path": "archive"},
            "sync": sync,
            "accounts": accounts,
        }
        return parse_config(data, base_dir=tmp_path)

    return make


def count(sessions: sessionmaker[Session], model: type) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def sync(config: Config, sessions: sessionmaker[Session]) -> list[AccountResult]:
    results = Runner(config, sessions).sync_all()
    assert all(r.ok for r in results), [r.error for r in results]
    return results


def test_initial_then_incremental_sync(
    dovecot: DovecotServer,
    imap_user: ImapUser,
    make_config: MakeConfig,
    sessions: sessionmaker[Session],
) -> None:
    mails = messages(12, seed=1)
    dovecot.append(imap_user.name, "INBOX", mails[:5])
    dovecot.append(imap_user.name, "Sent", mails[5:7])
    config = make_config(imap_user, batch_max_items=2)
    [first] = sync(config, sessions)
    assert first.ingest.new + first.ingest.skipped == 7
    dovecot.append(imap_user.name, "INBOX", mails[7:12])
    [second] = sync(config, sessions)
    assert (second.ingest.new + second.ingest.skipped, second.ingest.known) == (5, 0)
    [third] = sync(config, sessions)
    assert (third.ingest.new, third.ingest.known) == (0, 0)
    assert count(sessions, Interaction) == first.ingest.new + second.ingest.new
    with sessions() as session:
        folders = set(session.scalars(select(SyncCursor.collection)))
        runs = session.scalars(select(SyncRun.status)).all()
    assert folders == {"INBOX", "Sent"}
    assert runs == ["ok", "ok", "ok"]


def test_nothing_is_marked_seen(
    dovecot: DovecotServer,
    imap_user: ImapUser,
    make_config: MakeConfig,
    sessions: sessionmaker[Session],
) -> None:
    dovecot.append(imap_user.name, "INBOX", messages(4, seed=2))
    sync(make_config(imap_user), sessions)
    with dovecot.client(imap_user.name) as imap:
        imap.select_folder("INBOX", readonly=True)
        flags = imap.get_flags(imap.search("ALL"))
    assert len(flags) == 4
    assert all(b"\\Seen" not in f for f in flags.values())


def test_uidvalidity_change_starts_over_without_duplicates(
    dovecot: DovecotServer,
    imap_user: ImapUser,
    make_config: MakeConfig,
    sessions: sessionmaker[Session],
) -> None:
    dovecot.append(imap_user.name, "INBOX", messages(6, seed=3))
    config = make_config(imap_user)
    [first] = sync(config, sessions)
    dovecot.reset_uidvalidity(imap_user.name, "INBOX")
    [again] = sync(config, sessions)
    assert again.ingest.new == 0
    assert again.ingest.known == first.ingest.new
    assert count(sessions, Interaction) == first.ingest.new
    assert count(sessions, InteractionSource) == first.ingest.new


def test_one_mail_in_two_mailboxes_is_one_interaction(
    dovecot: DovecotServer,
    imap_user: ImapUser,
    make_config: MakeConfig,
    sessions: sessionmaker[Session],
) -> None:
    other = ImapUser(
        "bob-" + imap_user.name, "pw-" + imap_user.password, imap_user.host, imap_user.port
    )
    dovecot.add_user(other.name, other.password)
    [mail] = messages(1, seed=4)
    dovecot.append(imap_user.name, "INBOX", [mail])
    dovecot.append(other.name, "Sent", [mail])
    dovecot.append(other.name, "INBOX", [mail])
    results = sync(make_config(imap_user, other), sessions)
    assert sum(r.ingest.new for r in results) == 1
    assert sum(r.ingest.known for r in results) == 2
    with sessions() as session:
        seen = session.execute(
            select(Account.name, InteractionSource.collection).join(Account)
        ).all()
    assert sorted(seen) == sorted(
        [(imap_user.name, "INBOX"), (other.name, "Sent"), (other.name, "INBOX")]
    )


def test_mail_without_message_id_is_stored_once(
    dovecot: DovecotServer,
    imap_user: ImapUser,
    make_config: MakeConfig,
    sessions: sessionmaker[Session],
) -> None:
    dovecot.append(imap_user.name, "INBOX", [NO_MESSAGE_ID])
    config = make_config(imap_user)
    sync(config, sessions)
    # the same mail again, now as another copy with other trace headers and LF line ends
    copy = b"Received: from relay.example.org\n" + NO_MESSAGE_ID.replace(b"\r\n", b"\n")
    dovecot.append(imap_user.name, "INBOX", [copy])
    dovecot.append(imap_user.name, "Sent", [NO_MESSAGE_ID])
    sync(config, sessions)
    with sessions() as session:
        [interaction] = session.scalars(select(Interaction)).all()
        assert interaction.subject == "Innkjøp"
        assert interaction.dedupe_key.startswith("hash:")
        assert len(interaction.sources) == 2  # INBOX (both copies) and Sent


def unreadable(raw: bytes) -> bool:
    try:
        parse_mail(raw, remote_id="x")
    except ItemError:
        return True
    return False


def test_real_world_corpus_through_dovecot(
    corpus: Path,
    dovecot: DovecotServer,
    imap_user: ImapUser,
    make_config: MakeConfig,
    sessions: sessionmaker[Session],
) -> None:
    """Hostile mail (bad charsets, broken MIME, huge headers) is stored or quarantined;
    the sync never fails, and every message the server accepted is accounted for."""
    accepted: list[bytes] = []
    for _name, raw in mail_messages():
        try:
            dovecot.append(imap_user.name, "INBOX", [raw])
        except Exception:  # noqa: S112 - Dovecot refuses a few (bare NUL bytes): not ours
            continue
        accepted.append(raw)
    assert len(accepted) > 90
    config = make_config(imap_user, batch_max_items=25)
    [result] = sync(config, sessions)
    taken = result.ingest.new + result.ingest.known + result.ingest.skipped + result.quarantined
    assert taken == len(accepted)
    assert result.quarantined == sum(1 for raw in accepted if unreadable(raw))
    assert count(sessions, QuarantineItem) == result.quarantined
    assert count(sessions, Interaction) == result.ingest.new
    [again] = sync(config, sessions)
    assert (again.ingest.new, again.quarantined) == (0, 0)


def test_a_failing_account_is_reported_and_does_not_stop_the_others(
    dovecot: DovecotServer,
    imap_user: ImapUser,
    make_config: MakeConfig,
    sessions: sessionmaker[Session],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    dovecot.append(imap_user.name, "INBOX", messages(3, seed=5))
    wrong = ImapUser(
        "mallory-" + imap_user.name, "not-the-password", imap_user.host, imap_user.port
    )
    dovecot.add_user(wrong.name, "the-real-password")
    closed = ImapUser("gone-" + imap_user.name, "x", "127.0.0.1", 1)  # nothing listens there
    config = make_config(wrong, imap_user, closed)
    results = {r.account: r for r in Runner(config, sessions).sync_all()}
    assert results[imap_user.name].ok
    assert results[imap_user.name].ingest.new + results[imap_user.name].ingest.skipped == 3
    assert results[wrong.name].auth_failed
    assert "login refused" in results[wrong.name].error
    for secret in (wrong.password, imap_user.password):  # never in a message or a log line
        assert secret not in results[wrong.name].error
        assert secret not in caplog.text
    assert not results[closed.name].auth_failed
    assert "unreachable" in results[closed.name].error
    with sessions() as session:
        flagged = {
            a.name: (a.needs_attention, a.last_error) for a in session.scalars(select(Account))
        }
    assert flagged[wrong.name][0] is True
    assert flagged[closed.name][0] is False
    assert flagged[closed.name][1]
    assert flagged[imap_user.name] == (False, "")
