""" "Sign in with Microsoft" for Microsoft Graph accounts that read one user's own mailbox
(``sign_in = "user"``): the authorization code flow with PKCE, admins only.

The account's page shows whether a sign-in is stored and the redirect URI to register
for the app in Entra ID; its button (a POST with the CSRF token) starts the flow, kept
in the session until the browser comes back to :func:`callback`. Flask's session cookie
is signed, not encrypted, and the flow holds the PKCE ``code_verifier``: it is kept
sealed with the app's secret box (:func:`_seal`), so the cookie shows nothing of it and
a cookie altered or sealed with another key counts as no sign-in. The callback stores the
sign-in (encrypted, by the host process: the web view may not import the adapters, so
:attr:`~web.settings.WebSettings.graph_signin` does the work) and says who signed in.
"""

from __future__ import annotations

import json
from typing import Any

from flask import (
    Blueprint,
    abort,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue

from crm.accounts import get_account
from crm.db import will_write
from crm.models import Account
from crm.secrets import SecretKeyError
from crm.tokens import mark_signed_in, signed_in_at
from web import db
from web.auth import admins_only
from web.filters import settings
from web.security import PAGE_CSP
from web.settings import ConnectionTestError, GraphSignIn

bp = Blueprint("graphsignin", __name__, url_prefix="/admin/accounts")
admins_only(bp)

#: the session key of a started sign-in: {"account": id, "flow": msal's flow}, sealed
PENDING = "graph_signin"
NOT_STARTED = (
    "No sign-in was started in this browser (or it was finished already):"
    " start it again from the account's page."
)


@bp.route("/<int:account_id>/graph")
def page(account_id: int) -> ResponseReturnValue:
    account, signin = _delegated(account_id)
    response = make_response(_render(account))
    origin = signin.login_origin(account.name)
    if origin:  # the form's answer redirects there: browsers check form-action on that
        response.headers["Content-Security-Policy"] = PAGE_CSP.replace(
            "form-action 'self'", f"form-action 'self' {origin}"
        )
    return response


@bp.route("/<int:account_id>/graph/signin", methods=["POST"])
def start(account_id: int) -> ResponseReturnValue:
    account, signin = _delegated(account_id)  # CSRFProtect checked the token
    try:
        flow = signin.begin(account.name, redirect_uri())
    except ConnectionTestError as exc:
        return _render(account, error=str(exc)), 400
    session[PENDING] = _seal({"account": account.id, "flow": signin.kept(flow)})
    return redirect(str(flow["auth_uri"]))


@bp.route("/graph/callback")
def callback() -> ResponseReturnValue:
    pending = _unseal(session.pop(PENDING, None))
    if pending is None:
        return render_template("error.html", code=400, title="Sign-in", message=NOT_STARTED), 400
    account, signin = _delegated(int(pending.get("account", 0)))
    params = {k: v for k, v in request.args.items() if isinstance(v, str)}
    try:
        user = signin.finish(account.name, pending["flow"], params)
    except ConnectionTestError as exc:
        return _render(account, error=f"The sign-in did not succeed: {exc}"), 400
    session_ = db.session()
    session_.rollback()  # end the read begun before the sign-in; write in a fresh one
    mark_signed_in(will_write(session_), account.name)  # the next scheduled run tries it
    session_.commit()
    return _render(account, user=user or "a user Microsoft did not name")


def redirect_uri() -> str:
    """Where Microsoft sends the browser back: to register for the app in Entra ID."""
    return url_for("graphsignin.callback", _external=True)


def _seal(pending: dict[str, Any]) -> str:
    """A started sign-in, encrypted (and authenticated) for the session cookie."""
    return settings().secret_box.encrypt(json.dumps(pending)).decode("ascii")


def _unseal(sealed: Any) -> dict[str, Any] | None:
    """The started sign-in back; None when there is none, or it was altered or sealed
    with another key."""
    if not isinstance(sealed, str):
        return None
    try:
        pending = json.loads(settings().secret_box.decrypt(sealed.encode("ascii")))
    except (SecretKeyError, UnicodeEncodeError, ValueError):
        return None
    if not isinstance(pending, dict) or not isinstance(pending.get("flow"), dict):
        return None
    return pending


def _render(account: Account, *, user: str = "", error: str = "") -> str:
    return render_template(
        "graph_signin.html",
        account=account,
        signed_in_at=signed_in_at(db.session(), account.id),
        redirect_uri=redirect_uri(),
        user=user,
        error=error,
    )


def _delegated(account_id: int) -> tuple[Account, GraphSignIn]:
    account = get_account(db.session(), account_id)
    if account is None or account.kind != "graph":
        abort(404)
    signin = settings().graph_signin
    if signin is None:
        abort(400, "Signing in is not available here.")
    if not signin.delegated(account.name):
        abort(400, 'This account does not sign in as a user (its sign_in is not "user").')
    return account, signin
