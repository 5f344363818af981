"""Reading the interaction history: a customer's timeline, or everyone's."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session, selectinload

from crm.models import (
    ContactPoint,
    Interaction,
    Organization,
    OrganizationDomain,
    Participant,
    Person,
)
from crm.normalize import email_key


class UnknownCustomerError(LookupError):
    """Raised when no person has that address and no organization that domain or name."""

    def __init__(self, key: str) -> None:
        super().__init__(f"no customer found for {key!r}")
        self.key = key


@dataclass(frozen=True)
class Customer:
    """A person or an organization, as the timeline names it."""

    kind: str  # person | organization
    id: int
    name: str


@dataclass(frozen=True)
class TimelineEntry:
    """One interaction as a timeline shows it."""

    id: int
    kind: str
    direction: str
    occurred_at: datetime
    subject: str
    snippet: str
    participants: list[dict[str, str | None]]
    customers: list[Customer]
    attachments: list[str]
    sources: int
    thread_key: str
    is_bulk: bool = field(default=False)


def find_customer(session: Session, key: str) -> Customer:
    """A customer by e-mail address (a person, or an organization's address), by mail
    domain (an organization), or by exact name."""
    key = key.strip()
    if "@" in key and not key.startswith("@"):
        point = session.scalars(
            select(ContactPoint).where(
                ContactPoint.kind == "email", ContactPoint.value == email_key(key)
            )
        ).first()
        if point is not None and point.person is not None:
            return Customer("person", point.person.id, point.person.display_name)
        if point is not None and point.organization is not None:
            return Customer("organization", point.organization.id, point.organization.name)
        raise UnknownCustomerError(key)
    org = session.scalars(
        select(Organization)
        .join(OrganizationDomain)
        .where(OrganizationDomain.domain == key.lstrip("@").lower())
    ).first()
    org = org or session.scalars(select(Organization).where(Organization.name == key)).first()
    if org is not None:
        return Customer("organization", org.id, org.name)
    person = session.scalars(select(Person).where(Person.display_name == key)).first()
    if person is not None:
        return Customer("person", person.id, person.display_name)
    raise UnknownCustomerError(key)


def timeline(
    session: Session,
    customer: Customer | None = None,
    *,
    limit: int = 50,
    before: datetime | None = None,
) -> list[TimelineEntry]:
    """Newest first: a customer's interactions (an organization's include its people's),
    or all of them."""
    query = select(Interaction).order_by(Interaction.occurred_at.desc(), Interaction.id.desc())
    if customer is not None:
        query = query.where(Interaction.id.in_(_linked_to(customer)))
    if before is not None:
        query = query.where(Interaction.occurred_at < before)
    query = query.limit(limit).options(
        selectinload(Interaction.participants).selectinload(Participant.person),
        selectinload(Interaction.participants).selectinload(Participant.organization),
        selectinload(Interaction.attachments),
        selectinload(Interaction.sources),
    )
    return [_entry(i) for i in session.scalars(query)]


def _linked_to(customer: Customer) -> Select[Any]:
    if customer.kind == "person":
        return select(Participant.interaction_id).where(Participant.person_id == customer.id)
    people = select(Person.id).where(Person.organization_id == customer.id)
    return select(Participant.interaction_id).where(
        or_(Participant.organization_id == customer.id, Participant.person_id.in_(people))
    )


def _entry(interaction: Interaction) -> TimelineEntry:
    customers: dict[tuple[str, int], Customer] = {}
    participants = []
    for p in interaction.participants:
        if p.person is not None:
            customers[("person", p.person.id)] = Customer(
                "person", p.person.id, p.person.display_name
            )
        if p.organization is not None:
            customers[("organization", p.organization.id)] = Customer(
                "organization", p.organization.id, p.organization.name
            )
        participants.append(
            {
                "role": p.role,
                "email": p.email,
                "name": p.name,
                "customer": (
                    p.person.display_name
                    if p.person
                    else p.organization.name
                    if p.organization
                    else None
                ),
                "match": p.match_reason,
                "internal": "yes" if p.is_internal else "no",
            }
        )
    return TimelineEntry(
        id=interaction.id,
        kind=interaction.kind,
        direction=interaction.direction,
        occurred_at=interaction.occurred_at,
        subject=interaction.subject,
        snippet=" ".join(interaction.body_text.split())[:160],
        participants=participants,
        customers=list(customers.values()),
        attachments=[a.filename for a in interaction.attachments],
        sources=len(interaction.sources),
        thread_key=interaction.thread_key,
        is_bulk=interaction.is_bulk,
    )
