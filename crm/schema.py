"""Creating and upgrading the database schema with Alembic.

``crmsync init`` calls :func:`upgrade`; developers add a migration after
changing crm/models.py with ``python -m crm.schema revision "what changed"``
and set :data:`HEAD` to its revision (a test checks that they agree).
Alembic is imported only where it is needed: every other command checks the
schema with one query, so it starts fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
#: the newest revision in crm/migrations/versions
HEAD = "0011"


def _config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Create the schema, or bring it up to ``revision``."""
    from alembic import command

    cfg = _config()
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None for an empty database)."""
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except DBAPIError:  # no such table: nothing was ever migrated here
        return None


def is_current(engine: Engine) -> bool:
    """True when the database has this code's schema."""
    return current_revision(engine) == HEAD


def head_revision() -> str | None:
    """The newest revision among the migration scripts (reads them all)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config()).get_current_head()


def make_revision(engine: Engine, message: str) -> None:
    """Autogenerate a migration from the difference between models and ``engine``."""
    from alembic import command

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
