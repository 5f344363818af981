"""The web application as ``crmsync serve`` and ``crmsync run`` build it, and the
WSGI server (waitress) that serves it.

``sync`` is the composition root: it turns the config into :class:`WebSettings`
and hands the web view what it may not import itself, such as the adapters
behind the "test connection" button.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
from collections.abc import Callable
from dataclasses import replace
from types import FrameType
from typing import Any

from flask import Flask
from sqlalchemy.orm import Session, sessionmaker

from adapters.errors import SourceError, describe
from crm.secrets import SecretBox, SecretKeyError
from sync.config import AccountConfig, Config, ConfigError
from sync.graphlogin import GraphSignIn
from sync.runner import match_policy
from sync.sources import open_source
from sync.stored import settings_values
from web.app import create_app
from web.settings import ConnectionTestError, WebSettings

log = logging.getLogger(__name__)
THREADS = 8


def secret_box(config: Config) -> SecretBox:
    """The box for stored passwords, with the configured key(s)."""
    try:
        return SecretBox(config.secrets.keys())
    except SecretKeyError as exc:
        raise ConfigError(f"secrets: {exc}") from None


def build_app(config: Config, sessions: sessionmaker[Session]) -> Flask:
    """The web view for ``config``, reading and writing through ``sessions``."""
    box = secret_box(config)
    settings = WebSettings(
        secret_key=box.derive("flask-session"),
        secret_box=box,
        archive_path=config.archive.path,
        match_policy=match_policy(config),
        default_region=config.crm.default_region,
        behind_proxy=config.web.behind_proxy,
        test_connection=lambda kind, values, password: probe(config, kind, values, password),
        check_settings=lambda kind, values: check_settings(config, kind, values),
        graph_signin=GraphSignIn(config, sessions),
        config_accounts=frozenset(a.name for a in config.accounts),
        metrics_token=metrics_token(config),
        keep_runs_seconds=config.sync.keep_runs_seconds,
    )
    return create_app(settings, sessions)


def metrics_token(config: Config) -> str | None:
    """The /metrics Bearer token from the variable ``[web] metrics_token_env`` names."""
    name = config.web.metrics_token_env
    if name is None:
        return None
    token = os.environ.get(name, "").strip()
    if not token:
        raise ConfigError(f"web.metrics_token_env: the environment variable {name} is not set")
    return token


def check_settings(config: Config, kind: str, values: dict[str, Any]) -> list[str]:
    """What the sync would find wrong with these settings of a web account."""
    problems: list[str] = []
    settings_values(kind, values, config.web.file_roots, problems)
    return problems


def probe(config: Config, kind: str, values: dict[str, Any], password: str) -> list[str]:
    """Connect with these settings (as the web view stores them) and name every collection
    the account offers; :class:`ConnectionTestError` with a sentence for the admin when
    that fails."""
    problems: list[str] = []
    checked = settings_values(kind, values, config.web.file_roots, problems)
    if problems:
        raise ConnectionTestError("; ".join(p.removeprefix("settings.") for p in problems))
    account = AccountConfig(name="test", kind=kind, secret=lambda: password, **checked)
    timeout = min(config.sync.timeout_seconds, 20.0)
    try:
        with open_source(account, replace(config.sync, timeout_seconds=timeout)) as source:
            return source.probe()
    except SourceError as exc:
        raise ConnectionTestError(describe(exc).removeprefix("test: ")) from None


def serve(app: Flask, host: str, port: int, on_ready: Callable[[str], None]) -> None:
    """Serve ``app`` with waitress until SIGINT or SIGTERM; ``on_ready`` gets the URL."""
    from waitress import create_server

    server: Any = create_server(app, host=host, port=port, threads=THREADS, ident="crmsync")
    shown = f"[{host}]" if ":" in host else host
    on_ready(f"http://{shown}:{server.effective_port}/")

    def stop(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    # What was loaded at start lives as long as the process: keep the collector off it,
    # or a full collection over it shows as a 50-100 ms pause in some request.
    gc.collect()
    gc.freeze()
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.close()
