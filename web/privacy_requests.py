"""Data-subject requests in the web view (admins only): look up what is stored about an
address, download it as a ZIP, erase it after a confirmation; and the audit log."""

from __future__ import annotations

import tempfile
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import HiddenField
from wtforms.validators import DataRequired, Length

from crm import audit as audit_log
from crm.archive import Archive
from crm.normalize import email_key
from crm.subjects import (
    ErasePlan,
    PlanChangedError,
    erase_plan,
    erase_subject,
    export_subject,
    find_subject,
)
from web import db
from web.auth import admins_only
from web.filters import page_number, settings

bp = Blueprint("privacy_requests", __name__, url_prefix="/admin/persons")
admins_only(bp)
audit_bp = Blueprint("audit", __name__, url_prefix="/admin/audit")
admins_only(audit_bp)
AUDIT_PER_PAGE = 50


class SubjectForm(FlaskForm):
    email = HiddenField(validators=[DataRequired(), Length(max=320)])


class EraseForm(FlaskForm):
    email = HiddenField(validators=[DataRequired(), Length(max=320)])
    #: the counts the admin saw, "kind=n;kind=n": a plan that changed since is refused
    counts = HiddenField(validators=[DataRequired(), Length(max=1000)])


def _counts_text(plan: ErasePlan) -> str:
    return ";".join(f"{k}={v}" for k, v in plan.counts.items())


def _actor() -> str:
    return str(current_user.name)


@bp.route("")
def lookup() -> ResponseReturnValue:
    key = email_key(request.args.get("email", ""))[:320]
    subject = find_subject(db.session(), key) if key else None
    return render_template(
        "person_request.html",
        email=key,
        subject=subject,
        form=SubjectForm(email=key),
    )


@bp.route("/export", methods=["POST"])
def export() -> ResponseReturnValue:
    form = SubjectForm()
    if not form.validate_on_submit():
        abort(400, "Which address?")
    key = email_key(form.email.data)
    session = db.session()
    archive = Archive(settings().archive_path)
    name = f"export-{key}-{date.today().isoformat()}"
    # outlives this function: send_file streams it and closes (so deletes) it at the end
    bundle = tempfile.TemporaryFile(suffix=".zip")  # noqa: SIM115
    with tempfile.TemporaryDirectory(prefix="crmsync-export-") as tmp:
        out = Path(tmp) / name
        export_subject(session, archive, key, out, actor=_actor())
        with zipfile.ZipFile(bundle, "w", zipfile.ZIP_DEFLATED) as archive_zip:
            for path in sorted(out.rglob("*")):
                if path.is_file():
                    archive_zip.write(path, f"{name}/{path.relative_to(out).as_posix()}")
    session.commit()
    bundle.seek(0)
    return send_file(
        bundle,
        mimetype="application/zip",
        as_attachment=True,
        download_name=f"{name}.zip",
    )


@bp.route("/erase", methods=["GET"])
def confirm_erase() -> ResponseReturnValue:
    key = email_key(request.args.get("email", ""))[:320]
    if not key:
        return redirect(url_for("privacy_requests.lookup"))
    plan = erase_plan(db.session(), key)
    if plan.is_empty:
        flash(f"Nothing is stored about {key}.", "error")
        return redirect(url_for("privacy_requests.lookup", email=key))
    form = EraseForm(email=key, counts=_counts_text(plan))
    return render_template("person_erase.html", plan=plan, form=form)


@bp.route("/erase", methods=["POST"])
def erase() -> ResponseReturnValue:
    form = EraseForm()
    if not form.validate_on_submit():
        abort(400, "The confirmation is incomplete.")
    key = email_key(form.email.data)
    session = db.session()  # a writing transaction: the plan is computed inside it
    plan = erase_plan(session, key)
    if plan.is_empty:
        session.rollback()
        flash(f"Nothing is stored about {key}.", "error")
        return redirect(url_for("privacy_requests.lookup", email=key))
    if _counts_text(plan) != form.counts.data:
        session.rollback()
        flash(
            f"What is stored about {key} changed since the confirmation page was shown; "
            "nothing was erased. Check the list again.",
            "error",
        )
        return redirect(url_for("privacy_requests.confirm_erase", email=key))
    try:
        summary = erase_subject(session, Archive(settings().archive_path), plan, _actor())
    except PlanChangedError as exc:
        flash(str(exc), "error")
        return redirect(url_for("privacy_requests.confirm_erase", email=key))
    counts = summary.counts
    flash(
        f"{key} erased: {counts['people']} people, {counts['interactions_deleted']} "
        f"interactions, {len(summary.files_removed)} archived files.",
        "success",
    )
    return redirect(url_for("privacy_requests.lookup", email=key))


@audit_bp.route("")
def audit() -> ResponseReturnValue:
    args = request.args
    actor = args.get("actor", "").strip()[:128]
    action = args.get("action", "").strip()[:64]
    target = args.get("target", "").strip()[:512]
    since_text = args.get("since", "").strip()
    since = None
    if since_text:
        try:
            since = datetime.combine(date.fromisoformat(since_text), datetime.min.time(), UTC)
        except ValueError:
            flash(f"Not a date: {since_text} (use YYYY-MM-DD).", "error")
            since_text = ""
    page_no = page_number(args.get("page"))
    rows = audit_log.entries(
        db.session(),
        actor=actor or None,
        action=action or None,
        target=target or None,
        since=since,
        limit=AUDIT_PER_PAGE + 1,
        offset=(page_no - 1) * AUDIT_PER_PAGE,
    )
    return render_template(
        "audit.html",
        entries=[(e, audit_log.details(e)) for e in rows[:AUDIT_PER_PAGE]],
        has_more=len(rows) > AUDIT_PER_PAGE,
        page_no=page_no,
        actor=actor,
        action=action,
        target=target,
        since=since_text,
    )
