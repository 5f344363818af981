"""What sync keeps between runs: accounts, cursors, runs, folder status, requests, quarantine.

The runner calls these inside the transaction that stores a batch, so the
cursor moves forward exactly when the batch is stored.

``Account.updated_at`` means "the account's settings changed": the worker
reschedules an account when it moves. So the status that sync writes on an
account (last error, needs attention, next run) is written without moving it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from adapters.records import ItemFailure
from crm.models import (
    Account,
    FolderStatus,
    QuarantineItem,
    SyncCursor,
    SyncRequest,
    SyncRun,
    utcnow,
)

TRIGGERS = ("schedule", "request", "manual")
ZERO = timedelta(0)


def ensure_account(
    session: Session,
    name: str,
    kind: str,
    owner: str = "",
    origin: str = "config",
    role: str | None = None,
) -> Account:
    """The account row for a configured account, created on first use, kept in step
    (``role`` when given: callers that do not know it leave it as it is)."""
    account = session.scalars(select(Account).where(Account.name == name)).one_or_none()
    if account is None:
        account = Account(name=name, kind=kind, owner=owner, origin=origin, role=role or "mailbox")
        session.add(account)
    account.kind, account.owner = kind, owner
    if role is not None:
        account.role = role
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


def start_run(
    session: Session, account: Account, trigger: str = "manual", worker: str = ""
) -> SyncRun:
    """Open the record of one sync pass; ``trigger`` says who asked for it
    (``schedule``, ``request`` from the web view, or ``manual`` from the command line),
    ``worker`` which process runs it.

    The caller holds the account (:mod:`crm.locks`), so a run of it still open was
    left by a process that ended mid-run: it is closed as stopped.
    """
    if trigger not in TRIGGERS:
        raise ValueError(f"unknown trigger {trigger!r}")
    now = utcnow()
    for left in session.scalars(
        select(SyncRun).where(SyncRun.account_id == account.id, SyncRun.status == "running")
    ):
        left.status, left.finished_at = "stopped", now
        who = f" ({left.worker})" if left.worker else ""
        went_on = worker or "the next run"
        left.error = f"the worker{who} ended before this run did; {went_on} went on"
    run = SyncRun(account_id=account.id, trigger=trigger, worker=worker, started_at=now)
    session.add(run)
    session.flush()
    return run


def finish_run(
    session: Session,
    run: SyncRun,
    account: Account,
    error: str = "",
    needs_attention: bool = False,
    *,
    stopped: bool = False,
    due: Callable[[int], datetime | None] | None = None,
) -> None:
    """Close the record of a pass and set the account's status from it.

    ``stopped``: the pass was cut short by a shutdown (not a failure: the account
    stays due, for the next worker). ``due(failures)`` gives the account's next due
    time from its failures in a row after this pass (0 after a success).
    """
    run.finished_at = utcnow()
    run.status = "stopped" if stopped else "failed" if error else "ok"
    run.error = error
    status: dict[str, Any] = {"items_total": Account.items_total + run.new_count}
    if stopped:  # due at once: the next worker goes on where this one stopped
        _set_status(session, account.id, **status, next_run_at=run.finished_at)
        return
    failures = account.failures + 1 if error else 0
    status.update(last_error=error, needs_attention=needs_attention, failures=failures)
    if error:
        status["errors_total"] = Account.errors_total + 1
    else:
        status["last_success_at"] = run.finished_at
    if due is not None:
        status["next_run_at"] = due(failures)
    _set_status(session, account.id, **status)


def record_folder(
    session: Session,
    account_id: int,
    collection_id: str,
    name: str,
    *,
    new: int = 0,
    known: int = 0,
    quarantined: int = 0,
    error: str = "",
    ok: bool = False,
    started_at: datetime | None = None,
) -> FolderStatus:
    """Note what a pass over one collection (folder) brought, and how it ended.

    ``started_at`` identifies the pass: the first call of a new pass starts the
    ``last_*`` counts over, later calls of the same pass add to them (the runner
    calls this once per stored batch, in the batch's transaction, then once more
    when the folder is done). ``total_new`` adds up over all passes. ``ok`` marks
    the pass as complete (``last_success_at``, no error); ``error`` is the reason
    the pass failed, in words for a person.
    """
    started_at = started_at or utcnow()
    row = _folder_row(session, account_id, collection_id)
    if row.last_run_at != started_at:
        row.last_run_at, row.last_error = started_at, ""
        row.last_new = row.last_known = row.last_quarantined = 0
    row.name = name
    row.last_new += new
    row.last_known += known
    row.last_quarantined += quarantined
    row.total_new += new
    if error:
        row.last_error = error
    elif ok:
        row.last_success_at, row.last_error = utcnow(), ""
    session.flush()
    return row


def _folder_row(session: Session, account_id: int, collection_id: str) -> FolderStatus:
    row = session.scalars(
        select(FolderStatus).where(
            FolderStatus.account_id == account_id, FolderStatus.collection == collection_id
        )
    ).one_or_none()
    if row is None:
        row = FolderStatus(
            account_id=account_id, collection=collection_id, total_new=0, last_error=""
        )
        row.last_new = row.last_known = row.last_quarantined = 0
        session.add(row)
    return row


def request_sync(session: Session, account_id: int, requested_by: str = "") -> SyncRequest:
    """Ask the worker to sync an account now ("sync now" in the web view).

    The worker may be another process: the request waits in the database until
    :func:`take_requests` takes it. An account with a request still open gets no
    second one; the open one is returned.
    """
    open_request = session.scalars(
        select(SyncRequest)
        .where(SyncRequest.account_id == account_id, SyncRequest.taken_at.is_(None))
        .order_by(SyncRequest.id)
        .limit(1)
    ).first()
    if open_request is not None:
        return open_request
    request = SyncRequest(account_id=account_id, requested_by=requested_by, requested_at=utcnow())
    session.add(request)
    session.flush()
    return request


def take_requests(session: Session, busy: Collection[int] = ()) -> list[int]:
    """Mark every open sync request taken; return their account ids, oldest first, once each.

    Requests for ``busy`` accounts (another worker is syncing them) stay open until they
    are free. On PostgreSQL the rows are locked with ``SKIP LOCKED``, so two workers
    polling at once never take the same request (SQLite ignores the clause: it has one
    writer).
    """
    requests = session.scalars(
        select(SyncRequest)
        .where(SyncRequest.taken_at.is_(None), SyncRequest.account_id.not_in(list(busy)))
        .order_by(SyncRequest.requested_at, SyncRequest.id)
        .with_for_update(skip_locked=True)
    ).all()
    now = utcnow()
    for request in requests:
        request.taken_at = now
    session.flush()
    return list(dict.fromkeys(request.account_id for request in requests))


def set_next_run(session: Session, account_id: int, when: datetime | None) -> None:
    """Note when the scheduler will run the account next (None: not scheduled)."""
    _set_status(session, account_id, next_run_at=when)


def claim_due(
    session: Session, name: str, lease: timedelta, worker: str = "", grace: timedelta = ZERO
) -> int | None:
    """Take the account ``name`` for a scheduled run if it is due: its due time moves
    ``lease`` ahead (the run sets the real one when it ends; a worker that dies leaves
    it due again after ``lease``). Its id, or None when it is not due (another worker
    took or ran it, or its login was refused). One statement, so two workers asking at
    once cannot both win.

    The worker that claimed it last (``last_worker``) may take it as soon as it is due;
    another ``worker`` only ``grace`` later, when that one is busy or gone.
    """
    now = utcnow()
    return session.scalar(
        update(Account)
        .where(
            Account.name == name,
            Account.needs_attention.is_(False),
            or_(
                Account.next_run_at.is_(None),
                and_(
                    Account.next_run_at <= now,
                    or_(Account.last_worker.in_(("", worker)), Account.next_run_at <= now - grace),
                ),
            ),
        )
        .values(next_run_at=now + lease, last_worker=worker, updated_at=Account.updated_at)
        .returning(Account.id)
    )


def reset_attention(session: Session, account_id: int) -> None:
    """Clear "needs attention" and the failures in a row, and make the account due now
    (after its password or settings were fixed)."""
    _set_status(session, account_id, needs_attention=False, failures=0, next_run_at=None)


def _set_status(session: Session, account_id: int, **values: Any) -> None:
    """Write status columns of an account without moving ``updated_at`` (see the module)."""
    session.execute(
        update(Account)
        .where(Account.id == account_id)
        .values(**values, updated_at=Account.updated_at)
        .execution_options(synchronize_session="fetch")
    )
