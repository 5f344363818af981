"""The review queue: external addresses that matched no customer, and the admin's
decisions on them. Each decision is stored as a rule or contact point and applied to
the mail already stored, so its timeline links appear at once."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf import FlaskForm
from markupsafe import Markup
from wtforms import BooleanField, HiddenField, StringField
from wtforms.validators import DataRequired, Length, Regexp

from crm.customers import create_person_for_address
from crm.models import ReviewItem
from crm.normalize import InvalidValueError, domain_of
from crm.review import (
    Relinked,
    assign_address,
    count_open,
    get_item,
    ignore,
    open_items,
    sample_subjects,
)
from crm.search import search_customers
from crm.visibility import Viewer
from web import db
from web.auth import admins_only
from web.filters import customer_url, page_number, settings

bp = Blueprint("review", __name__, url_prefix="/review")
admins_only(bp)
PER_PAGE = 50


class AssignForm(FlaskForm):
    target = HiddenField(validators=[DataRequired(), Regexp(r"^(person|organization):\d+$")])


class CreateForm(FlaskForm):
    display_name = StringField("Name", validators=[DataRequired(), Length(max=255)])
    with_organization = BooleanField("Also the organization of the domain", default=True)


class IgnoreForm(FlaskForm):
    scope = HiddenField(validators=[DataRequired(), Regexp(r"^(address|domain)$")])


@bp.route("")
def queue() -> ResponseReturnValue:
    session = db.session()
    page_no = page_number(request.args.get("page"))
    items = open_items(session, PER_PAGE + 1, (page_no - 1) * PER_PAGE)
    shown = items[:PER_PAGE]
    return render_template(
        "review.html",
        items=shown,
        samples=sample_subjects(session, [i.email for i in shown]),
        total=count_open(session),
        page_no=page_no,
        has_more=len(items) > PER_PAGE,
        policy=settings().match_policy,
        ignore_form=IgnoreForm(),
        create_form=CreateForm(),
    )


@bp.route("/<int:item_id>/assign", methods=["GET"])
def choose(item_id: int) -> ResponseReturnValue:
    item = _item(item_id)
    query = request.args.get("q", "").strip() or domain_of(item.email)
    found = search_customers(db.session(), query, viewer=Viewer.everyone(), per_page=20)
    return render_template(
        "review_assign.html", item=item, query=query, found=found, form=AssignForm()
    )


@bp.route("/<int:item_id>/assign", methods=["POST"])
def assign(item_id: int) -> ResponseReturnValue:
    item, form = _item(item_id), AssignForm()
    if not form.validate_on_submit():
        abort(400, "Choose a person or an organization.")
    kind, _, raw_id = form.target.data.partition(":")
    session = db.session()
    try:
        done = assign_address(
            session,
            item.email,
            settings().match_policy,
            person_id=int(raw_id) if kind == "person" else None,
            organization_id=int(raw_id) if kind == "organization" else None,
            actor=current_user.name,
        )
    except InvalidValueError as exc:
        session.rollback()
        flash(f"{item.email}: {exc}", "error")
        return redirect(url_for("review.queue"))
    session.commit()
    _report(item.email, "assigned", done, kind, int(raw_id))
    return redirect(url_for("review.queue"))


@bp.route("/<int:item_id>/create", methods=["POST"])
def create(item_id: int) -> ResponseReturnValue:
    item, form = _item(item_id), CreateForm()
    if not form.validate_on_submit():
        abort(400, "A new person needs a name.")
    session = db.session()
    try:
        person, done = create_person_for_address(
            session,
            item.email,
            form.display_name.data,
            settings().match_policy,
            with_organization=form.with_organization.data,
            actor=current_user.name,
        )
    except InvalidValueError as exc:
        session.rollback()
        flash(f"{item.email}: {exc}", "error")
        return redirect(url_for("review.queue"))
    session.commit()
    _report(item.email, f"created as {person.display_name}", done, "person", person.id)
    return redirect(url_for("review.queue"))


@bp.route("/<int:item_id>/ignore", methods=["POST"])
def ignore_item(item_id: int) -> ResponseReturnValue:
    item, form = _item(item_id), IgnoreForm()
    if not form.validate_on_submit():
        abort(400, "Ignore the address or the domain.")
    pattern = "@" + domain_of(item.email) if form.scope.data == "domain" else item.email
    session = db.session()
    try:
        done = ignore(session, pattern, settings().match_policy, actor=current_user.name)
    except InvalidValueError as exc:
        session.rollback()
        flash(f"{pattern}: {exc}", "error")
        return redirect(url_for("review.queue"))
    session.commit()
    flash(f"{pattern} is ignored from now on ({done.review_items_closed} queue entries closed).")
    return redirect(url_for("review.queue"))


def _item(item_id: int) -> ReviewItem:
    item = get_item(db.session(), item_id)
    if item is None:
        abort(404)
    return item


def _report(email: str, what: str, done: Relinked, kind: str, customer_id: int) -> None:
    link = customer_url(kind, customer_id)
    flash(
        Markup(
            "{email} {what}: {n} stored mail participant(s) linked."
            ' <a href="{link}">Open the timeline</a>'
        ).format(email=email, what=what, n=done.participants, link=link),
        "info",
    )
