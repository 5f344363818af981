"""Calendar objects for benchmarks/dav_pull.py: N events as Outlook, Thunderbird and
phones write them, one iCalendar object (one .ics file) each.

- a tenth recur: half weekly (COUNT or UNTIL, sometimes two weekdays), half monthly;
  every 4th series has an override (RECURRENCE-ID: moved by an hour, new summary),
  every 5th an EXDATE, every 25th a cancelled occurrence (STATUS:CANCELLED override);
- time zones: about 15 % Windows names with Outlook's VTIMEZONE (``W. Europe Standard
  Time``, ``Eastern Standard Time``, ``GMT Standard Time``), about half IANA names with
  a VTIMEZONE, a quarter UTC, a tenth all-day;
- an internal organizer and 1-5 attendees, about 60 % of events with at least one
  external one (customer domains), participation status varied, some non-ASCII names;
- descriptions that need folding, a few CLASS:PRIVATE events, some DURATION instead of
  DTEND.

Dates are spread around ``now`` so that single events and most occurrences fall in
crmsync's default window (a year back, a year ahead). Deterministic for a seed.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.servers.radicale import DavTestServer

PRODID = "-//crmsync//benchmark dav_pull//EN"
WARM_TIMEOUT = 900.0
STAFF = ["anna.berger", "jonas.keller", "mia.schulz", "li.wei", "tom.baker", "sofia.rossi"]
STAFF_DOMAIN = "example.com"
CUSTOMER_DOMAINS = [
    "acme-industries.test",
    "nordwind-logistik.test",
    "globex.test",
    "initech.test",
    "müller-bau.test",
    "umbrella-corp.test",
    "stark-energy.test",
    "wayne-holdings.test",
]
NAMES = [
    "Jörg Müller",
    "Zoë Dupont",
    "Ana Sofía Pérez",
    "Łukasz Nowak",
    "Emma Johnson",
    "Björn Åström",
    "Chloé Martin",
    "Kenji Sato",
    "Olivia Smith",
    "François Lefèvre",
]
SUBJECTS = [
    "Quarterly review",
    "Contract renewal",
    "Project kick-off",
    "Status call",
    "Pricing discussion, next steps",
    "Onboarding; training session",
    "Technical deep dive",
    "Jour fixe",
    "Lunch",
    "Site visit",
]
PLACES = ["Room 4.12", "Teams", "Zoom", "Customer site, Hamburg", "Café Königsallee", ""]
PARTSTATS = ["ACCEPTED", "ACCEPTED", "ACCEPTED", "TENTATIVE", "DECLINED", "NEEDS-ACTION"]

# (TZID, written as Outlook does: Windows name, rules from 1601) or IANA with a VTIMEZONE
WINDOWS_ZONES = {
    "W. Europe Standard Time": ("+0100", "+0200", "-1SU", 3, "-1SU", 10, "16010101"),
    "Eastern Standard Time": ("-0500", "-0400", "2SU", 3, "1SU", 11, "16010101"),
    "GMT Standard Time": ("+0000", "+0100", "-1SU", 3, "-1SU", 10, "16010101"),
}
IANA_ZONES = {
    "Europe/Berlin": ("+0100", "+0200", "-1SU", 3, "-1SU", 10, "19700101"),
    "America/New_York": ("-0500", "-0400", "2SU", 3, "1SU", 11, "19700101"),
    "Europe/London": ("+0000", "+0100", "-1SU", 3, "-1SU", 10, "19700101"),
}


class WrongAnswer(Exception):
    """A pull, a sync or a server did not deliver what the calendar holds."""


@dataclass
class Generated:
    """What was written: the files and how many of each kind of event they hold."""

    files: list[tuple[str, bytes]] = field(default_factory=list)  # (file name, iCalendar)
    counts: Counter[str] = field(default_factory=Counter)


def vtimezone(tzid: str, rule: tuple[str, str, str, int, str, int, str]) -> list[str]:
    std, dst, dst_day, dst_month, std_day, std_month, epoch = rule
    if std == dst:
        return []
    return [
        "BEGIN:VTIMEZONE",
        f"TZID:{tzid}",
        "BEGIN:STANDARD",
        f"DTSTART:{epoch}T030000",
        f"TZOFFSETFROM:{dst}",
        f"TZOFFSETTO:{std}",
        f"RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY={std_day};BYMONTH={std_month}",
        "END:STANDARD",
        "BEGIN:DAYLIGHT",
        f"DTSTART:{epoch}T020000",
        f"TZOFFSETFROM:{std}",
        f"TZOFFSETTO:{dst}",
        f"RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY={dst_day};BYMONTH={dst_month}",
        "END:DAYLIGHT",
        "END:VTIMEZONE",
    ]


def escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def fold(line: str) -> str:
    """RFC 5545 3.1: lines of at most 75 octets, continued with CRLF and a space."""
    raw = line.encode("utf-8")
    if len(raw) <= 75:
        return line
    parts: list[str] = []
    start, limit = 0, 75
    while start < len(raw):
        end = min(start + limit, len(raw))
        while end < len(raw) and (raw[end] & 0xC0) == 0x80:  # not inside a character
            end -= 1
        parts.append(raw[start:end].decode("utf-8"))
        start, limit = end, 74
    return "\r\n ".join(parts)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _local(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%S")


def _person(rng: random.Random, external: bool) -> tuple[str, str]:
    name = rng.choice(NAMES)
    if external:
        local = name.split()[-1].lower().encode("ascii", "ignore").decode() or "contact"
        return name, f"{local}@{rng.choice(CUSTOMER_DOMAINS)}"
    staff = rng.choice(STAFF)
    return staff.replace(".", " ").title(), f"{staff}@{STAFF_DOMAIN}"


def _attendees(rng: random.Random, counts: Counter[str]) -> list[str]:
    organizer_name, organizer = _person(rng, False)
    lines = [f'ORGANIZER;CN="{organizer_name}":mailto:{organizer}']
    has_external = rng.random() < 0.6
    counts["with_external_attendee"] += has_external
    seen = {organizer}
    for index in range(rng.randint(1, 5)):
        external = has_external and (index == 0 or rng.random() < 0.5)
        name, address = _person(rng, external)
        if address in seen:
            continue
        seen.add(address)
        lines.append(
            f'ATTENDEE;CN="{name}";ROLE=REQ-PARTICIPANT;PARTSTAT={rng.choice(PARTSTATS)};'
            f"RSVP=TRUE:mailto:{address}"
        )
    return lines


def _when(
    kind: str, tzid: str, start: datetime, minutes: int, rng: random.Random
) -> tuple[list[str], str]:
    """DTSTART and DTEND/DURATION lines, and how a RECURRENCE-ID/EXDATE is written."""
    if kind == "allday":
        day = start.strftime("%Y%m%d")
        end = (start + timedelta(days=rng.choice([1, 1, 1, 2]))).strftime("%Y%m%d")
        return [f"DTSTART;VALUE=DATE:{day}", f"DTEND;VALUE=DATE:{end}"], ";VALUE=DATE"
    if kind == "utc":
        lines = [f"DTSTART:{_stamp(start)}"]
        lines.append(
            f"DURATION:PT{minutes}M"
            if rng.random() < 0.3
            else f"DTEND:{_stamp(start + timedelta(minutes=minutes))}"
        )
        return lines, ""
    lines = [f"DTSTART;TZID={tzid}:{_local(start)}"]
    lines.append(
        f"DURATION:PT{minutes}M"
        if rng.random() < 0.3
        else f"DTEND;TZID={tzid}:{_local(start + timedelta(minutes=minutes))}"
    )
    return lines, f";TZID={tzid}"


def _format(moment: datetime, kind: str) -> str:
    if kind == "allday":
        return moment.strftime("%Y%m%d")
    if kind == "utc":
        return _stamp(moment)
    return _local(moment)


def _add_months(moment: datetime, months: int) -> datetime:
    month = moment.month - 1 + months
    return moment.replace(year=moment.year + month // 12, month=month % 12 + 1)


def make_event(index: int, rng: random.Random, now: datetime, counts: Counter[str]) -> bytes:
    uid = f"{index:05d}-{rng.getrandbits(64):016x}@bench.crmsync.test"
    recurring = index % 10 == 0
    roll = rng.random()
    if roll < 0.15:
        kind, tzid = "windows", rng.choice(list(WINDOWS_ZONES))
        zones = {tzid: WINDOWS_ZONES[tzid]}
    elif roll < 0.65:
        kind, tzid = "iana", rng.choice(list(IANA_ZONES))
        zones = {tzid: IANA_ZONES[tzid]}
    elif roll < 0.9:
        kind, tzid, zones = "utc", "", {}
    else:
        kind, tzid, zones = "allday", "", {}
    counts[f"zone_{kind}"] += 1
    naive_now = now.replace(tzinfo=None, minute=0, second=0, microsecond=0)
    offset_days = rng.randint(-300, 60) if recurring else rng.randint(-330, 330)
    start = naive_now.replace(hour=rng.randint(7, 17)) + timedelta(days=offset_days)
    if recurring and start.day > 28:  # a monthly series on the 31st skips months
        start -= timedelta(days=3)
    if kind == "utc":
        start = start.replace(tzinfo=UTC)
    minutes = rng.choice([15, 30, 30, 45, 60, 60, 90, 120])
    when, rid_params = _when(kind, tzid, start, minutes, rng)
    summary = rng.choice(SUBJECTS)
    stamp = _stamp(now - timedelta(days=rng.randint(0, 400)))
    body = [
        "BEGIN:VEVENT",
        f"UID:{uid}",
        f"DTSTAMP:{stamp}",
        f"LAST-MODIFIED:{stamp}",
        f"CREATED:{stamp}",
        f"SEQUENCE:{rng.choice([0, 0, 0, 1, 2])}",
        *when,
        fold(f"SUMMARY:{escape(summary)}"),
    ]
    place = rng.choice(PLACES)
    if place:
        body.append(fold(f"LOCATION:{escape(place)}"))
    description = (
        f"Agenda for {summary.lower()}:\n1. Welcome and introductions\n"
        f"2. Review of open items from the last meeting with the customer team\n"
        f"3. Next steps, owners and dates (ref. {index})\nDial-in: https://meet.example.com/"
        f"{rng.getrandbits(40):010x}?pwd={rng.getrandbits(64):016x}"
    )
    body.append(fold(f"DESCRIPTION:{escape(description)}"))
    if rng.random() < 0.03:
        body.append("CLASS:PRIVATE")
        counts["private"] += 1
    body.append(f"STATUS:{rng.choice(['CONFIRMED', 'CONFIRMED', 'CONFIRMED', 'TENTATIVE'])}")
    people = _attendees(rng, counts)
    body += [fold(line) for line in people]
    overrides: list[list[str]] = []
    if recurring:
        counts["recurring"] += 1
        series = index // 10
        if series % 2 == 0:
            step: timedelta | None = timedelta(weeks=1)
            count = rng.randint(8, 40)
            if rng.random() < 0.5:
                rule = f"FREQ=WEEKLY;COUNT={count}"
            else:
                rule = f"FREQ=WEEKLY;UNTIL={_stamp(start + step * count)}"
            counts["weekly"] += 1
        else:
            step = None
            rule = f"FREQ=MONTHLY;COUNT={rng.randint(6, 18)}"
            counts["monthly"] += 1
        body.append(f"RRULE:{rule}")

        def nth(k: int) -> datetime:
            return start + step * k if step is not None else _add_months(start, k)

        if series % 5 == 1:
            body.append(f"EXDATE{rid_params}:{_format(nth(1), kind)}")
            counts["exdate"] += 1
        if series % 4 == 2:
            rid = nth(2)
            moved = rid + timedelta(hours=1)
            moved_when, _ = _when(kind, tzid, moved, minutes, rng)
            overrides.append(
                [
                    "BEGIN:VEVENT",
                    f"UID:{uid}",
                    f"DTSTAMP:{stamp}",
                    f"RECURRENCE-ID{rid_params}:{_format(rid, kind)}",
                    *moved_when,
                    fold(f"SUMMARY:{escape(summary)} (moved)"),
                    "SEQUENCE:3",
                    *[fold(line) for line in people],
                    "END:VEVENT",
                ]
            )
            counts["override"] += 1
        if series % 25 == 3:
            rid = nth(3)
            overrides.append(
                [
                    "BEGIN:VEVENT",
                    f"UID:{uid}",
                    f"DTSTAMP:{stamp}",
                    f"RECURRENCE-ID{rid_params}:{_format(rid, kind)}",
                    *_when(kind, tzid, rid, minutes, rng)[0],
                    fold(f"SUMMARY:{escape(summary)}"),
                    "STATUS:CANCELLED",
                    "SEQUENCE:4",
                    "END:VEVENT",
                ]
            )
            counts["cancelled_occurrence"] += 1
    body.append("END:VEVENT")
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:{PRODID}", "CALSCALE:GREGORIAN"]
    for name, rule_ in zones.items():
        lines += vtimezone(name, rule_)
    lines += body
    for override in overrides:
        lines += override
    lines.append("END:VCALENDAR")
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def generate(events: int, seed: int, now: datetime) -> Generated:
    rng = random.Random(seed)
    made = Generated()
    for index in range(events):
        raw = make_event(index, rng, now, made.counts)
        made.files.append((f"event-{index:05d}.ics", raw))
    return made


def write_radicale_calendar(
    folder: Path, user: str, calendar: str, name: str, files: Iterable[tuple[str, bytes]]
) -> int:
    """Write a calendar into Radicale's multifilesystem storage under ``folder`` (its
    ``filesystem_folder``); the number of objects written."""
    path = folder / "collection-root" / user / calendar
    path.mkdir(parents=True, exist_ok=True)
    props = {
        "tag": "VCALENDAR",
        "D:displayname": name,
        "C:supported-calendar-component-set": "VEVENT",
    }
    (path / ".Radicale.props").write_text(json.dumps(props), encoding="utf-8")
    count = 0
    for file_name, raw in files:
        (path / file_name).write_bytes(raw)
        count += 1
    return count


def write_xandikos_calendar(path: Path, files: Iterable[tuple[str, bytes]]) -> int:
    """Add the files to the Xandikos calendar whose git repository (with a working tree,
    as Xandikos makes one on MKCALENDAR) is ``path``, in one commit: a PUT each would
    make a commit each. The number of objects written."""
    from dulwich.index import index_entry_from_stat
    from dulwich.objects import Blob
    from dulwich.repo import Repo

    repo = Repo(str(path))
    index = repo.open_index()
    blobs = []
    for file_name, raw in files:
        target = path / file_name
        target.write_bytes(raw)
        blob = Blob.from_string(raw)
        blobs.append((blob, None))
        index[file_name.encode()] = index_entry_from_stat(os.lstat(target), blob.id)
    repo.object_store.add_objects(blobs)
    index.write()
    tree = index.commit(repo.object_store)
    repo.get_worktree().commit(message=f"dav_pull: {len(blobs)} events".encode(), tree=tree)
    return len(blobs)


# --- plain HTTP (no crmsync code, no caldav library) ----------------------------------


def _propfind(*props: str) -> str:
    inner = "".join(props)
    return (
        '<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"'
        ' xmlns:CS="http://calendarserver.org/ns/"><D:prop>' + inner + "</D:prop></D:propfind>"
    )


def warm(server: DavTestServer, calendar_url: str, events: int) -> float:
    """The first PROPFIND Depth 1 (untimed by the benchmark: Radicale parses every object
    and fills its item cache, minutes for 5,000); its seconds."""
    start = time.perf_counter()
    answer = server.http().request(
        "PROPFIND",
        calendar_url,
        data=_propfind("<D:getetag/>").encode(),
        headers={"Depth": "1", "Content-Type": "application/xml"},
        timeout=WARM_TIMEOUT,
    )
    seconds = time.perf_counter() - start
    if answer.status_code != 207:
        raise WrongAnswer(f"the server answered the first PROPFIND with {answer.status_code}")
    listed = (answer.text or "").count(".ics</")
    if listed != events:
        raise WrongAnswer(f"the server lists {listed} of {events} objects")
    return seconds


SYNC_BODY = """<?xml version="1.0" encoding="utf-8"?>
<D:sync-collection xmlns:D="DAV:">
  <D:sync-token>{token}</D:sync-token>
  <D:sync-level>1</D:sync-level>
  <D:prop><D:getetag/></D:prop>
</D:sync-collection>"""


def sync_report(server: DavTestServer, calendar_url: str, token: str) -> tuple[float, str]:
    """One RFC 6578 sync-collection REPORT (plain HTTP, no caldav library): its time
    and its answer."""
    start = time.perf_counter()
    answer = server.http().request(
        "REPORT",
        calendar_url,
        data=SYNC_BODY.format(token=token).encode(),
        headers={"Depth": "0", "Content-Type": "application/xml"},
        timeout=WARM_TIMEOUT,
    )
    seconds = time.perf_counter() - start
    if answer.status_code != 207:
        raise WrongAnswer(f"the server answered a sync-collection REPORT with {answer.status_code}")
    return seconds, answer.text or ""


CTAG_BODY = _propfind("<CS:getctag/>")


def ctag_propfind(server: DavTestServer, calendar_url: str) -> float:
    """The getctag PROPFIND Depth 0 a no-change pull makes, sent by plain HTTP (no
    crmsync code, no caldav library): the floor of a no-change pull on this server."""
    start = time.perf_counter()
    answer = server.http().request(
        "PROPFIND",
        calendar_url,
        data=CTAG_BODY.encode(),
        headers={"Depth": "0", "Content-Type": "application/xml"},
        timeout=WARM_TIMEOUT,
    )
    seconds = time.perf_counter() - start
    if answer.status_code != 207 or "getctag>" not in (answer.text or ""):
        raise WrongAnswer(f"the server answered the getctag PROPFIND with {answer.status_code}")
    return seconds


#: requests that might tell "nothing changed" (and two that cannot, as the floor of any
#: request): name -> (method, body, Depth)
PROBES: dict[str, tuple[str, str | None, str | None]] = {
    "options": ("OPTIONS", None, None),
    "propfind_displayname": ("PROPFIND", _propfind("<D:displayname/>"), "0"),
    "propfind_getlastmodified": ("PROPFIND", _propfind("<D:getlastmodified/>"), "0"),
    "propfind_getetag": ("PROPFIND", _propfind("<D:getetag/>"), "0"),
    "propfind_getctag": ("PROPFIND", _propfind("<CS:getctag/>"), "0"),
    "propfind_sync_token": ("PROPFIND", _propfind("<D:sync-token/>"), "0"),
    "head": ("HEAD", None, None),
}


def probe_nochange(server: DavTestServer, calendar_url: str, token: str) -> dict[str, Any]:
    """Each of :data:`PROBES` and a sync-collection REPORT with ``token``, five times:
    the median milliseconds, the status, and what the answer says (the value asked for)."""
    out: dict[str, Any] = {}
    for name, (method, body, depth) in PROBES.items():
        times, status, value = [], 0, ""
        for _ in range(5):
            headers = {"Content-Type": "application/xml"} if body else {}
            if depth is not None:
                headers["Depth"] = depth
            start = time.perf_counter()
            answer = server.http().request(
                method,
                calendar_url,
                data=body.encode() if body else None,
                headers=headers,
                timeout=WARM_TIMEOUT,
            )
            times.append(time.perf_counter() - start)
            status = answer.status_code or 0
            value = answer.headers.get("ETag") or "" if method == "HEAD" else ""
            if method == "PROPFIND":
                value = _first_prop(answer.text or "")
        out[name] = {
            "ms": round(statistics.median(times) * 1000, 1),
            "status": status,
            "value": value[:80],
        }
    seconds = [sync_report(server, calendar_url, token)[0] for _ in range(5)]
    out["sync_collection_report"] = {"ms": round(statistics.median(seconds) * 1000, 1)}
    return out


def _first_prop(text: str) -> str:
    """The text of the first property in a one-response multistatus (crudely)."""
    rest = text.partition("<prop>" if "<prop>" in text else ":prop>")[2]
    value = rest.split(">", 1)[1] if ">" in rest else ""
    return value.split("<", 1)[0].strip()
