"""Server-side time of the web view's heavy pages on a big history, SQLite and PostgreSQL.

For each database it generates (benchmarks/timelinedata.py) a big CRM, by default
100,000 customers and 1,000,000 interactions, and the reference of the same
shape, 1,000 customers and 10,000 interactions, then times in this process,
through Flask's test client logged in as an admin:

- ``customer_page``: ``GET /people/<id>`` and ``GET /organizations/<id>``, half of
  them the customers with the most interactions, half random ones;
- ``timeline_first``: ``GET /timeline``, the admin timeline's first page;
- ``filtered_deep``: ``GET /timeline?direction=inbound&kind=email&until=<8 years
  before the newest mail>`` and the pages its "Older" link leads to;
- ``search``: ``GET /customers?q=...`` for names, domains and words of the mail of
  different frequencies.

Each request is timed around ``client.get`` (the app's whole work: queries,
rendering) and must answer 200. After a few warm-up requests, ``--requests`` per
page kind, interleaved at random; median and p95 in ms. The reference: the same
requests on the small database, as ``ratio_p95_big_over_small_<page>``: how a page
grows with the history. Aim (the issue): p95 under 100 ms for every page on both
databases.

    .venv/bin/python benchmarks/timeline.py [--customers N] [--interactions N]
        [--requests N] [--only sqlite|postgresql] [--workdir DIR] [--keep]

The last line printed is one JSON object of the figures. PostgreSQL needs a role
that may create databases (``--pg-url``, default $CRMSYNC_TEST_PG or
postgresql://postgres@127.0.0.1/test); it is skipped, saying why, when unreachable.
"""

from __future__ import annotations

import argparse
import contextlib
import html
import json
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import querytrace  # noqa: E402
import timelinedata as data  # noqa: E402
from flask.testing import FlaskClient  # noqa: E402
from sqlalchemy import func, select  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from crm.db import make_engine, make_sessionmaker  # noqa: E402
from crm.models import Interaction, Organization, Participant, Person, User  # noqa: E402
from crm.secrets import SecretBox, generate_key  # noqa: E402
from crm.users import add_user  # noqa: E402
from web.app import create_app  # noqa: E402
from web.settings import WebSettings  # noqa: E402

PAGES = ("customer_page", "timeline_first", "filtered_deep", "search")
AIM_P95_MS = 100.0
WARMUP = 5
TOP_CUSTOMERS = 20
DEEP_PAGES = 10  # "Older" links followed from the filtered page
SMALL = (1_000, 10_000)
NAMED = (1, 17, 333, 777)  # people whose full names are searched for
USER, PASSWORD = "bench", "bench-password-1"  # a throwaway database
_OLDER = re.compile(r'<a href="([^"]+)" rel="next"')


# --- what to request --------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One URL to request; ``label`` says which variant of the page it is."""

    page: str
    label: str
    url: str


def customer_targets(session: Session, rng: random.Random) -> list[Target]:
    """The busiest people and organizations, and random ones."""
    out = []
    for kind, column, model, path in (
        ("person", Participant.person_id, Person, "/people"),
        ("org", Participant.organization_id, Organization, "/organizations"),
    ):
        busiest = session.execute(
            select(column, func.count())
            .where(column.is_not(None))
            .group_by(column)
            .order_by(func.count().desc())
            .limit(TOP_CUSTOMERS)
        ).all()
        out += [Target("customer_page", f"top_{kind}", f"{path}/{cid}") for cid, _ in busiest]
        top = busiest[0][1] if busiest else 0
        print(f"  busiest {kind}: {top:,} interactions", flush=True)
        last = session.scalar(select(func.max(model.id))) or 1
        ids = rng.sample(range(1, last + 1), min(TOP_CUSTOMERS * 2, last))
        out += [Target("customer_page", f"random_{kind}", f"{path}/{cid}") for cid in ids]
    return out


def deep_targets(client: FlaskClient, newest: datetime) -> list[Target]:
    """The filtered page 8 years before ``newest``, and the pages its "Older" links lead to."""
    until = (newest - timedelta(days=365 * 8)).date().isoformat()
    url = f"/timeline?direction=inbound&kind=email&until={until}"
    out = [Target("filtered_deep", "until_8y", url)]
    for depth in range(1, DEEP_PAGES + 1):
        found = _OLDER.search(_get(client, url).get_data(as_text=True))
        if found is None:
            break
        url = html.unescape(found.group(1))
        out.append(Target("filtered_deep", f"older_{depth}", url))
    return out


def search_targets(session: Session, seed: int) -> list[Target]:
    """Queries of each kind: names, domains, and mail words by frequency."""
    vocabulary = data.vocabulary(seed)
    business = [w for w in data.words.BUSINESS_WORDS if len(w) > 4]
    names = list(session.scalars(select(Person.display_name).where(Person.id.in_(NAMED))))
    pairs = zip(business[10::50], business[30::50], strict=False)
    queries = {
        "family_name": ["Müller", "Petersen", "Nowak", "Whitfield"],
        "full_name": names or ["Jana Petersen"],
        "domain": ["nordwind-logistik", "kranich", "gmail.com", "falke-bau.de"],
        "word_frequent": ["angebot", "rechnung", "lieferung", "meeting"],
        "word_medium": vocabulary[400:1200:200],
        "word_rare": vocabulary[-5000::1250],
        "two_words": [f"{a} {b}" for a, b in pairs][:4],
        "prefix": [w[:5].lower() for w in business[40:200:40]],
        "absent": ["qqxyzzy", "nirgendwo-gefunden"],
    }
    return [
        Target("search", label, f"/customers?q={quote(q)}")
        for label, qs in queries.items()
        for q in qs
    ]


# --- one database -------------------------------------------------------------------------


@dataclass
class Timings:
    """Request times (ms) per page and per variant of a page."""

    pages: dict[str, list[float]] = field(default_factory=dict)
    labels: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    urls: dict[Target, list[float]] = field(default_factory=dict)

    def add(self, target: Target, ms: float) -> None:
        self.pages.setdefault(target.page, []).append(ms)
        self.labels.setdefault((target.page, target.label), []).append(ms)
        self.urls.setdefault(target, []).append(ms)

    def slowest(self, page: str) -> Target:
        """The target of ``page`` with the slowest median."""
        mine = {t: v for t, v in self.urls.items() if t.page == page}
        return max(mine, key=lambda t: statistics.median(mine[t]))


def make_client(url: str, workdir: Path) -> tuple[FlaskClient, Any]:
    """The app on ``url`` and a test client logged in as an admin; and the engine."""
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    with sessions() as session:
        if session.scalar(select(User.id).where(User.name == USER)) is None:
            add_user(session, USER, PASSWORD, "admin")
            session.commit()
    settings = WebSettings(
        secret_key=os.urandom(32),
        secret_box=SecretBox(generate_key()),
        archive_path=workdir / "archive",
        testing=True,
    )
    client = create_app(settings, sessions).test_client()
    answer = client.post("/login", data={"name": USER, "password": PASSWORD})
    if answer.status_code not in (302, 303):
        raise RuntimeError(f"login failed: {answer.status_code}")
    return client, engine


def _get(client: FlaskClient, url: str) -> Any:
    answer = client.get(url)
    if answer.status_code != 200:
        raise RuntimeError(f"GET {url}: {answer.status_code}")
    return answer


def plan(targets: dict[str, list[Target]], requests: int, rng: random.Random) -> list[Target]:
    """``requests`` per page kind, the variants in turn, all shuffled together."""
    order = []
    for variants in targets.values():
        by_label: dict[str, list[Target]] = {}
        for t in variants:
            by_label.setdefault(t.label, []).append(t)
        labels = sorted(by_label)
        for n in range(requests):
            order.append(rng.choice(by_label[labels[n % len(labels)]]))
    rng.shuffle(order)
    return order


def measure(
    url: str,
    workdir: Path,
    requests: int,
    seed: int,
    *,
    pages: tuple[str, ...] = PAGES,
    explain: bool = False,
) -> Timings:
    """Time ``requests`` requests of each of ``pages`` against the database at ``url``;
    with ``explain``, trace the slowest target of each page kind afterwards."""
    rng = random.Random(seed)
    client, engine = make_client(url, workdir)
    try:
        # no session stays open during requests: on SQLite it would hold the write lock
        with make_sessionmaker(engine)() as session:
            newest = session.scalar(select(func.max(Interaction.occurred_at)))
            targets = {
                "customer_page": customer_targets(session, rng),
                "timeline_first": [Target("timeline_first", "first", "/timeline")],
                "search": search_targets(session, seed),
            }
        assert newest is not None, "no interactions"
        if "filtered_deep" in pages:
            targets["filtered_deep"] = deep_targets(client, newest)
        targets = {page: targets[page] for page in pages}
        for variants in targets.values():
            for t in rng.sample(variants, min(WARMUP, len(variants))):
                _get(client, t.url)
        timings = Timings()
        for target in plan(targets, requests, rng):
            start = time.perf_counter()
            answer = client.get(target.url)
            ms = (time.perf_counter() - start) * 1000
            if answer.status_code != 200:
                raise RuntimeError(f"GET {target.url}: {answer.status_code}")
            timings.add(target, ms)
        if explain:
            for page in pages:
                slow = timings.slowest(page)
                title = f"{engine.dialect.name} {page} ({slow.label}) GET {slow.url}"
                querytrace.report(engine, title, lambda u=slow.url: _get(client, u))
        return timings
    finally:
        engine.dispose()


# --- figures --------------------------------------------------------------------------------


def p95(values: list[float]) -> float:
    """The 95th percentile (inclusive method; the largest value for fewer than 2)."""
    if len(values) < 2:
        return max(values)
    return statistics.quantiles(values, n=100, method="inclusive")[94]


def print_table(title: str, timings: Timings) -> None:
    print(f"{title}", flush=True)
    print(f"  {'page':<32} {'n':>5} {'median ms':>10} {'p95 ms':>9} {'max ms':>9}")
    for page in measured(timings):
        rows = [(page, timings.pages[page])]
        rows += [(f"  {lbl}", v) for (pg, lbl), v in sorted(timings.labels.items()) if pg == page]
        for name, values in rows:
            if values:
                median, high = statistics.median(values), p95(values)
                print(
                    f"  {name:<32} {len(values):>5} {median:>10.1f} {high:>9.1f}"
                    f" {max(values):>9.1f}"
                )


def measured(timings: Timings) -> list[str]:
    """The page kinds that were measured, in the usual order."""
    return [page for page in PAGES if page in timings.pages]


def figures_of(db: str, big: Timings, small: Timings) -> dict[str, float]:
    """The JSON figures of one database."""
    out: dict[str, float] = {}
    for page in measured(big):
        values, ref = big.pages[page], small.pages[page]
        out[f"{db}_{page}_median_ms"] = round(statistics.median(values), 2)
        out[f"{db}_{page}_p95_ms"] = round(p95(values), 2)
        out[f"{db}_small_{page}_median_ms"] = round(statistics.median(ref), 2)
        out[f"{db}_small_{page}_p95_ms"] = round(p95(ref), 2)
        out[f"{db}_ratio_p95_big_over_small_{page}"] = round(p95(values) / p95(ref), 2)
    for (page, label), values in sorted(big.labels.items()):
        out[f"{db}_{page}_{label}_p95_ms"] = round(p95(values), 2)
    return out


def verdicts(db: str, big: Timings) -> list[str]:
    """One line per page: does its p95 meet the aim?"""
    lines = []
    for page in measured(big):
        high = p95(big.pages[page])
        verdict = "ok" if high < AIM_P95_MS else "OVER"
        lines.append(f"[{db}] {page}: p95 {high:.1f} ms, aim < {AIM_P95_MS:.0f} ms: {verdict}")
    return lines


# --- databases ------------------------------------------------------------------------------


@contextlib.contextmanager
def database(db: str, size: str, args: argparse.Namespace, workdir: Path) -> Iterator[str]:
    """A fresh database of kind ``db`` for ``size`` (SQLAlchemy URL)."""
    name = f"crmsync_bench_{os.getpid()}" + ("_small" if size == "small" else "")
    if db == "sqlite":
        with data.sqlite_database(workdir / f"{name}.db", keep=args.keep) as url:
            yield url
    else:
        with data.postgres_database(args.pg_url, name, keep=args.keep) as url:
            yield url


def run_size(
    db: str, size: str, args: argparse.Namespace, workdir: Path, figures: dict[str, Any]
) -> Timings:
    """Generate one database, measure it, print what happened."""
    customers, interactions = (args.customers, args.interactions) if size == "big" else SMALL
    existing = getattr(args, f"{db}_url") if size == "big" else None
    label = f"{db}/{size}"
    with contextlib.ExitStack() as stack:
        url = existing or stack.enter_context(database(db, size, args, workdir))
        if existing is None:
            engine = make_engine(url)
            try:
                stats = data.generate(engine, customers, interactions, args.seed, progress=_quiet)
            finally:
                engine.dispose()
            data.report(label, stats)
            suffix = db if size == "big" else f"{db}_small"
            figures[f"generate_interactions_per_s_{suffix}"] = round(stats.interactions_per_s)
            figures[f"generate_rows_per_s_{suffix}"] = round(stats.rows_per_s)
            figures[f"generate_s_{suffix}"] = round(stats.total_s, 1)
        else:
            print(f"[{label}] measuring the existing database {url}", flush=True)
        load = os.getloadavg()[0]
        timings = measure(
            url, workdir, args.requests, args.seed, pages=args.pages, explain=args.explain
        )
        figures[f"loadavg_1min_{label.replace('/', '_')}"] = round(os.getloadavg()[0], 2)
        print(
            f"[{label}] load average (1 min) before {load:.2f}, after {os.getloadavg()[0]:.2f}"
            f" on {os.cpu_count()} CPUs: other work on the machine skews the figures",
            flush=True,
        )
        if args.keep and existing is None:
            print(f"[{label}] kept: {url}", flush=True)
    print_table(f"[{label}] {customers:,} customers, {interactions:,} interactions", timings)
    return timings


def _quiet(line: str) -> None:
    if not line.startswith("  index "):
        print(line, flush=True)


def _pages(text: str) -> tuple[str, ...]:
    chosen = tuple(p.strip() for p in text.split(",") if p.strip())
    unknown = [p for p in chosen if p not in PAGES]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"choose from {', '.join(PAGES)}")
    return chosen


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000, help="default: 100000")
    parser.add_argument("--interactions", type=int, default=1_000_000, help="default: 1000000")
    parser.add_argument("--requests", type=int, default=250, help="per page kind (250)")
    parser.add_argument("--only", choices=("sqlite", "postgresql"), default=None)
    parser.add_argument("--workdir", type=Path, default=None, help="SQLite files (a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("CRMSYNC_TEST_PG", data.DEFAULT_PG),
        help="a role that may create databases (default: $CRMSYNC_TEST_PG, else %(default)s)",
    )
    parser.add_argument(
        "--pages",
        type=_pages,
        default=PAGES,
        help=f"comma-separated subset of {','.join(PAGES)} (default: all)",
    )
    parser.add_argument(
        "--explain",
        action="store_true",
        help="trace the slowest URL of each page: its statements by time, their plans",
    )
    parser.add_argument("--sqlite-url", default=None, help="measure this big database instead")
    parser.add_argument("--postgresql-url", default=None, help="measure this big database instead")
    args = parser.parse_args(argv)
    if args.requests < 2 or args.customers < 10 or args.interactions < 100:
        parser.error("--requests >= 2, --customers >= 10 and --interactions >= 100, please")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    figures: dict[str, Any] = {
        "customers": args.customers,
        "interactions": args.interactions,
        "requests_per_page": args.requests,
        "small_customers": SMALL[0],
        "small_interactions": SMALL[1],
    }
    notes: list[str] = []
    with contextlib.ExitStack() as stack:
        workdir = args.workdir
        if workdir is None:
            workdir = Path(tempfile.mkdtemp(prefix="crmsync-timeline-"))
            if not args.keep:
                stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        workdir.mkdir(parents=True, exist_ok=True)
        for db in ("sqlite", "postgresql"):
            if args.only not in (None, db):
                continue
            if db == "postgresql" and args.postgresql_url is None:
                problem = data.postgres_problem(args.pg_url)
                if problem:
                    notes.append(f"PostgreSQL skipped: {problem}")
                    print(notes[-1], flush=True)
                    continue
            small = run_size(db, "small", args, workdir, figures)
            big = run_size(db, "big", args, workdir, figures)
            figures.update(figures_of(db, big, small))
            notes += verdicts(db, big)
    for line in notes:
        print(line)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
