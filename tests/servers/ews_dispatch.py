"""From an authenticated POST body to the EWS simulator's answer.

Reads the SOAP envelope (``defusedxml``), checks the request as Exchange does
(namespaces, the one operation element in the body, ``RequestServerVersion`` against
the server's version, the ``ExchangeImpersonation`` header and the caller's right to
impersonate), logs it, applies injected faults and delays, and calls the operation.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any
from xml.etree.ElementTree import Element

from defusedxml import ElementTree as SafeET

from tests.servers.ews_ops import OPERATIONS, Context
from tests.servers.ews_store import User
from tests.servers.ews_xml import (
    API_VERSIONS,
    MNS,
    SOAP,
    RequestError,
    envelope,
    error,
    fault,
    operation_response,
    schema_error,
    t,
)

if TYPE_CHECKING:
    from tests.servers.ews import EwsServer, Fault

#: the newest RequestServerVersion each server generation accepts
MAX_API = {(15, 0): "Exchange2013_SP1", (15, 1): "Exchange2016", (15, 2): "Exchange2019"}
Answer = tuple[int, bytes, dict[str, str]]


def _parse(body: bytes) -> tuple[Element, Element]:
    """The SOAP header (maybe empty) and the operation element."""
    try:
        root = SafeET.fromstring(body)
    except SafeET.ParseError as e:
        raise schema_error(f"The request is not well-formed XML: {e}") from None
    except Exception as e:  # defusedxml refuses entities, DTDs and the like
        raise schema_error(f"The request was refused: {type(e).__name__}") from None
    if root.tag != f"{{{SOAP}}}Envelope":
        raise schema_error(f"The root element '{root.tag}' is not a SOAP 1.1 Envelope.")
    header = root.find(f"{{{SOAP}}}Header")
    body_elem = root.find(f"{{{SOAP}}}Body")
    if body_elem is None or len(body_elem) != 1:
        raise schema_error("The SOAP Body must hold exactly one operation element.")
    operation = body_elem[0]
    return (header if header is not None else Element("Header")), operation


def _api_version(server: EwsServer, header: Element) -> str:
    requested = header.find(t("RequestServerVersion"))
    if requested is None:
        return "Exchange2007_SP1"
    version = requested.get("Version") or ""
    major, minor = server.config.version[:2]
    newest = MAX_API.get((major, minor), "Exchange2016")
    if version not in API_VERSIONS or API_VERSIONS.index(version) > API_VERSIONS.index(newest):
        raise RequestError("ErrorInvalidServerVersion", "The specified server version is invalid.")
    return version


def _impersonated(header: Element) -> str | None:
    imp = header.find(t("ExchangeImpersonation"))
    if imp is None:
        return None
    sid = imp.find(t("ConnectingSID"))
    if sid is None or len(sid) != 1:
        raise schema_error("The element 'ExchangeImpersonation' is missing 'ConnectingSID'.")
    ident = sid[0]
    if ident.tag not in (t("PrimarySmtpAddress"), t("SmtpAddress"), t("PrincipalName")):
        raise RequestError("ErrorInvalidArgument", "Only SMTP addresses are simulated in SIDs.")
    return (ident.text or "").strip()


def _context(server: EwsServer, user: User, impersonated: str | None) -> Context:
    store = server.store
    if impersonated is None:
        principal = store.mailbox(user.mailbox) if user.mailbox else None
        return Context(store, user, principal, {m.lower() for m in user.delegate_of})
    if not user.impersonation:
        raise RequestError(
            "ErrorImpersonateUserDenied", "The account does not have permission to impersonate "
            "the requested user."
        )  # fmt: skip
    box = store.mailbox(impersonated)
    if box is None:
        raise RequestError(
            "ErrorNonExistentMailbox", f"The SMTP address has no mailbox associated with it."
            f" ({impersonated})"
        )  # fmt: skip
    owner = next((u for u in store.users.values() if u.mailbox and u.mailbox.lower() ==
                  box.address.lower()), None)  # fmt: skip
    return Context(store, user, box, set(owner.delegate_of) if owner else set())


def _injected(server: EwsServer, operation: str) -> Fault | None:
    for key in (operation, "*"):
        queue = server.config.faults.get(key)
        if queue:
            entry = queue[0]
            entry.times -= 1
            if entry.times <= 0:
                queue.pop(0)
            return entry.fault
    return None


def _fault_answer(server: EwsServer, operation: str, injected: Fault, api: str) -> Answer | None:
    if injected.kind == "soap":
        values = (
            {"BackOffMilliseconds": str(injected.back_off_ms)} if injected.back_off_ms else None
        )
        return 500, fault(injected.code, injected.message, values), {}
    if injected.kind == "http":
        headers = {"Retry-After": str(injected.retry_after)} if injected.retry_after else {}
        if injected.status == 401:
            headers.update(server.challenges())
        return injected.status, b"", headers
    if injected.kind == "error":
        body = operation_response(operation, [error(operation, injected.code, injected.message)])
        return 200, envelope(body, server.config.version, api), {}
    time.sleep(injected.delay)
    return None


def dispatch(server: EwsServer, user: User, body: bytes, headers: Any) -> Answer:
    """Answer one authenticated POST to the EWS endpoint."""
    from tests.servers.ews import Request

    operation = "?"
    request = Request(operation, user.name, None, [], None, headers.get("X-AnchorMailbox"))
    try:
        header, op = _parse(body)
        operation = op.tag.rsplit("}", 1)[-1]
        request.operation = operation
        request.impersonated = _impersonated(header)
        with server.lock:
            server.requests.append(request)
            delay = server.config.delays.get(operation, server.config.delays.get("*", 0.0))
            injected = _injected(server, operation)
        if delay:
            time.sleep(delay)
        if not op.tag.startswith(f"{{{MNS}}}") or operation not in OPERATIONS:
            raise schema_error(f"The element '{op.tag}' is not an operation this server knows.")
        api = _api_version(server, header)
        request.api_version = api
        if injected is not None:
            answer = _fault_answer(server, operation, injected, api)
            if answer is not None:
                request.status = answer[0]
                return answer
        with server.lock:
            ctx = _context(server, user, request.impersonated)
            response = OPERATIONS[operation](ctx, op)
            request.mailboxes = list(dict.fromkeys(ctx.addressed))
        return 200, envelope(response, server.config.version, api), {}
    except RequestError as e:
        if request not in server.requests:
            with server.lock:
                server.requests.append(request)
        request.status = 500
        return 500, fault(e.code, e.message, e.values), {}
