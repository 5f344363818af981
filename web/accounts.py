"""Account admin: add, edit, disable and test IMAP accounts in the browser.

A password entered here is encrypted with the configured key before it is
stored and is never put into a page again; leaving the field empty when editing
keeps the stored one. Accounts from the config file are listed read-only.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp

from crm.accounts import (
    AccountError,
    add_web_account,
    get_account,
    list_accounts,
    set_enabled,
    update_web_account,
)
from crm.models import Account
from crm.secrets import SecretKeyError
from web import db
from web.auth import admins_only
from web.filters import settings
from web.settings import ConnectionTestError

log = logging.getLogger(__name__)
bp = Blueprint("accounts", __name__, url_prefix="/admin/accounts")
admins_only(bp)
#: a DNS name, an IPv4 address, or an IPv6 address (brackets optional)
HOSTNAME = (
    r"^(?=.{1,253}$)[A-Za-z0-9][A-Za-z0-9-]{0,62}(\.[A-Za-z0-9][A-Za-z0-9-]{0,62})*\.?$"
    r"|^\[?[0-9A-Fa-f:.]+\]?$"
)


class AccountForm(FlaskForm):
    name = StringField(
        "Name",
        validators=[
            DataRequired(),
            Regexp(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$", message="letters, digits, . _ @ -"),
        ],
    )
    owner = StringField("Owner (staff member)", validators=[Optional(), Length(max=128)])
    host = StringField(
        "IMAP server", validators=[DataRequired(), Regexp(HOSTNAME, message="not a host name")]
    )
    port = IntegerField("Port", validators=[Optional(), NumberRange(1, 65535)])
    security = SelectField(
        "Security",
        choices=[
            ("ssl", "SSL/TLS (993)"),
            ("starttls", "STARTTLS (143)"),
            ("none", "none (143, test servers only)"),
        ],
    )
    username = StringField("User name", validators=[DataRequired(), Length(max=320)])
    password = PasswordField("Password", validators=[Length(max=1024)])
    folders = TextAreaField(
        "Folders (one per line; \\Sent = the sent folder)", default="INBOX\n\\Sent"
    )
    interval_minutes = IntegerField(
        "Sync every (minutes)", default=5, validators=[NumberRange(1, 1440)]
    )
    tls_verify = BooleanField("Verify the server's certificate", default=True)
    enabled = BooleanField("Enabled", default=True)

    def settings(self) -> dict[str, Any]:
        """The connection settings as stored in ``Account.settings`` (no password)."""
        security = self.security.data
        return {
            "host": self.host.data.strip().strip("[]"),
            "port": self.port.data or (993 if security == "ssl" else 143),
            "security": security,
            "username": self.username.data.strip(),
            "folders": [f.strip() for f in self.folders.data.splitlines() if f.strip()]
            or ["INBOX"],
            "tls_verify": bool(self.tls_verify.data),
        }

    def fill(self, account: Account) -> None:
        """The form showing a stored account (the password stays empty)."""
        s = account.settings
        self.name.data, self.owner.data = account.name, account.owner
        self.host.data, self.port.data = s.get("host", ""), s.get("port")
        self.security.data, self.username.data = s.get("security", "ssl"), s.get("username", "")
        self.folders.data = "\n".join(s.get("folders", ["INBOX"]))
        self.tls_verify.data = s.get("tls_verify", True)
        interval = account.interval_seconds or settings().default_interval_seconds
        self.interval_minutes.data = max(1, round(interval / 60))
        self.enabled.data = account.enabled


@bp.route("")
def index() -> ResponseReturnValue:
    return render_template("accounts.html", accounts=list_accounts(db.session()))


@bp.route("/new", methods=["GET", "POST"])
def new() -> ResponseReturnValue:
    form = AccountForm()
    if request.method == "POST" and request.form.get("action") == "test":
        return _test_and_render(form, None)
    if form.validate_on_submit():
        if not form.password.data:
            form.password.errors.append("enter the password of the mailbox")
        else:
            session = db.session()
            try:
                account = add_web_account(
                    session,
                    name=form.name.data,
                    kind="imap",
                    owner=form.owner.data or "",
                    settings=form.settings(),
                    secret=settings().secret_box.encrypt(form.password.data),
                    interval_seconds=form.interval_minutes.data * 60.0,
                )
                account.enabled = bool(form.enabled.data)
            except AccountError as exc:
                session.rollback()
                form.name.errors.append(str(exc))
            else:
                session.commit()
                flash(f"Account {account.name} added; its first sync starts shortly.", "info")
                return redirect(url_for("status.overview"))
    status = 400 if request.method == "POST" else 200
    return render_template("account_form.html", form=form, account=None), status


@bp.route("/<int:account_id>/edit", methods=["GET", "POST"])
def edit(account_id: int) -> ResponseReturnValue:
    account = _web_account(account_id)
    form = AccountForm()
    form.name.data = account.name  # the name is the account's identity: not editable
    if request.method == "GET":
        form.fill(account)
    elif request.form.get("action") == "test":
        return _test_and_render(form, account)
    elif form.validate_on_submit():
        box = settings().secret_box
        session = db.session()
        update_web_account(
            session,
            account,
            owner=form.owner.data or "",
            settings=form.settings(),
            secret=box.encrypt(form.password.data) if form.password.data else None,
            interval_seconds=form.interval_minutes.data * 60.0,
            enabled=bool(form.enabled.data),
        )
        session.commit()
        flash(f"Account {account.name} saved.", "info")
        return redirect(url_for("accounts.index"))
    status = 400 if request.method == "POST" else 200
    return render_template("account_form.html", form=form, account=account), status


@bp.route("/<int:account_id>/<any(enable, disable):action>", methods=["POST"])
def toggle(account_id: int, action: str) -> ResponseReturnValue:
    account = _web_account(account_id)  # CSRFProtect checked the token
    set_enabled(db.session(), account, action == "enable")
    db.session().commit()
    flash(f"Account {account.name} {action}d.", "info")
    return redirect(url_for("accounts.index"))


def _test_and_render(form: AccountForm, account: Account | None) -> ResponseReturnValue:
    """Log in with what the form says and list the folders; nothing is saved."""
    if account is not None:
        form.name.data = account.name
    result = test_connection(form, account)
    if request.accept_mimetypes.best == "application/json":
        return jsonify(result)  # the test ran: its outcome is in "ok", not the status
    return render_template("account_form.html", form=form, account=account, test=result)


def test_connection(form: AccountForm, account: Account | None) -> dict[str, Any]:
    """{"ok": bool, "folders": [...], "message": str} for the form's settings."""
    if not form.validate():
        problems = "; ".join(f"{form[k].label.text}: {v[0]}" for k, v in form.errors.items())
        return {"ok": False, "folders": [], "message": problems}
    tester = settings().test_connection
    if tester is None:
        return {"ok": False, "folders": [], "message": "testing is not available here"}
    try:
        password = form.password.data or _stored_password(account)
        folders = tester("imap", form.settings(), password)
    except (ConnectionTestError, SecretKeyError) as exc:
        return {"ok": False, "folders": [], "message": str(exc)}
    return {"ok": True, "folders": folders, "message": f"Logged in; {len(folders)} folders."}


def _stored_password(account: Account | None) -> str:
    if account is None or account.secret is None:
        raise ConnectionTestError("enter the password to test the connection")
    return settings().secret_box.decrypt(account.secret)


def _web_account(account_id: int) -> Account:
    account = get_account(db.session(), account_id)
    if account is None:
        abort(404)
    if account.origin != "web":
        abort(403, "This account comes from the config file; change it there.")
    return account
