"""Contacts into the CRM: the enrich and import policies, provenance, edits kept."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from adapters.records import ContactRecord
from crm.contacts import ContactsResult, ingest_contacts
from crm.models import (
    AuditEntry,
    ContactPoint,
    CustomerFieldSource,
    Organization,
    Person,
)
from crm.syncstate import ensure_account

BOOK = "/alice/contacts/"


def contact(href: str = "/alice/contacts/ann.vcf", **values: Any) -> ContactRecord:
    fields: dict[str, Any] = {
        "remote_id": href,
        "uid": "ann-uid",
        "kind": "person",
        "name": "Ann Smith",
        "given_name": "Ann",
        "family_name": "Smith",
        "emails": (("work", "ann@customer.example"),),
    }
    fields.update(values)
    return ContactRecord(**fields)


def ann(session: Session, **values: Any) -> Person:
    person = Person(display_name="Ann Smith", **values)
    person.contact_points.append(ContactPoint(kind="email", value="ann@customer.example"))
    session.add(person)
    session.flush()
    return person


def ingest(
    session: Session, records: list[ContactRecord], policy: str = "enrich", **kw: Any
) -> ContactsResult:
    account = ensure_account(session, kw.pop("account", "alice-contacts"), "carddav", "alice")
    return ingest_contacts(
        session,
        account_id=account.id,
        collection=BOOK,
        records=records,
        policy=policy,
        default_region="DE",
        **kw,
    )


def phones(person: Person) -> list[str]:
    return sorted(p.value for p in person.contact_points if p.kind == "phone")


def count(session: Session, model: type[Any]) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_enrich_adds_to_a_known_person_and_creates_nobody(session: Session) -> None:
    person = ann(session)
    card = contact(
        phones=(("mobile", "+49 170 1234567"), ("work", "030 1234567")),
        title="Head of Purchasing",
        street="Hauptstr. 1",
        city="Berlin",
        postal_code="10115",
        country="Germany",
        website="https://customer.example",
        categories=("VIP",),
        organization="Customer GmbH",
    )
    stranger = contact("/alice/contacts/bob.vcf", uid="bob", name="Bob", emails=(("", "b@x.de"),))
    result = ingest(session, [card, stranger])
    assert (result.enriched, result.created, result.unmatched) == (1, 0, 1)
    assert phones(person) == ["+491701234567", "+49301234567"]
    assert person.title == "Head of Purchasing"
    assert (person.street, person.locality, person.postal_code) == (
        "Hauptstr. 1",
        "Berlin",
        "10115",
    )
    assert person.website == "https://customer.example"
    assert [c.name for c in person.categories] == ["VIP"]
    assert person.organization is None, "enrich creates no organization"
    assert count(session, Person) == 1 and count(session, Organization) == 0

    again = ingest(session, [card])
    assert (again.enriched, again.unchanged) == (0, 1)
    assert phones(person) == ["+491701234567", "+49301234567"]


def test_enrich_matches_by_phone_number(session: Session) -> None:
    person = Person(display_name="Carl")
    person.contact_points.append(ContactPoint(kind="phone", value="+491701234567"))
    session.add(person)
    card = contact(emails=(), phones=(("mobile", "0170 1234567"),), title="CEO")
    assert ingest(session, [card]).enriched == 1
    assert person.title == "CEO"
    assert count(session, Person) == 1


def test_import_creates_people_and_organizations(session: Session) -> None:
    cards = [
        contact(organization="Customer GmbH", title="Buyer", phones=(("work", "030 1234567"),)),
        contact(
            "/alice/contacts/acme.vcf",
            uid="acme",
            kind="organization",
            name="ACME AG",
            given_name="",
            family_name="",
            organization="ACME AG",
            emails=(("work", "info@acme.example"),),
        ),
    ]
    result = ingest(session, cards, policy="import")
    assert result.created == 2, result
    person = session.scalars(select(Person)).one()
    assert person.display_name == "Ann Smith" and person.title == "Buyer"
    assert person.organization is not None and person.organization.name == "Customer GmbH"
    assert phones(person) == ["+49301234567"]
    acme = session.scalars(select(Organization).filter_by(name="ACME AG")).one()
    assert [p.value for p in acme.contact_points] == ["info@acme.example"]

    again = ingest(session, cards, policy="import")
    assert (again.created, again.unchanged) == (0, 2)
    assert count(session, Person) == 1 and count(session, Organization) == 2
    # the audit log names the source: one entry for the batch that created them
    [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "contacts.sync"))
    assert entry.actor.startswith("sync:") and '"created": 2' in entry.details
    assert "/alice/contacts/acme.vcf" in entry.details


def test_an_edited_field_is_not_overwritten(session: Session) -> None:
    person = ann(session, title="CTO", street="Admin street 5", locality="Hamburg")
    result = ingest(
        session, [contact(title="Intern", street="Card street 1", city="Berlin", website="w.de")]
    )
    assert result.enriched == 1  # the empty web site was filled
    assert person.title == "CTO"
    assert (person.street, person.locality) == ("Admin street 5", "Hamburg")
    assert person.website == "w.de"


def test_a_source_updates_only_what_it_set_itself(session: Session) -> None:
    person = ann(session)
    ingest(session, [contact(title="Buyer")])
    assert person.title == "Buyer"
    ingest(session, [contact(title="Head of Purchasing")])
    assert person.title == "Head of Purchasing", "still the card's own value: it may change it"
    person.title = "Chief Buyer"  # an admin edits it
    session.flush()
    ingest(session, [contact(title="Director")])
    assert person.title == "Chief Buyer"
    other = ingest(session, [contact(title="Other")], account="bob-contacts")
    assert other.unchanged == 1 and person.title == "Chief Buyer"


def test_provenance_records_the_account_and_card(session: Session) -> None:
    person = ann(session)
    person.contact_points.append(ContactPoint(kind="phone", value="+49301234567"))
    card = contact(phones=(("work", "030 1234567"), ("mobile", "0170 1234567")), title="Buyer")
    ingest(session, [card])
    rows = session.scalars(select(CustomerFieldSource)).all()
    assert {(r.field, r.value) for r in rows} == {("phone", "+491701234567"), ("title", "Buyer")}
    assert all(r.person_id == person.id and r.account.name == "alice-contacts" for r in rows)
    assert {r.remote_id for r in rows} == {card.remote_id}
    assert all(r.collection == BOOK and r.removed_at is None for r in rows)

    ingest(session, [contact(phones=(("work", "030 1234567"),), title="Buyer")])
    gone = session.scalars(select(CustomerFieldSource).filter_by(field="phone")).one()
    assert gone.removed_at is not None, "the card no longer has the number"
    assert "+491701234567" in phones(person), "the CRM keeps it"


def test_a_contact_deleted_at_the_source_deletes_nothing(session: Session) -> None:
    ingest(session, [contact(phones=(("work", "030 1234567"),))], policy="import")
    result = ingest(session, [], policy="import", deleted=["/alice/contacts/ann.vcf"])
    assert result.removed == 1
    person = session.scalars(select(Person)).one()
    assert phones(person) == ["+49301234567"]
    assert [p.value for p in person.contact_points if p.kind == "email"] == ["ann@customer.example"]
    rows = session.scalars(select(CustomerFieldSource)).all()
    assert rows and all(r.removed_at is not None for r in rows)


def test_bad_values_are_skipped_and_the_rest_is_stored(session: Session) -> None:
    person = ann(session)
    card = contact(
        emails=(("work", "ann@customer.example"), ("home", "not an address")),
        phones=(("work", "12"), ("mobile", "0170 1234567")),
        title="Buyer",
    )
    result = ingest(session, [card])
    assert result.enriched == 1
    assert len(result.skipped) == 2
    assert all(s.startswith("/alice/contacts/ann.vcf: ") for s in result.skipped)
    assert phones(person) == ["+491701234567"] and person.title == "Buyer"


def test_an_address_of_another_customer_is_skipped(session: Session) -> None:
    ann(session)
    bob = Person(display_name="Bob")
    bob.contact_points.append(ContactPoint(kind="email", value="bob@customer.example"))
    session.add(bob)
    card = contact(emails=(("work", "ann@customer.example"), ("home", "bob@customer.example")))
    result = ingest(session, [card])
    assert result.unchanged == 1 and len(result.skipped) == 1
    assert [p.value for p in bob.contact_points] == ["bob@customer.example"]


def test_a_card_that_cannot_be_stored_is_a_problem(session: Session) -> None:
    nameless = contact(name="", given_name="", family_name="", emails=(("work", "bad"),))
    good = contact("/alice/contacts/carl.vcf", uid="carl", name="Carl", emails=())
    result = ingest(session, [nameless, good], policy="import")
    assert result.created == 1 and len(result.problems) == 1
    assert result.problems[0].startswith("/alice/contacts/ann.vcf: ")


def test_an_unknown_policy_is_refused(session: Session) -> None:
    with pytest.raises(ValueError, match="policy"):
        ingest(session, [], policy="merge")
