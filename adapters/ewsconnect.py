"""Connecting to Exchange Server through EWS with exchangelib, and what its errors mean.

- **Endpoint**: the EWS URL given directly (``https://mail.example.com/EWS/Exchange.asmx``)
  or found by autodiscover from the first mailbox's address.
- **Auth**: NTLM (Exchange's default) or Basic, as a service account.
- **Access**: ``impersonation`` (the service account holds the ApplicationImpersonation
  role; every request carries ``ExchangeImpersonation``) or ``delegate`` (the service
  account was given access to each mailbox).
- **TLS**: verified by default, against the system's CAs or a CA bundle (``ca_file``);
  exchangelib's HTTP adapter is chosen per endpoint (:class:`_TlsAdapter`).
- **Version**: pinned (``"2016"``, ``"15.1.2507"``) or guessed by exchangelib from the
  server's ``ServerVersionInfo``.
- **Faults**: exchangelib's own retries are off (:class:`_Policy`); the adapter waits what
  a busy server asks (:func:`with_back_off`). :func:`translate` turns every exchangelib
  and requests exception into :mod:`adapters.errors` types, with a sentence that says
  what failed: DNS, TLS, credentials, impersonation right, mailbox not found.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from exchangelib import BASIC, DELEGATE, IMPERSONATION, NTLM, Account, Configuration
from exchangelib import errors as ews
from exchangelib.credentials import Credentials
from exchangelib.protocol import BaseProtocol, FailFast
from exchangelib.util import _get_retry_after
from exchangelib.version import Build, Version

from adapters.base import requests_verify
from adapters.errors import AuthError, SourceError, TransientError, network_trouble

log = logging.getLogger(__name__)
T = TypeVar("T")

#: the longest single wait a busy server may ask for before the pass gives up (the
#: scheduler then tries again later, told how long the server asked to wait)
MAX_BACK_OFF = 60.0
#: how many busy answers in a row one request may get
MAX_BUSY = 5
VERSIONS = {
    "2013": Build(15, 0),
    "2013_SP1": Build(15, 0, 847),
    "2016": Build(15, 1),
    "2019": Build(15, 2),
    "se": Build(15, 2),  # Subscription Edition speaks 2019's schema
}
AUTH = {"ntlm": NTLM, "basic": BASIC}
ACCESS = {"impersonation": IMPERSONATION, "delegate": DELEGATE}


@dataclass(frozen=True)
class EwsSettings:
    """How to reach the server: everything but the mailboxes and folders."""

    url: str  # the EWS endpoint; "" with autodiscover
    username: str
    password: str
    auth: str = "ntlm"
    access: str = "impersonation"
    version: str = "auto"
    tls_verify: bool = True
    ca_file: str | None = None
    timeout: float = 60.0
    autodiscover: bool = False

    @property
    def verify(self) -> bool | str:
        """requests' ``verify`` for these settings."""
        return requests_verify(self.tls_verify, self.ca_file)


def parse_version(text: str) -> Version | None:
    """The version to pin: a release name (2013, 2016, 2019, se) or a build
    ("15.1.2507"); None for "auto" (exchangelib guesses). ValueError when unknown."""
    if text in ("", "auto"):
        return None
    if text.lower() in VERSIONS:
        return Version(build=VERSIONS[text.lower()])
    parts = text.split(".")
    if 2 <= len(parts) <= 4 and all(p.isdigit() for p in parts):
        return Version(build=Build(*(int(p) for p in parts)))
    raise ValueError(f'unknown Exchange version "{text}": "2013", "2016", "2019", "se" or a build')


class _Policy(FailFast):
    """Fail fast (the adapter decides how long to wait), but keep a 503's Retry-After."""

    def raise_response_errors(self, response: Any) -> None:
        try:
            super().raise_response_errors(response)
        except (ews.ErrorInternalServerTransientError, ews.ErrorServerBusy) as exc:
            after = _get_retry_after(response)
            if after:
                raise ews.ErrorServerBusy(exc.args[0], back_off=after) from None
            raise


class _TlsAdapter(requests.adapters.HTTPAdapter):
    """exchangelib's HTTP adapter: TLS verified as configured for the endpoint's host.

    exchangelib takes one adapter class for every connection it makes, so the choice
    per server is made here from :data:`_VERIFY` (host:port -> verify argument)."""

    def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        parts = urlsplit(request.url)
        kwargs["verify"] = _VERIFY.get(f"{parts.hostname}:{parts.port or 443}", True)
        return super().send(request, *args, **kwargs)


_VERIFY: dict[str, bool | str] = {}
_VERIFY_LOCK = threading.Lock()


def _install_tls(url: str, verify: bool | str) -> None:
    parts = urlsplit(url)
    with _VERIFY_LOCK:
        _VERIFY[f"{parts.hostname}:{parts.port or 443}"] = verify
        BaseProtocol.HTTP_ADAPTER_CLS = _TlsAdapter


def configuration(settings: EwsSettings) -> Configuration:
    """exchangelib's Configuration for an endpoint that is known (not autodiscover)."""
    if settings.auth not in AUTH:
        raise SourceError(f'auth "{settings.auth}": expected "ntlm" or "basic"')
    _install_tls(settings.url, settings.verify)
    BaseProtocol.TIMEOUT = settings.timeout
    return Configuration(
        service_endpoint=settings.url,
        credentials=Credentials(settings.username, settings.password),
        auth_type=AUTH[settings.auth],
        version=parse_version(settings.version),
        retry_policy=_Policy(),
        max_connections=4,
    )


def open_mailbox(settings: EwsSettings, config: Configuration | None, mailbox: str) -> Account:
    """The mailbox as an exchangelib Account (no request is made for a pinned version)."""
    if settings.autodiscover:
        domain = mailbox.rpartition("@")[2]
        for host in (domain, f"autodiscover.{domain}"):  # where exchangelib asks first
            _install_tls(f"https://{host}/", settings.verify)
        BaseProtocol.TIMEOUT = settings.timeout
        account = Account(
            primary_smtp_address=mailbox,
            # no endpoint: autodiscover finds it; the rest holds as for a known endpoint
            config=Configuration(
                credentials=Credentials(settings.username, settings.password),
                auth_type=AUTH[settings.auth],
                version=parse_version(settings.version),
                retry_policy=_Policy(),
                max_connections=4,
            ),
            autodiscover=True,
            access_type=ACCESS[settings.access],
        )
        # the endpoint found is often another host (mail.example.com): the same CA holds
        _install_tls(account.protocol.service_endpoint, settings.verify)
        return account
    return Account(
        primary_smtp_address=mailbox,
        config=config,
        autodiscover=False,
        access_type=ACCESS[settings.access],
    )


def with_back_off(
    call: Callable[[], T],
    *,
    account: str,
    mailbox: str = "",
    sleep: Callable[[float], None] = time.sleep,
    passthrough: tuple[type[BaseException], ...] = (),
) -> T:
    """``call()``, waiting and trying again as often as a busy server asks (ErrorServerBusy
    with BackOffMilliseconds, HTTP 503 with Retry-After), up to :data:`MAX_BUSY` times and
    :data:`MAX_BACK_OFF` seconds a wait; beyond that a :class:`TransientError` that says
    how long the server wanted. ``passthrough`` exceptions are raised as they are; every
    other error is translated (:func:`translate`)."""
    for attempt in range(MAX_BUSY + 1):
        try:
            return call()
        except passthrough:
            raise
        except (ews.ErrorServerBusy, ews.ErrorInternalServerTransientError) as exc:
            wait = getattr(exc, "back_off", None)
            if attempt == MAX_BUSY or wait is None or wait > MAX_BACK_OFF:
                raise translate(exc, account, mailbox) from None
            log.info("%s: the server is busy; waiting %.1f s as it asked", account, wait)
            sleep(wait)
        except Exception as exc:
            raise translate(exc, account, mailbox) from None
    raise AssertionError("unreachable")


def translate(exc: BaseException, account: str, mailbox: str = "") -> SourceError:
    """The :mod:`adapters.errors` exception for an exchangelib or requests failure."""
    if isinstance(exc, SourceError):
        return exc
    who = f" {mailbox}" if mailbox else ""
    if isinstance(exc, ews.UnauthorizedError):
        return AuthError("the server refused the service account's credentials", account=account)
    if isinstance(exc, ews.ErrorImpersonateUserDenied | ews.ErrorImpersonationDenied):
        return AuthError(
            f"the service account may not impersonate{who}: give it the"
            " ApplicationImpersonation role (New-ManagementRoleAssignment)",
            account=account,
        )
    if isinstance(exc, ews.ErrorNonExistentMailbox | ews.ErrorMailRecipientNotFound):
        return SourceError(f"no mailbox{who} on the server", account=account)
    if isinstance(exc, ews.ErrorAccessDenied):
        return AuthError(
            f"the service account has no access to{who}: grant it delegate (full access)"
            " rights to the mailbox, or use impersonation",
            account=account,
        )
    if isinstance(exc, ews.ErrorServerBusy | ews.ErrorInternalServerTransientError):
        wait = getattr(exc, "back_off", None)
        return TransientError("the server is busy", account=account, retry_after=wait)
    if isinstance(exc, ews.ErrorTimeoutExpired | ews.RateLimitError):
        # exchangelib reraises every connection error as ErrorTimeoutExpired
        said = _network(exc)
        if said == _first(exc):
            said = f"no answer in time ({said})"
        return TransientError(said, account=account)
    if isinstance(exc, ews.ErrorFolderNotFound):
        return SourceError(f"folder not found{' in' + who if who else ''}", account=account)
    if isinstance(exc, ews.ResponseMessageError):  # the server answered, with an error
        return SourceError(f"{type(exc).__name__}: {_first(exc)}", account=account)
    if isinstance(exc, ews.MalformedResponseError | ews.CASError):
        return SourceError(f"the server's answer is not EWS: {_first(exc)}", account=account)
    if isinstance(exc, ews.TransportError | requests.RequestException | OSError):
        return TransientError(_network(exc), account=account)
    return SourceError(f"{type(exc).__name__}: {_first(exc)}", account=account)


def _network(exc: BaseException) -> str:
    return network_trouble(exc) or _first(exc)


def check_dns(url: str) -> None:
    """A :class:`TransientError` saying so when the endpoint's host name does not resolve."""
    host = urlsplit(url).hostname or ""
    try:
        socket.getaddrinfo(host, None)
    except OSError:
        raise TransientError(f'DNS: the server name "{host}" was not found') from None


def _first(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:300] if lines else type(exc).__name__
