"""The worker: every enabled account on its interval, and "sync now" asked through the database.

An APScheduler ``BackgroundScheduler`` holds an interval job per enabled account
(config file and web view) and a poll job that takes the requests the web view
wrote (:func:`crm.syncstate.request_sync`), follows accounts added, changed or
disabled there, and tells the database the worker is alive (``workers``).

**Several workers, one database.** The schedule every worker follows is in the
database: ``Account.next_run_at``, written by whichever worker ran the account
last (its interval after a success, the back-off after a failure, with jitter).
Each worker's job for an account is moved to that time by the poll, so the
accounts are shared out by whoever is free when they fall due. The run itself
holds the account (:mod:`crm.locks`: a PostgreSQL advisory lock, released by
PostgreSQL when a worker dies), so an account is synced by one worker at a
time, and a scheduled run that finds it done already (its due time moved on)
does nothing. On SQLite one worker runs: a second one says so and exits.

- **One run at a time per account**, whoever asks: a scheduled run that finds it
  busy is dropped (the next due time comes), a requested one waits until it is free.
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
from datetime import UTC, datetime, timedelta

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import delete, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from adapters.imapkeep import KEPT
from crm.apppasswords import forget_markers
from crm.cards import refresh as refresh_cards
from crm.changes import prune_tombstones
from crm.db import is_postgresql
from crm.health import prune_runs
from crm.models import Account, utcnow
from crm.models import Worker as WorkerRow
from crm.syncstate import (
    ensure_account,
    request_sync,
    reset_attention,
    set_next_run,
    take_requests,
)
from sync.config import AccountConfig, Config
from sync.digest import is_due, send_digests
from sync.idlewatch import Watchers
from sync.logfields import fields
from sync.runner import GRACE_SECONDS, AccountResult, Runner, in_transaction
from sync.schedule import JITTER, MAX_JITTER, Backoff
from sync.stored import all_accounts

log = logging.getLogger(__name__)


#: how often the worker renders changed cards and prunes tombstones
MAINTENANCE_SECONDS = 300
#: how long deletions are kept for CardDAV clients' sync-collection
KEEP_DELETIONS = timedelta(days=180)
#: how often the worker looks whether the follow-up digests are due
DIGEST_CHECK_SECONDS = 300
#: how often a worker writes that it is alive (workers.seen_at)
HEARTBEAT_SECONDS = 5.0
#: a job this close to the shared due time is left where it is
_SLACK = timedelta(seconds=1)

__all__ = ["Backoff", "Worker"]


class Worker:
    """Runs the accounts on their schedule and on request, in background threads.

    ``runner`` defaults to ``Runner(config, sessions)``. ``max_workers`` is how
    many accounts sync at once: 1 on SQLite (one writer at a time anyway), 8 on
    PostgreSQL. Each account's first run comes within ``first_delay`` seconds (default
    ``[sync] start_spread``) of
    :meth:`start` (or of being added), spread at random, unless the database
    already says when it is due.
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
        first_delay: float | None = None,
    ) -> None:
        self.config = config
        self.sessions = sessions
        self.runner = runner or Runner(config, sessions)
        if backoff is not None:  # the runner writes each run's due time with it
            self.runner.backoff = backoff
        self.poll_seconds = poll_seconds
        self.first_delay = config.sync.start_spread_seconds if first_delay is None else first_delay
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
        self._accounts: dict[str, AccountConfig] = {}
        self._versions: dict[str, datetime] | None = None
        self._ids: dict[str, int] = {}
        self._attention: set[str] = set()
        self._due: dict[str, datetime | None] = {}
        self._seen: datetime | None = None
        self._held_worker = False
        self._watchers = Watchers(sessions, self.runner.locks, config.sync)

    @property
    def name(self) -> str:
        """This worker as the database knows it ("host:pid")."""
        return self.runner.worker

    def start(self) -> None:
        """Start the background threads; the first poll reads the accounts at once.

        On SQLite, :class:`crm.locks.AnotherWorkerError` if another worker runs there.
        """
        self.runner.locks.hold_worker()
        self._held_worker = True
        KEPT.enable()  # an account's IMAP login is kept for its next pass
        self.runner.stopping.clear()
        self._heartbeat()
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
        if self.config.smtp.enabled:  # each user's follow-up digest, once a day
            self._scheduler.add_job(
                self._digest,
                IntervalTrigger(seconds=DIGEST_CHECK_SECONDS, timezone=UTC),
                id="digest",
                name="mail the follow-up digests",
                next_run_time=utcnow(),
            )
        self._scheduler.start()
        log.info("worker %s started: polling the database every %g s", self.name, self.poll_seconds)

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
            KEPT.sweep()
            keep = timedelta(seconds=self.config.sync.keep_runs_seconds)
            old_runs = in_transaction(self.sessions, lambda s: prune_runs(s, keep, utcnow()))
        except SQLAlchemyError:
            log.exception("card maintenance failed; the next run tries again")
            return
        if rendered or pruned or old_runs:
            log.info(
                "maintenance %s",
                fields(cards_rendered=rendered, deletions_forgotten=pruned, runs_pruned=old_runs),
            )

    def _digest(self) -> None:
        """Mail the day's follow-up digests once the digest time has come (each user's
        at most once a day, whichever worker gets there first: sync.digest)."""
        if not is_due(self.config):
            return
        try:
            send_digests(self.config, self.sessions)
        except SQLAlchemyError:
            log.exception("follow-up digest failed; the next check tries again")

    def shutdown(self, wait: bool = True, timeout: float | None = None) -> list[str]:
        """Stop: runs in progress end after their current batch (nothing is lost: the
        next run goes on from there). With ``wait``, return once they have, or after
        ``timeout`` seconds with the names of the accounts still running."""
        self.runner.stopping.set()
        self._watchers.stop()
        if self._scheduler.running:
            # APScheduler 3 holds its job store lock while it waits for running jobs, and
            # ours call get_job/modify_job: so stop it without waiting, then wait here.
            self._scheduler.shutdown(wait=False)
        if wait:
            done = threading.Event()

            def drain() -> None:
                for executor in self._executors.values():
                    executor.shutdown(wait=True)
                done.set()

            threading.Thread(target=drain, name="worker-drain", daemon=True).start()
            if not done.wait(timeout):
                with self._mutex:
                    left = sorted(self._running)
                log.warning("worker %s: still running after %s s: %s", self.name, timeout, left)
                return left
        KEPT.release()
        self._forget_me()
        log.info("worker %s stopped", self.name)
        return []

    def _forget_me(self) -> None:
        try:
            in_transaction(
                self.sessions,
                lambda s: s.execute(delete(WorkerRow).where(WorkerRow.name == self.name)),
            )
        except SQLAlchemyError:
            log.warning("worker %s: could not remove itself from the workers table", self.name)
        if self._held_worker:
            self.runner.locks.release_worker()
            self._held_worker = False

    # -- the poll job ---------------------------------------------------------------

    def _poll(self) -> None:
        if self.runner.stopping.is_set():
            return
        try:
            self._reconcile()
            busy = self.runner.locks.held_elsewhere()
            taken = in_transaction(self.sessions, lambda s: take_requests(s, busy))
            if not set(taken) <= set(self._ids.values()):  # an account added since
                self._reconcile()
            for account_id in taken:
                self._requested(account_id)
            self._follow(busy)
            self._watchers.follow(self._accounts.values(), self._ids, self._attention)
            if self._seen is None or utcnow() - self._seen > timedelta(seconds=HEARTBEAT_SECONDS):
                self._heartbeat()
        except Exception:
            log.exception("worker: reading the database failed; trying again shortly")

    def _heartbeat(self) -> None:
        """Tell the database this worker is alive, and what it is syncing."""
        now = utcnow()
        with self._mutex:
            running = ",".join(sorted(self._running))

        def beat(session: Session) -> None:
            row = session.scalars(select(WorkerRow).where(WorkerRow.name == self.name)).first()
            if row is None:
                row = WorkerRow(name=self.name, started_at=now)
                session.add(row)
            row.seen_at, row.running = now, running

        in_transaction(self.sessions, beat)
        self._seen = now

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
        # another worker's account: its turn comes first, ours GRACE_SECONDS later
        self._due = {
            row.name: row.next_run_at + _grace(row.last_worker, self.name)
            if row.next_run_at is not None
            else None
            for row in rows
        }
        versions = {row.name: row.updated_at for row in rows if row.origin == "web"}
        if versions == self._versions:
            return
        old = self._versions or {}
        changed = {name for name, when in versions.items() if name in old and old[name] != when}
        accounts = {a.name: a for a in all_accounts(self.config, self.sessions)}
        self.runner.know_accounts(accounts.values())
        for name in self._accounts.keys() - accounts.keys():
            self._unschedule(name)
        missing = [a for a in accounts.values() if a.name not in self._ids]
        if missing:  # config accounts never run: their rows carry the shared schedule
            in_transaction(self.sessions, lambda s: _ensure_rows(s, missing))
            return self._reconcile_again(accounts)
        for name, account in accounts.items():
            if name in changed:
                self._changed(name)
            if name not in self._accounts or name in changed:
                self._schedule(account)
        self._accounts, self._versions = accounts, versions
        self._watchers.follow(accounts.values(), self._ids, self._attention, force=True)

    def _reconcile_again(self, accounts: dict[str, AccountConfig]) -> None:
        with self.sessions() as session:
            self._ids = {row.name: row.id for row in session.execute(select(*_STATUS)).all()}
        for name, account in accounts.items():
            if name not in self._accounts:
                self._schedule(account)
        self._accounts = accounts
        self._versions = None  # read the versions again at the next poll

    def _changed(self, name: str) -> None:
        """Settings or password changed in the web view: worth a new try, at once."""
        log.info("account %s changed in the web view; rescheduling it", name)
        account_id = self._ids.get(name)
        if account_id is not None:
            in_transaction(self.sessions, lambda session: reset_attention(session, account_id))
            self._attention.discard(name)
            self._due[name] = None

    def _set_due(self, account_id: int, when: datetime | None) -> None:
        in_transaction(self.sessions, lambda s: set_next_run(s, account_id, when))

    def _schedule(self, account: AccountConfig) -> None:
        if not account.enabled:
            self._unschedule(account.name)
            account_id = self._ids.get(account.name)
            if account_id is not None and self._due.get(account.name) is not None:
                self._set_due(account_id, None)  # runs only on request now
                self._due[account.name] = None
            return
        due = self._due.get(account.name)
        account_id = self._ids.get(account.name)
        if due is None:
            # spread at random so that accounts do not all connect at once (not a secret)
            spread = random.uniform(0, min(self.first_delay, account.interval_seconds))  # noqa: S311
            due = self._due[account.name] = utcnow() + timedelta(seconds=spread)
            if account_id is not None:  # for the web view to show (and other workers)
                self._set_due(account_id, due)
        self._scheduler.add_job(
            self._scheduled,
            IntervalTrigger(
                seconds=account.interval_seconds,
                timezone=UTC,
                jitter=min(account.interval_seconds * JITTER, MAX_JITTER),
            ),
            args=[account.name],
            id=_job_id(account.name),
            name=f"sync {account.name}",
            replace_existing=True,
            next_run_time=max(due, utcnow()),
            max_instances=1,
            coalesce=True,
        )
        log.info("account %s: every %g s", account.name, account.interval_seconds)

    def _unschedule(self, name: str) -> None:
        with contextlib.suppress(JobLookupError):
            self._scheduler.remove_job(_job_id(name))

    def _follow(self, busy: set[int]) -> None:
        """Move each account's job to the due time in the database (another worker may
        have run it, or failed on it, since), except while someone is syncing it."""
        now = utcnow()
        with self._mutex:
            running = set(self._running)
        for name, due in self._due.items():
            if due is None or name in running or self._ids.get(name) in busy:
                continue
            job = self._scheduler.get_job(_job_id(name))
            if job is None or job.next_run_time is None:
                continue
            want = max(due, now)
            if abs(job.next_run_time - want) > _SLACK:
                self._scheduler.modify_job(_job_id(name), next_run_time=want)

    # -- runs -----------------------------------------------------------------------

    def _submit(self, name: str) -> None:
        """Run ``name`` now, on the pool (a requested run)."""
        if not self.runner.stopping.is_set():
            self._scheduler.add_job(self._run, args=[name, "request"], name=f"sync now: {name}")

    def _scheduled(self, name: str) -> None:
        """The interval job: runs the account if it is still due (another worker may have
        run it) and its login was not refused (no retry storm): see
        :func:`crm.syncstate.claim_due`."""
        if not self.runner.stopping.is_set():
            self._run(name, "schedule")

    def _run(self, name: str, trigger: str) -> None:
        if not self._claim(name, trigger):
            return
        try:
            result = self._sync(name, trigger)
            if result is not None and result.busy and trigger == "request":
                self._request_again(name)  # another worker has it: after that one
            elif result is not None:
                self._after(name, result)
        finally:
            again = self._release(name)
        if again:
            self._submit(name)

    def _request_again(self, name: str) -> None:
        account_id = self._ids.get(name)
        if account_id is not None:
            in_transaction(self.sessions, lambda s: request_sync(s, account_id, "(again)"))

    def _claim(self, name: str, trigger: str) -> bool:
        """True if ``name`` was idle here and is now ours; a request for a busy one is kept."""
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
        """Move the job to the due time the run wrote (the interval, or the back-off)."""
        when = result.next_run_at
        if when is None or self.runner.stopping.is_set():
            return
        self._due[name] = when
        with contextlib.suppress(JobLookupError):  # not scheduled (disabled): requests only
            self._scheduler.modify_job(_job_id(name), next_run_time=max(when, utcnow()))
        if not result.ok:
            log.info("%s failed; next try at %s", name, f"{when:%H:%M:%S}")


_STATUS = (
    Account.id,
    Account.name,
    Account.origin,
    Account.updated_at,
    Account.needs_attention,
    Account.next_run_at,
    Account.last_worker,
)


def _grace(last_worker: str, me: str) -> timedelta:
    return timedelta(seconds=GRACE_SECONDS) if last_worker not in ("", me) else timedelta(0)


def _ensure_rows(session: Session, accounts: list[AccountConfig]) -> None:
    for account in accounts:
        ensure_account(session, account.name, account.kind, account.owner or "")


def _job_id(name: str) -> str:
    return f"account:{name}"


def _default_workers(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        # on PostgreSQL a run mostly waits (logins, round trips, commits): 8 at once keep
        # a steady-state cycle over 100 unchanged accounts within a couple of seconds
        return 8 if is_postgresql(session) else 1
