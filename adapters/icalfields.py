"""One occurrence's fields, read from its icalendar ``Component`` (for adapters.ical).

icalendar's ``Component`` and ``Parameters`` are case-insensitive dicts that store
their keys upper-cased; looking up a name that already is upper-case with the plain
``dict.get`` finds what their ``get`` finds, without the ``to_unicode`` and ``upper()``
each of their lookups costs (a few per field, a dozen fields per occurrence).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from icalendar import Component
from icalendar.prop import vBroken, vDDDTypes

from adapters.records import Attendee

#: ``dict.get`` on a Component or Parameters, with an upper-case key
get: Any = dict.get

_MAILTO = re.compile(r"^\s*mailto:", re.I)
_FLOATING = "floating time (no TZID): taken as UTC"


def fields(component: Component, defects: list[str]) -> dict[str, Any]:
    starts_at, ends_at, all_day = span(component, defects)
    people = _people(component, "ORGANIZER")
    return {
        "summary": _text(component, "SUMMARY", defects).strip(),
        "location": _text(component, "LOCATION", defects).strip(),
        "description": _text(component, "DESCRIPTION", defects),
        "starts_at": starts_at,
        "ends_at": ends_at,
        "all_day": all_day,
        "status": _text(component, "STATUS", defects).strip().upper(),
        "private": _text(component, "CLASS", defects).strip().upper()
        in ("PRIVATE", "CONFIDENTIAL"),
        "organizer": people[0] if people else None,
        "attendees": tuple(_people(component, "ATTENDEE")),
        "sequence": sequence(component, defects),
        "last_modified": _last_modified(component),
    }


def span(component: Component, defects: list[str]) -> tuple[datetime, datetime, bool]:
    """Start and (exclusive) end in UTC, and whether the event is all-day. Without DTEND
    and DURATION a date lasts one day and a date-time no time (RFC 5545 section 3.6.1)."""
    begin = start(component)
    all_day = is_date(begin)
    end: date = begin + timedelta(days=1) if all_day else begin
    dtend, duration = get(component, "DTEND"), get(component, "DURATION")
    if isinstance(dtend, list) or isinstance(duration, list):
        defects.append("DTEND or DURATION given more than once: ignored")
    elif dtend is not None and not isinstance(dtend, vBroken) and isinstance(dtend.dt, date):
        end = dtend.dt
    elif isinstance(duration, vDDDTypes) and isinstance(duration.dt, timedelta):
        end = begin + duration.dt
    starts_at, ends_at = utc(begin, defects), utc(end, defects)
    if ends_at < starts_at:
        defects.append("the event ends before it starts: end taken as start")
    if ends_at < starts_at or (all_day and ends_at == starts_at):
        ends_at = starts_at + (timedelta(days=1) if all_day else timedelta())
    return starts_at, ends_at, all_day


def _text(component: Component, name: str, defects: list[str]) -> str:
    value = get(component, name)
    if isinstance(value, list):
        defects.append(f"{name} given {len(value)} times: the first is read")
        value = value[0]
    return "" if value is None or isinstance(value, vBroken) else str(value)


def _people(component: Component, name: str) -> list[Attendee]:
    values = get(component, name)
    found = []
    for value in values if isinstance(values, list) else [values]:
        text = "" if value is None else str(value)
        if text[:7] in ("mailto:", "MAILTO:"):
            email = text[7:].strip()  # what _MAILTO.sub gives, without the regex
        else:
            email = _MAILTO.sub("", text).strip()
        if not email or isinstance(value, vBroken):
            continue
        params = value.params
        found.append(
            Attendee(
                email=email,
                name=str(get(params, "CN", "")).strip(),
                role=str(get(params, "ROLE", "")).strip().upper(),
                status=str(get(params, "PARTSTAT", "")).strip().upper(),
            )
        )
    return found


def sequence(component: Component, defects: list[str]) -> int:
    value = get(component, "SEQUENCE")
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    if value is not None and not isinstance(value, vBroken):
        defects.append("SEQUENCE unreadable: taken as 0")
    return 0


def _last_modified(component: Component) -> datetime | None:
    value = get(component, "LAST-MODIFIED")
    if value is None or isinstance(value, (vBroken, list)) or not isinstance(value.dt, date):
        return None
    return utc(value.dt, [])  # RFC 5545 wants UTC here; a floating one is taken as such


def utc(value: date, defects: list[str]) -> datetime:
    """A date-time in UTC; a date is its midnight UTC, a floating time is taken as UTC."""
    if not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if value.utcoffset() is None:
        defects.append(_FLOATING)
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def start(component: Component) -> date:
    """DTSTART's value, checked by ``_check_start`` (icalendar types it as a union)."""
    value: Any = component["DTSTART"]
    begin: date = value.dt
    return begin


def is_date(value: object) -> bool:
    return isinstance(value, date) and not isinstance(value, datetime)
