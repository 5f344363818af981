"""Health, per-account metrics and the pruning of old sync runs (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from crm.health import account_metrics, health, prune_runs
from crm.models import Account, QuarantineItem, SyncRun, Worker

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def account(session: Session, name: str, **values: object) -> Account:
    row = Account(name=name, kind="imap", **values)
    session.add(row)
    session.flush()
    return row


def run(session: Session, account_id: int, started: datetime, status: str = "ok") -> int:
    finished = None if status == "running" else started + timedelta(seconds=5)
    row = SyncRun(account_id=account_id, started_at=started, finished_at=finished, status=status)
    session.add(row)
    session.flush()
    return row.id


def remaining(sessions: sessionmaker[Session]) -> set[int]:
    with sessions() as session:
        return set(session.scalars(select(SyncRun.id)))


def test_prune_deletes_old_finished_runs_only(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        alice = account(session, "alice").id
        old = [run(session, alice, NOW - 100 * DAY - i * DAY) for i in range(3)]
        failed = run(session, alice, NOW - 95 * DAY, "failed")
        recent = run(session, alice, NOW - 10 * DAY)
    with sessions.begin() as session:
        assert prune_runs(session, 90 * DAY, NOW) == 4
    assert remaining(sessions) == {recent}
    assert not {*old, failed} & remaining(sessions)


def test_prune_keeps_the_newest_run_of_each_account_and_running_ones(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        alice, bob = account(session, "alice").id, account(session, "bob").id
        alice_older = run(session, alice, NOW - 200 * DAY)
        alice_newest = run(session, alice, NOW - 150 * DAY, "failed")
        bob_older = run(session, bob, NOW - 300 * DAY)
        bob_newest = run(session, bob, NOW - 120 * DAY)
        # a run a dead worker left open, newer than bob's last finished one
        bob_stuck = run(session, bob, NOW - 110 * DAY, "running")
    with sessions.begin() as session:
        assert prune_runs(session, 90 * DAY, NOW) == 2
    assert remaining(sessions) == {alice_newest, bob_newest, bob_stuck}
    assert not {alice_older, bob_older} & remaining(sessions)
    with sessions.begin() as session:
        assert prune_runs(session, 90 * DAY, NOW) == 0


def test_health_counts_live_workers_and_overdue_accounts(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        session.add(Worker(name="a:1", started_at=NOW - DAY, seen_at=NOW - timedelta(seconds=1)))
        session.add(Worker(name="b:2", started_at=NOW - DAY, seen_at=NOW - timedelta(minutes=10)))
        account(session, "late", next_run_at=NOW - timedelta(hours=1))
        account(session, "soon", next_run_at=NOW + timedelta(minutes=5))
        account(session, "just-due", next_run_at=NOW - timedelta(minutes=1))
        account(session, "off", enabled=False, next_run_at=NOW - DAY)
        account(session, "locked", needs_attention=True, next_run_at=NOW - DAY)
    with sessions() as session:
        found = health(
            session, NOW, worker_grace=timedelta(seconds=60), overdue_grace=timedelta(minutes=10)
        )
    assert [w.name for w in found.workers] == ["a:1"]
    assert found.overdue == ("late",)
    assert found.needs_attention == ("locked",)
    assert found.status() == "degraded"


def test_health_is_down_without_a_worker_unless_none_is_expected(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        found = health(
            session, NOW, worker_grace=timedelta(seconds=60), overdue_grace=timedelta(minutes=10)
        )
    assert found.workers == () and found.overdue == () and found.needs_attention == ()
    assert found.status() == "down"
    assert found.status(expect_worker=False) == "ok"


def test_account_metrics_read_the_columns(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        alice = account(
            session,
            "alice",
            items_total=120,
            errors_total=3,
            failures=2,
            last_success_at=NOW - timedelta(minutes=30),
            next_run_at=NOW - timedelta(seconds=90),
        )
        account(session, "bob", next_run_at=NOW + timedelta(minutes=1))
        for n in range(2):
            session.add(
                QuarantineItem(
                    account_id=alice.id, collection="INBOX", remote_id=str(n), reason="x", raw=b""
                )
            )
        session.add(Worker(name="h:7", seen_at=NOW, started_at=NOW, running="bob, other"))
    with sessions() as session:
        rows = {row.name: row for row in account_metrics(session, NOW)}
    a, b = rows["alice"], rows["bob"]
    assert (a.items_total, a.errors_total, a.failures, a.quarantined) == (120, 3, 2, 2)
    assert (a.last_success_age, a.lag, a.running, a.needs_attention) == (1800, 90, False, False)
    assert (b.items_total, b.last_success_age, b.lag, b.running, b.quarantined) == (
        0,
        None,
        0,
        True,
        0,
    )
