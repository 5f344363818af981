"""CardDAV sync of the customer address book: crmsync against Radicale, in one run.

Builds N customers (default 10,000 cards: about a sixth organizations, the rest people
with 1-3 e-mail addresses and 1-3 phone numbers, non-ASCII names, values that need
escaping and folding; benchmarks/carddavdata.py) through the ORM in a fresh crmsync
database, serves them with ``crmsync serve`` (a child process on a free loopback
port, HTTP Basic with an app password), and serves the very same vCards (crmsync's
rendered vCard 3.0, written into Radicale's multifilesystem storage directly) with
Radicale (``python -m radicale``, htpasswd auth, owner_only rights, its defaults
otherwise). Each server's first request is timed separately (``first_request_cold``:
crmsync renders its cards, Radicale parses every file into its item cache); one
untimed full sync warms both. Then, alternating between the servers:

- ``full_sync``: what vdirsyncer 0.21 does (vdirsyncer/storage/dav.py, the same request
  bodies and headers): PROPFIND Depth 1 of the address book for resourcetype,
  getcontenttype and getetag, then addressbook-multiget REPORTs of the listed hrefs for
  getetag and address-data. vdirsyncer 0.21 does not batch: it asks for every href it
  lacks in ONE multiget. ``--batch`` adds batched variants (default 10, what DAVx5 sends
  per multiget: ``full_sync_batch10_*``); ``--batch 0`` leaves them out.
- ``sync_nochange``: an RFC 6578 sync-collection REPORT (Depth 0, sync-level 1,
  getetag) with the token of a previous sync, when nothing changed.
- ``sync_one_change``: one person's note is changed through the ORM (crmsync) and the
  same new card is PUT to Radicale (both untimed); then the sync-collection REPORT with
  the previous token, which must name exactly that card, plus the addressbook-multiget
  of it. ``sync_one_change_report`` is the sync-collection REPORT alone. For crmsync this
  includes rendering the changed card, which it does lazily at the first request after
  a change.

Times are client-side wall times of the HTTP exchanges (request sent to response
body read), summed over a sync's requests; the client's XML parsing and the checks of
the answers (every card listed once, the multiget's ETags equal the listing's, each
card a vCard) happen between and after the requests and are not counted. Full syncs
are repeated ``--repeat`` times (default 5), the small syncs 4 times as often; the
figures are medians. Both servers are reached through one ``http.client``
connection each, kept alive where the server allows: crmsync (waitress) keeps it;
Radicale's built-in server answers HTTP/1.0 and closes after every request, so each
Radicale request includes a loopback TCP connect (tens of microseconds; counted in
``radicale_connects``).

Aims (issue 5): a full sync at least 5 times faster than Radicale
(``speedup_full_sync_radicale_over_crmsync_*`` >= 5); a sync after one change under
20 ms (``sync_one_change_crmsync_*_ms``).

    .venv/bin/python benchmarks/carddav.py [--customers N] [--repeat K] [--batch B]
        [--postgresql-url URL] [--keep DIR] [--only crmsync|radicale]

crmsync runs on SQLite always; with ``--postgresql-url`` (a role that may create
databases, such as postgresql://postgres@127.0.0.1/test) also on PostgreSQL, in a
scratch database ``crmsync_bench_carddav_<pid>`` created next to it with the same
customers (the same UIDs) and dropped afterwards; without the option PostgreSQL is
skipped. ``--keep DIR`` works in DIR and leaves everything there (config files,
SQLite database, Radicale's storage, server logs; and the PostgreSQL database).
``--only radicale`` measures Radicale alone (the cards are then rendered in this
process). The last line printed is one JSON object of the figures; exit status 1 when
an answer was wrong (the figures would not mean what they say).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urljoin, urlsplit

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
for _path in (ROOT, BENCH):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import carddavdata as data  # noqa: E402
import defusedxml.ElementTree as SafeET  # noqa: E402
import timelinedata  # noqa: E402
from defusedxml import DefusedXmlException  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.orm import Session, sessionmaker  # noqa: E402

from crm import cards  # noqa: E402
from crm.db import make_engine, make_sessionmaker, will_write  # noqa: E402

BOOK = "customers"
BOOK_NAME = "All customers"
AIM_SPEEDUP = 5.0
AIM_ONE_CHANGE_MS = 20.0
SMALL_SYNC_FACTOR = 4  # the cheap syncs are repeated this many times as often
DEFAULT_BATCH = 10  # DAVx5's MAX_MULTIGET_RESOURCES
USERAGENT = "vdirsyncer/0.21.0"
START_TIMEOUT = 60.0
_CRMSYNC_URL = re.compile(r"serving the web view at (http://\S+)")

# --- the requests (bodies as vdirsyncer 0.21 and RFC 6578 clients send them) -------------

# vdirsyncer/storage/dav.py, DAVStorage.list()
LIST_BODY = b"""<?xml version="1.0" encoding="utf-8" ?>
            <propfind xmlns="DAV:">
                <prop>
                    <resourcetype/>
                    <getcontenttype/>
                    <getetag/>
                </prop>
            </propfind>
            """
# vdirsyncer/storage/dav.py, CardDAVStorage.get_multi_template (vCard 3.0)
MULTIGET_TEMPLATE = """<?xml version="1.0" encoding="utf-8" ?>
            <C:addressbook-multiget xmlns="DAV:"
                    xmlns:C="urn:ietf:params:xml:ns:carddav">
                <prop>
                    <getetag/>
                    <C:address-data />
                </prop>
                {hrefs}
            </C:addressbook-multiget>"""
TOKEN_BODY = b"""<?xml version="1.0" encoding="utf-8" ?>
<propfind xmlns="DAV:" xmlns:CS="http://calendarserver.org/ns/">
  <prop><sync-token/><CS:getctag/></prop>
</propfind>"""
# RFC 6578, section 3.2 (what DAVx5 sends, without its optional limit)
SYNC_TEMPLATE = """<?xml version="1.0" encoding="utf-8" ?>
<sync-collection xmlns="DAV:">
  <sync-token>{token}</sync-token>
  <sync-level>1</sync-level>
  <prop><getetag/></prop>
</sync-collection>"""
XML_HEADERS = {"Content-Type": "application/xml; charset=UTF-8"}

D = "{DAV:}"
CARD = "{urn:ietf:params:xml:ns:carddav}"


class WrongAnswer(Exception):
    """A server answered something a client could not sync with."""


# --- HTTP ---------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float


class Dav:
    """One DAV server as one client sees it: one HTTP connection, Basic auth."""

    def __init__(self, label: str, url: str, user: str, password: str, book: str) -> None:
        parts = urlsplit(url)
        self.label = label
        self.url = url
        self.book = book  # path of the address book, ending in "/"
        self.connection = http.client.HTTPConnection(
            parts.hostname or "127.0.0.1", parts.port or 80, timeout=600
        )
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        self.headers = {"Authorization": f"Basic {token}", "User-Agent": USERAGENT}
        self.connects = 0

    def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> Answer:
        if self.connection.sock is None:
            self.connects += 1
        start = time.perf_counter()
        self.connection.request(
            method, path, body=body, headers={**self.headers, **(headers or {})}
        )
        response = self.connection.getresponse()
        payload = response.read()
        seconds = time.perf_counter() - start
        return Answer(
            response.status, {k.lower(): v for k, v in response.getheaders()}, payload, seconds
        )

    def expect(self, answer: Answer, status: int, what: str) -> Answer:
        if answer.status != status:
            raise WrongAnswer(
                f"{self.label}: {what}: {answer.status} instead of {status}:"
                f" {answer.body[:500].decode('utf-8', 'replace')}"
            )
        return answer

    def normalize(self, href: str) -> str:
        """An href as vdirsyncer keeps it: the path, unquoted and quoted again."""
        path = urlsplit(urljoin(self.url, href)).path
        return quote(unquote(path), "/@")

    def close(self) -> None:
        self.connection.close()


def _xml(answer: Answer, label: str, what: str) -> ET.Element:
    try:
        return SafeET.fromstring(answer.body)
    except (ET.ParseError, DefusedXmlException) as exc:
        raise WrongAnswer(f"{label}: {what}: not XML ({exc})") from None


def _props(response: ET.Element) -> ET.Element | None:
    """The response's prop elements merged, as vdirsyncer's _merge_xml does."""
    props = response.findall(f"{D}propstat/{D}prop")
    if not props:
        return None
    merged = ET.Element(f"{D}prop")
    for prop in props:
        merged.extend(list(prop))
    return merged


# --- syncs --------------------------------------------------------------------------------


@dataclass
class FullSync:
    seconds: float
    propfind_s: float
    multiget_s: float
    requests: int
    response_bytes: int
    cards: dict[str, tuple[str, str]]  # href -> (etag, vCard)


def listing(dav: Dav, answer: Answer) -> dict[str, str]:
    """href -> ETag of the cards in a PROPFIND Depth 1 answer, filtered as vdirsyncer
    filters (no collections, an ETag, a vCard content type)."""
    out: dict[str, str] = {}
    for response in _xml(answer, dav.label, "PROPFIND Depth 1").iter(f"{D}response"):
        href_el = response.find(f"{D}href")
        if href_el is None or not href_el.text:
            raise WrongAnswer(f"{dav.label}: PROPFIND: a response without href")
        href = dav.normalize(href_el.text)
        props = _props(response)
        if props is None or props.find(f"{D}resourcetype/{D}collection") is not None:
            continue
        etag = props.findtext(f"{D}getetag") or ""
        if not etag:
            raise WrongAnswer(f"{dav.label}: PROPFIND: {href} has no getetag")
        ctype = props.findtext(f"{D}getcontenttype")
        if ctype is not None and "vcard" not in ctype:
            raise WrongAnswer(f"{dav.label}: PROPFIND: {href} has content type {ctype!r}")
        if href in out:
            raise WrongAnswer(f"{dav.label}: PROPFIND: {href} listed twice")
        out[href] = etag
    return out


def multiget_body(hrefs: list[str]) -> bytes:
    return MULTIGET_TEMPLATE.format(hrefs="\n".join(f"<href>{h}</href>" for h in hrefs)).encode()


def multiget_cards(dav: Dav, answer: Answer) -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    for response in _xml(answer, dav.label, "addressbook-multiget").iter(f"{D}response"):
        href = dav.normalize(response.findtext(f"{D}href") or "")
        props = _props(response)
        if props is None:
            raise WrongAnswer(f"{dav.label}: multiget: no properties for {href}")
        etag = props.findtext(f"{D}getetag") or ""
        vcard = props.findtext(f"{CARD}address-data") or ""
        if not etag or not vcard.startswith("BEGIN:VCARD"):
            raise WrongAnswer(f"{dav.label}: multiget: {href}: ETag {etag!r}, data {vcard[:40]!r}")
        out[href] = (etag, vcard)
    return out


def full_sync(dav: Dav, batch: int, expected: int) -> FullSync:
    """PROPFIND Depth 1, then the multigets; checked after."""
    listed_answer = dav.expect(
        dav.request("PROPFIND", dav.book, LIST_BODY, {**XML_HEADERS, "Depth": "1"}),
        207,
        "PROPFIND Depth 1",
    )
    listed = listing(dav, listed_answer)
    hrefs = list(listed)
    chunks = [hrefs] if batch <= 0 else [hrefs[i : i + batch] for i in range(0, len(hrefs), batch)]
    answers = [
        dav.expect(
            dav.request("REPORT", dav.book, multiget_body(chunk), XML_HEADERS),
            207,
            "addressbook-multiget",
        )
        for chunk in chunks
    ]
    got: dict[str, tuple[str, str]] = {}
    for answer in answers:
        got.update(multiget_cards(dav, answer))
    if len(listed) != expected:
        raise WrongAnswer(f"{dav.label}: PROPFIND listed {len(listed)} cards, not {expected}")
    if set(got) != set(listed):
        missing, extra = set(listed) - set(got), set(got) - set(listed)
        raise WrongAnswer(
            f"{dav.label}: multiget: {len(missing)} listed cards missing, {len(extra)} unasked"
        )
    differ = [h for h, (etag, _) in got.items() if etag != listed[h]]
    if differ:
        raise WrongAnswer(
            f"{dav.label}: {len(differ)} ETags differ between PROPFIND and multiget,"
            f" e.g. {differ[0]}"
        )
    multiget_s = sum(a.seconds for a in answers)
    return FullSync(
        seconds=listed_answer.seconds + multiget_s,
        propfind_s=listed_answer.seconds,
        multiget_s=multiget_s,
        requests=1 + len(answers),
        response_bytes=len(listed_answer.body) + sum(len(a.body) for a in answers),
        cards=got,
    )


def sync_token(dav: Dav) -> str:
    answer = dav.expect(
        dav.request("PROPFIND", dav.book, TOKEN_BODY, {**XML_HEADERS, "Depth": "0"}),
        207,
        "PROPFIND sync-token",
    )
    token = _xml(answer, dav.label, "PROPFIND sync-token").findtext(f".//{D}sync-token")
    if not token:
        raise WrongAnswer(f"{dav.label}: no sync-token in {answer.body[:300]!r}")
    return token.strip()


@dataclass
class SyncCollection:
    seconds: float
    changed: dict[str, str | None]  # href -> ETag, None when deleted
    token: str


def sync_collection(dav: Dav, token: str) -> SyncCollection:
    body = SYNC_TEMPLATE.format(token=token).encode()
    answer = dav.expect(
        dav.request("REPORT", dav.book, body, {**XML_HEADERS, "Depth": "0"}),
        207,
        "sync-collection",
    )
    root = _xml(answer, dav.label, "sync-collection")
    changed: dict[str, str | None] = {}
    for response in root.iter(f"{D}response"):
        href = dav.normalize(response.findtext(f"{D}href") or "")
        status = response.findtext(f"{D}status") or ""
        if " 404 " in status:
            changed[href] = None
            continue
        props = _props(response)
        etag = props.findtext(f"{D}getetag") if props is not None else None
        if not etag:
            raise WrongAnswer(f"{dav.label}: sync-collection: {href} without getetag")
        changed[href] = etag
    new_token = root.findtext(f"{D}sync-token")
    if not new_token:
        raise WrongAnswer(f"{dav.label}: sync-collection answer without sync-token")
    return SyncCollection(answer.seconds, changed, new_token.strip())


@dataclass
class OneChange:
    seconds: float
    report_s: float
    token: str
    vcard: str


def sync_one_change(dav: Dav, token: str, href: str, marker: str) -> OneChange:
    """sync-collection since ``token``, which must name ``href`` only, then its multiget."""
    report = sync_collection(dav, token)
    if list(report.changed) != [href]:
        raise WrongAnswer(
            f"{dav.label}: sync-collection after one change named {sorted(report.changed)[:5]}"
            f" ({len(report.changed)}), not just {href}"
        )
    answer = dav.expect(
        dav.request("REPORT", dav.book, multiget_body([href]), XML_HEADERS),
        207,
        "addressbook-multiget of the changed card",
    )
    got = multiget_cards(dav, answer)
    if set(got) != {href} or marker not in unfold(got[href][1]):
        raise WrongAnswer(f"{dav.label}: the changed card came back without the change")
    if got[href][0] != report.changed[href]:
        raise WrongAnswer(f"{dav.label}: sync-collection and multiget disagree on the ETag")
    return OneChange(report.seconds + answer.seconds, report.seconds, report.token, got[href][1])


def unfold(vcard: str) -> str:
    return vcard.replace("\r\n ", "").replace("\n ", "")


# --- servers ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Process:
    """A server child process with its log."""

    label: str
    popen: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()

    def log_tail(self) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-30:])


def crmsync_command() -> list[str]:
    script = Path(sys.executable).with_name("crmsync")
    return [str(script)] if script.exists() else [sys.executable, "-m", "sync.cli"]


def child_env() -> dict[str, str]:
    drop = {"CRMSYNC_CONFIG", "CRMSYNC_SECRET_KEY"}
    return {**{k: v for k, v in os.environ.items() if k not in drop}, "PYTHONUNBUFFERED": "1"}


def write_crmsync_config(workdir: Path, url: str) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    lines = [
        "[database]",
        f"url = {json.dumps(url)}",
        "",
        "[crm]",
        'internal_domains = ["bench-firm.example"]',
        "",
        "[archive]",
        f"path = {json.dumps(str(workdir / 'archive'))}",
        "",
        "[secrets]",
        f"key_file = {json.dumps(str(workdir / 'secret.key'))}",
        "",
    ]
    path = workdir / "config.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def crmsync_init(config: Path) -> None:
    result = subprocess.run(
        [*crmsync_command(), "--config", str(config), "init"],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"crmsync init failed:\n{result.stdout}{result.stderr}")


def start_crmsync(label: str, config: Path) -> tuple[Process, str]:
    """``crmsync serve --listen 127.0.0.1:0``; the process and the URL it announced."""
    log = config.with_name("serve.log")
    with log.open("wb") as err:
        popen = subprocess.Popen(
            [*crmsync_command(), "--config", str(config), "serve", "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE,
            stderr=err,
            env=child_env(),
        )
    process = Process(label, popen, log)
    found: list[str] = []

    def read() -> None:
        assert popen.stdout is not None
        for raw in popen.stdout:
            line = raw.decode("utf-8", "replace")
            if not found and (match := _CRMSYNC_URL.search(line)):
                found.append(match[1])
        # keep draining so the child never blocks on a full pipe

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + START_TIMEOUT
    while not found and time.monotonic() < deadline and popen.poll() is None:
        time.sleep(0.05)
    if not found:
        process.stop()
        raise RuntimeError(f"{label}: crmsync serve did not start:\n{process.log_tail()}")
    return process, found[0]


def start_radicale(workdir: Path, user: str, password: str) -> tuple[Process, str]:
    """Radicale on a free loopback port over the storage in ``workdir/collections``."""
    port = free_port()
    htpasswd = workdir / "htpasswd"
    htpasswd.write_text(f"{user}:{password}\n", encoding="utf-8")
    config = workdir / "radicale.conf"
    config.write_text(
        "\n".join(
            [
                "[server]",
                f"hosts = 127.0.0.1:{port}",
                "[auth]",
                "type = htpasswd",
                f"htpasswd_filename = {htpasswd}",
                "htpasswd_encryption = plain",
                "[rights]",
                "type = owner_only",
                "[storage]",
                f"filesystem_folder = {workdir / 'collections'}",
                "[web]",
                "type = none",
                "[logging]",
                "level = warning",
                "",
            ]
        ),
        encoding="utf-8",
    )
    log = workdir / "radicale.log"
    with log.open("wb") as out:
        popen = subprocess.Popen(
            [sys.executable, "-m", "radicale", "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=child_env(),
        )
    process = Process("radicale", popen, log)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and popen.poll() is None:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return process, f"http://127.0.0.1:{port}/"
        time.sleep(0.05)
    process.stop()
    raise RuntimeError(f"Radicale did not start:\n{process.log_tail()}")


# --- one crmsync database -------------------------------------------------------------------


@dataclass
class Target:
    """One server under test."""

    label: str  # crmsync_sqlite | crmsync_postgresql | radicale
    dav: Dav
    sessions: sessionmaker[Session] | None = None  # crmsync's database (to change a card)
    cold_s: float = 0.0
    token: str = ""
    full: dict[int, list[float]] = field(default_factory=dict)  # batch -> seconds
    nochange_s: list[float] = field(default_factory=list)
    one_change_s: list[float] = field(default_factory=list)
    one_change_report_s: list[float] = field(default_factory=list)


def build_database(
    label: str, url: str, workdir: Path, customers: int, seed: int
) -> tuple[sessionmaker[Session], data.Generated, Path, Any]:
    """A fresh crmsync database at ``url`` with the customers; its config file."""
    config = write_crmsync_config(workdir, url)
    crmsync_init(config)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    made = data.generate(sessions, customers, seed, progress=print)
    print(
        f"[{label}] {made.people:,} people and {made.organizations:,} organizations"
        f" ({made.contact_points:,} e-mail addresses and phone numbers) through the ORM"
        f" in {made.seconds:.1f} s",
        flush=True,
    )
    return sessions, made, config, engine


def render_here(sessions: sessionmaker[Session]) -> float:
    """Render the cards in this process (what crmsync does at its first DAV request)."""
    start = time.perf_counter()
    with sessions() as session:
        will_write(session)
        cards.refresh(session)
        session.commit()
    return time.perf_counter() - start


# --- measuring ------------------------------------------------------------------------------


def median_ms(values: list[float]) -> float | None:
    return round(statistics.median(values) * 1000, 3) if values else None


def cold_and_warm(target: Target, expected: int) -> None:
    """The first request (timed apart), then one untimed full sync and the sync token."""
    answer = target.dav.request(
        "PROPFIND", target.dav.book, LIST_BODY, {**XML_HEADERS, "Depth": "1"}
    )
    target.dav.expect(answer, 207, "first PROPFIND Depth 1")
    target.cold_s = answer.seconds
    print(f"[{target.label}] first request (cold): {answer.seconds * 1000:,.1f} ms", flush=True)
    full_sync(target.dav, 0, expected)


def measure_full(targets: list[Target], batches: list[int], repeat: int, expected: int) -> None:
    for batch in batches:
        name = "full sync" + (f", multiget batches of {batch}" if batch else ", one multiget")
        for n in range(repeat):
            for target in targets:
                result = full_sync(target.dav, batch, expected)
                target.full.setdefault(batch, []).append(result.seconds)
                print(
                    f"[{target.label}] {name} {n + 1}/{repeat}: {result.seconds * 1000:,.1f} ms"
                    f" (PROPFIND {result.propfind_s * 1000:,.1f} ms, multiget"
                    f" {result.multiget_s * 1000:,.1f} ms, {result.requests} requests,"
                    f" {result.response_bytes / 1e6:,.1f} MB)",
                    flush=True,
                )


def measure_nochange(targets: list[Target], times: int) -> None:
    for target in targets:
        target.token = sync_token(target.dav)
    for _ in range(times):
        for target in targets:
            result = sync_collection(target.dav, target.token)
            if result.changed:
                raise WrongAnswer(
                    f"{target.label}: sync-collection without a change named"
                    f" {len(result.changed)} cards"
                )
            target.nochange_s.append(result.seconds)
            target.token = result.token
    for target in targets:
        print(
            f"[{target.label}] sync-collection, no change: median"
            f" {median_ms(target.nochange_s):,.2f} ms of {times}",
            flush=True,
        )


def measure_one_change(
    targets: list[Target], radicale: Target | None, uids: list[str], times: int, seed: int
) -> None:
    rng = random.Random(seed + 1)
    chosen = rng.sample(uids, min(times, len(uids)))
    for n, uid in enumerate(chosen):
        marker = f"Benchmark change {n + 1}: Rückruf erbeten – Grüße aus Görlitz"
        new_vcard = None
        for target in targets:
            if target.sessions is None:
                continue
            data.change_person(target.sessions, uid, marker)
            href = target.dav.normalize(f"{target.dav.book}{uid}.vcf")
            result = sync_one_change(target.dav, target.token, href, marker)
            target.token = result.token
            target.one_change_s.append(result.seconds)
            target.one_change_report_s.append(result.report_s)
            new_vcard = new_vcard or result.vcard
        if radicale is not None:
            if new_vcard is None:  # --only radicale: the card as crmsync would render it
                new_vcard = radicale_card_after_change(radicale, uid, marker)
            href = radicale.dav.normalize(f"{radicale.dav.book}{uid}.vcf")
            put = radicale.dav.request(
                "PUT", href, new_vcard.encode(), {"Content-Type": "text/vcard; charset=utf-8"}
            )
            if put.status not in (201, 204):
                raise WrongAnswer(f"radicale: PUT {href}: {put.status} {put.body[:200]!r}")
            result = sync_one_change(radicale.dav, radicale.token, href, marker)
            radicale.token = result.token
            radicale.one_change_s.append(result.seconds)
            radicale.one_change_report_s.append(result.report_s)
    everyone = [*targets, *([radicale] if radicale else [])]
    for target in everyone:
        if target.one_change_s:
            print(
                f"[{target.label}] sync after one change: median"
                f" {median_ms(target.one_change_s):,.2f} ms (sync-collection alone"
                f" {median_ms(target.one_change_report_s):,.2f} ms) of {len(target.one_change_s)}",
                flush=True,
            )


def radicale_card_after_change(radicale: Target, uid: str, marker: str) -> str:
    href = radicale.dav.normalize(f"{radicale.dav.book}{uid}.vcf")
    answer = radicale.dav.expect(radicale.dav.request("GET", href), 200, f"GET {href}")
    text = answer.body.decode("utf-8").replace("\r\n", "\n")
    lines = [line for line in text.split("\n") if line and not line.startswith("NOTE:")]
    lines.insert(len(lines) - 1, f"NOTE:{marker}")
    return "\r\n".join(lines) + "\r\n"


# --- figures --------------------------------------------------------------------------------


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def figures_of(
    crmsyncs: list[Target], radicale: Target | None, batches: list[int]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    everyone = [*crmsyncs, *([radicale] if radicale else [])]
    for target in everyone:
        out[f"first_request_cold_{target.label}_ms"] = round(target.cold_s * 1000, 1)
        for batch in batches:
            key = "full_sync" if batch == 0 else f"full_sync_batch{batch}"
            out[f"{key}_{target.label}_ms"] = median_ms(target.full.get(batch, []))
        out[f"sync_nochange_{target.label}_ms"] = median_ms(target.nochange_s)
        out[f"sync_one_change_{target.label}_ms"] = median_ms(target.one_change_s)
        out[f"sync_one_change_report_{target.label}_ms"] = median_ms(target.one_change_report_s)
        out[f"{target.label}_connects"] = target.dav.connects
    if radicale is None:
        return out
    for target in crmsyncs:
        kinds = [("full_sync" if b == 0 else f"full_sync_batch{b}") for b in batches]
        for kind in [*kinds, "sync_nochange", "sync_one_change", "first_request_cold"]:
            mine = out.get(f"{kind}_{target.label}_ms")
            theirs = out.get(f"{kind}_radicale_ms")
            out[f"ratio_{kind}_{target.label}_over_radicale"] = _ratio(mine, theirs)
            out[f"speedup_{kind}_radicale_over_{target.label}"] = _ratio(theirs, mine)
    return out


def verdicts(figures: dict[str, Any], crmsyncs: list[Target], batches: list[int]) -> list[str]:
    lines = []
    for target in crmsyncs:
        if 0 in batches:
            speedup = figures.get(f"speedup_full_sync_radicale_over_{target.label}")
            if speedup is not None:
                ok = "ok" if speedup >= AIM_SPEEDUP else "MISSED"
                lines.append(
                    f"[{target.label}] full sync {speedup:.1f}x as fast as Radicale,"
                    f" aim >= {AIM_SPEEDUP:.0f}x: {ok}"
                )
        one = figures.get(f"sync_one_change_{target.label}_ms")
        if one is not None:
            ok = "ok" if one < AIM_ONE_CHANGE_MS else "MISSED"
            lines.append(
                f"[{target.label}] sync after one change {one:.1f} ms,"
                f" aim < {AIM_ONE_CHANGE_MS:.0f} ms: {ok}"
            )
    return lines


def print_table(figures: dict[str, Any], labels: list[str], batches: list[int]) -> None:
    rows = [("first request (cold)", "first_request_cold")]
    rows += [
        (
            "full sync" + (f" (batches of {b})" if b else ""),
            "full_sync" + (f"_batch{b}" if b else ""),
        )
        for b in batches
    ]
    rows += [
        ("sync-collection, no change", "sync_nochange"),
        ("sync after one change", "sync_one_change"),
        ("  its sync-collection", "sync_one_change_report"),
    ]
    print(f"{'median ms':<30}" + "".join(f"{label:>22}" for label in labels))
    for title, key in rows:
        cells = []
        for label in labels:
            value = figures.get(f"{key}_{label}_ms")
            cells.append(f"{value:>22,.2f}" if value is not None else f"{'-':>22}")
        print(f"{title:<30}" + "".join(cells))


# --- the run ----------------------------------------------------------------------------------


def _batches(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("a number, or numbers separated by commas") from None
    if any(v < 0 for v in values):
        raise argparse.ArgumentTypeError("batch sizes are 1 or more (0: leave out)")
    return [0, *sorted({v for v in values if v > 0})]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=10_000, help="cards (default: 10000)")
    parser.add_argument(
        "--repeat",
        type=int,
        default=5,
        help=f"full syncs per server and variant (default: 5); the small syncs"
        f" {SMALL_SYNC_FACTOR} times as many",
    )
    parser.add_argument(
        "--batch",
        type=_batches,
        default=[0, DEFAULT_BATCH],
        help="also full syncs with multigets of this many hrefs (comma-separated; default:"
        f" {DEFAULT_BATCH}, as DAVx5; 0: only vdirsyncer's one multiget)",
    )
    parser.add_argument(
        "--postgresql-url",
        default=None,
        help="also run crmsync on PostgreSQL: a role that may create databases (e.g."
        f" {timelinedata.DEFAULT_PG}); a scratch database is made next to it (default: skip)",
    )
    parser.add_argument(
        "--keep", type=Path, default=None, metavar="DIR", help="work in DIR and keep it all"
    )
    parser.add_argument("--only", choices=("crmsync", "radicale"), default=None)
    parser.add_argument("--seed", type=int, default=20261124)
    args = parser.parse_args(argv)
    if args.customers < 10 or args.repeat < 1:
        parser.error("--customers >= 10 and --repeat >= 1, please")
    return args


def _safe(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    figures: dict[str, Any] = {
        "customers": args.customers,
        "repeat_full": args.repeat,
        "repeat_small": args.repeat * SMALL_SYNC_FACTOR,
        "multiget_batches": [b for b in args.batch if b],
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
            workdir = Path(tempfile.mkdtemp(prefix="crmsync-carddav-"))
            stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        print(f"working in {workdir}", flush=True)

        databases = [("crmsync_sqlite", f"sqlite:///{workdir / 'sqlite' / 'crmsync.db'}")]
        if args.postgresql_url is None:
            notes.append("PostgreSQL skipped (give --postgresql-url to measure it too)")
        elif (problem := timelinedata.postgres_problem(args.postgresql_url)) is not None:
            notes.append(f"PostgreSQL skipped: {_safe(args.postgresql_url)}: {problem}")
        elif args.only != "radicale":
            name = f"crmsync_bench_carddav_{os.getpid()}"
            url = stack.enter_context(
                timelinedata.postgres_database(
                    args.postgresql_url, name, keep=args.keep is not None
                )
            )
            databases.append(("crmsync_postgresql", url))
        for suffix in ("", "-wal", "-shm", "-journal"):  # a kept run before this one
            (workdir / "sqlite" / f"crmsync.db{suffix}").unlink(missing_ok=True)

        crmsyncs: list[Target] = []
        person_uids: list[str] = []
        cards_count = 0
        first_sessions: sessionmaker[Session] | None = None
        for label, url in databases:
            sessions, made, config, engine = build_database(
                label, url, workdir / label.removeprefix("crmsync_"), args.customers, args.seed
            )
            stack.callback(engine.dispose)
            figures[f"generate_{label}_s"] = round(made.seconds, 1)
            person_uids, cards_count = made.person_uids, made.cards
            first_sessions = first_sessions or sessions
            if args.only == "radicale":
                seconds = render_here(sessions)
                print(f"[{label}] rendered the cards in this process: {seconds:.1f} s")
                break
            process, base = start_crmsync(label, config)
            stack.callback(process.stop)
            print(f"[{label}] crmsync serve at {base} (log {process.log})", flush=True)
            dav = Dav(
                label,
                base,
                data.USER,
                made.app_password,
                f"/dav/addressbooks/{data.USER}/{BOOK}/",
            )
            stack.callback(dav.close)
            crmsyncs.append(Target(label, dav, sessions))
        figures["cards"] = cards_count

        radicale: Target | None = None
        try:
            for target in crmsyncs:
                cold_and_warm(target, cards_count)

            if args.only != "crmsync":
                assert first_sessions is not None
                rad_dir = workdir / "radicale"
                rad_dir.mkdir(parents=True, exist_ok=True)
                shutil.rmtree(rad_dir / "collections", ignore_errors=True)
                start = time.perf_counter()
                written = data.write_radicale_collection(
                    rad_dir / "collections",
                    data.USER,
                    BOOK,
                    BOOK_NAME,
                    data.rendered_cards(first_sessions),
                )
                if written != cards_count:
                    raise WrongAnswer(f"crmsync rendered {written} cards, not {cards_count}")
                print(
                    f"[radicale] wrote {written:,} vCards into its storage in"
                    f" {time.perf_counter() - start:.1f} s",
                    flush=True,
                )
                password = data.WEB_PASSWORD
                process, base = start_radicale(rad_dir, data.USER, password)
                stack.callback(process.stop)
                print(f"[radicale] at {base} (log {process.log})", flush=True)
                dav = Dav("radicale", base, data.USER, password, f"/{data.USER}/{BOOK}/")
                stack.callback(dav.close)
                radicale = Target("radicale", dav)
                cold_and_warm(radicale, cards_count)

            everyone = [*crmsyncs, *([radicale] if radicale else [])]
            measure_full(everyone, args.batch, args.repeat, cards_count)
            measure_nochange(everyone, args.repeat * SMALL_SYNC_FACTOR)
            measure_one_change(
                crmsyncs, radicale, person_uids, args.repeat * SMALL_SYNC_FACTOR, args.seed
            )
        except WrongAnswer as exc:
            ok = False
            notes.append(f"WRONG ANSWER: {exc}")
            print(notes[-1], flush=True)

        figures.update(figures_of(crmsyncs, radicale, args.batch))
        figures["loadavg_1min_end"] = round(os.getloadavg()[0], 2)
        busiest = max(figures["loadavg_1min_start"], figures["loadavg_1min_end"])
        if busiest > (os.cpu_count() or 1):
            notes.append(
                f"load average {busiest:.1f} on {os.cpu_count()} CPUs: other work on this"
                " machine makes every figure slower and noisier than on an idle one"
            )
        figures["complete"] = ok
        if args.keep is not None:
            notes.append(f"kept: {workdir}" + "".join(f", {_safe(u)}" for _, u in databases[1:]))
        labels = [t.label for t in crmsyncs] + (["radicale"] if radicale else [])
        print()
        print_table(figures, labels, args.batch)
        notes += verdicts(figures, crmsyncs, args.batch)
    for line in notes:
        print(line)
    print(json.dumps(figures))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
