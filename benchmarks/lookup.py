"""Caller ID on a big CRM: server-side time of ``GET /api/v1/lookup`` on PostgreSQL.

Makes a scratch database (dropped afterwards) with ``--customers`` people (default
100,000), each with a phone number and an e-mail address, in 10,000 organizations
owned by 20 staff users, each organization with a switchboard number. Then, for
``--lookups`` stored numbers (default 1,000) picked at random and written in varying
formats ("+49 40 2000123", "0049402000123", "040 2000123", "(040) 200 01 23",
"+49 (0)40-200 01 23", "040/2000123"), times in this process:

- ``http``: Flask's test client's ``GET /api/v1/lookup?phone=...`` with a bearer token
  through the whole app (token check, normalizing, the lookup, the five newest visible
  entries, JSON), which must answer 200 naming the right person;
- ``lookup``: ``crm.lookup.find_caller`` alone (normalizing and the one query);
- ``select``: the reference, the bare indexed
  ``SELECT id FROM contact_points WHERE kind = 'phone' AND value = :e164``.

The three are interleaved in random order per number, after 50 warm-up rounds; p50 and
p95 in ms; ``ratio_lookup_over_select_p95`` says what the joins and normalizing add to
the index lookup. Aim: lookup p95 under 5 ms.

    .venv/bin/python benchmarks/lookup.py [--customers N] [--lookups N] [--pg-url URL]

The last line printed is one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import phonenumbers  # noqa: E402
from sqlalchemy import Engine, bindparam, insert, select, text  # noqa: E402

from benchmarks.imap_ingest import DEFAULT_PG, scratch_database  # noqa: E402
from crm import apitokens, schema  # noqa: E402
from crm.db import make_engine, make_sessionmaker  # noqa: E402
from crm.lookup import caller_query, find_caller  # noqa: E402
from crm.models import ContactPoint, Organization, Person, User, new_uid, utcnow  # noqa: E402
from crm.secrets import SecretBox, generate_key  # noqa: E402
from web.app import create_app  # noqa: E402
from web.settings import WebSettings  # noqa: E402

AIM_P95_MS = 5.0
ORGANIZATIONS = 10_000
USERS = 20
CHUNK = 10_000
#: (area code, subscriber digits, first subscriber number): Hamburg and Berlin
AREAS = (("40", 7, 2_000_000), ("30", 8, 20_000_000))


# --- the data ----------------------------------------------------------------------------


def number_of(i: int) -> tuple[str, str]:
    """The ``i``-th customer's (area code, subscriber number)."""
    area, digits, first = AREAS[i % 2]
    return area, f"{first + i // 2:0{digits}d}"


def written(area: str, sub: str, style: int) -> str:
    """One of six ways people and PBXs write +49 <area> <sub>."""
    pairs = " ".join(sub[i : i + 2] for i in range(0, len(sub), 2))
    return [
        f"+49 {area} {sub}",
        f"0049{area}{sub}",
        f"0{area} {sub}",
        f"(0{area}) {pairs}",
        f"+49 (0){area}-{pairs}",
        f"0{area}/{sub}",
    ][style % 6]


def populate(engine: Engine, customers: int) -> str:
    """The CRM; the admin's API token."""
    now = utcnow()
    with engine.begin() as conn:
        users = [
            {"name": f"staff{u}", "password_hash": "x", "role": "staff", "email": ""}
            for u in range(USERS)
        ]
        users.append({"name": "admin", "password_hash": "x", "role": "admin", "email": ""})
        conn.execute(insert(User), users)
        user_ids = list(conn.scalars(select(User.id).order_by(User.id)))
        orgs = [
            {
                "name": f"Firma {o} GmbH",
                "owner_id": user_ids[o % USERS],
                "uid": new_uid(),
                "created_at": now,
                "updated_at": now,
            }
            for o in range(ORGANIZATIONS)
        ]
        conn.execute(insert(Organization), orgs)
        org_ids = list(conn.scalars(select(Organization.id).order_by(Organization.id)))
        switchboards = [
            {
                "organization_id": org_id,
                "kind": "phone",
                "value": f"+4989{5_000_000 + n:07d}",
                "original": "",
            }
            for n, org_id in enumerate(org_ids)
        ]
        conn.execute(insert(ContactPoint), switchboards)
        for start in range(0, customers, CHUNK):
            stop = min(start + CHUNK, customers)
            people = [
                {
                    "display_name": f"Kundin {i} Petersen",
                    "organization_id": org_ids[i % ORGANIZATIONS] if i % 5 else None,
                    "uid": new_uid(),
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(start, stop)
            ]
            ids = list(
                conn.scalars(
                    insert(Person).returning(Person.id, sort_by_parameter_order=True), people
                )
            )
            points = []
            for i, person_id in zip(range(start, stop), ids, strict=True):
                area, sub = number_of(i)
                points.append(
                    {
                        "person_id": person_id,
                        "kind": "phone",
                        "value": f"+49{area}{sub}",
                        "original": written(area, sub, i),
                    }
                )
                points.append(
                    {
                        "person_id": person_id,
                        "kind": "email",
                        "value": f"kundin{i}@firma{i % ORGANIZATIONS}.example",
                        "original": "",
                    }
                )
            conn.execute(insert(ContactPoint), points)
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
    with make_sessionmaker(engine).begin() as session:
        admin = session.scalars(select(User).where(User.name == "admin")).one()
        return apitokens.create(session, admin, "bench")


# --- the run -----------------------------------------------------------------------------


def _ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 3)


def measure(url: str, customers: int, lookups: int, seed: int) -> dict[str, Any]:
    engine = make_engine(url)
    schema.upgrade(engine)
    started = time.perf_counter()
    token = populate(engine, customers)
    print(f"loaded {customers} customers in {time.perf_counter() - started:.1f} s", flush=True)
    sessions = make_sessionmaker(engine)
    with tempfile.TemporaryDirectory() as tmp:
        settings = WebSettings(
            secret_key=secrets.token_bytes(32),
            secret_box=SecretBox(generate_key()),
            archive_path=Path(tmp) / "archive",
            default_region="DE",
        )
        app = create_app(settings, sessions)
        client = app.test_client()
        headers = {"Authorization": f"Bearer {token}"}
        rng = random.Random(seed)
        with sessions() as session:
            plan = session.execute(
                text(
                    "EXPLAIN "
                    + str(
                        caller_query("+49402000123").compile(
                            engine, compile_kwargs={"literal_binds": True}
                        )
                    )
                )
            ).all()
        print("the lookup's plan:\n  " + "\n  ".join(r[0] for r in plan), flush=True)
        reference = select(ContactPoint.id).where(
            ContactPoint.kind == "phone", ContactPoint.value == bindparam("v")
        )
        times: dict[str, list[float]] = {"http": [], "lookup": [], "select": []}

        def one(i: int, record: bool) -> None:
            area, sub = number_of(i)
            raw = written(area, sub, rng.randrange(6))
            e164 = f"+49{area}{sub}"
            assert phonenumbers.is_valid_number(phonenumbers.parse(e164)), e164
            expected = f"Kundin {i} Petersen"

            def http() -> None:
                response = client.get(
                    "/api/v1/lookup", query_string={"phone": raw}, headers=headers
                )
                assert response.status_code == 200, (raw, response.get_data(as_text=True))
                assert response.json is not None and response.json["person"]["name"] == expected

            def lookup() -> None:
                with sessions() as session:
                    found = find_caller(session, raw, "DE")
                    assert found is not None and found.person is not None, raw
                    assert found.person.name == expected

            def bare() -> None:
                with sessions() as session:
                    assert session.scalars(reference, {"v": e164}).first() is not None

            steps: list[tuple[str, Callable[[], None]]] = [
                ("http", http),
                ("lookup", lookup),
                ("select", bare),
            ]
            rng.shuffle(steps)
            for name, step in steps:
                t0 = time.perf_counter()
                step()
                elapsed = time.perf_counter() - t0
                if record:
                    times[name].append(elapsed)

        for _ in range(50):
            one(rng.randrange(customers), record=False)
        for _ in range(lookups):
            one(rng.randrange(customers), record=True)
    engine.dispose()
    figures: dict[str, Any] = {"customers": customers, "lookups": lookups}
    for name, values in times.items():
        figures[f"{name}_p50_ms"] = _ms(values, 0.5)
        figures[f"{name}_p95_ms"] = _ms(values, 0.95)
    figures["http_mean_ms"] = round(statistics.mean(times["http"]) * 1000, 3)
    figures["ratio_lookup_over_select_p95"] = round(
        figures["lookup_p95_ms"] / figures["select_p95_ms"], 2
    )
    figures["aim_lookup_p95_ms"] = AIM_P95_MS
    figures["aim_met"] = figures["lookup_p95_ms"] < AIM_P95_MS
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--lookups", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("CRMSYNC_TEST_PG", DEFAULT_PG),
        help="a role that may create databases (default: $CRMSYNC_TEST_PG, else %(default)s)",
    )
    args = parser.parse_args()
    with scratch_database(args.pg_url) as url:
        figures = measure(url, args.customers, args.lookups, args.seed)
    for key, value in figures.items():
        print(f"{key}: {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
