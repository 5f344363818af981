"""IMAP ingest throughput of ``crmsync sync`` against a raw IMAP fetch, in one run.

Starts its own Dovecot on loopback, seeds N realistic messages (tests/mailgen.py,
~9 KB each, MULTIAPPEND), then measures:

(a) raw: one imapclient session fetching every message with ``BODY.PEEK[]`` in
    chunks of 500 UIDs: the reference rate (median of 3 runs);
(b) ``crmsync sync`` as a child process ingesting them all, on SQLite and on
    PostgreSQL (a scratch database created and dropped here): messages per second,
    the ratio (b)/(a), and the child's peak RSS;
(c) a no-change re-sync: the whole command, and ``Runner.sync_all()`` in this
    process (the sync work alone: login, EXAMINE, bookkeeping), median of 5.

Aims (the issue): ingest at least a quarter of the raw fetch rate; a no-change
re-sync of 10,000 messages under 0.1 s; peak RSS under 300 MB at 100,000 messages.

    .venv/bin/python benchmarks/imap_ingest.py [--messages N] [--skip-postgres]

The last line printed is one JSON object of the figures. Exit status 1 when a run
did not ingest every message (the figures would not mean what they say).

Peak RSS is the child's ``VmHWM`` (Linux, /proc), polled every 20 ms: the high-water
mark of its own address space. ``ru_maxrss`` from ``wait4`` would be wrong here:
Linux carries the parent's RSS into a child's ``ru_maxrss`` across fork/vfork + exec,
and this process holds all N seeded messages for a while.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # tests.servers.dovecot and tests.mailgen

import psutil  # noqa: E402
import psycopg  # noqa: E402
from imapclient import IMAPClient  # noqa: E402
from psycopg import sql  # noqa: E402
from sqlalchemy import func, select  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from crm.db import make_engine, make_sessionmaker  # noqa: E402
from crm.models import Interaction, SyncRun  # noqa: E402
from sync.config import SyncConfig, load_config  # noqa: E402
from sync.runner import Runner  # noqa: E402
from tests import mailgen  # noqa: E402
from tests.servers.dovecot import DovecotServer  # noqa: E402

USER = "bench"
PASSWORD_ENV = "CRMSYNC_BENCH_IMAP_PASSWORD"  # noqa: S105 (a variable's name)
RAW_CHUNK = 500
RAW_REPEATS = 3
RESYNC_REPEATS = 5
COMMAND_REPEATS = 3
POLL_SECONDS = 0.02
DEFAULT_PG = "postgresql://postgres@127.0.0.1/test"
AIM_RATIO = 0.25
AIM_RESYNC_S = 0.1
AIM_RSS_MB = 300


# --- a measured child process ---------------------------------------------------------


@dataclass
class Child:
    """One finished ``crmsync`` command: wall time, peak RSS, exit status, output."""

    seconds: float
    peak_rss_mb: float | None
    returncode: int
    stdout: str
    stderr: str


def _hwm_kb(pid: int) -> int | None:
    """The process's own RSS high-water mark (VmHWM), else its current RSS."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    try:
        return psutil.Process(pid).memory_info().rss // 1024
    except psutil.Error:
        return None


def run_measured(crmsync: str, config: Path, command: list[str], env: dict[str, str]) -> Child:
    """Run ``crmsync --config CONFIG COMMAND``; time it and poll its peak RSS."""
    peak = 0
    done = threading.Event()
    out_path, err_path = config.with_suffix(".out"), config.with_suffix(".err")
    with out_path.open("w+b") as out, err_path.open("w+b") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            [crmsync, "--config", str(config), *command], stdout=out, stderr=err, env=env
        )

        def poll() -> None:
            nonlocal peak
            while not done.is_set():
                kb = _hwm_kb(proc.pid)
                if kb is not None:
                    peak = max(peak, kb)
                done.wait(POLL_SECONDS)

        watcher = threading.Thread(target=poll, daemon=True)
        watcher.start()
        returncode = proc.wait()
        seconds = time.perf_counter() - start
        done.set()
        watcher.join()
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
    return Child(seconds, peak / 1024 if peak else None, returncode, stdout, stderr)


def checked(child: Child, what: str) -> Child:
    if child.returncode != 0:
        raise RuntimeError(
            f"{what} exited with {child.returncode}\n{child.stdout}\n{child.stderr}".rstrip()
        )
    return child


# --- the reference: a raw fetch ---------------------------------------------------------


def raw_fetch(server: DovecotServer, password: str) -> tuple[float, int, int]:
    """Fetch every INBOX message with BODY.PEEK[]: (seconds, messages, bytes)."""
    start = time.perf_counter()
    client = IMAPClient(server.host, server.port, ssl=False, timeout=60)
    try:
        client.login(USER, password)
        client.select_folder("INBOX", readonly=True)
        uids = client.search("ALL")
        count = total = 0
        for i in range(0, len(uids), RAW_CHUNK):
            response = client.fetch(uids[i : i + RAW_CHUNK], ["BODY.PEEK[]"])
            for data in response.values():
                total += len(data[b"BODY[]"])
                count += 1
        seconds = time.perf_counter() - start
    finally:
        with contextlib.suppress(Exception):
            client.logout()
    return seconds, count, total


# --- crmsync on one database ------------------------------------------------------------


@dataclass
class DbResult:
    """The figures of one database."""

    ingest_s: float
    peak_rss_mb: float | None
    new: int
    skipped: int
    quarantined: int
    stored: int
    resync_command_s: float
    resync_s: float
    resync_runs_s: list[float]
    resync_new: int

    def complete(self, messages: int) -> bool:
        counted = self.new + self.skipped + self.quarantined
        return counted == messages and self.stored == self.new and self.resync_new == 0


def write_config(workdir: Path, url: str, server: DovecotServer, batch_items: int | None) -> Path:
    lines = [
        "[database]",
        f"url = {json.dumps(url)}",
        "",
        "[crm]",
        'internal_domains = ["example.com"]',
        "",
        "[archive]",
        f"path = {json.dumps(str(workdir / 'archive'))}",
        "",
    ]
    if batch_items is not None:
        lines += ["[sync]", f"batch_max_items = {batch_items}", ""]
    lines += [
        "[[accounts]]",
        'name = "bench-imap"',
        'kind = "imap"',
        'owner = "alice"',
        f"host = {json.dumps(server.host)}",
        f"port = {server.port}",
        'security = "none"',
        f"username = {json.dumps(USER)}",
        f"password_env = {json.dumps(PASSWORD_ENV)}",
        'folders = ["INBOX"]',
        "",
    ]
    path = workdir / "config.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _last_run(url: str) -> tuple[SyncRun, int]:
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            run = session.scalars(select(SyncRun).order_by(SyncRun.id.desc()).limit(1)).one()
            stored = session.scalar(select(func.count()).select_from(Interaction)) or 0
            return run, stored
    finally:
        engine.dispose()


def in_process_resync(config_path: Path) -> list[float]:
    """``Runner(config, sessions).sync_all()`` timed in this process, several times."""
    config = load_config(config_path)
    engine = make_engine(config.database.url)
    sessions = make_sessionmaker(engine)
    times = []
    try:
        for _ in range(RESYNC_REPEATS):
            start = time.perf_counter()
            results = Runner(config, sessions).sync_all()
            times.append(time.perf_counter() - start)
            failed = [r for r in results if not r.ok]
            if failed or any(r.ingest.new for r in results):
                raise RuntimeError(f"no-change re-sync was not one: {results!r}")
    finally:
        engine.dispose()
    return times


def bench_database(
    label: str,
    url: str,
    workdir: Path,
    server: DovecotServer,
    crmsync: str,
    env: dict[str, str],
    batch_items: int | None,
) -> DbResult:
    workdir.mkdir(parents=True, exist_ok=True)
    config = write_config(workdir, url, server, batch_items)
    checked(run_measured(crmsync, config, ["init"], env), f"{label}: crmsync init")
    print(f"[{label}] crmsync sync (full ingest) ...", flush=True)
    ingest = checked(run_measured(crmsync, config, ["sync"], env), f"{label}: crmsync sync")
    run, stored = _last_run(url)
    new, skipped, quarantined = run.new_count, run.skipped_count, run.quarantined_count
    print(
        f"[{label}] ingest {ingest.seconds:.2f} s; new {new}, skipped {skipped}, "
        f"quarantined {quarantined}, stored {stored}, status {run.status}",
        flush=True,
    )
    commands = [
        checked(run_measured(crmsync, config, ["sync"], env), f"{label}: crmsync sync (again)")
        for _ in range(COMMAND_REPEATS)
    ]
    resync_new = _last_run(url)[0].new_count
    runs = in_process_resync(config)
    return DbResult(
        ingest_s=ingest.seconds,
        peak_rss_mb=ingest.peak_rss_mb,
        new=new,
        skipped=skipped,
        quarantined=quarantined,
        stored=stored,
        resync_command_s=statistics.median(c.seconds for c in commands),
        resync_s=statistics.median(runs),
        resync_runs_s=runs,
        resync_new=resync_new,
    )


# --- PostgreSQL: a scratch database ------------------------------------------------------


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextlib.contextmanager
def scratch_database(admin_url: str) -> Iterator[str]:
    """Create ``crmsync_bench_<random>`` next to ``admin_url``'s database; drop it after."""
    name = f"crmsync_bench_{secrets.token_hex(4)}"
    with psycopg.connect(_libpq(admin_url), autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(_libpq(admin_url), autocommit=True, connect_timeout=5) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def postgres_problem(admin_url: str) -> str | None:
    """Why PostgreSQL cannot be used, or None."""
    try:
        with psycopg.connect(_libpq(admin_url), connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except (psycopg.Error, ValueError) as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return None


# --- the run ------------------------------------------------------------------------------


def _rate(messages: int, seconds: float | None) -> float | None:
    return round(messages / seconds, 1) if seconds else None


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3f}{unit}" if value < 10 else f"{value:,.1f}{unit}"
    return f"{value:,}{unit}"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000, help="default: 10000")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("CRMSYNC_TEST_PG", DEFAULT_PG),
        help="a role that may create databases (default: $CRMSYNC_TEST_PG, else %(default)s)",
    )
    parser.add_argument("--skip-postgres", action="store_true", help="SQLite only")
    parser.add_argument(
        "--batch-items",
        type=int,
        default=None,
        help=f"[sync] batch_max_items (default: crmsync's, {SyncConfig().batch_max_items})",
    )
    args = parser.parse_args(argv)
    if args.messages < 1:
        parser.error("--messages must be at least 1")
    return args


def find_crmsync() -> str:
    beside = Path(sys.executable).with_name("crmsync")
    found = str(beside) if beside.exists() else shutil.which("crmsync")
    if found is None:
        raise FileNotFoundError("crmsync is not installed next to this Python (pip install -e .)")
    return found


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    n = args.messages
    crmsync = find_crmsync()
    password = secrets.token_urlsafe(16)
    os.environ[PASSWORD_ENV] = password  # for the in-process re-sync
    env = {k: v for k, v in os.environ.items() if k != "CRMSYNC_CONFIG"}
    figures: dict[str, Any] = {"messages": n}
    notes: list[str] = []

    with contextlib.ExitStack() as stack:
        tmp = Path(tempfile.mkdtemp(prefix="crmsync-bench-"))
        stack.callback(shutil.rmtree, tmp, ignore_errors=True)
        server = stack.enter_context(DovecotServer.start())
        server.add_user(USER, password)

        start = time.perf_counter()
        mails = mailgen.messages(n)
        generate_s = time.perf_counter() - start
        total_bytes = sum(len(m) for m in mails)
        print(
            f"generated {n:,} messages, {total_bytes / 1e6:,.1f} MB "
            f"(avg {total_bytes / n / 1000:.1f} KB) in {generate_s:.1f} s",
            flush=True,
        )
        start = time.perf_counter()
        uids = server.append(USER, "INBOX", mails)
        seed_s = time.perf_counter() - start
        del mails
        if len(uids) != n:
            raise RuntimeError(f"appended {len(uids)} messages, not {n}")
        print(f"MULTIAPPEND of {n:,} messages: {seed_s:.1f} s", flush=True)
        figures["seed_append_s"] = round(seed_s, 2)

        raw_runs = []
        for _ in range(RAW_REPEATS):
            raw_s, raw_count, raw_bytes = raw_fetch(server, password)
            if raw_count != n:
                raise RuntimeError(f"raw fetch got {raw_count} messages, not {n}")
            raw_runs.append(raw_s)
            print(
                f"raw BODY.PEEK[] fetch: {raw_s:.2f} s, {n / raw_s:,.0f} msgs/s, "
                f"{raw_bytes / 1e6 / raw_s:,.1f} MB/s",
                flush=True,
            )
        raw_rate = _rate(n, statistics.median(raw_runs))
        figures["raw_fetch_msgs_per_s"] = raw_rate

        results: dict[str, DbResult | None] = {"sqlite": None, "postgres": None}
        sqlite_dir = tmp / "sqlite"
        results["sqlite"] = bench_database(
            "sqlite",
            f"sqlite:///{sqlite_dir / 'crmsync.db'}",
            sqlite_dir,
            server,
            crmsync,
            env,
            args.batch_items,
        )
        if args.skip_postgres:
            notes.append("PostgreSQL skipped (--skip-postgres)")
        elif (problem := postgres_problem(args.pg_url)) is not None:
            notes.append(f"PostgreSQL skipped: unreachable at {_safe(args.pg_url)}: {problem}")
        else:
            with scratch_database(args.pg_url) as url:
                results["postgres"] = bench_database(
                    "postgres", url, tmp / "postgres", server, crmsync, env, args.batch_items
                )

    ok = True
    for label, result in results.items():
        ingest_rate = _rate(n, result.ingest_s) if result else None
        figures[f"ingest_{label}_msgs_per_s"] = ingest_rate
        figures[f"ratio_ingest_over_raw_{label}"] = _ratio(ingest_rate, raw_rate)
        figures[f"peak_rss_{label}_mb"] = round(result.peak_rss_mb, 1) if result else None
        figures[f"resync_nochange_{label}_s"] = round(result.resync_s, 4) if result else None
        figures[f"resync_nochange_command_{label}_s"] = (
            round(result.resync_command_s, 3) if result else None
        )
        # The fixed cost of a command (interpreter, imports, engine, schema check):
        # the no-change command minus the no-change sync work.
        startup = result.resync_command_s - result.resync_s if result else None
        excl = _rate(n, result.ingest_s - startup) if result and startup is not None else None
        figures[f"ingest_{label}_excl_startup_msgs_per_s"] = excl
        figures[f"ratio_ingest_excl_startup_over_raw_{label}"] = _ratio(excl, raw_rate)
        figures[f"startup_{label}_s"] = round(startup, 3) if startup is not None else None
        if result and not result.complete(n):
            ok = False
            notes.append(
                f"{label}: INCOMPLETE: new {result.new} + skipped {result.skipped} + "
                f"quarantined {result.quarantined} != {n}, or stored {result.stored} != new, "
                f"or the re-sync found {result.resync_new} new"
            )
    figures["resync_nochange_command_s"] = figures["resync_nochange_command_sqlite_s"]
    figures["batch_max_items"] = args.batch_items or SyncConfig().batch_max_items
    figures["ingest_complete"] = ok

    report(figures, results, notes)
    print(json.dumps(figures))
    return 0 if ok else 1


def _safe(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def report(figures: dict[str, Any], results: dict[str, DbResult | None], notes: list[str]) -> None:
    n = figures["messages"]
    print()
    print(
        f"crmsync IMAP ingest, {n:,} messages (batch_max_items {figures['batch_max_items']}), "
        f"code at {_revision()}"
    )
    print(f"  {'':34}{'sqlite':>14}{'postgres':>14}")
    rows = [
        ("ingest msgs/s (whole command)", "ingest_{}_msgs_per_s", ""),
        ("ratio ingest/raw (aim >= 0.25)", "ratio_ingest_over_raw_{}", ""),
        ("ingest msgs/s (excl. startup)", "ingest_{}_excl_startup_msgs_per_s", ""),
        ("ratio excl. startup / raw", "ratio_ingest_excl_startup_over_raw_{}", ""),
        ("peak RSS of crmsync sync", "peak_rss_{}_mb", " MB"),
        ("no-change re-sync, in-process", "resync_nochange_{}_s", " s"),
        ("no-change re-sync, command", "resync_nochange_command_{}_s", " s"),
        ("command startup", "startup_{}_s", " s"),
    ]
    raw = _fmt(figures["raw_fetch_msgs_per_s"])
    print(f"  {'raw fetch msgs/s (median of 3)':34}{raw:>14}")
    for title, key, unit in rows:
        cells = [_fmt(figures[key.format(db)], unit) for db in ("sqlite", "postgres")]
        print(f"  {title:34}{cells[0]:>14}{cells[1]:>14}")
    for db, result in results.items():
        if result:
            runs = ", ".join(f"{t:.4f}" for t in result.resync_runs_s)
            print(f"  {db}: in-process re-sync runs (s): {runs}")
    print()
    print("aims:")
    for db in ("sqlite", "postgres"):
        ratio = figures[f"ratio_ingest_over_raw_{db}"]
        if ratio is not None:
            print(f"  {db}: ingest >= 1/4 of raw: {_verdict(ratio >= AIM_RATIO)} ({ratio})")
        resync = figures[f"resync_nochange_{db}_s"]
        if resync is not None:
            at = "" if n == 10_000 else f" (aim is for 10,000; this run has {n:,})"
            ok = resync < AIM_RESYNC_S
            print(f"  {db}: no-change re-sync < {AIM_RESYNC_S} s: {_verdict(ok)} ({resync}){at}")
        rss = figures[f"peak_rss_{db}_mb"]
        if rss is not None:
            at = "" if n == 100_000 else f" (aim is for 100,000; this run has {n:,})"
            print(f"  {db}: peak RSS < {AIM_RSS_MB} MB: {_verdict(rss < AIM_RSS_MB)} ({rss}){at}")
    for note in notes:
        print(f"note: {note}")


def _revision() -> str:
    """The commit measured, and whether the working tree differed from it."""
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown revision"
    return f"{head}{' + uncommitted changes' if dirty else ''}"


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


if __name__ == "__main__":
    sys.exit(main())
