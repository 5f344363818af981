"""``crmsync worker``: the scheduled sync without the web view.

Several workers may share one PostgreSQL database (each account is synced by one of
them at a time, see :mod:`sync.scheduler`); on SQLite one runs. SIGTERM or Ctrl-C
stops it: each run in progress ends after its current batch, which is committed,
and the process exits within ``[sync] stop_timeout``. A run still busy then (a
server that does not answer) is cut off; its uncommitted batch is fetched again
by the next run, so nothing is lost or stored twice.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType
from typing import TYPE_CHECKING

import click

from crm.locks import AnotherWorkerError
from sync.clicontext import Context, _user_errors

if TYPE_CHECKING:
    from sync.scheduler import Worker

log = logging.getLogger(__name__)


def register(main: click.Group) -> None:
    """Add the command to the ``crmsync`` group."""
    main.add_command(worker_cmd)


@click.command("worker")
@click.option(
    "--threads",
    type=click.IntRange(1, 64),
    help="accounts synced at once (default: 1 on SQLite, 8 on PostgreSQL)",
)
@click.pass_obj
def worker_cmd(obj: Context, threads: int | None) -> None:
    """Run the scheduled sync of every enabled account (no web view: see `crmsync serve`)."""
    from sync.scheduler import Worker

    with _user_errors():
        sessions = obj.sessions()
        worker = Worker(obj.config, sessions, max_workers=threads)
    stop = threading.Event()
    with stop_signals(stop):
        start(worker)
        click.echo(f"crmsync worker {worker.name} is running (SIGTERM or Ctrl-C stops it)")
        sys.stdout.flush()
        while not stop.wait(1.0):
            pass
        click.echo("stopping: runs in progress finish their batch ...", err=True)
        finish(worker, obj.config.sync.stop_timeout_seconds)


def start(worker: Worker) -> None:
    """Start ``worker``; a second worker on one SQLite database is refused in words."""
    try:
        worker.start()
    except AnotherWorkerError as exc:
        raise click.ClickException(str(exc)) from None


def finish(worker: Worker, timeout: float) -> None:
    """Stop ``worker`` within ``timeout`` seconds; cut off what is still running then."""
    left = worker.shutdown(wait=True, timeout=timeout)
    if left:
        click.echo(
            f"{', '.join(left)} still running after {timeout:g} s: cut off (their current"
            " batch is fetched again by the next run)",
            err=True,
        )
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        # the pool's threads would be waited for at exit: leave without them
        os._exit(0)


@contextlib.contextmanager
def stop_signals(event: threading.Event) -> Iterator[None]:
    """Set ``event`` on SIGTERM and SIGINT while inside (a second one exits at once: do
    not wait any longer); the old handlers after."""

    def handle(_signum: int, _frame: FrameType | None) -> None:
        if event.is_set():
            os._exit(1)
        event.set()

    old = {signum: signal.signal(signum, handle) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for signum, handler in old.items():
            signal.signal(signum, handler)
