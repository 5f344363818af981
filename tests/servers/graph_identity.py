"""The Microsoft identity platform (v2.0 endpoints) for the Graph simulator, enough for the
unmodified ``msal`` library: the OpenID configuration document, instance discovery, the
token endpoint (client credentials, refresh token, device code, authorization code with
PKCE), the device authorization endpoint and an authorize endpoint that signs in the
user the test named without a browser.

Clients authenticate with a client secret (form field or HTTP Basic) or a client
assertion (RFC 7523 JWT, RS256/PS256/ES256) signed with the key of a registered
certificate, found by the ``x5t#S256`` or ``x5t`` thumbprint in its header. Errors carry
the identity platform's shape: ``error``, ``error_description`` beginning ``AADSTS<n>:``,
``error_codes``, ``timestamp``, ``trace_id``, ``correlation_id`` and ``error_uri``.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
import urllib.parse
import uuid
from collections.abc import Callable
from typing import Any

from tests.servers.graph_auth import (
    DEFAULT_ROLES,
    DEFAULT_SCOPES,
    GRAPH,
    GRAPH_APP_ID,
    GRAPH_LOGIN,
    OIDC_SCOPES,
    App,
    Grant,
    IdentityError,
    Token,
    _short,
    b64url,
    check_assertion,
    fake_jwt,
)
from tests.servers.graph_login import UserGrants

__all__ = ["DEFAULT_ROLES", "DEFAULT_SCOPES", "App", "Identity", "Token"]
Answer = tuple[int, dict[str, str], bytes]


class Identity(UserGrants):
    """Apps, tokens and grants of one tenant; :meth:`handle` answers the login endpoints."""

    def __init__(self, tenant_id: str, domain: str, token_lifetime: int) -> None:
        self.tenant_id, self.domain = tenant_id, domain
        self.token_lifetime = token_lifetime
        self.refresh_lifetime = 90 * 86400
        self.device_interval = 5
        self.apps: dict[str, App] = {}
        self.tokens: dict[str, Token] = {}
        self.grants: dict[str, Grant] = {}  # refresh tokens, device codes, auth codes
        self.signed_in: str | None = None  # the user the authorize endpoint signs in
        self.users: Callable[[str], Any] = lambda key: None  # id or UPN -> mailbox

    def tenant_ok(self, tenant: str) -> bool:
        aliases = {self.tenant_id, self.domain.lower(), "organizations", "common"}
        return tenant.lower() in aliases

    # -- endpoints ------------------------------------------------------------------------------

    def handle(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        form: dict[str, str],
        headers: Any,
        base: str,
    ) -> Answer:
        """Answer a request below ``/{tenant}/`` (or instance discovery)."""
        parts = path.strip("/").split("/")
        if path.rstrip("/") == "/common/discovery/instance":
            return self._json(200, self._instance_discovery(query, base))
        tenant, rest = parts[0], "/".join(parts[1:])
        try:
            if not self.tenant_ok(tenant):
                raise IdentityError(400, "invalid_tenant", 90002, f"Tenant '{tenant}' not found.")
            if rest == "v2.0/.well-known/openid-configuration" and method == "GET":
                return self._json(200, self.openid_configuration(base))
            if rest == "oauth2/v2.0/token" and method == "POST":
                return self._json(200, self._token(form, headers, base))
            if rest == "oauth2/v2.0/devicecode" and method == "POST":
                return self._json(200, self._device_code(form, base))
            if rest == "oauth2/v2.0/authorize" and method == "GET":
                return self._authorize(query)
        except IdentityError as exc:
            return self._json(exc.status, self.error_body(exc, base))
        return self._json(404, {"error": "not_found", "error_description": path})

    def openid_configuration(self, base: str) -> dict[str, Any]:
        t = f"{base}/{self.tenant_id}"
        return {
            "token_endpoint": f"{t}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "private_key_jwt",
                "client_secret_basic",
            ],
            "jwks_uri": f"{t}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{t}/v2.0",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": f"{GRAPH}/oidc/userinfo",
            "authorization_endpoint": f"{t}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{t}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{t}/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", "name", "tid"],
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net",
        }

    def _instance_discovery(self, query: dict[str, str], base: str) -> dict[str, Any]:
        authorize = urllib.parse.urlsplit(query.get("authorization_endpoint", ""))
        tenant = (authorize.path.strip("/").split("/") or ["common"])[0]
        host = urllib.parse.urlsplit(base).netloc
        return {
            "tenant_discovery_endpoint": f"{base}/{tenant}/v2.0/.well-known/openid-configuration",
            "api-version": "1.1",
            "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
        }

    def error_body(self, exc: IdentityError, base: str) -> dict[str, Any]:
        trace, corr = str(uuid.uuid4()), str(uuid.uuid4())
        stamp = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime())
        return {
            "error": exc.error,
            "error_description": f"AADSTS{exc.code}: {exc.description} Trace ID: {trace} "
            f"Correlation ID: {corr} Timestamp: {stamp}",
            "error_codes": [exc.code],
            "timestamp": stamp,
            "trace_id": trace,
            "correlation_id": corr,
            "error_uri": f"{base}/error?code={exc.code}",
        }

    @staticmethod
    def _json(status: int, body: dict[str, Any]) -> Answer:
        headers = {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"}
        headers["Content-Type"] = "application/json; charset=utf-8"
        return status, headers, json.dumps(body).encode()

    # -- the token endpoint -------------------------------------------------------------------

    def _token(self, form: dict[str, str], headers: Any, base: str) -> dict[str, Any]:
        grant_type = form.get("grant_type", "")
        app = self._client(form, headers, base, public_ok=grant_type != "client_credentials")
        if grant_type == "client_credentials":
            return self._client_credentials(app, form.get("scope", ""))
        if grant_type == "refresh_token":
            grant = self._grant(form.get("refresh_token", ""), app, "refresh")
            if grant.expires_at < time.time():
                raise IdentityError(
                    400, "invalid_grant", 700082, "The refresh token has expired due to inactivity."
                )
            if grant.revoked:
                raise IdentityError(
                    400,
                    "invalid_grant",
                    50173,
                    "The provided grant has "
                    "expired due to it being revoked, a fresh auth token is "
                    "needed.",
                )
            return self._user_tokens(app, grant.user_id or "", form.get("scope", ""), "")
        if grant_type == "urn:ietf:params:oauth:grant-type:device_code":
            grant = self._grant(form.get("device_code", ""), app, "device")
            if grant.expires_at < time.time():
                raise IdentityError(
                    400,
                    "expired_token",
                    70020,
                    "The provided value for the "
                    "input parameter 'device_code' is not valid. This device "
                    "code has expired.",
                )
            if grant.declined:
                raise IdentityError(
                    400, "authorization_declined", 70000, "The user declined the sign-in."
                )
            if grant.user_id is None:
                raise IdentityError(
                    400,
                    "authorization_pending",
                    70016,
                    "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
                )
            del self.grants[grant.value]
            return self._user_tokens(app, grant.user_id, " ".join(grant.scopes), "")
        if grant_type == "authorization_code":
            return self._redeem_code(app, form)
        raise IdentityError(
            400,
            "unsupported_grant_type",
            70003,
            f"The app requested an unsupported grant type '{grant_type}'.",
        )

    def _grant(self, value: str, app: App, kind: str) -> Grant:
        grant = self.grants.get(f"{kind}:{value}")
        if grant is None or grant.client_id != app.client_id:
            raise IdentityError(
                400,
                "invalid_grant",
                9002313,
                f"Invalid request. The {kind} token or code is malformed or not valid.",
            )
        grant.value = f"{kind}:{value}"
        return grant

    def _client(self, form: dict[str, str], headers: Any, base: str, public_ok: bool) -> App:
        client_id, secret = form.get("client_id", ""), form.get("client_secret")
        auth = headers.get("Authorization", "")
        if auth.lower().startswith("basic "):
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            client_id, secret = urllib.parse.unquote(user), urllib.parse.unquote(password)
        app = self.apps.get(client_id)
        if app is None:
            raise IdentityError(
                400,
                "unauthorized_client",
                700016,
                f"Application with "
                f"identifier '{client_id}' was not found in the directory "
                f"'{self.domain}'.",
            )
        assertion = form.get("client_assertion")
        if secret is not None:
            if app.secret is None or not secrets.compare_digest(secret, app.secret):
                raise IdentityError(
                    401,
                    "invalid_client",
                    7000215,
                    "Invalid client secret "
                    "provided. Ensure the secret being sent in the request is "
                    "the client secret value, not the client secret ID.",
                )
        elif assertion is not None:
            check_assertion(app, assertion, base, self.tenant_ok)
        elif not (public_ok and app.public_client):
            raise IdentityError(
                401,
                "invalid_client",
                7000218,
                "The request body must "
                "contain the following parameter: 'client_assertion' or "
                "'client_secret'.",
            )
        return app

    def _client_credentials(self, app: App, scope: str) -> dict[str, Any]:
        scopes = scope.split()
        resource = scopes[0].rsplit("/", 1)[0] if len(scopes) == 1 else ""
        if len(scopes) != 1 or not scopes[0].endswith("/.default"):
            raise IdentityError(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope "
                f"{scope} is not valid. Client credential flows must have a "
                "scope value with /.default suffixed to the resource "
                "identifier (application ID URI).",
            )
        if resource not in (GRAPH, GRAPH_APP_ID):
            raise IdentityError(
                400,
                "invalid_resource",
                500011,
                f"The resource principal "
                f"named {resource} was not found in the tenant named "
                f"{self.domain}.",
            )
        access = self.issue_access(app, None, frozenset(app.roles), frozenset())
        return {
            "token_type": "Bearer",
            "expires_in": self.token_lifetime,
            "ext_expires_in": self.token_lifetime,
            "access_token": access,
        }

    def issue_access(
        self, app: App, user_id: str | None, roles: frozenset[str], scopes: frozenset[str]
    ) -> str:
        """A new access token (also the test API's way to skip msal)."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "aud": GRAPH,
            "iss": f"https://sts.windows.net/{self.tenant_id}/",
            "iat": now,
            "nbf": now,
            "exp": now + self.token_lifetime,
            "appid": app.client_id,
            "app_displayname": app.display_name,
            "tid": self.tenant_id,
            "ver": "1.0",
            "idtyp": "user" if user_id else "app",
            "oid": user_id or str(uuid.uuid4()),
            "uti": secrets.token_urlsafe(16),
        }
        if roles:
            claims["roles"] = sorted(roles)
        if user_id:
            claims["scp"] = " ".join(sorted(scopes))
        value = fake_jwt(claims)
        self.tokens[value] = Token(
            value, app.client_id, user_id, roles, scopes, now + self.token_lifetime
        )
        return value

    def _user_tokens(self, app: App, user_id: str, scope: str, nonce: str) -> dict[str, Any]:
        requested = scope.split()
        wanted = {_short(s) for s in requested if s.lower() not in OIDC_SCOPES}
        if wanted == {".default"} or not wanted:
            wanted = set(app.delegated_scopes)
        if not app.consented(user_id, wanted):
            raise IdentityError(
                400,
                "invalid_grant",
                65001,
                f"The user or administrator has "
                f"not consented to use the application with ID "
                f"'{app.client_id}' named '{app.display_name}'. Send an "
                "interactive authorization request for this user and "
                "resource.",
            )
        granted = frozenset(wanted)
        now = int(time.time())
        body: dict[str, Any] = {
            "token_type": "Bearer",
            "scope": " ".join(f"{GRAPH}/{s}" for s in sorted(granted)),
            "expires_in": self.token_lifetime,
            "ext_expires_in": self.token_lifetime,
            "access_token": self.issue_access(app, user_id, frozenset(), granted),
        }
        if "offline_access" in requested:
            value = secrets.token_urlsafe(48)
            expires = now + self.refresh_lifetime
            self.grants[f"refresh:{value}"] = Grant(value, app.client_id, user_id, granted, expires)
            body["refresh_token"] = value
        box = self.users(user_id)
        if "openid" in requested:
            body["id_token"] = fake_jwt(
                {
                    "aud": app.client_id,
                    "iss": f"{GRAPH_LOGIN}/{self.tenant_id}/v2.0",
                    "iat": now,
                    "nbf": now,
                    "exp": now + 3600,
                    "name": box.display_name,
                    "oid": user_id,
                    "preferred_username": box.upn,
                    "sub": b64url(user_id.encode()),
                    "tid": self.tenant_id,
                    "ver": "2.0",
                    **({"nonce": nonce} if nonce else {}),
                }
            )
        client_info = {"uid": user_id, "utid": self.tenant_id}
        body["client_info"] = b64url(json.dumps(client_info).encode())
        return body
