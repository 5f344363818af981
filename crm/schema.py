"""Creating and upgrading the database schema with Alembic.

``crmsync init`` calls :func:`upgrade`; developers add a migration after
changing crm/models.py with ``python -m crm.schema revision "what changed"``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).with_name("migrations")


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Create the schema, or bring it up to ``revision``."""
    cfg = _config()
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None for an empty database)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    """The newest revision this code knows."""
    return ScriptDirectory.from_config(_config()).get_current_head()


def make_revision(engine: Engine, message: str) -> None:
    """Autogenerate a migration from the difference between models and ``engine``."""
    cfg = _config()
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.revision(cfg, message=message, autogenerate=True)


if __name__ == "__main__":  # python -m crm.schema revision "message" [db-url]
    from crm.db import make_engine

    if len(sys.argv) < 3 or sys.argv[1] != "revision":
        sys.exit('usage: python -m crm.schema revision "message" [database-url]')
    url = sys.argv[3] if len(sys.argv) > 3 else "sqlite:///var/schema-dev.db"
    dev_engine = make_engine(url)
    upgrade(dev_engine)
    make_revision(dev_engine, sys.argv[2])
