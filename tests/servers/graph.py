"""A Microsoft Graph simulator: the peer for the Graph adapter's tests and benchmark.

A stateful HTTPS server on a free 127.0.0.1 port (:class:`ThreadingHTTPServer`, HTTP/1.1
keep-alive, a self-signed certificate whose file is :attr:`GraphServer.ca_file`) with
two faces:

* the Microsoft identity platform of one tenant (:mod:`tests.servers.graph_identity`),
  which the unmodified ``msal`` library uses once pointed at :attr:`GraphServer.authority`
  (msal accepts only ``https`` authorities, hence TLS)::

      msal.ConfidentialClientApplication(
          client_id, client_credential=secret, authority=server.authority,
          instance_discovery=False, http_client=server.http_session())

  (``http_client`` rather than ``verify=str(server.ca_file)``: requests lets
  ``$REQUESTS_CA_BUNDLE`` override a session's ``verify``; instance discovery against
  the simulator also works, with ``instance_discovery=server.base_url +
  "/common/discovery/instance"``)

* Graph v1.0 below :attr:`GraphServer.graph_url`: users, mail folders, messages and their
  MIME (``$value``), calendars and calendarView, contacts, the delta queries of all
  three (:mod:`tests.servers.graph_delta`) and JSON batching (``POST /$batch``, up to 20
  steps; a step's non-JSON body, such as a ``$value``, is base64 text as Graph sends it).

State is set up through this class's Python API; every change of an item lands in the
next delta round. Faults: :meth:`GraphServer.fail_next` (429 with ``Retry-After``, 503,
any status, for paths matching a regex, batch steps included), :meth:`set_delay`,
:meth:`invalidate_delta_tokens` (410 ``syncStateNotFound``), expiring access tokens,
expiring or revoking refresh tokens, revoking consent, and the application access policy
(:meth:`restrict_app`). Every request is logged in :attr:`GraphServer.requests`.

``tls=False`` serves plain HTTP, for a client that gets its token from
:meth:`GraphServer.issue_token` instead of msal. Usable without pytest (``with
GraphServer.start() as graph: ...``) and as the function-scoped pytest fixture ``graph``.
"""

from __future__ import annotations

import json
import re
import ssl
import sys
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.servers.graph_batch import run_batch
from tests.servers.graph_delta import DeltaEngine, GoneError
from tests.servers.graph_identity import Identity, Token
from tests.servers.graph_routes import GraphError, json_answer, route
from tests.servers.graph_state import GraphState
from tests.servers.loopback import serving, use_tls

Answer = tuple[int, dict[str, str], bytes]


@dataclass(frozen=True)
class Request:
    """One logged request (a ``$batch`` step is logged too, with ``batch`` = its id)."""

    method: str
    path: str
    query: dict[str, str]
    principal: str | None  # "app:<client id>", the user's UPN, or the client id at login
    status: int
    batch: str | None = None


@dataclass
class _Fault:
    pattern: re.Pattern[str]
    status: int
    times: int
    retry_after: int | None
    code: str | None
    message: str | None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server: _HttpServer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the request log is :attr:`GraphServer.requests`."""

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, headers, payload = self.server.graph.handle(method, self.path, self.headers, body)
        try:
            self.send_response(status)
            headers.setdefault("Content-Length", str(len(payload)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.close_connection = True  # the client gave up (a timeout test)


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    graph: GraphServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet about clients that hang up or reject the certificate; loud otherwise."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class GraphServer(GraphState):
    """The simulator: the identity platform, the Graph routes, faults and the request log."""

    def __init__(
        self,
        *,
        domain: str = "contoso.onmicrosoft.com",
        token_lifetime: int = 3600,
        default_page_size: int = 10,
    ) -> None:
        self.identity = Identity(str(uuid.uuid4()), domain, token_lifetime)
        self.identity.users = self.mailbox_or_none
        self.delta = DeltaEngine()
        self.default_page_size = default_page_size
        super().__init__()
        self.requests: list[Request] = []
        self._faults: list[_Fault] = []
        self._delays: list[tuple[re.Pattern[str], float]] = []
        self.base_url = self.graph_url = self.authority = self.web_base = ""
        self.ca_file: Path | None = None
        self._tmp = tempfile.TemporaryDirectory(prefix="graph-sim-")

    @property
    def tenant_id(self) -> str:
        return self.identity.tenant_id

    def http_session(self) -> requests.Session:
        """A ``requests`` session that trusts this server's certificate, for msal's
        ``http_client`` (msal's own ``verify=`` loses to ``$REQUESTS_CA_BUNDLE``, which
        requests prefers to a session's ``verify`` unless ``trust_env`` is off)."""
        session = requests.Session()
        session.trust_env = False
        session.verify = str(self.ca_file) if self.ca_file else True
        return session

    @classmethod
    @contextmanager
    def start(
        cls,
        *,
        tls: bool = True,
        domain: str = "contoso.onmicrosoft.com",
        token_lifetime: int = 3600,
        default_page_size: int = 10,
    ) -> Iterator[GraphServer]:
        """Serve on a free port until the ``with`` block ends."""
        server = cls(
            domain=domain, token_lifetime=token_lifetime, default_page_size=default_page_size
        )
        httpd = _HttpServer(("127.0.0.1", 0), _Handler)
        httpd.graph = server
        if tls:
            server.ca_file = use_tls(httpd, Path(server._tmp.name))
        scheme = "https" if tls else "http"
        server.base_url = f"{scheme}://127.0.0.1:{httpd.server_address[1]}"
        server.graph_url = server.base_url + "/v1.0"
        server.authority = f"{server.base_url}/{server.tenant_id}"
        server.web_base = server.base_url
        try:
            with serving(httpd, "graph-simulator"):
                yield server
        finally:
            server._tmp.cleanup()

    # -- faults and the log ---------------------------------------------------------------------

    def fail_next(
        self,
        pattern: str,
        *,
        status: int = 429,
        times: int = 1,
        retry_after: int | None = 1,
        code: str | None = None,
        message: str | None = None,
    ) -> None:
        """Answer the next ``times`` requests whose path matches ``pattern`` (``re.search``
        on e.g. ``/v1.0/users/x/messages/delta`` or ``/<tenant>/oauth2/v2.0/token``) with
        ``status``; 429 and 503 carry ``Retry-After`` unless ``retry_after`` is None."""
        with self.lock:
            fault = _Fault(re.compile(pattern), status, times, retry_after, code, message)
            self._faults.append(fault)

    def set_delay(self, pattern: str, seconds: float) -> None:
        """Answer requests whose path matches ``pattern`` ``seconds`` late (0 to stop)."""
        with self.lock:
            self._delays = [(p, s) for p, s in self._delays if p.pattern != pattern]
            if seconds > 0:
                self._delays.append((re.compile(pattern), seconds))

    def invalidate_delta_tokens(self, code: str = "syncStateNotFound") -> None:
        """Every delta and skip token issued so far answers 410 Gone with ``code``."""
        self.delta.invalidate(code)

    def clear_log(self) -> None:
        with self.lock:
            self.requests.clear()

    def paths(self) -> list[str]:
        """The paths of the logged requests, in order."""
        with self.lock:
            return [r.path for r in self.requests]

    # -- serving -----------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: Any, body: bytes) -> Answer:
        """Answer one HTTP request: (status, headers, body)."""
        split = urllib.parse.urlsplit(target)
        path, query = split.path, dict(urllib.parse.parse_qsl(split.query, keep_blank_values=True))
        request_id = str(uuid.uuid4())
        extra = {
            "request-id": request_id,
            "client-request-id": headers.get("client-request-id") or request_id,
        }
        if path.startswith("/v1.0/"):
            principal, token, failure = self._bearer(headers)
            if token is None:
                answer = failure
            elif path == "/v1.0/$batch" and method == "POST":
                answer = run_batch(self, token, principal, body)
            else:
                answer = self.step(token, principal, method, path, query, headers, None)
                extra.update(answer[1])
                return answer[0], extra, answer[2]
            self._log(method, path, query, principal, answer[0], None)
        elif path == "/devicelogin":
            answer = 200, {"Content-Type": "text/plain"}, b"Enter the code to sign in."
        else:
            form = dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace")))
            answer = self._faulted(path, False) or self._login(method, path, query, form, headers)
            self._log(method, path, query, form.get("client_id"), answer[0], None)
        return answer[0], {**extra, **answer[1]}, answer[2]

    def _login(
        self, method: str, path: str, query: dict[str, str], form: dict[str, str], headers: Any
    ) -> Answer:
        with self.lock:
            return self.identity.handle(method, path, query, form, headers, self.base_url)

    def _bearer(self, headers: Any) -> tuple[str | None, Token | None, Answer]:
        scheme, _, value = (headers.get("Authorization") or "").partition(" ")
        with self.lock:
            token = self.identity.tokens.get(value.strip()) if scheme.lower() == "bearer" else None
            if token is not None and not token.revoked and token.expires_at > time.time():
                if token.user_id is None:
                    return f"app:{token.client_id}", token, (0, {}, b"")
                box = self.mailbox_or_none(token.user_id)
                return (box.upn if box else token.user_id), token, (0, {}, b"")
        message = (
            "Access token is empty."
            if not value
            else (
                "Lifetime validation failed, the token is expired."
                if token is not None
                else "IDX14100: JWT is not well formed, there are no dots (.)."
            )
        )
        if value and token is None and value.count(".") == 2:
            message = "Access token validation failure. Invalid audience."
        challenge = (
            'Bearer realm="", authorization_uri="https://login.microsoftonline.com/'
            'common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"'
        )
        error = self.error_answer(GraphError(401, "InvalidAuthenticationToken", message))
        return None, None, (401, {**error[1], "WWW-Authenticate": challenge}, error[2])

    def step(
        self,
        token: Token,
        principal: str | None,
        method: str,
        path: str,
        query: dict[str, str],
        headers: Any,
        batch: str | None,
    ) -> Answer:
        answer = self._faulted(path, True)
        if answer is None:
            try:
                with self.lock:
                    answer = route(self, token, method, path[len("/v1.0") :], query, headers)
            except GraphError as exc:
                answer = self.error_answer(exc)
            except GoneError as exc:
                answer = self.error_answer(
                    GraphError(
                        410, exc.code, "The sync state generation is not found or has expired."
                    )
                )
        self._log(method, path, query, principal, answer[0], batch)
        return answer

    def _faulted(self, path: str, graph: bool) -> Answer | None:
        with self.lock:
            delay = max((s for p, s in self._delays if p.search(path)), default=0.0)
            fault = next((f for f in self._faults if f.pattern.search(path)), None)
            if fault is not None:
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
        if delay:
            time.sleep(delay)
        if fault is None:
            return None
        headers = {}
        if fault.retry_after is not None and fault.status in (429, 503):
            headers["Retry-After"] = str(fault.retry_after)
        code = fault.code or {429: "TooManyRequests", 503: "serviceNotAvailable"}.get(
            fault.status, "generalException"
        )
        message = fault.message or (
            f"Too many requests. Please retry after {fault.retry_after} seconds."
            if fault.status == 429
            else "The service is temporarily unavailable."
        )
        if not graph:
            body = {"error": "temporarily_unavailable", "error_description": message}
            return (
                fault.status,
                {"Content-Type": "application/json", **headers},
                json.dumps(body).encode(),
            )
        status, error_headers, payload = self.error_answer(GraphError(fault.status, code, message))
        return status, {**error_headers, **headers}, payload

    def error_answer(self, exc: GraphError) -> Answer:
        """Graph's error JSON for ``exc``."""
        inner = {
            "date": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()),
            "request-id": str(uuid.uuid4()),
            "client-request-id": str(uuid.uuid4()),
        }
        body = {"error": {"code": exc.code, "message": exc.message, "innerError": inner}}
        return json_answer(body, exc.headers, exc.status)

    def _log(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        principal: str | None,
        status: int,
        batch: str | None,
    ) -> None:
        with self.lock:
            self.requests.append(Request(method, path, query, principal, status, batch))


@pytest.fixture
def graph() -> Iterator[GraphServer]:
    """A fresh Graph simulator (HTTPS, one tenant, no apps or users yet) per test."""
    with GraphServer.start() as server:
        yield server
