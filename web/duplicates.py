"""Duplicate customers: the likely pairs side by side with their evidence; an admin
merges one into the other or notes that they are different customers (crm.duplicates)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf import FlaskForm
from markupsafe import Markup
from wtforms import HiddenField, IntegerField
from wtforms.validators import AnyOf, DataRequired, NumberRange

from crm.duplicates import KINDS, Kind, MergeError, dismiss, find_duplicates, merge
from web import db
from web.auth import admins_only
from web.filters import customer_url, settings

bp = Blueprint("duplicates", __name__, url_prefix="/admin/duplicates")
admins_only(bp)
SHOWN = 100


class MergeForm(FlaskForm):
    kind = HiddenField(validators=[DataRequired(), AnyOf(KINDS)])
    keep_id = IntegerField(validators=[DataRequired(), NumberRange(min=1)])
    merge_id = IntegerField(validators=[DataRequired(), NumberRange(min=1)])


class DismissForm(FlaskForm):
    kind = HiddenField(validators=[DataRequired(), AnyOf(KINDS)])
    a_id = IntegerField(validators=[DataRequired(), NumberRange(min=1)])
    b_id = IntegerField(validators=[DataRequired(), NumberRange(min=1)])


@bp.route("")
def index() -> ResponseReturnValue:
    kind = request.args.get("kind", "")
    shown_kind: Kind | None = next((k for k in KINDS if k == kind), None)
    candidates = find_duplicates(
        db.session(), kind=shown_kind, limit=SHOWN, policy=settings().match_policy
    )
    return render_template(
        "duplicates.html",
        candidates=candidates,
        kind=shown_kind or "",
        shown=SHOWN,
        merge_form=MergeForm(),
        dismiss_form=DismissForm(),
        customer_url=customer_url,
    )


@bp.route("/merge", methods=["POST"])
def merge_pair() -> ResponseReturnValue:
    form = MergeForm()
    if not form.validate_on_submit():
        abort(400, "Choose the record to keep and the one to merge into it.")
    session = db.session()
    try:
        done = merge(session, form.kind.data, form.keep_id.data, form.merge_id.data, _actor())
    except MergeError as exc:
        session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("duplicates.index"))
    session.commit()
    flash(
        Markup('{summary} <a href="{link}">Open {name}</a>').format(
            summary=done.summary(),
            link=customer_url(done.kind, done.kept_id),
            name=done.kept_name,
        ),
        "info",
    )
    return redirect(url_for("duplicates.index"))


@bp.route("/dismiss", methods=["POST"])
def dismiss_pair() -> ResponseReturnValue:
    form = DismissForm()
    if not form.validate_on_submit():
        abort(400, "Which two records are different customers?")
    session = db.session()
    try:
        dismiss(session, form.kind.data, form.a_id.data, form.b_id.data, _actor())
    except MergeError as exc:
        session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("duplicates.index"))
    session.commit()
    flash("Noted: these are different customers; the pair is not proposed again.", "info")
    return redirect(url_for("duplicates.index"))


def _actor() -> str:
    return str(current_user.name)
