"""What sync keeps between runs: accounts, cursors, runs and the quarantine.

The runner calls these inside the transaction that stores a batch, so the
cursor moves forward exactly when the batch is stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from adapters.records import ItemFailure
from crm.models import Account, QuarantineItem, SyncCursor, SyncRun, utcnow


def ensure_account(
    session: Session, name: str, kind: str, owner: str = "", origin: str = "config"
) -> Account:
    """The account row for a configured account, created on first use, kept in step."""
    account = session.scalars(select(Account).where(Account.name == name)).one_or_none()
    if account is None:
        account = Account(name=name, kind=kind, owner=owner, origin=origin)
        session.add(account)
    account.kind, account.owner = kind, owner
    session.flush()
    return account


def load_cursor(session: Session, account_id: int, collection: str) -> dict[str, Any] | None:
    """The cursor after the last stored batch of this collection, or None."""
    return session.scalars(
        select(SyncCursor.cursor).where(
            SyncCursor.account_id == account_id, SyncCursor.collection == collection
        )
    ).one_or_none()


def save_cursor(
    session: Session, account_id: int, collection: str, cursor: dict[str, Any] | None
) -> None:
    """Store (or, with None, forget) the cursor of a collection."""
    row = session.scalars(
        select(SyncCursor).where(
            SyncCursor.account_id == account_id, SyncCursor.collection == collection
        )
    ).one_or_none()
    if cursor is None:
        if row is not None:
            session.delete(row)
    elif row is None:
        session.add(SyncCursor(account_id=account_id, collection=collection, cursor=cursor))
    else:
        row.cursor = cursor
    session.flush()


def quarantine(
    session: Session, account_id: int, collection: str, failures: Sequence[ItemFailure]
) -> int:
    """Keep items that could not be read, with reason and raw bytes; returns how many are new."""
    added = 0
    for failure in failures:
        row = session.scalars(
            select(QuarantineItem).where(
                QuarantineItem.account_id == account_id,
                QuarantineItem.collection == collection,
                QuarantineItem.remote_id == failure.remote_id,
            )
        ).one_or_none()
        if row is None:
            session.add(
                QuarantineItem(
                    account_id=account_id,
                    collection=collection,
                    remote_id=failure.remote_id,
                    reason=failure.reason,
                    raw=failure.raw,
                )
            )
            added += 1
        else:
            row.reason, row.raw = failure.reason, failure.raw
    session.flush()
    return added


def start_run(session: Session, account: Account) -> SyncRun:
    """Open the record of one sync pass."""
    run = SyncRun(account_id=account.id)
    session.add(run)
    session.flush()
    return run


def finish_run(
    session: Session, run: SyncRun, account: Account, error: str = "", needs_attention: bool = False
) -> None:
    """Close the record of a pass and set the account's status from it."""
    run.finished_at = utcnow()
    run.status = "failed" if error else "ok"
    run.error = error
    account.last_error = error
    account.needs_attention = needs_attention
    if not error:
        account.last_success_at = run.finished_at
    session.flush()
