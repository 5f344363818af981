"""A user's own page: who they are, how to add the customer address book to a phone or
Thunderbird, and their app passwords (create, list, revoke).

A new app password exists only in the answer to the POST that made it: it is rendered
into that page (never a URL, a flash message in the cookie, or a log line), the page
is not cached, and afterwards only its name and dates are stored and shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from flask import (
    Blueprint,
    Response,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField
from wtforms.validators import DataRequired, Length

from crm import apppasswords
from crm.addressbooks import Book, books_for
from crm.models import User
from crm.users import UserError
from web import db

bp = Blueprint("profile", __name__, url_prefix="/profile")


class AppPasswordForm(FlaskForm):
    name = StringField("Device name", validators=[DataRequired(), Length(max=64)])


class RevokeForm(FlaskForm):
    name = HiddenField(validators=[DataRequired(), Length(max=64)])


@dataclass(frozen=True)
class DavSetup:
    """What a user enters in a CardDAV client, for this site as the browser reached it."""

    server: str  # the site's root URL: clients find /dav/ through /.well-known/carddav
    host: str  # what iOS asks for as "Server"
    books: list[tuple[Book, str]]  # each book the role allows, with its direct URL
    secure: bool


def dav_setup(user_name: str, role: str) -> DavSetup:
    """The set-up values for ``user_name`` (the books come from ``role``)."""
    root = request.url_root
    home = f"{root}dav/addressbooks/{quote(user_name, safe='@.-_~')}/"
    books = [(b, f"{home}{quote(b.slug, safe='')}/") for b in books_for(db.session(), role)]
    return DavSetup(root, request.host, books, request.is_secure)


@bp.route("")
def show() -> ResponseReturnValue:
    return _page(AppPasswordForm())


@bp.route("/app-passwords", methods=["POST"])
def create() -> ResponseReturnValue:
    form = AppPasswordForm()
    if not form.validate_on_submit():
        return _page(form, status=400)
    session = db.session()
    try:
        password = apppasswords.create(
            session,
            session.get_one(User, current_user.user_id),
            form.name.data,
            actor=current_user.name,
        )
    except UserError as exc:
        session.rollback()
        form.name.errors = [str(exc)]
        return _page(form, status=400)
    session.commit()
    # Shown in this answer only; the form starts empty again for the next device.
    response = _page(AppPasswordForm(formdata=None), created=(form.name.data.strip(), password))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/app-passwords/revoke", methods=["POST"])
def revoke() -> ResponseReturnValue:
    form = RevokeForm()
    if not form.validate_on_submit():
        return _page(AppPasswordForm(formdata=None), status=400)
    session = db.session()
    # Scoped to the logged-in user: another user's app password is never found here.
    if apppasswords.revoke(session, current_user.user_id, form.name.data, actor=current_user.name):
        session.commit()
        flash(f"App password “{form.name.data}” revoked: the device using it is locked out.")
    else:
        flash(f"You have no app password named “{form.name.data}”.", "error")
    return redirect(url_for("profile.show"))


def _page(form: AppPasswordForm, status: int = 200, **extra: Any) -> Response:
    session = db.session()
    page = render_template(
        "profile.html",
        form=form,
        revoke_form=RevokeForm(formdata=None),
        setup=dav_setup(current_user.name, current_user.role),
        app_passwords=apppasswords.list_for(session, current_user.user_id),
        **extra,
    )
    return make_response(page, status)
