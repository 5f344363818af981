"""A real Dovecot IMAP server, started from a generated config in a temp dir.

Usable as pytest fixtures (``dovecot``, session-scoped, and ``imap_user``, a fresh
user per test) and, without pytest, from a benchmark::

    with DovecotServer.start() as server:
        server.add_user("alice", "secret")
        server.append("alice", "INBOX", [b"Subject: hi\\r\\n\\r\\nbody\\r\\n"])

Dovecot listens on 127.0.0.1 on two free ports: ``port`` (plain text and
STARTTLS) and ``ssl_port`` (implicit TLS), with a certificate signed by a CA
generated here (``ca_file``). Mailboxes: INBOX and ``Sent``, which carries the
``\\Sent`` SPECIAL-USE attribute (RFC 6154); CONDSTORE/QRESYNC (RFC 7162) are
offered as Dovecot 2.3 does by default.

Run as root, the master binds the ports and the mail processes run as an
unprivileged system user (``crmsync-mail``, created with ``useradd`` when missing,
else ``nobody``); logins run as ``dovenull`` and internal processes as
``dovecot`` when the Debian package created them. Run as a normal user,
everything runs as that user.

``rawlog_dir`` is set for every user, but Dovecot only writes a protocol log
where that directory exists: :meth:`DovecotServer.enable_rawlog` creates it, and
:meth:`DovecotServer.imap_commands` reads back what a client sent.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import datetime as dt
import grp
import ipaddress
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import psutil
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from imapclient import IMAPClient

from tests.corpus import need

MAIL_USER = "crmsync-mail"
INSTALL_HINT = "dovecot not installed: apt-get install dovecot-imapd"
_SBIN_PATH = "/usr/sbin:/usr/local/sbin:/sbin"
_APPEND_CHUNK_BYTES = 8 * 1024 * 1024
_APPEND_CHUNK_COUNT = 500
_NAME_RE = re.compile(r"^[A-Za-z0-9._@+-]{1,64}$")
_TIMESTAMP_RE = re.compile(rb"(^|\n)\d+\.\d+ ")


def find_binary(name: str) -> str | None:
    """The path of a Dovecot binary; /usr/sbin is searched even when not on PATH."""
    return shutil.which(name, path=os.environ.get("PATH", "") + os.pathsep + _SBIN_PATH)


# --- TLS: a throwaway CA and a server certificate for 127.0.0.1/localhost ---------


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _pem_cert(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _builder(
    subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey
) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )


def make_ca(
    common_name: str = "crmsync test CA",
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A fresh self-signed CA (also what a test uses as the *wrong* CA)."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        _builder(_name(common_name), _name(common_name), key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=not cert_sign,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def make_server_cert(
    ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A server certificate for localhost, 127.0.0.1 and ::1, signed by ``ca``."""
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName("localhost")]
    names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ("127.0.0.1", "::1")]
    cert = (
        _builder(_name("localhost"), ca.subject, key)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def write_ca_file(path: Path, common_name: str = "crmsync test CA") -> Path:
    """Write a fresh, unrelated CA certificate to ``path`` (for wrong-CA tests)."""
    path.write_bytes(_pem_cert(make_ca(common_name)[0]))
    return path


# --- who runs what ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Accounts:
    """The system users Dovecot runs as (see the module docstring)."""

    mail_uid: int
    mail_gid: int
    internal_user: str
    login_user: str

    @classmethod
    def detect(cls) -> _Accounts:
        if os.geteuid() != 0:
            me = pwd.getpwuid(os.geteuid()).pw_name
            return cls(os.geteuid(), os.getegid(), me, me)
        mail = _mail_user()
        internal = "dovecot" if _user_exists("dovecot") else mail.pw_name
        login = "dovenull" if _user_exists("dovenull") else "nobody"
        return cls(mail.pw_uid, mail.pw_gid, internal, login)

    @property
    def internal_gid(self) -> int:
        return pwd.getpwnam(self.internal_user).pw_gid


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _mail_user() -> pwd.struct_passwd:
    """The unprivileged owner of the test mailboxes, created on first use."""
    useradd = find_binary("useradd")
    for _ in range(5):  # parallel test workers may race on /etc/passwd's lock
        if _user_exists(MAIL_USER):
            return pwd.getpwnam(MAIL_USER)
        if useradd is None:
            break
        subprocess.run(
            [
                useradd,
                "--system",
                "--no-create-home",
                "--user-group",
                "--shell",
                "/usr/sbin/nologin",
                MAIL_USER,
            ],
            capture_output=True,
            check=False,
        )
        time.sleep(0.05)
    if _user_exists(MAIL_USER):
        return pwd.getpwnam(MAIL_USER)
    return pwd.getpwnam("nobody")


def _check_traversable(path: Path) -> None:
    """As root, the mail user must reach ``path``: every parent needs o+x."""
    for parent in [path, *path.parents]:
        if not parent.stat().st_mode & 0o001:
            raise ValueError(
                f"{parent} is not searchable by other users; the unprivileged mail user "
                f"cannot reach {path}: pass a base_dir under /tmp or chmod o+x {parent}"
            )


def _free_ports(host: str, count: int) -> list[int]:
    socks = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in socks:
            sock.bind((host, 0))
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: SIGTERM the Dovecot master if the test process dies without cleaning up."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _running(process: psutil.Process) -> bool:
    """Alive and not a zombie (an orphan waits for init to reap it)."""
    try:
        return bool(process.is_running() and process.status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


_CONFIG = """\
# Generated by tests/servers/dovecot.py for one test run. Not for production.
instance_name = crmsync-test-{port}
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = {host}
default_internal_user = {internal_user}
default_internal_group = {internal_group}
default_login_user = {login_user}
mail_privileged_group =
first_valid_uid = 1
first_valid_gid = 1
# plain text is fine here: we listen on loopback only
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
ssl = yes
ssl_cert = <{root}/tls/server.pem
ssl_key = <{root}/tls/server.key
mail_location = sdbox:~/mail
mail_fsync = never
mail_max_userip_connections = 1000
# written only for users whose ~/rawlog exists (DovecotServer.enable_rawlog)
rawlog_dir = %h/rawlog
# one file per user: Dovecot re-reads a changed passwd-file at most once a second,
# a new file at once (DovecotServer.add_user)
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {root}/users/%u
}}
userdb {{
  driver = passwd-file
  args = {root}/users/%u
}}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Sent {{
    special_use = \\Sent
    auto = subscribe
  }}
  mailbox Trash {{
    special_use = \\Trash
  }}
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    port = {port}
  }}
  inet_listener imaps {{
    port = {ssl_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
  # no auth penalty: a test of a wrong password must not slow down the next login
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service ipc {{
  chroot =
}}
"""


class DovecotServer:
    """One running Dovecot instance; start it with :meth:`start`."""

    def __init__(self, root: Path, *, host: str, owns_root: bool) -> None:
        self.root = root
        self.host = host
        self.port = 0
        self.ssl_port = 0
        self._owns_root = owns_root
        self._accounts = _Accounts.detect()
        self._users: dict[str, str] = {}
        self._proc: subprocess.Popen[bytes] | None = None

    # --- lifecycle -------------------------------------------------------------------

    @classmethod
    def start(cls, base_dir: Path | str | None = None, *, host: str = "127.0.0.1") -> Self:
        """Generate a config under ``base_dir`` (a fresh temp dir if None) and start Dovecot."""
        binary = find_binary("dovecot")
        if binary is None:
            raise FileNotFoundError(INSTALL_HINT)
        owns = base_dir is None
        root = Path(tempfile.mkdtemp(prefix="crmsync-dovecot-") if base_dir is None else base_dir)
        root.mkdir(parents=True, exist_ok=True)
        server = cls(root.resolve(), host=host, owns_root=owns)
        try:
            server._prepare()
            server._spawn(binary)
        except BaseException:
            server.stop()
            raise
        return server

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop Dovecot and every process it started; remove the temp dir if we made it."""
        atexit.unregister(self.stop)
        if self._proc is not None:
            self._terminate(self._proc)
            self._proc = None
        if self._owns_root:
            shutil.rmtree(self.root, ignore_errors=True)

    @staticmethod
    def _terminate(proc: subprocess.Popen[bytes]) -> None:
        """SIGTERM the master (it stops its children, its log process last, ~1 s)."""
        try:
            children = psutil.Process(proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            children = []
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        deadline = time.monotonic() + 2
        while (alive := [c for c in children if _running(c)]) and time.monotonic() < deadline:
            time.sleep(0.01)
        for child in alive:  # psutil compares create times: never a reused pid
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()

    @property
    def config_file(self) -> Path:
        return self.root / "dovecot.conf"

    @property
    def ca_file(self) -> str:
        """The PEM file of the CA that signed the server's certificate."""
        return str(self.root / "tls" / "ca.pem")

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def _prepare(self) -> None:
        if os.geteuid() == 0:
            self.root.chmod(0o755)
            _check_traversable(self.root)
        home = self.root / "home"
        home.mkdir(exist_ok=True)
        self._chown_mail(home)
        self._write_tls()
        users = self.root / "users"
        users.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            os.chown(users, 0, self._accounts.internal_gid)
            users.chmod(0o750)

    def _write_tls(self) -> None:
        tls = self.root / "tls"
        tls.mkdir(exist_ok=True)
        ca, ca_key = make_ca()
        cert, key = make_server_cert(ca, ca_key)
        (tls / "ca.pem").write_bytes(_pem_cert(ca))
        (tls / "server.pem").write_bytes(_pem_cert(cert) + _pem_cert(ca))
        key_file = tls / "server.key"
        key_file.touch(mode=0o600)
        key_file.write_bytes(_pem_key(key))

    def pause(self) -> None:
        """Stop the server, keeping its ports, users and mail (a server that is down)."""
        if self._proc is not None:
            self._terminate(self._proc)
            self._proc = None

    def resume(self) -> None:
        """Start the paused server again, on the same ports."""
        binary = find_binary("dovecot")
        assert binary is not None and self._proc is None
        self._spawn(binary, keep_ports=True)

    def _spawn(self, binary: str, *, keep_ports: bool = False) -> None:
        for attempt in range(1 if keep_ports else 3):  # a port can be taken before the bind
            if not keep_ports:
                self.port, self.ssl_port = _free_ports(self.host, 2)
            self.config_file.write_text(_CONFIG.format(**self._config_values()))
            with (self.root / "master.err").open("ab") as stderr:
                self._proc = subprocess.Popen(
                    [binary, "-F", "-c", str(self.config_file)],
                    stdout=subprocess.DEVNULL,
                    stderr=stderr,
                    preexec_fn=_die_with_parent,  # prctl only, before exec
                    start_new_session=True,
                )
            atexit.register(self.stop)
            if self._wait_ready():
                return
            self._terminate(self._proc)
            self._proc = None
            if keep_ports or attempt == 2 or "bind" not in self.log_tail():
                raise RuntimeError(f"dovecot did not start:\n{self.log_tail()}")

    def _config_values(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "host": self.host,
            "port": self.port,
            "ssl_port": self.ssl_port,
            "internal_user": self._accounts.internal_user,
            "internal_group": grp.getgrgid(self._accounts.internal_gid).gr_name,
            "login_user": self._accounts.login_user,
        }

    def _wait_ready(self, timeout: float = 10.0) -> bool:
        """True once the plain port greets; False if the master exited."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                return False
            with (
                contextlib.suppress(OSError),
                socket.create_connection((self.host, self.port), timeout=1) as sock,
            ):
                if sock.recv(64).startswith(b"* OK"):
                    return True
            time.sleep(0.01)
        return False

    def log_tail(self, lines: int = 30) -> str:
        """The end of Dovecot's log and of the master's stderr, for error messages."""
        text = ""
        for name in ("master.err", "dovecot.log"):
            with contextlib.suppress(OSError):
                text += (self.root / name).read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    # --- users -----------------------------------------------------------------------

    def add_user(self, name: str, password: str) -> None:
        """Add a user at runtime, no restart: each user has its own passwd-file.

        (Dovecot notices a changed passwd-file at most once a second, a new one at
        once; so re-passwording a user may take a second to be seen.)
        """
        if not _NAME_RE.match(name):
            raise ValueError(f"unsupported user name {name!r}")
        if any(c in password for c in ":\r\n\0"):
            raise ValueError("a password may not contain ':' or line breaks here")
        home = self.home(name)
        home.mkdir(mode=0o700, exist_ok=True)
        self._chown_mail(home)
        self._users[name] = password
        self._write_user_file(name, password)

    def password(self, user: str) -> str:
        return self._users[user]

    def home(self, user: str) -> Path:
        return self.root / "home" / user

    def _write_user_file(self, name: str, password: str) -> None:
        uid, gid = self._accounts.mail_uid, self._accounts.mail_gid
        line = f"{name}:{{PLAIN}}{password}:{uid}:{gid}::{self.home(name)}::\n"
        users = self.root / "users"
        tmp = users / f".{name}.{secrets.token_hex(4)}"
        tmp.touch(mode=0o600)
        if os.geteuid() == 0:  # the auth process runs as the internal user
            os.chown(tmp, 0, self._accounts.internal_gid)
            tmp.chmod(0o640)
        tmp.write_text(line)
        os.replace(tmp, users / name)

    def _chown_mail(self, path: Path) -> None:
        if os.geteuid() == 0:
            os.chown(path, self._accounts.mail_uid, self._accounts.mail_gid)

    # --- mail ------------------------------------------------------------------------

    def client(self, user: str) -> IMAPClient:
        """A logged-in client over plain text on the loopback port."""
        imap = IMAPClient(self.host, self.port, ssl=False, timeout=30)
        imap.login(user, self._users[user])
        return imap

    def append(
        self,
        user: str,
        folder: str,
        messages: Sequence[bytes],
        flags: Sequence[str] = (),
        msg_time: dt.datetime | None = None,
    ) -> list[int]:
        """Append ``messages`` to ``folder`` (created if missing); return their UIDs.

        Many messages go in MULTIAPPEND commands (RFC 3502) of bounded size; the
        UIDs come from the APPENDUID response code (RFC 4315).
        """
        with self.client(user) as imap:
            if not imap.folder_exists(folder):
                imap.create_folder(folder)
            if len(messages) == 1:
                return _append_uids(imap.append(folder, messages[0], flags, msg_time))
            uids: list[int] = []
            for chunk in _chunks(messages):
                items = [_append_item(m, flags, msg_time) for m in chunk]
                typ, data = imap.multiappend(folder, items)
                if typ != "OK":
                    raise RuntimeError(f"APPEND failed: {data!r}")
                uids += _append_uids(data[0])
            return uids

    def reset_uidvalidity(self, user: str, folder: str) -> int:
        """Give ``folder`` a new UIDVALIDITY, keeping its messages; return the new value."""
        old = self.status(user, folder)[b"UIDVALIDITY"]
        self.doveadm("mailbox", "update", "-u", user, "--uid-validity", str(old + 1), folder)
        new = int(self.status(user, folder)[b"UIDVALIDITY"])
        if new == old:
            raise RuntimeError(f"UIDVALIDITY of {user}/{folder} did not change")
        return new

    def status(self, user: str, folder: str) -> dict[bytes, int]:
        """STATUS of ``folder``: MESSAGES, UIDNEXT, UIDVALIDITY, HIGHESTMODSEQ."""
        with self.client(user) as imap:
            what = ["MESSAGES", "UIDNEXT", "UIDVALIDITY", "HIGHESTMODSEQ"]
            return dict(imap.folder_status(folder, what))

    def doveadm(self, *args: str) -> str:
        """Run ``doveadm`` against this instance; return its stdout."""
        binary = find_binary("doveadm")
        if binary is None:
            raise FileNotFoundError(INSTALL_HINT)
        done = subprocess.run(
            [binary, "-c", str(self.config_file), *args],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"doveadm {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    # --- protocol log ----------------------------------------------------------------

    def enable_rawlog(self, user: str) -> None:
        """Log every IMAP session of ``user`` from now on (after login) to ~/rawlog."""
        rawlog = self.home(user) / "rawlog"
        rawlog.mkdir(mode=0o700, exist_ok=True)
        self._chown_mail(rawlog)

    def clear_rawlog(self, user: str) -> None:
        for path in (self.home(user) / "rawlog").glob("*"):
            path.unlink()

    def imap_commands(
        self, user: str, *, sessions: int | None = None, timeout: float = 5
    ) -> list[str]:
        """The commands ``user``'s clients sent after login, e.g. ``["ENABLE", "EXAMINE"]``.

        Read from Dovecot's rawlog, that is, measured on the server. With
        ``sessions``, wait until that many sessions have logged out (the imap
        process writes its log as the client goes).
        """
        deadline = time.monotonic() + timeout
        while True:
            files = sorted((self.home(user) / "rawlog").glob("*.in"))
            commands = [c for f in files for c in _commands(f.read_bytes())]
            done = commands.count("LOGOUT")
            if sessions is None or done >= sessions or time.monotonic() > deadline:
                return commands
            time.sleep(0.02)


def _commands(rawlog: bytes) -> Iterator[str]:
    """Command names in a client's byte stream, skipping literals (``{n}``/``{n+}``)."""
    stream = _TIMESTAMP_RE.sub(rb"\1", rawlog)  # rawlog starts each line with "secs.usecs "
    pos = 0
    continuing = False
    while pos < len(stream):
        end = stream.find(b"\r\n", pos)
        end = len(stream) if end < 0 else end
        line = stream[pos:end]
        pos = end + 2
        if not continuing:
            yield _command_name(line)
        literal = re.search(rb"\{(\d+)\+?\}$", line)
        continuing = literal is not None
        if literal is not None:
            pos += int(literal.group(1))


def _command_name(line: bytes) -> str:
    words = line.decode("ascii", "replace").split()
    if len(words) >= 3 and words[1].upper() == "UID":
        return f"UID {words[2].upper()}"
    return words[1].upper() if len(words) >= 2 else line.decode("ascii", "replace")


def _chunks(messages: Sequence[bytes]) -> Iterator[Sequence[bytes]]:
    start, size = 0, 0
    for i, message in enumerate(messages):
        full = i - start >= _APPEND_CHUNK_COUNT or size + len(message) > _APPEND_CHUNK_BYTES
        if full and i > start:
            yield messages[start:i]
            start, size = i, 0
        size += len(message)
    if start < len(messages):
        yield messages[start:]


def _append_item(
    message: bytes, flags: Sequence[str], msg_time: dt.datetime | None
) -> dict[str, Any]:
    item: dict[str, Any] = {"msg": message}
    if flags:
        item["flags"] = flags
    if msg_time is not None:
        item["date"] = msg_time
    return item


def _append_uids(response: bytes) -> list[int]:
    """The UIDs in an ``[APPENDUID uidvalidity uid-set]`` response code (RFC 4315)."""
    found = re.search(rb"\[APPENDUID \d+ ([0-9:,]+)\]", response)
    if found is None:
        raise RuntimeError(f"no APPENDUID in {response!r}")
    uids: list[int] = []
    for part in found.group(1).decode().split(","):
        first, _, last = part.partition(":")
        uids += range(int(first), int(last or first) + 1)
    return uids


# --- pytest ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImapUser:
    """A fresh mail user on the session's Dovecot."""

    name: str
    password: str
    host: str
    port: int


@pytest.fixture(scope="session")
def dovecot() -> Iterator[DovecotServer]:
    """A Dovecot for the whole session; skipped where none is installed (failed on CI)."""
    need(find_binary("dovecot") is not None, INSTALL_HINT)
    with DovecotServer.start() as server:
        yield server


@pytest.fixture
def imap_user(dovecot: DovecotServer) -> ImapUser:
    """A new user with a random password, so tests do not see each other's mail."""
    name = f"user-{secrets.token_hex(6)}"
    password = secrets.token_urlsafe(16)
    dovecot.add_user(name, password)
    return ImapUser(name=name, password=password, host=dovecot.host, port=dovecot.port)
