"""Radicale, a real CalDAV/CardDAV server, started from a generated config in a temp dir.

Usable as a pytest fixture (``radicale``, session-scoped) and, without pytest, from a
benchmark::

    with RadicaleServer.start() as server:
        book = server.make_addressbook()
        server.put_card(book, "alice.vcf", b"BEGIN:VCARD\\r\\n...")

Radicale listens on a free port of 127.0.0.1 over plain HTTP, stores everything in a
temp dir, and authenticates with HTTP Basic against a plain-text htpasswd file that
holds one user (``username``/``password``, random per run); rights are ``owner_only``,
so the user sees their own collections only. A wrong password costs no delay
(``[auth] delay = 0``).

:class:`DavTestServer` is what Radicale and Xandikos (tests/servers/xandikos.py) have
in common: their URL and credentials, and helpers that make address books and
calendars and PUT or DELETE cards and events over plain WebDAV (RFC 5689 extended
MKCOL, RFC 4791 MKCALENDAR), so a test creates its own collections on a server that
lives for the whole session.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self
from urllib.parse import quote, urljoin, urlsplit
from xml.sax.saxutils import escape

import niquests
import pytest

MKCOL_ADDRESSBOOK = """\
<?xml version="1.0" encoding="utf-8"?>
<D:mkcol xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav">
  <D:set><D:prop>
    <D:resourcetype><D:collection/><C:addressbook/></D:resourcetype>
    <D:displayname>{name}</D:displayname>
  </D:prop></D:set>
</D:mkcol>
"""
MKCALENDAR = """\
<?xml version="1.0" encoding="utf-8"?>
<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:set><D:prop>
    <D:displayname>{name}</D:displayname>
    <C:supported-calendar-component-set><C:comp name="VEVENT"/></C:supported-calendar-component-set>
  </D:prop></D:set>
</C:mkcalendar>
"""
START_TIMEOUT = 20.0


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (the server may still lose a race for it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: SIGTERM the server if the test process dies without cleaning up."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def no_proxy_session() -> niquests.Session:
    """A session that never goes through an HTTP proxy to reach loopback."""
    session = niquests.Session()
    session.trust_env = False
    return session


class DavTestServer:
    """A DAV server process on loopback, one user, and helpers to fill it.

    Subclasses set the paths (:attr:`home_path`, :attr:`calendar_home_path`) and
    start the process in :meth:`_launch`.
    """

    name = "dav"
    #: where new address books go (the user's addressbook-home-set)
    home_template = "/{user}/"
    #: where new calendars go (the user's calendar-home-set)
    calendar_home_template = "/{user}/"

    def __init__(self, root: Path, *, username: str = "alice") -> None:
        self.root = root
        self.host = "127.0.0.1"
        self.port = 0
        self.scheme = "http"
        self.username = username
        self.password = secrets.token_urlsafe(12)
        self.ca_file: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._http: niquests.Session | None = None

    # --- process -----------------------------------------------------------------------

    @classmethod
    def start(cls, base_dir: Path | None = None) -> Self:
        """Start a server in a fresh temp dir (under ``base_dir`` if given)."""
        root = Path(tempfile.mkdtemp(prefix=f"crmsync-{cls.name}-", dir=base_dir))
        server = cls(root)
        try:
            server._start()
        except BaseException:
            server.stop()
            raise
        return server

    def _start(self) -> None:
        self._prepare()
        for attempt in range(3):  # another process may take the free port before us
            self.port = free_port(self.host)
            log = self.root / f"{self.name}.log"
            with log.open("ab") as out:
                self._proc = subprocess.Popen(
                    self._command(),
                    stdout=out,
                    stderr=out,
                    preexec_fn=die_with_parent,
                    start_new_session=True,
                    cwd=self.root,
                )
            atexit.register(self.stop)
            if self._wait_ready():
                return
            self._terminate()
            if attempt == 2 or "address already in use" not in self.log_tail().lower():
                raise RuntimeError(f"{self.name} did not start:\n{self.log_tail()}")

    def _prepare(self) -> None:
        """Write config, users and certificates before the first start."""

    def _command(self) -> list[str]:
        raise NotImplementedError

    def _wait_ready(self) -> bool:
        """True once the server answers an OPTIONS request; False if it exited."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                return False
            with contextlib.suppress(niquests.exceptions.RequestException):
                self.http().request("OPTIONS", self.url, timeout=2)
                return True
            time.sleep(0.05)
        return False

    def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def stop(self) -> None:
        """Stop the server and remove its files."""
        self._terminate()
        if self._http is not None:
            self._http.close()
            self._http = None
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def log_tail(self, lines: int = 30) -> str:
        """The end of the server's log, for error messages."""
        try:
            text = (self.root / f"{self.name}.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # --- where ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The bare server URL, ``scheme://127.0.0.1:PORT/``: what a user would type."""
        return f"{self.scheme}://{self.host}:{self.port}/"

    def absolute(self, path: str) -> str:
        return urljoin(self.url, path)

    @property
    def home_path(self) -> str:
        return self.home_template.format(user=self.username)

    @property
    def calendar_home_path(self) -> str:
        return self.calendar_home_template.format(user=self.username)

    @property
    def verify(self) -> str | bool:
        return str(self.ca_file) if self.ca_file is not None else True

    # --- HTTP ----------------------------------------------------------------------------

    def http(self) -> niquests.Session:
        """A logged-in session (the server's CA trusted) for the helpers below."""
        if self._http is None:
            self._http = no_proxy_session()
            self._http.auth = (self.username, self.password)
            self._http.verify = self.verify
        return self._http

    def request(
        self,
        method: str,
        url: str,
        body: bytes | str | None = None,
        *,
        headers: dict[str, str] | None = None,
        ok: Sequence[int] = (200, 201, 204, 207),
    ) -> niquests.Response:
        """One request; an AssertionError with the server's answer unless its status is ``ok``."""
        data = body.encode() if isinstance(body, str) else body
        response = self.http().request(
            method, self.absolute(url), data=data, headers=headers or {}, timeout=30
        )
        if response.status_code not in ok:
            raise AssertionError(
                f"{method} {url} answered {response.status_code}: {response.text}\n"
                f"--- {self.name} log ---\n{self.log_tail()}"
            )
        return response

    # --- collections ---------------------------------------------------------------------

    def make_addressbook(self, name: str | None = None, displayname: str | None = None) -> str:
        """Create an address book under the user's home (RFC 5689 extended MKCOL with
        resourcetype addressbook, RFC 6352 §6.3.1); return its absolute URL."""
        name = name or f"book-{uuid.uuid4().hex[:10]}"
        url = self.absolute(f"{self.home_path}{quote(name)}/")
        body = MKCOL_ADDRESSBOOK.format(name=escape(displayname or name))
        self.request("MKCOL", url, body, headers={"Content-Type": "application/xml"})
        return url

    def make_calendar(self, name: str | None = None, displayname: str | None = None) -> str:
        """Create a calendar under the user's calendar home (RFC 4791 §5.3.1 MKCALENDAR)."""
        name = name or f"cal-{uuid.uuid4().hex[:10]}"
        url = self.absolute(f"{self.calendar_home_path}{quote(name)}/")
        body = MKCALENDAR.format(name=escape(displayname or name))
        self.request("MKCALENDAR", url, body, headers={"Content-Type": "application/xml"})
        return url

    def delete(self, url: str) -> None:
        """DELETE a card, an event or a whole collection."""
        self.request("DELETE", url, ok=(200, 204))

    def put(self, url: str, data: bytes, content_type: str) -> str:
        """PUT one resource (created or replaced); return its ETag ("" if none was sent)."""
        response = self.request("PUT", url, data, headers={"Content-Type": content_type})
        return str(response.headers.get("ETag") or "")

    def put_card(self, book_url: str, name: str, vcard: bytes) -> str:
        """PUT a vCard as ``name`` into an address book; return the card's absolute URL."""
        url = urljoin(book_url, quote(name))
        self.put(url, vcard, "text/vcard; charset=utf-8")
        return url

    def put_event(self, calendar_url: str, name: str, ical: bytes) -> str:
        """PUT an iCalendar object as ``name`` into a calendar; return its absolute URL."""
        url = urljoin(calendar_url, quote(name))
        self.put(url, ical, "text/calendar; charset=utf-8")
        return url

    def path(self, url: str) -> str:
        """The path of ``url`` as a DAV href: what a server names the resource."""
        return urlsplit(url).path


class RadicaleServer(DavTestServer):
    """Radicale (``python -m radicale``), htpasswd plain-text auth, owner-only rights."""

    name = "radicale"

    @property
    def config_file(self) -> Path:
        return self.root / "radicale.conf"

    def _prepare(self) -> None:
        (self.root / "collections").mkdir()
        self.users_file.write_text(f"{self.username}:{self.password}\n")

    @property
    def users_file(self) -> Path:
        return self.root / "users"

    def _command(self) -> list[str]:
        self.config_file.write_text(self._config())
        return [sys.executable, "-m", "radicale", "--config", str(self.config_file)]

    def _config(self) -> str:
        return textwrap.dedent(
            f"""\
            # Generated by tests/servers/radicale.py for one test run. Not for production.
            [server]
            hosts = {self.host}:{self.port}
            [auth]
            type = htpasswd
            htpasswd_filename = {self.users_file}
            # plain text is fine here: loopback only, a throwaway password
            htpasswd_encryption = plain
            # no penalty: a test of a wrong password must not slow down the next one
            delay = 0
            [rights]
            type = owner_only
            [storage]
            filesystem_folder = {self.root / "collections"}
            [web]
            type = none
            [logging]
            level = warning
            mask_passwords = True
            """
        )


@pytest.fixture(scope="session")
def radicale() -> Iterator[RadicaleServer]:
    """A Radicale for the whole session; tests make their own collections in it."""
    with RadicaleServer.start() as server:
        yield server
