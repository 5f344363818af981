"""The CalDAV pull's requests, sent on the ``caldav`` library's own HTTP session.

The library builds a resource object per href (URL arithmetic, compatibility
look-ups, its own fix-ups of the data) and parses every answer with lxml: for a
5,000-event calendar that costs more than the server's work. The pull needs less:
hrefs, ETags, calendar data, a sync token. So the requests of a pull (getctag
PROPFIND, sync-collection REPORT, ETag PROPFIND, calendar-multiget) go out here on
``DAVClient.session`` with the library's headers, credentials, timeout and TLS
settings, and their multistatus answers are read with defusedxml's ElementTree.

Anything but a 207 (or 200) answer returns ``None``: the caller then asks the
library the same question its way, which negotiates authentication on a 401, waits
out a 429 and raises its own errors for the rest, exactly as before. The calendar
data goes through the library's ``vcal.fix`` as before (what ``obj.data`` gave), and
hrefs become paths the way the library made its URLs (a plain href is its own path).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit
from xml.etree.ElementTree import Element

from defusedxml.ElementTree import fromstring

DAV = "{DAV:}"
CALDAV = "{urn:ietf:params:xml:ns:caldav}"
GETCTAG = "{http://calendarserver.org/ns/}getctag"
_PLAIN_HREF = re.compile(r"/[A-Za-z0-9._~/-]*")
_XML_HEAD = '<?xml version="1.0" encoding="utf-8"?>\n'


@dataclass
class Answer:
    """One multistatus: per href, its status (a whole-resource one, or None) and the
    text of each property found; the top-level sync-token; any 507 (truncated)."""

    responses: list[tuple[str, int | None, dict[str, str]]] = field(default_factory=list)
    sync_token: str = ""
    truncated: bool = False


def send(client: Any, method: str, url: str, body: str, depth: str | None) -> bytes | None:
    """The body of a 207/200 answer to ``method`` at ``url``; None for any other."""
    headers = dict(client.headers)
    headers["Content-Type"] = 'application/xml; charset="utf-8"'
    if depth is not None:
        headers["Depth"] = depth
    proxies = {urlsplit(url).scheme: client.proxy} if client.proxy is not None else None
    response = client.session.request(
        method,
        url,
        data=body.encode(),
        headers=headers,
        proxies=proxies,
        auth=client.auth,
        timeout=client.timeout,
        verify=client.ssl_verify_cert,
        cert=client.ssl_cert,
    )
    if response.status_code not in (200, 207):
        return None
    content: bytes = response.content or b""
    return content


def parse(content: bytes) -> Answer | None:
    """The multistatus in ``content``; None when it is none (the library's way then)."""
    try:
        root: Element = fromstring(content)
    except Exception:
        return None
    if root.tag != f"{DAV}multistatus":
        return None
    answer = Answer(sync_token=(root.findtext(f"{DAV}sync-token") or "").strip())
    for response in root.iter(f"{DAV}response"):
        href = (response.findtext(f"{DAV}href") or "").strip()
        status = _code(response.findtext(f"{DAV}status"))
        if status == 507:
            answer.truncated = True
        props: dict[str, str] = {}
        for propstat in response.findall(f"{DAV}propstat"):
            if (_code(propstat.findtext(f"{DAV}status")) or 200) // 100 != 2:
                continue
            for prop in propstat.findall(f"{DAV}prop"):
                for child in prop:
                    props[child.tag] = child.text or ""
        if href:
            answer.responses.append((href, status, props))
    return answer


def _code(line: str | None) -> int | None:
    parts = (line or "").split()
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


def propfind_body(*props: str) -> str:
    inner = "".join(_element(p) for p in props)
    return f'{_XML_HEAD}<D:propfind xmlns:D="DAV:"><D:prop>{inner}</D:prop></D:propfind>'


def sync_body(token: str | None) -> str:
    return (
        f'{_XML_HEAD}<D:sync-collection xmlns:D="DAV:">'
        f"<D:sync-token>{_escape(token or '')}</D:sync-token><D:sync-level>1</D:sync-level>"
        "<D:prop><D:getetag/></D:prop></D:sync-collection>"
    )


def multiget_body(paths: list[str]) -> str:
    """A calendar-multiget of the calendar data alone: the pull reads nothing else of
    the answer (the library also asked for getetag and schedule-tag, which cost
    Radicale a fifth of its time and the answer a tenth of its size)."""
    hrefs = "".join(f"<D:href>{_escape(p)}</D:href>" for p in paths)
    return (
        f'{_XML_HEAD}<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
        "<D:prop><C:calendar-data/></D:prop>"
        f"{hrefs}</C:calendar-multiget>"
    )


def _element(name: str) -> str:
    namespace, _, local = name[1:].partition("}")
    return f'<X:{local} xmlns:X="{_escape(namespace)}"/>'


def _escape(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def sync_path(calendar: Any, href: str) -> str:
    """The path the library gave an href of a sync-collection answer."""
    if _PLAIN_HREF.fullmatch(href):
        return href
    return urlsplit(str(calendar.url.join(calendar._href_to_url(href)))).path


def multiget_path(calendar: Any, href: str) -> str:
    """The path the library gave an href of a calendar-multiget answer."""
    if _PLAIN_HREF.fullmatch(href):
        return href
    from caldav.lib.url import normalise_path

    joined = calendar.url.join(normalise_path(href, safe="/:@", preserve_at=calendar._preserve_at))
    return urlsplit(str(joined)).path


# What the library's vcal.fix would change (any of its fix-ups 1-5, 7), found in one
# search; with none of it there, and one DTSTAMP and one DTEND/DURATION/DUE per
# component, fix() gives back its input with CRLFs made LFs: no need to call it.
_FIXABLE = ("COMPLETED", "CREATED:00001231T000000Z", "\\'", '\\"', "CATEGORIES")
_COUNTED = re.compile(r"\n(?:BEGIN:V|DTSTAMP[:;]|DURATION[:;]|DTEND[:;]|DUE[:;])")


def fix(data: str) -> str:
    """``caldav.lib.vcal.fix(data)``: the same text, without its cost (a dozen regular
    expressions and a line filter, 0.25 ms an object) where it would change nothing
    but line ends."""
    text = data.replace("\r\n", "\n")
    if not text.endswith("\n"):
        text += "\n"
    if _unchanged_by_fix(text):
        return text
    from caldav.lib.vcal import fix as library_fix

    fixed: str = library_fix(data)
    return fixed


def _unchanged_by_fix(text: str) -> bool:
    if any(needle in text for needle in _FIXABLE) or "\nDTSTAMP:" not in text:
        return False
    for blank in (" \n", "\t\n"):  # a blank that ends a line not folded (fix-up 4)
        at = text.find(blank)
        while at != -1:
            if text[at + 2 : at + 3] not in (" ", "\t"):
                return False
            at = text.find(blank, at + 2)
    if text[:1].isspace() or text[-2:-1].isspace():  # fix() strips the whole text
        return False
    stamped = ended = False  # vcal.LineFilterDiscardingDuplicates, on the lines it counts
    for found in _COUNTED.findall("\n" + text):  # each line that starts so
        if found == "\nBEGIN:V":
            stamped = ended = False
        elif found.startswith("\nDTSTAMP"):
            if stamped:
                return False
            stamped = True
        else:
            if ended:
                return False
            ended = True
    return True
