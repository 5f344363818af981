"""A faster way to the same icalendar ``Component`` for a well-formed VEVENT.

``Component.from_ical`` spends most of its time cutting each content line into name,
parameters and value (a character-by-character scan, escaping and unescaping of the
parameter section, a ``Parameters`` parse with quote-aware splitting). For the lines
almost every calendar is made of (a plain name; parameters ``NAME=value`` or
``NAME="value"`` with no backslash, caret, comma or control character in them; no
stray blanks) that work reduces to one regular expression, and the rest is done the
way icalendar's own parser does it (``ComponentIcalParser.handle_property``): the same
types factory, the same value unescaping, the same ``add``.

:func:`fast_vevent` returns ``None`` for anything else (a line this fast path does
not recognize, a property icalendar treats specially, a value its type refuses, a
nested component): the caller then parses with ``Component.from_ical``, so an odd
file reads exactly as before. Tests compare both ways over the iCalendar corpus.
"""

from __future__ import annotations

import re
from typing import Any

from icalendar import Component
from icalendar.parser import Parameters
from icalendar.parser.property import unescape_backslash

# name, then ;NAME=value or ;NAME="value" (any number), then the value
_QUOTED = r'"[^"\\^\x00-\x08\x0a-\x1f\x7f]*"'
_BARE_END = r'[^";:,\\^\s\x00-\x1f\x7f]'  # no blank at either end: icalendar strips those
_BARE = rf'(?:{_BARE_END}(?:[^";:,\\^\x00-\x08\x0a-\x1f\x7f]*{_BARE_END})?)?'
_PARAM_VALUE = rf"(?:{_QUOTED}|{_BARE})"
_LINE = re.compile(rf"([A-Za-z0-9-]+)((?:;[A-Za-z0-9-]+={_PARAM_VALUE})*):(.*)", re.S)
_PARAM = re.compile(rf";([A-Za-z0-9-]+)=({_PARAM_VALUE})")
# names icalendar's parser handles in a way of its own (or that open a component)
_SPECIAL = frozenset({"BEGIN", "END", "CATEGORIES", "FREEBUSY", "RDATE"})
# as ComponentIcalParser.datetime_names: their TZID goes to from_ical
_DATETIME_NAMES = frozenset({"DTSTART", "DTEND", "RECURRENCE-ID", "DUE", "RDATE", "EXDATE"})

_types = Component.types_factory
_event_class = Component._get_component_factory().get_component_class("VEVENT")


def fast_vevent(lines: list[str]) -> Component | None:
    """The VEVENT of ``lines`` (BEGIN:VEVENT, its properties, END:VEVENT; unfolded),
    as ``Component.from_ical`` would make it; ``None`` where this path does not apply."""
    if len(lines) < 2 or lines[0].upper() != "BEGIN:VEVENT" or lines[-1].upper() != "END:VEVENT":
        return None
    component = _event_class()
    if not getattr(component, "name", ""):
        return None
    for line in lines[1:-1]:
        if not line:
            continue
        match = _LINE.fullmatch(line)
        if match is None:
            return None
        name = match.group(1).upper()
        if name in _SPECIAL:
            return None
        params = Parameters()
        if match.group(2):
            for key, value in _PARAM.findall(match.group(2)):
                params[key] = value[1:-1] if value[:1] == '"' else value
        factory: Any = _types.for_property(name, params.value)
        if getattr(factory, "get_value_from_content_line", None) is not None:
            return None
        value = unescape_backslash(match.group(3))
        tzid = params.get("TZID") if params and name in _DATETIME_NAMES else None
        try:
            parsed = factory.from_ical(value, tzid) if tzid else factory.from_ical(value)
        except (ValueError, TypeError):
            return None  # icalendar keeps it as vBroken and notes an error: its way
        prop = factory(parsed)
        prop.params = params
        component.add(name, prop, encode=False)
    return component
