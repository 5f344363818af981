"""Shared fixtures: the database (SQLite and PostgreSQL), real servers, the corpus.

Database tests run twice, on SQLite and on PostgreSQL. PostgreSQL is the
machine's (``$CRMSYNC_TEST_PG``, default ``postgresql://postgres@127.0.0.1/test``);
where none is reachable those runs are skipped with the reason, except under
``CI=true``, where they fail.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from crm import schema
from crm.db import make_engine, make_sessionmaker
from tests.corpus import CORPUS, need

pytest_plugins = [
    "tests.servers.dovecot",
    "tests.servers.browser",
    "tests.servers.crmsync_web",
    "tests.servers.radicale",
    "tests.servers.xandikos",
    "tests.servers.ews",
    "tests.servers.graph",
]

PG_ADMIN_URL = os.environ.get("CRMSYNC_TEST_PG", "postgresql://postgres@127.0.0.1/test")


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The shared corpus of real-world mails, vCards, iCalendar files and DAV bodies."""
    need(CORPUS.is_dir(), f"no corpus at {CORPUS} (set CRMSYNC_CORPUS)")
    return CORPUS


# -- databases -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test copies (migrating costs ~0.2 s, a copy ~1 ms)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    schema.upgrade(engine)
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


def _pg_admin() -> psycopg.Connection | None:
    try:
        return psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError:
        return None


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A migrated PostgreSQL database used as TEMPLATE for one fresh database per test."""
    admin = _pg_admin()
    need(admin is not None, f"PostgreSQL not reachable at {PG_ADMIN_URL} (set CRMSYNC_TEST_PG)")
    assert admin is not None
    name = f"crmsync_tpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    engine = make_engine(_pg_url(name))
    schema.upgrade(engine)
    engine.dispose()
    yield name
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


def _pg_url(database: str) -> str:
    base = PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    return base.rsplit("/", 1)[0] + "/" + database


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated, empty database: SQLite, then PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "crm.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    template = request.getfixturevalue("pg_template")
    name = f"crmsync_t_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin()
    assert admin is not None
    admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield _pg_url(name)
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return make_sessionmaker(engine)


@pytest.fixture
def session(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """A session on a fresh database; the test commits or flushes as it likes."""
    with sessions() as session:
        yield session
