"""The EWS simulator's Autodiscover service, and a DNS server for the names it is found by.

**Autodiscover** (SOAP, ``/autodiscover/autodiscover.svc``): what exchangelib (5.x) sends
to find a mailbox's EWS endpoint, answered as Microsoft's reference for the
``GetUserSettings`` operation (SOAP) describes it: a request is
``s:Envelope`` with ``a:RequestedServerVersion``, ``wsa:Action`` and ``wsa:To`` in the
header and ``a:GetUserSettingsRequestMessage/a:Request`` (``a:Users/a:User/a:Mailbox``,
``a:RequestedSettings/a:Setting``) in the body (``a`` the 2010 Autodiscover namespace);
the answer is ``GetUserSettingsResponseMessage/Response`` with ``ErrorCode``,
``ErrorMessage`` and ``UserResponses``, one ``UserResponse`` per user with its own
``ErrorCode`` (``NoError``, or ``InvalidUser`` for an address with no mailbox),
``RedirectTarget``, ``UserSettingErrors`` (``SettingIsNotAvailable`` for settings the
simulator does not have) and ``UserSettings`` (``UserSetting`` with ``Name`` and ``Value``).
The settings: ``UserDisplayName``, ``AutoDiscoverSMTPAddress``, ``ExternalEwsUrl`` and
``InternalEwsUrl`` (the simulator's EWS endpoint, or :attr:`EwsServer.autodiscover_ews_url`),
``EwsSupportedSchemas`` and ``CasVersion``. The caller must log in as for EWS (HTTP 401
otherwise, which is also how exchangelib learns the auth type); the request is logged as
operation ``GetUserSettings``.

**DNS** (:class:`LoopbackDns`): exchangelib checks every Autodiscover host name with a DNS
query of its own (dnspython, not the system's resolver, so not ``/etc/hosts``), and a
resolver may well answer NXDOMAIN for ``localhost``. This one answers A queries for the
names it is given with 127.0.0.1 and NXDOMAIN for everything else; a test points
exchangelib's resolver at it with exchangelib's documented
``Autodiscovery.DNS_RESOLVER_ATTRS``.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from xml.etree.ElementTree import Element

import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
from defusedxml import ElementTree as SafeET

from tests.servers.ews_store import User
from tests.servers.ews_xml import API_VERSIONS, SOAP, esc

if TYPE_CHECKING:
    from tests.servers.ews import EwsServer

#: where Exchange serves SOAP Autodiscover (exchangelib asks this path, lower-case)
AUTODISCOVER_PATH = "/autodiscover/autodiscover.svc"
ANS = "http://schemas.microsoft.com/exchange/2010/Autodiscover"
WSA = "http://www.w3.org/2005/08/addressing"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
ACTION = "http://schemas.microsoft.com/exchange/2010/Autodiscover/Autodiscover/"
#: the ServerVersionInfo/Version an Autodiscover service of each generation reports
AD_VERSION = {(15, 0): "Exchange2013", (15, 1): "Exchange2015", (15, 2): "Exchange2019"}
#: the newest EWS schema of each generation (EwsSupportedSchemas lists up to it)
NEWEST_SCHEMA = {(15, 0): "Exchange2013_SP1", (15, 1): "Exchange2016", (15, 2): "Exchange2016"}
Answer = tuple[int, bytes, dict[str, str]]


class _BadRequest(Exception):
    """A request the Autodiscover service refuses (a SOAP fault, HTTP 500)."""


def a(tag: str) -> str:
    """The Clark name of an element in the Autodiscover namespace."""
    return f"{{{ANS}}}{tag}"


def autodiscover(server: EwsServer, user: User, body: bytes, headers: Any) -> Answer:
    """Answer one authenticated POST to the Autodiscover endpoint: (status, body, headers)."""
    from tests.servers.ews import Request

    request = Request("GetUserSettings", user.name, None, [], None, headers.get("X-AnchorMailbox"))
    with server.lock:
        server.requests.append(request)
    try:
        version, addresses, settings = _parse(body)
    except _BadRequest as exc:
        request.status = 500
        return 500, _fault(str(exc)), {}
    request.api_version = version
    request.mailboxes = addresses
    with server.lock:
        users = [_user_response(server, address, settings) for address in addresses]
    return 200, _envelope(server, "".join(users)), {}


def _parse(body: bytes) -> tuple[str, list[str], list[str]]:
    """The RequestedServerVersion, the users' addresses and the settings asked for."""
    try:
        root = SafeET.fromstring(body)
    except Exception as exc:  # not XML, or XML that defusedxml refuses
        raise _BadRequest(f"The request is not well-formed XML: {type(exc).__name__}") from None
    header = root.find(f"{{{SOAP}}}Header")
    operation = root.find(f"{{{SOAP}}}Body/{a('GetUserSettingsRequestMessage')}")
    if root.tag != f"{{{SOAP}}}Envelope" or header is None or operation is None:
        raise _BadRequest("Expected a SOAP envelope with a GetUserSettingsRequestMessage.")
    action = (header.findtext(f"{{{WSA}}}Action") or "").strip()
    if action != ACTION + "GetUserSettings":
        raise _BadRequest(f"The action '{action}' is not supported.")
    version = (header.findtext(a("RequestedServerVersion")) or "").strip()
    if version not in API_VERSIONS:
        raise _BadRequest(f"The RequestedServerVersion '{version}' is not valid.")
    request = _need(operation, "Request")
    addresses = [
        (mailbox.text or "").strip() for mailbox in _need(request, "Users").iter(a("Mailbox"))
    ]
    settings = [(s.text or "").strip() for s in _need(request, "RequestedSettings")]
    if not addresses or not settings:
        raise _BadRequest("A GetUserSettings request names at least one user and one setting.")
    return version, addresses, settings


def _need(parent: Element, tag: str) -> Element:
    found = parent.find(a(tag))
    if found is None:
        raise _BadRequest(f"The element '{parent.tag}' is missing its child '{tag}'.")
    return found


def _user_response(server: EwsServer, address: str, wanted: list[str]) -> str:
    box = server.store.mailbox(address)
    if box is None:
        return _user(
            "InvalidUser", f"Invalid user: '{address}'", redirect=None, errors="", settings=""
        )
    ews_url = server.autodiscover_ews_url or server.url
    major, minor, build, revision = server.config.version
    newest = NEWEST_SCHEMA.get((major, minor), "Exchange2016")
    known = {
        "UserDisplayName": box.display_name,
        "AutoDiscoverSMTPAddress": box.address,
        "ExternalEwsUrl": ews_url,
        "InternalEwsUrl": ews_url,
        "EwsSupportedSchemas": ", ".join(API_VERSIONS[: API_VERSIONS.index(newest) + 1]),
        "CasVersion": f"{major}.{minor:02d}.{build:04d}.{revision:03d}",
    }
    settings = "".join(
        f'<UserSetting i:type="StringSetting"><Name>{esc(name)}</Name>'
        f"<Value>{esc(known[name])}</Value></UserSetting>"
        for name in wanted
        if name in known
    )
    errors = "".join(
        "<UserSettingError><ErrorCode>SettingIsNotAvailable</ErrorCode>"
        f"<ErrorMessage>User setting '{esc(name)}' is not available.</ErrorMessage>"
        f"<SettingName>{esc(name)}</SettingName></UserSettingError>"
        for name in wanted
        if name not in known
    )
    return _user("NoError", "No error.", redirect=None, errors=errors, settings=settings)


def _user(code: str, message: str, *, redirect: str | None, errors: str, settings: str) -> str:
    target = (
        f"<RedirectTarget>{esc(redirect)}</RedirectTarget>"
        if redirect
        else '<RedirectTarget i:nil="true"/>'
    )
    return (
        f"<UserResponse><ErrorCode>{esc(code)}</ErrorCode><ErrorMessage>{esc(message)}"
        f"</ErrorMessage>{target}<UserSettingErrors>{errors}</UserSettingErrors>"
        f"<UserSettings>{settings}</UserSettings></UserResponse>"
    )


def _envelope(server: EwsServer, user_responses: str) -> bytes:
    major, minor, build, revision = server.config.version
    version = AD_VERSION.get((major, minor), "Exchange2015")
    header = (
        f'<a:Action s:mustUnderstand="1">{ACTION}GetUserSettingsResponse</a:Action>'
        f'<h:ServerVersionInfo xmlns:h="{ANS}" xmlns:i="{XSI}">'
        f"<h:MajorVersion>{major}</h:MajorVersion><h:MinorVersion>{minor}</h:MinorVersion>"
        f"<h:MajorBuildNumber>{build}</h:MajorBuildNumber>"
        f"<h:MinorBuildNumber>{revision}</h:MinorBuildNumber>"
        f"<h:Version>{version}</h:Version></h:ServerVersionInfo>"
    )
    body = (
        f'<GetUserSettingsResponseMessage xmlns="{ANS}"><Response xmlns:i="{XSI}">'
        "<ErrorCode>NoError</ErrorCode><ErrorMessage/>"
        f"<UserResponses>{user_responses}</UserResponses></Response>"
        "</GetUserSettingsResponseMessage>"
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<s:Envelope xmlns:s="{SOAP}" xmlns:a="{WSA}"><s:Header>{header}</s:Header>'
        f"<s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


def _fault(message: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<s:Envelope xmlns:s="{SOAP}"><s:Body><s:Fault>'
        "<faultcode>s:Client</faultcode>"
        f'<faultstring xml:lang="en-US">{esc(message)}</faultstring>'
        "</s:Fault></s:Body></s:Envelope>"
    ).encode()


# -- DNS --------------------------------------------------------------------------------------


class LoopbackDns:
    """A DNS server on a free UDP port of 127.0.0.1: A records pointing at 127.0.0.1 for
    ``names``, NXDOMAIN for every other name (and so for every SRV query)."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = {n.lower().rstrip(".") + "." for n in names}
        self.queries: list[tuple[str, str]] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.05)
        self.port: int = self._sock.getsockname()[1]
        self._stop = threading.Event()

    @classmethod
    @contextmanager
    def start(cls, names: Iterable[str]) -> Iterator[LoopbackDns]:
        """Answer from a daemon thread until the ``with`` block ends."""
        server = cls(names)
        thread = threading.Thread(target=server._serve, name="loopback-dns", daemon=True)
        thread.start()
        try:
            yield server
        finally:
            server._stop.set()
            thread.join(5)
            server._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self._sock.recvfrom(4096)
            except TimeoutError:
                continue
            try:
                answer = self._answer(dns.message.from_wire(data)).to_wire()
            except dns.exception.DNSException:  # not DNS: dropped, as a real server does
                answer = b""
            if answer:
                self._sock.sendto(answer, peer)

    def _answer(self, query: dns.message.Message) -> dns.message.Message:
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if len(query.question) != 1:
            response.set_rcode(dns.rcode.FORMERR)
            return response
        question = query.question[0]
        name = question.name.to_text().lower()
        kind = dns.rdatatype.to_text(question.rdtype)
        self.queries.append((name, kind))
        if name not in self.names:
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif kind == "A":
            response.answer.append(dns.rrset.from_text(question.name, 60, "IN", "A", "127.0.0.1"))
        return response  # a known name without that record type: NOERROR, no answer
