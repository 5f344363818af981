"""One ``crmsync worker`` against two, on PostgreSQL, over many IMAP accounts in Dovecot.

Starts its own Dovecot on loopback with ``--accounts`` users (default 100) of
``--messages`` realistic messages each (default 1,000; tests/mailgen.py, ~9 KB each),
then, for one worker and for two (each on a fresh scratch database):

(a) the initial sync: from the first run's start to the last run's end, as the
    database records them (worker start-up and the spread of first runs excluded;
    the wall time from starting the processes is printed too);
(b) a steady-state cycle: every account made due at once, nothing new on the server;
    from the first run's start to the last run's end, and the delay until the first
    run began (the workers' poll, every 2 s).

Prints the speed-up of two workers over one (a / a). Aims (the issue): two workers at
least 1.5x one for the initial sync on this two-core machine; a steady-state cycle
over 100 unchanged accounts under 2 seconds.

It also prints how busy the machine's CPUs were during each initial sync (all
processes: the workers, PostgreSQL and Dovecot share the cores), and from that the
most a second worker could gain here: 1 / (busy share with one worker). A worker
that already keeps the cores busy cannot be sped up by a second one on the same
cores; the speed-up against that ceiling says whether the workers get in each
other's way.

    .venv/bin/python benchmarks/workers.py [--accounts N] [--messages M]

The last line printed is one JSON object of the figures. Exit status 1 when a run did
not store every message exactly once (the figures would not mean what they say).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # tests.*, benchmarks.*

import psutil  # noqa: E402
from sqlalchemy import func, select, update  # noqa: E402

from benchmarks.imap_ingest import DEFAULT_PG, postgres_problem, scratch_database  # noqa: E402
from crm import schema  # noqa: E402
from crm.db import make_engine, make_sessionmaker  # noqa: E402
from crm.models import Account, Interaction, SyncRun, utcnow  # noqa: E402
from tests import mailgen  # noqa: E402
from tests.servers.dovecot import DovecotServer  # noqa: E402
from tests.sync.workers import WorkerProcess, add_users, write_config  # noqa: E402

AIM_SPEEDUP = 1.5
AIM_CYCLE_S = 2.0
TIMEOUT_S = 1800.0


def seed(server: DovecotServer, accounts: int, messages: int) -> list[str]:
    users = add_users(server, "bench", accounts)
    for n, user in enumerate(users):
        server.append(user, "INBOX", mailgen.messages(messages, seed=7, first=n * messages))
    return users


def wait_all_ok(sessions: Any, accounts: int, since: datetime | None = None) -> list[SyncRun]:
    """Block until every account has an ok run (started after ``since``); those runs."""
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        with sessions() as session:
            query = select(SyncRun).where(SyncRun.status == "ok")
            if since is not None:
                query = query.where(SyncRun.started_at >= since)
            runs = list(session.scalars(query))
        if len({run.account_id for run in runs}) >= accounts:
            return runs
        time.sleep(0.25)
    raise TimeoutError("the workers did not sync every account in time")


def span(runs: list[SyncRun]) -> float:
    first = min(run.started_at for run in runs)
    last = max(run.finished_at for run in runs if run.finished_at)
    return (last - first).total_seconds()


def measure(
    workdir: Path, admin_url: str, server: DovecotServer, users: list[str], count: int
) -> dict[str, float]:
    """Initial sync and one steady-state cycle with ``count`` worker processes."""
    with scratch_database(admin_url) as url:
        engine = make_engine(url)
        schema.upgrade(engine)
        sessions = make_sessionmaker(engine)
        config = write_config(workdir, url, server, users)
        began = time.monotonic()
        cpu_before = psutil.cpu_times()
        workers = [WorkerProcess(config, workdir / f"w{count}-{n}.log") for n in range(count)]
        try:
            for worker in workers:
                worker.wait_running()
            initial = wait_all_ok(sessions, len(users))
            wall = time.monotonic() - began
            busy = cpu_busy(cpu_before, psutil.cpu_times())
            with sessions() as session:
                stored = session.scalar(select(func.count()).select_from(Interaction)) or 0
            due = utcnow()
            with sessions.begin() as session:
                session.execute(update(Account).values(next_run_at=due))
            cycle = [r for r in wait_all_ok(sessions, len(users), due) if r.started_at >= due]
            reaction = (min(r.started_at for r in cycle) - due).total_seconds()
            new_in_cycle = sum(r.new_count for r in cycle)
        finally:
            for worker in workers:
                worker.stop()
            engine.dispose()
    print(
        f"{count} worker(s): initial sync {span(initial):.1f} s ({wall:.1f} s wall), "
        f"{stored} mails stored; steady-state cycle {span(cycle):.2f} s "
        f"(first run {reaction:.1f} s after due), {new_in_cycle} new; "
        f"CPUs {busy:.0%} busy during the initial sync"
    )
    return {
        "initial_s": span(initial),
        "initial_wall_s": wall,
        "stored": stored,
        "cycle_s": span(cycle),
        "cycle_reaction_s": reaction,
        "cycle_new": new_in_cycle,
        "cpu_busy": busy,
    }


def cpu_busy(before: Any, after: Any) -> float:
    """The share of all CPUs' time between two ``psutil.cpu_times()`` not spent idle."""
    idle = (after.idle + after.iowait) - (before.idle + before.iowait)
    total = sum(after) - sum(before)
    return 1 - idle / total if total > 0 else 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100)
    parser.add_argument("--messages", type=int, default=1000, help="per account")
    parser.add_argument("--pg", default=DEFAULT_PG, help="admin URL of PostgreSQL")
    args = parser.parse_args(argv)
    problem = postgres_problem(args.pg)
    if problem:
        print(f"PostgreSQL not reachable at {args.pg}: {problem}", file=sys.stderr)
        return 2
    total = args.accounts * args.messages
    with (
        tempfile.TemporaryDirectory(prefix="crmsync-bench-") as tmp,
        DovecotServer.start() as server,
    ):
        started = time.monotonic()
        users = seed(server, args.accounts, args.messages)
        print(
            f"seeded {args.accounts} accounts x {args.messages} messages in "
            f"{time.monotonic() - started:.0f} s"
        )
        one = measure(Path(tmp), args.pg, server, users, 1)
        two = measure(Path(tmp), args.pg, server, users, 2)
    speedup = one["initial_s"] / two["initial_s"]
    ceiling = 1 / one["cpu_busy"] if one["cpu_busy"] else float("inf")
    exact = one["stored"] == two["stored"] == total and one["cycle_new"] == two["cycle_new"] == 0
    print(
        f"speed-up of two workers (initial sync): {speedup:.2f}x (aim >= {AIM_SPEEDUP}x); "
        f"steady-state cycle: {one['cycle_s']:.2f} s with one, {two['cycle_s']:.2f} s with two "
        f"(aim < {AIM_CYCLE_S} s); every mail once: {'yes' if exact else 'NO'}"
    )
    print(
        f"one worker kept the CPUs {one['cpu_busy']:.0%} busy, so a second worker on this "
        f"machine can gain at most {ceiling:.2f}x; it gained {speedup:.2f}x "
        f"({speedup / ceiling:.0%} of that)"
    )
    figures = {
        "accounts": args.accounts,
        "messages_per_account": args.messages,
        "initial_one_worker_s": round(one["initial_s"], 2),
        "initial_two_workers_s": round(two["initial_s"], 2),
        "initial_one_worker_msgs_per_s": round(total / one["initial_s"]),
        "initial_two_workers_msgs_per_s": round(total / two["initial_s"]),
        "ratio_speedup_two_over_one": round(speedup, 2),
        "cpu_busy_one_worker_pct": round(one["cpu_busy"] * 100),
        "cpu_busy_two_workers_pct": round(two["cpu_busy"] * 100),
        "ratio_speedup_ceiling_from_idle_cpu": round(ceiling, 2),
        "cycle_one_worker_s": round(one["cycle_s"], 3),
        "cycle_two_workers_s": round(two["cycle_s"], 3),
        "cycle_reaction_s": round(max(one["cycle_reaction_s"], two["cycle_reaction_s"]), 2),
    }
    print(json.dumps(figures))
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
