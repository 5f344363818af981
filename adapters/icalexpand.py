"""Where recurring-ical-events needs help (for adapters.ical): a RECURRENCE-ID of the
other value type than its series' DTSTART, and the original start of each occurrence
of a RANGE=THISANDFUTURE override."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from icalendar import Component
from icalendar.prop import vBroken

from adapters.icalfields import get, is_date
from adapters.icalfields import start as _start


def align(master: Component | None, components: list[Component], defects: list[str]) -> None:
    """A RECURRENCE-ID of the other value type than the series' DTSTART (a date for a
    date-time series, or the reverse) names the occurrence on that day."""
    if master is None:
        return
    start = _start(master)
    for component in components:
        rid: Any = component.get("RECURRENCE-ID")
        if rid is None or isinstance(rid, (vBroken, list)) or is_date(rid.dt) == is_date(start):
            continue
        defects.append("RECURRENCE-ID and DTSTART differ in value type: matched on the day")
        if isinstance(start, datetime):
            rid.dt = datetime.combine(rid.dt, start.timetz())
        else:
            rid.dt = rid.dt.date()


def range_shifts(components: list[Component]) -> dict[date, timedelta]:
    """How far each RECURRENCE-ID;RANGE=THISANDFUTURE override moves its occurrences."""
    shifts: dict[date, timedelta] = {}
    for component in components:
        rid = component.get("RECURRENCE-ID")
        if rid is None or isinstance(rid, (vBroken, list)) or not _this_and_future(rid):
            continue
        try:
            shifts[rid.dt] = _start(component) - rid.dt
        except TypeError:  # a date against a date-time: no shift to tell
            continue
    return shifts


def recurrence_id(occurrence: Component, shifts: dict[date, timedelta]) -> date:
    """The occurrence's original start. recurring-ical-events gives each occurrence a
    THISANDFUTURE override moved that override's RECURRENCE-ID: undo the move."""
    rid = get(occurrence, "RECURRENCE-ID")
    start = _start(occurrence)
    if rid is None:
        return start
    if _this_and_future(rid) and rid.dt in shifts:
        return start - shifts[rid.dt]
    value: date = rid.dt
    return value


def _this_and_future(rid: Any) -> bool:
    return str(rid.params.get("RANGE", "")).upper() == "THISANDFUTURE"
