"""The EWS simulator's faults and request log: what a test injects
(:meth:`tests.servers.ews.EwsServer.fail_next`) and what the simulator records."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Fault:
    """A fault to answer instead of the real response (see :meth:`EwsServer.fail_next`)."""

    kind: str
    code: str = ""
    message: str = ""
    status: int = 500
    back_off_ms: int = 0
    retry_after: int = 0
    delay: float = 0.0

    @classmethod
    def server_busy(cls, back_off_ms: int = 5000) -> Fault:
        """``ErrorServerBusy`` as a SOAP fault with ``BackOffMilliseconds`` (throttling)."""
        text = "The server cannot service this request right now. Try again later."
        return cls("soap", "ErrorServerBusy", text, back_off_ms=back_off_ms)

    @classmethod
    def soap(cls, code: str = "ErrorInternalServerError", message: str = "") -> Fault:
        """A SOAP fault (HTTP 500) with this EWS response code."""
        return cls("soap", code, message or "An internal server error occurred.")

    @classmethod
    def http(cls, status: int = 503, retry_after: int = 0) -> Fault:
        """A bare HTTP error, e.g. 503 with ``Retry-After``."""
        return cls("http", status=status, retry_after=retry_after)

    @classmethod
    def unauthorized(cls) -> Fault:
        """HTTP 401 although the credentials are right."""
        return cls("http", status=401)

    @classmethod
    def response_error(cls, code: str, message: str = "") -> Fault:
        """An EWS error in the response message (HTTP 200, ResponseClass Error)."""
        return cls("error", code, message or code)

    @classmethod
    def slow(cls, seconds: float) -> Fault:
        """The right answer, but only after ``seconds``."""
        return cls("slow", delay=seconds)


@dataclass
class Request:
    """One logged request."""

    operation: str
    user: str | None
    impersonated: str | None
    mailboxes: list[str]
    api_version: str | None
    anchor_mailbox: str | None
    status: int = 200


@dataclass
class _Injected:
    fault: Fault
    times: int


@dataclass
class _Config:
    version: tuple[int, int, int, int]
    realm: str
    ntlm: bool
    faults: dict[str, list[_Injected]] = field(default_factory=dict)
    delays: dict[str, float] = field(default_factory=dict)
