"""/healthz, /metrics and the workers on the sync status page (Flask test client, SQLite and
PostgreSQL): the state is written as the workers write it, in Worker and Account rows."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session, sessionmaker

from crm.db import make_engine, make_sessionmaker
from crm.models import Account, QuarantineItem, SyncRun, Worker
from crm.users import add_user
from tests.web.conftest import PASSWORDS, Browser, _logged_in, make_app
from web.app import create_app
from web.filters import settings as app_settings

TOKEN = "metrics-token-0123456789abcdef"


def with_settings(app: Flask, sessions: sessionmaker[Session], **changes: object) -> Flask:
    """Another app on the same database, its settings changed."""
    settings = replace(app.extensions["crmsync.settings"], **changes)
    built = create_app(settings, sessions)
    built.config["TESTING"] = True
    return built


@pytest.fixture
def app(sessions: sessionmaker[Session], tmp_path: Path) -> Flask:
    """The web view with a metrics token, and one user per role."""
    with sessions.begin() as session:
        for role, password in PASSWORDS.items():
            add_user(session, role, password, role)
    base = make_app(sessions, tmp_path / "archive")
    return with_settings(base, sessions, metrics_token=TOKEN, keep_runs_seconds=30 * 86400.0)


def ago(**delta: float) -> datetime:
    return datetime.now(UTC) - timedelta(**delta)


def add_worker(
    sessions: sessionmaker[Session], name: str, seen: datetime, running: str = ""
) -> None:
    with sessions.begin() as session:
        session.add(Worker(name=name, started_at=ago(hours=2), seen_at=seen, running=running))


def add_account(sessions: sessionmaker[Session], name: str, **values: object) -> int:
    with sessions.begin() as session:
        row = Account(name=name, kind="imap", **values)
        session.add(row)
        session.flush()
        return row.id


def healthz(app: Flask) -> tuple[int, dict[str, object], str]:
    response = app.test_client().get("/healthz")
    return response.status_code, response.get_json(), response.get_data(as_text=True)


# -- /healthz ---------------------------------------------------------------------------


def test_healthz_ok_with_a_live_worker_and_nothing_due(app: Flask, sessions) -> None:
    add_worker(sessions, "host-a:101", ago(seconds=1))
    add_account(sessions, "alice-mail", next_run_at=ago(minutes=-5))
    code, body, _ = healthz(app)
    assert code == 200
    assert body == {
        "status": "ok",
        "database": True,
        "workers": 1,
        "overdue": 0,
        "needs_attention": 0,
    }


def test_healthz_degraded_names_no_account(app: Flask, sessions) -> None:
    add_worker(sessions, "host-a:101", ago(seconds=1))
    add_account(sessions, "alice-mail", next_run_at=ago(hours=1))
    add_account(sessions, "bob-secret-mailbox", needs_attention=True, last_error="login refused")
    add_account(sessions, "carol-mail", enabled=False, next_run_at=ago(days=3))
    code, body, raw = healthz(app)
    assert code == 200
    assert body["status"] == "degraded"
    assert (body["overdue"], body["needs_attention"], body["workers"]) == (1, 1, 1)
    for private in ("alice", "bob", "carol", "login refused", "host-a"):
        assert private not in raw


def test_healthz_down_when_the_last_worker_was_seen_long_ago(app: Flask, sessions) -> None:
    add_worker(sessions, "host-a:101", ago(minutes=10))
    code, body, _ = healthz(app)
    assert code == 503
    assert body["status"] == "down" and body["database"] is True and body["workers"] == 0


def test_healthz_ok_without_workers_when_none_is_expected(app: Flask, sessions) -> None:
    alone = with_settings(app, sessions, expect_worker=False)
    code, body, _ = healthz(alone)
    assert (code, body["status"], body["workers"]) == (200, "ok", 0)


def test_healthz_down_when_the_database_cannot_be_reached(app: Flask, tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/missing/dir/crm.db")
    try:
        unreachable = with_settings(app, make_sessionmaker(engine))
        code, body, _ = healthz(unreachable)
        assert code == 503
        assert body == {
            "status": "down",
            "database": False,
            "workers": 0,
            "overdue": 0,
            "needs_attention": 0,
        }
        response = unreachable.test_client().get(
            "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert response.status_code == 200
        assert metrics_of(response.get_data(as_text=True))["crmsync_database_up"] == {(): 0}
    finally:
        engine.dispose()


# -- /metrics ---------------------------------------------------------------------------


def metrics_of(text: str) -> dict[str, dict[tuple[str, ...], float]]:
    """Sample name -> {account label (or nothing) -> value}, as Prometheus parses it."""
    found: dict[str, dict[tuple[str, ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = tuple(sample.labels.values())
            found.setdefault(sample.name, {})[key] = sample.value
    return found


def test_metrics_needs_a_login_or_the_token(app: Flask, anonymous: Browser) -> None:
    response = anonymous.get("/metrics")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = anonymous.get("/metrics", headers={"Authorization": "Bearer not-the-token"})
    assert wrong.status_code == 401
    basic = anonymous.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"})
    assert basic.status_code == 401
    assert TOKEN not in wrong.get_data(as_text=True)


def test_metrics_refused_to_staff_and_open_to_admins(app: Flask) -> None:
    assert _logged_in(app, "staff").get("/metrics").status_code == 403
    response = _logged_in(app, "admin").get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")


def test_metrics_without_a_configured_token_take_no_bearer(app: Flask, sessions) -> None:
    tokenless = with_settings(app, sessions, metrics_token=None)
    response = tokenless.test_client().get("/metrics", headers={"Authorization": "Bearer "})
    assert response.status_code == 401


def test_metrics_say_what_the_rows_say(app: Flask, sessions) -> None:
    add_worker(sessions, "host-a:101", ago(seconds=1), running="bob-mail")
    add_worker(sessions, "host-b:202", ago(minutes=10), running="alice-mail")  # dead
    alice = add_account(
        sessions,
        "alice-mail",
        items_total=1234,
        errors_total=7,
        failures=3,
        last_success_at=ago(hours=1),
        next_run_at=ago(minutes=20),
    )
    add_account(sessions, "bob-mail", next_run_at=ago(minutes=-5), needs_attention=True)
    with sessions.begin() as session:
        for n in range(3):
            session.add(
                QuarantineItem(
                    account_id=alice, collection="INBOX", remote_id=str(n), reason="bad", raw=b""
                )
            )
    response = app.test_client().get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    found = metrics_of(response.get_data(as_text=True))
    assert found["crmsync_database_up"] == {(): 1}
    assert found["crmsync_workers_alive"] == {(): 1}
    assert found["crmsync_account_items_total"] == {("alice-mail",): 1234, ("bob-mail",): 0}
    assert found["crmsync_account_errors_total"] == {("alice-mail",): 7, ("bob-mail",): 0}
    assert found["crmsync_account_consecutive_failures"] == {("alice-mail",): 3, ("bob-mail",): 0}
    # bob never succeeded: no sample rather than a made-up age
    (age,) = found["crmsync_account_last_success_age_seconds"].items()
    assert age[0] == ("alice-mail",) and 3600 <= age[1] < 3660
    lag = found["crmsync_account_lag_seconds"]
    assert 1200 <= lag[("alice-mail",)] < 1260 and lag[("bob-mail",)] == 0
    assert found["crmsync_account_needs_attention"] == {("alice-mail",): 0, ("bob-mail",): 1}
    assert found["crmsync_account_running"] == {("alice-mail",): 0, ("bob-mail",): 1}
    assert found["crmsync_account_quarantined_items"] == {("alice-mail",): 3, ("bob-mail",): 0}


# -- the sync status page ---------------------------------------------------------------


def test_overview_lists_live_workers(app: Flask, sessions) -> None:
    add_worker(sessions, "host-a:101", ago(seconds=3), running="alice-mail,bob-mail")
    add_worker(sessions, "host-gone:9", ago(minutes=10))
    page = _logged_in(app, "admin").get("/sync").get_data(as_text=True)
    assert 'data-worker="host-a:101"' in page
    assert "alice-mail, bob-mail" in page
    assert "host-gone" not in page
    assert "no worker is running" not in page.lower()
    assert "kept for 30 days" in page


def test_overview_warns_when_no_worker_runs(app: Flask, sessions) -> None:
    add_worker(sessions, "host-gone:9", ago(minutes=10))
    page = _logged_in(app, "admin").get("/sync").get_data(as_text=True)
    assert "No worker is running: accounts are not synced" in page


def test_account_page_names_the_worker_of_each_run(app: Flask, sessions) -> None:
    account_id = add_account(sessions, "alice-mail")
    with sessions.begin() as session:
        session.add(
            SyncRun(
                account_id=account_id,
                started_at=ago(minutes=5),
                finished_at=ago(minutes=4),
                status="ok",
                worker="host-a:101",
            )
        )
    page = _logged_in(app, "admin").get(f"/sync/{account_id}").get_data(as_text=True)
    assert '<td class="worker">host-a:101</td>' in page
    assert "kept for 30 days" in page


def test_settings_keep_the_token_out_of_their_repr(app: Flask) -> None:
    with app.app_context():
        assert TOKEN not in repr(app_settings())
