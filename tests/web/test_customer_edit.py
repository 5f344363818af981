"""Adding and editing customers in the web view: every value checked, wrong ones refused
with the reason and nothing stored; audit entries. SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from crm.models import AuditEntry, ContactPoint, Organization, Person
from tests.web.conftest import Browser

GOOD = {
    "name": "Jana Petersen",
    "given_name": "Jana",
    "family_name": "Petersen",
    "emails": "Jana.Petersen@Nordwind-Logistik.de\n",
    "phones": "+49 (0)40-123 45 67\n0171 2345678",
    "iban": "DE89 3704 0044 0532 0130 00",
    "bic": "cobadeffxxx",
    "vat_id": "DE 136695976",
}


def people(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(Person)) or 0


def test_staff_add_a_person_with_checked_values(
    staff: Browser, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        session.add(Organization(name="Nordwind Logistik GmbH"))
    staff.get("/people/new")
    added = staff.post("/people/new", {**GOOD, "organization": "Nordwind Logistik GmbH"})
    assert added.status_code == 302, added.get_data(as_text=True)
    with sessions() as session:
        person = session.scalars(select(Person)).one()
        points = sorted(
            (p.kind, p.value, p.original)
            for p in session.scalars(
                select(ContactPoint).where(ContactPoint.person_id == person.id)
            )
        )
        assert (person.iban, person.bic, person.vat_id) == (
            "DE89370400440532013000",
            "COBADEFFXXX",
            "DE136695976",
        )
        assert person.organization is not None
        assert person.organization.name == "Nordwind Logistik GmbH"
        assert points == [
            ("email", "jana.petersen@nordwind-logistik.de", "Jana.Petersen@Nordwind-Logistik.de"),
            ("phone", "+491712345678", "0171 2345678"),
            ("phone", "+49401234567", "+49 (0)40-123 45 67"),
        ]
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action.startswith("person."))
        ).one()
        assert (entry.actor, entry.action) == ("staff", "person.create")
    assert added.headers["Location"] == f"/people/{person.id}"


def test_each_wrong_value_is_refused_with_its_reason_and_nothing_is_stored(
    staff: Browser, sessions: sessionmaker[Session]
) -> None:
    staff.get("/people/new")
    for key, value, reason in [
        ("iban", "DE89 3704 0044 0532 0130 01", "check digits do not match"),
        ("vat_id", "DE136695977", "check digits do not match"),
        ("bic", "XYZ", "wrong number of characters"),
        ("phones", "12", "phone"),
        ("emails", "jana.petersen@", "email"),
    ]:
        refused = staff.post("/people/new", {**GOOD, key: value})
        page = refused.get_data(as_text=True)
        assert refused.status_code == 400, key
        assert "Nothing was saved" in page and value.split()[0] in page, key
        assert reason.lower() in page.lower(), (key, page[page.find("error") :][:300])
    assert people(sessions) == 0
    with sessions() as session:
        changes = select(func.count()).where(AuditEntry.action.startswith("person."))
        assert session.scalar(changes) == 0


def test_an_address_of_another_customer_is_refused_and_editing_keeps_the_rest(
    staff: Browser, sessions: sessionmaker[Session]
) -> None:
    staff.get("/people/new")
    assert staff.post("/people/new", GOOD).status_code == 302
    other = {**GOOD, "name": "J. Petersen", "phones": "", "iban": "", "bic": "", "vat_id": ""}
    taken = staff.post("/people/new", other)
    assert taken.status_code == 400
    assert "is the address of Jana Petersen already" in taken.get_data(as_text=True)
    with sessions() as session:
        person_id = session.scalars(select(Person.id)).one()
    staff.get(f"/people/{person_id}/edit")
    changed = staff.post(
        f"/people/{person_id}/edit", {**GOOD, "title": "Einkauf", "phones": "040 1234567"}
    )
    assert changed.status_code == 302
    with sessions() as session:
        person = session.get_one(Person, person_id)
        phones = [p.value for p in person.contact_points if p.kind == "phone"]
        assert (person.title, phones) == ("Einkauf", ["+49401234567"])
        update = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "person.update")
        ).one()
        assert "title" in update.details and "phones" in update.details


def test_organizations_and_roles(
    staff: Browser, viewer: Browser, sessions: sessionmaker[Session]
) -> None:
    assert viewer.get("/organizations/new").status_code == 403
    staff.get("/organizations/new")
    assert staff.client.post("/organizations/new", data={"name": "X"}).status_code == 400
    added = staff.post(
        "/organizations/new",
        {"name": "Kranich Bau AG", "vat_id": "ATU13585627", "emails": "einkauf@kranich-bau.at"},
    )
    assert added.status_code == 302
    with sessions() as session:
        org = session.scalars(select(Organization)).one()
        assert (org.name, org.vat_id) == ("Kranich Bau AG", "ATU13585627")


def test_a_number_written_twice_is_stored_once_each_with_the_way_it_was_written(
    staff: Browser, sessions: sessionmaker[Session]
) -> None:
    staff.get("/people/new")
    phones = "040 1234567\n+49 40 1234567\n0171 2345678"
    assert staff.post("/people/new", {**GOOD, "phones": phones}).status_code == 302
    with sessions() as session:
        stored = sorted(
            (p.value, p.original)
            for p in session.scalars(select(ContactPoint).where(ContactPoint.kind == "phone"))
        )
    assert stored == [("+491712345678", "0171 2345678"), ("+49401234567", "040 1234567")]
