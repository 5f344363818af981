"""What the web view needs from its host process, passed to :func:`web.app.create_app`.

The web package imports crm only (DESIGN.md); what must reach a remote server,
such as the "test connection" button, is a function that ``sync`` passes in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from crm.matching import MatchPolicy
from crm.secrets import SecretBox


class ConnectionTestError(Exception):
    """Raised by a connection tester; the message is shown to the admin as it is."""


#: (kind, settings, password) -> the folders found on the server
ConnectionTester = Callable[[str, dict[str, Any], str], list[str]]
#: (kind, settings) -> what is wrong with them, each as "settings.key: why"
SettingsChecker = Callable[[str, dict[str, Any]], list[str]]


class GraphSignIn(Protocol):
    """Signing a user in to a delegated Microsoft Graph account (``sync.graphlogin``);
    failures are :class:`ConnectionTestError` in words."""

    def delegated(self, name: str) -> bool:
        """Whether account ``name`` is a graph account that a user signs in to."""

    def begin(self, name: str, redirect_uri: str) -> dict[str, Any]:
        """Start the sign-in: the flow, whose ``auth_uri`` is where the browser goes."""

    def login_origin(self, name: str) -> str:
        """The https origin of account ``name``'s login page ("" when unknown)."""

    def kept(self, flow: Mapping[str, Any]) -> dict[str, Any]:
        """What of the flow the session keeps until the browser comes back."""

    def finish(self, name: str, flow: Mapping[str, Any], params: Mapping[str, str]) -> str:
        """Store the sign-in the redirect's ``params`` complete; the signed-in user."""

    def probe(self, name: str, values: dict[str, Any]) -> list[str]:
        """ "Test connection" with the sign-in stored for account ``name``."""


@dataclass(frozen=True)
class WebSettings:
    """Settings of one web application instance."""

    secret_key: bytes
    secret_box: SecretBox
    archive_path: Path
    match_policy: MatchPolicy = field(default_factory=MatchPolicy)
    #: phone numbers written without +CC are read in this region (``[crm] default_region``)
    default_region: str = "DE"
    #: trust X-Forwarded-* from a reverse proxy on this machine
    behind_proxy: bool = False
    #: tests: CSRF checks off (the route tests keep them on and send tokens)
    testing: bool = False
    test_connection: ConnectionTester | None = None
    check_settings: SettingsChecker | None = None
    #: "Sign in with Microsoft" for delegated Graph accounts
    graph_signin: GraphSignIn | None = None
    #: names of accounts that come from the config file (shown read-only)
    config_accounts: frozenset[str] = frozenset()
    default_interval_seconds: float = 300.0
    #: Bearer token that lets Prometheus read /metrics without a login (never logged)
    metrics_token: str | None = field(default=None, repr=False)
    #: /healthz says "down" when no worker is alive (a web process alone still expects one)
    expect_worker: bool = True
    #: a worker not seen for this long is dead; an account this far past due is overdue
    worker_grace_seconds: float = 60.0
    overdue_grace_seconds: float = 600.0
    #: how long the sync-run history is kept (the worker prunes it; the status page says so)
    keep_runs_seconds: float = 90 * 86400.0
