"""Creating and changing a customer's master data, as a person enters it (web form, API).

Every e-mail address (email-validator), phone number (phonenumbers, E.164), IBAN, BIC
and VAT id (python-stdnum) is checked before anything is stored. What is wrong is
refused with the reason, all problems at once (:class:`InvalidValues`), and nothing of
that entry is stored. A change writes an audit entry naming the fields it changed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm import audit
from crm.models import ContactPoint, Organization, Person, User
from crm.normalize import (
    InvalidValueError,
    phone_e164,
    valid_bic,
    valid_email,
    valid_iban,
    valid_vat_id,
)

#: the plain text fields of both kinds, and their largest length
TEXT_FIELDS = {
    "title": 255,
    "notes": 10_000,
    "website": 512,
    "street": 255,
    "locality": 128,
    "region": 128,
    "postal_code": 32,
    "country": 128,
}
#: the checked ids, and their checks
ID_FIELDS: dict[str, Callable[[str], str]] = {
    "iban": valid_iban,
    "bic": valid_bic,
    "vat_id": valid_vat_id,
}


class InvalidValues(ValueError):
    """Raised with every problem of one entry: ``problems`` are InvalidValueErrors."""

    def __init__(self, problems: list[InvalidValueError]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


@dataclass
class CustomerInput:
    """What a person entered for a person (``kind`` "person") or an organization."""

    kind: str
    name: str
    given_name: str = ""
    family_name: str = ""
    organization_id: int | None = None
    owner_id: int | None = None
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)


def save_customer(
    session: Session,
    entered: CustomerInput,
    *,
    actor: str,
    default_region: str,
    customer_id: int | None = None,
) -> Person | Organization:
    """Create (no ``customer_id``) or change a customer; :class:`InvalidValues` when any
    value is wrong, :class:`LookupError` for an unknown id."""
    problems: list[InvalidValueError] = []
    emails = _checked(entered.emails, valid_email, problems)
    phones = _checked(entered.phones, lambda p: phone_e164(p, default_region), problems)
    ids = {}
    for name, check in ID_FIELDS.items():
        value = entered.ids.get(name, "").strip()
        ids[name] = next(iter(_checked([value], check, problems)), "")
    name = " ".join(entered.name.split())
    if not name:
        problems.append(InvalidValueError("name", entered.name, "a customer needs a name"))
    elif len(name) > 255:
        problems.append(InvalidValueError("name", name[:20], "at most 255 characters"))
    for key, value in entered.texts.items():
        if key not in TEXT_FIELDS:
            raise ValueError(f"unknown field {key}")
        if len(value) > TEXT_FIELDS[key]:
            reason = f"at most {TEXT_FIELDS[key]} characters"
            problems.append(InvalidValueError(key, value[:20], reason))
    model: type[Person] | type[Organization] = Person if entered.kind == "person" else Organization
    customer = _load(session, model, customer_id)
    problems += _taken(session, list(emails), customer)
    problems += _references(session, entered)
    if problems:
        raise InvalidValues(problems)
    changed = _apply(customer, entered, name, ids)
    changed += _points(session, customer, "email", emails)
    changed += _points(session, customer, "phone", phones)
    if customer_id is None:
        session.add(customer)
    session.flush()
    if changed or customer_id is None:
        action = f"{entered.kind}.{'update' if customer_id else 'create'}"
        audit.record(session, actor, action, f"{entered.kind} {customer.id} {name}", fields=changed)
    return customer


def _load(
    session: Session, model: type[Person] | type[Organization], customer_id: int | None
) -> Person | Organization:
    if customer_id is None:
        return Person(display_name="") if model is Person else Organization(name="")
    found: Person | Organization | None = (
        session.get(Person, customer_id)
        if model is Person
        else session.get(Organization, customer_id)
    )
    if found is None:
        raise LookupError(f"no {model.__name__.lower()} {customer_id}")
    return found


def _checked(
    values: list[str], check: Callable[[str], str], problems: list[InvalidValueError]
) -> dict[str, str]:
    """Each valid value, cleaned, with the first line it was written as (in order)."""
    out: dict[str, str] = {}
    for value in (v.strip() for v in values):
        if not value:
            continue
        try:
            cleaned = check(value)
        except InvalidValueError as exc:
            problems.append(exc)
            continue
        out.setdefault(cleaned, value)
    return out


def _taken(
    session: Session, emails: list[str], customer: Person | Organization
) -> list[InvalidValueError]:
    """Addresses another customer has: an address belongs to one customer only."""
    if not emails:
        return []
    rows = session.scalars(
        select(ContactPoint).where(ContactPoint.kind == "email", ContactPoint.value.in_(emails))
    )
    problems = []
    for point in rows:
        mine = (
            point.person_id == customer.id
            if isinstance(customer, Person)
            else point.organization_id == customer.id
        )
        if customer.id is None or not mine:
            owner = point.person or point.organization
            who = owner.display_name if isinstance(owner, Person) else getattr(owner, "name", "")
            reason = f"is the address of {who} already (merge them instead)"
            problems.append(InvalidValueError("email", point.value, reason))
    return problems


def _references(session: Session, entered: CustomerInput) -> list[InvalidValueError]:
    problems = []
    if entered.organization_id is not None and not session.get(
        Organization, entered.organization_id
    ):
        problems.append(
            InvalidValueError("organization", str(entered.organization_id), "no such organization")
        )
    if entered.owner_id is not None and not session.get(User, entered.owner_id):
        problems.append(InvalidValueError("owner", str(entered.owner_id), "no such user"))
    return problems


def _apply(
    customer: Person | Organization, entered: CustomerInput, name: str, ids: dict[str, str]
) -> list[str]:
    values: dict[str, Any] = {**entered.texts, **ids}
    if isinstance(customer, Person):
        values.update(
            display_name=name,
            given_name=entered.given_name.strip()[:255],
            family_name=entered.family_name.strip()[:255],
            organization_id=entered.organization_id,
        )
    else:
        values.update(name=name, owner_id=entered.owner_id)
    changed = []
    for key, value in values.items():
        if not hasattr(customer, key):
            continue  # a person has no owner, an organization no title
        if getattr(customer, key) != value:
            setattr(customer, key, value)
            changed.append(key)
    return changed


def _points(
    session: Session, customer: Person | Organization, kind: str, values: dict[str, str]
) -> list[str]:
    """Make the customer's contact points of ``kind`` exactly ``values`` (cleaned value ->
    as written)."""
    current = [p for p in customer.contact_points if p.kind == kind]
    known = {p.value for p in current}
    changed = False
    for point in current:
        if point.value not in values:
            customer.contact_points.remove(point)
            session.delete(point)
            changed = True
    for value, written in values.items():
        if value not in known:
            customer.contact_points.append(
                ContactPoint(kind=kind, value=value, original=written[:320])
            )
            changed = True
    return [f"{kind}s"] if changed else []
