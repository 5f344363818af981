"""The batch writer: stores in order, stops at its first failure, never drops a handed batch."""

from __future__ import annotations

import threading

import pytest

from sync.pipeline import BatchWriter


def test_stores_everything_in_order_on_another_thread() -> None:
    stored: list[tuple[int, str]] = []
    with BatchWriter(lambda i: stored.append((i, threading.current_thread().name))) as writer:
        for i in range(50):
            writer.put(i)
    assert [i for i, _ in stored] == list(range(50))
    assert {name for _, name in stored} == {"batch-writer"}


def test_a_failing_store_stops_the_pull_and_stores_nothing_after() -> None:
    stored: list[int] = []

    def store(i: int) -> None:
        if i == 3:
            raise RuntimeError("database went away")
        stored.append(i)

    handed: list[int] = []

    def pull() -> None:
        with BatchWriter(store) as writer:
            for i in range(100):
                writer.put(i)
                handed.append(i)

    with pytest.raises(RuntimeError, match="database went away"):
        pull()
    assert stored == [0, 1, 2]
    assert len(handed) < 100  # the pull stopped soon after the failure


def test_a_failing_pull_still_stores_what_it_handed_over() -> None:
    stored: list[int] = []

    def pull() -> None:
        with BatchWriter(stored.append) as writer:
            for i in range(5):
                writer.put(i)
            raise ConnectionError("server gone mid-folder")

    with pytest.raises(ConnectionError):
        pull()
    assert stored == [0, 1, 2, 3, 4]
