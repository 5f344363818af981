"""A recording reverse proxy: what a real client sent to crmsync and what it answered.

The clients under test talk to the proxy's loopback port; every request is passed on
unchanged to the running ``crmsync run`` and recorded with the answer. Nothing is
answered by the proxy itself, so the tests see the server's real behaviour and, beside
it, exactly which requests each client sent (how many cards a sync fetched).
"""

from __future__ import annotations

import http.client
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit
from xml.etree.ElementTree import Element

from defusedxml.ElementTree import fromstring

HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection"}
)
DAV = "{DAV:}"
CARDDAV = "{urn:ietf:params:xml:ns:carddav}"


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up between requests is no error of the server's."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@dataclass(frozen=True)
class Exchange:
    """One request as the server received it, and its answer."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    response_headers: dict[str, str]
    response_body: bytes

    def root(self) -> Element | None:
        return fromstring(self.body) if self.body.strip() else None

    @property
    def report(self) -> str:
        """The report's element name (``{ns}name``) of a REPORT, else ""."""
        root = self.root() if self.method == "REPORT" else None
        return root.tag if root is not None else ""

    @property
    def hrefs(self) -> list[str]:
        """The DAV:href elements of the request body (what a multiget asks for)."""
        root = self.root()
        return [] if root is None else [(h.text or "").strip() for h in root.iter(f"{DAV}href")]

    def answered_hrefs(self) -> list[str]:
        """The hrefs of the responses in a multistatus answer."""
        if self.status != 207:
            return []
        root = fromstring(self.response_body)
        return [(r.findtext(f"{DAV}href") or "").strip() for r in root.iter(f"{DAV}response")]

    def cards_sent(self) -> int:
        """How many cards' content the answer carried (address-data elements, or a GET
        of a card)."""
        if self.status == 207:
            return sum(1 for _ in fromstring(self.response_body).iter(f"{CARDDAV}address-data"))
        vcard = self.response_headers.get("content-type", "").startswith("text/vcard")
        return self.response_body.count(b"BEGIN:VCARD") if self.status == 200 and vcard else 0

    def line(self) -> str:
        depth = self.headers.get("depth")
        return (
            f"{self.method} {self.path}"
            + (f" (Depth {depth})" if depth else "")
            + (f" -> {self.status}")
        )


class RecordingProxy:
    """Forwards to ``upstream`` (``http://host:port``) and keeps every :class:`Exchange`."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        assert parts.hostname and parts.port
        self.upstream = (parts.hostname, parts.port)
        self.exchanges: list[Exchange] = []
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), self._handler_class())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> RecordingProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def taken(self) -> list[Exchange]:
        """The exchanges so far, and a fresh start for the next ones."""
        with self._lock:
            found = list(self.exchanges)
            self.exchanges.clear()
        return found

    def _record(self, exchange: Exchange) -> None:
        with self._lock:
            self.exchanges.append(exchange)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def __getattr__(self, name: str) -> Any:
                if name.startswith("do_"):  # every method, DAV ones included
                    return self._forward
                raise AttributeError(name)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the recorded exchanges are the log."""

            def _forward(self) -> None:
                assert "chunked" not in self.headers.get("Transfer-Encoding", ""), (
                    "the proxy forwards bodies with a Content-Length only"
                )
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                upstream = http.client.HTTPConnection(*proxy.upstream, timeout=60)
                try:
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    answer = upstream.getresponse()
                    data = answer.read()
                    answer_headers = answer.getheaders()
                    status, reason = answer.status, answer.reason
                finally:
                    upstream.close()
                proxy._record(
                    Exchange(
                        self.command,
                        self.path,
                        {k.lower(): v for k, v in headers.items()},
                        body,
                        status,
                        {k.lower(): v for k, v in answer_headers},
                        data,
                    )
                )
                self.send_response(status, reason)
                for name, value in answer_headers:
                    if name.lower() not in HOP_BY_HOP:
                        self.send_header(name, value)
                no_body = self.command == "HEAD" or status in (204, 304) or status < 200
                # HEAD tells the length of what GET would send
                upstream_size = answer.getheader("Content-Length") or "0"
                self.send_header("Content-Length", upstream_size if no_body else str(len(data)))
                self.end_headers()
                if not no_body:
                    self.wfile.write(data)

        return Handler


@contextmanager
def recording(upstream: str) -> Iterator[RecordingProxy]:
    proxy = RecordingProxy(upstream).start()
    try:
        yield proxy
    finally:
        proxy.stop()
