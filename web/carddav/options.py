"""OPTIONS: what the server can do (RFC 4918 section 10.1, RFC 6352 section 6.1, RFC 4791
section 5.1)."""

from __future__ import annotations

from werkzeug.wrappers import Response

#: DAV compliance: class 1 and 3 (no locks: nothing here can be written), CardDAV, and
#: CalDAV for the read-only task list of follow-ups
DAV_HEADER = "1, 3, addressbook, calendar-access"
ALLOW = "OPTIONS, GET, HEAD, PROPFIND, REPORT"


def handle() -> Response:
    return Response(status=200, headers={"DAV": DAV_HEADER, "Allow": ALLOW, "Content-Length": "0"})
