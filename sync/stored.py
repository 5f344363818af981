"""Accounts added in the web view, read from the ``accounts`` table as :class:`AccountConfig`.

The web view stores an account's settings as JSON in ``Account.settings``, with
the keys an account of that kind has in the config file (an IMAP account's
``host``, ``port``, ``security``, ``username``, ``folders``, ``tls_verify``; a
CalDAV account's ``url``, ``username``, ``calendars``, ``past``, ``future``,
``tls_verify``; ...) less where a password comes from: the password is in
``Account.secret``, encrypted with the key from ``[secrets]``
(:mod:`crm.secrets`). The settings are checked by the config file's own rules
(:func:`sync.config.kind_settings`), and a ``files`` account's path must lie
under one of ``[web] file_roots``. The password is decrypted only when the
account connects (:attr:`AccountConfig.secret`), so a missing key or settings
that do not validate fail that account's run, with the reason as its error, and
nothing else.

A Microsoft Graph account's client secret is its stored password (a certificate is for
the config file only); a graph account with ``sign_in = "user"``, from the file or the
web view, gets the store of its sign-in (:class:`crm.tokens.DbTokenStore`, encrypted with
the same key) as :attr:`AccountConfig.token_store`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from crm.models import Account
from crm.secrets import SecretBox, SecretKeyError
from crm.tokens import DbTokenStore
from sync.config import KINDS, AccountConfig, Config, ConfigError, kind_settings
from sync.configgraph import FILE_ONLY_KEYS

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 300.0
#: the settings keys of each kind: the config file's, less the password sources and the
#: CA file (a path on the server is not the web view's to choose); a graph account's
#: client secret is its stored password, its certificate is for the config file
_NOT_SETTINGS = ("password_env", "password_command", "ca_file", *FILE_ONLY_KEYS)
SETTINGS = {kind: tuple(k for k in keys if k not in _NOT_SETTINGS) for kind, keys in KINDS.items()}


def stored_accounts(
    session: Session, box: SecretBox | None, file_roots: Sequence[Path] = ()
) -> list[AccountConfig]:
    """Every account added in the web view (``origin="web"``), enabled or not, by name.

    ``box`` decrypts the passwords when they are used; with None, using one is a
    :class:`ConfigError` saying there is no key.
    """
    why = "no key is configured to decrypt it"
    return [account_from_settings(row, box, why, file_roots) for row in _web_rows(session)]


def all_accounts(config: Config, sessions: sessionmaker[Session]) -> list[AccountConfig]:
    """The accounts of the config file, then those added in the web view.

    Names are unique in the ``accounts`` table; a web account that has the name
    of one in the config file is left out (the file wins) with a warning.
    """
    configured = {account.name for account in config.accounts}
    with sessions() as session:
        rows = _web_rows(session)
    delegated = any(a.kind == "graph" and a.sign_in == "user" for a in config.accounts) or any(
        row.kind == "graph" and _sign_in(row) == "user" for row in rows
    )
    needed = delegated or any(row.secret for row in rows)
    box, why = _open_box(config) if needed else (None, "")
    stored = []
    for row in rows:
        if row.name in configured:
            log.warning(
                'account "%s" is in the config file and in the web view: using the file', row.name
            )
            continue
        stored.append(account_from_settings(row, box, why, config.web.file_roots))
    return [with_token_store(a, sessions, box, why) for a in (*config.accounts, *stored)]


def with_token_store(
    account: AccountConfig, sessions: sessionmaker[Session], box: SecretBox | None, why: str
) -> AccountConfig:
    """A delegated graph account with the store of its sign-in (encrypted in the
    database, :mod:`crm.tokens`); any other account as it is."""
    if account.kind != "graph" or account.sign_in != "user":
        return account
    store = DbTokenStore(
        sessions, box, account.name, kind=account.kind, owner=account.owner or "", why=why
    )
    return replace(account, token_store=store)


def _sign_in(row: Account) -> Any:
    return row.settings.get("sign_in", "app") if isinstance(row.settings, dict) else "app"


def _web_rows(session: Session) -> list[Account]:
    return list(
        session.scalars(select(Account).where(Account.origin == "web").order_by(Account.name))
    )


def _open_box(config: Config) -> tuple[SecretBox | None, str]:
    """The box with the configured keys, or None and why there is none."""
    try:
        return SecretBox(config.secrets.keys()), ""
    except (ConfigError, SecretKeyError) as exc:
        return None, str(exc)


def account_from_settings(
    row: Account, box: SecretBox | None, why: str, file_roots: Sequence[Path] = ()
) -> AccountConfig:
    """The row as an account of its kind; settings that do not validate become its error
    (:attr:`AccountConfig.problems`: opening it fails with them)."""
    where = f'account "{row.name}"'
    problems: list[str] = []
    values = settings_values(row.kind, row.settings, file_roots, problems)
    secret: Callable[[], str] | None = _secret(where, row.secret, box, why, problems)
    if row.kind == "graph" and not row.secret:
        secret = None  # a public client (delegated) has no secret
        if values.get("sign_in", "app") == "app":
            problems.append("no client secret stored; enter it in the web view")
    return AccountConfig(
        name=row.name,
        kind=row.kind if row.kind in KINDS else "imap",
        owner=row.owner or None,
        enabled=row.enabled,
        interval_seconds=row.interval_seconds or DEFAULT_INTERVAL,
        secret=secret,
        problems=tuple(problems),
        **values,
    )


def settings_values(
    kind: str, settings: Any, file_roots: Sequence[Path], problems: list[str]
) -> dict[str, Any]:
    """Stored ``settings`` of an account of ``kind`` checked as the config file's are, as
    :class:`AccountConfig` takes them; what is wrong goes to ``problems``."""
    if kind not in KINDS:
        problems.append(f'kind: "{kind}" accounts cannot be added in the web view')
        kind = "imap"
    data = settings if isinstance(settings, dict) else {}
    known = {k: v for k, v in data.items() if k in SETTINGS[kind]}
    unknown = [k for k in data if k not in known]
    problems.extend(f"settings.{k}: not a setting of {kind} accounts" for k in unknown)
    values = kind_settings(kind, known, "settings", Path("/"), problems)
    if kind == "files" and values.get("path") is not None:
        path = Path(values["path"])
        if not any(path.is_relative_to(root) for root in file_roots):
            allowed = ", ".join(str(r) for r in file_roots) or "none configured"
            problems.append(
                f"settings.path: {path} is not under a folder open to the web view"
                f" ([web] file_roots: {allowed})"
            )
    return {k: v for k, v in values.items() if v is not None}


def _secret(
    where: str, token: bytes | None, box: SecretBox | None, why: str, problems: list[str]
) -> Callable[[], str]:
    """What :meth:`AccountConfig.password` calls: the password, or the reason there is none."""

    def secret() -> str:
        if problems:  # never hand the password to settings that do not hold
            raise ConfigError(f"{where}: " + "; ".join(problems))
        if not token:
            raise ConfigError(f"{where}: no password stored; enter it in the web view")
        if box is None:
            raise SecretKeyError(f"the stored password cannot be decrypted: {why}")
        return box.decrypt(token)

    return secret
