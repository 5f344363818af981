"""Customers as vCards (3.0 and 4.0), rendered when they change and kept in ``cards``.

Rendering is written out here instead of going through vobject: vobject takes about
0.5 ms to build and serialize one card, so a first sync of 100,000 customers would
spend over a minute in it; these few rules (RFC 6350 section 3.4 escaping, section
3.2 folding at 75 octets, RFC 2426 for 3.0) take a few microseconds a card. The tests
parse every card back with vobject.

Organizations are cards of their own, as plain contacts with the company name:

- iOS and macOS Contacts show a card with ``X-ABShowAs:COMPANY`` as a company (the
  name in bold, sorted by company). ``X-ADDRESSBOOKSERVER-KIND:group`` would instead
  make the company a *group* of its people in those clients, and a group has no phone
  number, so the switchboard's number could no longer name the caller.
- DAVx5 turns group cards (KIND:group, or the Apple kind) into contact groups too; a
  plain card with FN and ORG is a contact it shows with the company name.
- Thunderbird ignores KIND and X-ABShowAs and shows FN, which is the company name.

vCard 4.0 cards say ``KIND:org`` as RFC 6350 defines it, which no client above turns
into a group.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from crm.models import (
    Card,
    ChangeCounter,
    ContactPoint,
    CustomerCategory,
    Organization,
    Person,
    utcnow,
)

PRODID = "-//crmsync//CardDAV export//EN"
CHUNK = 500

# ContactPoint.label (as imports and forms write it) -> (vCard 3.0 TYPEs, 4.0 TYPEs)
_TEL_TYPES: dict[str, tuple[str, str]] = {
    "mobile": ("CELL,VOICE", "cell,voice"),
    "cell": ("CELL,VOICE", "cell,voice"),
    "work": ("WORK,VOICE", "work,voice"),
    "home": ("HOME,VOICE", "home,voice"),
    "fax": ("FAX", "fax"),
    "pager": ("PAGER", "pager"),
}
_EMAIL_TYPES: dict[str, tuple[str, str]] = {"work": ("WORK", "work"), "home": ("HOME", "home")}


_SPECIAL = re.compile(r"[\\\r\n,;]")


def escape(value: str) -> str:
    """A text value escaped for a vCard content line (3.0 and 4.0 agree on this)."""
    if not _SPECIAL.search(value):
        return value
    return (
        value.replace("\\", "\\\\")
        .replace("\r\n", "\n")
        .replace("\r", "\n")
        .replace("\n", "\\n")
        .replace(",", "\\,")
        .replace(";", "\\;")
    )


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _clean(value: str) -> str:
    # Control characters other than line breaks are not allowed in vCard text.
    if value.isprintable():
        return value
    return _CONTROL.sub("", value).replace("\t", " ")


def fold(line: str) -> str:
    """One content line folded at 75 octets, never inside a UTF-8 character."""
    raw = line.encode()
    if len(raw) <= 75:
        return line + "\r\n"
    out = []
    start, limit = 0, 75
    while start < len(raw):
        end = min(start + limit, len(raw))
        while end < len(raw) and (raw[end] & 0xC0) == 0x80:  # a continuation byte
            end -= 1
        out.append(raw[start:end].decode())
        start, limit = end, 74  # continuation lines begin with one space
    return "\r\n ".join(out) + "\r\n"


class _Lines:
    def __init__(self) -> None:
        self.parts: list[str] = []

    def add(self, name: str, value: str, raw: bool = False) -> None:
        text = value if raw else escape(_clean(value or ""))
        if text:
            self.parts.append(fold(f"{name}:{text}"))

    def text(self) -> str:
        return "".join(self.parts)


def _structured(*components: str | None) -> str:
    return ";".join(escape(_clean(c or "")) for c in components)


def _points(lines: _Lines, points: Sequence[ContactPoint | _Point], v4: bool) -> None:
    emails = [p for p in points if p.kind == "email"]
    phones = [p for p in points if p.kind == "phone"]
    for i, point in enumerate(emails):
        v3types, v4types = _EMAIL_TYPES.get(point.label.lower(), ("", ""))
        if v4:
            params = (f";TYPE={v4types}" if v4types else "") + (";PREF=1" if i == 0 else "")
        else:
            types = ["INTERNET", *([v3types] if v3types else []), *(["PREF"] if i == 0 else [])]
            params = ";TYPE=" + ",".join(types)
        lines.add("EMAIL" + params, point.value)
    for i, point in enumerate(phones):
        v3types, v4types = _TEL_TYPES.get(point.label.lower(), ("VOICE", "voice"))
        if v4:
            pref = ";PREF=1" if i == 0 else ""
            lines.add(f"TEL;VALUE=uri;TYPE={v4types}{pref}", "tel:" + point.value, raw=True)
        else:
            pref = ",PREF" if i == 0 else ""
            lines.add(f"TEL;TYPE={v3types}{pref}", point.value)


def _address(lines: _Lines, c: Person | Organization | _Customer, v4: bool) -> None:
    parts = tuple(p or "" for p in (c.street, c.locality, c.region, c.postal_code, c.country))
    if any(parts):
        lines.add("ADR;TYPE=" + ("work" if v4 else "WORK"), _structured("", "", *parts), raw=True)


def _common_tail(
    lines: _Lines, c: Person | Organization | _Customer, categories: Sequence[str]
) -> None:
    lines.add("URL", c.website)
    lines.add("NOTE", c.notes)
    if categories:
        lines.add("CATEGORIES", ",".join(escape(_clean(n)) for n in categories), raw=True)


def render_person(person: Person | _Customer, org_name: str, v4: bool) -> str:
    """The person's card without REV and END (see :func:`finish`)."""
    lines = _Lines()
    lines.add("VERSION", "4.0" if v4 else "3.0")
    lines.add("PRODID", PRODID, raw=True)
    lines.add("UID", person.uid)
    lines.add("FN", person.display_name or person.family_name or person.given_name or "?")
    lines.add("N", _structured(person.family_name, person.given_name, "", "", ""), raw=True)
    lines.add("ORG", _structured(org_name), raw=True)
    lines.add("TITLE", person.title)
    _points(lines, person.contact_points, v4)
    _address(lines, person, v4)
    _common_tail(lines, person, sorted(c.name for c in person.categories))
    return "BEGIN:VCARD\r\n" + lines.text()


def render_organization(org: Organization | _Customer, v4: bool) -> str:
    """The organization's card without REV and END (see :func:`finish`)."""
    lines = _Lines()
    lines.add("VERSION", "4.0" if v4 else "3.0")
    lines.add("PRODID", PRODID, raw=True)
    lines.add("UID", org.uid)
    if v4:
        lines.add("KIND", "org")
    lines.add("FN", org.name or "?")
    if not v4:
        lines.add("N", ";;;;", raw=True)  # 3.0 requires N; Apple writes it empty for companies
    lines.add("ORG", _structured(org.name), raw=True)
    if not v4:
        lines.add("X-ABSHOWAS", "COMPANY")
    _points(lines, org.contact_points, v4)
    _address(lines, org, v4)
    _common_tail(lines, org, sorted(c.name for c in org.categories))
    return "BEGIN:VCARD\r\n" + lines.text()


def finish(body: str, rev: datetime) -> str:
    """A rendered body with its REV line and END."""
    return body + f"REV:{rev.strftime('%Y%m%dT%H%M%SZ')}\r\nEND:VCARD\r\n"


def content_etag(body3: str, body4: str) -> str:
    """The ETag of a card: a hash of its content (both versions, without REV)."""
    return hashlib.sha256(f"{body3}\0{body4}".encode()).hexdigest()[:32]


# -- the rendered cards -----------------------------------------------------------------


@dataclass
class _Point:
    kind: str
    value: str
    label: str


@dataclass
class _Category:
    name: str


@dataclass
class _Customer:
    """What a card shows of a customer, read with plain queries (the ORM's objects cost
    more than the rendering): the attribute names of Person and Organization."""

    id: int
    uid: str
    card_seq: int
    updated_at: datetime
    display_name: str = ""
    given_name: str = ""
    family_name: str = ""
    title: str = ""
    name: str = ""
    notes: str = ""
    website: str = ""
    street: str = ""
    locality: str = ""
    region: str = ""
    postal_code: str = ""
    country: str = ""
    organization_id: int | None = None
    contact_points: list[_Point] = field(default_factory=list)
    categories: list[_Category] = field(default_factory=list)


_COMMON: tuple[str, ...] = ("id", "uid", "card_seq", "updated_at", "notes", "website")
_COMMON += ("street", "locality", "region", "postal_code", "country")
_PERSON_COLUMNS = (
    *_COMMON,
    "display_name",
    "given_name",
    "family_name",
    "title",
    "organization_id",
)
_ORG_COLUMNS = (*_COMMON, "name")


def refresh(session: Session) -> int:
    """Render the cards of customers changed since the last refresh; the number rendered.

    Costs the changes, not the collection: it reads the customers whose ``card_seq`` is
    above the counter's ``cards_seq`` through their index. A card whose content did not
    change (only its membership of a book, say) keeps its text, REV and ETag. The caller
    commits; run it in a writing transaction (crm.db.will_write).
    """
    counter = session.execute(
        select(ChangeCounter.value, ChangeCounter.cards_seq)
        .where(ChangeCounter.id == 1)
        .with_for_update()
    ).first()
    if counter is None or counter.cards_seq >= counter.value:
        return 0
    since, target = counter.cards_seq, counter.value
    done = 0
    for cls, columns in ((Person, _PERSON_COLUMNS), (Organization, _ORG_COLUMNS)):
        ids = list(session.scalars(select(cls.id).where(cls.card_seq > since).order_by(cls.id)))
        for start in range(0, len(ids), CHUNK):
            customers = _load(session, cls, columns, ids[start : start + CHUNK])
            done += _store(session, customers, cls is Person)
    session.execute(
        update(ChangeCounter)
        .where(ChangeCounter.id == 1, ChangeCounter.cards_seq < target)
        .values(cards_seq=target)
    )
    return done


def _load(
    session: Session,
    cls: type[Person] | type[Organization],
    columns: tuple[str, ...],
    ids: list[int],
) -> list[_Customer]:
    rows = session.execute(select(*(getattr(cls, c) for c in columns)).where(cls.id.in_(ids))).all()
    customers = {row.id: _Customer(**row._asdict()) for row in rows}
    owner = ContactPoint.person_id if cls is Person else ContactPoint.organization_id
    points = select(owner, ContactPoint.kind, ContactPoint.value, ContactPoint.label)
    for owner_id, kind, value, label in session.execute(
        points.where(owner.in_(ids)).order_by(ContactPoint.id)
    ):
        customers[owner_id].contact_points.append(_Point(kind, value, label))
    tagged = CustomerCategory.person_id if cls is Person else CustomerCategory.organization_id
    for owner_id, name in session.execute(
        select(tagged, CustomerCategory.name).where(tagged.in_(ids))
    ):
        customers[owner_id].categories.append(_Category(name))
    return list(customers.values())


def _store(session: Session, customers: list[_Customer], people: bool) -> int:
    org_names: dict[int, str] = {}
    if people:
        org_ids = {c.organization_id for c in customers if c.organization_id is not None}
        org_names = dict(
            session.execute(
                select(Organization.id, Organization.name).where(Organization.id.in_(org_ids))
            ).all()
        )
    existing = {
        uid: (etag, changed_at)
        for uid, etag, changed_at in session.execute(
            select(Card.uid, Card.etag, Card.changed_at).where(
                Card.uid.in_([c.uid for c in customers])
            )
        )
    }
    now = utcnow()
    inserts: list[dict[str, object]] = []
    updates: list[dict[str, object]] = []
    for c in customers:
        if people:
            org_name = org_names.get(c.organization_id, "") if c.organization_id else ""
            body3 = render_person(c, org_name, False)
            body4 = render_person(c, org_name, True)
        else:
            body3 = render_organization(c, False)
            body4 = render_organization(c, True)
        etag = content_etag(body3, body4)
        before = existing.get(c.uid)
        if before is not None and before[0] == etag:
            updates.append({"uid": c.uid, "seq": c.card_seq})  # only a book's membership
            continue
        rev = max(c.updated_at, before[1]) if before is not None else c.updated_at
        row = {
            "uid": c.uid,
            "seq": c.card_seq,
            "etag": etag,
            "vcard3": finish(body3, rev),
            "vcard4": finish(body4, rev),
            "changed_at": now,
        }
        if before is None:
            row["person_id" if people else "organization_id"] = c.id
            inserts.append(row)
        else:
            updates.append(row)
    if inserts:
        session.execute(insert(Card), inserts)
    if updates:
        session.execute(update(Card), updates)  # by primary key, in one executemany
    return len(customers)
