"""Address books of the CardDAV export, for admins: "All customers" and the books that
hold the customers of one owner or one category, each for the roles chosen.

Whether the input makes a book is crm's decision (crm.addressbooks.add_book); its
reason is shown on the form as it is.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length

from crm.addressbooks import ALL_ROLES, add_book, all_books, delete_book
from crm.users import ROLES, UserError, list_users
from web import db
from web.auth import admins_only

bp = Blueprint("addressbooks", __name__, url_prefix="/admin/address-books")
admins_only(bp)


class BookForm(FlaskForm):
    slug = StringField("Short name", validators=[DataRequired(), Length(max=64)])
    name = StringField("Display name", validators=[Length(max=128)])
    kind = SelectField(
        "Holds the customers of", choices=[("owner", "an owner"), ("category", "a category")]
    )
    value = StringField("Owner (user name) or category", validators=[Length(max=128)])
    roles = SelectMultipleField(
        "Roles that may read it", choices=[(r, r) for r in ROLES], default=list(ALL_ROLES)
    )


@bp.route("")
def index() -> ResponseReturnValue:
    return _page(BookForm())


@bp.route("", methods=["POST"])
def add() -> ResponseReturnValue:
    form = BookForm()
    if not form.validate_on_submit():
        return _page(form, 400)
    session = db.session()
    try:
        book = add_book(
            session,
            form.slug.data,
            form.name.data or "",
            form.kind.data,
            form.value.data or "",
            form.roles.data or [],
            actor=current_user.name,
        )
    except UserError as exc:
        session.rollback()
        return _page(form, 400, problem=str(exc))
    session.commit()
    flash(f"Address book “{book.name}” added: {book.description}.", "info")
    return redirect(url_for("addressbooks.index"))


@bp.route("/<slug>/delete", methods=["POST"])
def delete(slug: str) -> ResponseReturnValue:
    session = db.session()  # CSRFProtect checked the token
    if not delete_book(session, slug, actor=current_user.name):
        abort(404, "There is no configured address book by that name.")
    session.commit()
    flash(f"Address book {slug} deleted (the customers in it stay).", "info")
    return redirect(url_for("addressbooks.index"))


def _page(form: BookForm, status: int = 200, problem: str = "") -> ResponseReturnValue:
    session = db.session()
    return render_template(
        "addressbooks.html",
        books=all_books(session),
        users=[u.name for u in list_users(session)],
        form=form,
        problem=problem,
    ), status
