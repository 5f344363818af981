"""Signing in delegated Microsoft Graph accounts (``sign_in = "user"``), for the command
line (``crmsync graph-login``, :mod:`sync.cligraph`) and for the web view's "Sign in with
Microsoft" (:class:`GraphSignIn`, handed to the web view as
:attr:`web.settings.WebSettings.graph_signin`, since web may not import adapters).

The account is found among the config file's and the web view's accounts; its sign-in
(msal's token cache) goes to the database encrypted (:mod:`crm.tokens`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy.orm import Session, sessionmaker

from adapters.errors import SourceError
from crm.tokens import mark_signed_in
from sync.config import AccountConfig, Config, ConfigError
from sync.sources import graph_settings, open_source, token_store
from sync.stored import all_accounts
from web.settings import ConnectionTestError

if TYPE_CHECKING:  # msal is loaded when someone signs in, not when the web view starts
    from adapters.graphauth import GraphSettings, TokenStore


def delegated_account(
    config: Config, sessions: sessionmaker[Session], name: str
) -> tuple[AccountConfig, GraphSettings, TokenStore]:
    """The graph account ``name`` with sign_in = "user", its settings (client secret read)
    and its token store; :class:`ConfigError` or :class:`SourceError` in words if it is
    none or cannot be used."""
    accounts = {a.name: a for a in all_accounts(config, sessions)}
    account = accounts.get(name)
    if account is None:
        known = ", ".join(n for n, a in accounts.items() if a.kind == "graph") or "none"
        raise ConfigError(f'no account named "{name}"; graph accounts: {known}')
    if account.kind != "graph" or account.sign_in != "user":
        raise ConfigError(
            f'account "{name}" is not a Microsoft Graph account with sign_in = "user":'
            " only those sign in as a user"
        )
    if account.problems:
        raise ConfigError(f'account "{name}": ' + "; ".join(account.problems))
    store = token_store(account)
    assert store is not None  # all_accounts gives every delegated account its store
    return account, graph_settings(account, config.sync), store


def device_login(
    config: Config, sessions: sessionmaker[Session], name: str, show: Callable[[str], None]
) -> str:
    """Sign in account ``name`` with a device code (``show`` gets what to do); the user."""
    from adapters import graphsignin

    _, settings, store = delegated_account(config, sessions, name)
    user = graphsignin.device_code(settings, store, show)
    with sessions.begin() as session:
        mark_signed_in(session, name)
    return user


class GraphSignIn:
    """The web view's way to sign in delegated graph accounts; every failure is a
    :class:`ConnectionTestError` whose message is shown as it is."""

    def __init__(self, config: Config, sessions: sessionmaker[Session]) -> None:
        self.config, self.sessions = config, sessions

    def delegated(self, name: str) -> bool:
        """Whether ``name`` is a graph account that a user signs in to."""
        return any(
            a.name == name and a.kind == "graph" and a.sign_in == "user"
            for a in all_accounts(self.config, self.sessions)
        )

    def begin(self, name: str, redirect_uri: str) -> dict[str, Any]:
        """The flow to keep in the web session; its ``auth_uri`` is where to go."""
        from adapters import graphsignin

        _, settings, _ = self._account(name)
        return self._words(lambda: graphsignin.begin(settings, redirect_uri))

    def login_origin(self, name: str) -> str:
        """The origin of the account's login page, where "Sign in" sends the browser
        ("" when the account's settings do not say)."""
        try:
            _, settings, _ = self._account(name)
        except ConnectionTestError:
            return ""
        parts = urlsplit(settings.authority)
        return f"{parts.scheme}://{parts.netloc}" if parts.scheme == "https" else ""

    def kept(self, flow: Mapping[str, Any]) -> dict[str, Any]:
        """What of ``flow`` the web session keeps until the browser comes back."""
        from adapters import graphsignin

        return graphsignin.kept(flow)

    def finish(self, name: str, flow: Mapping[str, Any], params: Mapping[str, str]) -> str:
        """Store the sign-in the redirect ``params`` complete; the signed-in user."""
        from adapters import graphsignin

        _, settings, store = self._account(name)
        user: str = self._words(lambda: graphsignin.finish(settings, store, flow, params))
        return user

    def probe(self, name: str, values: dict[str, Any]) -> list[str]:
        """ "Test connection" for a delegated account: the stored settings ``values`` (as
        the form has them) with the sign-in stored for account ``name``."""
        from sync.stored import settings_values

        problems: list[str] = []
        checked = settings_values("graph", values, self.config.web.file_roots, problems)
        if problems:
            raise ConnectionTestError("; ".join(p.removeprefix("settings.") for p in problems))
        account, _, _ = self._account(name)
        trial = replace(account, **{k: v for k, v in checked.items() if k != "sign_in"})
        timeout = min(self.config.sync.timeout_seconds, 20.0)
        sync = replace(self.config.sync, timeout_seconds=timeout)

        def run() -> list[str]:
            with open_source(trial, sync) as source:
                found: list[str] = source.probe()
                return found

        return self._words(run)

    def _account(self, name: str) -> tuple[AccountConfig, GraphSettings, TokenStore]:
        return self._words(lambda: delegated_account(self.config, self.sessions, name))

    @staticmethod
    def _words(work: Callable[[], Any]) -> Any:
        try:
            return work()
        except SourceError as exc:
            raise ConnectionTestError(exc.message) from None
        except ConfigError as exc:
            raise ConnectionTestError(str(exc)) from None
