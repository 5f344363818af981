"""The CardDAV export as a WSGI application beside the Flask web view.

It is plain Werkzeug, dispatching on the method to one module each (the way Radicale
is organised): no cookies, no CSRF tokens, no templates: every request carries HTTP
Basic credentials (a user name and one of their app passwords), and only
``/.well-known/carddav`` answers without them.

Each request reads through one database session. Before a request that shows cards,
cards changed since the last request are rendered in a short writing transaction
(crm.cards.refresh), so reads never write and never render the whole book.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Request, Response

from crm import apppasswords
from crm.addressbooks import sync_state
from crm.apppasswords import USE_RESOLUTION
from crm.cards import refresh
from crm.db import will_write
from crm.models import utcnow
from crm.users import LoggedIn
from web.carddav import calendars, get, options, propfind, report, write
from web.carddav import resources as r
from web.carddav.xmlutil import MAX_BODY, BadRequest, error_body

log = logging.getLogger(__name__)
REALM = 'Basic realm="crmsync CardDAV", charset="UTF-8"'
WELL_KNOWN = "/.well-known/carddav"
#: RFC 6764 for the task list of follow-ups (web/carddav/calendars.py): the same DAV tree
WELL_KNOWN_CALDAV = "/.well-known/caldav"
MOUNT = "/dav"
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
#: methods on the site's root that are a DAV client's, not a browser's
DAV_AT_ROOT = frozenset({"PROPFIND", "REPORT", "OPTIONS"})
HANDLERS = {"PROPFIND": propfind.handle, "REPORT": report.handle, "GET": get.handle}


class CardDavApp:
    """The DAV tree under ``/dav`` and the ``/.well-known/carddav`` redirect."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        request = Request(environ)
        request.max_content_length = MAX_BODY
        response = self.respond(request)
        return response(environ, start_response)

    def respond(self, request: Request) -> Response:
        base = request.script_root + MOUNT
        if request.path.rstrip("/") in (WELL_KNOWN, WELL_KNOWN_CALDAV) or request.path == "/":
            return _to_context_path(request, base)
        try:
            if request.content_length is not None and request.content_length > MAX_BODY:
                raise BadRequest(f"the request body is larger than {MAX_BODY} bytes", 413)
            # one session (one connection) answers the request, login included
            with self.sessions() as session:
                user = self.authenticate(session, request)
                if isinstance(user, Response):
                    return user
                return self.dispatch(session, request, user, base)
        except r.DavError as exc:
            return _error(exc.status, exc.message, exc.condition)
        except BadRequest as exc:
            return _error(exc.status, str(exc))
        except RequestEntityTooLarge:  # a chunked body that grew past the limit
            return _error(413, f"the request body is larger than {MAX_BODY} bytes")
        except Exception:  # the log has the traceback; the client a short answer
            log.exception("error answering %s %s", request.method, request.path)
            return _error(500, "internal error; it was logged")

    def authenticate(self, session: Session, request: Request) -> LoggedIn | Response:
        """The user of the request's credentials, or the answer refusing it. Reads only,
        except after a failure or when a use must be recorded (short writing sessions)."""
        auth = request.authorization
        if auth is None or auth.type != "basic" or not auth.username:
            return _unauthorized("log in with your user name and an app password")
        name, password = auth.username, auth.password or ""
        client = request.remote_addr or "-"
        locked, counted = apppasswords.login_state(session, name, client)
        if locked:
            response = _error(429, "too many failed logins; try again later")
            response.headers["Retry-After"] = "60"
            return response
        found = apppasswords.verify(session, name, password)
        if found is None:
            with self.sessions() as writer:
                will_write(writer)
                apppasswords.record_failed(writer, name, client, password)
                writer.commit()
            log.info("CardDAV login failed for %r from %s", name, client)
            return _unauthorized("wrong user name or app password")
        user, app = found
        if counted or app.last_used_at is None or utcnow() - app.last_used_at > USE_RESOLUTION:
            with self.sessions() as writer:
                will_write(writer)
                apppasswords.note_use(writer, app.id)
                apppasswords.clear_failures(writer, name)
                writer.commit()
        return user

    def dispatch(self, session: Session, request: Request, user: LoggedIn, base: str) -> Response:
        method = request.method
        if method == "OPTIONS":
            return options.handle()
        if calendars.is_calendar_path(base, request.path):
            # the read-only task list of follow-ups: it shows no cards, so no refresh
            response = calendars.handle(r.Ctx(session, user, base), request)
            return _head(response) if method == "HEAD" else response
        if method in write.WRITE_METHODS:
            write.handle(request.path)
        if method == "HEAD":
            return _head(self._read(session, request, user, base, get.handle))
        handler = HANDLERS.get(method)
        if handler is None:
            response = _error(405, f"{method} is not supported here")
            response.headers["Allow"] = options.ALLOW
            return response
        return self._read(session, request, user, base, handler)

    def _read(
        self,
        session: Session,
        request: Request,
        user: LoggedIn,
        base: str,
        handler: Callable[[r.Ctx, Request, r.Resource], Response],
    ) -> Response:
        if sync_state(session).stale:
            session.rollback()
            self._refresh()
        ctx = r.Ctx(session, user, base)
        return handler(ctx, request, r.resolve(ctx, request.path))

    def _refresh(self) -> None:
        with self.sessions() as session:
            will_write(session)
            count = refresh(session)
            session.commit()
        if count:
            log.info("rendered %d changed cards", count)


def _to_context_path(request: Request, base: str) -> Response:
    """RFC 6764 section 5: the well-known address (and the site's root, which some
    clients are given) redirect to the DAV tree, for any method, without auth. GET and
    HEAD get 301; other methods 307, which keeps the method and the body: clients built
    on requests or niquests drop the body of a PROPFIND they follow through a 301."""
    if request.method == "OPTIONS":
        return options.handle()
    status = 301 if request.method in ("GET", "HEAD") else 307
    return Response(status=status, headers={"Location": base + "/"})


def _head(response: Response) -> Response:
    length = response.calculate_content_length()
    response.set_data(b"")
    if length is not None:
        response.headers["Content-Length"] = str(length)
    return response


def _error(status: int, message: str, condition: str = "") -> Response:
    return Response(
        error_body(condition, message), status=status, content_type="application/xml; charset=utf-8"
    )


def _unauthorized(message: str) -> Response:
    response = _error(401, message)
    response.headers["WWW-Authenticate"] = REALM
    return response


def mount(flask_wsgi: WSGIApp, dav: CardDavApp) -> WSGIApp:
    """A WSGI application that sends ``/dav``, ``/.well-known/carddav`` and
    ``/.well-known/caldav`` to ``dav`` and everything else to the web view."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if (
            path == MOUNT
            or path.startswith(MOUNT + "/")
            or path.rstrip("/") in (WELL_KNOWN, WELL_KNOWN_CALDAV)
        ):
            return dav(environ, start_response)
        if path in ("", "/") and environ.get("REQUEST_METHOD") in DAV_AT_ROOT:
            return dav(environ, start_response)  # a DAV client given the site's address
        return flask_wsgi(environ, start_response)

    return app
