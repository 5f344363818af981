"""Building configs, web accounts and Maildirs for sync tests (real files and rows, no fakes)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from crm.db import will_write
from crm.models import Account, SyncRun
from crm.secrets import SecretBox, generate_key
from sync.config import Config, parse_config
from tests.servers.dovecot import ImapUser

T = TypeVar("T")


def make_config(
    tmp_path: Path,
    db_url: str,
    accounts: Sequence[dict[str, Any]] = (),
    *,
    web: dict[str, Any] | None = None,
    **sync: Any,
) -> Config:
    """A config on ``db_url`` with a fresh secret key in ``tmp_path/secret.key``."""
    key_file = tmp_path / "secret.key"
    if not key_file.exists():
        key_file.write_text(generate_key() + "\n")
    data = {
        "database": {"url": db_url},
        "crm": {"internal_domains": ["example.com"]},
        "archive": {"path": "archive"},
        "secrets": {"key_file": str(key_file), "key_env": "CRMSYNC_TEST_NO_SUCH_KEY"},
        "sync": sync,
        "accounts": list(accounts),
        "web": web or {},
    }
    return parse_config(data, base_dir=tmp_path)


def files_account(name: str, path: Path, **more: Any) -> dict[str, Any]:
    """A ``[[accounts]]`` table of kind files."""
    return {"name": name, "kind": "files", "path": str(path), **more}


def maildir(root: Path, folders: dict[str, Sequence[bytes]]) -> Path:
    """A Maildir++ tree at ``root``: ``INBOX`` is the top, other folders ``.Name``."""
    for folder, mails in folders.items():
        base = root if folder == "INBOX" else root / f".{folder}"
        for part in ("cur", "new", "tmp"):
            (base / part).mkdir(parents=True, exist_ok=True)
        for n, mail in enumerate(mails):
            (base / "new" / f"{1700000000 + n}.{n}.test").write_bytes(mail)
    return root


def add_web_account(
    sessions: sessionmaker[Session],
    config: Config,
    name: str,
    user: ImapUser,
    *,
    password: str | None = None,
    interval: float | None = None,
    enabled: bool = True,
    folders: Sequence[str] = ("INBOX", "\\Sent"),
) -> int:
    """An IMAP account as the web view stores it: settings as JSON, the password encrypted."""
    box = SecretBox(config.secrets.keys())
    with sessions.begin() as session:
        will_write(session)  # the worker writes at the same time (SQLite: one writer)
        row = Account(
            name=name,
            kind="imap",
            origin="web",
            enabled=enabled,
            settings={
                "host": user.host,
                "port": user.port,
                "security": "none",
                "username": user.name,
                "folders": list(folders),
                "tls_verify": True,
            },
            secret=box.encrypt(user.password if password is None else password),
            interval_seconds=interval,
        )
        session.add(row)
        session.flush()
        return row.id


def change_web_account(sessions: sessionmaker[Session], name: str, **values: Any) -> None:
    """Change columns of an account through the ORM, as the web view does."""
    with sessions.begin() as session:
        row = will_write(session).scalars(select(Account).where(Account.name == name)).one()
        for key, value in values.items():
            setattr(row, key, value)


def account_row(sessions: sessionmaker[Session], name: str) -> Account:
    with sessions() as session:
        return session.scalars(select(Account).where(Account.name == name)).one()


def runs(sessions: sessionmaker[Session], name: str) -> list[SyncRun]:
    """The account's runs, oldest first."""
    with sessions() as session:
        return list(
            session.scalars(
                select(SyncRun).join(Account).where(Account.name == name).order_by(SyncRun.id)
            )
        )


def wait_for(check: Callable[[], T], timeout: float = 8.0, what: str = "") -> T:
    """Poll ``check`` until it returns something true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what or check}")
        time.sleep(0.05)
