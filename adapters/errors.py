"""The error kinds every adapter translates its library's errors into.

No imapclient, exchangelib or caldav type crosses the adapter boundary: sync
sees only these. Each error carries its data as attributes; :func:`describe`
turns any of them into one line for a person.
"""

from __future__ import annotations


class SourceError(Exception):
    """Raised when a source fails permanently for a reason that is not one below
    (a folder that does not exist, a server that lacks a required capability)."""

    def __init__(self, message: str, *, account: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.account = account


class AuthError(SourceError):
    """Raised when the server refuses the credentials: stop the account, tell the admin.

    ``hint`` is what to do about it, where the message does not already say it."""

    def __init__(
        self,
        message: str,
        *,
        account: str | None = None,
        hint: str = "check the user name and password",
    ) -> None:
        super().__init__(message, account=account)
        self.hint = hint


class TransientError(SourceError):
    """Raised on network failures, timeouts and throttling: back off and retry.

    ``retry_after`` is the number of seconds the server asked us to wait, if it said.
    """

    def __init__(
        self, message: str, *, account: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, account=account)
        self.retry_after = retry_after


class InvalidCursorError(SourceError):
    """Raised when the server no longer accepts a cursor (UIDVALIDITY changed,
    sync-token expired): sync starts that collection over; ingest is idempotent."""

    def __init__(self, message: str, *, collection: str, account: str | None = None) -> None:
        super().__init__(message, account=account)
        self.collection = collection


class ItemError(SourceError):
    """Raised for one item that cannot be read; the adapter turns it into an
    :class:`adapters.records.ItemFailure` and the batch goes on."""

    def __init__(self, reason: str, *, remote_id: str = "", raw: bytes = b"") -> None:
        super().__init__(reason)
        self.reason = reason
        self.remote_id = remote_id
        self.raw = raw


def network_trouble(exc: BaseException) -> str | None:
    """A failed connection's cause in words (an untrusted certificate, a name not found,
    nothing listening), or None when it is none of those."""
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text or "SSLError" in text or "certificate" in text:
        return (
            "TLS: the server's certificate is not trusted (give its CA as ca_file, or fix the"
            " certificate)"
        )
    if "Name or service not known" in text or "getaddrinfo" in text or "NameResolution" in text:
        return "DNS: the server's name was not found"
    if "Connection refused" in text:
        return "nothing answers at the server's address and port (connection refused)"
    return None


def describe(error: BaseException) -> str:
    """One line for a person: what failed and what to do about it."""
    prefix = ""
    if isinstance(error, SourceError) and error.account:
        prefix = f"{error.account}: "
    if isinstance(error, AuthError):
        hint = f"; {error.hint}" if error.hint else ""
        return f"{prefix}login refused ({error.message}){hint}"
    if isinstance(error, TransientError):
        wait = f", retry after {error.retry_after:.0f}s" if error.retry_after else ""
        return f"{prefix}server unreachable or busy ({error.message}){wait}"
    if isinstance(error, InvalidCursorError):
        return f"{prefix}{error.collection}: the server reset its state; syncing it from the start"
    if isinstance(error, SourceError):
        return f"{prefix}{error.message}"
    return f"{prefix}{type(error).__name__}: {error}"
