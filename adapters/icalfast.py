"""A faster way to the same icalendar ``Component`` for a well-formed VEVENT.

``Component.from_ical`` spends most of its time cutting each content line into name,
parameters and value (a character-by-character scan, escaping and unescaping of the
parameter section, a ``Parameters`` parse with quote-aware splitting). For the lines
almost every calendar is made of (a plain name; parameters ``NAME=value`` or
``NAME="value"`` with no backslash, caret, comma or control character in them; no
stray blanks) that work reduces to one regular expression, and the rest is done the
way icalendar's own parser does it (``ComponentIcalParser.handle_property``): the same
types factory, the same value unescaping, the same ``add``. Where icalendar builds
an object only to throw it away (the ``Parameters`` of a text, an address or a date
that the line's own replace right after; the second ``vText`` made of a first one)
the object kept is made directly, and icalendar's case-insensitive dicts are filled
with keys already upper-case through the plain dict methods. The events made are of a
subclass of icalendar's VEVENT class whose shallow ``copy`` (once per occurrence in
recurring-ical-events) is cheaper.

:func:`fast_vevent` returns ``None`` for anything else (a line this fast path does
not recognize, a property icalendar treats specially, a value its type refuses, a
nested component): the caller then parses with ``Component.from_ical``, so an odd
file reads exactly as before. Tests compare both ways over the iCalendar corpus.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from datetime import date, time, timedelta
from typing import Any

from icalendar import Component
from icalendar.parser import Parameters
from icalendar.parser.property import unescape_backslash
from icalendar.parser_tools import DEFAULT_ENCODING
from icalendar.prop import vCalAddress, vDDDTypes, vText

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
# icalendar's CaselessDicts store their keys upper-cased: with a key that already is,
# the plain dict operations do what theirs do, without a to_unicode and upper() each
_set = OrderedDict.__setitem__
_dict_get = dict.get
_new_params = OrderedDict.__new__
_new_ddd = object.__new__
_new_str = str.__new__
_DDD_PLAIN = (date, time, timedelta)  # datetime is a date; a PERIOD (tuple) goes the long way
_FACTORIES: dict[tuple[str, str | None], Any] = {}


class _Event(Component._get_component_factory().get_component_class("VEVENT")):  # type: ignore[misc]
    """icalendar's VEVENT class, with a cheaper shallow ``copy``: recurring-ical-events
    copies the event once per occurrence, and icalendar's copy sends every key through
    ``to_unicode`` and ``upper()`` twice. The keys already are upper-case: the copy is the
    same (a new, empty component of this class, holding the same values)."""

    def copy(self, recursive: bool = False) -> Any:
        if recursive:
            return super().copy(recursive)
        copied = type(self)()
        for key, value in self.items():
            _set(copied, key, value)
        return copied


_event_class = _Event


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
        name, head, value = match.groups()
        name = name.upper()
        if name in _SPECIAL:
            return None
        params = _new_params(Parameters)  # Parameters() without its __init__: the same
        if head:
            for key, item in _PARAM.findall(head):
                _set(params, key.upper(), item[1:-1] if item[:1] == '"' else item)
            value_type = params.value
        else:
            value_type = None
        factory = _factory(name, value_type)
        if factory is None:
            return None
        if "\\" in value:  # unescape_backslash changes nothing without a backslash
            value = unescape_backslash(value)
        if factory is vText or (factory is vCalAddress and "\r" not in value and "\n" not in value):
            # vText/vCalAddress.from_ical(value) is the class called on the value, and
            # calling it again on that gives an equal one: made once, with params
            prop: Any = _new_str(factory, value)
            if factory is vText:
                prop.encoding = DEFAULT_ENCODING
            prop.params = params
        else:
            tzid = _dict_get(params, "TZID") if head and name in _DATETIME_NAMES else None
            try:
                parsed = factory.from_ical(value, tzid) if tzid else factory.from_ical(value)
            except (ValueError, TypeError):
                return None  # icalendar keeps it as vBroken and notes an error: its way
            prop = _wrap(factory, parsed, params)
        old = _dict_get(component, name)  # what Component.add(encode=False) does
        if old is None:
            _set(component, name, prop)
        elif isinstance(old, list):
            old.append(prop)
        else:
            _set(component, name, [old, prop])
    return component


def _factory(name: str, value_type: str | None) -> Any:
    """``types_factory.for_property``, remembered; None for a type that reads the raw
    content line (``get_value_from_content_line``)."""
    key = (name, value_type)
    try:
        return _FACTORIES[key]
    except KeyError:
        pass
    factory: Any = _types.for_property(name, value_type)
    if getattr(factory, "get_value_from_content_line", None) is not None:
        factory = None
    if len(_FACTORIES) < 1000:
        _FACTORIES[key] = factory
    return factory


def _wrap(factory: Any, parsed: Any, params: Parameters) -> Any:
    """``factory(parsed)`` with ``params``, as icalendar's parser makes it. A date, a
    date-time or a duration is made directly: vDDDTypes' constructor would build
    Parameters of its own (and look up a TZID) only to have them replaced by ``params``."""
    if factory is vDDDTypes and isinstance(parsed, _DDD_PLAIN):
        prop = _new_ddd(vDDDTypes)
        prop.dt = parsed
        prop.params = params
        return prop
    prop = factory(parsed)
    prop.params = params
    return prop
