"""The CARDDAV:filter of addressbook-query (RFC 6352 section 10.5) and partial
address-data (section 10.4.2), over rendered cards.

The cards are ours, so a light reader is enough: it unfolds content lines and splits
each into name, parameters and value, and unescapes text.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from xml.etree.ElementTree import Element

from web.carddav.xmlutil import CARDDAV, BadRequest, split

COLLATIONS = ("i;unicode-casemap", "i;ascii-casemap", "i;octet")
MATCH_TYPES = ("equals", "contains", "starts-with", "ends-with")
_UNESCAPE = re.compile(r"\\(.)", re.S)


class UnsupportedCollation(Exception):
    """A text-match asked for a collation we do not have (answered 403 with
    CARDDAV:supported-collation)."""


@dataclass(frozen=True)
class Line:
    name: str
    params: dict[str, list[str]]
    value: str
    physical: str  # the folded text as served, with its CRLFs


def lines(card: str) -> list[Line]:
    """The content lines of a card, unfolded."""
    out: list[Line] = []
    logical: list[str] = []
    physical: list[str] = []

    def flush() -> None:
        if logical:
            out.append(_line("".join(logical), "".join(physical)))
            logical.clear()
            physical.clear()

    for raw in card.split("\r\n"):
        if not raw:
            continue
        if raw[0] in " \t":
            logical.append(raw[1:])
            physical.append(raw + "\r\n")
            continue
        flush()
        logical.append(raw)
        physical.append(raw + "\r\n")
    flush()
    return out


def _line(text: str, physical: str) -> Line:
    head, _, value = text.partition(":")
    name, *params = head.split(";")
    parsed: dict[str, list[str]] = {}
    for param in params:
        key, _, values = param.partition("=")
        parsed.setdefault(key.upper(), []).extend(v for v in values.split(",") if v)
    return Line(name.split(".")[-1].upper(), parsed, value, physical)


def unescape(value: str) -> str:
    return _UNESCAPE.sub(lambda m: "\n" if m.group(1) in "nN" else m.group(1), value)


def _fold_case(text: str, collation: str) -> str:
    if collation == "i;octet":
        return text
    if collation == "i;ascii-casemap":
        return "".join(c.lower() if c.isascii() else c for c in text)
    return unicodedata.normalize("NFKC", text).casefold()


Test = Callable[[list[Line]], bool]


def _text_match(element: Element) -> Callable[[str], bool]:
    collation = element.get("collation", "i;unicode-casemap")
    if collation not in COLLATIONS:
        raise UnsupportedCollation(collation)
    match_type = element.get("match-type", "contains")
    if match_type not in MATCH_TYPES:
        raise BadRequest(f"unknown match-type {match_type!r}")
    negate = element.get("negate-condition", "no") == "yes"
    needle = _fold_case(element.text or "", collation)

    def test(value: str) -> bool:
        hay = _fold_case(value, collation)
        if match_type == "equals":
            hit = hay == needle
        elif match_type == "starts-with":
            hit = hay.startswith(needle)
        elif match_type == "ends-with":
            hit = hay.endswith(needle)
        else:
            hit = needle in hay
        return hit != negate

    return test


def _values(line: Line) -> list[str]:
    """The values a text-match compares: the whole value, and each component of a
    structured one (N, ADR, ORG) or list (CATEGORIES)."""
    text = unescape(line.value)
    if line.name == "TEL" and text.startswith("tel:"):
        text = text[4:]
    values = [text]
    if line.name in ("N", "ADR", "ORG", "CATEGORIES"):
        values += [unescape(part) for part in re.split(r"(?<!\\)[;,]", line.value) if part]
    return values


def _param_filter(element: Element) -> Callable[[Line], bool]:
    name = (element.get("name") or "").upper()
    if not name:
        raise BadRequest("a param-filter needs a name")
    children = {split(c.tag)[1]: c for c in element if split(c.tag)[0] == CARDDAV}
    if "is-not-defined" in children:
        return lambda line: name not in line.params
    match = _text_match(children["text-match"]) if "text-match" in children else None

    def test(line: Line) -> bool:
        values = line.params.get(name)
        if values is None:
            return False
        return match is None or any(match(v) for v in values)

    return test


def _prop_filter(element: Element) -> Test:
    name = (element.get("name") or "").upper()
    if not name:
        raise BadRequest("a prop-filter needs a name")
    all_of = element.get("test", "anyof") == "allof"
    children = [c for c in element if split(c.tag)[0] == CARDDAV]
    if any(split(c.tag)[1] == "is-not-defined" for c in children):
        return lambda card: not any(line.name == name for line in card)
    matches = [_text_match(c) for c in children if split(c.tag)[1] == "text-match"]
    params = [_param_filter(c) for c in children if split(c.tag)[1] == "param-filter"]

    def line_ok(line: Line) -> bool:
        results = [any(m(v) for v in _values(line)) for m in matches]
        results += [p(line) for p in params]
        if not results:
            return True
        return all(results) if all_of else any(results)

    return lambda card: any(line.name == name and line_ok(line) for line in card)


def compile_filter(element: Element | None) -> Test:
    """A test for the CARDDAV:filter element (None: every card matches)."""
    if element is None:
        return lambda card: True
    all_of = element.get("test", "anyof") == "allof"
    filters = [_prop_filter(c) for c in element if split(c.tag) == (CARDDAV, "prop-filter")]
    if not filters:
        return lambda card: True
    if all_of:
        return lambda card: all(f(card) for f in filters)
    return lambda card: any(f(card) for f in filters)


ALWAYS_KEPT = frozenset({"BEGIN", "END", "VERSION", "UID"})


def partial(card: str, names: frozenset[str]) -> str:
    """The card with only the named properties (and those every card needs)."""
    keep = names | ALWAYS_KEPT
    return "".join(line.physical for line in lines(card) if line.name in keep)
