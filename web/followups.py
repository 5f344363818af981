"""Follow-ups (Wiedervorlage) in the web view: "My follow-ups" (admins may look at anyone's),
the form on a customer's page and on each timeline entry, and the done/cancel buttons.

Viewers may look at the lists but not create or close follow-ups; closing is for the
assignee, the creator and admins (crm.followups.may_change)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.wrappers import Response
from wtforms import BooleanField, DateField, HiddenField, SelectField, TextAreaField
from wtforms.validators import AnyOf, Length, Optional

from crm.followups import (
    MAX_NOTE,
    QUICK_CHOICES,
    FollowUpItem,
    close_follow_up,
    create_follow_up,
    due_for,
    follow_ups_for,
    open_for_customer,
    recently_closed,
    reopen_follow_up,
)
from crm.models import Interaction, User, utcnow
from crm.normalize import InvalidValueError
from crm.visibility import visible_to
from web import db
from web.auth import role_required
from web.filters import customer_url
from web.timeline import current_viewer

bp = Blueprint("followups", __name__, url_prefix="/follow-ups")

#: the "When" choices of the forms: a quick choice, or the day in "due_on"
WHEN_CHOICES = [("", "On the day below"), *QUICK_CHOICES.items()]


class FollowUpForm(FlaskForm):
    """A new follow-up on a customer (``kind`` + ``customer_id``) or from a timeline entry
    (``interaction_id``; the customer is then the entry's)."""

    kind = HiddenField(validators=[Optional(), AnyOf(["person", "organization"])])
    customer_id = HiddenField()
    interaction_id = HiddenField()
    assignee = SelectField("Assignee", coerce=int, validate_choice=False, default=0)
    when = SelectField("When", choices=WHEN_CHOICES, default="")
    due_on = DateField("Due on", validators=[Optional()])
    note = TextAreaField("Note", validators=[Length(max=MAX_NOTE)])
    waiting_for_reply = BooleanField("Waiting for a reply (closes itself when it comes)")
    next = HiddenField()


class ReopenForm(FlaskForm):
    pass


#: how long closed follow-ups stay listed (to reopen one closed by mistake)
RECENT_DAYS = 14


class CloseForm(FlaskForm):
    status = HiddenField(validators=[AnyOf(["done", "cancelled"])])
    next = HiddenField()


def assignee_choices() -> list[tuple[int, str]]:
    """Who a follow-up can be given to: active staff and admins, me first."""
    rows = db.session().execute(
        select(User.id, User.name)
        .where(User.active, User.role.in_(["staff", "admin"]))
        .order_by(User.name)
    )
    choices = [(uid, name) for uid, name in rows]
    return sorted(choices, key=lambda c: c[0] != current_user.user_id)


def new_form(kind: str, customer_id: int) -> FollowUpForm:
    """The empty form of a customer's page."""
    form = FollowUpForm(
        formdata=None, kind=kind, customer_id=str(customer_id), assignee=current_user.user_id,
        when="no-reply-3d", next=customer_url(kind, customer_id),
    )  # fmt: skip
    form.assignee.choices = assignee_choices()
    return form


def customer_follow_ups(kind: str, customer_id: int) -> list[FollowUpItem]:
    """The open follow-ups a customer's page shows."""
    return open_for_customer(db.session(), kind, customer_id)


@bp.app_template_global()
def may_follow_up() -> bool:
    """Whether the current user gets the follow-up forms (never a viewer)."""
    return bool(current_user.may("staff"))


@bp.app_template_global()
def may_close_follow_up(item: FollowUpItem) -> bool:
    """Whether the current user gets the done/cancel buttons of ``item``."""
    return bool(current_user.may("staff")) and (
        current_user.may("admin")
        or item.assignee_id == current_user.user_id
        or item.created_by == current_user.name
    )


@bp.app_template_global()
def follow_up_choices() -> list[tuple[str, str]]:
    return WHEN_CHOICES


@bp.route("")
def mine() -> ResponseReturnValue:
    user_id = current_user.user_id
    users: list[tuple[int, str]] = []
    if current_user.may("admin"):
        users = assignee_choices()
        chosen = request.args.get("user", "")
        if chosen.isdigit():
            user_id = int(chosen)
    elif request.args.get("user", str(user_id)) != str(user_id):
        abort(403)
    session = db.session()
    whose = session.get(User, user_id)
    if whose is None:
        abort(404)
    agenda = follow_ups_for(session, user_id, today=date.today())
    closed = recently_closed(session, user_id, since=utcnow() - timedelta(days=RECENT_DAYS))
    return render_template(
        "followups.html",
        agenda=agenda,
        closed=closed,
        recent_days=RECENT_DAYS,
        whose=whose,
        users=users,
        reopen_form=ReopenForm(formdata=None),
    )


@bp.route("", methods=["POST"])
@role_required("staff")
def create() -> ResponseReturnValue:
    form = FollowUpForm()
    back = _safe_next(form.next.data)
    if not form.validate_on_submit():
        return _refused(back, " ".join(e for errors in form.errors.values() for e in errors))
    session = db.session()
    today = date.today()
    waiting = bool(form.waiting_for_reply.data)
    if form.when.data in QUICK_CHOICES:
        due_on, quick_waits = due_for(form.when.data, today)
        waiting = waiting or quick_waits
    elif form.due_on.data is not None:
        due_on = form.due_on.data
    else:
        return _refused(back, "Choose when: a quick choice or a day.")
    customer: dict[str, Any] = {}
    if form.customer_id.data and form.customer_id.data.isdigit():
        key = "person_id" if form.kind.data == "person" else "organization_id"
        customer[key] = int(form.customer_id.data)
    if form.interaction_id.data:
        iid = int(form.interaction_id.data) if form.interaction_id.data.isdigit() else 0
        seen = session.scalar(
            select(Interaction.id).where(Interaction.id == iid, visible_to(current_viewer()))
        )
        if seen is None:
            abort(404)
        customer["interaction_id"] = iid
    try:
        follow_up = create_follow_up(
            session,
            assignee_id=form.assignee.data or current_user.user_id,
            due_on=due_on,
            actor=current_user.name,
            note=form.note.data or "",
            waiting_for_reply=waiting,
            today=today,
            **customer,
        )
    except InvalidValueError as exc:
        session.rollback()
        return _refused(back, f"No follow-up added: {exc.reason}.")
    session.commit()
    flash(f"Follow-up added, due {follow_up.due_on.isoformat()}.", "info")
    if back == url_for("followups.mine"):
        return redirect(back)
    return redirect(back or customer_url(*_customer_of(follow_up)))


@bp.route("/<int:follow_up_id>/close", methods=["POST"])
@role_required("staff")
def close(follow_up_id: int) -> ResponseReturnValue:
    form = CloseForm()
    if not form.validate_on_submit():
        abort(400)
    session = db.session()
    try:
        close_follow_up(
            session, follow_up_id, actor=current_user.name, viewer=current_viewer(),
            status=form.status.data,
        )  # fmt: skip
    except LookupError:
        abort(404)
    except PermissionError:
        abort(403)
    session.commit()
    flash("Follow-up done." if form.status.data == "done" else "Follow-up cancelled.", "info")
    return redirect(_safe_next(form.next.data) or url_for("followups.mine"))


@bp.route("/<int:follow_up_id>/reopen", methods=["POST"])
@role_required("staff")
def reopen(follow_up_id: int) -> ResponseReturnValue:
    if not ReopenForm().validate_on_submit():
        abort(400)
    session = db.session()
    try:
        follow_up = reopen_follow_up(
            session, follow_up_id, actor=current_user.name, viewer=current_viewer()
        )
    except LookupError:
        abort(404)
    except PermissionError:
        abort(403)
    session.commit()
    flash(f"Follow-up open again, due {follow_up.due_on.isoformat()}.", "info")
    return redirect(url_for("followups.mine"))


def _customer_of(follow_up: Any) -> tuple[str, int]:
    if follow_up.person_id is not None:
        return "person", int(follow_up.person_id)
    return "organization", int(follow_up.organization_id)


def _refused(back: str, message: str) -> Response:
    flash(message or "The follow-up form was not filled in correctly.", "error")
    return redirect(back or url_for("followups.mine"))


def _safe_next(raw: str | None) -> str:
    """A path on this site to return to, or ""."""
    if raw and raw.startswith("/") and not raw.startswith("//") and "\\" not in raw:
        return raw
    return ""
