"""Groups in the Graph simulator: distribution groups with users and nested groups as
members, and the directory routes that read them.

- ``GET /groups`` (`List groups <https://learn.microsoft.com/graph/api/group-list>`_), with
  ``$filter=mail eq '...'`` (the only filter simulated) and ``$select``;
- ``GET /groups/{id}``;
- ``GET /groups/{id}/members`` and ``/transitiveMembers`` (`List group transitive members
  <https://learn.microsoft.com/graph/api/group-list-transitivemembers>`_), optionally cast
  to ``microsoft.graph.user`` or ``microsoft.graph.group``, with ``$select``, ``$top``,
  ``$count`` (only with ``ConsistencyLevel: eventual``, as Graph's advanced queries) and
  pages linked by ``@odata.nextLink`` with a ``$skiptoken``
  (:attr:`GraphServer.directory_page_size` objects a page unless ``$top`` says less).

Reading groups takes the permission GroupMember.Read.All (or a broader one); without it
the answer is 403 ``Authorization_RequestDenied``, as Graph's.
"""

from __future__ import annotations

import base64
import re
import urllib.parse
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tests.servers.graph_identity import Token
from tests.servers.graph_routes import Answer, GraphError, _select, json_answer

if TYPE_CHECKING:
    from tests.servers.graph import GraphServer

#: what lets a token read groups and their members (application roles or delegated scopes)
GROUP_PERMISSIONS = {
    "GroupMember.Read.All", "GroupMember.ReadWrite.All", "Group.Read.All",
    "Group.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All",
}  # fmt: skip
CASTS = {"microsoft.graph.user": "users", "microsoft.graph.group": "groups"}
_MAIL_EQ = re.compile(r"\s*mail\s+eq\s+'((?:[^']|'')*)'\s*", re.IGNORECASE)
MAX_TOP = 999


@dataclass
class Group:
    """A mail-enabled group; ``members`` are user ids and group ids, in the order added."""

    id: str
    mail: str
    display_name: str
    members: list[str] = field(default_factory=list)

    def json(self) -> dict[str, Any]:
        nickname = self.mail.split("@")[0]
        return {
            "@odata.type": "#microsoft.graph.group",
            "id": self.id,
            "description": None,
            "displayName": self.display_name,
            "groupTypes": [],
            "mail": self.mail,
            "mailEnabled": True,
            "mailNickname": nickname,
            "securityEnabled": False,
            "visibility": None,
        }


def new_group(mail: str, display_name: str | None) -> Group:
    return Group(str(uuid.uuid4()), mail, display_name or mail.split("@")[0].title())


def group_route(
    srv: GraphServer, token: Token, segs: list[str], query: dict[str, str], headers: Any
) -> Answer:
    """Answer ``GET /groups...`` (``segs`` after ``groups``)."""
    granted = token.roles if token.user_id is None else token.scopes
    if not granted & GROUP_PERMISSIONS:
        raise GraphError(
            403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."
        )
    select = [s.strip() for s in (query.get("$select") or "").split(",") if s.strip()]
    if not segs:
        return _listing(srv, "groups", _filtered(srv, query.get("$filter")), query, headers, select)
    group = srv.groups.get(segs[0])
    if group is None:
        raise GraphError(
            404,
            "Request_ResourceNotFound",
            f"Resource '{segs[0]}' does not exist or one of its queried reference-property "
            "objects are not present.",
        )
    if len(segs) == 1:
        return json_answer(_select(group.json(), select))
    if segs[1] in ("members", "transitiveMembers") and len(segs) <= 3:
        cast = segs[2] if len(segs) == 3 else None
        if cast is not None and cast not in CASTS:
            raise GraphError(400, "Request_BadRequest", f"Invalid cast '{cast}'.")
        found = _members(srv, group, transitive=segs[1] == "transitiveMembers")
        if cast is not None:
            found = [m for m in found if m["@odata.type"] == f"#{cast}"]
        what = CASTS[cast] if cast else "directoryObjects"
        return _listing(srv, what, found, query, headers, select, path="/".join(["groups", *segs]))
    raise GraphError(400, "BadRequest", f"Resource not found for the segment '{segs[-1]}'.")


def _filtered(srv: GraphServer, expression: str | None) -> list[dict[str, Any]]:
    if expression is None:
        return [g.json() for g in srv.groups.values()]
    match = _MAIL_EQ.fullmatch(expression)
    if match is None:
        raise GraphError(400, "Request_UnsupportedQuery", "Unsupported Query.")
    wanted = match.group(1).replace("''", "'").lower()
    return [g.json() for g in srv.groups.values() if g.mail.lower() == wanted]


def _members(srv: GraphServer, group: Group, *, transitive: bool) -> list[dict[str, Any]]:
    """Direct members, or every member of the nested groups too (each once)."""
    out: dict[str, dict[str, Any]] = {}
    todo, seen = [group.id], {group.id}
    while todo:
        for member in srv.groups[todo.pop(0)].members:
            nested = srv.groups.get(member)
            if nested is not None:
                out.setdefault(member, nested.json())
                if transitive and member not in seen:
                    seen.add(member)
                    todo.append(member)
                continue
            box = srv.mailbox_or_none(member)
            if box is not None:
                out.setdefault(member, {"@odata.type": "#microsoft.graph.user", **box.json()})
        if not transitive:
            break
    return list(out.values())


def _listing(
    srv: GraphServer,
    what: str,
    items: list[dict[str, Any]],
    query: dict[str, str],
    headers: Any,
    select: list[str],
    path: str = "groups",
) -> Answer:
    """A directory collection, paged with ``$skiptoken`` as Graph pages directory objects."""
    count = (query.get("$count") or "").lower() == "true"
    if count and (headers.get("ConsistencyLevel") or "").lower() != "eventual":
        raise GraphError(
            400,
            "Request_BadRequest",
            "$count is not currently supported without the header 'ConsistencyLevel: eventual'.",
        )
    top = min(int(query.get("$top") or srv.directory_page_size), srv.directory_page_size, MAX_TOP)
    skip = _offset(query.get("$skiptoken"))
    shown = f"({','.join(select)})" if select else ""
    body: dict[str, Any] = {"@odata.context": f"{srv.graph_url}/$metadata#{what}{shown}"}
    if count:
        body["@odata.count"] = len(items)
    body["value"] = [_select(i, select) for i in items[skip : skip + top]]
    if skip + top < len(items):
        args = {k: v for k, v in query.items() if k != "$skiptoken"}
        args["$skiptoken"] = _token(skip + top)
        link = urllib.parse.urlencode(args, safe="$,'", quote_via=urllib.parse.quote)
        body["@odata.nextLink"] = f"{srv.graph_url}/{path}?{link}"
    return json_answer(body)


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"RFNwdAIA:{offset}".encode()).decode().rstrip("=")


def _offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        return int(text.removeprefix("RFNwdAIA:"))
    except ValueError:
        raise GraphError(400, "Request_BadRequest", "Invalid skip token.") from None
