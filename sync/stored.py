"""Accounts added in the web view, read from the ``accounts`` table as :class:`AccountConfig`.

The web view stores an IMAP account's connection settings as JSON in
``Account.settings`` (``host``, ``port``, ``security``, ``username``,
``folders``, ``tls_verify``) and its password in ``Account.secret``, encrypted
with the key from ``[secrets]`` (:mod:`crm.secrets`). The password is decrypted
only when the account connects (:attr:`AccountConfig.secret`), so a missing key
or settings that do not validate fail that account's run, with the reason as
its error, and nothing else.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from crm.models import Account
from crm.secrets import SecretBox, SecretKeyError
from sync import configschema as s
from sync.config import IMAP, AccountConfig, Config, ConfigError

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 300.0
#: the keys of ``Account.settings``: those of an IMAP account in the config file,
#: less where the password comes from (it is in ``Account.secret``) and ``ca_file``
SETTINGS = {
    key: IMAP[key] for key in ("host", "port", "security", "username", "folders", "tls_verify")
}


def stored_accounts(session: Session, box: SecretBox | None) -> list[AccountConfig]:
    """Every account added in the web view (``origin="web"``), enabled or not, by name.

    ``box`` decrypts the passwords when they are used; with None, using one is a
    :class:`ConfigError` saying there is no key.
    """
    return [_account(row, box, "no key is configured to decrypt it") for row in _web_rows(session)]


def all_accounts(config: Config, sessions: sessionmaker[Session]) -> list[AccountConfig]:
    """The accounts of the config file, then those added in the web view.

    Names are unique in the ``accounts`` table; a web account that has the name
    of one in the config file is left out (the file wins) with a warning.
    """
    configured = {account.name for account in config.accounts}
    with sessions() as session:
        rows = _web_rows(session)
    box, why = _open_box(config) if any(row.secret for row in rows) else (None, "")
    stored = []
    for row in rows:
        if row.name in configured:
            log.warning(
                'account "%s" is in the config file and in the web view: using the file', row.name
            )
            continue
        stored.append(_account(row, box, why))
    return [*config.accounts, *stored]


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


def _account(row: Account, box: SecretBox | None, why: str) -> AccountConfig:
    """The row as an account of kind imap; settings that do not validate become its error."""
    where = f'account "{row.name}"'
    problems: list[str] = []
    settings = row.settings if isinstance(row.settings, dict) else {}
    values = _settings(settings, row.kind, problems)
    return AccountConfig(
        name=row.name,
        kind="imap",
        owner=row.owner or None,
        enabled=row.enabled,
        interval_seconds=row.interval_seconds or DEFAULT_INTERVAL,
        secret=_secret(where, row.secret, box, why, problems),
        **values,
    )


def _settings(settings: dict[str, Any], kind: str, problems: list[str]) -> dict[str, Any]:
    """The connection settings, checked as the config file's are; defaults where invalid."""
    if kind != "imap":
        problems.append(f'kind: only IMAP accounts can be added in the web view, not "{kind}"')
    values = s.read_table(settings, SETTINGS, "settings", problems)
    security, host = values["security"] or "ssl", values["host"] or ""
    if security == "none" and host and not s.is_loopback(host):
        problems.append(
            f'settings.security: "none" would send the password unencrypted to "{host}";'
            ' use "ssl" or "starttls"'
        )
    return {
        "host": host,
        "port": values["port"] or (993 if security == "ssl" else 143),
        "security": security,
        "username": values["username"] or "",
        "folders": values["folders"] or ("INBOX", "\\Sent"),
        "tls_verify": values["tls_verify"] if values["tls_verify"] is not None else True,
    }


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
