"""Engines and sessions: SQLite (the embedded default) and PostgreSQL."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from crm import changes

log = logging.getLogger(__name__)
#: execution option: this transaction writes (SQLite begins it IMMEDIATE)
WRITES = "crmsync_writes"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and a busy timeout."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, **kwargs)
    # Kept connections: the web view's threads, or a worker's runs, each with the
    # connection that holds its account (crm.locks). A connection beyond the pool is
    # closed when returned, and a new PostgreSQL backend costs milliseconds of CPU and
    # starts with cold caches: churning them cost a worker half of PostgreSQL's time.
    kwargs.setdefault("pool_size", 12)
    kwargs.setdefault("max_overflow", 12)
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _sqlite_engine(url: str, **kwargs: Any) -> Engine:
    engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        # WAL lets the web process read while the worker writes; foreign keys are
        # off by default in SQLite (https://www.sqlite.org/foreignkeys.html).
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
        # Python's sqlite3 begins transactions on its own and not before a SAVEPOINT,
        # so a savepoint's release would commit everything. We begin them ourselves:
        # https://docs.sqlalchemy.org/en/20/dialects/sqlite.html#serializable-isolation-savepoints-transactional-ddl
        dbapi_conn.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get(WRITES, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


def will_write(session: Session) -> Session:
    """Mark the session's next transaction as one that writes; call before its first query.

    On SQLite it then begins IMMEDIATE, taking the write lock at the start and waiting
    (busy timeout) for another writer to finish. A deferred transaction that reads first
    and writes later fails at once with "database is locked" when another connection
    wrote in between (SQLITE_BUSY_SNAPSHOT, where the busy timeout does not apply): what
    the web view and the scheduler in one ``crmsync run`` would otherwise do to each
    other. Readers stay deferred, so they never wait for a writer (WAL).
    PostgreSQL ignores the mark.
    """
    session.connection(execution_options={WRITES: True})
    return session


def is_postgresql(session_or_engine: Session | Engine) -> bool:
    """True when the database behind it is PostgreSQL."""
    bind = (
        session_or_engine.get_bind()
        if isinstance(session_or_engine, Session)
        else session_or_engine
    )
    return bind.dialect.name == "postgresql"


changes.install()
