"""The Graph v1.0 routes of the simulator: users, mail folders, messages (with ``$value``),
calendars and calendarView, contact folders and contacts, each with its delta query,
and the permission checks (app roles, delegated scopes, application access policy);
groups and their members are in :mod:`tests.servers.graph_groups`.

:func:`route` answers one authenticated GET (a top-level request or one step of a
``$batch``) as ``(status, headers, body)``; failures raise :class:`GraphError`, which
the server turns into Graph's error JSON.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import urllib.parse
from typing import TYPE_CHECKING, Any

from tests.servers.graph_calendar import Event, Instance, master_json
from tests.servers.graph_delta import Round
from tests.servers.graph_identity import Token
from tests.servers.graph_mail import Message
from tests.servers.graph_store import Folder, Mailbox

if TYPE_CHECKING:
    from tests.servers.graph import GraphServer

JSON_TYPE = "application/json;odata.metadata=minimal;odata.streaming=true;charset=utf-8"
Answer = tuple[int, dict[str, str], bytes]
ROLES = {
    "mail": {"Mail.Read", "Mail.ReadWrite", "Mail.ReadBasic.All"},
    "calendar": {"Calendars.Read", "Calendars.ReadWrite"},
    "contacts": {"Contacts.Read", "Contacts.ReadWrite"},
    "user": {"User.Read.All", "User.ReadWrite.All", "User.ReadBasic.All", "Directory.Read.All"},
}
SCOPES = {
    "mail": {"Mail.Read", "Mail.ReadWrite", "Mail.ReadBasic", "Mail.Read.Shared"},
    "calendar": {"Calendars.Read", "Calendars.ReadWrite", "Calendars.Read.Shared"},
    "contacts": {"Contacts.Read", "Contacts.ReadWrite", "Contacts.Read.Shared"},
    "user": {"User.Read", "User.ReadBasic.All", "User.Read.All", "Directory.Read.All"},
}
AREAS = {
    "mailFolders": "mail",
    "messages": "mail",
    "calendars": "calendar",
    "calendarView": "calendar",
    "events": "calendar",
    "contactFolders": "contacts",
    "contacts": "contacts",
}
DENIED = "Access is denied. Check credentials and try again."
POLICY_DENIED = (
    "Access to OData is disabled: [RAOP] : Blocked by tenant configured AppOnly AccessPolicy "
    "settings."
)


class GraphError(Exception):
    """A Graph error answer: ``{"error": {"code", "message", "innerError"}}``."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


def json_answer(data: Any, headers: dict[str, str] | None = None, status: int = 200) -> Answer:
    return status, {"Content-Type": JSON_TYPE, **(headers or {})}, json.dumps(data).encode()


def route(
    srv: GraphServer, token: Token, method: str, path: str, query: dict[str, str], headers: Any
) -> Answer:
    """Answer ``method path`` (relative to ``/v1.0``) for the holder of ``token``."""
    segs = [urllib.parse.unquote(s) for s in path.strip("/").split("/")]
    if method != "GET":
        raise GraphError(405, "Request_BadRequest", f"The {method} method is not simulated.")
    if segs[0] == "groups":
        from tests.servers.graph_groups import group_route  # it builds on this module

        return group_route(srv, token, segs[1:], query, headers)
    if segs[0] == "me":
        if token.user_id is None:
            raise GraphError(
                400, "BadRequest", "/me request is only valid with delegated authentication flow."
            )
        box, rest = srv.mailbox_or_none(token.user_id), segs[1:]
    elif segs[0] == "users" and len(segs) > 1:
        box, rest = srv.mailbox_or_none(segs[1]), segs[2:]
    else:
        raise GraphError(400, "BadRequest", f"Resource not found for the segment '{segs[0]}'.")
    area = AREAS.get(rest[0], "?") if rest else "user"
    if box is None:
        if area == "user":
            raise GraphError(
                404,
                "Request_ResourceNotFound",
                f"Resource '{segs[1]}' does not "
                "exist or one of its queried reference-property objects are not "
                "present.",
            )
        raise GraphError(404, "ErrorInvalidUser", f"The requested user '{segs[1]}' is invalid.")
    _authorize(srv, token, box, area)
    link = srv.graph_url + "/" + "/".join(urllib.parse.quote(s, safe="@.$'") for s in segs)
    ctx = Context(srv, box, query, headers, link)
    return ctx.dispatch(rest)


def _authorize(srv: GraphServer, token: Token, box: Mailbox, area: str) -> None:
    if token.user_id is None:
        if not token.roles & ROLES.get(area, set()):
            if area == "user":
                raise GraphError(
                    403,
                    "Authorization_RequestDenied",
                    "Insufficient privileges to complete the operation.",
                )
            raise GraphError(403, "ErrorAccessDenied", DENIED)
        app = srv.identity.apps.get(token.client_id)
        policy = app.mailboxes if app is not None and area != "user" else None
        if policy is not None and box.id not in policy:
            raise GraphError(403, "ErrorAccessDenied", POLICY_DENIED)
        return
    if box.id != token.user_id:
        if area != "user":  # another user's mailbox: no delegate access is simulated
            raise GraphError(403, "ErrorAccessDenied", DENIED)
        if not token.scopes & (SCOPES["user"] - {"User.Read"}):
            raise GraphError(
                403,
                "Authorization_RequestDenied",
                "Insufficient privileges to complete the operation.",
            )
    if not token.scopes & SCOPES.get(area, set()):
        raise GraphError(403, "ErrorAccessDenied", DENIED)


def _page_size(headers: Any, default: int | None) -> int | None:
    match = re.search(r"odata\.maxpagesize\s*=\s*(\d+)", headers.get("Prefer") or "")
    return int(match.group(1)) if match else default


def _time_zone(headers: Any) -> str | None:
    match = re.search(r'outlook\.timezone\s*=\s*"([^"]+)"', headers.get("Prefer") or "")
    return match.group(1) if match else None


def _parse_time(value: str | None, name: str) -> dt.datetime:
    if not value:
        raise GraphError(
            400,
            "ErrorInvalidParameter",
            "This request requires a time window "
            "specified by the query string parameters StartDateTime and "
            "EndDateTime.",
        )
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise GraphError(
            400, "ErrorInvalidParameter", f"The parameter '{name}' is not a valid date and time."
        ) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _select(data: dict[str, Any], select: list[str] | None) -> dict[str, Any]:
    if not select:
        return data
    keep: dict[str, Any] = {k: data[k] for k in ("@odata.type", "@odata.etag", "id") if k in data}
    lower = {k.lower(): k for k in data}
    for name in select:
        key = lower.get(name.lower())
        if key is not None:
            keep[key] = data[key]
    return keep


class Context:
    """One request against one mailbox."""

    def __init__(
        self, srv: GraphServer, box: Mailbox, query: dict[str, str], headers: Any, link: str
    ) -> None:
        self.srv, self.box, self.query, self.headers, self.link = srv, box, query, headers, link
        select = query.get("$select")
        self.select = [s.strip() for s in select.split(",") if s.strip()] if select else None
        expand = query.get("$expand") or ""
        self.extended = {m.lower() for m in re.findall(r"id\s+eq\s+'([^']+)'", expand)}
        self.response_headers: dict[str, str] = {}

    def dispatch(self, rest: list[str]) -> Answer:
        box, n = self.box, len(rest)
        if n == 0:
            return json_answer(_select(box.json(), self.select))
        head = rest[0]
        if head == "mailFolders":
            if n == 1:
                return self.listing(self._folders(box.well_known["msgfolderroot"]), "mailFolders")
            folder = box.folder(rest[1])
            if folder is None:
                raise GraphError(
                    404, "ErrorItemNotFound", "The specified object was not found in the store."
                )
            if n == 2:
                return json_answer(_select(folder.json(box), self.select))
            if rest[2] == "childFolders" and n == 3:
                return self.listing(self._folders(folder.id), "mailFolders")
            if rest[2] == "messages":
                return self.messages(rest[3:], folder)
        if head == "messages":
            return self.messages(rest[1:], None)
        if head == "calendars":
            if n == 1:
                return self.listing([c.json(box) for c in box.calendars.values()], "calendars")
            calendar = box.calendar(rest[1])
            if calendar is None:
                raise GraphError(
                    404, "ErrorItemNotFound", "The specified object was not found in the store."
                )
            if n == 2:
                return json_answer(calendar.json(box))
            if rest[2:] == ["calendarView", "delta"]:
                return self.event_delta(calendar.id)
        if rest == ["calendarView", "delta"]:
            return self.event_delta(None)
        if head == "events" and n == 2:
            return self.event(rest[1])
        if head == "contactFolders":
            if n == 1:
                folders = [f.json(box) for f in box.contact_folders.values()]
                return self.listing(folders, "contactFolders")
            folder = box.contact_folder(rest[1])
            if folder is None:
                raise GraphError(
                    404, "ErrorItemNotFound", "The specified object was not found in the store."
                )
            if n == 2:
                return json_answer(folder.json(box))
            if rest[2] == "contacts":
                return self.contacts(rest[3:], folder)
        if head == "contacts":
            return self.contacts(rest[1:], None)
        raise GraphError(400, "BadRequest", f"Resource not found for the segment '{rest[-1]}'.")

    def _folders(self, parent_id: str) -> list[dict[str, Any]]:
        hidden = self.query.get("includeHiddenFolders", "").lower() == "true"
        children = [self.box.folders[i] for i in self.box.folders[parent_id].child_ids]
        return [f.json(self.box) for f in children if hidden or not f.is_hidden]

    def listing(self, items: list[dict[str, Any]], what: str) -> Answer:
        """A collection with ``$top``/``$skip`` paging (Outlook's default page size is 10)."""
        top = int(self.query.get("$top") or _page_size(self.headers, 10) or 10)
        skip = int(self.query.get("$skip") or 0)
        page = [_select(i, self.select) for i in items[skip : skip + top]]
        body: dict[str, Any] = {
            "@odata.context": f"{self.srv.graph_url}/$metadata#users('{self.box.id}')/{what}",
            "value": page,
        }
        if skip + top < len(items):
            args = {k: v for k, v in self.query.items() if k not in ("$skip", "$top")}
            args.update({"$top": str(top), "$skip": str(skip + top)})
            body["@odata.nextLink"] = f"{self.link}?{urllib.parse.urlencode(args, safe='$,')}"
        return json_answer(body)

    # -- mail ----------------------------------------------------------------------------------

    def render_message(self, message: Message) -> dict[str, Any]:
        data = message.json(self.srv.web_base, self.select)
        if self.extended:
            props = message.extended(self.extended)
            if props:
                data["singleValueExtendedProperties"] = props
        return data

    def messages(self, rest: list[str], folder: Folder | None) -> Answer:
        box = self.box
        if rest == ["delta"] and folder is not None:
            return self.delta(
                "message",
                (box.id, folder.id),
                lambda: self._mail_view(folder),
                lambda i: self._render_in(folder, i),
                "#microsoft.graph.message",
            )
        if not rest:
            pool = folder.items.values() if folder is not None else box.messages.values()
            items = sorted(pool, key=lambda m: m.received, reverse=True)
            return self.listing([self.render_message(m) for m in items], "messages")
        message = box.messages.get(rest[0])
        if message is None or (folder is not None and message.folder_id != folder.id):
            raise GraphError(
                404, "ErrorItemNotFound", "The specified object was not found in the store."
            )
        if len(rest) == 1:
            return json_answer(self.render_message(message))
        if rest[1:] == ["$value"]:
            return 200, {"Content-Type": "message/rfc822"}, message.raw
        raise GraphError(400, "BadRequest", f"Resource not found for the segment '{rest[-1]}'.")

    def _mail_view(self, folder: Folder) -> dict[str, str]:
        match = re.search(r"receivedDateTime\s+ge\s+(\S+)", self.options.get("filter") or "")
        after = _parse_time(match.group(1), "receivedDateTime") if match else None
        return {
            i: m.change_key for i, m in folder.items.items() if after is None or m.received >= after
        }

    def _render_in(self, folder: Folder, item_id: str) -> dict[str, Any] | None:
        message = folder.items.get(item_id)
        if message is None:
            return None
        return {"@odata.type": "#microsoft.graph.message", **self.render_message(message)}

    # -- the delta machinery ---------------------------------------------------------------------

    def delta(
        self, kind: str, scope: tuple[Any, ...], view: Any, render: Any, odata_type: str
    ) -> Answer:
        engine, query = self.srv.delta, self.query
        size = _page_size(self.headers, None)
        if kind == "message" and query.get("$top"):
            size = int(query["$top"])
        if "$skiptoken" in query:
            rnd, pos = engine.resume(query["$skiptoken"])
            self._use_options(rnd.options)
        else:
            since = query.get("$deltatoken")
            options = {
                "select": self.select,
                "extended": self.extended,
                "filter": query.get("$filter"),
                "start": query.get("startDateTime"),
                "end": query.get("endDateTime"),
            }
            if since is not None:
                options = engine.since(since).options
            self._use_options(options)
            default = self.srv.default_page_size
            rnd, pos = engine.start(kind, scope, options, view(), size or default, since), 0
        if size:
            self.response_headers["Preference-Applied"] = f"odata.maxpagesize={size}"
        body = engine.page(rnd, pos, render, size, self.link, odata_type)
        context = f"{self.srv.graph_url}/$metadata#Collection({odata_type.rsplit('.', 1)[-1]})"
        return json_answer({"@odata.context": context, **body}, self.response_headers)

    def _use_options(self, options: dict[str, Any]) -> None:
        self.options = options
        self.select, self.extended = options.get("select"), options.get("extended") or set()

    options: dict[str, Any] = {}  # noqa: RUF012 - replaced per request by _use_options

    # -- calendar --------------------------------------------------------------------------------

    def event_delta(self, calendar_id: str | None) -> Answer:
        unsupported = [p for p in ("$select", "$filter", "$orderby", "$expand") if p in self.query]
        if unsupported:
            raise GraphError(
                400,
                "ErrorInvalidUrlQuery",
                "The following parameters are not "
                "supported with change tracking over the 'CalendarView' resource: "
                f"'{', '.join(unsupported)}'.",
            )
        calendar = self.box.calendar(calendar_id)
        assert calendar is not None
        if "$skiptoken" not in self.query and "$deltatoken" not in self.query:
            _parse_time(self.query.get("startDateTime"), "startDateTime")
            _parse_time(self.query.get("endDateTime"), "endDateTime")
        out_zone = _time_zone(self.headers) or "UTC"
        if out_zone != "UTC":
            self.response_headers["Preference-Applied"] = f'outlook.timezone="{out_zone}"'
        found: dict[str, Instance] = {}

        def view() -> dict[str, str]:
            start = _parse_time(self.options.get("start"), "startDateTime")
            end = _parse_time(self.options.get("end"), "endDateTime")
            for event in calendar.events.values():
                for inst in event.instances(start, end):
                    found[inst.id] = inst
            return {i: inst.change_key for i, inst in found.items()}

        def render(item_id: str) -> dict[str, Any] | None:
            if not found:
                view()
            inst = found.get(item_id)
            return None if inst is None else inst.json(out_zone, self.srv.web_base)

        return self.delta(
            "event", (self.box.id, calendar.id), view, render, "#microsoft.graph.event"
        )

    def event(self, event_id: str) -> Answer:
        out_zone = _time_zone(self.headers) or "UTC"
        event = self.box.event(event_id)
        if event is not None:
            if event.recurrence is not None:
                return json_answer(master_json(event, out_zone, self.srv.web_base))
            return json_answer(Instance(event, None, {}).json(out_zone, self.srv.web_base))
        for calendar in self.box.calendars.values():
            for candidate in calendar.events.values():
                inst = _instance_of(candidate, event_id)
                if inst is not None:
                    return json_answer(_select(inst.json(out_zone, self.srv.web_base), self.select))
        raise GraphError(
            404, "ErrorItemNotFound", "The specified object was not found in the store."
        )

    # -- contacts --------------------------------------------------------------------------------

    def contacts(self, rest: list[str], folder: Folder | None) -> Answer:
        folder = folder or self.box.contact_folder(None)
        assert folder is not None
        if rest == ["delta"]:

            def render(item_id: str) -> dict[str, Any] | None:
                contact = folder.items.get(item_id)
                return None if contact is None else _select(contact.json(), self.select)

            view = lambda: {i: c.change_key for i, c in folder.items.items()}  # noqa: E731
            return self.delta(
                "contact", (self.box.id, folder.id), view, render, "#microsoft.graph.contact"
            )
        if not rest:
            return self.listing([c.json() for c in folder.items.values()], "contacts")
        contact = self.box.contacts.get(rest[0])
        if contact is None or len(rest) > 1:
            raise GraphError(
                404, "ErrorItemNotFound", "The specified object was not found in the store."
            )
        return json_answer(_select(contact.json(), self.select))


def _instance_of(event: Event, instance_id: str) -> Instance | None:
    if event.recurrence is None or event.id[6:30] not in instance_id:
        return None
    return event.instance(instance_id)


__all__ = ["Context", "GraphError", "Round", "json_answer", "route"]
