"""The one iCalendar parser every calendar source uses: RFC 5545 bytes in, EventRecords out.

CalDAV, folders of .ics files and (later) Exchange hand over one calendar object's
bytes; :func:`parse_calendar` turns them into one :class:`EventRecord` per event, or
per occurrence of a recurring event inside the pull window. VTODO, VJOURNAL and
VFREEBUSY are not meetings and are skipped.

- The text is cut into its components here and each VEVENT and VTIMEZONE is parsed by
  icalendar on its own, so a broken alarm, time zone or event costs only itself.
- Events are grouped by UID (a series and its RECURRENCE-ID overrides). A group with
  an RRULE, RDATE or RECURRENCE-ID is expanded by ``recurring-ical-events`` inside the
  window: an override replaces its occurrence, an EXDATE removes one, a cancelled
  occurrence (STATUS:CANCELLED on the override or on the whole series) is kept with
  that status. A single event is read whatever its date: the window bounds expansion.
- A TZID is read by :class:`adapters.windowszones.FileZones` (IANA names, Windows
  names as Exchange and Outlook write them, then the file's VTIMEZONE), not by
  icalendar, whose zone cache is process-wide and filled by every file. A floating
  time takes the zone of its event's DTSTART, else X-WR-TIMEZONE (Google), else UTC,
  which is noted as a defect.

Unreadable events (no DTSTART, a broken RRULE, an unterminated VEVENT) and files that
are not iCalendar become one :class:`ItemFailure` per file whose reason names each;
the file's other events still come through. Defects and reasons never quote SUMMARY,
DESCRIPTION or LOCATION, and for a file with a CLASS:PRIVATE or CONFIDENTIAL event
no library error message either (it may quote the line it choked on).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import recurring_ical_events
import x_wr_timezone
from icalendar import Calendar, Component
from icalendar.prop import vBroken, vDDDLists

from adapters.icalexpand import align, range_shifts, recurrence_id
from adapters.icalfast import fast_vevent
from adapters.icalfields import fields as _fields
from adapters.icalfields import get as _get
from adapters.icalfields import is_date as _is_date
from adapters.icalfields import sequence as _sequence
from adapters.icalfields import start as _start
from adapters.icalfields import utc as _utc
from adapters.records import EventRecord, ItemFailure
from adapters.windowszones import FileZones, iana_name

#: the default pull window (back, ahead): one year before and one year after now
DEFAULT_WINDOW = (timedelta(days=365), timedelta(days=365))
#: read well-formed VEVENTs with :func:`adapters.icalfast.fast_vevent` (the same
#: components as ``Component.from_ical``, faster); off only to compare the two in tests
FAST_PATH = True
#: more occurrences than this in the window is not a meeting series
MAX_OCCURRENCES = 5000

_DATETIMES = ("DTSTART", "DTEND", "RECURRENCE-ID", "EXDATE", "RDATE")
_FOLD = re.compile(r"(?:\r\n|\r|\n)[ \t]")
_BREAK = re.compile(r"\r\n|\r|\n")
_PRIVATE = re.compile(r"^CLASS[^:\r\n]*:\s*(?:PRIVATE|CONFIDENTIAL)\s*$", re.I | re.M)
_PER_DAY = {"SECONDLY": 86400, "MINUTELY": 1440, "HOURLY": 24}
# what identifies an event without a UID (DTSTAMP changes with every export)
_HASHED = ("DTSTART", "DTEND", "DURATION", "SUMMARY", "LOCATION", "ORGANIZER", "RRULE")
_TZID = "X-CRMSYNC-TZID"
_TZID_PARAM = re.compile(r";\s*TZID\s*=", re.I)
_HEAD = re.compile(r'((?:[^:"]|"[^"]*")*):')  # a content line's name and parameters
_NAME = re.compile(r"[^;:]*")  # a content line's name: what comes before a ; or :

Group = list[tuple["_Block", Component]]


def window_around(
    now: datetime, back: timedelta = DEFAULT_WINDOW[0], ahead: timedelta = DEFAULT_WINDOW[1]
) -> tuple[datetime, datetime]:
    """``back`` before ``now`` to ``ahead`` after it, in UTC (a naive ``now`` is UTC)."""
    now = _utc(now, [])
    return now - back, now + ahead


def default_window() -> tuple[datetime, datetime]:
    """:data:`DEFAULT_WINDOW` around the present moment."""
    return window_around(datetime.now(UTC))


def parse_calendar(
    raw: bytes, remote_id: str, *, window: tuple[datetime, datetime]
) -> tuple[list[EventRecord], list[ItemFailure]]:
    """Parse one calendar object (an .ics file, a CalDAV resource) into event records.

    ``remote_id`` is the object's href or file name; ``window`` bounds the expansion
    of recurring events (naive ends are taken as UTC). Returns the records of every
    readable event and at most one failure for the object, whose reason names
    ``remote_id`` and everything that could not be read. Never raises for bad data.
    """
    parser = _Parser(raw, remote_id, (_utc(window[0], []), _utc(window[1], [])))
    try:
        records = parser.run()
    except Exception as exc:  # the last guard: whatever a hostile file provokes
        parser.reasons.append(parser.describe(exc))
        records = []
    return records, parser.failures()


class _Unreadable(Exception):
    """An event (or the whole file) that cannot be read; the message is the reason."""


@dataclass
class _Block:
    """One top-level component's unfolded lines (a VEVENT's alarms left out)."""

    name: str
    depth: int
    lines: list[str] = field(default_factory=list)
    closed: bool = False

    def value(self, name: str) -> str | None:
        line = next((line for line in self.lines if _name(line) == name), None)
        return None if line is None else line.partition(":")[2].strip()

    def parse(self) -> Component:
        """The component, its TZID parameters renamed: icalendar reads every date-time as
        written (floating), and :class:`FileZones` gives it its zone afterwards."""
        lines = list(map(_hide_tzid, self.lines))
        fast = fast_vevent(lines) if FAST_PATH and self.name == "VEVENT" else None
        return fast if fast is not None else Component.from_ical("\r\n".join(lines) + "\r\n")


@dataclass
class _Parts:
    calendars: int = 0
    open_calendar: bool = False
    blocks: list[_Block] = field(default_factory=list)
    properties: dict[str, str] = field(default_factory=dict)  # the VCALENDAR's


class _Parser:
    def __init__(self, raw: bytes, remote_id: str, window: tuple[datetime, datetime]) -> None:
        self.raw, self.remote_id, self.window = raw, remote_id, window
        self.reasons: list[str] = []
        self.notes: list[str] = []  # defects of the whole file, on each of its records
        self.private = False
        self.method = ""
        self.xwr: tzinfo | None = None
        self.zones = FileZones({})

    def run(self) -> list[EventRecord]:
        text = _decode(self.raw, self.notes)
        if not text.strip():
            raise _Unreadable("empty file")
        self.private = bool(_PRIVATE.search(text))
        parts = _split(text)
        events = [b for b in parts.blocks if b.name == "VEVENT"]
        if not parts.calendars and not events:
            raise _Unreadable("not an iCalendar file (no BEGIN:VCALENDAR or BEGIN:VEVENT)")
        self._calendar(parts)
        records: list[EventRecord] = []
        for label, group in _groups(events, self.reasons):
            try:
                records += self._group(group)
            except Exception as exc:  # one unreadable event must not cost the others
                self.reasons.append(f"{label}: {self.describe(exc)}")
        return records

    def failures(self) -> list[ItemFailure]:
        if not self.reasons:
            return []
        counted = Counter(self.reasons)
        text = "; ".join(r if n == 1 else f"{r} ({n} times)" for r, n in counted.items())
        return [ItemFailure(self.remote_id, f"{self.remote_id}: {text}"[:2000], self.raw)]

    def describe(self, exc: BaseException) -> str:
        """A reason; a library's message only where no event of the file is private."""
        if isinstance(exc, _Unreadable):
            return str(exc)
        if self.private:
            return f"unreadable ({type(exc).__name__}; details withheld: a private event)"
        return f"unreadable ({type(exc).__name__}: {exc})"[:300]

    def _calendar(self, parts: _Parts) -> None:
        if parts.open_calendar:
            self.notes.append("END:VCALENDAR missing (file cut short?)")
        if parts.properties.get("VERSION", "").strip() == "1.0":
            self.notes.append("vCalendar 1.0 (VERSION:1.0): read as iCalendar")
        self.method = parts.properties.get("METHOD", "").strip().upper()
        zones = [b for b in parts.blocks if b.name == "VTIMEZONE" and b.closed]
        tzids = {(b.value("TZID") or "").replace("\\,", ","): b for b in zones}
        self.zones = FileZones({tzid: "\r\n".join(b.lines) for tzid, b in tzids.items()})
        wanted = parts.properties.get("X-WR-TIMEZONE", "").strip()
        known = iana_name(wanted) if wanted else None
        if known:
            self.xwr = ZoneInfo(known[0])
        elif wanted:
            self.notes.append(f"X-WR-TIMEZONE {wanted[:60]!r} unknown: ignored")

    def _group(self, group: Group) -> list[EventRecord]:
        """One UID: a single event, or a series and its overrides."""
        defects = list(self.notes)
        for block, component in group:
            _check_start(block, component)
            defects += [
                f"{n} unreadable: ignored" if n else "a line unreadable: skipped"
                for n, _ in component.errors
            ]
        uid = _uid(group, defects)
        components = [component for _, component in group]
        master = _master(components, defects)
        self._localize(master, components, defects)
        align(master, components, defects)
        if self.xwr is None and not _recurs(master, components):
            return [self._record(uid, components[0], None, defects)]  # no Calendar needed
        calendar = Calendar()
        for component in components:
            calendar.add_component(component)
        if self.xwr is not None:
            calendar = x_wr_timezone.to_standard(calendar, timezone=self.xwr)
        if not _recurs(master, components):
            return [self._record(uid, calendar.subcomponents[0], None, defects)]
        _check_density(components, self.window)
        query = recurring_ical_events.of(calendar, components=["VEVENT"])
        found = sorted(query.between(*self.window), key=lambda c: _utc(_start(c), []))
        if len(found) > MAX_OCCURRENCES:
            defects.append(f"{len(found)} occurrences in the window: {MAX_OCCURRENCES} read")
            found = found[:MAX_OCCURRENCES]
        shifts = range_shifts(components)
        return [self._record(uid, c, recurrence_id(c, shifts), defects) for c in found]

    def _record(
        self, uid: str, component: Component, recurrence: date | None, defects: list[str]
    ) -> EventRecord:
        own = list(defects)
        fields = _fields(component, own)
        if not fields["status"] and self.method == "CANCEL":
            fields["status"] = "CANCELLED"  # an iTIP cancellation (RFC 5546 section 3.2.5)
        key, recurrence_id = f"ical:{uid}", None
        if recurrence is not None:
            recurrence_id = _utc(recurrence, own)
            key += "/" + recurrence_id.strftime(
                "%Y%m%d" if _is_date(recurrence) else "%Y%m%dT%H%M%SZ"
            )
        return EventRecord(
            remote_id=self.remote_id,
            dedupe_key=key,
            uid=uid,
            recurrence_id=recurrence_id,
            defects=tuple(dict.fromkeys(d[:200] for d in own)),
            **fields,
        )

    def _localize(
        self, master: Component | None, components: list[Component], defects: list[str]
    ) -> None:
        """TZIDs read our way; floating values take the zone of the series' DTSTART."""
        for component in components:
            self._zone(component, "DTSTART", None, defects)
        starts = [_start(c) for c in ([master] if master else []) + components]
        default = next((s.tzinfo for s in starts if isinstance(s, datetime) and s.tzinfo), None)
        for component in components:
            for name in _DATETIMES:
                self._zone(component, name, default, defects)

    def _zone(
        self, component: Component, name: str, default: tzinfo | None, defects: list[str]
    ) -> None:
        values = _get(component, name)
        if values is None:
            return
        for prop in values if isinstance(values, list) else [values]:
            if prop is None or isinstance(prop, vBroken):
                continue
            tzid = _get(prop.params, _TZID)
            zone = self.zones.get(str(tzid), defects) if tzid else default
            for item in prop.dts if isinstance(prop, vDDDLists) else [prop]:
                item.dt = _zoned(item.dt, zone, bool(tzid))


def _zoned(value: Any, zone: tzinfo | None, named: bool) -> Any:
    """The wall time as written in ``zone``: always for a TZID, else only when floating."""
    if isinstance(value, tuple):  # a PERIOD: (start, end or duration)
        return tuple(_zoned(v, zone, named) for v in value)
    if isinstance(value, datetime) and zone is not None and (named or value.tzinfo is None):
        return value.replace(tzinfo=zone)
    return value


# -- cutting the text into components ---------------------------------------------------


def _decode(raw: bytes, notes: list[str]) -> str:
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return raw.decode("utf-16", errors="replace")
    try:
        return raw.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    except UnicodeDecodeError:
        notes.append("not UTF-8: read as Windows-1252")
        return raw.decode("cp1252", errors="replace")


def _split(text: str) -> _Parts:
    """The VCALENDARs' properties and components, or bare top-level components."""
    parts = _Parts()
    stack: list[str] = []
    block: _Block | None = None
    for line in _BREAK.split(_FOLD.sub("", text)):
        stripped = line.strip()
        if not stripped:
            continue
        level = len(stack)  # of this line: a BEGIN opens the next level, an END closes this
        head = stripped.upper() if stripped[0] in "BbEe" else ""  # BEGIN: or END: only
        if head.startswith("BEGIN:"):
            stack.append(head[6:].strip())
            level = len(stack)
            if stack == ["VCALENDAR"]:
                parts.calendars += 1
            elif block is None and (level == 1 or stack[:-1] == ["VCALENDAR"]):
                block = _Block(stack[-1], level)
                parts.blocks.append(block)
        elif head.startswith("END:") and head[4:].strip() in stack:
            name = head[4:].strip()
            while stack.pop() != name:
                pass
            if block is not None and len(stack) < block.depth:
                block.lines.append(line)
                block.closed, block = name == block.name, None
                continue
        elif block is None and stack == ["VCALENDAR"]:
            parts.properties.setdefault(_name(line), line.partition(":")[2])
        if block is not None and (level == block.depth or block.name != "VEVENT"):
            block.lines.append(line)
    parts.open_calendar = "VCALENDAR" in stack
    return parts


def _name(line: str) -> str:
    return _NAME.match(line).group().strip().upper()  # type: ignore[union-attr]


def _hide_tzid(line: str) -> str:
    """``DTSTART;TZID=X:...`` as ``DTSTART;X-CRMSYNC-TZID=X:...``. icalendar would look
    X up in its process-wide zone cache (filled by every file parsed before, and warning
    on vendor-prefixed ids); this parser reads the zone from this file alone."""
    if _TZID_PARAM.search(line) is None:
        return line  # nothing to rename (the common case: one regex search)
    head = _HEAD.match(line) if _name(line) in _DATETIMES else None
    if head is None:
        return line
    return _TZID_PARAM.sub(f";{_TZID}=", head.group(1)) + line[head.end(1) :]


def _groups(blocks: list[_Block], reasons: list[str]) -> list[tuple[str, Group]]:
    """(label, VEVENTs) by UID in file order; each event without a UID on its own."""
    groups: dict[str | int, tuple[str, Group]] = {}
    for index, block in enumerate(blocks):
        uid = block.value("UID")
        label = f"event {uid[:80]!r}" if uid else "event without UID"
        if not block.closed:
            reasons.append(f"{label}: END:VEVENT missing (file cut short?)")
            continue
        try:
            component = block.parse()
        except Exception as exc:
            reasons.append(f"{label}: unreadable VEVENT ({type(exc).__name__})")
            continue
        groups.setdefault(uid or index, (label, []))[1].append((block, component))
    return list(groups.values())


# -- one UID's events ----------------------------------------------------------------------


def _check_start(block: _Block, component: Component) -> None:
    start = _get(component, "DTSTART")
    if isinstance(start, list):
        raise _Unreadable(f"DTSTART given {len(start)} times")
    if isinstance(start, vBroken) or (start is None and block.value("DTSTART") is not None):
        raise _Unreadable("DTSTART unreadable")
    if start is None:
        raise _Unreadable("no DTSTART")
    if not isinstance(start.dt, date):
        raise _Unreadable(f"DTSTART is a {type(start.dt).__name__}, not a date or date-time")


def _uid(group: Group, defects: list[str]) -> str:
    block, component = group[0]
    uid = str(component.get("UID", "")).strip()
    if uid:
        return uid
    defects.append("no UID: the key is a hash of " + ", ".join(_HASHED))
    identity = "\n".join(line for line in block.lines if _name(line) in _HASHED)
    return "sha256:" + hashlib.sha256(identity.encode("utf-8", "replace")).hexdigest()[:40]


def _master(components: list[Component], defects: list[str]) -> Component | None:
    """The series (no RECURRENCE-ID); of several, the one with the highest SEQUENCE."""
    masters = [c for c in components if "RECURRENCE-ID" not in c]
    if len(masters) > 1:
        defects.append(f"{len(masters)} VEVENTs share the UID: the highest SEQUENCE is read")
        masters.sort(key=lambda c: _sequence(c, []))
        for extra in masters[:-1]:
            components.remove(extra)
    return masters[-1] if masters else None


def _recurs(master: Component | None, components: list[Component]) -> bool:
    if master is None or len(components) > 1:
        return True
    return "RRULE" in master or "RDATE" in master


def _check_density(components: list[Component], window: tuple[datetime, datetime]) -> None:
    """Refuse a rule with more than one occurrence a day (FREQ=HOURLY, BYMINUTE=0,30, ...)
    that would give more than MAX_OCCURRENCES in the window, before expanding it. Any
    other rule gives at most one a day: the window bounds it."""
    days = (window[1] - window[0]).days + 1
    for component in components:
        rules = component.get("RRULE")
        for rule in rules if isinstance(rules, list) else [rules]:
            if rule is None or isinstance(rule, vBroken):
                continue
            freq = str((rule.get("FREQ") or [""])[0]).upper()
            per_day = _PER_DAY.get(freq, 1) / max(1, int((rule.get("INTERVAL") or [1])[0]))
            for part in ("BYHOUR", "BYMINUTE", "BYSECOND"):
                per_day *= max(1, len(rule.get(part) or []))
            if per_day > 1 and per_day * days > MAX_OCCURRENCES:
                raise _Unreadable(
                    f"RRULE FREQ={freq} gives about {int(per_day * days)} occurrences in "
                    f"the window, more than {MAX_OCCURRENCES}: not expanded"
                )
