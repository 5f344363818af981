"""CalDAV pull of a 5,000-event calendar: crmsync's adapter against vdirsyncer, in one run.

Writes N events (default 5,000; benchmarks/dav_pulldata.py: a tenth recurring, weekly
and monthly, with overrides, EXDATEs and a cancelled occurrence now and then;
attendees, external ones on about 60 %; Windows TZIDs as Outlook writes them, IANA
zones, UTC, all-day) straight into the multifilesystem storage of one Radicale
calendar (tests/servers/radicale.py starts Radicale on a free loopback port; with
``--server xandikos``, tests/servers/xandikos.py a Xandikos over plain HTTP, the files
added to its calendar's git repository in one commit, and every ``radicale_`` figure
below named ``xandikos_``). One
PROPFIND Depth 1 warms Radicale's item cache before anything is timed
(``radicale_first_request_cold_s``), and one sync-collection REPORT without a token
fills its sync history (``radicale_first_sync_collection_cold_s``: Radicale writes a
history entry per object, with an fsync each, the first time a client syncs by token;
left in, it would land on crmsync's first pull and not on vdirsyncer's, which lists
by PROPFIND). Then, ``--repeat`` times, vdirsyncer first every other time (figures
are medians):

- ``crmsync_initial``: a new ``adapters.caldav.CalDavSource``, ``collections()``, and
  every batch of ``pull(calendar, None, BatchLimits())`` iterated (the sync-collection
  REPORT and the calendar-multigets, the parse of every object and the expansion of
  recurring events in the default window). Counted: calendar objects (distinct
  ``remote_id``) and occurrences (records). ``crmsync_initial_pull_only_s`` leaves out
  the discovery of ``collections()``.
- ``crmsync_nochange_pull_ms``: ``pull()`` with the cursor the initial pull stored, on
  the same source (its calendar already resolved): what a scheduled re-sync costs per
  calendar (one getctag PROPFIND Depth 0). Must yield nothing.
  ``radicale_getctag_propfind_ms`` is that PROPFIND sent by plain HTTP (no crmsync
  code): Radicale hashes every item to answer it, so it is the floor of a no-change
  pull here; ``ratio_crmsync_nochange_over_bare_propfind`` is crmsync's time over it.
  ``crmsync_nochange_with_discovery_ms`` is a new source, ``collections()`` and that
  pull. ``radicale_sync_report_nochange_ms`` is a sync-collection REPORT with the
  stored token sent by plain HTTP (what a no-change pull without ctag would cost).
  ``nochange_probes_ms``: each request that might tell "nothing changed" (PROPFIND
  Depth 0 of getetag, getctag, sync-token, getlastmodified; HEAD), and two that cannot
  (OPTIONS, PROPFIND of displayname: what any request costs), by plain HTTP, medians.
- ``vdirsyncer_initial_sync_s``: ``vdirsyncer sync`` as a child process (caldav storage
  -> filesystem storage, a fresh folder and status per repetition, ``vdirsyncer
  discover`` answered yes beforehand, untimed), then ``vdirsyncer_nochange_sync_s``: the
  same command again. Both include the child's interpreter start-up and imports,
  measured on their own as ``vdirsyncer_startup_s`` (``vdirsyncer --version``).

``ratio_crmsync_over_vdirsyncer_initial`` is crmsync's initial pull time over
vdirsyncer's initial sync time (aim: <= 1); ``speedup_vdirsyncer_over_crmsync_initial``
its inverse. ``..._minus_startup`` variants take vdirsyncer's start-up out. Where the
time goes in crmsync's initial pull: ``crmsync_initial_parse_s`` is the time spent in
``adapters.ical.parse_calendar`` during the pull (the adapter's reference to it is
wrapped by a timer), the rest (``crmsync_initial_http_xml_s``) is HTTP, the caldav
library's XML handling and the adapter; ``parse_standalone_s`` parses the same
objects from memory, with nothing else going on.

Aims (issue 6): a no-change pull under 100 ms; an initial pull at least as fast as
vdirsyncer (ratio <= 1).

    .venv/bin/python benchmarks/dav_pull.py [--events N] [--repeat K] [--seed S]
        [--keep DIR] [--server radicale|xandikos]

``--keep DIR`` works in DIR and leaves everything there (Radicale's storage and log,
the vdirsyncer configs, statuses and folders). The last line printed is one JSON
object of the figures; exit status 1 when an answer was wrong (an object missing, a
failure, a no-change pull that yielded something, a vdirsyncer run that failed).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
for _path in (ROOT, BENCH):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import dav_pulldata as data  # noqa: E402

import adapters.caldav as caldav_adapter  # noqa: E402
from adapters.base import BatchLimits  # noqa: E402
from adapters.caldav import CalDavSource  # noqa: E402
from adapters.ical import default_window, parse_calendar  # noqa: E402
from tests.servers.radicale import DavTestServer, RadicaleServer  # noqa: E402
from tests.servers.xandikos import PlainXandikosServer  # noqa: E402

CALENDAR = "meetings"
CALENDAR_NAME = "Meetings"
AIM_NOCHANGE_MS = 100.0
AIM_RATIO = 1.0
NOCHANGE_PER_REPEAT = 5
VDIRSYNCER = Path(sys.executable).with_name("vdirsyncer")
VDIRSYNCER_TIMEOUT = 900.0
WARM_TIMEOUT = 900.0


WrongAnswer = data.WrongAnswer
warm, sync_report, ctag_propfind = data.warm, data.sync_report, data.ctag_propfind


class KeptRadicale(RadicaleServer):
    """Radicale whose temp dir outlives it (``--keep``)."""

    def stop(self) -> None:
        self._terminate()
        if self._http is not None:
            self._http.close()
            self._http = None


class KeptXandikos(PlainXandikosServer):
    """Xandikos (plain HTTP) whose temp dir outlives it (``--keep``)."""

    stop = KeptRadicale.stop


SERVERS: dict[str, tuple[type[DavTestServer], type[DavTestServer]]] = {
    "radicale": (RadicaleServer, KeptRadicale),
    "xandikos": (PlainXandikosServer, KeptXandikos),
}


class ParseTimer:
    """Wraps adapters.caldav's reference to parse_calendar and sums the time spent in it."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.calls = 0
        self._original: Callable[..., Any] = caldav_adapter.parse_calendar

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return self._original(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - start
            self.calls += 1

    @contextlib.contextmanager
    def installed(self) -> Iterator[ParseTimer]:
        self.seconds, self.calls = 0.0, 0
        caldav_adapter.parse_calendar = self  # type: ignore[assignment]
        try:
            yield self
        finally:
            caldav_adapter.parse_calendar = self._original  # type: ignore[assignment]


# --- crmsync ---------------------------------------------------------------------------


def new_source(server: DavTestServer) -> CalDavSource:
    return CalDavSource(
        url=server.url,
        username=server.username,
        password=server.password,
        tls_verify=False,
        account="bench",
    )


def crmsync_round(
    server: DavTestServer, calendar_path: str, events: int, timer: ParseTimer
) -> dict[str, Any]:
    """One initial pull and NOCHANGE_PER_REPEAT no-change pulls; their times."""
    out: dict[str, Any] = {}
    with timer.installed():
        start = time.perf_counter()
        source = new_source(server)
        try:
            collection = next(c for c in source.collections() if c.id == calendar_path)
            listed = time.perf_counter()
            objects: set[str] = set()
            records = failures = batches = 0
            cursor: dict[str, Any] | None = None
            for batch in source.pull(collection, None, BatchLimits()):
                batches += 1
                records += len(batch.records)
                failures += len(batch.failures)
                objects.update(r.remote_id for r in batch.records)
                cursor = batch.cursor
            end = time.perf_counter()
            out["initial_s"] = end - start
            out["initial_pull_only_s"] = end - listed
            out["parse_s"] = timer.seconds
            out["parse_calls"] = timer.calls
            out.update(objects=len(objects), occurrences=records, failures=failures)
            out["batches"] = batches
            if len(objects) != events or failures:
                raise WrongAnswer(
                    f"crmsync's initial pull read {len(objects)} of {events} objects,"
                    f" {failures} failures"
                )
            if cursor is None:
                raise WrongAnswer("crmsync's initial pull stored no cursor")
            out["cursor_kind"] = "sync-token" if cursor.get("token") else "etags"
            out["token"] = cursor.get("token") or ""
            nochange = []
            for _ in range(NOCHANGE_PER_REPEAT):
                start = time.perf_counter()
                extra = list(source.pull(collection, cursor, BatchLimits()))
                nochange.append(time.perf_counter() - start)
                if extra:
                    raise WrongAnswer(f"a no-change pull yielded {len(extra)} batches")
            out["nochange_s"] = nochange
        finally:
            source.close()
        start = time.perf_counter()
        with new_source(server) as fresh:
            collection = next(c for c in fresh.collections() if c.id == calendar_path)
            extra = list(fresh.pull(collection, cursor, BatchLimits()))
        out["nochange_with_discovery_s"] = time.perf_counter() - start
        if extra:
            raise WrongAnswer(f"a no-change pull (new source) yielded {len(extra)} batches")
    return out


# --- vdirsyncer ------------------------------------------------------------------------


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env


def vdirsyncer_config(folder: Path, server: DavTestServer) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "config"
    config.write_text(
        "\n".join(
            [
                "[general]",
                f"status_path = {json.dumps(str(folder / 'status'))}",
                "",
                "[pair bench]",
                'a = "bench_remote"',
                'b = "bench_local"',
                'collections = ["from a"]',
                'conflict_resolution = "a wins"',
                "",
                "[storage bench_remote]",
                'type = "caldav"',
                f"url = {json.dumps(server.url)}",
                f"username = {json.dumps(server.username)}",
                f"password = {json.dumps(server.password)}",
                "",
                "[storage bench_local]",
                'type = "filesystem"',
                f"path = {json.dumps(str(folder / 'calendars'))}",
                'fileext = ".ics"',
                "",
            ]
        ),
        encoding="utf-8",
    )
    return config


def vdirsyncer(config: Path, *args: str, answers: str = "") -> float:
    start = time.perf_counter()
    done = subprocess.run(
        [str(VDIRSYNCER), "-c", str(config), "-v", "WARNING", *args],
        input=answers.encode(),
        capture_output=True,
        env=child_env(),
        timeout=VDIRSYNCER_TIMEOUT,
        check=False,
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise WrongAnswer(
            f"vdirsyncer {' '.join(args)} exited {done.returncode}:"
            f" {done.stderr.decode(errors='replace')[-2000:]}"
        )
    return seconds


def vdirsyncer_round(server: DavTestServer, folder: Path, events: int) -> dict[str, float]:
    shutil.rmtree(folder, ignore_errors=True)
    config = vdirsyncer_config(folder, server)
    vdirsyncer(config, "discover", answers="y\n" * 10)
    initial = vdirsyncer(config, "sync")
    written = len(list((folder / "calendars").rglob("*.ics")))
    if written != events:
        raise WrongAnswer(f"vdirsyncer wrote {written} of {events} objects")
    nochange = vdirsyncer(config, "sync")
    return {"initial_s": initial, "nochange_s": nochange}


def vdirsyncer_startup() -> float:
    times = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run(
            [str(VDIRSYNCER), "--version"], capture_output=True, env=child_env(), check=True
        )
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# --- the run ---------------------------------------------------------------------------


def parse_standalone(files: list[tuple[str, bytes]]) -> tuple[float, int]:
    window = default_window()
    occurrences = 0
    start = time.perf_counter()
    for name, raw in files:
        records, _ = parse_calendar(raw, name, window=window)
        occurrences += len(records)
    return time.perf_counter() - start, occurrences


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _r(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=5000, help="calendar objects (5000)")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions; medians (3)")
    parser.add_argument("--seed", type=int, default=6, help="data seed (6)")
    parser.add_argument("--keep", type=Path, help="work in DIR and leave everything there")
    parser.add_argument("--server", choices=sorted(SERVERS), default="radicale", help="(radicale)")
    args = parser.parse_args(argv)
    if args.events < 1 or args.repeat < 1:
        parser.error("--events and --repeat must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    figures: dict[str, Any] = {
        "events": args.events,
        "repeat": args.repeat,
        "server": args.server,
        "cpus": os.cpu_count(),
        "loadavg_1min_start": round(os.getloadavg()[0], 2),
    }
    notes: list[str] = []
    ok = True
    with contextlib.ExitStack() as stack:
        if args.keep is not None:
            workdir = args.keep.resolve()
            workdir.mkdir(parents=True, exist_ok=True)
        else:
            workdir = Path(tempfile.mkdtemp(prefix="crmsync-davpull-"))
            stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        print(f"working in {workdir}", flush=True)

        start = time.perf_counter()
        made = data.generate(args.events, args.seed, datetime.now(UTC))
        figures["generate_s"] = round(time.perf_counter() - start, 2)
        figures["data"] = dict(sorted(made.counts.items()))
        figures["data_mb"] = round(sum(len(raw) for _, raw in made.files) / 1e6, 2)
        print(f"generated {args.events:,} events: {figures['data']}", flush=True)

        plain, kept = SERVERS[args.server]
        server = (kept if args.keep is not None else plain).start(base_dir=workdir)
        stack.callback(server.stop)
        tag = f"[{args.server}]"
        print(f"{tag} at {server.url} (storage {server.root})", flush=True)
        calendar_url = server.make_calendar(CALENDAR, CALENDAR_NAME)
        calendar_path = server.path(calendar_url)
        if args.server == "xandikos":
            repo = server.root / "data" / calendar_path.strip("/")
            written = data.write_xandikos_calendar(repo, made.files)
        else:
            written = data.write_radicale_calendar(
                server.root / "collections",
                server.username,
                CALENDAR,
                CALENDAR_NAME,
                made.files,
            )
        print(f"{tag} wrote {written:,} objects into {calendar_path}", flush=True)

        crm: list[dict[str, Any]] = []
        vds: list[dict[str, float]] = []
        try:
            figures[f"{args.server}_first_request_cold_s"] = round(
                warm(server, calendar_url, args.events), 2
            )
            print(
                f"{tag} first request (fills its item cache):"
                f" {figures[f'{args.server}_first_request_cold_s']:.2f} s",
                flush=True,
            )
            # Radicale's first sync-collection writes a history entry per object (with an
            # fsync each): a one-time cost of the server that only the first client using
            # sync tokens would pay, so it is paid here, untimed for both clients
            seconds, _ = sync_report(server, calendar_url, "")
            figures[f"{args.server}_first_sync_collection_cold_s"] = round(seconds, 2)
            print(
                f"{tag} first sync-collection REPORT (fills its sync history): {seconds:.2f} s",
                flush=True,
            )
            seconds, occurrences = parse_standalone(made.files)
            figures["parse_standalone_s"] = round(seconds, 3)
            figures["parse_standalone_occurrences"] = occurrences
            print(
                f"[parse] adapters.ical.parse_calendar over the {args.events:,} objects:"
                f" {seconds:.2f} s, {occurrences:,} occurrences",
                flush=True,
            )
            figures["vdirsyncer_startup_s"] = round(vdirsyncer_startup(), 3)
            print(f"[vdirsyncer] start-up: {figures['vdirsyncer_startup_s']:.2f} s", flush=True)

            timer = ParseTimer()
            for rep in range(args.repeat):
                folder = workdir / f"vdirsyncer-{rep + 1}"
                if rep % 2:  # every other round vdirsyncer goes first
                    two = vdirsyncer_round(server, folder, args.events)
                    vds.append(two)
                one = crmsync_round(server, calendar_path, args.events, timer)
                crm.append(one)
                raw = [sync_report(server, calendar_url, one["token"])[0] for _ in range(5)]
                one["raw_sync_report_s"] = _median(raw)
                bare = [ctag_propfind(server, calendar_url) for _ in range(NOCHANGE_PER_REPEAT)]
                one["raw_ctag_propfind_s"] = _median(bare)
                print(
                    f"[{rep + 1}/{args.repeat}] crmsync initial {one['initial_s']:.2f} s"
                    f" ({one['objects']:,} objects, {one['occurrences']:,} occurrences,"
                    f" parse {one['parse_s']:.2f} s, {one['batches']} batches);"
                    f" no-change {_median(one['nochange_s']) * 1000:.1f} ms,"
                    f" with discovery {one['nochange_with_discovery_s'] * 1000:.1f} ms;"
                    f" the bare sync-collection REPORT {one['raw_sync_report_s'] * 1000:.1f} ms,"
                    f" the bare getctag PROPFIND {one['raw_ctag_propfind_s'] * 1000:.1f} ms",
                    flush=True,
                )
                if not rep % 2:
                    two = vdirsyncer_round(server, folder, args.events)
                    vds.append(two)
                print(
                    f"[{rep + 1}/{args.repeat}] vdirsyncer sync {two['initial_s']:.2f} s;"
                    f" no-change sync {two['nochange_s']:.2f} s",
                    flush=True,
                )
            if crm:  # what could tell "nothing changed", by plain HTTP
                probes = data.probe_nochange(server, calendar_url, crm[-1]["token"])
                figures["nochange_probes_ms"] = {k: v["ms"] for k, v in probes.items()}
                for name, found in probes.items():
                    print(f"{tag} no-change probe {name}: {found}", flush=True)
        except WrongAnswer as exc:
            ok = False
            notes.append(f"WRONG ANSWER: {exc}")
            print(notes[-1], flush=True)

        if crm:
            initial = _median([c["initial_s"] for c in crm])
            objects, occurrences = crm[0]["objects"], crm[0]["occurrences"]
            parse_s = _median([c["parse_s"] for c in crm])
            nochange = _median([t for c in crm for t in c["nochange_s"]])
            figures.update(
                {
                    "calendar_objects": objects,
                    "occurrences": occurrences,
                    "crmsync_cursor": crm[0]["cursor_kind"],
                    "crmsync_batches": crm[0]["batches"],
                    "crmsync_initial_s": _r(initial),
                    "crmsync_initial_pull_only_s": _r(
                        _median([c["initial_pull_only_s"] for c in crm])
                    ),
                    "crmsync_initial_objects_per_s": round(objects / initial, 1),
                    "crmsync_initial_occurrences_per_s": round(occurrences / initial, 1),
                    "crmsync_initial_parse_s": _r(parse_s),
                    "crmsync_initial_http_xml_s": _r(
                        _median([c["initial_s"] - c["parse_s"] for c in crm])
                    ),
                    "crmsync_initial_parse_share": round(parse_s / initial, 3),
                    "crmsync_nochange_pull_ms": round(nochange * 1000, 1),
                    "crmsync_nochange_with_discovery_ms": round(
                        _median([c["nochange_with_discovery_s"] for c in crm]) * 1000, 1
                    ),
                    f"{args.server}_sync_report_nochange_ms": round(
                        _median([c["raw_sync_report_s"] for c in crm]) * 1000, 1
                    ),
                    f"{args.server}_getctag_propfind_ms": round(
                        _median([c["raw_ctag_propfind_s"] for c in crm]) * 1000, 1
                    ),
                }
            )
            floor = figures[f"{args.server}_getctag_propfind_ms"]
            if floor > 0:
                figures["ratio_crmsync_nochange_over_bare_propfind"] = round(
                    figures["crmsync_nochange_pull_ms"] / floor, 3
                )
            if occurrences != figures.get("parse_standalone_occurrences"):
                notes.append(
                    f"note: the pull found {occurrences} occurrences, the standalone parse"
                    f" {figures.get('parse_standalone_occurrences')} (window edges move)"
                )
        if vds:
            v_initial = _median([v["initial_s"] for v in vds])
            startup = figures["vdirsyncer_startup_s"]
            figures["vdirsyncer_initial_sync_s"] = _r(v_initial)
            figures["vdirsyncer_initial_objects_per_s"] = round(args.events / v_initial, 1)
            figures["vdirsyncer_nochange_sync_s"] = _r(_median([v["nochange_s"] for v in vds]))
            if crm:
                initial = figures["crmsync_initial_s"]
                figures["ratio_crmsync_over_vdirsyncer_initial"] = round(initial / v_initial, 3)
                figures["speedup_vdirsyncer_over_crmsync_initial"] = round(v_initial / initial, 3)
                if v_initial > startup:
                    figures["ratio_crmsync_over_vdirsyncer_initial_minus_startup"] = round(
                        initial / (v_initial - startup), 3
                    )
                nochange_s = figures["crmsync_nochange_pull_ms"] / 1000
                figures["ratio_crmsync_nochange_over_vdirsyncer_nochange"] = round(
                    nochange_s / figures["vdirsyncer_nochange_sync_s"], 4
                )

        figures["loadavg_1min_end"] = round(os.getloadavg()[0], 2)
        busiest = max(figures["loadavg_1min_start"], figures["loadavg_1min_end"])
        if busiest > (os.cpu_count() or 1):
            notes.append(
                f"load average {busiest:.1f} on {os.cpu_count()} CPUs: other work on this"
                " machine makes every figure slower and noisier than on an idle one"
            )
        figures["complete"] = ok
        if args.keep is not None:
            notes.append(f"kept: {workdir}")
        print()
        for key in (
            "crmsync_initial_s",
            "crmsync_initial_pull_only_s",
            "crmsync_initial_parse_s",
            "crmsync_initial_http_xml_s",
            "crmsync_initial_objects_per_s",
            "crmsync_initial_occurrences_per_s",
            "crmsync_nochange_pull_ms",
            "crmsync_nochange_with_discovery_ms",
            f"{args.server}_sync_report_nochange_ms",
            f"{args.server}_getctag_propfind_ms",
            "ratio_crmsync_nochange_over_bare_propfind",
            "vdirsyncer_initial_sync_s",
            "vdirsyncer_nochange_sync_s",
            "vdirsyncer_startup_s",
            "ratio_crmsync_over_vdirsyncer_initial",
            "speedup_vdirsyncer_over_crmsync_initial",
            "ratio_crmsync_over_vdirsyncer_initial_minus_startup",
        ):
            if key in figures:
                print(f"  {key:<55} {figures[key]}")
        if "crmsync_nochange_pull_ms" in figures:
            met = figures["crmsync_nochange_pull_ms"] < AIM_NOCHANGE_MS
            notes.append(
                f"aim no-change pull < {AIM_NOCHANGE_MS:.0f} ms:"
                f" {figures['crmsync_nochange_pull_ms']} ms, {'met' if met else 'NOT met'}"
            )
        if "ratio_crmsync_over_vdirsyncer_initial" in figures:
            ratio = figures["ratio_crmsync_over_vdirsyncer_initial"]
            notes.append(
                f"aim initial pull / vdirsyncer sync <= {AIM_RATIO:.0f}: {ratio},"
                f" {'met' if ratio <= AIM_RATIO else 'NOT met'}"
            )
    for line in notes:
        print(line)
    print(json.dumps(figures))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
