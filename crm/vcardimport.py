"""Importing customers from vCard files (2.1, 3.0 and 4.0); see :mod:`crm.importing`.

The text is split into cards here, keeping each card's first line, so that a
broken card is reported with its line and the others are imported; vobject
then parses one card at a time. vCard 2.1 quoted-printable soft line breaks
(a value ending in ``=``, continued on the next line without indentation) are
joined first, as vobject does not understand them, and only the properties
used below reach vobject (no PHOTO, no nested AGENT card): a broken photo must
not cost a card its name and address.

What is taken from a card (RFC 2426, RFC 6350):

- FN is the name; N gives given_name and family_name; ORG (its first
  component) the organization; TITLE; NOTE the notes; UID the external_id,
  as it is.
- EMAIL, all of them. TEL, all of them, labelled ``mobile`` (TYPE=cell),
  ``fax`` (TYPE=fax without voice), ``home`` or else ``work``; a ``tel:`` URI
  (vCard 4.0) is read as its number.
- A card is an organization when it says KIND:org (vCard 4.0) or
  X-ABShowAs:COMPANY (Apple), or when it has an ORG but no person's name (N
  without given or family name, and FN missing or the same as ORG); ORG (else
  FN) is then its name. Mail domains never come from a vCard.

Every value is validated as a CSV row's is, and a card with a bad one is
skipped as a whole and reported.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import vobject
from sqlalchemy.orm import Session

from crm.importing import CustomerRecord, ImportProblem, ImportReport, store_records

log = logging.getLogger(__name__)

# BEGIN:VCARD / END:VCARD, with an optional group prefix ("home.begin:vcard").
MARKER = re.compile(r"^(?:[\w-]+\.)?(BEGIN|END)\s*:\s*VCARD\s*$", re.IGNORECASE)
USED = frozenset(
    {"BEGIN", "END", "VERSION", "FN", "N", "ORG", "TITLE", "NOTE", "UID", "EMAIL", "TEL"}
    | {"KIND", "X-ABSHOWAS"}
)


@dataclass
class CardText:
    """The lines of one card, each with its line number (1-based) in the file."""

    lines: list[tuple[int, str]]

    @property
    def line(self) -> int:
        """The line of BEGIN:VCARD."""
        return self.lines[0][0]

    def ends_in_agent(self) -> bool:
        """True after a vCard 2.1 ``AGENT:`` line, whose value is the card that follows."""
        last = self.lines[-1][1]
        return _property_name(last) == "AGENT" and not last.partition(":")[2].strip()

    def append(self, number: int, line: str) -> None:
        """Add a line, joining it to a quoted-printable value that ends in a soft break."""
        previous = self.lines[-1][1]
        if previous.endswith("=") and "QUOTED-PRINTABLE" in previous.partition(":")[0].upper():
            self.lines[-1] = (self.lines[-1][0], previous[:-1] + line)
        else:
            self.lines.append((number, line))


def import_vcards(session: Session, text: str, *, default_region: str) -> ImportReport:
    """Import the customers of a vCard file's text (one or more cards)."""
    return store_records(session, read_vcards(text), default_region=default_region)


def read_vcards(text: str) -> Iterator[CustomerRecord | ImportProblem]:
    """The records of the cards in ``text``, and the problems of the broken ones."""
    for item in split_cards(text):
        yield item if isinstance(item, ImportProblem) else _parse(item)


def split_cards(text: str) -> Iterator[CardText | ImportProblem]:
    """The cards of a text, and a problem for each stretch of text outside them.

    A BEGIN:VCARD inside a card starts a nested card after a vCard 2.1 AGENT
    property, and otherwise means the open card lacks its END:VCARD.
    """
    card: CardText | None = None
    depth = 0
    outside = False
    for number, line in enumerate(re.split(r"\r\n|\r|\n", text), start=1):
        marker = _marker(line)
        if card is not None and marker == "BEGIN" and depth == 1 and not card.ends_in_agent():
            yield ImportProblem(card.line, "vCard without END:VCARD")
            card = None
        if card is None:
            if marker == "BEGIN":
                card, depth, outside = CardText([(number, line)]), 1, False
            elif line.strip() and not outside:
                outside = True
                yield ImportProblem(number, "text outside BEGIN:VCARD … END:VCARD ignored")
            continue
        card.append(number, line)
        depth += {"BEGIN": 1, "END": -1}.get(marker, 0)
        if depth == 0:
            yield card
            card = None
    if card is not None:
        yield ImportProblem(card.line, "vCard without END:VCARD")


def _parse(card: CardText) -> CustomerRecord | ImportProblem:
    """One card as a record, or a problem when vobject cannot read it."""
    lines = _used_lines(card)
    text = "".join(f"{line}\r\n" for _, line in lines)
    try:
        # allowQP=True: vobject then counts lines as they are (its other path miscounts)
        return _record(vobject.readOne(text, allowQP=True), card.line)
    except vobject.base.ParseError as exc:
        at = exc.lineNumber if isinstance(exc.lineNumber, int) else 0
        line = lines[at - 1][0] if 0 < at <= len(lines) else card.line
        return ImportProblem(line, f"unreadable vCard: {exc.msg}")
    except Exception as exc:  # vobject raises ValueError, TypeError, ... too on odd input
        log.debug("unreadable vCard at line %d", card.line, exc_info=True)
        return ImportProblem(card.line, f"unreadable vCard: {exc}")


def _used_lines(card: CardText) -> list[tuple[int, str]]:
    """The lines of the properties we use (folded ones included), without nested cards.

    Only these reach vobject, so that a broken PHOTO or an odd X- property
    cannot cost a card its name and address.
    """
    used: list[tuple[int, str]] = []
    depth, keep = 0, False
    for number, line in card.lines:
        folded = line[:1] in (" ", "\t")  # a folded line continues the property before it
        if not folded:
            marker = _marker(line)
            depth += 1 if marker == "BEGIN" else 0
            keep = depth == 1 and _property_name(line) in USED
            depth -= 1 if marker == "END" else 0
        if keep:
            used.append((number, line))
    return used


def _marker(line: str) -> str:
    """The marker of a BEGIN:VCARD or END:VCARD line ("BEGIN", "END"), else ``""``."""
    match = MARKER.match(line)
    return match.group(1).upper() if match else ""


def _property_name(line: str) -> str:
    """The upper-case name of the property a line starts, without its group."""
    return line.partition(":")[0].partition(";")[0].rpartition(".")[2].strip().upper()


def _record(card: Any, line: int) -> CustomerRecord:
    """The customer a parsed card describes."""
    name, org = _first(card, "fn"), _org_name(card)
    given, family = _name_parts(card)
    record = CustomerRecord(
        line=line,
        external_id=_first(card, "uid"),
        notes=_first(card, "note"),
        emails=[_text(p.value) for p in card.contents.get("email", []) if _text(p.value)],
        phones=[phone for phone in map(_phone, card.contents.get("tel", [])) if phone[1]],
        website=_first(card, "url"),
        categories=_categories(card),
    )
    _address(card, record)
    if _is_organization(card, name, given or family, org):
        record.kind, record.name = "organization", org or name
    else:
        record.name, record.given_name, record.family_name = name, given, family
        record.organization, record.title = org, _first(card, "title")
    return record


def _categories(card: Any) -> list[str]:
    """The names of all CATEGORIES properties."""
    names: list[str] = []
    for prop in card.contents.get("categories", []):
        values = prop.value if isinstance(prop.value, list | tuple) else str(prop.value).split(",")
        names.extend(_text(v) for v in values if _text(v))
    return names


def _address(card: Any, record: CustomerRecord) -> None:
    """The first ADR (a work address before others) into the record."""
    props = card.contents.get("adr", [])
    props = sorted(props, key=lambda p: "WORK" not in str(p.params.get("TYPE", "")).upper())
    for prop in props:
        value = prop.value
        if isinstance(value, vobject.vcard.Address):
            record.street = _text(value.street)
            record.city = _text(value.city)
            record.region = _text(value.region)
            record.postal_code = _text(value.code)
            record.country = _text(value.country)
            return


def _is_organization(card: Any, name: str, person_name: str, org: str) -> bool:
    """True for a card of a company rather than of a person."""
    if _first(card, "kind").lower() in ("org", "organization"):
        return True
    if _first(card, "x-abshowas").upper() == "COMPANY":
        return True
    return bool(org) and not person_name and name in ("", org)


def _first(card: Any, name: str) -> str:
    """The text of the first property of that (lower-case) name, ``""`` if none."""
    props = card.contents.get(name, [])
    return _text(props[0].value) if props else ""


def _text(value: Any) -> str:
    """A property value as stripped text (structured values joined by spaces)."""
    if isinstance(value, list | tuple):
        return " ".join(_text(v) for v in value if _text(v))
    return str(value).strip() if value is not None else ""


def _name_parts(card: Any) -> tuple[str, str]:
    """(given, family) from N."""
    props = card.contents.get("n", [])
    if not props or not isinstance(props[0].value, vobject.vcard.Name):
        return "", ""
    return _text(props[0].value.given), _text(props[0].value.family)


def _org_name(card: Any) -> str:
    """The organization's name: the first component of ORG."""
    props = card.contents.get("org", [])
    if not props:
        return ""
    value = props[0].value
    first = value[0] if isinstance(value, list | tuple) and value else value
    return _text(first).partition(";")[0].strip()


def _phone(prop: Any) -> tuple[str, str]:
    """(label, number) of a TEL property; a vCard 4.0 ``tel:`` URI is read as its number."""
    number = _text(prop.value)
    if number[:4].lower() == "tel:":
        number = number[4:]
    raw_types = list(prop.params.get("TYPE", [])) + list(getattr(prop, "singletonparams", []))
    types = {t.strip().lower() for raw in raw_types for t in str(raw).split(",")}
    return _phone_label(types), number


def _phone_label(types: set[str]) -> str:
    """The label of a number of these (lower-case) TEL types."""
    if "cell" in types:
        return "mobile"
    if "fax" in types and "voice" not in types:
        return "fax"
    return "home" if "home" in types else "work"
