"""Calendar events for the Microsoft Graph simulator: single events, recurring series
with Graph's ``patternedRecurrence``, exceptions and cancelled occurrences, expanded into
the instances a ``calendarView`` returns.

An event's start and end are kept as wall-clock times in the zone the store names
(``time_zone``, a Windows name such as ``"W. Europe Standard Time"`` or an IANA name);
Graph answers ``originalStartTimeZone``/``originalEndTimeZone`` with that name and gives
``start``/``end`` in UTC unless the request says ``Prefer: outlook.timezone="..."``.
All-day events are floating: midnight to midnight in whatever zone the answer uses.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WINDOWS_ZONES = {
    "utc": "UTC",
    "w. europe standard time": "Europe/Berlin",
    "romance standard time": "Europe/Paris",
    "central europe standard time": "Europe/Budapest",
    "central european standard time": "Europe/Warsaw",
    "gmt standard time": "Europe/London",
    "e. europe standard time": "Europe/Chisinau",
    "fle standard time": "Europe/Kiev",
    "russian standard time": "Europe/Moscow",
    "eastern standard time": "America/New_York",
    "central standard time": "America/Chicago",
    "mountain standard time": "America/Denver",
    "pacific standard time": "America/Los_Angeles",
    "tokyo standard time": "Asia/Tokyo",
    "china standard time": "Asia/Shanghai",
    "india standard time": "Asia/Kolkata",
    "aus eastern standard time": "Australia/Sydney",
}
GOID_PREFIX = "040000008200E00074C5B7101A82E008"
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
OVERRIDABLE = (
    "subject",
    "start",
    "end",
    "location",
    "body",
    "attendees",
    "sensitivity",
    "show_as",
    "is_all_day",
    "categories",
)


def zone(name: str) -> ZoneInfo | None:
    """A Windows or IANA time zone name as a tzinfo (None when unknown)."""
    try:
        return ZoneInfo(WINDOWS_ZONES.get(name.strip().lower(), name.strip()))
    except (ZoneInfoNotFoundError, ValueError):
        return None


def iso_utc(value: dt.datetime) -> str:
    """Graph's DateTimeOffset: ``2024-05-01T08:00:00Z``."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def graph_datetime(value: dt.datetime) -> str:
    """Graph's dateTimeTimeZone.dateTime: seven fractional digits, no offset."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.0000000")


@dataclass
class Event:
    """A single event or the master of a series, as the store keeps it."""

    id: str
    calendar_id: str
    subject: str
    start: dt.datetime  # wall-clock in time_zone
    end: dt.datetime
    time_zone: str
    ical_uid: str
    created: dt.datetime
    modified: dt.datetime
    is_all_day: bool = False
    sensitivity: str = "normal"
    show_as: str = "busy"
    is_cancelled: bool = False
    organizer: tuple[str, str] = ("", "")
    attendees: list[dict[str, str]] = field(default_factory=list)
    location: str = ""
    body: str = ""
    categories: list[str] = field(default_factory=list)
    recurrence: dict[str, Any] | None = None
    exceptions: dict[str, dict[str, Any]] = field(default_factory=dict)  # original start iso
    cancelled: set[str] = field(default_factory=set)  # original starts of deleted occurrences
    change_key: str = field(default_factory=lambda: "DwAAABYAAAA" + secrets.token_hex(8))

    def aware(self, value: dt.datetime) -> dt.datetime:
        if self.is_all_day:
            return value.replace(tzinfo=dt.UTC)
        return value.replace(tzinfo=zone(self.time_zone) or dt.UTC)

    def occurrence_starts(self, until: dt.datetime) -> Iterator[dt.datetime]:
        """Original (wall-clock) starts of the series' occurrences that begin before ``until``."""
        assert self.recurrence is not None
        pattern, rng = self.recurrence["pattern"], self.recurrence["range"]
        first = dt.date.fromisoformat(rng.get("startDate") or self.start.date().isoformat())
        last = dt.date.fromisoformat(rng["endDate"]) if rng["type"] == "endDate" else None
        count = int(rng.get("numberOfOccurrences") or 0) if rng["type"] == "numbered" else 0
        for made, day in enumerate(_dates(pattern, first)):
            start = dt.datetime.combine(day, self.start.time())
            if (last and day > last) or (count and made >= count) or self.aware(start) >= until:
                return
            yield start

    def instances(self, window_start: dt.datetime, window_end: dt.datetime) -> list[Instance]:
        """What a calendarView over the window shows of this event (no series master)."""
        if self.recurrence is None:
            single = Instance(self, None, {})
            return [single] if single.overlaps(window_start, window_end) else []
        duration = self.end - self.start
        found = []
        # an exception may have been moved into the window from a month later
        for original in self.occurrence_starts(window_end + dt.timedelta(days=31)):
            key = original.isoformat()
            if key in self.cancelled:
                continue
            span = {"start": original, "end": original + duration}
            occ = Instance(self, original, {**span, **self.exceptions.get(key, {})})
            if occ.overlaps(window_start, window_end):
                found.append(occ)
        return found

    def instance(self, instance_id: str) -> Instance | None:
        if self.recurrence is None:
            return None
        duration = self.end - self.start
        for original in self.occurrence_starts(self.aware(self.start) + dt.timedelta(days=3660)):
            occ = Instance(self, original, {"start": original, "end": original + duration})
            if occ.id == instance_id and original.isoformat() not in self.cancelled:
                occ.overrides.update(self.exceptions.get(original.isoformat(), {}))
                return occ
        return None


def _dates(pattern: dict[str, Any], first: dt.date) -> Iterator[dt.date]:
    kind, interval = pattern["type"], max(1, int(pattern.get("interval") or 1))
    for step in range(20000):
        if kind == "daily":
            yield first + dt.timedelta(days=step * interval)
        elif kind == "weekly":
            week = first - dt.timedelta(days=(first.weekday() + 1) % 7)  # Sunday
            week += dt.timedelta(weeks=step * interval)
            wanted = {DAYS.index(d.lower()) for d in pattern.get("daysOfWeek") or []}
            for offset in range(7):
                day = week + dt.timedelta(days=offset)
                if day >= first and day.weekday() in (wanted or {first.weekday()}):
                    yield day
        elif kind in ("absoluteMonthly", "absoluteYearly"):
            months = step * interval * (12 if kind == "absoluteYearly" else 1)
            base = first.month - 1 + months
            year, month = first.year + base // 12, base % 12 + 1
            if kind == "absoluteYearly":
                month = int(pattern.get("month") or first.month)
            try:
                day = dt.date(year, month, int(pattern.get("dayOfMonth") or first.day))
            except ValueError:
                continue
            if day >= first:
                yield day
        else:
            raise ValueError(f"recurrence pattern {kind!r} is not simulated")


@dataclass
class Instance:
    """A single event, or one occurrence or exception of a series (``original`` set)."""

    event: Event
    original: dt.datetime | None
    overrides: dict[str, Any]

    def get(self, name: str) -> Any:
        return self.overrides.get(name, getattr(self.event, name))

    @property
    def id(self) -> str:
        if self.original is None:
            return self.event.id
        digest = hashlib.sha256(
            f"{self.event.id}\0{self.original.isoformat()}".encode()
        ).hexdigest()
        return "AAMkAO" + self.event.id[6:30] + "OCC" + digest[:40]

    @property
    def kind(self) -> str:
        if self.original is None:
            return "singleInstance"
        return "exception" if self.original.isoformat() in self.event.exceptions else "occurrence"

    @property
    def change_key(self) -> str:
        extra = self.event.exceptions.get(self.original.isoformat(), {}) if self.original else {}
        if not extra:
            return self.event.change_key
        return self.event.change_key[:11] + hashlib.sha256(repr(extra).encode()).hexdigest()[:16]

    def span(self) -> tuple[dt.datetime, dt.datetime]:
        is_all_day = self.get("is_all_day")
        tz = dt.UTC if is_all_day else (zone(self.event.time_zone) or dt.UTC)
        return self.get("start").replace(tzinfo=tz), self.get("end").replace(tzinfo=tz)

    def overlaps(self, window_start: dt.datetime, window_end: dt.datetime) -> bool:
        start, end = self.span()
        return start < window_end and (end > window_start or (start == end == window_start))

    def ical_uid(self) -> str:
        uid = self.event.ical_uid
        if self.original is None or not uid.upper().startswith(GOID_PREFIX):
            return uid
        day = self.original
        return uid[:32] + f"{day.year:04X}{day.month:02X}{day.day:02X}" + uid[40:]

    def json(self, out_zone: str, base_url: str) -> dict[str, Any]:
        """The event resource as calendarView (delta) returns it, times in ``out_zone``."""
        ev, start, end = self.event, *self.span()
        if self.get("is_all_day"):
            start_s, end_s = graph_datetime(self.get("start")), graph_datetime(self.get("end"))
        else:
            tz = zone(out_zone) or dt.UTC
            start_s, end_s = (
                graph_datetime(start.astimezone(tz)),
                graph_datetime(end.astimezone(tz)),
            )
        location = self.get("location")
        locations = [{"displayName": location, "locationType": "default"}] if location else []
        body = self.get("body")
        data: dict[str, Any] = {
            "@odata.type": "#microsoft.graph.event",
            "@odata.etag": f'W/"{self.change_key}"',
            "id": self.id,
            "createdDateTime": iso_utc(ev.created),
            "lastModifiedDateTime": iso_utc(ev.modified),
            "changeKey": self.change_key,
            "categories": list(self.get("categories")),
            "originalStartTimeZone": ev.time_zone,
            "originalEndTimeZone": ev.time_zone,
            "iCalUId": self.ical_uid(),
            "reminderMinutesBeforeStart": 15,
            "isReminderOn": True,
            "hasAttachments": False,
            "subject": self.get("subject"),
            "bodyPreview": " ".join(body.split())[:255],
            "importance": "normal",
            "sensitivity": self.get("sensitivity"),
            "isAllDay": bool(self.get("is_all_day")),
            "isCancelled": ev.is_cancelled,
            "isOrganizer": False,
            "responseRequested": True,
            "seriesMasterId": ev.id if self.original is not None else None,
            "showAs": self.get("show_as"),
            "type": self.kind,
            "webLink": f"{base_url}/owa/?itemid={self.id}&exvsurl=1&path=/calendar/item",
            "onlineMeetingUrl": None,
            "isOnlineMeeting": False,
            "onlineMeetingProvider": "unknown",
            "isDraft": False,
            "responseStatus": {"response": "none", "time": "0001-01-01T00:00:00Z"},
            "body": {"contentType": "html", "content": body},
            "start": {"dateTime": start_s, "timeZone": out_zone},
            "end": {"dateTime": end_s, "timeZone": out_zone},
            "location": locations[0] if locations else {"displayName": ""},
            "locations": locations,
            "recurrence": None,
            "attendees": [_attendee(a) for a in self.get("attendees")],
            "organizer": {"emailAddress": {"name": ev.organizer[0], "address": ev.organizer[1]}},
        }
        if self.original is not None:
            data["originalStart"] = iso_utc(ev.aware(self.original))
        return data


def master_json(event: Event, out_zone: str, base_url: str) -> dict[str, Any]:
    """A series master (GET /events/{id}): the first occurrence's times and ``recurrence``."""
    data = Instance(event, None, {}).json(out_zone, base_url)
    data.update(type="seriesMaster", recurrence=event.recurrence)
    return data


def _attendee(a: dict[str, str]) -> dict[str, Any]:
    return {
        "type": a.get("type", "required"),
        "status": {"response": a.get("response", "none"), "time": "0001-01-01T00:00:00Z"},
        "emailAddress": {"name": a.get("name", a["address"]), "address": a["address"]},
    }
