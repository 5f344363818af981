"""Sync requests, folder status and account status as the worker and the web view use them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from crm.db import is_postgresql, will_write
from crm.models import Account, FolderStatus, SyncRequest, utcnow
from crm.syncstate import (
    claim_due,
    ensure_account,
    finish_run,
    record_folder,
    request_sync,
    reset_attention,
    set_next_run,
    start_run,
    take_requests,
)


def accounts(sessions: sessionmaker[Session], *names: str) -> list[int]:
    with sessions.begin() as session:
        return [ensure_account(session, name, "imap").id for name in names]


def test_requests_are_taken_once_and_never_doubled(sessions: sessionmaker[Session]) -> None:
    alice, bob = accounts(sessions, "alice", "bob")
    with sessions.begin() as session:
        first = request_sync(session, bob, "admin")
        assert request_sync(session, bob, "someone-else").id == first.id
        request_sync(session, alice, "admin")
    with sessions.begin() as session:
        assert take_requests(session) == [bob, alice]
    with sessions.begin() as session:
        assert take_requests(session) == []
        again = request_sync(session, bob, "admin")  # the first was taken: a new one
        assert again.id != first.id
        assert session.scalar(select(SyncRequest.taken_at).where(SyncRequest.id == first.id))


def test_two_workers_never_take_the_same_request(sessions: sessionmaker[Session]) -> None:
    with sessions() as probe:
        if not is_postgresql(probe):
            pytest.skip("SQLite has a single writer: there are no row locks to skip")
    [alice] = accounts(sessions, "alice")
    with sessions.begin() as session:
        request_sync(session, alice)
    with sessions.begin() as one, sessions.begin() as two:
        assert take_requests(one) == [alice]
        assert take_requests(two) == []  # the row is locked by the first: skipped, not awaited


def test_folder_status_counts_one_pass_and_adds_up_all(sessions: sessionmaker[Session]) -> None:
    [alice] = accounts(sessions, "alice")
    first, second = utcnow(), utcnow() + timedelta(minutes=5)
    with sessions.begin() as session:
        record_folder(session, alice, "INBOX", "INBOX", new=3, known=1, started_at=first)
        record_folder(session, alice, "INBOX", "INBOX", new=2, quarantined=1, started_at=first)
        row = record_folder(session, alice, "INBOX", "INBOX", ok=True, started_at=first)
        assert (row.last_new, row.last_known, row.last_quarantined, row.total_new) == (5, 1, 1, 5)
        assert row.last_success_at and row.last_run_at == first
    with sessions.begin() as session:
        record_folder(session, alice, "INBOX", "INBOX", new=1, started_at=second)
        row = record_folder(session, alice, "INBOX", "INBOX", error="down", started_at=second)
        assert (row.last_new, row.last_known, row.total_new) == (1, 0, 6)
        assert row.last_error == "down"
    with sessions() as session:
        [stored] = session.scalars(select(FolderStatus)).all()
        assert (stored.last_run_at, stored.last_error, stored.total_new) == (second, "down", 6)


def test_sync_status_leaves_updated_at_to_settings_changes(sessions: sessionmaker[Session]) -> None:
    [alice] = accounts(sessions, "alice")
    with sessions() as session:
        before = session.get_one(Account, alice).updated_at
    soon = utcnow() + timedelta(minutes=5)
    with sessions.begin() as session:
        account = session.get_one(Account, alice)
        finish_run(session, start_run(session, account, "schedule"), account, "refused", True)
        set_next_run(session, alice, soon)
    with sessions() as session:
        account = session.get_one(Account, alice)
        assert (account.needs_attention, account.next_run_at, account.updated_at) == (
            True, soon, before,
        )  # fmt: skip
    with sessions.begin() as session:
        reset_attention(session, alice)
    with sessions() as session:
        account = session.get_one(Account, alice)
        assert (account.needs_attention, account.updated_at) == (False, before)


def test_an_unknown_trigger_is_refused(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        account = ensure_account(session, "alice", "imap")
        with pytest.raises(ValueError, match="trigger"):
            start_run(session, account, "cron")


def test_a_due_account_is_claimed_by_one_worker_only(sessions: sessionmaker[Session]) -> None:
    alice, bob, carol = accounts(sessions, "alice", "bob", "carol")
    lease = timedelta(seconds=10)
    with sessions.begin() as session:
        set_next_run(session, bob, utcnow() + timedelta(minutes=5))  # not due yet
        account = session.get_one(Account, carol)
        finish_run(session, start_run(session, account), account, "refused", True)
    with sessions.begin() as one:  # two workers at once: the second sees the first's claim
        assert claim_due(will_write(one), "alice", lease) == alice
        with sessions.begin() as two:
            if is_postgresql(two):  # waits for the row the first holds, then finds it taken
                two.execute(text("SET LOCAL lock_timeout = '200ms'"))
                with pytest.raises(OperationalError):
                    claim_due(two, "alice", lease)
    with sessions.begin() as session:
        assert claim_due(will_write(session), "alice", lease) is None  # claimed: not due
        assert claim_due(session, "bob", lease) is None  # due in five minutes
        assert claim_due(session, "carol", lease) is None  # its login was refused
        due = session.get_one(Account, alice).next_run_at
    assert due is not None and timedelta(seconds=9) < due - utcnow() <= lease
