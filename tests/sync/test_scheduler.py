"""The worker against real peers: Dovecot, Maildirs on disk, SQLite and PostgreSQL.

Waiting for something to happen polls with a deadline; asserting that something
does *not* happen (a retry) can only watch for a while: those waits are a few
intervals of the account under test.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from crm.db import will_write
from crm.models import Account, FolderStatus, SyncRequest, utcnow
from crm.secrets import SecretBox
from crm.syncstate import ensure_account, request_sync
from sync.config import Config
from sync.runner import AccountResult, Runner
from sync.schedule import JITTER, next_due
from sync.scheduler import Backoff, Worker
from tests.mailgen import messages
from tests.servers.dovecot import DovecotServer, ImapUser
from tests.sync.helpers import (
    account_row,
    add_web_account,
    change_web_account,
    files_account,
    maildir,
    make_config,
    runs,
    wait_for,
)

StartWorker = Callable[..., Worker]


@pytest.fixture
def start_worker(sessions: sessionmaker[Session]) -> Iterator[StartWorker]:
    """Start a worker (polling every 0.1 s, first runs within 0.5 s); shut down after the test."""
    started: list[Worker] = []

    def start(config: Config, **options: Any) -> Worker:
        options = {"poll_seconds": 0.1, "first_delay": 0.5, **options}
        worker = Worker(config, sessions, **options)
        started.append(worker)
        worker.start()
        return worker

    yield start
    for worker in started:
        worker.shutdown(wait=True)


def ask(sessions: sessionmaker[Session], name: str) -> None:
    """What the web view's "sync now" does."""
    account_id = account_row(sessions, name).id
    with sessions.begin() as session:
        request_sync(will_write(session), account_id, "admin")


def finished(sessions: sessionmaker[Session], name: str, count: int = 1) -> list[Any]:
    done = [run for run in runs(sessions, name) if run.finished_at]
    return done if len(done) >= count else []


def test_a_requested_sync_is_taken_and_run(
    tmp_path: Path, db_url: str, sessions: sessionmaker[Session], start_worker: StartWorker
) -> None:
    folders = {"INBOX": messages(3, seed=21), "Kunden": messages(2, seed=22)}
    mail = maildir(tmp_path / "mail", folders)
    config = make_config(tmp_path, db_url, [files_account("archive", mail, enabled=False)])
    with sessions.begin() as session:  # the web view asks before the worker ever ran it
        will_write(session)
        request_sync(session, ensure_account(session, "archive", "files").id, "admin")
    start_worker(config)
    [run] = wait_for(lambda: finished(sessions, "archive"), what="the requested run")
    assert (run.trigger, run.status) == ("request", "ok")
    with sessions() as session:
        assert session.scalar(select(SyncRequest.taken_at))
        folders = {f.collection: f for f in session.scalars(select(FolderStatus))}
    assert set(folders) == {"INBOX", "Kunden"}
    assert sum(f.last_new for f in folders.values()) == run.new_count
    assert all(f.total_new == f.last_new and f.last_success_at for f in folders.values())
    assert account_row(sessions, "archive").next_run_at is None  # disabled: not scheduled


def test_requests_for_a_busy_account_wait_their_turn(
    tmp_path: Path, db_url: str, sessions: sessionmaker[Session], start_worker: StartWorker
) -> None:
    mail = maildir(tmp_path / "mail", {"INBOX": messages(3, seed=23)})
    config = make_config(
        tmp_path, db_url, [files_account("archive", mail, enabled=False)], batch_max_items=1
    )
    busy, go_on = threading.Event(), threading.Event()

    def hold_first_batch(account: str, folder: str, step: AccountResult) -> None:
        if not busy.is_set():
            busy.set()
            go_on.wait(10)

    with sessions.begin() as session:
        ensure_account(session, "archive", "files")
    runner = Runner(config, sessions, on_batch=hold_first_batch)
    start_worker(config, runner=runner, max_workers=4)  # threads to spare: only the lock stops it
    ask(sessions, "archive")
    assert busy.wait(8)
    ask(sessions, "archive")
    wait_for(lambda: all(r.taken_at for r in _requests(sessions)), what="the second request taken")
    time.sleep(0.3)  # a few polls: the second request must not start a run beside the first
    assert len(runs(sessions, "archive")) == 1
    go_on.set()
    first, second = wait_for(lambda: finished(sessions, "archive", 2), what="both runs")
    assert (first.trigger, second.trigger) == ("request", "request")
    assert first.finished_at is not None and second.started_at >= first.finished_at
    assert len(runs(sessions, "archive")) == 2


def _requests(sessions: sessionmaker[Session]) -> list[SyncRequest]:
    with sessions() as session:
        found = list(session.scalars(select(SyncRequest)))
    return found if len(found) == 2 else []


def test_a_web_account_is_scheduled_and_syncs_from_dovecot(
    tmp_path: Path,
    db_url: str,
    sessions: sessionmaker[Session],
    start_worker: StartWorker,
    dovecot: DovecotServer,
    imap_user: ImapUser,
) -> None:
    dovecot.append(imap_user.name, "INBOX", messages(3, seed=24))
    dovecot.append(imap_user.name, "Sent", messages(2, seed=25))
    config = make_config(tmp_path, db_url)
    start_worker(config)
    add_web_account(sessions, config, "bob-mail", imap_user, interval=60)  # while it runs
    [run] = wait_for(lambda: finished(sessions, "bob-mail"), what="the scheduled run")
    assert (run.trigger, run.status) == ("schedule", "ok"), run.error
    with sessions() as session:
        folders = {f.collection: f for f in session.scalars(select(FolderStatus))}
    assert set(folders) == {"INBOX", "Sent"}
    assert sum(f.last_new for f in folders.values()) == run.new_count
    account = wait_for(lambda: _next_run_after(sessions, "bob-mail", run.started_at))
    assert account.next_run_at <= utcnow() + timedelta(seconds=60 * (1 + JITTER) + 1)  # jitter


def _next_run_after(sessions: sessionmaker[Session], name: str, when: datetime) -> Account | None:
    """The account once its next run is at least 30 s after ``when`` (the interval, or a
    backoff, not the next poll)."""
    account = account_row(sessions, name)
    later = account.next_run_at is not None and account.next_run_at > when + timedelta(seconds=30)
    return account if later else None


def test_a_disabled_web_account_is_unscheduled(
    tmp_path: Path,
    db_url: str,
    sessions: sessionmaker[Session],
    start_worker: StartWorker,
    imap_user: ImapUser,
) -> None:
    config = make_config(tmp_path, db_url)
    add_web_account(sessions, config, "bob-mail", imap_user, interval=3600)
    start_worker(config, first_delay=3600)
    wait_for(lambda: account_row(sessions, "bob-mail").next_run_at, what="next_run_at")
    change_web_account(sessions, "bob-mail", enabled=False)
    wait_for(lambda: account_row(sessions, "bob-mail").next_run_at is None, what="unscheduled")
    assert runs(sessions, "bob-mail") == []


def test_a_refused_login_is_not_retried_by_the_schedule_but_a_request_runs_it(
    tmp_path: Path,
    db_url: str,
    sessions: sessionmaker[Session],
    start_worker: StartWorker,
    imap_user: ImapUser,
) -> None:
    config = make_config(tmp_path, db_url)
    add_web_account(sessions, config, "bob-mail", imap_user, password="wrong", interval=1)
    start_worker(config)
    [failed] = wait_for(lambda: finished(sessions, "bob-mail"), what="the first run")
    assert (failed.trigger, failed.status) == ("schedule", "failed")
    assert "login refused" in failed.error
    time.sleep(3)  # three intervals: the schedule leaves it alone
    assert len(runs(sessions, "bob-mail")) == 1
    account = account_row(sessions, "bob-mail")
    assert account.needs_attention and account.next_run_at is None
    ask(sessions, "bob-mail")
    _, again = wait_for(lambda: finished(sessions, "bob-mail", 2), what="the requested run")
    assert (again.trigger, again.status) == ("request", "failed")


def test_a_corrected_password_puts_the_account_back_on_schedule(
    tmp_path: Path,
    db_url: str,
    sessions: sessionmaker[Session],
    start_worker: StartWorker,
    imap_user: ImapUser,
) -> None:
    config = make_config(tmp_path, db_url)
    add_web_account(sessions, config, "bob-mail", imap_user, password="wrong", interval=1)
    start_worker(config)
    wait_for(lambda: account_row(sessions, "bob-mail").needs_attention, what="needs attention")
    secret = SecretBox(config.secrets.keys()).encrypt(imap_user.password)
    change_web_account(sessions, "bob-mail", secret=secret)  # the admin enters it again
    wait_for(lambda: [r for r in runs(sessions, "bob-mail") if r.status == "ok"], what="a good run")
    account = account_row(sessions, "bob-mail")
    assert not account.needs_attention and account.last_error == ""
    assert {r.trigger for r in runs(sessions, "bob-mail")} == {"schedule"}


def test_an_unreachable_server_is_tried_again_later_not_at_every_interval(
    tmp_path: Path, db_url: str, sessions: sessionmaker[Session], start_worker: StartWorker
) -> None:
    config = make_config(tmp_path, db_url)
    closed = ImapUser("nobody", "pw", "127.0.0.1", 1)  # nothing listens there
    add_web_account(sessions, config, "gone", closed, interval=1)
    start_worker(config, backoff=Backoff(first=60))
    [failed] = wait_for(lambda: finished(sessions, "gone"), what="the first run")
    assert "unreachable" in failed.error
    account = wait_for(lambda: _next_run_after(sessions, "gone", failed.finished_at))
    assert account.next_run_at <= failed.finished_at + timedelta(seconds=60 * (1 + JITTER) + 1)
    assert not account.needs_attention
    time.sleep(2)  # two intervals
    assert len(runs(sessions, "gone")) == 1


def test_backoff_doubles_up_to_its_cap_or_what_the_server_asked() -> None:
    backoff = Backoff(first=60, cap=3600)
    assert [backoff.delay(n) for n in (1, 2, 3, 6, 7, 20)] == [60, 120, 240, 1920, 3600, 3600]
    assert backoff.delay(1, retry_after=300) == 300


def test_due_times_are_spread_by_jitter_within_bounds() -> None:
    now = utcnow()
    backoff = Backoff(first=60, cap=3600)
    after_success = [next_due(now, 300, failures=0, backoff=backoff) for _ in range(50)]
    after_failures = [next_due(now, 300, failures=3, backoff=backoff) for _ in range(50)]
    waits = [(d - now).total_seconds() for d in after_success]
    assert all(270 <= w <= 330 for w in waits) and len(set(waits)) > 40  # spread, not in step
    waits = [(d - now).total_seconds() for d in after_failures]
    assert all(216 <= w <= 264 for w in waits) and len(set(waits)) > 40  # 240 s +- 10 %
    capped = next_due(now, 300, failures=30, backoff=backoff)
    assert capped - now <= timedelta(seconds=3600)
    asked = next_due(now, 300, failures=1, backoff=backoff, retry_after=900)
    assert asked - now >= timedelta(seconds=900)


def test_the_worker_renders_changed_cards_and_forgets_old_deletions(
    tmp_path: Path, db_url: str, sessions: sessionmaker[Session], start_worker: StartWorker
) -> None:
    """A phone's first sync after an import finds the cards ready; old tombstones go."""
    from crm.models import Card, CardTombstone, ChangeCounter, Person

    with sessions.begin() as session:
        session.add_all([Person(display_name=f"Kunde {i}") for i in range(3)])
        session.add(
            CardTombstone(uid="gone-long-ago", seq=1, deleted_at=utcnow() - timedelta(days=400))
        )
    config = make_config(tmp_path, db_url, [])
    start_worker(config)

    def ready() -> bool:
        with sessions() as session:
            counter = session.get(ChangeCounter, 1)
            cards = session.scalars(select(Card)).all()
            tombstones = session.scalars(select(CardTombstone)).all()
            return bool(
                counter
                and counter.cards_seq == counter.value
                and len(cards) == 3
                and not tombstones
            )

    wait_for(ready, what="the cards rendered and the old tombstone pruned")
    with sessions() as session:
        counter = session.get(ChangeCounter, 1)
        assert counter is not None and counter.horizon >= 1  # tokens before it expired


def test_idle_brings_new_mail_within_seconds_not_at_the_interval(
    tmp_path: Path,
    db_url: str,
    sessions: sessionmaker[Session],
    start_worker: StartWorker,
    dovecot: DovecotServer,
    imap_user: ImapUser,
) -> None:
    dovecot.append(imap_user.name, "INBOX", messages(2, seed=26))
    config = make_config(tmp_path, db_url)
    add_web_account(sessions, config, "bob-mail", imap_user, interval=3600, folders=["INBOX"])
    with sessions.begin() as session:
        row = will_write(session).scalars(select(Account)).one()
        row.settings = {**row.settings, "idle": True}
    start_worker(config)
    wait_for(lambda: finished(sessions, "bob-mail"), what="the first run")
    time.sleep(1.0)  # the watcher logs in and idles
    dovecot.append(imap_user.name, "INBOX", messages(1, seed=27, first=2))
    arrived = time.monotonic()
    _, second = wait_for(lambda: finished(sessions, "bob-mail", 2), what="the run IDLE asked for")
    assert time.monotonic() - arrived < 8  # not the hour of the interval
    assert (second.trigger, second.status, second.new_count) == ("request", "ok", 1)
    with sessions() as session:
        assert session.scalar(select(SyncRequest.requested_by)) == "idle"


@pytest.fixture
def hung_server() -> Iterator[int]:
    """A port that accepts connections and never says a word (a hung IMAP server)."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                held.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(2)
    for conn in held:
        conn.close()
    listener.close()


def test_a_hung_server_is_cut_off_by_the_timeout_and_others_sync_on(
    tmp_path: Path,
    db_url: str,
    sessions: sessionmaker[Session],
    start_worker: StartWorker,
    dovecot: DovecotServer,
    imap_user: ImapUser,
    hung_server: int,
) -> None:
    dovecot.append(imap_user.name, "INBOX", messages(2, seed=28))
    config = make_config(tmp_path, db_url, timeout="1s")
    add_web_account(sessions, config, "hung", ImapUser("x", "pw", "127.0.0.1", hung_server))
    add_web_account(sessions, config, "bob-mail", imap_user, folders=["INBOX"])
    start_worker(config, max_workers=1)  # one thread: the hung account must not block it
    [stuck] = wait_for(lambda: finished(sessions, "hung"), what="the hung account's run")
    assert stuck.status == "failed" and "unreachable or busy" in stuck.error, stuck.error
    assert stuck.finished_at - stuck.started_at < timedelta(seconds=5)  # the 1 s timeout
    [good] = wait_for(lambda: finished(sessions, "bob-mail"), what="the other account's run")
    assert (good.status, good.new_count) == ("ok", 2)
    assert not account_row(sessions, "hung").needs_attention  # tried again later


def test_the_worker_keeps_an_account_s_login_for_its_next_pass(
    tmp_path: Path,
    db_url: str,
    sessions: sessionmaker[Session],
    start_worker: StartWorker,
    dovecot: DovecotServer,
    imap_user: ImapUser,
) -> None:
    def log_lines(word: str) -> int:
        log = (dovecot.root / "dovecot.log").read_text()
        return sum(1 for line in log.splitlines() if imap_user.name in line and word in line)

    dovecot.append(imap_user.name, "INBOX", messages(1, seed=29))  # the test logs in too
    config = make_config(tmp_path, db_url)
    add_web_account(sessions, config, "bob-mail", imap_user, interval=3600, folders=["INBOX"])
    before = log_lines("Login:")
    worker = start_worker(config)
    wait_for(lambda: finished(sessions, "bob-mail"), what="the first run")
    dovecot.append(imap_user.name, "INBOX", messages(1, seed=29, first=1))  # one login
    ask(sessions, "bob-mail")
    _, second = wait_for(lambda: finished(sessions, "bob-mail", 2), what="the second run")
    assert (second.status, second.new_count) == ("ok", 1)
    assert log_lines("Login:") - before - 1 == 1  # one login for two passes
    logged_out = log_lines("Logged out")
    worker.shutdown()
    wait_for(lambda: log_lines("Logged out") > logged_out, what="the kept login ended")
