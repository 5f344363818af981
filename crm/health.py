"""How the sync is doing, read from the database: for ``/healthz``, ``/metrics`` and the sync
status page, whichever process runs the workers.

Everything here is computed from the columns the workers write (``Worker.seen_at`` every
few seconds, ``Account.next_run_at`` and the counters at the end of each run), so a web
process that runs no worker itself sees the same as one that does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from crm.models import Account, QuarantineItem, SyncRun, Worker

#: a worker not seen for this long is taken for dead (it writes seen_at every 5 s)
WORKER_GRACE = timedelta(seconds=60)
#: an account this far past its due time is overdue (a busy worker may start it late)
OVERDUE_GRACE = timedelta(minutes=10)


@dataclass(frozen=True)
class LiveWorker:
    """A worker seen within the grace: who, since when, and the accounts it syncs now."""

    name: str
    started_at: datetime
    seen_at: datetime
    running: tuple[str, ...]


@dataclass(frozen=True)
class Health:
    """The state of the sync as a load balancer or an admin asks for it (the database
    answered, or there would be no :class:`Health`)."""

    workers: tuple[LiveWorker, ...]
    #: enabled accounts, not waiting for an admin, further past their due time than the grace
    overdue: tuple[str, ...]
    needs_attention: tuple[str, ...]

    def status(self, *, expect_worker: bool = True) -> str:
        """``"down"`` when a worker is expected and none is alive, ``"degraded"`` when an
        account is overdue or needs attention, else ``"ok"``."""
        if expect_worker and not self.workers:
            return "down"
        if self.overdue or self.needs_attention:
            return "degraded"
        return "ok"


@dataclass(frozen=True)
class AccountMetrics:
    """One account's numbers for ``/metrics``."""

    name: str
    kind: str
    enabled: bool
    items_total: int
    errors_total: int
    #: failed runs in a row
    failures: int
    #: seconds since the last successful run; ``None`` if it never had one
    last_success_age: float | None
    #: seconds past its due time (0 when not due yet, disabled or waiting for an admin)
    lag: float
    needs_attention: bool
    #: some live worker is syncing it now
    running: bool
    quarantined: int


def live_workers(
    session: Session, now: datetime, grace: timedelta = WORKER_GRACE
) -> tuple[LiveWorker, ...]:
    """The workers seen within ``grace`` of ``now``, by name."""
    rows = session.scalars(
        select(Worker).where(Worker.seen_at >= now - grace).order_by(Worker.name)
    )
    return tuple(LiveWorker(w.name, w.started_at, w.seen_at, _names(w.running)) for w in rows)


def health(
    session: Session,
    now: datetime,
    *,
    worker_grace: timedelta = WORKER_GRACE,
    overdue_grace: timedelta = OVERDUE_GRACE,
) -> Health:
    """The live workers, the overdue accounts and those needing attention. A database that
    cannot be reached raises SQLAlchemy's error: the caller reports it."""
    accounts = session.scalars(select(Account).order_by(Account.name)).all()
    return Health(
        workers=live_workers(session, now, worker_grace),
        overdue=tuple(a.name for a in accounts if _lag(a, now) > overdue_grace.total_seconds()),
        needs_attention=tuple(a.name for a in accounts if a.needs_attention),
    )


def account_metrics(
    session: Session, now: datetime, *, worker_grace: timedelta = WORKER_GRACE
) -> list[AccountMetrics]:
    """One row per account, by name."""
    running = {name for w in live_workers(session, now, worker_grace) for name in w.running}
    quarantined: dict[int, int] = {
        account_id: count
        for account_id, count in session.execute(
            select(QuarantineItem.account_id, func.count()).group_by(QuarantineItem.account_id)
        )
    }
    return [
        AccountMetrics(
            name=a.name,
            kind=a.kind,
            enabled=a.enabled,
            items_total=a.items_total or 0,
            errors_total=a.errors_total or 0,
            failures=a.failures or 0,
            last_success_age=_age(a.last_success_at, now),
            lag=_lag(a, now),
            needs_attention=a.needs_attention,
            running=a.name in running,
            quarantined=quarantined.get(a.id, 0),
        )
        for a in session.scalars(select(Account).order_by(Account.name))
    ]


def prune_runs(session: Session, keep: timedelta, now: datetime) -> int:
    """Delete the finished runs that started more than ``keep`` before ``now``; how many.

    A running run is never deleted, nor the newest finished run of an account (the
    status page shows it as the last run, however old). The caller commits.
    """
    newest = (
        select(
            SyncRun.id,
            func.row_number()
            .over(
                partition_by=SyncRun.account_id,
                order_by=(SyncRun.started_at.desc(), SyncRun.id.desc()),
            )
            .label("rank"),
        )
        .where(SyncRun.status != "running")
        .subquery()
    )
    result = session.execute(
        delete(SyncRun)
        .where(
            SyncRun.started_at < now - keep,
            SyncRun.status != "running",
            SyncRun.id.not_in(select(newest.c.id).where(newest.c.rank == 1)),
        )
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def _names(running: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in running.split(",") if name.strip())


def _age(when: datetime | None, now: datetime) -> float | None:
    return None if when is None else max(0.0, (now - when).total_seconds())


def _lag(account: Account, now: datetime) -> float:
    """Seconds past the due time of an account that should be syncing, else 0."""
    if not account.enabled or account.needs_attention or account.next_run_at is None:
        return 0.0
    return max(0.0, (now - account.next_run_at).total_seconds())
