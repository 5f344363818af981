"""A small WebDAV client (RFC 4918) under the CardDAV adapter: requests and multistatus.

Only what reading a DAV server needs: PROPFIND and REPORT with an XML body; redirects
followed by hand, method and body kept (``requests`` and ``niquests`` turn a PROPFIND
redirected with 302 into a GET, which is how Xandikos redirects
``/.well-known/carddav``, and drop its body on a 301, which is how Radicale does);
every failure mapped to the error kinds of :mod:`adapters.errors` at this boundary.
Answers are parsed with defusedxml; hrefs are normalized to one spelling of their path
(after vdirsyncer's ``_normalize_href``) so the same resource compares equal whichever
way a server percent-encoded it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import quote, unquote, urljoin, urlsplit
from xml.etree.ElementTree import Element, ParseError, SubElement, tostring

import niquests
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from adapters.errors import AuthError, SourceError, TransientError

log = logging.getLogger(__name__)

DAV = "{DAV:}"
CARDDAV = "{urn:ietf:params:xml:ns:carddav}"
CALSERVER = "{http://calendarserver.org/ns/}"
MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Statuses of a precondition failure that a DAV:error body names (RFC 4918 §16).
_PRECONDITION_STATUSES = frozenset({403, 409, 412})
# 501 and 505 say the server will never do it; other 5xx may pass.
_PERMANENT_5XX = frozenset({501, 505})
# ASCII controls that are not allowed in XML 1.0 but that some servers send anyway.
_BAD_XML_BYTES = bytes([*range(0, 9), 11, 12, *range(14, 32)])


class StatusError(SourceError):
    """Raised when the server answered a request with a status that no retry or other
    password will change (404, 405, 501, ...)."""

    def __init__(self, message: str, *, status: int, account: str | None = None) -> None:
        super().__init__(message, account=account)
        self.status = status


class NotDavError(SourceError):
    """Raised when an answer is no WebDAV XML (an HTML page, a broken body)."""


class PreconditionError(StatusError):
    """Raised when the server refused a request with a named precondition (RFC 4918
    §16), such as ``{DAV:}valid-sync-token`` (RFC 6578 §3.2)."""

    def __init__(
        self, message: str, *, status: int, condition: str, account: str | None = None
    ) -> None:
        super().__init__(message, status=status, account=account)
        self.condition = condition


def normalize_href(base: str, href: str) -> str:
    """The path of ``href`` (relative to ``base``), percent-encoded one way."""
    path = urlsplit(urljoin(base, href.strip())).path
    return quote(unquote(path), safe="/@")


def same_collection(a: str, b: str) -> bool:
    """True when two collection hrefs differ at most in their trailing slash."""
    return a.rstrip("/") == b.rstrip("/")


@dataclass(frozen=True, slots=True)
class DavResource:
    """One ``DAV:response`` of a multistatus: an href, its found properties and, where
    the server answered for the whole resource (``404`` in a sync report), that status."""

    href: str
    status: int | None = None
    props: dict[str, Element] = field(default_factory=dict)

    def text(self, name: str) -> str:
        """The text of property ``name`` (``{ns}local``), stripped; "" when absent."""
        found = self.props.get(name)
        return (found.text or "").strip() if found is not None else ""

    def href_in(self, name: str) -> str:
        """The first ``DAV:href`` inside property ``name`` ("" when none)."""
        found = self.props.get(name)
        inner = found.find(f"{DAV}href") if found is not None else None
        return (inner.text or "").strip() if inner is not None else ""

    def hrefs_in(self, name: str) -> list[str]:
        found = self.props.get(name)
        inner = found.findall(f"{DAV}href") if found is not None else []
        return [(h.text or "").strip() for h in inner if (h.text or "").strip()]

    def is_a(self, resourcetype: str) -> bool:
        """True when ``DAV:resourcetype`` holds ``resourcetype`` (``{ns}local``)."""
        found = self.props.get(f"{DAV}resourcetype")
        return found is not None and found.find(resourcetype) is not None


@dataclass(frozen=True, slots=True)
class Multistatus:
    """A ``207 Multi-Status`` answer (RFC 4918 §13): ``url`` is where it came from
    (after redirects), the base for relative hrefs."""

    url: str
    responses: list[DavResource]
    #: the top-level ``DAV:sync-token`` of a sync-collection report (RFC 6578 §6.4)
    sync_token: str = ""


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    url: str
    headers: dict[str, str]
    content: bytes


def xml_body(root: Element) -> bytes:
    return tostring(root, encoding="utf-8", xml_declaration=True)


def propfind_body(props: Iterable[str]) -> bytes:
    """``<propfind><prop>…</prop></propfind>`` asking for ``props`` (``{ns}local`` names)."""
    root = Element(f"{DAV}propfind")
    wanted = SubElement(root, f"{DAV}prop")
    for name in props:
        SubElement(wanted, name)
    return xml_body(root)


class DavClient:
    """HTTP Basic over one ``niquests`` session, against one server.

    Redirects are followed only on the host of ``url`` (same scheme and port, or to
    https): one to another host is refused rather than followed with the password.
    """

    def __init__(
        self,
        url: str,
        username: str,
        password: str,
        *,
        verify: bool | str = True,
        timeout: float = 60.0,
        account: str = "",
        user_agent: str = "crmsync",
    ) -> None:
        self.url = url
        self.account = account
        self.timeout = timeout
        # per request: a session's own verify loses to $REQUESTS_CA_BUNDLE (as in requests)
        self.verify = verify
        self._origin = _origin(url)
        self._session = niquests.Session()
        self._session.auth = (username, password)
        self._session.headers.update({"User-Agent": user_agent})
        #: HTTP requests sent so far (each redirect counts): what a pull cost
        self.requests = 0

    def close(self) -> None:
        self._session.close()

    # --- requests ------------------------------------------------------------------------

    def propfind(self, url: str, props: Sequence[str], depth: int) -> Multistatus:
        """PROPFIND ``props`` at ``url`` with ``Depth: depth`` (RFC 4918 §9.1)."""
        return self.multistatus(
            "PROPFIND", url, propfind_body(props), headers={"Depth": str(depth)}
        )

    def multistatus(
        self, method: str, url: str, body: bytes, *, headers: dict[str, str] | None = None
    ) -> Multistatus:
        """Send an XML request whose answer is a multistatus, and parse it."""
        answer = self.request(method, url, body, headers=headers)
        return parse_multistatus(answer.url, answer.content, self.account)

    def request(
        self, method: str, url: str, body: bytes, *, headers: dict[str, str] | None = None
    ) -> _Answer:
        """One request, redirects followed with method and body kept (RFC 9110 §15.4
        allows it for 301/302 too); a failure raised as the right error kind."""
        all_headers = {"Content-Type": "application/xml; charset=utf-8", **(headers or {})}
        for _ in range(MAX_REDIRECTS + 1):
            answer = self._send(method, url, body, all_headers)
            location = answer.headers.get("location")
            if answer.status not in _REDIRECTS or not location:
                self._check(method, answer)
                return answer
            url = self._follow(url, location)
        raise SourceError(f"too many redirects from {url}", account=self.account)

    def _send(self, method: str, url: str, body: bytes, headers: dict[str, str]) -> _Answer:
        self.requests += 1
        try:
            response = self._session.request(
                method,
                url,
                data=body,
                headers=headers,
                timeout=self.timeout,
                allow_redirects=False,
                verify=self.verify,
            )
            content = response.content or b""
        except niquests.exceptions.SSLError as exc:
            raise SourceError(f"TLS with {url} failed: {exc}", account=self.account) from None
        except (
            niquests.exceptions.ConnectionError,
            niquests.exceptions.Timeout,
            niquests.exceptions.ChunkedEncodingError,
        ) as exc:
            raise TransientError(f"{method} {url}: {exc}", account=self.account) from None
        except niquests.exceptions.RequestException as exc:
            raise SourceError(f"{method} {url}: {exc}", account=self.account) from None
        status = int(response.status_code or 0)
        log.debug("%s %s -> %s (%d bytes)", method, url, status, len(content))
        headers_out = {k.lower(): v for k, v in response.headers.items()}
        return _Answer(status, str(response.url or url), headers_out, content)

    def _follow(self, url: str, location: str) -> str:
        target = urljoin(url, location)
        scheme, host, port = _origin(target)
        home_scheme, home_host, home_port = self._origin
        same = (scheme, port) == (home_scheme, home_port) or scheme == "https"
        if host != home_host or not same:
            raise SourceError(
                f"{url} redirects to {target}, another server: configure that URL instead",
                account=self.account,
            )
        log.debug("redirected from %s to %s", url, target)
        return target

    def _check(self, method: str, answer: _Answer) -> None:
        """Raise for anything but success (2xx)."""
        status, url = answer.status, answer.url
        if 200 <= status < 300:
            return
        what = f"{method} {url} answered {status}"
        if status in _PRECONDITION_STATUSES:
            condition = _precondition(answer.content)
            if condition:
                raise PreconditionError(
                    f"{what} ({condition})",
                    status=status,
                    condition=condition,
                    account=self.account,
                )
        if status in (401, 403):
            raise AuthError(what, account=self.account)
        if status == 429 or (status >= 500 and status not in _PERMANENT_5XX):
            raise TransientError(
                what, account=self.account, retry_after=_retry_after(answer.headers)
            )
        raise StatusError(what, status=status, account=self.account)


def parse_multistatus(url: str, content: bytes, account: str = "") -> Multistatus:
    """The responses of a multistatus body; only properties found (2xx) are kept."""
    root = parse_xml(content, url, account)
    if root.tag != f"{DAV}multistatus":
        raise NotDavError(f"{url} answered {root.tag}, not a multistatus", account=account)
    responses = [r for r in map(lambda el: _resource(url, el), root.iter(f"{DAV}response")) if r]
    token = root.find(f"{DAV}sync-token")
    return Multistatus(url, responses, (token.text or "").strip() if token is not None else "")


def parse_xml(content: bytes, url: str, account: str = "") -> Element:
    """An XML answer parsed without entities or DTDs (defusedxml)."""
    cleaned = content.translate(None, _BAD_XML_BYTES)
    if cleaned != content:
        log.warning("%s sent control characters in XML; ignoring them", url)
    try:
        root: Element = fromstring(cleaned)
    except (ParseError, DefusedXmlException) as exc:
        raise NotDavError(f"{url} sent unreadable XML: {exc}", account=account) from None
    return root


def _resource(base: str, element: Element) -> DavResource | None:
    href = element.findtext(f"{DAV}href", "").strip()
    if not href:
        log.warning("%s: a response without href; skipping it", base)
        return None
    props: dict[str, Element] = {}
    for propstat in element.findall(f"{DAV}propstat"):
        if _status_code(propstat.findtext(f"{DAV}status", "")) // 100 != 2:
            continue
        for prop in propstat.findall(f"{DAV}prop"):
            props.update((child.tag, child) for child in prop)
    status = element.findtext(f"{DAV}status")
    code = _status_code(status) if status is not None else None
    return DavResource(normalize_href(base, href), code, props)


def _status_code(line: str) -> int:
    """The code of an HTTP status line (``HTTP/1.1 404 Not Found``); 0 if unreadable."""
    parts = line.split()
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


def _precondition(content: bytes) -> str:
    """The first condition named by a ``DAV:error`` body (``{DAV:}valid-sync-token``)."""
    try:
        root = fromstring(content) if content.strip() else None
    except (ParseError, DefusedXmlException):
        return ""
    if root is None or root.tag != f"{DAV}error":
        return ""
    return next((child.tag for child in root if child.tag != f"{DAV}responsedescription"), "")


def _retry_after(headers: dict[str, str]) -> float | None:
    """Retry-After in seconds (RFC 9110 §10.2.3: seconds or an HTTP date)."""
    value = headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port
