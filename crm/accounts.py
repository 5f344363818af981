"""Accounts as the web view shows and edits them: status per folder, and web-added accounts.

Accounts from the config file are shown read-only; accounts added in the web
view keep their connection settings in ``Account.settings`` and their password
encrypted in ``Account.secret`` (see :mod:`crm.secrets`; the key is never here).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm import audit
from crm.models import Account, FolderStatus, SyncCursor, SyncRequest, SyncRun


class AccountError(ValueError):
    """Raised for a change that cannot be made (a taken name, a config account)."""


@dataclass(frozen=True)
class FolderView:
    """One collection of an account: its last pass and how old its cursor is."""

    collection: str
    name: str
    status: FolderStatus | None
    cursor_updated_at: datetime | None


@dataclass(frozen=True)
class AccountStatus:
    """An account with its last run, its folders and whether a "sync now" is pending."""

    account: Account
    last_run: SyncRun | None
    folders: list[FolderView]
    request_pending: bool
    running: bool


def list_accounts(session: Session) -> list[Account]:
    """Every account, config ones first, by name."""
    return list(session.scalars(select(Account).order_by(Account.origin, Account.name)))


def get_account(session: Session, account_id: int) -> Account | None:
    """One account by id."""
    return session.get(Account, account_id)


def account_statuses(session: Session, account: Account | None = None) -> list[AccountStatus]:
    """The status of every account (or of ``account`` only), for the sync status pages."""
    accounts = [account] if account is not None else list_accounts(session)
    last_runs = _last_runs(session)
    pending = set(
        session.scalars(select(SyncRequest.account_id).where(SyncRequest.taken_at.is_(None)))
    )
    folders = _folders(session)
    return [
        AccountStatus(
            account=a,
            last_run=last_runs.get(a.id),
            folders=folders.get(a.id, []),
            request_pending=a.id in pending,
            running=(run := last_runs.get(a.id)) is not None and run.status == "running",
        )
        for a in accounts
    ]


def recent_runs(session: Session, account_id: int, limit: int = 20) -> list[SyncRun]:
    """The newest runs of an account."""
    return list(
        session.scalars(
            select(SyncRun)
            .where(SyncRun.account_id == account_id)
            .order_by(SyncRun.started_at.desc(), SyncRun.id.desc())
            .limit(limit)
        )
    )


def add_web_account(
    session: Session,
    *,
    name: str,
    kind: str,
    owner: str,
    settings: dict[str, Any],
    secret: bytes | None,
    interval_seconds: float | None,
    actor: str = "system",
) -> Account:
    """A new account added in the web view; :class:`AccountError` if the name is taken."""
    if session.scalars(select(Account.id).where(Account.name == name)).first() is not None:
        raise AccountError(f"an account named {name!r} exists already")
    account = Account(
        name=name,
        kind=kind,
        owner=owner,
        origin="web",
        settings=settings,
        secret=secret,
        interval_seconds=interval_seconds,
    )
    session.add(account)
    session.flush()
    audit.record(session, actor, "account.create", name, kind=kind, owner=owner)
    return account


def update_web_account(
    session: Session,
    account: Account,
    *,
    owner: str,
    settings: dict[str, Any],
    secret: bytes | None,
    interval_seconds: float | None,
    enabled: bool,
    actor: str = "system",
) -> None:
    """Change a web account; ``secret=None`` keeps the stored password. New settings clear
    "needs attention": the next run tries them."""
    _editable(account)
    account.owner = owner
    account.settings = settings
    if secret is not None:
        account.secret = secret
    account.interval_seconds = interval_seconds
    account.enabled = enabled
    account.needs_attention = False
    session.flush()
    audit.record(
        session, actor, "account.update", account.name, password_changed=secret is not None
    )


def set_enabled(
    session: Session, account: Account, enabled: bool, *, actor: str = "system"
) -> None:
    """Enable or disable a web account."""
    _editable(account)
    account.enabled = enabled
    if enabled:
        account.needs_attention = False
    session.flush()
    audit.record(session, actor, f"account.{'enable' if enabled else 'disable'}", account.name)


def _editable(account: Account) -> None:
    if account.origin != "web":
        raise AccountError(f"account {account.name!r} comes from the config file; change it there")


def _last_runs(session: Session) -> dict[int, SyncRun]:
    newest = (
        select(SyncRun.account_id, func.max(SyncRun.id).label("run_id"))
        .group_by(SyncRun.account_id)
        .subquery()
    )
    runs = session.scalars(select(SyncRun).join(newest, SyncRun.id == newest.c.run_id))
    return {run.account_id: run for run in runs}


def _folders(session: Session) -> dict[int, list[FolderView]]:
    statuses = {(f.account_id, f.collection): f for f in session.scalars(select(FolderStatus))}
    cursors = {
        (account_id, collection): updated
        for account_id, collection, updated in session.execute(
            select(SyncCursor.account_id, SyncCursor.collection, SyncCursor.updated_at)
        )
    }
    out: dict[int, list[FolderView]] = {}
    for key in sorted(set(statuses) | set(cursors)):
        status = statuses.get(key)
        name = status.name if status is not None and status.name else key[1]
        out.setdefault(key[0], []).append(FolderView(key[1], name, status, cursors.get(key)))
    return out
