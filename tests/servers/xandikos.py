"""Xandikos, a real git-backed CalDAV/CardDAV server, started in a temp dir.

Usable as a pytest fixture (``xandikos``, session-scoped) and, without pytest, from a
benchmark, like :class:`tests.servers.radicale.RadicaleServer`.

Xandikos has no user database of its own: ``xandikos serve`` serves one principal
(``--current-user-principal /alice/``; ``--defaults`` creates its address book
``/alice/contacts/addressbook/`` and calendar ``/alice/calendars/calendar/``). Since
0.4.10 it can check HTTP Basic credentials itself (``--htpasswd``), but only over TLS
(``--autocert``), so it is started that way: the htpasswd file holds the test user
with a ``{SHA}`` hash, and the certificate, which ``--autocert`` would otherwise make
for the name ``127.0.0.1`` (a DNS name, which no client matches to an IP address), is
written beforehand into ``<state-dir>/certs``, self-signed for 127.0.0.1, ::1 and
localhost and valid for a year (Xandikos replaces one that expires within 30 days).
Clients trust it through :attr:`ca_file`. Any user in the htpasswd file is the same
principal; the ``username`` only matters to the password check.

``xandikos_plain`` is the same server over plain HTTP, where Xandikos checks no
password at all (any credentials are accepted): for a client that cannot be given a
CA file.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.servers.radicale import DavTestServer


def write_self_signed(cert_path: Path, key_path: Path) -> None:
    """A self-signed certificate for 127.0.0.1, ::1 and localhost, usable as its own CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "crmsync test xandikos")])
    sans: list[x509.GeneralName] = [x509.DNSName("localhost")]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ("127.0.0.1", "::1")]
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def sha_htpasswd_line(user: str, password: str) -> str:
    """An htpasswd line with the ``{SHA}`` scheme (the one Xandikos checks without bcrypt)."""
    digest = base64.b64encode(hashlib.sha1(password.encode()).digest()).decode()
    return f"{user}:{{SHA}}{digest}\n"


class XandikosServer(DavTestServer):
    """``xandikos serve`` over HTTPS with htpasswd Basic auth, one principal."""

    name = "xandikos"
    home_template = "/{user}/contacts/"
    calendar_home_template = "/{user}/calendars/"
    #: HTTPS and a password; without TLS, Xandikos checks no password at all
    tls = True

    @property
    def principal_path(self) -> str:
        return f"/{self.username}/"

    def _prepare(self) -> None:
        (self.root / "data").mkdir()
        (self.root / "state").mkdir()
        if not self.tls:
            return
        self.scheme = "https"
        certs = self.root / "state" / "certs"
        certs.mkdir(mode=0o700)
        self.ca_file = certs / "selfsigned.crt"  # the names Xandikos' --autocert looks for
        write_self_signed(self.ca_file, certs / "selfsigned.key")
        (self.root / "htpasswd").write_text(sha_htpasswd_line(self.username, self.password))

    def _command(self) -> list[str]:
        command = [
            sys.executable,
            "-m",
            "xandikos",
            "serve",
            "--directory",
            str(self.root / "data"),
            "--state-dir",
            str(self.root / "state"),
            "--current-user-principal",
            self.principal_path,
            "--defaults",
            "--no-detect-systemd",
            "--listen-address",
            self.host,
            "--port",
            str(self.port),
        ]
        if self.tls:
            command += ["--autocert", "--htpasswd", str(self.root / "htpasswd")]
        return command


class PlainXandikosServer(XandikosServer):
    """Xandikos over plain HTTP and without authentication (``--htpasswd`` needs TLS):
    for a client that cannot be given a CA file. Any credentials are accepted."""

    name = "xandikos-plain"
    tls = False


@pytest.fixture(scope="session")
def xandikos() -> Iterator[XandikosServer]:
    """A Xandikos (HTTPS, password checked) for the whole session; tests make their own
    collections in it."""
    with XandikosServer.start() as server:
        yield server


@pytest.fixture(scope="session")
def xandikos_plain() -> Iterator[PlainXandikosServer]:
    """A Xandikos over plain HTTP without authentication, for the whole session."""
    with PlainXandikosServer.start() as server:
        yield server
