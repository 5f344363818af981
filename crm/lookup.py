"""Caller ID: who is calling, from a phone number as a PBX or a phone book sends it.

The number is normalized to E.164 (:func:`caller_number`), then found with one query
that walks the index on ``contact_points(kind, value)`` and joins the person, the
organization (the person's, or the one whose switchboard it is) and its owner.
A number several customers share prefers a person over an organization, then the
oldest entry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, aliased

from crm.models import ContactPoint, Organization, Person, User
from crm.normalize import InvalidValueError, phone_e164

#: what people and PBXs write between digits: spaces, dashes, dots, slashes, parentheses
_FORMATTING = re.compile(r"[\s\-./()\u00a0]")
#: "+49 (0)40 ...": the trunk prefix written after the country code, dropped
_TRUNK_AFTER_CC = re.compile(r"^(\+\d{1,3})\s*\(0\)")
MAX_LENGTH = 64


@dataclass(frozen=True)
class Named:
    """A person, organization or user: id and name."""

    id: int
    name: str


@dataclass(frozen=True)
class Caller:
    """Who a number belongs to."""

    number: str  # E.164
    person: Named | None
    organization: Named | None
    owner: Named | None

    @property
    def display_name(self) -> str:
        """ "Jana Petersen (Nordwind Logistik GmbH)", or the one name there is."""
        if self.person is not None and self.organization is not None:
            return f"{self.person.name} ({self.organization.name})"
        named = self.person or self.organization
        return named.name if named is not None else self.number


def caller_number(raw: str, default_region: str) -> str:
    """``raw`` in E.164: with ``+CC`` or the ``00`` international prefix, or national in
    ``default_region``; spaces, dashes, slashes, dots, parentheses and a ``(0)`` after the
    country code are allowed. :class:`InvalidValueError` for what is no valid number."""
    text = raw.strip()
    if text.lower().startswith("tel:"):
        text = text[4:]
    if not text or len(text) > MAX_LENGTH:
        raise InvalidValueError("phone", raw[:MAX_LENGTH], "not a phone number")
    text = _TRUNK_AFTER_CC.sub(r"\1", text)
    compact = _FORMATTING.sub("", text)
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if not re.fullmatch(r"\+?\d{3,20}", compact):
        raise InvalidValueError("phone", raw, "only digits, with + or 00 before a country code")
    return phone_e164(compact, default_region)


def caller_query(number: str) -> Select[int, int, str, int, str, int, str]:
    """The one query behind :func:`lookup` (also what the benchmark explains)."""
    org = aliased(Organization)
    return (
        select(
            ContactPoint.id,
            Person.id,
            Person.display_name,
            org.id,
            org.name,
            User.id,
            User.name,
        )
        .select_from(ContactPoint)
        .outerjoin(Person, Person.id == ContactPoint.person_id)
        .outerjoin(
            org, org.id == func.coalesce(ContactPoint.organization_id, Person.organization_id)
        )
        .outerjoin(User, User.id == org.owner_id)
        .where(ContactPoint.kind == "phone", ContactPoint.value == number)
        .order_by(ContactPoint.person_id.is_(None), ContactPoint.id)
        .limit(1)
    )


def lookup(session: Session, number: str) -> Caller | None:
    """The customer whose phone number (E.164) this is; None when nobody has it."""
    row = session.execute(caller_query(number)).first()
    if row is None:
        return None
    _, person_id, person_name, org_id, org_name, owner_id, owner_name = row
    return Caller(
        number=number,
        person=Named(person_id, person_name or "") if person_id is not None else None,
        organization=Named(org_id, org_name or "") if org_id is not None else None,
        owner=Named(owner_id, owner_name or "") if owner_id is not None else None,
    )


def find_caller(session: Session, raw: str, default_region: str) -> Caller | None:
    """:func:`lookup` of a number as written (:func:`caller_number`); None when nobody has
    it, :class:`InvalidValueError` when it is no phone number."""
    return lookup(session, caller_number(raw, default_region))
