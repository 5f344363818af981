"""``crmsync sync --dry-run`` end to end against Dovecot and local mbox files: the counts
are what a real sync then stores, and the dry run itself stores nothing."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from crm.models import Account, Interaction, SyncCursor, SyncRun
from sync.cli import main
from tests.mailgen import messages
from tests.servers.dovecot import DovecotServer, ImapUser


def crmsync(config: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--config", str(config), *args], catch_exceptions=False)


def write_config(tmp_path: Path, db_url: str, accounts: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f'[database]\nurl = "{db_url}"\n[crm]\ninternal_domains = ["example.com"]\n'
        f'[archive]\npath = "archive"\n{accounts}'
    )
    return path


def imap_account(user: ImapUser, monkeypatch: pytest.MonkeyPatch, **extra: str) -> str:
    monkeypatch.setenv("DRYRUN_PW", user.password)
    lines = [
        "[[accounts]]",
        'name = "mail"',
        'kind = "imap"',
        f'host = "{user.host}"',
        f"port = {user.port}",
        'security = "none"',
        f'username = "{user.name}"',
        'password_env = "DRYRUN_PW"',
        *(f"{key} = {value}" for key, value in extra.items()),
    ]
    return "\n".join(lines) + "\n"


def counts(output: str) -> dict[str, str]:
    """{"account collection": "to fetch"} from the printed table."""
    found = {}
    for line in output.splitlines():
        cells = [c.strip() for c in re.split(r"[│┃|]", line) if c.strip()]
        if len(cells) == 3 and cells[0] != "account":
            found[f"{cells[0]} {cells[1]}"] = cells[2]
    return found


def stored(db_url: str) -> dict[str, int]:
    engine = create_engine(db_url)
    try:
        with Session(engine) as session:
            return {
                model.__name__: session.scalar(select(func.count()).select_from(model)) or 0
                for model in (Account, Interaction, SyncCursor, SyncRun)
            }
    finally:
        engine.dispose()


def test_dry_run_counts_what_sync_then_stores(
    dovecot: DovecotServer,
    imap_user: ImapUser,
    tmp_path: Path,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dovecot.append(imap_user.name, "INBOX", messages(7, seed=3))
    dovecot.append(imap_user.name, "Sent", messages(2, seed=4))
    config = write_config(tmp_path, db_url, imap_account(imap_user, monkeypatch))
    before = stored(db_url)

    result = crmsync(config, "sync", "--dry-run")
    assert result.exit_code == 0, result.output
    assert counts(result.output) == {
        "mail INBOX": "7",
        "mail Sent": "2",
        "mail (total)": "9",
    }
    assert "total: 9 item(s) to fetch" in result.output
    assert stored(db_url) == before  # no account row, no cursor, no run, no mail

    synced = crmsync(config, "sync")
    assert synced.exit_code == 0, synced.output
    assert stored(db_url)["Interaction"] == 9

    again = crmsync(config, "sync", "--dry-run", "--account", "mail")
    assert counts(again.output)["mail (total)"] == "0"
    dovecot.append(imap_user.name, "INBOX", messages(3, seed=5))
    cursors = stored(db_url)["SyncCursor"]
    later = crmsync(config, "sync", "--dry-run")
    assert counts(later.output)["mail INBOX"] == "3"
    assert stored(db_url)["SyncCursor"] == cursors


def test_dry_run_respects_since(
    dovecot: DovecotServer,
    imap_user: ImapUser,
    tmp_path: Path,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old, new = messages(4, seed=6), messages(3, seed=7)
    dovecot.append(imap_user.name, "INBOX", old, msg_time=datetime(2023, 5, 1, 12, tzinfo=UTC))
    dovecot.append(imap_user.name, "INBOX", new, msg_time=datetime(2024, 2, 1, 12, tzinfo=UTC))
    accounts = imap_account(imap_user, monkeypatch, since='"2024-01-01"')
    config = write_config(tmp_path, db_url, accounts)
    result = crmsync(config, "sync", "--dry-run")
    assert counts(result.output)["mail INBOX"] == "3"
    assert crmsync(config, "sync").exit_code == 0
    assert stored(db_url)["Interaction"] == 3


def test_files_account_dry_run(tmp_path: Path, db_url: str) -> None:
    mbox = tmp_path / "archive.mbox"
    mbox.write_bytes(
        b"".join(b"From someone Mon Jan  1 00:00:00 2024\n" + m for m in messages(5, seed=8))
    )
    accounts = '[[accounts]]\nname = "local"\nkind = "files"\npath = "archive.mbox"\n'
    config = write_config(tmp_path, db_url, accounts)
    result = crmsync(config, "sync", "--dry-run")
    assert counts(result.output)["local archive.mbox"] == "5"
    assert crmsync(config, "sync").exit_code == 0
    assert stored(db_url)["Interaction"] == 5
    assert counts(crmsync(config, "sync", "--dry-run").output)["local archive.mbox"] == "0"


def test_an_account_that_cannot_connect_fails_the_dry_run(
    imap_user: ImapUser, tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    accounts = imap_account(imap_user, monkeypatch).replace(
        'password_env = "DRYRUN_PW"', 'password_env = "DRYRUN_WRONG"'
    )
    monkeypatch.setenv("DRYRUN_WRONG", "not-the-password")
    config = write_config(tmp_path, db_url, accounts)
    before = stored(db_url)
    result = crmsync(config, "sync", "--dry-run")
    assert result.exit_code == 1
    assert "failed" in result.output
    assert "not-the-password" not in result.output
    assert stored(db_url) == before


def test_unknown_account_is_a_config_problem(tmp_path: Path, db_url: str) -> None:
    config = write_config(tmp_path, db_url, "")
    result = crmsync(config, "sync", "--dry-run", "--account", "nope")
    assert result.exit_code == 2
    assert 'no account named "nope"' in result.output
