"""The user-facing grants of the Graph simulator's identity platform: the device
authorization endpoint (``/devicecode``; a test approves or declines the code), the
authorize endpoint (signs in the user the test named, or the ``login_hint``, and
redirects with a code or an error) and the redemption of authorization codes (one use,
same redirect URI, PKCE S256)."""

from __future__ import annotations

import hashlib
import secrets
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

from tests.servers.graph_auth import OIDC_SCOPES, App, Grant, IdentityError, _short, b64url

Answer = tuple[int, dict[str, str], bytes]


class UserGrants:
    """Mixed into :class:`tests.servers.graph_identity.Identity`."""

    apps: dict[str, App]
    grants: dict[str, Grant]
    signed_in: str | None
    device_interval: int
    users: Callable[[str], Any]

    def _grant(self, value: str, app: App, kind: str) -> Grant:
        raise NotImplementedError

    def _user_tokens(self, app: App, user_id: str, scope: str, nonce: str) -> dict[str, Any]:
        raise NotImplementedError

    def _device_code(self, form: dict[str, str], base: str) -> dict[str, Any]:
        app = self.apps.get(form.get("client_id", ""))
        if app is None:
            raise IdentityError(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{form.get('client_id')}' was not found.",
            )
        code, user_code = secrets.token_urlsafe(40), secrets.token_hex(4).upper()
        scopes = frozenset(form.get("scope", "").split())
        grant = Grant(code, app.client_id, None, scopes, time.time() + 900, user_code=user_code)
        self.grants[f"device:{code}"] = grant
        uri = f"{base}/devicelogin"
        return {
            "user_code": user_code,
            "device_code": code,
            "verification_uri": uri,
            "expires_in": 900,
            "interval": self.device_interval,
            "message": f"To sign in, use a web browser to open the page {uri} and enter the "
            f"code {user_code} to authenticate.",
        }

    def _authorize(self, query: dict[str, str]) -> Answer:
        app = self.apps.get(query.get("client_id", ""))
        redirect = query.get("redirect_uri", "")
        if app is None or redirect not in app.redirect_uris:
            text = (
                f"AADSTS50011: The redirect URI '{redirect}' specified in the request "
                "does not match the redirect URIs configured for the application."
            )
            return 400, {"Content-Type": "text/html; charset=utf-8"}, text.encode()
        hinted = self.users(query.get("login_hint", ""))
        user_id = hinted.id if hinted is not None else self.signed_in
        answer: dict[str, str] = {"state": query.get("state", "")}
        scope = query.get("scope", "")
        wanted = {_short(s) for s in scope.split() if s.lower() not in OIDC_SCOPES}
        if user_id is None:
            answer.update(
                error="login_required",
                error_description="AADSTS50058: A silent "
                "sign-in request was sent but no user is signed in.",
            )
        elif not app.consented(user_id, wanted - {".default"}):
            answer.update(
                error="consent_required",
                error_description="AADSTS65001: The user "
                "or administrator has not consented to use the application.",
            )
        else:
            answer["code"] = self.issue_auth_code(
                app.client_id,
                user_id,
                redirect,
                scope,
                code_challenge=query.get("code_challenge", ""),
                nonce=query.get("nonce", ""),
            )
        location = redirect + ("&" if "?" in redirect else "?") + urllib.parse.urlencode(answer)
        return 302, {"Location": location, "Content-Length": "0"}, b""

    def issue_auth_code(
        self,
        client_id: str,
        user_id: str,
        redirect_uri: str,
        scope: str,
        *,
        code_challenge: str = "",
        nonce: str = "",
    ) -> str:
        code = "0.A" + secrets.token_urlsafe(60)
        self.grants[f"code:{code}"] = Grant(
            code,
            client_id,
            user_id,
            frozenset(scope.split()),
            time.time() + 600,
            redirect_uri=redirect_uri,
            challenge=code_challenge,
            nonce=nonce,
        )
        return code

    def _redeem_code(self, app: App, form: dict[str, str]) -> dict[str, Any]:
        grant = self._grant(form.get("code", ""), app, "code")
        if grant.revoked:
            raise IdentityError(
                400,
                "invalid_grant",
                54005,
                "OAuth2 Authorization code was "
                "already redeemed, please retry with a new valid code.",
            )
        if grant.expires_at < time.time():
            raise IdentityError(
                400,
                "invalid_grant",
                70008,
                "The provided authorization code or refresh token has expired due to inactivity.",
            )
        if form.get("redirect_uri", "") != grant.redirect_uri:
            raise IdentityError(
                400,
                "invalid_grant",
                500112,
                "The reply address "
                f"'{form.get('redirect_uri')}' does not match the reply address "
                f"'{grant.redirect_uri}' provided when requesting Authorization "
                "code.",
            )
        if grant.challenge:
            verifier = form.get("code_verifier", "").encode()
            if b64url(hashlib.sha256(verifier).digest()) != grant.challenge:
                raise IdentityError(
                    400,
                    "invalid_grant",
                    50148,
                    "The code_verifier does not "
                    "match the code_challenge supplied in the authorization "
                    "request for PKCE.",
                )
        grant.revoked = True
        scope = form.get("scope") or " ".join(grant.scopes)
        return self._user_tokens(app, grant.user_id or "", scope, grant.nonce)
