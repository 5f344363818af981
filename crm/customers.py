"""A customer's master data as its page shows it, notes, and new customers from the queue."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from crm import audit
from crm.matching import MatchPolicy
from crm.models import (
    ContactPoint,
    Interaction,
    Organization,
    OrganizationDomain,
    Participant,
    Person,
    ReviewItem,
    User,
    utcnow,
)
from crm.normalize import InvalidValueError, domain_of, email_key
from crm.review import Relinked, apply_to_backlog
from crm.timeline import Customer

MAX_NOTE = 20_000
PEOPLE_SHOWN = 200


def get_person(session: Session, person_id: int) -> Person | None:
    """A person with contact points and organization loaded."""
    return session.scalars(
        select(Person)
        .where(Person.id == person_id)
        .options(selectinload(Person.contact_points), selectinload(Person.organization))
    ).first()


def get_organization(session: Session, organization_id: int) -> Organization | None:
    """An organization with domains and contact points loaded (people: :func:`people_of`)."""
    return session.scalars(
        select(Organization)
        .where(Organization.id == organization_id)
        .options(selectinload(Organization.domains), selectinload(Organization.contact_points))
    ).first()


def people_of(session: Session, organization_id: int, limit: int = PEOPLE_SHOWN) -> list[Person]:
    """The people of an organization, by name (at most ``limit``)."""
    return list(
        session.scalars(
            select(Person)
            .where(Person.organization_id == organization_id)
            .order_by(Person.display_name, Person.id)
            .limit(limit)
            .options(selectinload(Person.contact_points))
        )
    )


def add_note(session: Session, customer: Customer, text: str, author: str) -> Interaction:
    """A note by ``author`` on the customer's timeline, now."""
    text = text.strip()
    if not text:
        raise InvalidValueError("note", "", "a note needs some text")
    if len(text) > MAX_NOTE:
        raise InvalidValueError("note", text[:20], f"a note holds at most {MAX_NOTE} characters")
    key = f"note:{uuid.uuid4()}"
    now = utcnow()
    note = Interaction(
        kind="note",
        direction="internal",
        occurred_at=now,
        subject=text.splitlines()[0][:120],
        body_text=text,
        dedupe_key=key,
        thread_key=key,
        created_by=author,
        owner_id=session.scalar(select(User.id).where(User.name == author)),
    )
    note.participants.append(
        Participant(
            role="about",
            email="",
            person_id=customer.id if customer.kind == "person" else None,
            organization_id=customer.id if customer.kind == "organization" else None,
            match_reason="note",
            occurred_at=now,
        )
    )
    session.add(note)
    session.flush()
    audit.record(session, author, "note.create", f"{customer.kind} {customer.id}", note=note.id)
    return note


def create_person_for_address(
    session: Session,
    email: str,
    display_name: str,
    policy: MatchPolicy,
    *,
    with_organization: bool = True,
    actor: str = "system",
) -> tuple[Person, Relinked]:
    """A new person owning ``email``; with ``with_organization`` they join the organization
    owning the address's domain, or a new one named after the domain (never for free
    mail). Stored mail from the address (and the domain) is linked at once."""
    email = email_key(email)
    if session.scalars(select(ContactPoint.id).where(ContactPoint.value == email)).first():
        raise InvalidValueError("email", email, "belongs to a customer already")
    domain = domain_of(email)
    org = _organization_for(session, domain, policy) if with_organization else None
    person = Person(display_name=display_name.strip() or email, organization=org)
    person.contact_points.append(ContactPoint(kind="email", value=email, original=email))
    session.add(person)
    session.flush()
    audit.record(
        session,
        actor,
        "person.create",
        f"person {person.id} {person.display_name}",
        email=email,
        organization=org.id if org is not None else None,
    )
    emails = [email]
    if org is not None:  # the whole domain's queue entries may now resolve
        emails += session.scalars(
            select(ReviewItem.email).where(
                ReviewItem.status == "open", ReviewItem.email.like("%@" + domain)
            )
        )
    return person, apply_to_backlog(session, policy, emails)


def _organization_for(session: Session, domain: str, policy: MatchPolicy) -> Organization | None:
    if policy.is_free_mail(domain) or policy.is_internal("x@" + domain):
        return None
    owner = session.scalars(
        select(Organization).join(OrganizationDomain).where(OrganizationDomain.domain == domain)
    ).first()
    if owner is not None:
        return owner
    org = Organization(name=_name_from_domain(domain), created_at=utcnow())
    org.domains.append(OrganizationDomain(domain=domain))
    session.add(org)
    return org


def _name_from_domain(domain: str) -> str:
    """``nordwind-logistik.example`` -> ``Nordwind Logistik``."""
    label = domain.split(".")[-2] if domain.count(".") >= 1 else domain
    return " ".join(part.capitalize() for part in label.replace("_", "-").split("-") if part)
