"""Connecting and logging in to an IMAP server, shared by :mod:`adapters.imap` (pulling)
and :mod:`adapters.imapidle` (watching the INBOX).

``security`` is "ssl" (implicit TLS, RFC 8314), "starttls" (RFC 3501 §6.2.1) or "none",
which is refused for anything but a loopback host: LOGIN (RFC 3501 §6.2.3) sends the
password as it is. imaplib's protocol trace is switched off, so the password never
reaches a log. Errors of the network and of the server are left to the caller, which
translates them into :mod:`adapters.errors` as fits it.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import ssl
from dataclasses import dataclass, field
from typing import Any

from imapclient import IMAPClient

from adapters.errors import SourceError

log = logging.getLogger(__name__)

SECURITY_MODES = ("ssl", "starttls", "none")
# Response codes of a temporary failure (RFC 5530 §3): retry later.
_TEMPORARY_CODES = ("[UNAVAILABLE]", "[INUSE]", "[LIMIT]")


@dataclass(frozen=True, slots=True)
class ImapSettings:
    """How to reach and log in to one IMAP account (the password is never in the repr)."""

    host: str
    port: int
    security: str
    username: str
    password: str = field(repr=False)
    tls_verify: bool = True
    ca_file: str | None = None
    timeout: float = 60.0
    account: str = ""


def is_loopback(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1 (no DNS lookup: other names are not)."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def connect(settings: ImapSettings, *, condstore: bool = True) -> Any:
    """A logged-in IMAPClient; CONDSTORE enabled where offered and ``condstore`` is set.

    Raises :class:`SourceError` for settings that cannot work (unknown security, plain
    text to another host, an unusable CA file); imapclient's, imaplib's, ssl's and the
    socket's own errors otherwise.
    """
    if settings.security not in SECURITY_MODES:
        raise SourceError(f"unknown security {settings.security!r}; use one of {SECURITY_MODES}")
    if settings.security == "none" and not is_loopback(settings.host):
        raise SourceError(
            f"refusing to send the password in plain text to {settings.host}; "
            "use security = 'ssl' or 'starttls' ('none' is for loopback only)",
            account=settings.account,
        )
    context = ssl_context(settings) if settings.security != "none" else None
    client = IMAPClient(
        settings.host,
        settings.port,
        ssl=settings.security == "ssl",
        ssl_context=context,
        timeout=settings.timeout,
    )
    client._imap.debug = 0  # imaplib's protocol trace would log the LOGIN password
    try:
        _secure_and_login(client, settings, context, condstore)
    except BaseException:
        shutdown(client)
        raise
    return client


def _secure_and_login(
    client: Any, settings: ImapSettings, context: ssl.SSLContext | None, condstore: bool
) -> None:
    if settings.security == "starttls":
        if not client.has_capability("STARTTLS"):
            raise SourceError(f"{settings.host} does not offer STARTTLS", account=settings.account)
        client.starttls(context)
    client.login(settings.username, settings.password)
    client.normalise_times = False  # keep INTERNALDATE's zone: we convert to UTC
    if condstore and client.has_capability("CONDSTORE") and client.has_capability("ENABLE"):
        client.enable("CONDSTORE")  # so EXAMINE reports HIGHESTMODSEQ (RFC 7162 §3.1.8)
    log.debug(
        "%s: logged in to %s:%d as %s",
        settings.account,
        settings.host,
        settings.port,
        settings.username,
    )


def ssl_context(settings: ImapSettings) -> ssl.SSLContext:
    """The TLS context: the system's CAs or ``ca_file``; no verification if switched off."""
    try:
        context = ssl.create_default_context(cafile=settings.ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise SourceError(
            f"cannot use ca_file {settings.ca_file!r}: {exc}", account=settings.account
        ) from None
    if not settings.tls_verify:
        log.warning(
            "%s: TLS certificate verification is OFF for %s:%d",
            settings.account,
            settings.host,
            settings.port,
        )
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def shutdown(client: Any) -> None:
    """Close the socket without a LOGOUT (the connection is dead or unwanted)."""
    try:
        client.shutdown()
    except Exception as exc:  # already closed
        log.debug("closing the IMAP socket failed: %s", exc)


def temporary(text: str) -> bool:
    """Whether a server's answer says "try again later" (RFC 5530 §3)."""
    return any(code in text.upper() for code in _TEMPORARY_CODES)


def text(value: Any) -> str:
    """Bytes or an exception as readable text (imaplib puts ``b'...'`` reprs in messages)."""
    if isinstance(value, BaseException):
        value = value.args[0] if value.args else ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return re.sub(r"^b(['\"])(.*)\1$", r"\2", str(value))
