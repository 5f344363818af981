"""``/healthz`` for load balancers and systemd, ``/metrics`` for Prometheus.

Both read the database when asked (:mod:`crm.health`), so they tell the truth whichever
process runs the workers. ``/healthz`` needs no login and names no account; ``/metrics``
answers a logged-in admin or ``Authorization: Bearer <metrics token>``.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue
from flask_login import current_user
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from crm.health import AccountMetrics, Health, account_metrics, health
from web import db
from web.auth import public
from web.filters import settings

log = logging.getLogger(__name__)
bp = Blueprint("health", __name__)


@bp.route("/healthz")
@public
def healthz() -> ResponseReturnValue:
    found = _read_health()
    if found is None:
        unreachable = {"database": False, "workers": 0, "overdue": 0, "needs_attention": 0}
        return jsonify({"status": "down", **unreachable}), 503
    status = found.status(expect_worker=settings().expect_worker)
    body = {
        "status": status,
        "database": True,
        "workers": len(found.workers),
        "overdue": len(found.overdue),
        "needs_attention": len(found.needs_attention),
    }
    return jsonify(body), 503 if status == "down" else 200


@bp.route("/metrics")
@public  # checked below: an admin's session or the bearer token
def metrics() -> ResponseReturnValue:
    if not _bearer_ok():
        if not current_user.is_authenticated:
            return _unauthorized()
        if not current_user.may("admin"):
            return Response("admins only\n", 403, mimetype="text/plain")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SyncCollector())
    response = Response(generate_latest(registry), mimetype=None)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    response.headers["Cache-Control"] = "no-store"
    return response


class SyncCollector(Collector):
    """Reads the accounts and workers from the database at scrape time."""

    def collect(self) -> Iterator[Metric]:
        read = _read_all()
        yield _gauge("crmsync_database_up", "1 when the database answered", 1 if read else 0)
        if read is None:
            return
        found, rows = read
        yield _gauge("crmsync_workers_alive", "Workers seen lately", len(found.workers))
        yield from account_families(rows)


def account_families(rows: list[AccountMetrics]) -> Iterator[Metric]:
    """The per-account metric families, each sample labelled with the account's name."""
    items = CounterMetricFamily(
        "crmsync_account_items", "New items stored from the account", labels=["account"]
    )
    errors = CounterMetricFamily(
        "crmsync_account_errors", "Failed sync runs of the account", labels=["account"]
    )
    gauges = {
        "failures": _labelled("consecutive_failures", "Failed sync runs in a row"),
        "age": _labelled("last_success_age_seconds", "Seconds since the last successful run"),
        "lag": _labelled("lag_seconds", "Seconds past the account's due time"),
        "attention": _labelled("needs_attention", "1 while the account waits for an admin"),
        "running": _labelled("running", "1 while a live worker syncs the account"),
        "quarantined": _labelled("quarantined_items", "Items kept in quarantine"),
    }
    for row in rows:
        label = [row.name]
        items.add_metric(label, row.items_total)
        errors.add_metric(label, row.errors_total)
        gauges["failures"].add_metric(label, row.failures)
        if row.last_success_age is not None:
            gauges["age"].add_metric(label, row.last_success_age)
        gauges["lag"].add_metric(label, row.lag)
        gauges["attention"].add_metric(label, int(row.needs_attention))
        gauges["running"].add_metric(label, int(row.running))
        gauges["quarantined"].add_metric(label, row.quarantined)
    yield items
    yield errors
    yield from gauges.values()


def _labelled(name: str, documentation: str) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"crmsync_account_{name}", documentation, labels=["account"])


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _read_health() -> Health | None:
    """The health, or ``None`` when the database cannot be reached."""
    read = _read_all(with_accounts=False)
    return None if read is None else read[0]


def _read_all(*, with_accounts: bool = True) -> tuple[Health, list[AccountMetrics]] | None:
    config = settings()
    worker_grace = timedelta(seconds=config.worker_grace_seconds)
    now = datetime.now(UTC)
    session = db.session()
    try:
        found = health(
            session,
            now,
            worker_grace=worker_grace,
            overdue_grace=timedelta(seconds=config.overdue_grace_seconds),
        )
        rows = account_metrics(session, now, worker_grace=worker_grace) if with_accounts else []
        session.rollback()  # read only: end the transaction now
    except SQLAlchemyError as exc:
        # The first line names the error, not the URL nor its password.
        log.warning("database unreachable: %s", str(exc).splitlines()[0])
        session.rollback()
        return None
    return found, rows


def _bearer_ok() -> bool:
    """Whether the request carries the configured metrics token (never logged)."""
    token = settings().metrics_token
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if not token or scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def _unauthorized() -> Response:
    response = Response("authentication required\n", 401, mimetype="text/plain")
    response.headers["WWW-Authenticate"] = 'Bearer realm="crmsync metrics"'
    return response
