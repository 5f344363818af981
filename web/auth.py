"""Logging in and out, changing one's password, and the role checks of every page.

Roles: a viewer reads, staff also write notes, an admin also works the review
queue, the sync status and the accounts. Every route requires a login (the
``before_request`` hook below) unless it is marked :func:`public`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Blueprint, Flask, abort, current_app, flash, redirect, render_template, request
from flask import session as cookie
from flask.typing import ResponseReturnValue
from flask_login import (
    AnonymousUserMixin,
    LoginManager,
    UserMixin,
    current_user,
    login_user,
    logout_user,
)
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from crm.models import User
from crm.users import (
    MIN_PASSWORD_LENGTH,
    ThrottledError,
    UserError,
    authenticate,
    set_password,
    verify_password,
)
from web import db

bp = Blueprint("auth", __name__)
RANK = {"viewer": 0, "staff": 1, "admin": 2}
F = TypeVar("F", bound=Callable[..., Any])


class SessionUser(UserMixin):
    """The logged-in user as Flask-Login sees it. The id carries the time the password
    was last changed, so changing it ends every other session."""

    def __init__(self, user: User) -> None:
        self.user_id = user.id
        self.name = user.name
        self.role = user.role
        self.stamp = int(user.password_changed_at.timestamp() * 1_000_000)

    def get_id(self) -> str:
        return f"{self.user_id}:{self.stamp}"

    def may(self, role: str) -> bool:
        """True when this user has ``role`` or a higher one."""
        return RANK[self.role] >= RANK[role]


class Anonymous(AnonymousUserMixin):
    """Nobody logged in: has no role."""

    name = ""
    role = ""

    def may(self, role: str) -> bool:
        return False


def init_app(app: Flask) -> None:
    """Flask-Login, and the rule that every endpoint needs a login."""
    manager = LoginManager(app)
    manager.anonymous_user = Anonymous
    manager.login_view = "auth.login"
    manager.login_message = "Please log in."
    manager.session_protection = "basic"
    manager.user_loader(_load_user)
    app.before_request(_require_login)
    app.register_blueprint(bp)


def public(view: F) -> F:
    """Marks a view that needs no login (the login page, static files)."""
    view.crmsync_public = True  # type: ignore[attr-defined]
    return view


def admins_only(blueprint: Blueprint) -> None:
    """Every page of ``blueprint`` answers 403 to users below admin."""

    @blueprint.before_request
    @role_required("admin")
    def _admins_only() -> None:
        return None


def role_required(role: str) -> Callable[[F], F]:
    """The view answers 403 to users below ``role``."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.may(role):
                abort(403)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorate


def _load_user(user_id: str) -> SessionUser | None:
    raw_id, _, stamp = user_id.partition(":")
    if not raw_id.isdigit():
        return None
    user = db.session().get(User, int(raw_id))
    if user is None or not user.active:
        return None
    loaded = SessionUser(user)
    return loaded if str(loaded.stamp) == stamp else None


def _require_login() -> ResponseReturnValue | None:
    if request.endpoint is None or request.endpoint == "static":
        return None
    view = current_app.view_functions.get(request.endpoint)
    if getattr(view, "crmsync_public", False) or current_user.is_authenticated:
        return None
    return current_app.login_manager.unauthorized()  # type: ignore[attr-defined]


class LoginForm(FlaskForm):
    name = StringField("User name", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])


class PasswordForm(FlaskForm):
    current = PasswordField("Current password", validators=[DataRequired()])
    new = PasswordField(
        "New password", validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH, max=1024)]
    )
    repeat = PasswordField(
        "New password again", validators=[DataRequired(), EqualTo("new", "does not match")]
    )


@bp.route("/login", methods=["GET", "POST"])
@public
def login() -> ResponseReturnValue:
    form = LoginForm()
    if current_user.is_authenticated:
        return redirect(_next_url())
    status = 200
    if form.validate_on_submit():
        session = db.session()
        try:
            who = authenticate(session, form.name.data, form.password.data, _client())
        except ThrottledError as exc:
            session.commit()
            flash(str(exc), "error")
            return render_template("login.html", form=form), 429
        session.commit()
        if who is not None:
            user = session.get_one(User, who.id)
            cookie.clear()
            login_user(SessionUser(user))
            return redirect(_next_url())
        flash("Wrong user name or password.", "error")
        status = 401
    elif request.method == "POST":
        status = 400
    return render_template("login.html", form=form), status


@bp.route("/logout", methods=["POST"])
def logout() -> ResponseReturnValue:
    logout_user()
    cookie.clear()
    flash("You are logged out.", "info")
    return redirect("/login")


@bp.route("/account/password", methods=["GET", "POST"])
def change_password() -> ResponseReturnValue:
    form = PasswordForm()
    status = 200
    if form.validate_on_submit():
        session = db.session()
        user = session.get_one(User, current_user.user_id)
        if not verify_password(user, form.current.data):
            form.current.errors.append("wrong password")
            status = 400
        else:
            try:
                set_password(session, user, form.new.data, actor=user.name)
            except UserError as exc:
                form.new.errors.append(str(exc))
                status = 400
            else:
                session.commit()
                login_user(SessionUser(user))  # the new stamp: this session stays valid
                flash("Your password was changed. Other sessions are logged out.", "info")
                return redirect("/")
    elif request.method == "POST":
        status = 400
    return render_template("password.html", form=form), status


def _client() -> str:
    return request.remote_addr or "unknown"


def _next_url() -> str:
    """Where to go after logging in: a local path only (no open redirect)."""
    target = request.args.get("next", "")
    parts = urlsplit(target)
    if target.startswith("/") and not target.startswith("//") and not parts.netloc:
        return target
    return "/"
