"""Sync status per account and folder, and "sync now" (a request the worker picks up from
the database, so web and worker may be different processes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from crm.accounts import account_statuses, get_account, recent_runs
from crm.health import live_workers
from crm.syncstate import request_sync
from web import db
from web.auth import admins_only
from web.filters import settings

bp = Blueprint("status", __name__, url_prefix="/sync")
admins_only(bp)


@bp.route("")
def overview() -> ResponseReturnValue:
    session = db.session()
    grace = timedelta(seconds=settings().worker_grace_seconds)
    return render_template(
        "status.html",
        statuses=account_statuses(session),
        workers=live_workers(session, datetime.now(UTC), grace),
        keep_days=_keep_days(),
    )


@bp.route("/<int:account_id>")
def account(account_id: int) -> ResponseReturnValue:
    session = db.session()
    found = get_account(session, account_id)
    if found is None:
        abort(404)
    (status,) = account_statuses(session, found)
    return render_template(
        "status_account.html",
        status=status,
        runs=recent_runs(session, account_id),
        keep_days=_keep_days(),
    )


@bp.route("/<int:account_id>/now", methods=["POST"])
def now(account_id: int) -> ResponseReturnValue:
    session = db.session()
    found = get_account(session, account_id)
    if found is None:
        abort(404)
    # CSRFProtect checked the token
    request_sync(session, found.id, current_user.name)
    session.commit()
    flash(f"Sync of {found.name} requested; it starts within a few seconds.", "info")
    return redirect(url_for("status.overview"))


def _keep_days() -> str:
    """How long the run history is kept, in words: "90 days", "1 day", "12 hours"."""
    seconds = settings().keep_runs_seconds
    count, unit = (seconds / 86400, "day") if seconds >= 86400 else (seconds / 3600, "hour")
    return f"{count:g} {unit}{'' if count == 1 else 's'}"
