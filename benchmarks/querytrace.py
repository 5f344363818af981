"""Which SQL statements a request runs, how long each takes, and the plan of the slowest.

Used by benchmarks/timeline.py ``--explain``: it hooks SQLAlchemy's cursor events on
the app's engine, runs one request, and prints the statements by time with the
database's plan (``EXPLAIN QUERY PLAN`` on SQLite, ``EXPLAIN (ANALYZE, BUFFERS)`` on
PostgreSQL) of the slowest ones.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, event


@dataclass
class Statement:
    """One executed statement: its SQL, parameters and time."""

    sql: str
    params: Any
    ms: float
    many: bool


@dataclass
class Trace:
    """The statements of one traced stretch of work."""

    statements: list[Statement] = field(default_factory=list)
    _start: float = 0.0

    @property
    def total_ms(self) -> float:
        return sum(s.ms for s in self.statements)

    def slowest(self, count: int) -> list[Statement]:
        return sorted(self.statements, key=lambda s: s.ms, reverse=True)[:count]


@contextmanager
def traced(engine: Engine) -> Iterator[Trace]:
    """Record every statement ``engine`` runs inside the block."""
    trace = Trace()

    def before(_conn: Any, _cursor: Any, _sql: str, _params: Any, _ctx: Any, _many: bool) -> None:
        trace._start = time.perf_counter()

    def after(_conn: Any, _cursor: Any, sql: str, params: Any, _ctx: Any, many: bool) -> None:
        ms = (time.perf_counter() - trace._start) * 1000
        trace.statements.append(Statement(sql, params, ms, many))

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        yield trace
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)


def explain(engine: Engine, statement: Statement) -> list[str]:
    """The plan of ``statement`` as the database reports it, one line per row."""
    if statement.many or not statement.sql.lstrip().upper().startswith("SELECT"):
        return []
    postgresql = engine.dialect.name == "postgresql"
    prefix = "EXPLAIN (ANALYZE, BUFFERS) " if postgresql else "EXPLAIN QUERY PLAN "
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(prefix + statement.sql, statement.params).all()
    if postgresql:
        return [row[0] for row in rows]
    return [f"{'  ' * _depth(rows, row)}{row[-1]}" for row in rows]


def _depth(rows: list[Any], row: Any) -> int:
    """Nesting of an EXPLAIN QUERY PLAN row (id, parent, notused, detail)."""
    parents = {r[0]: r[1] for r in rows}
    depth, parent = 0, row[1]
    while parent in parents:
        depth, parent = depth + 1, parents[parent]
    return depth


def report(
    engine: Engine,
    title: str,
    run: Callable[[], Any],
    *,
    plans: int = 2,
    printer: Callable[[str], None] = print,
) -> Trace:
    """Run ``run`` traced; print its statements by time and the plans of the slowest."""
    start = time.perf_counter()
    with traced(engine) as trace:
        run()
    wall = (time.perf_counter() - start) * 1000
    printer(
        f"--- {title}: {wall:.1f} ms in all, {len(trace.statements)} statements,"
        f" {trace.total_ms:.1f} ms in the database"
    )
    for s in trace.slowest(8):
        printer(f"  {s.ms:8.1f} ms  {_one_line(s.sql)[:300]}")
    for s in trace.slowest(plans):
        printer(f"  plan of the {s.ms:.1f} ms statement:")
        printer("    " + _one_line(s.sql))
        printer(f"    params: {str(s.params)[:300]}")
        for line in explain(engine, s):
            printer(f"      {line}")
    return trace


def _one_line(sql: str) -> str:
    return " ".join(sql.split())
