"""The follow-ups as a read-only CalDAV task list (RFC 4791), beside the address books.

::

    /dav/calendars/                                 lists the user's calendar home only
    /dav/calendars/<user>/                          the user's calendar home
    /dav/calendars/<user>/follow-ups/               the task list (VTODO only)
    /dav/calendars/<user>/follow-ups/<uid>.ics      one follow-up as a VTODO

The principal's CALDAV:calendar-home-set points at the home (web/carddav/props.py).
A user reaches only their own home and task list (another user's: 403, as for the
address books). PROPFIND (depth 0 and 1), GET/HEAD with ETags and conditions, and the
REPORTs calendar-multiget and calendar-query are answered; anything that would write
(PUT, DELETE, MKCALENDAR, PROPPATCH, ...) is refused with 403 and DAV:need-privileges.
The content comes from crm.todos.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from xml.etree.ElementTree import Element

from icalendar import Calendar
from werkzeug.wrappers import Request, Response

from crm.todos import Todo, collection_ctag, etag, get_todos, todo_ics, todos_for
from web.carddav.propfind import depth, describe_props, requested_props
from web.carddav.props import ALLPROP, READ_PRIVILEGES, Render, http_date
from web.carddav.resources import Ctx, DavError, card_name, segments
from web.carddav.xmlutil import (
    CALDAV,
    CS,
    DAV,
    BadRequest,
    Multistatus,
    Name,
    escape,
    href,
    parse,
    prefers_minimal,
    split,
    tag,
)

TOP = "calendars"
SLUG = "follow-ups"
DISPLAY_NAME = "Follow-ups (crmsync)"
DESCRIPTION = "Your follow-ups in crmsync, read-only: close them in crmsync."
MULTISTATUS = "application/xml; charset=utf-8"
ICS_TYPE = "text/calendar; charset=utf-8; component=VTODO"
#: methods that would change the task list: refused
WRITE_METHODS = frozenset({"PUT", "DELETE", "MKCOL", "MKCALENDAR", "PROPPATCH", "MOVE", "COPY"})
READ_ONLY = (
    "The crmsync task list is read-only: follow-ups are made, changed and closed in crmsync itself."
)
REPORTS = (
    "<D:supported-report><D:report><CAL:calendar-multiget/></D:report></D:supported-report>"
    "<D:supported-report><D:report><CAL:calendar-query/></D:report></D:supported-report>"
)


@dataclass(frozen=True)
class Homes:
    """``/dav/calendars/``."""

    path: str


@dataclass(frozen=True)
class CalendarHome:
    path: str


@dataclass(frozen=True)
class TaskList:
    path: str


@dataclass(frozen=True)
class Item:
    path: str
    uid: str


CalResource = Homes | CalendarHome | TaskList | Item


def home_url(ctx: Ctx) -> str:
    return ctx.url(TOP, ctx.user.name)


def list_url(ctx: Ctx) -> str:
    return ctx.url(TOP, ctx.user.name, SLUG)


def item_url(ctx: Ctx, uid: str) -> str:
    return list_url(ctx) + card_name(uid)[: -len(".vcf")] + ".ics"


def is_calendar_path(base: str, path: str) -> bool:
    """True for a path in the calendar tree (``/dav/calendars`` and below)."""
    return path == f"{base}/{TOP}" or path.startswith(f"{base}/{TOP}/")


def resolve(ctx: Ctx, path: str) -> CalResource:
    parts = segments(ctx, path)
    if not parts or parts[0] != TOP:
        raise DavError(404, f"nothing at {path}")
    rest = parts[1:]
    if not rest:
        return Homes(ctx.url(TOP))
    if rest[0] != ctx.user.name:
        raise DavError(403, "this belongs to another user")
    if len(rest) == 1:
        return CalendarHome(home_url(ctx))
    if rest[1] != SLUG:
        raise DavError(404, f"there is no calendar {rest[1]!r}")
    if len(rest) == 2:
        return TaskList(list_url(ctx))
    if len(rest) == 3 and rest[2].endswith(".ics") and len(rest[2]) > 4:
        return Item(item_url(ctx, rest[2][:-4]), rest[2][:-4])
    raise DavError(404, f"nothing at {path}")


def handle(ctx: Ctx, request: Request) -> Response:
    """Answer a request for a path in the calendar tree (``is_calendar_path``)."""
    method = request.method
    if method in WRITE_METHODS:
        raise DavError(
            403,
            READ_ONLY,
            "<D:need-privileges><D:resource>"
            f"<D:href>{escape(request.path)}</D:href><D:privilege><D:write/></D:privilege>"
            "</D:resource></D:need-privileges>",
        )
    res = resolve(ctx, request.path)
    if method == "PROPFIND":
        return _propfind(ctx, request, res)
    if method == "REPORT":
        return _report(ctx, request, res)
    if method in ("GET", "HEAD"):
        return _get(ctx, request, res)
    raise DavError(405, f"{method} is not supported here")


# -- content -------------------------------------------------------------------------------


class _Site:
    """The web view's address, for each to-do's URL (the customer's page)."""

    def __init__(self, request: Request) -> None:
        self.root = request.host_url.rstrip("/") + request.script_root

    def customer_url(self, todo: Todo) -> str:
        if todo.person_id is not None:
            return f"{self.root}/people/{todo.person_id}"
        if todo.organization_id is not None:
            return f"{self.root}/organizations/{todo.organization_id}"
        return ""

    def ics(self, todo: Todo) -> bytes:
        return todo_ics(todo, self.customer_url(todo))

    def etag(self, todo: Todo) -> str:
        return etag(todo, self.customer_url(todo))


def _one(ctx: Ctx, uid: str) -> Todo:
    todo = get_todos(ctx.session, ctx.user.id, [uid]).get(uid)
    if todo is None:
        raise DavError(404, "there is no such follow-up in this task list")
    return todo


# -- PROPFIND ------------------------------------------------------------------------------


def _base_props(ctx: Ctx) -> dict[Name, Render]:
    principal = ctx.principal_url
    return {
        (DAV, "current-user-principal"): lambda: href(principal),
        (DAV, "principal-collection-set"): lambda: href(ctx.url("principals")),
        (DAV, "current-user-privilege-set"): lambda: READ_PRIVILEGES,
        (DAV, "owner"): lambda: href(principal),
        (DAV, "supported-report-set"): lambda: "",
    }


def _collection_props(ctx: Ctx, res: CalResource) -> dict[Name, Render]:
    props = _base_props(ctx)
    if isinstance(res, Homes):
        props[(DAV, "resourcetype")] = lambda: "<D:collection/>"
        props[(DAV, "displayname")] = lambda: TOP
    elif isinstance(res, CalendarHome):
        props[(DAV, "resourcetype")] = lambda: "<D:collection/>"
        props[(DAV, "displayname")] = lambda: escape(f"Calendars of {ctx.user.name}")
        props[(CALDAV, "calendar-home-set")] = lambda: href(home_url(ctx))
    elif isinstance(res, TaskList):

        @functools.cache
        def ctag() -> str:
            return escape(collection_ctag(ctx.session, ctx.user.id))

        props.update(
            {
                (DAV, "resourcetype"): lambda: "<D:collection/><CAL:calendar/>",
                (DAV, "displayname"): lambda: escape(DISPLAY_NAME),
                (CALDAV, "calendar-description"): lambda: escape(DESCRIPTION),
                (CALDAV, "supported-calendar-component-set"): lambda: '<CAL:comp name="VTODO"/>',
                (CALDAV, "supported-calendar-data"): lambda: (
                    '<CAL:calendar-data content-type="text/calendar" version="2.0"/>'
                ),
                (DAV, "supported-report-set"): lambda: REPORTS,
                (CS, "getctag"): ctag,
            }
        )
    return props


def _item_props(ctx: Ctx, site: _Site, todo: Todo) -> dict[Name, Render]:
    body = functools.cache(lambda: site.ics(todo))
    return {
        (DAV, "getetag"): lambda: f'"{site.etag(todo)}"',
        (DAV, "getcontenttype"): lambda: ICS_TYPE,
        (DAV, "getcontentlength"): lambda: str(len(body())),
        (DAV, "getlastmodified"): lambda: http_date(todo.updated_at),
        (DAV, "resourcetype"): lambda: "",
        (DAV, "current-user-privilege-set"): lambda: READ_PRIVILEGES,
        (DAV, "owner"): lambda: href(ctx.principal_url),
    }


_describe = describe_props


def _propfind(ctx: Ctx, request: Request, res: CalResource) -> Response:
    level = depth(request)
    mode, names = requested_props(parse(request.get_data()))
    out = Multistatus(minimal=prefers_minimal(request.headers))
    site = _Site(request)
    if isinstance(res, Item):
        _describe(out, res.path, _item_props(ctx, site, _one(ctx, res.uid)), mode, names)
        return Response(out.render(), status=207, content_type=MULTISTATUS)
    _describe(out, res.path, _collection_props(ctx, res), mode, names)
    if level == "1":
        children: list[CalResource] = []
        if isinstance(res, Homes):
            children = [CalendarHome(home_url(ctx))]
        elif isinstance(res, CalendarHome):
            children = [TaskList(list_url(ctx))]
        for child in children:
            _describe(out, child.path, _collection_props(ctx, child), mode, names)
        if isinstance(res, TaskList):
            for todo in todos_for(ctx.session, ctx.user.id):
                props = _item_props(ctx, site, todo)
                _describe(out, item_url(ctx, todo.uid), props, mode, names)
    return Response(out.render(), status=207, content_type=MULTISTATUS)


# -- GET -----------------------------------------------------------------------------------


def _get(ctx: Ctx, request: Request, res: CalResource) -> Response:
    if not isinstance(res, Item):
        raise DavError(405, "this is a collection; PROPFIND lists it, or GET a to-do in it")
    todo = _one(ctx, res.uid)
    site = _Site(request)
    tag_ = site.etag(todo)
    headers = {"ETag": f'"{tag_}"', "Last-Modified": http_date(todo.updated_at)}
    if request.if_match and not request.if_match.contains(tag_):
        return Response(status=412, headers={"ETag": f'"{tag_}"'})
    if request.if_none_match and request.if_none_match.contains(tag_):
        return Response(status=304, headers=headers)
    return Response(site.ics(todo), content_type=ICS_TYPE, headers=headers)


# -- REPORT --------------------------------------------------------------------------------

CALENDAR_DATA = (CALDAV, "calendar-data")


def _report(ctx: Ctx, request: Request, res: CalResource) -> Response:
    root = parse(request.get_data())
    if root is None:
        raise BadRequest("a REPORT needs a body naming the report")
    if not isinstance(res, TaskList | Item):
        raise DavError(403, "reports are answered on the task list only", "<D:supported-report/>")
    report = split(root.tag)
    names, data = _prop_request(root)
    out = Multistatus(minimal=prefers_minimal(request.headers))
    site = _Site(request)
    if report == (CALDAV, "calendar-multiget"):
        hrefs = [(h.text or "").strip() for h in root.findall(f"{{{DAV}}}href")]
        uids = {h: _item_uid(ctx, h) for h in hrefs}
        found = get_todos(ctx.session, ctx.user.id, [u for u in uids.values() if u])
        for h in hrefs:
            uid = uids[h]
            todo = found.get(uid) if uid else None
            if todo is None:
                out.status(h, 404)
            else:
                _item_response(ctx, out, site, todo, names, data)
    elif report == (CALDAV, "calendar-query"):
        test = _compile(root.find(f"{{{CALDAV}}}filter"))
        for todo in todos_for(ctx.session, ctx.user.id):
            if isinstance(res, Item) and todo.uid != res.uid:
                continue
            if test(todo):
                _item_response(ctx, out, site, todo, names, data)
    else:
        raise DavError(
            403, f"the report {report[1]} is not supported here", "<D:supported-report/>"
        )
    return Response(out.render(), status=207, content_type=MULTISTATUS)


def _prop_request(root: Element) -> tuple[list[Name], bool]:
    """The properties a report asks for, and whether CALDAV:calendar-data is one (asked
    for as a whole: a partial calendar-data, with CALDAV:comp or CALDAV:expand inside,
    is answered with the whole to-do, which RFC 4791 section 9.6 permits servers to)."""
    prop = root.find(f"{{{DAV}}}prop")
    if prop is None:
        return sorted(ALLPROP), False
    names = [split(child.tag) for child in prop]
    return [n for n in names if n != CALENDAR_DATA], CALENDAR_DATA in names


def _item_uid(ctx: Ctx, ref: str) -> str | None:
    try:
        parts = segments(ctx, ref)
    except DavError:
        return None
    if (
        len(parts) == 4
        and parts[0] == TOP
        and parts[1] == ctx.user.name
        and parts[2] == SLUG
        and parts[3].endswith(".ics")
    ):
        return parts[3][:-4]
    return None


def _item_response(
    ctx: Ctx, out: Multistatus, site: _Site, todo: Todo, names: list[Name], data: bool
) -> None:
    props = _item_props(ctx, site, todo)
    found: list[str] = []
    missing: list[str] = []
    for name in dict.fromkeys(names):
        render = props.get(name)
        t = tag(name, out.namespaces)
        if render is None:
            missing.append(f"<{t}/>")
        else:
            found.append(f"<{t}>{render()}</{t}>")
    if data:
        # CR kept as a character reference: XML parsers turn a literal CRLF into LF
        text = escape(site.ics(todo).decode()).replace("\r", "&#13;")
        found.append(f"<CAL:calendar-data>{text}</CAL:calendar-data>")
    out.propstats(item_url(ctx, todo.uid), found, missing)


# -- calendar-query filters (RFC 4791 section 9.7) -----------------------------------------

Test = Callable[[Todo], bool]


def _compile(element: Element | None) -> Test:
    """A test of a to-do for a CALDAV:filter. The VCALENDAR and VTODO comp-filters,
    is-not-defined and text-match (i;ascii-casemap or i;octet, contains, negate-condition)
    are honoured; time-range is not (every to-do matches it)."""
    if element is None:
        return lambda todo: True
    top = element.find(f"{{{CALDAV}}}comp-filter")
    if top is None:
        return lambda todo: True
    if top.get("name", "").upper() != "VCALENDAR":
        return lambda todo: False
    if top.find(f"{{{CALDAV}}}is-not-defined") is not None:
        return lambda todo: False
    tests: list[Test] = []
    for comp in top.findall(f"{{{CALDAV}}}comp-filter"):
        name = comp.get("name", "").upper()
        undefined = comp.find(f"{{{CALDAV}}}is-not-defined") is not None
        if (name == "VTODO") == undefined:  # a VTODO excluded, or another component asked
            return lambda todo: False
        tests += [_prop_test(p) for p in comp.findall(f"{{{CALDAV}}}prop-filter")]
    return lambda todo: all(t(todo) for t in tests)


def _prop_test(element: Element) -> Test:
    name = element.get("name", "").upper()
    if not name:
        raise BadRequest("a CALDAV:prop-filter needs a name")
    if element.find(f"{{{CALDAV}}}is-not-defined") is not None:
        return lambda todo: not _values(todo, name)
    match = element.find(f"{{{CALDAV}}}text-match")
    if match is None:  # a time-range, or nothing: the property is defined
        if element.find(f"{{{CALDAV}}}time-range") is not None:
            return lambda todo: True
        return lambda todo: bool(_values(todo, name))
    collation = match.get("collation", "i;ascii-casemap")
    if collation not in ("i;ascii-casemap", "i;octet"):
        raise DavError(
            403, f"the collation {collation} is not supported", "<CAL:supported-collation/>"
        )
    fold = collation == "i;ascii-casemap"
    needle = match.text or ""
    negate = match.get("negate-condition", "no") == "yes"

    def test(todo: Todo) -> bool:
        values = _values(todo, name)
        if not values:
            return False
        wanted = needle.lower() if fold else needle
        hit = any(wanted in (v.lower() if fold else v) for v in values)
        return hit != negate

    return test


def _values(todo: Todo, name: str) -> list[str]:
    """The text values of one property of the to-do's VTODO."""
    calendar = Calendar.from_ical(todo_ics(todo))
    values: list[str] = []
    for component in calendar.walk("VTODO"):
        found = component.get(name)
        if found is None:
            continue
        for value in found if isinstance(found, list) else [found]:
            values.append(value.to_ical().decode() if hasattr(value, "to_ical") else str(value))
    return values
