"""What every ``crmsync`` command shares: the config, the database, and how a problem
that a person can fix is reported."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import click
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from crm import schema
from crm.db import make_engine, make_sessionmaker
from sync.config import Config, ConfigError, find_config_path, load_config


@dataclass
class Context:
    """What every command needs: the config and, opened on demand, the database."""

    config_arg: str | None
    _config: Config | None = None
    _engine: Engine | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(find_config_path(self.config_arg))
        return self._config

    def sessions(self, *, migrate: bool = False) -> sessionmaker[Session]:
        engine = self._engine = make_engine(self.config.database.url)
        if migrate:
            _ensure_sqlite_dir(self.config.database.url)
            schema.upgrade(engine)
        elif not schema.is_current(engine):
            raise click.ClickException(
                "the database is not initialised or is outdated: run `crmsync init`"
            )
        return make_sessionmaker(engine)

    def close(self) -> None:
        """Close the database connections when the command is done."""
        if self._engine is not None:
            self._engine.dispose()


def _ensure_sqlite_dir(url: str) -> None:
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)


@contextmanager
def _user_errors() -> Iterator[None]:
    """Turn the errors a person can fix into a message and exit status 2."""
    try:
        yield
    except ConfigError as exc:
        where = f" in {exc.source}" if exc.source else ""
        click.echo(f"configuration problems{where}:\n{exc}", err=True)
        sys.exit(2)


def cli_actor() -> str:
    """Who the audit log names for a command: ``cli:<login name>``."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name (a container without an /etc/passwd entry)
        return "cli"
