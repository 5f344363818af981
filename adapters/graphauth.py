"""Signing in to Microsoft Graph with ``msal``: app-only or as one user.

Two ways in, as an admin registers the app in Entra ID (the README has the guide):

- **app-only** (``sign_in = "app"``): the client credentials grant with a client secret
  or a certificate (PEM: private key and certificate). The app's application
  permissions (Mail.Read, Calendars.Read, Contacts.Read), scoped to the staff mailboxes
  by an application access policy, let one account entry read many mailboxes.
- **delegated** (``sign_in = "user"``): one user's own mailbox. The user signs in once
  (device code from ``crmsync graph-login``, or the authorization code flow from the
  account page, :mod:`adapters.graphsignin`); msal's token cache, which holds the
  refresh token, is kept encrypted by the caller through a :class:`TokenStore` and
  every sync refreshes the access token from it silently.

A refused secret or certificate, an expired or revoked refresh token, or a withdrawn
consent is an :class:`AuthError` in words: the account needs an admin. No msal or
requests exception type leaves this module.

Endpoints: ``cloud`` picks the national cloud (its login host, Graph host and the
resource the tokens are for); ``login_url`` and ``graph_url`` override the endpoints
(a proxy, or the test suite's simulator) and keep the cloud's resource.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Protocol

import msal
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from adapters.base import requests_verify
from adapters.errors import AuthError, SourceError, TransientError

log = logging.getLogger(__name__)

#: national clouds: (login host, Graph host, which is also the tokens' resource)
CLOUDS = {
    "global": ("https://login.microsoftonline.com", "https://graph.microsoft.com"),
    "usgov": ("https://login.microsoftonline.us", "https://graph.microsoft.us"),
    "usgov-dod": ("https://login.microsoftonline.us", "https://dod-graph.microsoft.us"),
    "china": ("https://login.chinacloudapi.cn", "https://microsoftgraph.chinacloudapi.cn"),
}
#: what a signed-in user grants (read-only; offline_access is added by msal)
DELEGATED_PERMISSIONS = ("User.Read", "Mail.Read", "Calendars.Read", "Contacts.Read")
#: AADSTS codes, in words for the admin
AADSTS = {
    7000215: "the client secret is wrong (copy its Value, not its ID, from Entra ID)",
    7000222: "the client secret has expired: make a new one in Entra ID",
    700027: "the certificate is not the one registered for the app",
    700016: "no app with this client id in the tenant",
    90002: "no such tenant",
    700082: "the sign-in has expired: sign in again",
    50173: "the sign-in was revoked (password changed or sessions revoked): sign in again",
    65001: "the app is not (or no longer) consented: grant consent, then sign in again",
    50076: "the tenant asks for multi-factor sign-in: sign in again",
    50078: "the tenant asks for multi-factor sign-in: sign in again",
    530003: "a conditional access policy blocks the sign-in",
}


class TokenStore(Protocol):
    """Where a delegated account's msal token cache is kept (encrypted by the caller)."""

    def load(self) -> str | None:
        """The serialized cache, or None before the first sign-in."""

    def save(self, cache: str) -> None:
        """Keep a new serialized cache (tokens are refreshed and rotate)."""


@dataclass(frozen=True)
class GraphSettings:
    """How to reach Graph and sign in: everything but the mailboxes and folders."""

    tenant: str  # the directory (tenant) id or a verified domain
    client_id: str
    sign_in: str = "app"  # app | user
    client_secret: str = ""
    certificate: str = ""  # PEM: the private key and the certificate
    certificate_password: str = ""
    cloud: str = "global"
    login_url: str = ""  # overrides the cloud's login host
    graph_url: str = ""  # overrides the cloud's Graph endpoint (ending in /v1.0)
    tls_verify: bool = True
    ca_file: str | None = None
    timeout: float = 60.0

    @property
    def authority(self) -> str:
        return f"{(self.login_url or CLOUDS[self.cloud][0]).rstrip('/')}/{self.tenant}"

    @property
    def endpoint(self) -> str:
        """Graph's root, e.g. ``https://graph.microsoft.com/v1.0``."""
        return (self.graph_url or CLOUDS[self.cloud][1] + "/v1.0").rstrip("/")

    @property
    def resource(self) -> str:
        return CLOUDS[self.cloud][1]

    @property
    def delegated(self) -> bool:
        return self.sign_in == "user"

    def scopes(self) -> list[str]:
        """The scopes to ask for: ``<resource>/.default`` app-only, else the permissions."""
        if not self.delegated:
            return [f"{self.resource}/.default"]
        return [f"{self.resource}/{p}" for p in DELEGATED_PERMISSIONS]

    @property
    def verify(self) -> bool | str:
        """requests' ``verify`` for these settings."""
        return requests_verify(self.tls_verify, self.ca_file)


class HttpSession(requests.Session):
    """requests with the account's TLS trust and timeout on every request, msal's too.

    (A session's own ``verify`` loses against ``$REQUESTS_CA_BUNDLE``; one given with
    the request wins, so it is given with every request.)"""

    def __init__(self, verify: bool | str, timeout: float) -> None:
        super().__init__()
        self._verify, self._timeout = verify, timeout

    def request(self, method: str, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("verify", self._verify)
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout
        return super().request(method, url, *args, **kwargs)


def credential(settings: GraphSettings) -> str | dict[str, str] | None:
    """msal's ``client_credential``: the secret, the certificate, or None (public client)."""
    if settings.certificate:
        key, cert = _split_pem(settings.certificate, settings.certificate_password)
        return {"private_key": key, "public_certificate": cert}
    return settings.client_secret or None


def client_app(
    settings: GraphSettings, http: requests.Session, cache: msal.TokenCache | None = None
) -> Any:
    """The msal application for ``settings`` (confidential with a credential, else public)."""
    secret = credential(settings)
    common: dict[str, Any] = {
        "authority": settings.authority,
        "http_client": http,
        "token_cache": cache,
        "timeout": settings.timeout,
    }
    if settings.login_url:
        common["instance_discovery"] = False  # a host Microsoft's discovery does not know
    try:
        if secret is None:
            return msal.PublicClientApplication(settings.client_id, **common)
        return msal.ConfidentialClientApplication(
            settings.client_id, client_credential=secret, **common
        )
    except ValueError as exc:  # msal checks the authority when the app is made
        raise SourceError(f"the authority {settings.authority} is not usable: {exc}") from None
    except requests.RequestException as exc:
        raise TransientError(f"the login endpoint did not answer: {exc}") from None


class GraphAuth:
    """Access tokens for one account, renewed when they expire (thread-safe)."""

    def __init__(
        self,
        settings: GraphSettings,
        http: requests.Session,
        *,
        store: TokenStore | None = None,
        account: str = "",
    ) -> None:
        self.settings, self.http, self.store, self.account = settings, http, store, account
        self._lock = threading.Lock()
        self._app: Any = None
        self._cache: msal.SerializableTokenCache | None = None

    def token(self, *, fresh: bool = False) -> str:
        """A valid access token; ``fresh`` after Graph refused the last one."""
        with self._lock:
            try:
                result = self._acquire(fresh)
            except (AuthError, TransientError, SourceError):
                raise
            except requests.RequestException as exc:
                raise TransientError(
                    f"the login endpoint did not answer: {exc}", account=self.account
                ) from None
            except Exception as exc:  # msal on an answer it cannot read
                raise SourceError(
                    f"the login endpoint's answer is unusable ({type(exc).__name__}: {exc})",
                    account=self.account,
                ) from None
            if not result or "access_token" not in result:
                raise refusal(result or {}, self.account, self.settings.delegated)
            self._keep_cache()
            return str(result["access_token"])

    def signed_in_as(self) -> str:
        """The signed-in user's name (delegated), "" when nobody is."""
        app = self._application()
        accounts = app.get_accounts() if self.settings.delegated else []
        return str(accounts[0].get("username", "")) if accounts else ""

    def _application(self) -> Any:
        if self._app is None:
            if self.settings.delegated:
                self._cache = msal.SerializableTokenCache()
                stored = self.store.load() if self.store is not None else None
                if stored:
                    try:
                        self._cache.deserialize(stored)
                    except ValueError:
                        raise AuthError(
                            "the stored sign-in cannot be read: sign in again",
                            account=self.account,
                            hint="",
                        ) from None
            self._app = client_app(self.settings, self.http, self._cache)
        return self._app

    def _acquire(self, fresh: bool) -> dict[str, Any] | None:
        app = self._application()
        if not self.settings.delegated:
            if fresh:
                app.remove_tokens_for_client()
            result: dict[str, Any] = app.acquire_token_for_client(self.settings.scopes())
            return result
        accounts = app.get_accounts()
        if not accounts:
            raise AuthError(
                "nobody has signed in yet: run `crmsync graph-login "
                f"{self.account or '<account>'}`, or sign in on the account's page",
                account=self.account,
                hint="",
            )
        found: dict[str, Any] | None = app.acquire_token_silent_with_error(
            self.settings.scopes(), account=accounts[0], force_refresh=fresh
        )
        return found

    def _keep_cache(self) -> None:
        if self._cache is not None and self._cache.has_state_changed and self.store is not None:
            self.store.save(self._cache.serialize())
            self._cache.has_state_changed = False


def refusal(result: dict[str, Any], account: str = "", delegated: bool = False) -> SourceError:
    """The error for an msal answer without a token, said in words."""
    codes = [int(c) for c in result.get("error_codes") or () if str(c).isdigit()]
    error = str(result.get("error") or "")
    said = next((AADSTS[c] for c in codes if c in AADSTS), "")
    first_line = str(result.get("error_description") or error or "no token").splitlines()[0]
    if error in ("temporarily_unavailable", "server_error") or any(
        c in (50196, 90033) for c in codes
    ):
        return TransientError(f"the login service is busy ({first_line})", account=account)
    if not said and error == "invalid_grant" and delegated:
        said = "the sign-in is no longer valid: sign in again"
    return AuthError(f"{said} ({first_line})" if said else first_line, account=account, hint="")


def _split_pem(pem: str, password: str) -> tuple[str, str]:
    """The unencrypted private key and the certificate from one PEM text."""
    data = pem.encode()
    try:
        key = serialization.load_pem_private_key(data, password.encode() or None)
        cert = x509.load_pem_x509_certificate(data)
    except (ValueError, TypeError) as exc:
        raise AuthError(
            f"the certificate file needs the private key and the certificate in PEM ({exc})",
            hint="",
        ) from None
    plain = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return plain, cert.public_bytes(serialization.Encoding.PEM).decode()
