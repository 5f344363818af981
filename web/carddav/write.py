"""PUT, DELETE, MKCOL, PROPPATCH, MOVE and COPY: refused with 403 and a reason. The CRM is
the master of customer data; a change made on a phone would be lost at the next sync,
so the address book is read-only (current-user-privilege-set says so to clients)."""

from __future__ import annotations

from web.carddav import resources as r
from web.carddav.xmlutil import escape

WRITE_METHODS = frozenset({"PUT", "DELETE", "MKCOL", "PROPPATCH", "MOVE", "COPY"})
MESSAGE = (
    "The crmsync address book is read-only: customers are changed in crmsync itself,"
    " which is the master of this data."
)


def handle(path: str) -> None:
    raise r.DavError(
        403,
        MESSAGE,
        "<D:need-privileges><D:resource>"
        f"<D:href>{escape(path)}</D:href><D:privilege><D:write/></D:privilege>"
        "</D:resource></D:need-privileges>",
    )
