"""Adding and editing people and organizations in the web view (staff and admins).

Every value is checked by :mod:`crm.customeredit`; what is wrong is shown at its field
with the reason, and nothing of that entry is stored.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import Length, Optional

from crm.customeredit import ID_FIELDS, TEXT_FIELDS, CustomerInput, InvalidValues, save_customer
from crm.models import Organization, Person, User
from web import db
from web.auth import role_required
from web.filters import customer_url, settings

bp = Blueprint("customeredit", __name__)


class CustomerForm(FlaskForm):
    name = StringField("Name", validators=[Length(max=255)])
    given_name = StringField("Given name", validators=[Optional(), Length(max=255)])
    family_name = StringField("Family name", validators=[Optional(), Length(max=255)])
    organization = StringField("Organization (its name)", validators=[Length(max=255)])
    owner = SelectField("Looked after by", choices=[], validate_choice=False)
    title = StringField("Title or role", validators=[Length(max=255)])
    emails = TextAreaField("E-mail addresses (one per line)", validators=[Length(max=4000)])
    phones = TextAreaField("Phone numbers (one per line)", validators=[Length(max=4000)])
    website = StringField("Web site", validators=[Length(max=512)])
    street = StringField("Street", validators=[Length(max=255)])
    postal_code = StringField("Postal code", validators=[Length(max=32)])
    locality = StringField("City", validators=[Length(max=128)])
    region = StringField("Region", validators=[Length(max=128)])
    country = StringField("Country", validators=[Length(max=128)])
    iban = StringField("IBAN", validators=[Length(max=64)])
    bic = StringField("BIC", validators=[Length(max=32)])
    vat_id = StringField("VAT id", validators=[Length(max=32)])
    notes = TextAreaField("Notes", validators=[Length(max=10_000)])


@bp.route("/people/new", methods=["GET", "POST"], defaults={"customer_id": None})
@bp.route("/people/<int:customer_id>/edit", methods=["GET", "POST"])
@role_required("staff")
def person(customer_id: int | None) -> ResponseReturnValue:
    return _edit("person", customer_id)


@bp.route("/organizations/new", methods=["GET", "POST"], defaults={"customer_id": None})
@bp.route("/organizations/<int:customer_id>/edit", methods=["GET", "POST"])
@role_required("staff")
def organization(customer_id: int | None) -> ResponseReturnValue:
    return _edit("organization", customer_id)


def _edit(kind: str, customer_id: int | None) -> ResponseReturnValue:
    session = db.session()
    existing: Person | Organization | None = None
    if customer_id is not None:
        existing = (
            session.get(Person, customer_id)
            if kind == "person"
            else session.get(Organization, customer_id)
        )
    if customer_id is not None and existing is None:
        abort(404)
    form = CustomerForm()
    form.owner.choices = [("", "nobody")] + [
        (str(uid), name)
        for uid, name in session.execute(
            select(User.id, User.name).where(User.role != "viewer").order_by(User.name)
        )
    ]
    if not form.is_submitted() and existing is not None:
        _fill(form, existing)
    status = 200
    if form.validate_on_submit():
        entered, problem = _entered(form, kind)
        if problem:
            form.organization.errors = [problem]
        else:
            try:
                saved = save_customer(
                    session,
                    entered,
                    actor=current_user.name,
                    default_region=settings().default_region,
                    customer_id=customer_id,
                )
            except InvalidValues as exc:
                session.rollback()
                _show(form, exc)
            else:
                session.commit()
                flash(f"{'Saved' if existing else 'Added'}: {entered.name.strip()}.")
                return redirect(customer_url(kind, saved.id))
        status = 400
    elif form.is_submitted():
        status = 400
    back = customer_url(kind, customer_id) if customer_id is not None else "/customers"
    page = render_template("customer_edit.html", form=form, kind=kind, existing=existing, back=back)
    return page, status


def _entered(form: CustomerForm, kind: str) -> tuple[CustomerInput, str]:
    """What the form says, and a problem with its organization's name."""
    organization_id, problem = None, ""
    org_name = (form.organization.data or "").strip()
    if kind == "person" and org_name:
        matches = (
            db.session()
            .scalars(select(Organization.id).where(Organization.name == org_name).limit(2))
            .all()
        )
        if len(matches) != 1:
            problem = f"no organization is called “{org_name}”" if not matches else (
                f"several organizations are called “{org_name}”"
            )  # fmt: skip
        else:
            organization_id = matches[0]
    texts = {k: (getattr(form, k).data or "").strip() for k in TEXT_FIELDS if hasattr(form, k)}
    if kind == "organization":
        texts.pop("title", None)
    owner = form.owner.data or ""
    entered = CustomerInput(
        kind=kind,
        name=form.name.data or "",
        given_name=form.given_name.data or "",
        family_name=form.family_name.data or "",
        organization_id=organization_id,
        owner_id=int(owner) if owner.isdigit() and kind == "organization" else None,
        emails=(form.emails.data or "").splitlines(),
        phones=(form.phones.data or "").splitlines(),
        texts=texts,
        ids={k: getattr(form, k).data or "" for k in ID_FIELDS},
    )
    return entered, problem


def _fill(form: CustomerForm, customer: Person | Organization) -> None:
    if isinstance(customer, Person):
        form.name.data = customer.display_name
        form.given_name.data, form.family_name.data = customer.given_name, customer.family_name
        form.organization.data = customer.organization.name if customer.organization else ""
        form.title.data = customer.title
    else:
        form.name.data = customer.name
        form.owner.data = str(customer.owner_id or "")
    for key in [*TEXT_FIELDS, *ID_FIELDS]:
        if hasattr(customer, key) and hasattr(form, key):
            getattr(form, key).data = getattr(customer, key)
    for kind in ("email", "phone"):
        values = [p.original or p.value for p in customer.contact_points if p.kind == kind]
        getattr(form, f"{kind}s").data = "\n".join(values)


#: the form field each problem's field belongs to
_FIELDS: dict[str, str] = {
    "email": "emails",
    "phone": "phones",
    "IBAN": "iban",
    "BIC": "bic",
    "VAT id": "vat_id",
    "organization": "organization",
    "owner": "owner",
}


def _show(form: CustomerForm, exc: InvalidValues) -> None:
    """Each problem at its field, with the value and the reason."""
    for problem in exc.problems:
        target: Any = getattr(form, _FIELDS.get(problem.field, problem.field), form.name)
        errors = list(target.errors or [])
        errors.append(f"{problem.value}: {problem.reason}" if problem.value else problem.reason)
        target.errors = errors
