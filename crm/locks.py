"""One sync of an account at a time, across threads and processes.

On PostgreSQL an account is held with a session-level advisory lock
(``pg_try_advisory_lock(ACCOUNTS, account_id)``) on a connection kept for the
length of the run: when the process dies, even by SIGKILL, its connection
closes and PostgreSQL lets go of the lock at once, so another worker takes the
account over without waiting for a lease to expire. Which accounts are held,
by anyone, is one query on ``pg_locks``.

On SQLite (one machine) the same is done with POSIX record locks on a file
beside the database, one byte per account id; byte 0 is the worker's own: only
one worker per SQLite database. The kernel drops them when the process ends.
Record locks belong to a process, not a thread, so a lock set per process
keeps two threads of one process apart. An in-memory database has nothing to
share and only the in-process lock.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import make_url

#: the first key of every advisory lock crmsync takes ("CRM1"), the account id the second
ACCOUNTS = 0x43524D31
#: the same for the IMAP IDLE watcher of an account (one worker watches it)
WATCHERS = 0x43524D32
_WORKER_BYTE = 0


class AnotherWorkerError(RuntimeError):
    """A second worker on one SQLite database."""


class AccountLocks:
    """Who may sync which account now; one per process and engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.postgresql = engine.dialect.name == "postgresql"
        self._mutex = threading.Lock()
        self._held: set[tuple[int, int]] = set()
        self._file = _lock_file(engine) if not self.postgresql else None
        self._fd: int | None = None

    @contextlib.contextmanager
    def hold(self, account_id: int, space: int = ACCOUNTS) -> Iterator[bool]:
        """Yield True with the account held until the block ends; False if it is busy
        (another thread or process has it)."""
        key = (space, account_id)
        with self._mutex:
            if key in self._held:
                yield False
                return
            self._held.add(key)
        try:
            if self.postgresql:
                with self._pg_hold(space, account_id) as held:
                    yield held
            else:
                with self._file_hold(self._byte(space, account_id)) as held:
                    yield held
        finally:
            with self._mutex:
                self._held.discard(key)

    def held_elsewhere(self, space: int = ACCOUNTS) -> set[int]:
        """Ids of the accounts some other process holds now (PostgreSQL; empty on SQLite,
        where a try is what tells)."""
        if not self.postgresql:
            return set()
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT objid FROM pg_locks WHERE locktype = 'advisory' AND granted"
                    " AND classid = :space AND objsubid = 2 AND pid <> pg_backend_pid()"
                    " AND database = (SELECT oid FROM pg_database"
                    "                 WHERE datname = current_database())"
                ),
                {"space": space},
            ).scalars()
            mine = {i for s, i in self._held if s == space}
            return {int(i) for i in rows} - mine

    def hold_worker(self) -> None:
        """Take the one-worker lock of a SQLite database for the life of the process;
        :class:`AnotherWorkerError` if another process holds it. PostgreSQL: nothing."""
        if self.postgresql or self._file is None:
            return
        if not self._try_byte(_WORKER_BYTE):
            raise AnotherWorkerError(
                f"another crmsync worker already runs on this SQLite database ({self._file}"
                " is locked); on SQLite one worker runs at a time; use PostgreSQL for several"
            )

    def release_worker(self) -> None:
        if self._file is not None and self._fd is not None:
            fcntl.lockf(self._fd, fcntl.LOCK_UN, 1, _WORKER_BYTE)

    # -- PostgreSQL -----------------------------------------------------------------

    @contextlib.contextmanager
    def _pg_hold(self, space: int, account_id: int) -> Iterator[bool]:
        # autocommit: no transaction is left open while the run lasts, no round trips
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            held = bool(_scalar(conn, "SELECT pg_try_advisory_lock(:s, :i)", space, account_id))
            try:
                yield held
            finally:
                if held:
                    _release(conn, space, account_id)
        finally:
            conn.close()

    # -- SQLite ---------------------------------------------------------------------

    @staticmethod
    def _byte(space: int, account_id: int) -> int:
        return account_id * 2 + (1 if space == WATCHERS else 0) + 1

    @contextlib.contextmanager
    def _file_hold(self, byte: int) -> Iterator[bool]:
        if self._file is None:  # in-memory: the in-process lock is all there is
            yield True
            return
        held = self._try_byte(byte)
        try:
            yield held
        finally:
            if held and self._fd is not None:
                fcntl.lockf(self._fd, fcntl.LOCK_UN, 1, byte)

    def _try_byte(self, byte: int) -> bool:
        if self._fd is None:
            assert self._file is not None
            # opened once and kept: closing any descriptor of the file would drop every
            # record lock this process holds on it
            self._fd = os.open(self._file, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.lockf(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, byte)
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EAGAIN):
                return False
            raise
        return True


def _scalar(conn: Connection, sql: str, space: int, account_id: int) -> object:
    return conn.execute(text(sql), {"s": space, "i": account_id}).scalar()


def _release(conn: Connection, space: int, account_id: int) -> None:
    try:
        _scalar(conn, "SELECT pg_advisory_unlock(:s, :i)", space, account_id)
    except Exception:
        # the connection broke: the server dropped the lock with it; never pool it again
        conn.invalidate()


def _lock_file(engine: Engine) -> Path | None:
    database = make_url(str(engine.url)).database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    return Path(database).with_name(Path(database).name + ".locks")
