"""OPTIONS: what the server can do (RFC 4918 section 10.1, RFC 6352 section 6.1)."""

from __future__ import annotations

from werkzeug.wrappers import Response

#: DAV compliance: class 1 and 3 (no locks: nothing here can be written) and CardDAV
DAV_HEADER = "1, 3, addressbook"
ALLOW = "OPTIONS, GET, HEAD, PROPFIND, REPORT"


def handle() -> Response:
    return Response(status=200, headers={"DAV": DAV_HEADER, "Allow": ALLOW, "Content-Length": "0"})
