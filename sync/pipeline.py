"""Storing batches on a thread of their own while the next batch is fetched and parsed.

Fetching waits on the network, and storing mostly waits on the database (a
PostgreSQL server process, SQLite's C code), so the two overlap even under the
GIL. Batches are stored one at a time, in the order they were pulled, each in
its own transaction with its cursor: exactly-once holds as before. At most one
batch waits in the hand-over, so memory stays bounded (about three batches).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Generic, Self, TypeVar

T = TypeVar("T")
_DONE = object()


class BatchWriter(Generic[T]):
    """Hands items to ``store`` on a writer thread, in order; re-raises its failure.

    ``with BatchWriter(store) as writer: writer.put(item)``. Leaving the block
    waits until every item handed over is stored. An error of ``store`` stops
    the writer and is raised by the next :meth:`put` or at the end of the block;
    an error in the block lets the writer finish what it was given, then
    propagates.
    """

    def __init__(self, store: Callable[[T], None], *, name: str = "batch-writer") -> None:
        self._store = store
        self._queue: queue.Queue[object] = queue.Queue(maxsize=1)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def put(self, item: T) -> None:
        """Queue ``item``; blocks while the writer is still busy with the one before."""
        while True:
            self._raise_if_failed()
            try:
                self._queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._queue.put(_DONE)
        self._thread.join()
        if exc is None:
            self._raise_if_failed()

    def _run(self) -> None:
        while (item := self._queue.get()) is not _DONE:
            if self._error is not None:
                continue  # drain what is still handed over, store nothing more
            try:
                self._store(item)  # type: ignore[arg-type]
            except BaseException as exc:  # handed to the caller's thread
                self._error = exc

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error
