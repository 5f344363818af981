"""The members of distribution groups through Microsoft Graph (app-only ``graph`` accounts).

The counterpart of EWS's ExpandDL for :mod:`adapters.graph`: a group named by its address
is found with ``GET /groups?$filter=mail eq '...'`` (`List groups
<https://learn.microsoft.com/graph/api/group-list>`_), and its members, nested groups
flattened, are read with ``GET /groups/{id}/transitiveMembers/microsoft.graph.user``
(`List group transitive members
<https://learn.microsoft.com/graph/api/group-list-transitivemembers>`_), page by page
through ``@odata.nextLink``. The cast to ``microsoft.graph.user`` leaves out devices,
contacts and the nested groups themselves; a user without ``mail`` has no mailbox to read.

Both need the application permission GroupMember.Read.All: a 403 says so, naming the group.
"""

from __future__ import annotations

import logging

from adapters.errors import AuthError, SourceError
from adapters.graphhttp import Forbidden, GraphClient, NotFound

log = logging.getLogger(__name__)

#: the application permission that reads groups and their members
PERMISSION = "GroupMember.Read.All"
#: Graph's directory queries with an OData cast are "advanced queries" on older tenants:
#: these two make them valid everywhere
ADVANCED = {"ConsistencyLevel": "eventual"}


def group_members(client: GraphClient, group: str, *, account: str) -> list[str]:
    """The mail addresses (lower case) of the users in ``group`` (its address), nested
    groups included; a group that is not there, or may not be read, is an error in words."""
    try:
        group_id = _group_id(client, group, account)
        return _members(client, group, group_id)
    except Forbidden as exc:
        raise AuthError(
            f'cannot read the distribution group "{group}": the app lacks the permission'
            f" {PERMISSION} (add it as an application permission in Entra ID and grant"
            f" admin consent) ({exc.code or 'HTTP 403'})",
            account=account,
            hint="",
        ) from None
    except NotFound:
        raise _no_group(group, account) from None


def _group_id(client: GraphClient, group: str, account: str) -> str:
    literal = group.replace("'", "''")  # an OData string literal doubles its quotes
    params = {"$filter": f"mail eq '{literal}'", "$select": "id,mail"}
    found = client.get("groups", params=params).get("value") or ()
    if not found or not found[0].get("id"):
        raise _no_group(group, account)
    return str(found[0]["id"])


def _members(client: GraphClient, group: str, group_id: str) -> list[str]:
    url: str | None = f"groups/{group_id}/transitiveMembers/microsoft.graph.user"
    params: dict[str, str] | None = {"$select": "mail,userPrincipalName", "$count": "true"}
    found: dict[str, None] = {}
    while url:
        page = client.get(url, params=params, headers=ADVANCED)
        for user in page.get("value") or ():
            mail = str(user.get("mail") or "").strip().lower()
            if "@" in mail:
                found.setdefault(mail)
            else:
                log.debug("%s: a member without a mailbox (%s)", group, user.get("id"))
        url, params = page.get("@odata.nextLink"), None
    log.info("%s: %d member mailbox(es)", group, len(found))
    return list(found)


def _no_group(group: str, account: str) -> SourceError:
    return SourceError(
        f'no distribution group "{group}" in the directory: Graph finds no group with this'
        " address (check the address in groups)",
        account=account,
    )
