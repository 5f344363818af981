"""Account admin: add, edit, disable and test accounts of every kind in the browser.

A password entered here is encrypted with the configured key before it is
stored and is never put into a page again; leaving the field empty when editing
keeps the stored one. Before anything is saved, the settings are checked by the
same rules as the config file's (``WebSettings.check_settings``). Accounts from
the config file are listed read-only.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

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
from web.accountforms import FORMS, AccountForm
from web.auth import admins_only
from web.filters import settings
from web.settings import ConnectionTestError

log = logging.getLogger(__name__)
bp = Blueprint("accounts", __name__, url_prefix="/admin/accounts")
admins_only(bp)


@bp.route("")
def index() -> ResponseReturnValue:
    return render_template("accounts.html", accounts=list_accounts(db.session()), forms=FORMS)


@bp.route("/new", methods=["GET", "POST"])
def new() -> ResponseReturnValue:
    kind = request.args.get("kind", "imap")
    if kind not in FORMS:
        abort(404)
    form = FORMS[kind]()
    if request.method == "POST" and request.form.get("action") == "test":
        return _test_and_render(form, None)
    if form.validate_on_submit() and _settings_hold(form):
        password = form.password.data if form.has_password else ""
        if form.needs_password() and not password:
            form.password.errors.append(f"enter the {form.password.label.text.lower()}")
        else:
            session = db.session()
            try:
                account = add_web_account(
                    session,
                    name=form.name.data,
                    kind=kind,
                    owner=form.owner.data or "",
                    settings=form.settings(),
                    secret=settings().secret_box.encrypt(password) if password else None,
                    interval_seconds=form.interval_minutes.data * 60.0,
                    actor=current_user.name,
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
    if account.kind not in FORMS:
        abort(404)
    form = FORMS[account.kind]()
    form.name.data = account.name  # the name is the account's identity: not editable
    if request.method == "GET":
        form.fill(account, settings().default_interval_seconds)
    elif request.form.get("action") == "test":
        return _test_and_render(form, account)
    elif form.validate_on_submit() and _settings_hold(form):
        box = settings().secret_box
        session = db.session()
        password = form.password.data if form.has_password else ""
        update_web_account(
            session,
            account,
            owner=form.owner.data or "",
            settings=form.settings(),
            secret=box.encrypt(password) if password else None,
            interval_seconds=form.interval_minutes.data * 60.0,
            enabled=bool(form.enabled.data),
            actor=current_user.name,
        )
        session.commit()
        flash(f"Account {account.name} saved.", "info")
        return redirect(url_for("accounts.index"))
    status = 400 if request.method == "POST" else 200
    return render_template("account_form.html", form=form, account=account), status


@bp.route("/<int:account_id>/<any(enable, disable):action>", methods=["POST"])
def toggle(account_id: int, action: str) -> ResponseReturnValue:
    account = _web_account(account_id)  # CSRFProtect checked the token
    set_enabled(db.session(), account, action == "enable", actor=current_user.name)
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
        signin = settings().graph_signin
        delegated = form.kind == "graph" and form.settings().get("sign_in") == "user"
        if delegated and account is None:
            message = "Save the account, then sign in with Microsoft on its page and test again."
            return {"ok": False, "folders": [], "message": message}
        if delegated and account is not None and signin is not None:  # its stored sign-in
            return _tested(form, signin.probe(account.name, form.settings()))
        password = (form.password.data or "") if form.has_password else ""
        stored = account is not None and account.secret is not None
        if not password and (form.needs_password() or stored):
            password = _stored_password(account)
        found = tester(form.kind, form.settings(), password)
    except (ConnectionTestError, SecretKeyError) as exc:
        return {"ok": False, "folders": [], "message": str(exc)}
    return _tested(form, found)


def _tested(form: AccountForm, found: list[str]) -> dict[str, Any]:
    done = "Logged in" if form.has_password else "Read the folder"
    noun = form.collections[len(found) != 1]
    return {"ok": True, "folders": found, "message": f"{done}; {len(found)} {noun}."}


def _settings_hold(form: AccountForm) -> bool:
    """Whether the settings pass the rules the sync applies to them; if not, each problem
    is shown at its field (or at the name when no field matches)."""
    check = settings().check_settings
    if check is None:
        return True
    problems = check(form.kind, form.settings())
    for problem in problems:
        key, _, text = problem.partition(": ")
        field = _FIELD_OF.get(key.removeprefix("settings."), key.removeprefix("settings."))
        target = form._fields.get(field, form.name)
        target.errors = [*target.errors, text or problem]
    return not problems


#: stored settings keys shown by another field
_FIELD_OF = {"past": "past_days", "future": "future_days"}


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
