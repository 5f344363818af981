"""An Exchange Web Services simulator: the peer for the EWS adapter's tests.

There is no open-source Exchange server, so this is one, small and in-process: a
stateful HTTP server on a free 127.0.0.1 port (:class:`http.server.ThreadingHTTPServer`,
HTTP/1.1 keep-alive; HTTPS with a self-signed certificate on request) that answers the
SOAP requests the unmodified ``exchangelib`` sends through ``requests``. It follows
Microsoft's EWS reference for element names and shapes and rejects what Exchange
rejects: a body that is not a SOAP envelope, an unknown operation or a missing required
element gets a SOAP fault (``ErrorSchemaValidation``), a RequestServerVersion newer than
the configured server gets ``ErrorInvalidServerVersion`` (so exchangelib's version
guessing walks down as against a real server), and every response carries the
``ServerVersionInfo`` header.

State is set up through a Python API (:class:`EwsServer`): users with passwords (HTTP
Basic; NTLM too with ``ntlm=True``, through pyspnego's acceptor), mailboxes with the
well-known folders and custom ones, impersonation and delegate rights, distribution
groups, and messages, calendar items and contacts whose every change lands in the
folder's change log for SyncFolderItems. Operations: GetFolder, FindFolder, FindItem,
GetItem, SyncFolderItems, ExpandDL, ResolveNames and ConvertId (what exchangelib's
version guessing sends). Faults are injected per operation (:meth:`EwsServer.fail_next`,
:class:`Fault`), and every request is logged (:attr:`EwsServer.requests`).

Usable without pytest (``with EwsServer.start() as server: ...``, e.g. from a benchmark)
and as the function-scoped pytest fixture ``ews``.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.servers.ews_autodiscover import AUTODISCOVER_PATH, autodiscover
from tests.servers.ews_dispatch import dispatch
from tests.servers.ews_faults import Fault, Request, _Config, _Injected
from tests.servers.ews_store import Item, Store, User, calendar_mime, contact_mime, message_props
from tests.servers.loopback import serving, use_tls

ENDPOINT = "/EWS/Exchange.asmx"
__all__ = ["ENDPOINT", "EwsServer", "Fault", "Request", "ews"]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HttpServer
    _ntlm_context: Any = None
    _connection_user: User | None = None

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the request log is :attr:`EwsServer.requests`."""

    def do_GET(self) -> None:
        self._send(405 if self.path.lower() == ENDPOINT.lower() else 404, b"", "text/plain")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = self.path.split("?")[0].lower()
        if path not in (ENDPOINT.lower(), AUTODISCOVER_PATH):
            self._send(404, b"", "text/plain")
            return
        user = self._authenticate()
        if user is None:
            return
        ews, request = self.server.ews, (user, body, self.headers)
        answer = autodiscover(ews, *request) if path == AUTODISCOVER_PATH else ews.handle(*request)
        status, payload, headers = answer
        self._send(status, payload, "text/xml; charset=utf-8", headers)

    def _authenticate(self) -> User | None:
        ews = self.server.ews
        header = self.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "basic":
            try:
                name, _, password = base64.b64decode(token).decode().partition(":")
            except ValueError:
                name, password = "", ""
            user = ews.check_password(name, password)
            if user is not None:
                return user
        elif scheme.lower() in ("ntlm", "negotiate") and ews.config.ntlm:
            return self._ntlm_step(scheme, base64.b64decode(token))
        elif not header and self._connection_user is not None:
            return self._connection_user
        self._unauthorized()
        return None

    def _ntlm_step(self, scheme: str, token: bytes) -> User | None:
        import spnego

        if self._ntlm_context is None or self._ntlm_context.complete:
            self._ntlm_context = spnego.server(protocol="ntlm")
        try:
            answer = self._ntlm_context.step(token)
        except Exception:  # pyspnego raises many kinds for a bad login
            self._ntlm_context = None
            self._unauthorized()
            return None
        if not self._ntlm_context.complete:
            challenge = scheme + " " + base64.b64encode(answer or b"").decode()
            self._send(401, b"", "text/plain", {"WWW-Authenticate": challenge})
            return None
        user = self.server.ews.user_by_name(self._ntlm_context.client_principal or "")
        self._connection_user = user
        if user is None:
            self._unauthorized()
        return user

    def _unauthorized(self) -> None:
        ews = self.server.ews
        self._send(401, b"", "text/plain", ews.challenges())

    def _send(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (a timeout test)


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    ews: EwsServer


class EwsServer:
    """The simulator: state, fault injection and the request log."""

    def __init__(
        self,
        *,
        version: tuple[int, int, int, int] = (15, 1, 2507, 6),
        ntlm: bool = False,
        realm: str = "mail.example.com",
    ) -> None:
        self.config = _Config(version, realm, ntlm)
        self.store = Store()
        self.lock = threading.RLock()
        self.requests: list[Request] = []
        self.url = ""
        #: the EWS URL Autodiscover announces ("": :attr:`url`)
        self.autodiscover_ews_url = ""
        self.ca_file: Path | None = None
        self._tmp = tempfile.TemporaryDirectory(prefix="ews-sim-")

    @classmethod
    @contextmanager
    def start(
        cls,
        *,
        version: tuple[int, int, int, int] = (15, 1, 2507, 6),
        tls: bool = False,
        ntlm: bool = False,
        realm: str = "mail.example.com",
        port: int = 0,
    ) -> Iterator[EwsServer]:
        """Serve on ``port`` of 127.0.0.1 (0: a free one) until the ``with`` block ends."""
        httpd = _HttpServer(("127.0.0.1", port), _Handler)  # first: a port in use leaks nothing
        server = cls(version=version, ntlm=ntlm, realm=realm)
        httpd.ews = server
        if tls:
            server.ca_file = use_tls(httpd, Path(server._tmp.name))
        if ntlm:
            os.environ["NTLM_USER_FILE"] = str(Path(server._tmp.name) / "ntlm_users")
            server._write_ntlm_users()
        scheme = "https" if tls else "http"
        server.url = f"{scheme}://127.0.0.1:{httpd.server_address[1]}{ENDPOINT}"
        try:
            with serving(httpd, "ews-simulator"):
                yield server
        finally:
            server._tmp.cleanup()

    # -- users, mailboxes, rights ----------------------------------------------------------

    def reset(self) -> None:
        """Forget all state, injected faults, delays and the request log."""
        with self.lock:
            self.store = Store()
            self.config.faults.clear()
            self.config.delays.clear()
            self.requests.clear()

    def add_user(
        self, name: str, password: str, *, mailbox: str | None = None, impersonation: bool = False
    ) -> None:
        """A login; ``mailbox`` is its own (created if new); ``impersonation`` the right."""
        with self.lock:
            if mailbox and self.store.mailbox(mailbox) is None:
                self.add_mailbox(mailbox)
            self.store.users[name.lower()] = User(name, password, mailbox, impersonation)
            self._write_ntlm_users()

    def add_mailbox(self, address: str, display_name: str | None = None) -> None:
        """A mailbox with the well-known folders (root, msgfolderroot, inbox, calendar, …)."""
        with self.lock:
            self.store.add_mailbox(address, display_name or address.split("@")[0].title())

    def grant_delegate(self, user: str, mailbox: str) -> None:
        """Let ``user`` open ``mailbox``'s folders (delegate access, full access)."""
        with self.lock:
            self.store.users[user.lower()].delegate_of.add(mailbox.lower())

    def add_group(self, address: str, members: list[str], name: str | None = None) -> None:
        """A distribution group for ExpandDL and ResolveNames."""
        with self.lock:
            self.store.groups[address.lower()] = (name or address.split("@")[0], list(members))

    # -- folders ------------------------------------------------------------------------

    def add_folder(self, mailbox: str, path: str, folder_class: str = "IPF.Note") -> str:
        """A folder below the msgfolderroot (``"Inbox/Customers"``); returns its id."""
        with self.lock:
            return self.store.add_folder(self._box(mailbox), path, folder_class).id

    def folder_id(self, mailbox: str, path: str) -> str:
        """The id of a well-known folder (``"inbox"``) or of a path (``"Archive/2024"``)."""
        with self.lock:
            return self.store.find_folder(self._box(mailbox), path).id

    def delete_folder(self, mailbox: str, path: str) -> None:
        """Delete a folder and its subfolders: requests for them get ErrorFolderNotFound."""
        with self.lock:
            folder = self.store.find_folder(self._box(mailbox), path)
            for f in [folder, *folder.descendants()]:
                f.deleted = True

    # -- items -----------------------------------------------------------------------------

    def add_message(
        self,
        mailbox: str,
        folder: str,
        mime: bytes,
        *,
        subject: str | None = None,
        received: dt.datetime | None = None,
        sensitivity: str = "Normal",
        categories: tuple[str, ...] | list[str] = (),
        is_read: bool = False,
    ) -> str:
        """A mail (IPM.Note) from raw RFC 822 bytes; returns its item id."""
        props = message_props(mime)
        now = dt.datetime.now(dt.UTC)
        props.update(item_class="IPM.Note", received=received or now, modified=now)
        props.update(sensitivity=sensitivity, categories=list(categories), is_read=is_read)
        if subject is not None:
            props["subject"] = subject
        return self._put(mailbox, folder, "message", props, mime)

    def add_calendar_item(
        self,
        mailbox: str,
        folder: str = "calendar",
        *,
        uid: str,
        subject: str,
        start: dt.datetime,
        end: dt.datetime,
        sensitivity: str = "Normal",
        calendar_item_type: str = "Single",
        rrule: str | None = None,
        location: str | None = None,
        mime: bytes | None = None,
    ) -> str:
        """A calendar item (IPM.Appointment); its MimeContent is an iCalendar object."""
        now = dt.datetime.now(dt.UTC)
        props: dict[str, Any] = dict(
            item_class="IPM.Appointment", uid=uid, subject=subject, start=start, end=end,
            sensitivity=sensitivity, calendar_item_type=calendar_item_type, rrule=rrule,
            is_recurring=calendar_item_type != "Single", location=location,
            received=now, modified=now,
        )  # fmt: skip
        return self._put(mailbox, folder, "calendar", props, mime or calendar_mime(props))

    def add_contact(
        self,
        mailbox: str,
        folder: str = "contacts",
        *,
        display_name: str,
        given_name: str | None = None,
        surname: str | None = None,
        company_name: str | None = None,
        job_title: str | None = None,
        emails: list[str] | None = None,
        phones: dict[str, str] | None = None,
        addresses: dict[str, dict[str, str]] | None = None,
    ) -> str:
        """A contact (IPM.Contact). ``phones`` keys: BusinessPhone, MobilePhone, HomePhone…;
        ``addresses`` keys Business/Home/Other with Street, City, State, PostalCode,
        CountryOrRegion."""
        now = dt.datetime.now(dt.UTC)
        props: dict[str, Any] = dict(
            item_class="IPM.Contact", display_name=display_name, subject=display_name,
            given_name=given_name, surname=surname, company_name=company_name,
            job_title=job_title, phones=phones or {}, addresses=addresses or {},
            emails={f"EmailAddress{i}": e for i, e in enumerate(emails or [], start=1)},
            received=now, modified=now,
        )  # fmt: skip
        return self._put(mailbox, folder, "contact", props, contact_mime(props))

    def update_item(self, item_id: str, *, mime: bytes | None = None, **props: Any) -> str:
        """Change an item's properties (or a mail's MIME); returns the new ChangeKey."""
        with self.lock:
            item = self._item(item_id)
            if mime is not None and item.kind == "message":
                props = {**message_props(mime), **props}
            item.props.update(props)
            if item.kind == "calendar":
                item.props["is_recurring"] = item.props["calendar_item_type"] != "Single"
                item.mime = mime or calendar_mime(item.props)
            elif item.kind == "contact":
                item.mime = contact_mime(item.props)
            elif mime is not None:
                item.mime = mime
            self.store.touch(item)
            return item.changekey

    def set_read(self, item_id: str, is_read: bool = True) -> None:
        """Change only the read flag (SyncFolderItems reports a ReadFlagChange)."""
        with self.lock:
            item = self._item(item_id)
            item.props["is_read"] = is_read
            self.store.touch(item, content=False)

    def delete_item(self, item_id: str) -> None:
        """Delete an item (SyncFolderItems reports a Delete)."""
        with self.lock:
            self.store.remove(self._item(item_id))

    def changekey(self, item_id: str) -> str:
        with self.lock:
            return self._item(item_id).changekey

    # -- faults and the log ------------------------------------------------------------------

    def hide_items(self, *item_ids: str) -> None:
        """GetItem answers ErrorItemNotFound for these ids (as for an item deleted meanwhile)."""
        with self.lock:
            self.store.hidden.update(item_ids)

    def invalidate_sync_states(self) -> None:
        """Every sync state issued so far gets ErrorInvalidSyncStateData."""
        with self.lock:
            self.store.epoch += 1

    def fail_next(self, operation: str, fault: Fault, times: int = 1) -> None:
        """Answer the next ``times`` calls of ``operation`` ("*" for any) with ``fault``."""
        with self.lock:
            self.config.faults.setdefault(operation, []).append(_Injected(fault, times))

    def set_delay(self, operation: str, seconds: float) -> None:
        """Answer every call of ``operation`` ("*" for any) ``seconds`` late (0 to stop)."""
        with self.lock:
            self.config.delays[operation] = seconds

    def operations(self) -> list[str]:
        """The operation names of the logged requests, in order."""
        with self.lock:
            return [r.operation for r in self.requests]

    def clear_log(self) -> None:
        with self.lock:
            self.requests.clear()

    # -- internals -----------------------------------------------------------------------------

    def _box(self, address: str) -> Any:
        box = self.store.mailbox(address)
        if box is None:
            raise KeyError(f"no mailbox {address!r}")
        return box

    def _item(self, item_id: str) -> Item:
        item = self.store.items.get(item_id)
        if item is None or item.deleted:
            raise KeyError(f"no item {item_id!r}")
        return item

    def _put(self, mailbox: str, folder: str, kind: str, props: dict[str, Any], mime: Any) -> str:
        with self.lock:
            box = self._box(mailbox)
            return self.store.put(self.store.find_folder(box, folder), kind, props, mime).id

    def _write_ntlm_users(self) -> None:
        if not self.config.ntlm:
            return
        lines = []
        for user in self.store.users.values():
            domain, _, name = user.name.rpartition("\\")
            lines.append(f"{domain}:{name}:{user.password}\n")
        (Path(self._tmp.name) / "ntlm_users").write_text("".join(lines))

    def check_password(self, name: str, password: str) -> User | None:
        with self.lock:
            user = self.store.users.get(name.lower())
            return user if user is not None and user.password == password else None

    def user_by_name(self, name: str) -> User | None:
        with self.lock:
            return self.store.users.get(name.lower())

    def challenges(self) -> dict[str, str]:
        value = f'Basic realm="{self.config.realm}"'
        return {"WWW-Authenticate": ("NTLM, " + value) if self.config.ntlm else value}

    def handle(self, user: User, body: bytes, headers: Any) -> tuple[int, bytes, dict[str, str]]:
        """Answer one authenticated POST: (status, body, headers)."""
        return dispatch(self, user, body, headers)


@pytest.fixture
def ews() -> Iterator[EwsServer]:
    """A fresh EWS simulator (Exchange 2016, HTTP, Basic auth) per test."""
    with EwsServer.start() as server:
        yield server
