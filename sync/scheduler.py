"""The worker: every enabled account on its interval, and "sync now" asked through the database.

An APScheduler ``BackgroundScheduler`` holds an interval job per enabled account
(config file and web view) and a poll job that takes the requests the web view
wrote (:func:`crm.syncstate.request_sync`), follows accounts added, changed or
disabled there, and writes ``Account.next_run_at`` for it to show. Web and worker
may be separate processes: all they share is the database. (One worker per
database for now: two would each run every account on their own schedule.)

- **One run at a time per account**, whoever asks: a run first claims its
  account; a scheduled run that finds it busy is dropped (the next interval
  comes), a requested one is kept and runs as soon as the busy one ends.
- **No retry storm**: an account whose login was refused is marked
  ``needs_attention`` and the schedule leaves it alone until its settings or
  password change in the web view (``updated_at`` moves), someone clears the
  mark (:func:`crm.syncstate.reset_attention`) or a requested run succeeds.
  Other failures (server unreachable or busy) try again after 1, 2, 4, ...
  minutes up to an hour, or as long as the server asked; a success ends that.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from crm.apppasswords import forget_markers
from crm.cards import refresh as refresh_cards
from crm.changes import prune_tombstones
from crm.db import is_postgresql
from crm.models import Account, utcnow
from crm.syncstate import reset_attention, set_next_run, take_requests
from sync.config import AccountConfig, Config
from sync.runner import AccountResult, Runner, in_transaction
from sync.stored import all_accounts

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backoff:
    """How long to wait after the n-th failure in a row: ``first`` doubling up to ``cap``
    (seconds), or longer if the server asked for it."""

    first: float = 60.0
    cap: float = 3600.0

    def delay(self, failures: int, retry_after: float | None = None) -> float:
        """Seconds until the next try after ``failures`` failures in a row."""
        wait = min(self.first * 2 ** max(failures - 1, 0), self.cap)
        return max(wait, retry_after or 0.0)


#: how often the worker renders changed cards and prunes tombstones
MAINTENANCE_SECONDS = 300
#: how long deletions are kept for CardDAV clients' sync-collection
KEEP_DELETIONS = timedelta(days=180)


class Worker:
    """Runs the accounts on their schedule and on request, in background threads.

    ``runner`` defaults to ``Runner(config, sessions)``. ``max_workers`` is how
    many accounts sync at once: 1 on SQLite (one writer at a time anyway), 4 on
    PostgreSQL. Each account's first run comes within ``first_delay`` seconds of
    :meth:`start` (or of being added), spread at random.
    """

    def __init__(
        self,
        config: Config,
        sessions: sessionmaker[Session],
        runner: Runner | None = None,
        poll_seconds: float = 2.0,
        *,
        max_workers: int | None = None,
        backoff: Backoff | None = None,
        first_delay: float = 5.0,
    ) -> None:
        self.config = config
        self.sessions = sessions
        self.runner = runner or Runner(config, sessions)
        self.poll_seconds = poll_seconds
        self.backoff = backoff or Backoff()
        self.first_delay = first_delay
        self._executors = {
            "default": ThreadPoolExecutor(max_workers or _default_workers(sessions)),
            "poll": ThreadPoolExecutor(1),
        }
        self._scheduler = BackgroundScheduler(
            timezone=UTC,
            executors=self._executors,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self._mutex = threading.Lock()
        self._running: set[str] = set()
        self._pending: set[str] = set()
        self._failures: dict[str, int] = {}
        self._accounts: dict[str, AccountConfig] = {}
        self._versions: dict[str, datetime] | None = None
        self._ids: dict[str, int] = {}
        self._attention: set[str] = set()
        self._published: dict[str, datetime | None] = {}

    def start(self) -> None:
        """Start the background threads; the first poll reads the accounts at once."""
        self.runner.stopping.clear()
        self._scheduler.add_job(
            self._poll,
            IntervalTrigger(seconds=self.poll_seconds, timezone=UTC),
            id="poll",
            name="poll the database",
            executor="poll",
            next_run_time=utcnow(),
        )
        self._scheduler.add_job(
            self._maintain,
            IntervalTrigger(seconds=MAINTENANCE_SECONDS, timezone=UTC),
            id="maintain",
            name="render changed cards, prune old tombstones",
            executor="poll",
            next_run_time=utcnow(),
        )
        self._scheduler.start()
        log.info("worker started: polling the database every %g s", self.poll_seconds)

    def _maintain(self) -> None:
        """Render the cards of customers changed by syncs and imports before a phone asks
        for them, and forget deletions older than :data:`KEEP_DELETIONS` (a CardDAV client
        that has not synced for that long starts over)."""
        try:
            rendered = in_transaction(self.sessions, refresh_cards)
            pruned = in_transaction(
                self.sessions, lambda session: prune_tombstones(session, KEEP_DELETIONS)
            )
            in_transaction(
                self.sessions, lambda session: forget_markers(session, timedelta(days=1))
            )
        except SQLAlchemyError:
            log.exception("card maintenance failed; the next run tries again")
            return
        if rendered or pruned:
            log.info("cards: %d rendered, %d old deletions forgotten", rendered, pruned)

    def shutdown(self, wait: bool = True) -> None:
        """Stop: runs in progress end after their current batch (nothing is lost: the
        next run goes on from there); with ``wait``, return once they have."""
        self.runner.stopping.set()
        if self._scheduler.running:
            # APScheduler 3 holds its job store lock while it waits for running jobs, and
            # ours call get_job/modify_job: so stop it without waiting, then wait here.
            self._scheduler.shutdown(wait=False)
        if wait:
            for executor in self._executors.values():
                executor.shutdown(wait=True)
        log.info("worker stopped")

    # -- the poll job ---------------------------------------------------------------

    def _poll(self) -> None:
        if self.runner.stopping.is_set():
            return
        try:
            self._reconcile()
            taken = in_transaction(self.sessions, take_requests)
            if not set(taken) <= set(self._ids.values()):  # an account added since
                self._reconcile()
            for account_id in taken:
                self._requested(account_id)
            self._publish()
        except Exception:
            log.exception("worker: reading the database failed; trying again shortly")

    def _requested(self, account_id: int) -> None:
        for name in (n for n, i in self._ids.items() if i == account_id):
            log.info("sync of %s requested", name)
            self._submit(name)

    def _reconcile(self) -> None:
        """Follow the accounts table: schedule new web accounts, reschedule changed ones,
        drop removed or disabled ones."""
        with self.sessions() as session:
            rows = session.execute(select(*_STATUS)).all()
        self._ids = {row.name: row.id for row in rows}
        self._attention = {row.name for row in rows if row.needs_attention}
        versions = {row.name: row.updated_at for row in rows if row.origin == "web"}
        if versions == self._versions:
            return
        old = self._versions or {}
        changed = {name for name, when in versions.items() if name in old and old[name] != when}
        accounts = {a.name: a for a in all_accounts(self.config, self.sessions)}
        self.runner.know_accounts(accounts.values())
        for name in self._accounts.keys() - accounts.keys():
            self._unschedule(name)
        for name, account in accounts.items():
            if name in changed:
                self._changed(name)
            if name not in self._accounts or name in changed:
                self._schedule(account)
        self._accounts, self._versions = accounts, versions

    def _changed(self, name: str) -> None:
        """Settings or password changed in the web view: worth a new try, at once."""
        log.info("account %s changed in the web view; rescheduling it", name)
        with self._mutex:
            self._failures.pop(name, None)
        account_id = self._ids.get(name)
        if account_id is not None and name in self._attention:
            in_transaction(self.sessions, lambda session: reset_attention(session, account_id))
            self._attention.discard(name)

    def _schedule(self, account: AccountConfig) -> None:
        if not account.enabled:
            self._unschedule(account.name)
            return
        # spread at random so that accounts do not all connect at once (not a secret: S311)
        spread = random.uniform(0, min(self.first_delay, account.interval_seconds))  # noqa: S311
        self._scheduler.add_job(
            self._scheduled,
            IntervalTrigger(seconds=account.interval_seconds, timezone=UTC),
            args=[account.name],
            id=_job_id(account.name),
            name=f"sync {account.name}",
            replace_existing=True,
            next_run_time=utcnow() + timedelta(seconds=spread),
            max_instances=1,
            coalesce=True,
        )
        log.info("account %s: every %g s", account.name, account.interval_seconds)

    def _unschedule(self, name: str) -> None:
        with contextlib.suppress(JobLookupError):
            self._scheduler.remove_job(_job_id(name))

    def _publish(self) -> None:
        """Write each account's next run to ``Account.next_run_at`` where it changed."""
        for name, account_id in self._ids.items():
            job = self._scheduler.get_job(_job_id(name))
            when = None if job is None or name in self._attention else job.next_run_time
            if name not in self._published or self._published[name] != when:
                in_transaction(self.sessions, lambda s, i=account_id, w=when: set_next_run(s, i, w))
                self._published[name] = when

    # -- runs -----------------------------------------------------------------------

    def _submit(self, name: str) -> None:
        """Run ``name`` now, on the pool (a requested run)."""
        if not self.runner.stopping.is_set():
            self._scheduler.add_job(self._run, args=[name, "request"], name=f"sync now: {name}")

    def _scheduled(self, name: str) -> None:
        """The interval job: runs the account unless its login was refused (no retry storm)."""
        with self.sessions() as session:
            refused = session.scalar(select(Account.needs_attention).where(Account.name == name))
        if not refused and not self.runner.stopping.is_set():
            self._run(name, "schedule")

    def _run(self, name: str, trigger: str) -> None:
        if not self._claim(name, trigger):
            return
        try:
            result = self._sync(name, trigger)
            if result is not None:
                self._after(name, result)
        finally:
            again = self._release(name)
        if again:
            self._submit(name)

    def _claim(self, name: str, trigger: str) -> bool:
        """True if ``name`` was idle and is now ours; a request for a busy one is kept."""
        with self._mutex:
            if name in self._running:
                if trigger == "request":
                    self._pending.add(name)
                    log.info("%s is syncing; the requested sync follows", name)
                return False
            self._running.add(name)
            return True

    def _release(self, name: str) -> bool:
        """Free ``name``; True if a request came while it ran (it is to run now)."""
        with self._mutex:
            self._running.discard(name)
            again = name in self._pending
            self._pending.discard(name)
        return again

    def _sync(self, name: str, trigger: str) -> AccountResult | None:
        account = self._accounts.get(name)
        if account is None:
            return None  # removed from the config file since: only its row is left
        try:
            return self.runner.sync_account(account, trigger)
        except Exception:  # the database failed while opening or closing the run
            log.exception("sync of %s could not be recorded", name)
            return AccountResult(name, error="the database failed")

    def _after(self, name: str, result: AccountResult) -> None:
        """Back off after a failure that is not a refused login; forget it after a success."""
        with self._mutex:
            if result.ok or result.auth_failed or self.runner.stopping.is_set():
                self._failures.pop(name, None)
                return
            failures = self._failures[name] = self._failures.get(name, 0) + 1
        delay = self.backoff.delay(failures, result.retry_after)
        when = utcnow() + timedelta(seconds=delay)
        try:
            self._scheduler.modify_job(_job_id(name), next_run_time=when)
        except JobLookupError:  # not scheduled (disabled): only requests run it
            return
        log.info("%s: failure %d in a row; next try in %.0f s", name, failures, delay)


_STATUS = (Account.id, Account.name, Account.origin, Account.updated_at, Account.needs_attention)


def _job_id(name: str) -> str:
    return f"account:{name}"


def _default_workers(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return 4 if is_postgresql(session) else 1
