"""The configuration: one TOML file read into frozen dataclasses, validated at load.

Every problem is collected and reported with its key path
(``accounts[1].port: expected an integer, got string "abc"``). Relative paths
are resolved against the config file's directory. Secrets are never loaded:
an account names where its password comes from, and :meth:`AccountConfig.password`
fetches it when it is used. ``config.example.toml`` documents every key.
"""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from sync import configschema as s
from sync.configgraph import EXCHANGE_READS, GRAPH, SECRET_KEYS, check_credential, check_graph
from sync.configschema import Key

if TYPE_CHECKING:
    from adapters.graphauth import TokenStore

PASSWORD_COMMAND_TIMEOUT = 30


class ConfigError(Exception):
    """Raised when the configuration cannot be used; ``problems`` lists every reason.

    Each problem starts with its key path; ``str()`` gives them one per line.
    ``source`` names the file when known.
    """

    def __init__(self, problems: str | Iterable[str], *, source: str | None = None) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        self.source = source
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class DatabaseConfig:
    """``[database]``: a SQLAlchemy URL, relative SQLite paths already resolved."""

    url: str

    def __repr__(self) -> str:
        return f"DatabaseConfig(url={_hide_password(self.url)!r})"


@dataclass(frozen=True)
class CrmConfig:
    """``[crm]``: who is internal, and how addresses and numbers are read."""

    internal_domains: tuple[str, ...] = ()
    staff_addresses: tuple[str, ...] = ()
    default_region: str = "DE"
    log_internal_mail: bool = False
    #: log mailing-list, newsletter and auto-generated mail too (not by default)
    log_bulk_mail: bool = False
    free_mail_domains: tuple[str, ...] = ()
    not_free_mail_domains: tuple[str, ...] = ()


@dataclass(frozen=True)
class ArchiveConfig:
    """``[archive]``: where attachments are stored (an absolute path)."""

    path: Path


@dataclass(frozen=True)
class WebConfig:
    """``[web]``: where the web view listens."""

    listen: str = "127.0.0.1:8080"
    behind_proxy: bool = False
    #: folders under which an admin may add a ``files`` account in the web view
    file_roots: tuple[Path, ...] = ()
    #: the environment variable holding the Bearer token for /metrics (never the token)
    metrics_token_env: str | None = None
    #: the address people reach the web view at ("https://crm.example.com"), for links
    #: in mail (the follow-up digest); None: mail has no links
    public_url: str | None = None

    @property
    def host(self) -> str:
        """The host part of ``listen`` (an IPv6 address without brackets)."""
        return s.split_listen(self.listen)[0]

    @property
    def port(self) -> int:
        """The port part of ``listen``."""
        return s.split_listen(self.listen)[1]


@dataclass(frozen=True)
class SecretsConfig:
    """``[secrets]``: where the key comes from that encrypts passwords entered in the web
    view and signs its sessions. Never the key itself."""

    key_file: Path
    key_env: str = "CRMSYNC_SECRET_KEY"

    def keys(self) -> list[str]:
        """The keys, newest first: from ``key_env`` when that variable is set, else one per
        line of ``key_file``. :class:`ConfigError` when there is none."""
        raw = os.environ.get(self.key_env, "")
        if not raw.strip():
            try:
                raw = self.key_file.read_text(encoding="ascii")
            except FileNotFoundError:
                raise ConfigError(
                    f"secrets: no key: {self.key_file} does not exist and {self.key_env} is"
                    " not set; `crmsync init` creates the file"
                ) from None
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"secrets.key_file: cannot read {self.key_file}: {exc}") from None
        keys = [k for k in raw.replace(",", " ").split() if k]
        if not keys:
            raise ConfigError(f"secrets: the key in {self.key_file} or {self.key_env} is empty")
        return keys


@dataclass(frozen=True)
class SyncConfig:
    """``[sync]``: how big a batch may grow, how long a remote call may take, and how long
    the history of sync runs is kept."""

    batch_max_items: int = 500
    batch_max_bytes: int = 25_000_000
    timeout_seconds: float = 60.0
    #: how long finished sync runs are kept (the worker prunes older ones)
    keep_runs_seconds: float = 90 * 86400.0
    #: how long a stopping worker waits for runs to finish their batch before it exits
    stop_timeout_seconds: float = 30.0
    #: accounts never synced yet are first run within this long of a worker's start
    start_spread_seconds: float = 5.0


@dataclass(frozen=True)
class SmtpConfig:
    """``[smtp]``: the server the daily follow-up digest is sent through.

    Holds no secret: :meth:`password` fetches the password when it is used.
    """

    enabled: bool = False
    host: str = "localhost"
    port: int = 587
    security: str = "starttls"  # starttls | ssl | none (loopback only)
    username: str | None = None
    password_env: str | None = None
    password_command: tuple[str, ...] | None = None
    from_address: str = ""
    #: when the worker sends the digest, in the server's local time
    digest_time: time = time(7, 0)
    timeout_seconds: float = 30.0

    def password(self) -> str:
        """The password, fetched now ("" without a username); errors as
        :meth:`AccountConfig.password`'s."""
        if not self.username:
            return ""
        if self.password_env:
            return _from_env(self.password_env, "smtp")
        if self.password_command:
            return _run_password_command(self.password_command, "smtp")
        raise ConfigError("smtp: no password source: set password_env or password_command")


@dataclass(frozen=True)
class AccountConfig:
    """One ``[[accounts]]`` entry: a mailbox or a folder of files to sync from.

    Holds no secret: :meth:`password` fetches the password when it is used.
    Keys of the other kind keep their defaults (a files account has no host).
    """

    name: str
    kind: str
    owner: str | None = None
    enabled: bool = True
    interval_seconds: float = 300.0
    host: str | None = None
    port: int | None = None
    security: str = "ssl"
    username: str | None = None
    password_env: str | None = None
    password_command: tuple[str, ...] | None = field(default=None, repr=False)
    folders: tuple[str, ...] = ("INBOX", "\\Sent")
    tls_verify: bool = True
    ca_file: Path | None = None
    path: Path | None = None
    format: str = "auto"
    url: str | None = None
    #: calendars: how far back and ahead recurring events are expanded
    past: float = 365 * 86400.0
    future: float = 365 * 86400.0
    #: contacts: "enrich" (add to known customers) or "import" (also create them)
    policy: str = "enrich"
    #: ews: the service account's way in, and what it reads
    auth: str = "ntlm"
    access: str = "impersonation"
    autodiscover: bool = False
    version: str = "auto"
    mailboxes: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    calendar: bool = True
    contacts: bool = True
    private_categories: tuple[str, ...] = ()
    #: imap, ews, files (mail): only mail received on or after this day is pulled
    since: date | None = None
    #: imap: watch the INBOX with IDLE (RFC 2177) so new mail is pulled within seconds
    idle: bool = False
    #: "mailbox", or "logging": the logging mailbox (mail staff BCC or forward to it)
    role: str = "mailbox"
    #: the logging mailbox: only Authentication-Results of this server count
    authserv_id: str | None = None
    #: graph (Exchange Online): the app registration, how it signs in, which cloud
    tenant: str | None = None
    client_id: str | None = None
    sign_in: str = "app"
    client_secret_env: str | None = None
    client_secret_command: tuple[str, ...] | None = field(default=None, repr=False)
    certificate_file: Path | None = None
    certificate_password_env: str | None = None
    cloud: str = "global"
    login_url: str | None = None
    graph_url: str | None = None
    #: graph with sign_in = "user": where the signed-in user's tokens are kept (encrypted,
    #: in the database); set by :func:`sync.stored.all_accounts`
    token_store: TokenStore | None = field(default=None, repr=False, compare=False)
    #: for an account added in the web view: decrypts its stored password when called
    secret: Callable[[], str] | None = field(default=None, repr=False, compare=False)
    #: for an account added in the web view: what is wrong with its stored settings
    problems: tuple[str, ...] = ()

    def password(self) -> str:
        """The password, fetched now: from ``secret`` (an account added in the web view),
        from ``password_env``, or by running ``password_command``.

        The first line of the command's output, stripped, is the password.
        Raises :class:`ConfigError` naming the account and the variable or the
        command, never a value nor the command's output.
        """
        where = f'account "{self.name}"'
        if self.secret is not None:
            return _from_secret(self.secret, where)
        if self.password_env:
            return _from_env(self.password_env, where)
        if self.password_command:
            return _run_password_command(self.password_command, where)
        raise ConfigError(f"{where}: no password source: set password_env or password_command")

    def client_secret(self) -> str:
        """A graph account's client secret, fetched now ("" when it has none): from
        ``secret`` (web view), ``client_secret_env`` or ``client_secret_command``; the
        errors are :meth:`password`'s."""
        where = f'account "{self.name}"'
        if self.secret is not None:
            return _from_secret(self.secret, where)
        if self.client_secret_env:
            return _from_env(self.client_secret_env, where)
        if self.client_secret_command:
            return _run_password_command(self.client_secret_command, where, "client_secret_command")
        return ""

    def certificate_password(self) -> str:
        """The password of a graph account's certificate key, from
        ``certificate_password_env`` ("" when it has none); errors as :meth:`password`'s."""
        if not self.certificate_password_env:
            return ""
        return _from_env(self.certificate_password_env, f'account "{self.name}"')


@dataclass(frozen=True)
class Config:
    """The whole configuration; ``path`` is the file it came from (``None`` if none)."""

    database: DatabaseConfig
    crm: CrmConfig
    archive: ArchiveConfig
    web: WebConfig
    secrets: SecretsConfig
    sync: SyncConfig
    accounts: tuple[AccountConfig, ...]
    path: Path | None = None
    smtp: SmtpConfig = field(default_factory=SmtpConfig)

    def account(self, name: str) -> AccountConfig:
        """The account called ``name``; :class:`ConfigError` listing the known ones if none."""
        for account in self.accounts:
            if account.name == name:
                return account
        known = ", ".join(account.name for account in self.accounts) or "none"
        raise ConfigError(f'no account named "{name}"; known: {known}')


def find_config_path(explicit: str | None) -> Path:
    """The config file to read: ``explicit`` (``--config``), else ``$CRMSYNC_CONFIG``,
    else ``./config.toml``."""
    chosen = explicit or os.environ.get("CRMSYNC_CONFIG") or "config.toml"
    return Path(chosen).expanduser()


def load_config(path: Path) -> Config:
    """Read and validate the TOML file at ``path``; :class:`ConfigError` with every problem."""
    path = Path(os.path.abspath(path))
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except FileNotFoundError:
        raise ConfigError(
            f"no config file at {path} (set --config or CRMSYNC_CONFIG,"
            " or copy config.example.toml)",
            source=str(path),
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}", source=str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(_syntax_error(path, text, exc), source=str(path)) from None
    config = parse_config(data, base_dir=path.parent, source=str(path))
    return replace(config, path=path)


def parse_config(data: dict[str, Any], *, base_dir: Path, source: str = "<config>") -> Config:
    """Validate TOML ``data``; relative paths are taken from ``base_dir``.

    Raises :class:`ConfigError` with every problem found, each with its key path.
    """
    base_dir = Path(os.path.abspath(base_dir))
    problems: list[str] = []
    s.report_unknown(data, _SECTIONS, "", problems)
    tables = {name: data.get(name, {}) for name in _SECTIONS if name != "accounts"}
    tables = {name: t if s.is_table(t, name, problems) else {} for name, t in tables.items()}
    config = Config(
        database=_database(tables["database"], base_dir, problems),
        crm=CrmConfig(**s.check_table(tables["crm"], CRM, "crm", problems)),
        archive=_archive(tables["archive"], base_dir, problems),
        web=_web(tables["web"], base_dir, problems),
        secrets=_secrets(tables["secrets"], base_dir, problems),
        sync=_sync(tables["sync"], problems),
        accounts=_accounts(data.get("accounts", []), base_dir, problems),
        smtp=_smtp(tables["smtp"], problems),
    )
    if problems:
        raise ConfigError(problems, source=source)
    return config


# -- the schema -------------------------------------------------------------------------

DATABASE = {"url": Key(s.text, "sqlite:///var/crmsync.db")}
CRM = {
    "internal_domains": Key(s.array_of(s.domain, "domain names"), []),
    "staff_addresses": Key(s.array_of(s.email, "e-mail addresses"), []),
    "default_region": Key(s.region, "DE"),
    "log_internal_mail": Key(s.boolean, False),
    "log_bulk_mail": Key(s.boolean, False),
    "free_mail_domains": Key(s.array_of(s.domain, "domain names"), []),
    "not_free_mail_domains": Key(s.array_of(s.domain, "domain names"), []),
}
ARCHIVE = {"path": Key(s.text, "var/archive")}
WEB = {
    "listen": Key(s.listen, "127.0.0.1:8080"),
    "behind_proxy": Key(s.boolean, False),
    "file_roots": Key(s.array_of(s.text, "folders"), ["var/import"]),
    "metrics_token_env": Key(s.env_name, None),
    "public_url": Key(s.text, None),
}
SECRETS = {
    "key_file": Key(s.text, "var/secret.key"),
    "key_env": Key(s.env_name, "CRMSYNC_SECRET_KEY"),
}
SYNC = {
    "batch_max_items": Key(s.integer(1, 100_000), 500),
    "batch_max_bytes": Key(s.size, "25MB"),
    "timeout": Key(s.duration(1), "60s"),
    "keep_runs": Key(s.duration(3600), "90d"),
    "stop_timeout": Key(s.duration(1), "30s"),
    "start_spread": Key(s.duration(0), "5s"),
}


def _time_of_day(value: Any) -> time:
    """A time of day, "HH:MM" (24 hours)."""
    if isinstance(value, str) and re.fullmatch(r"\d{1,2}:\d{2}", value.strip()):
        hours, minutes = (int(part) for part in value.strip().split(":"))
        if hours < 24 and minutes < 60:
            return time(hours, minutes)
    raise s.Invalid(f'expected a time of day "HH:MM", such as "07:00", got {s.describe(value)}')


SMTP = {
    "enabled": Key(s.boolean, False),
    "host": Key(s.hostname, "localhost"),
    "port": Key(s.integer(1, 65535), None),
    "security": Key(s.choice("starttls", "ssl", "none"), "starttls"),
    "username": Key(s.text, None),
    "password_env": Key(s.env_name, None),
    "password_command": Key(s.command, None),
    "from_address": Key(s.email, None),
    "digest_time": Key(_time_of_day, "07:00"),
    "timeout": Key(s.duration(1), "30s"),
}
#: mail accounts: a staff member's mailbox, or the logging mailbox staff BCC and forward
#: to; ``authserv_id``: whose Authentication-Results the logging mailbox trusts
MAIL_ROLE = {
    "role": Key(s.choice("mailbox", "logging"), "mailbox"),
    "authserv_id": Key(s.text, None),
}
ACCOUNT = {
    "name": Key(s.account_name),
    "owner": Key(s.text, None),
    "enabled": Key(s.boolean, True),
    "interval": Key(s.duration(10), "5m"),
}
IMAP = {
    "host": Key(s.hostname),
    "port": Key(s.integer(1, 65535), None),
    "security": Key(s.choice("ssl", "starttls", "none"), "ssl"),
    "username": Key(s.text),
    "password_env": Key(s.env_name, None),
    "password_command": Key(s.command, None),
    "folders": Key(s.array_of(s.text, "folder names", non_empty=True), ["INBOX", "\\Sent"]),
    "tls_verify": Key(s.boolean, True),
    "ca_file": Key(s.text, None),
    "since": Key(s.day, None),
    "idle": Key(s.boolean, False),
    **MAIL_ROLE,
}
FILES = {
    "path": Key(s.text),
    "format": Key(s.choice("auto", "maildir", "mbox", "mboxes", "ics", "vcf", "vdir"), "auto"),
    "past": Key(s.duration(0), "365d"),
    "future": Key(s.duration(0), "365d"),
    "since": Key(s.day, None),
    **MAIL_ROLE,
}
CALDAV = {
    "url": Key(s.text),
    "username": Key(s.text),
    "password_env": Key(s.env_name, None),
    "password_command": Key(s.command, None),
    "calendars": Key(s.array_of(s.text, "calendar names or paths"), []),
    "past": Key(s.duration(0), "365d"),
    "future": Key(s.duration(0), "365d"),
    "tls_verify": Key(s.boolean, True),
    "ca_file": Key(s.text, None),
}
CARDDAV = {
    "url": Key(s.text),
    "username": Key(s.text),
    "password_env": Key(s.env_name, None),
    "password_command": Key(s.command, None),
    "books": Key(s.array_of(s.text, "address book names or paths"), []),
    "policy": Key(s.choice("enrich", "import"), "enrich"),
    "tls_verify": Key(s.boolean, True),
    "ca_file": Key(s.text, None),
}
EWS = {
    "url": Key(s.text, None),
    "autodiscover": Key(s.boolean, False),
    "username": Key(s.text),
    "password_env": Key(s.env_name, None),
    "password_command": Key(s.command, None),
    "auth": Key(s.choice("ntlm", "basic"), "ntlm"),
    "access": Key(s.choice("impersonation", "delegate"), "impersonation"),
    "groups": Key(s.array_of(s.email, "e-mail addresses"), []),
    "version": Key(s.text, "auto"),
    "since": Key(s.day, None),
    **EXCHANGE_READS,
    **MAIL_ROLE,
}
KINDS = {
    "imap": IMAP, "files": FILES, "caldav": CALDAV, "carddav": CARDDAV, "ews": EWS,
    "graph": {**GRAPH, **MAIL_ROLE},
}  # fmt: skip
#: the kinds that log in with a password
PASSWORD_KINDS = ("imap", "caldav", "carddav", "ews")
#: the kinds whose mail can be limited to a date window (``since``)
SINCE_KINDS = ("imap", "ews", "graph", "files")
#: the files formats that hold mail
MAIL_FORMATS = ("auto", "maildir", "mbox", "mboxes")
_EWS_VERSION = re.compile(r"auto|2013|2013_sp1|2016|2019|se|\d+(\.\d+){1,3}", re.IGNORECASE)
LATER_KINDS: tuple[str, ...] = ()  # known, adapters still to come
#: the kinds, as messages list them
KIND_NAMES = '"imap", "ews", "graph", "caldav", "carddav" or "files"'
_SECTIONS = {
    "database": DATABASE, "crm": CRM, "archive": ARCHIVE, "web": WEB, "secrets": SECRETS,
    "sync": SYNC, "accounts": ACCOUNT, "smtp": SMTP,
}  # fmt: skip

# Keys a person may write a secret into, and what to write instead.
_ACCOUNT_SECRET = {
    "password": "a password is never written in the config file; set password_env to the"
    " name of an environment variable that holds it, or password_command to a command"
    " that prints it"
}
_KEY_SECRET = {
    "key": "the key is never written in the config file; set key_file to a file that"
    " holds it (crmsync init creates one) or key_env to an environment variable"
}


# -- sections ---------------------------------------------------------------------------


def _database(data: dict[str, Any], base_dir: Path, problems: list[str]) -> DatabaseConfig:
    url = s.check_table(data, DATABASE, "database", problems)["url"]
    if url is None:
        return DatabaseConfig(url="")
    try:
        backend = make_url(url).get_backend_name()
    except ArgumentError:
        problems.append(f"database.url: not a database URL: {_hide_password(url)!r}")
        return DatabaseConfig(url=url)
    if backend not in ("sqlite", "postgresql", "postgres"):
        problems.append(f'database.url: crmsync works with SQLite and PostgreSQL, not "{backend}"')
    return DatabaseConfig(url=_database_url(url, base_dir))


_SQLITE_FILE = re.compile(r"(sqlite(?:\+\w+)?):///([^?]*)(\?.*)?", re.DOTALL)


def _database_url(url: str, base_dir: Path) -> str:
    """Relative SQLite paths resolved against ``base_dir``; ``postgresql://`` uses psycopg 3."""
    scheme, sep, rest = url.partition("://")
    if scheme in ("postgresql", "postgres"):
        return f"postgresql+psycopg{sep}{rest}"
    found = _SQLITE_FILE.fullmatch(url)
    if not found or found[2] in ("", ":memory:") or found[2].startswith("/"):
        return url
    return f"{found[1]}:///{_resolve(base_dir, found[2])}{found[3] or ''}"


def _web(data: dict[str, Any], base_dir: Path, problems: list[str]) -> WebConfig:
    values = s.check_table(data, WEB, "web", problems)
    roots = values.pop("file_roots") or []
    public = values["public_url"]
    if public is not None:
        parts = urlsplit(public)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            problems.append(
                f'web.public_url: expected an address such as "https://crm.example.com",'
                f" got {s.describe(public)}"
            )
        values["public_url"] = public.rstrip("/")
    return WebConfig(**values, file_roots=tuple(_resolve(base_dir, r) for r in roots))


def _archive(data: dict[str, Any], base_dir: Path, problems: list[str]) -> ArchiveConfig:
    raw = s.check_table(data, ARCHIVE, "archive", problems)["path"]
    return ArchiveConfig(path=_resolve(base_dir, raw or "."))


def _secrets(data: dict[str, Any], base_dir: Path, problems: list[str]) -> SecretsConfig:
    values = s.check_table(data, SECRETS, "secrets", problems, _KEY_SECRET)
    return SecretsConfig(
        key_file=_resolve(base_dir, values["key_file"] or "var/secret.key"),
        key_env=values["key_env"] or "CRMSYNC_SECRET_KEY",
    )


def _smtp(data: dict[str, Any], problems: list[str]) -> SmtpConfig:
    """``[smtp]``: the port follows the security; "none" only to this machine; a username
    needs one password source; sending needs a from_address."""
    values = s.check_table(data, SMTP, "smtp", problems, _ACCOUNT_SECRET)
    security, host = values["security"] or "starttls", values["host"] or "localhost"
    if values["port"] is None:
        values["port"] = {"ssl": 465, "starttls": 587}.get(security, 25)
    if security == "none" and not s.is_loopback(host):
        problems.append(
            f'smtp.security: "none" sends mail and password unencrypted, so it is allowed'
            f' only for a loopback host (localhost, 127.0.0.1, ::1), not "{host}";'
            ' use "starttls" or "ssl"'
        )
    if values["username"] is not None:
        _check_password_source(data, "smtp", problems)
    elif "password_env" in data or "password_command" in data:
        problems.append("smtp.username: required when a password source is set")
    if values["enabled"] and values["from_address"] is None:
        problems.append("smtp.from_address: required when the digest is enabled")
    return SmtpConfig(
        enabled=bool(values["enabled"]),
        host=host,
        port=values["port"],
        security=security,
        username=values["username"],
        password_env=values["password_env"],
        password_command=values["password_command"],
        from_address=values["from_address"] or "",
        digest_time=values["digest_time"] or time(7, 0),
        timeout_seconds=values["timeout"] or 30.0,
    )


def _sync(data: dict[str, Any], problems: list[str]) -> SyncConfig:
    values = s.check_table(data, SYNC, "sync", problems)
    return SyncConfig(
        batch_max_items=values["batch_max_items"],
        batch_max_bytes=values["batch_max_bytes"],
        timeout_seconds=values["timeout"],
        keep_runs_seconds=values["keep_runs"],
        stop_timeout_seconds=values["stop_timeout"],
        start_spread_seconds=values["start_spread"],
    )


def _accounts(data: Any, base_dir: Path, problems: list[str]) -> tuple[AccountConfig, ...]:
    if not isinstance(data, list):
        problems.append(
            f"accounts: expected an array of tables ([[accounts]] sections), got {s.describe(data)}"
        )
        return ()
    accounts = []
    first_use: dict[str, int] = {}
    for index, entry in enumerate(data):
        account = _account(entry, f"accounts[{index}]", base_dir, problems)
        if account is None or account.name is None:
            continue
        if account.name in first_use:
            problems.append(
                f'accounts[{index}].name: "{account.name}" is already the name of'
                f" accounts[{first_use[account.name]}]"
            )
        first_use.setdefault(account.name, index)
        accounts.append(account)
    return tuple(accounts)


def _account(data: Any, where: str, base_dir: Path, problems: list[str]) -> AccountConfig | None:
    if not s.is_table(data, where, problems):
        return None
    kind = _kind(data, where, problems)
    common = s.read_table(data, ACCOUNT, where, problems)
    interval = common.pop("interval")
    if kind is None:  # the other keys depend on the kind: nothing more to say
        return None
    schema = KINDS[kind]
    explain = dict(_ACCOUNT_SECRET)
    if kind == "graph":
        explain.update(SECRET_KEYS)
    for other, keys in KINDS.items():
        explain.update({key: _other_kind(other, kind) for key in keys if key not in schema})
    if kind not in SINCE_KINDS:
        explain["since"] = (
            'only for mail accounts of kind "imap", "ews", "graph" or "files";'
            f' this one is "{kind}"'
        )
    s.report_unknown(data, [*ACCOUNT, "kind", *schema], where, problems, explain)
    values = kind_settings(kind, data, where, base_dir, problems)
    if kind in PASSWORD_KINDS:
        _check_password_source(data, where, problems)
    elif kind == "graph":
        check_credential(data, where, problems)
    return AccountConfig(kind=kind, interval_seconds=interval, **common, **values)


def kind_settings(
    kind: str, data: Mapping[str, Any], where: str, base_dir: Path, problems: list[str]
) -> dict[str, Any]:
    """The keys of an account of ``kind`` read from ``data`` and checked together, as
    :class:`AccountConfig` takes them; what is wrong goes to ``problems``. Shared by the
    config file and the accounts added in the web view (:mod:`sync.stored`)."""
    values = s.read_table(data, KINDS[kind], where, problems)
    if kind == "imap":
        _check_imap(values, where, problems)
    elif kind in ("caldav", "carddav"):
        _check_dav(values, where, problems)
    elif kind == "ews":
        _check_ews(values, where, problems)
    elif kind == "graph":
        check_graph(values, where, problems)
        if values["certificate_file"] is not None:
            key = f"{where}.certificate_file"
            values["certificate_file"] = _existing(
                base_dir, values["certificate_file"], key, problems
            )
    else:
        _check_files(values, where, base_dir, problems)
    if values.get("ca_file") is not None:
        values["ca_file"] = _existing(base_dir, values["ca_file"], f"{where}.ca_file", problems)
    return values


def _other_kind(other: str, kind: str) -> str:
    return f'only for accounts of kind "{other}"; this one is "{kind}"'


def _kind(data: dict[str, Any], where: str, problems: list[str]) -> str | None:
    """The account's kind if this version can sync it; else the problem is reported."""
    kind = data.get("kind")
    if kind is None:
        problems.append(f"{where}.kind: required ({KIND_NAMES})")
    elif kind in LATER_KINDS:
        problems.append(f'{where}.kind: "{kind}" is not supported yet')
    elif kind not in KINDS:
        problems.append(f"{where}.kind: expected {KIND_NAMES}, got {s.describe(kind)}")
    else:
        return str(kind)
    return None


def _check_imap(values: dict[str, Any], where: str, problems: list[str]) -> None:
    """The IMAP rules between keys; fills in the port from the security."""
    security, host = values["security"], values["host"]
    if values["port"] is None and security is not None:
        values["port"] = 993 if security == "ssl" else 143
    if security == "none" and host is not None and not s.is_loopback(host):
        problems.append(
            f'{where}.security: "none" sends the password unencrypted, so it is allowed only'
            f' for a loopback host (localhost, 127.0.0.1, ::1), not "{host}";'
            ' use "ssl" or "starttls"'
        )


def _check_dav(values: dict[str, Any], where: str, problems: list[str]) -> None:
    """A DAV account: an http(s) URL (plain http only to this machine), one password source."""
    if values["url"] is not None:
        _check_url(values["url"], f"{where}.url", problems)
    values["folders"] = tuple(values.pop("calendars" if "calendars" in values else "books"))


def _check_url(url: str, key: str, problems: list[str]) -> None:
    """An https URL, or http to this machine only (the password goes along)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        problems.append(f"{key}: expected an https:// address, got {s.describe(url)}")
    elif parts.scheme == "http" and not s.is_loopback(parts.hostname):
        problems.append(
            f'{key}: "http" sends the password unencrypted, so it is allowed only to'
            f" this machine (localhost, 127.0.0.1, ::1), not {parts.hostname}; use https"
        )


def _check_ews(values: dict[str, Any], where: str, problems: list[str]) -> None:
    """An EWS account: an https endpoint or autodiscover, someone to read, a known version."""
    if values["autodiscover"] and values["url"]:
        problems.append(f"{where}: set url or autodiscover = true, not both")
    elif not values["autodiscover"] and not values["url"]:
        problems.append(
            f"{where}.url: required (the EWS endpoint, e.g."
            ' "https://mail.example.com/EWS/Exchange.asmx"), or set autodiscover = true'
        )
    elif values["url"]:
        _check_url(values["url"], f"{where}.url", problems)
    if values["mailboxes"] == () and values["groups"] == ():
        problems.append(f"{where}: list the staff mailboxes to read (mailboxes, or groups)")
    version = values["version"]
    if version is not None and not _EWS_VERSION.fullmatch(version):
        problems.append(
            f'{where}.version: expected "auto", "2013", "2016", "2019", "se" or a build such'
            f' as "15.1.2507", got {s.describe(version)}'
        )
    if values["autodiscover"] and values["groups"] and not values["mailboxes"]:
        problems.append(f"{where}: autodiscover needs at least one address in mailboxes")


def _check_password_source(data: dict[str, Any], where: str, problems: list[str]) -> None:
    sources = [key for key in ("password_env", "password_command") if key in data]
    if not sources:
        problems.append(f"{where}: no password source: set password_env or password_command")
    elif len(sources) > 1:
        problems.append(f"{where}: set only one of password_env and password_command")


def _check_files(values: dict[str, Any], where: str, base_dir: Path, problems: list[str]) -> None:
    if values["path"] is not None:
        values["path"] = _existing(base_dir, values["path"], f"{where}.path", problems)
    if values["since"] is not None and values["format"] not in (None, *MAIL_FORMATS):
        problems.append(
            f'{where}.since: only for mail (format "maildir", "mbox" or "mboxes"),'
            f' not format "{values["format"]}"'
        )


# -- helpers ----------------------------------------------------------------------------


def _resolve(base_dir: Path, raw: str) -> Path:
    """``raw`` (``~`` expanded) as an absolute path; relative ones start at ``base_dir``."""
    return Path(os.path.abspath(base_dir / Path(raw).expanduser()))


def _existing(base_dir: Path, raw: str, key: str, problems: list[str]) -> Path:
    path = _resolve(base_dir, raw)
    if not path.exists():
        problems.append(f"{key}: {path} does not exist")
    return path


def _hide_password(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return re.sub(r"://([^:/@]*):[^@/]*@", r"://\1:***@", url)


def _syntax_error(path: Path, text: str, exc: tomllib.TOMLDecodeError) -> str:
    """``FILE, line L, column C: TOML syntax error: what`` from tomllib's message."""
    message = str(exc)
    found = re.fullmatch(r"(.*) \(at line (\d+), column (\d+)\)", message, re.DOTALL)
    if found:
        return f"{path}, line {found[2]}, column {found[3]}: TOML syntax error: {found[1]}"
    found = re.fullmatch(r"(.*) \(at end of document\)", message, re.DOTALL)
    if found:
        lines = text.split("\n")
        where = f"line {len(lines)}, column {len(lines[-1]) + 1}"
        return f"{path}, {where} (the end): TOML syntax error: {found[1]}"
    return f"{path}: TOML syntax error: {message}"


def _from_secret(secret: Callable[[], str], where: str) -> str:
    from crm.secrets import SecretKeyError  # cryptography costs 40 ms: only where used

    try:
        return secret()
    except SecretKeyError as exc:  # its message never holds the key nor the value
        raise ConfigError(f"{where}: {exc}") from None


def _from_env(name: str, where: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise ConfigError(f"{where}: the environment variable {name} is not set or empty")
    return value


def _run_password_command(
    command: tuple[str, ...], where: str, key: str = "password_command"
) -> str:
    """The first line the command prints, stripped; its output never reaches a message."""
    what = f'{where}: {key} "{command[0]}"'
    try:
        # A list, no shell: the words are the admin's, from the config file.
        done = subprocess.run(  # noqa: S603
            list(command),
            capture_output=True,
            text=True,
            timeout=PASSWORD_COMMAND_TIMEOUT,
            check=False,
        )
    except FileNotFoundError:
        raise ConfigError(f"{what}: command not found") from None
    except subprocess.TimeoutExpired:
        raise ConfigError(
            f"{what}: did not finish within {PASSWORD_COMMAND_TIMEOUT} seconds"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{what}: cannot be run: {exc.strerror}") from None
    if done.returncode != 0:
        raise ConfigError(f"{what} exited with status {done.returncode}")
    lines = done.stdout.splitlines()
    password = lines[0].strip() if lines else ""
    if not password:
        raise ConfigError(f"{what} printed nothing on its first line")
    return password
