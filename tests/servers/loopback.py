"""What the in-process test servers (the EWS and Graph simulators) share: HTTPS with a
self-signed certificate, and serving from a thread until the ``with`` block ends."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import HTTPServer
from pathlib import Path

from tests.servers.xandikos import write_self_signed


def use_tls(httpd: HTTPServer, directory: Path) -> Path:
    """Make ``httpd`` serve HTTPS with a self-signed certificate for 127.0.0.1, ::1 and
    localhost, written into ``directory``; return the certificate, which clients trust
    as their CA file. The handshake happens in each request's thread, so a client that
    rejects the certificate never holds up the accept loop."""
    ca_file, key = directory / "cert.pem", directory / "key.pem"
    write_self_signed(ca_file, key)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(ca_file, key)
    httpd.socket = context.wrap_socket(
        httpd.socket, server_side=True, do_handshake_on_connect=False
    )
    return ca_file


@contextmanager
def serving(httpd: HTTPServer, name: str) -> Iterator[None]:
    """Serve from a daemon thread named ``name``; shut down and close at the end."""
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), name=name, daemon=True)
    thread.start()
    try:
        yield
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)
