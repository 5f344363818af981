"""Several ``crmsync worker`` processes on one database, against a real Dovecot.

Each test starts real worker processes the way an admin (or systemd) does and
reads what they did from the database: runs, interactions, folder status.
Several workers share a PostgreSQL database; on SQLite one runs.
"""

from __future__ import annotations

import itertools
import signal
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from crm.db import will_write
from crm.models import Account, Interaction, SyncRun, utcnow
from crm.models import Worker as WorkerRow
from crm.syncstate import request_sync
from sync.config import load_config
from tests.mailgen import messages
from tests.servers.dovecot import DovecotServer, ImapUser
from tests.sync.helpers import add_web_account, wait_for
from tests.sync.workers import PASSWORD, WorkerProcess, add_users, write_config

POSTGRESQL = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
#: a mailbox whose first sync (in batches of 10) lasts a few seconds
BIG = 300


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[list[WorkerProcess]]:
    """Worker processes the test starts; killed at the end if still running."""
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        if worker.process.poll() is None:
            worker.process.kill()
            worker.process.wait(10)


def start(workers: list[WorkerProcess], config: Path, tmp_path: Path) -> WorkerProcess:
    worker = WorkerProcess(config, tmp_path / f"worker{len(workers)}.log")
    workers.append(worker)
    worker.wait_running()
    return worker


def start_two(workers: list[WorkerProcess], config: Path, tmp_path: Path) -> list[WorkerProcess]:
    """Two workers started at once (as systemd starts two units)."""
    two = [WorkerProcess(config, tmp_path / f"worker{len(workers) + n}.log") for n in range(2)]
    workers.extend(two)
    for worker in two:
        worker.wait_running()
    return two


def all_runs(sessions: sessionmaker[Session]) -> list[tuple[str, SyncRun]]:
    with sessions() as session:
        rows = session.execute(select(Account.name, SyncRun).join(Account).order_by(SyncRun.id))
        return [(name, run) for name, run in rows]


def finished_ok(sessions: sessionmaker[Session], names: list[str]) -> dict[str, list[SyncRun]]:
    done: dict[str, list[SyncRun]] = {}
    for name, run in all_runs(sessions):
        if run.status == "ok":
            done.setdefault(name, []).append(run)
    return done if set(done) >= set(names) else {}


def interactions(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(Interaction)) or 0


def assert_no_overlap(sessions: sessionmaker[Session]) -> None:
    """No account was synced twice at the same time."""
    by_account: dict[str, list[SyncRun]] = {}
    for name, run in all_runs(sessions):
        by_account.setdefault(name, []).append(run)
    for name, account_runs in by_account.items():
        for before, after in itertools.pairwise(account_runs):
            assert before.finished_at is not None, f"{name}: run {before.id} never closed"
            assert after.started_at >= before.finished_at, f"{name}: two runs at once"


@POSTGRESQL
def test_two_workers_share_twenty_accounts_each_synced_once_at_a_time(
    tmp_path: Path,
    db_url: str,
    sessions: sessionmaker[Session],
    dovecot: DovecotServer,
    workers: list[WorkerProcess],
) -> None:
    users = add_users(dovecot, f"w{time.monotonic_ns() % 10**6}x", 20)
    for n, user in enumerate(users):
        dovecot.append(user, "INBOX", messages(6, seed=900 + n))
    # the first runs spread over 4 s, as they are over many accounts: both workers are up
    config = write_config(tmp_path, db_url, dovecot, users, spread="4s")
    first, second = start_two(workers, config, tmp_path)
    done = wait_for(lambda: finished_ok(sessions, users), timeout=60, what="all 20 accounts")
    assert sum(run.new_count for runs in done.values() for run in runs) == 20 * 6
    assert interactions(sessions) == 20 * 6  # every mail once
    assert_no_overlap(sessions)
    by = {run.worker for runs in done.values() for run in runs}
    assert len(by) == 2, f"one worker did everything: {by}"  # the work was shared
    with sessions() as session:
        alive = set(session.scalars(select(WorkerRow.name)))
    assert alive == by
    assert first.stop() == 0 and second.stop() == 0
    with sessions() as session:  # a worker that stops says so
        assert session.scalar(select(func.count()).select_from(WorkerRow)) == 0


def half_synced(
    tmp_path: Path,
    db_url: str,
    sessions: sessionmaker[Session],
    dovecot: DovecotServer,
    workers: list[WorkerProcess],
) -> tuple[str, Path, WorkerProcess]:
    """A worker in the middle of a first sync of :data:`BIG` messages, in batches of 10."""
    [user] = add_users(dovecot, f"k{time.monotonic_ns() % 10**6}x", 1)
    dovecot.append(user, "INBOX", messages(BIG, seed=950))
    config = write_config(tmp_path, db_url, dovecot, [user], sync="batch_max_items = 10")
    worker = start(workers, config, tmp_path)
    wait_for(lambda: interactions(sessions) >= 20, timeout=30, what="a few batches stored")
    return user, config, worker


@POSTGRESQL
def test_a_killed_worker_s_account_is_finished_by_the_other_nothing_lost_or_doubled(
    tmp_path: Path,
    db_url: str,
    sessions: sessionmaker[Session],
    dovecot: DovecotServer,
    workers: list[WorkerProcess],
) -> None:
    user, config, doomed = half_synced(tmp_path, db_url, sessions, dovecot, workers)
    doomed.process.send_signal(signal.SIGKILL)
    doomed.process.wait(10)
    stored_by_the_dead = interactions(sessions)
    assert 0 < stored_by_the_dead < BIG, "killed too late to test a take-over"
    start(workers, config, tmp_path)
    done = wait_for(lambda: finished_ok(sessions, [user]), timeout=90, what="the take-over run")
    assert interactions(sessions) == BIG
    [(_, left), (_, took_over)] = all_runs(sessions)
    assert left.status == "stopped" and "ended before this run did" in left.error
    assert took_over.id == done[user][0].id and took_over.worker != left.worker
    assert took_over.new_count == BIG - stored_by_the_dead  # went on where the cursor was


@POSTGRESQL
def test_sigterm_commits_the_batch_and_exits_promptly_and_the_next_worker_goes_on(
    tmp_path: Path,
    db_url: str,
    sessions: sessionmaker[Session],
    dovecot: DovecotServer,
    workers: list[WorkerProcess],
) -> None:
    user, config, worker = half_synced(tmp_path, db_url, sessions, dovecot, workers)
    began = time.monotonic()
    assert worker.stop(signal.SIGTERM) == 0
    assert time.monotonic() - began < 10  # one batch, not the whole mailbox
    [(_, run)] = all_runs(sessions)
    assert run.status == "stopped" and run.finished_at is not None
    assert run.new_count == interactions(sessions)  # every batch it began was committed
    start(workers, config, tmp_path)
    wait_for(lambda: finished_ok(sessions, [user]), timeout=90, what="the next run")
    assert interactions(sessions) == BIG


def test_a_second_worker_on_sqlite_says_so_and_exits(
    tmp_path: Path, sqlite_template: Path, dovecot: DovecotServer, workers: list[WorkerProcess]
) -> None:
    path = tmp_path / "crm.db"
    path.write_bytes(sqlite_template.read_bytes())
    users = add_users(dovecot, f"s{time.monotonic_ns() % 10**6}x", 1)
    config = write_config(tmp_path, f"sqlite:///{path}", dovecot, users)
    start(workers, config, tmp_path)
    second = WorkerProcess(config, tmp_path / "second.log")
    workers.append(second)
    assert second.process.wait(30) == 1
    assert "another crmsync worker already runs on this SQLite database" in second.text()


@POSTGRESQL
def test_a_wrong_password_is_tried_once_by_all_workers_together(
    tmp_path: Path,
    db_url: str,
    sessions: sessionmaker[Session],
    dovecot: DovecotServer,
    workers: list[WorkerProcess],
) -> None:
    [user] = add_users(dovecot, f"p{time.monotonic_ns() % 10**6}x", 1)
    config = write_config(tmp_path, db_url, dovecot, [user], interval="10s")
    dovecot.add_user(user, "changed-by-the-admin")  # the account's password is now wrong
    start_two(workers, config, tmp_path)
    wait_for(lambda: all_runs(sessions), timeout=30, what="the first run")
    with sessions.begin() as session:  # even due, as after any interval: left alone
        will_write(session).execute(update(Account).values(next_run_at=utcnow()))
    time.sleep(5)  # two polls of each worker
    runs = all_runs(sessions)
    assert [run.status for _, run in runs] == ["failed"] and "login refused" in runs[0][1].error
    with sessions() as session:
        account = session.scalars(select(Account)).one()
    assert account.needs_attention
    failed_logins = [
        line
        for line in (dovecot.root / "dovecot.log").read_text().splitlines()
        if f"user=<{user}>" in line and "auth failed" in line
    ]
    assert len(failed_logins) == 1, failed_logins  # no retry storm


@POSTGRESQL
def test_sync_now_and_a_new_account_are_picked_up_by_running_workers(
    tmp_path: Path,
    db_url: str,
    sessions: sessionmaker[Session],
    dovecot: DovecotServer,
    workers: list[WorkerProcess],
) -> None:
    first, later = add_users(dovecot, f"n{time.monotonic_ns() % 10**6}x", 2)
    dovecot.append(first, "INBOX", messages(3, seed=970))
    dovecot.append(later, "INBOX", messages(4, seed=971))
    config = write_config(tmp_path, db_url, dovecot, [first])
    start_two(workers, config, tmp_path)
    wait_for(lambda: finished_ok(sessions, [first]), timeout=30, what="the first account")
    dovecot.append(first, "INBOX", messages(2, seed=972))  # new mail; the next run is in 1 h
    with sessions.begin() as session:
        account_id = will_write(session).scalar(select(Account.id).where(Account.name == first))
        assert account_id is not None
        request_sync(session, account_id, "admin")
    asked = utcnow()
    runs = wait_for(
        lambda: [
            r
            for n, r in all_runs(sessions)
            if n == first and r.trigger == "request" and r.finished_at
        ],
        timeout=20,
        what="the requested run",
    )
    assert runs[0].new_count == 2 and runs[0].started_at - asked < timedelta(seconds=10)
    # an account an admin adds in the web view while they run
    add_web_account(
        sessions, load_config(config), later, ImapUser(later, PASSWORD, "127.0.0.1", dovecot.port)
    )
    wait_for(lambda: finished_ok(sessions, [first, later]), timeout=30, what="the new account")
    assert interactions(sessions) == 3 + 2 + 4
    assert_no_overlap(sessions)


@POSTGRESQL
def test_a_stopped_server_is_retried_with_backoff_and_recovers_by_itself(
    tmp_path: Path,
    db_url: str,
    sessions: sessionmaker[Session],
    workers: list[WorkerProcess],
) -> None:
    with DovecotServer.start() as dovecot:  # its own: this test stops it
        [user] = add_users(dovecot, "down", 1)
        dovecot.append(user, "INBOX", messages(3, seed=980))
        config = write_config(tmp_path, db_url, dovecot, [user], interval="10s")
        start(workers, config, tmp_path)
        wait_for(lambda: finished_ok(sessions, [user]), timeout=30, what="the first run")
        dovecot.pause()
        with sessions.begin() as session:  # due now, so the test need not wait an interval
            will_write(session).execute(update(Account).values(next_run_at=utcnow()))
        failed = wait_for(
            lambda: [r for _, r in all_runs(sessions) if r.status == "failed"],
            timeout=30,
            what="a failed run",
        )
        assert "unreachable" in failed[0].error
        with sessions() as session:
            account = session.scalars(select(Account)).one()
        assert account.failures == 1 and not account.needs_attention
        assert account.next_run_at is not None
        wait = (account.next_run_at - failed[0].finished_at).total_seconds()
        assert 50 <= wait <= 70  # the back-off's first step (60 s +- jitter), not the 10 s
        dovecot.resume()
        dovecot.append(user, "INBOX", messages(2, seed=981))
        with sessions.begin() as session:  # the back-off over, without waiting a minute
            will_write(session).execute(update(Account).values(next_run_at=utcnow()))
        wait_for(
            lambda: len(finished_ok(sessions, [user]).get(user, [])) >= 2,
            timeout=30,
            what="recovery",
        )
        with sessions() as session:
            account = session.scalars(select(Account)).one()
        assert account.failures == 0 and account.last_error == ""
        assert interactions(sessions) == 5
        assert workers[0].process.poll() is None  # never crashed
