"""Finding customers, and a person's or organization's page: master data, activity, and
the unified timeline; staff add notes there."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.validators import DataRequired, Length

from crm.accounts import list_accounts
from crm.customers import MAX_NOTE, add_note, get_organization, get_person, people_of
from crm.search import search_customers
from crm.timeline import Customer, activity_by_month
from web import db
from web.auth import role_required
from web.filters import customer_url, page_number
from web.followups import customer_follow_ups, new_form
from web.timeline import FilterForm, current_viewer, load_page

bp = Blueprint("customers", __name__)
PER_PAGE = 25


class NoteForm(FlaskForm):
    text = TextAreaField("Note", validators=[DataRequired(), Length(max=MAX_NOTE)])


@bp.route("/")
def home() -> ResponseReturnValue:
    return redirect(url_for("customers.index"))


@bp.route("/customers")
def index() -> ResponseReturnValue:
    query = request.args.get("q", "")
    page_no = page_number(request.args.get("page"))
    found = search_customers(
        db.session(), query, viewer=current_viewer(), page=page_no, per_page=PER_PAGE
    )
    return render_template("customers.html", query=query, found=found)


@bp.route("/people/<int:person_id>")
def person(person_id: int) -> ResponseReturnValue:
    found = get_person(db.session(), person_id)
    if found is None:
        abort(404)
    return _customer_page(Customer("person", found.id, found.display_name), person=found)


@bp.route("/organizations/<int:organization_id>")
def organization(organization_id: int) -> ResponseReturnValue:
    found = get_organization(db.session(), organization_id)
    if found is None:
        abort(404)
    people = people_of(db.session(), found.id)
    return _customer_page(
        Customer("organization", found.id, found.name), organization=found, people=people
    )


@bp.route("/people/<int:customer_id>/notes", methods=["POST"], endpoint="person_note")
@bp.route("/organizations/<int:customer_id>/notes", methods=["POST"], endpoint="org_note")
@role_required("staff")
def note(customer_id: int) -> ResponseReturnValue:
    kind = "person" if request.endpoint == "customers.person_note" else "organization"
    session = db.session()
    target = get_person(session, customer_id) if kind == "person" else None
    org = get_organization(session, customer_id) if kind == "organization" else None
    if target is None and org is None:
        abort(404)
    name = target.display_name if target else org.name if org else ""
    form = NoteForm()
    if not form.validate_on_submit():
        flash("A note needs some text (at most 20,000 characters).", "error")
    else:
        add_note(session, Customer(kind, customer_id, name), form.text.data, current_user.name)
        session.commit()
        flash("Note added.", "info")
    return redirect(customer_url(kind, customer_id))


def _customer_page(customer: Customer, **master: object) -> ResponseReturnValue:
    session = db.session()
    form = FilterForm(request.args)
    page = load_page(form, customer)
    activity = (
        activity_by_month(session, customer, viewer=current_viewer()) if not form.cursor else []
    )
    return render_template(
        "customer.html",
        customer=customer,
        page=page,
        form=form,
        activity=activity,
        peak=max((n for _, n in activity), default=0),
        accounts=list_accounts(session),
        note_form=NoteForm(),
        follow_ups=customer_follow_ups(customer.kind, customer.id),
        follow_up_form=new_form(customer.kind, customer.id) if current_user.may("staff") else None,
        **master,
    )
