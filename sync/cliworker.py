"""``crmsync worker``: the scheduled sync without the web view.

Several workers may share one PostgreSQL database (each account is synced by one of
them at a time, see :mod:`sync.scheduler`); on SQLite one runs. SIGTERM or Ctrl-C
stops it: each run in progress ends after its current batch, which is committed,
and the process exits within ``[sync] stop_timeout``. A run still busy then (a
server that does not answer) is cut off; its uncommitted batch is fetched again
by the next run, so nothing is lost or stored twice.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
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


class stop_signals:
    """Set ``event`` on SIGTERM and SIGINT while inside; the old handlers after."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event
        self._old: dict[int, object] = {}

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.event.is_set():  # a second Ctrl-C: do not wait any longer
            os._exit(1)
        self.event.set()

    def __enter__(self) -> stop_signals:
        for signum in (signal.SIGTERM, signal.SIGINT):
            self._old[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *_exc: object) -> None:
        for signum, handler in self._old.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
