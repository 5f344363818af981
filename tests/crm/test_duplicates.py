"""Duplicate customers: detection with each kind of evidence, merge row by row, dismissal,
and imports and contact sources that find the customer instead of creating a second one.

Runs on SQLite and PostgreSQL (the ``session`` fixture)."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from adapters.records import ContactRecord
from adapters.vcard import read_vcards
from crm import audit
from crm.contacts import ingest_contacts
from crm.duplicates import (
    Candidate,
    MergeError,
    dismiss,
    find_duplicates,
    likely_existing,
    likely_existing_organization,
    merge,
    name_key,
)
from crm.importing import import_customers
from crm.models import (
    CardTombstone,
    ContactPoint,
    CustomerCategory,
    CustomerFieldSource,
    CustomerMerge,
    FollowUp,
    Interaction,
    MatchRule,
    Organization,
    OrganizationDomain,
    Participant,
    Person,
    User,
)
from crm.syncstate import ensure_account
from crm.vcardimport import import_contacts

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def org(
    session: Session, name: str, *, domains: tuple[str, ...] = (), **values: object
) -> Organization:
    found = Organization(name=name, **values)
    found.domains = [OrganizationDomain(domain=d) for d in domains]
    session.add(found)
    session.flush()
    return found


def person(
    session: Session,
    name: str,
    *,
    organization: Organization | None = None,
    emails: tuple[str, ...] = (),
    phones: tuple[str, ...] = (),
    categories: tuple[str, ...] = (),
    **values: object,
) -> Person:
    found = Person(display_name=name, organization=organization, **values)
    found.contact_points = [ContactPoint(kind="email", value=e, original=e) for e in emails] + [
        ContactPoint(kind="phone", value=p, original=p, label="work") for p in phones
    ]
    found.categories = [CustomerCategory(name=c) for c in categories]
    session.add(found)
    session.flush()
    return found


def pair(found: list[Candidate], a: int, b: int, kind: str = "person") -> Candidate | None:
    ids = (min(a, b), max(a, b))
    return next((c for c in found if c.kind == kind and c.ids == ids), None)


# -- names ---------------------------------------------------------------------------------


def test_name_keys() -> None:
    assert name_key("Petersen, Jana") == name_key("Dr. Jana Petersen") == "jana petersen"
    assert name_key("Frau JANA PETERSEN") == "jana petersen"
    assert name_key("Jürgen Groß") == name_key("Jurgen Gross")
    assert name_key("Nordwind Logistik GmbH", "organization") == "logistik nordwind"
    assert name_key("NORDWIND LOGISTIK", "organization") == "logistik nordwind"
    assert name_key("Ørsted Café Zürich AG", "organization") == "cafe orsted zurich"
    assert name_key("Freunde des Hafens e.V.", "organization") == "des freunde hafens"
    assert name_key("Acme Ltd.", "organization") == name_key("ACME Inc", "organization")


# -- detection ------------------------------------------------------------------------------


def test_people_with_the_same_phone(session: Session) -> None:
    a = person(session, "Jana Petersen", phones=("+4940123456",))
    b = person(session, "J. Petersen", phones=("+4940123456",), emails=("jp@example.org",))
    found = pair(find_duplicates(session), a.id, b.id)
    assert found is not None
    assert "same phone +4940123456" in found.reasons
    assert found.a.phones == ["+4940123456"] and found.b.emails == ["jp@example.org"]


def test_people_with_the_same_mailbox_written_differently(session: Session) -> None:
    a = person(session, "Tobias Beispiel", emails=("tobias.beispiel@gmail.com",))
    b = person(session, "Tobi", emails=("tobiasbeispiel+crm@googlemail.com",))
    c = person(session, "Other", emails=("tobias.beispiel@example.org",))
    found = find_duplicates(session)
    hit = pair(found, a.id, b.id)
    assert hit is not None
    assert hit.reasons == [
        "same e-mail address tobias.beispiel@gmail.com / tobiasbeispiel+crm@googlemail.com"
    ]
    assert pair(found, a.id, c.id) is None and pair(found, b.id, c.id) is None


def test_similar_names_in_one_organization(session: Session) -> None:
    nordwind = org(session, "Nordwind Logistik GmbH")
    a = person(session, "Jana Petersen", organization=nordwind)
    b = person(session, "Petersen, Jana", organization=nordwind)
    c = person(session, "Jana Peterson", organization=nordwind)
    d = person(session, "Jana Müller", organization=nordwind)
    found = find_duplicates(session)
    assert pair(found, a.id, b.id).reasons == [  # type: ignore[union-attr]
        "similar names in Nordwind Logistik GmbH: 'Jana Petersen' / 'Petersen, Jana'"
    ]
    assert pair(found, a.id, c.id).reasons == [  # type: ignore[union-attr]
        "similar names in Nordwind Logistik GmbH: 'Jana Petersen' / 'Jana Peterson'"
    ]
    assert pair(found, a.id, d.id) is None
    # the same spelling outranks a typo
    assert pair(found, a.id, b.id).score > pair(found, a.id, c.id).score  # type: ignore[union-attr]


def test_no_pair_for_the_same_first_name_in_different_organizations(session: Session) -> None:
    nordwind, suedwind = org(session, "Nordwind Logistik GmbH"), org(session, "Südwind AG")
    person(session, "Jana Petersen", organization=nordwind, emails=("jana@nordwind.de",))
    person(session, "Jana Schulz", organization=suedwind, emails=("jana@suedwind.de",))
    person(session, "Jana Petersen", organization=suedwind, emails=("jp@suedwind.de",))
    person(session, "Jana", emails=("jana@gmail.com",))
    assert [c for c in find_duplicates(session) if c.kind == "person"] == []


def test_the_same_name_once_without_organization(session: Session) -> None:
    nordwind = org(session, "Nordwind Logistik GmbH")
    a = person(session, "Jana Petersen", organization=nordwind)
    b = person(session, "Petersen, Jana")
    hit = pair(find_duplicates(session), a.id, b.id)
    assert hit is not None
    assert hit.reasons == ["same name 'Jana Petersen' / 'Petersen, Jana', one without organization"]


def test_organizations_by_domain_name_and_phone(session: Session) -> None:
    a = org(session, "Nordwind Logistik GmbH", domains=("nordwind.de",))
    b = org(session, "Nordwind Logistik", website="https://www.nordwind.de/kontakt")
    c = org(session, "Südwind AG", domains=("suedwind.de",))
    d = org(session, "Suedwind Handel")
    person(session, "Kai Wind", organization=d, emails=("kai@suedwind.de",))
    e = org(session, "Hafenbau KG")
    e.contact_points.append(ContactPoint(kind="phone", value="+494099887766"))
    f = org(session, "HB Hafenbau")
    f.contact_points.append(ContactPoint(kind="phone", value="+494099887766"))
    # free mail is nobody's domain
    g, h = org(session, "Alpha"), org(session, "Beta")
    person(session, "A", organization=g, emails=("a@gmail.com",))
    person(session, "B", organization=h, emails=("b@gmail.com",))
    session.flush()
    found = find_duplicates(session, kind="organization")
    assert all(c.kind == "organization" for c in found)
    ab = pair(found, a.id, b.id, "organization")
    assert ab is not None
    assert "same domain nordwind.de: organization domain / web site" in ab.reasons
    assert "same name 'Nordwind Logistik GmbH' / 'Nordwind Logistik'" in ab.reasons
    cd = pair(found, c.id, d.id, "organization")
    assert cd is not None
    assert cd.reasons == ["same domain suedwind.de: organization domain / their people's addresses"]
    ef = pair(found, e.id, f.id, "organization")
    assert ef is not None and "same phone +494099887766" in ef.reasons
    assert pair(found, g.id, h.id, "organization") is None
    assert ab.score > cd.score
    assert found[0] is ab  # the most likely first


def test_ten_thousand_customers_in_seconds(session: Session) -> None:
    orgs = [{"name": f"Firma {i:04d} GmbH", "uid": f"o-{i}"} for i in range(1000)]
    session.execute(insert(Organization), orgs)
    org_ids = list(session.scalars(select(Organization.id).order_by(Organization.id)))
    given = ["Jana", "Tom", "Eva", "Kai", "Ole", "Mia", "Lea", "Ben", "Max", "Ida"]
    people = [
        {
            "display_name": f"{given[(i // 1000) % 10]} Familie{i:05d}",
            "organization_id": org_ids[i % 1000],
            "uid": f"p-{i}",
        }
        for i in range(9000)
    ]
    session.execute(insert(Person), people)
    ids = list(session.scalars(select(Person.id).order_by(Person.id)))
    points = [
        {"person_id": pid, "kind": "email", "value": f"p{n}@firma{n % 1000}.example"}
        for n, pid in enumerate(ids)
    ] + [
        {"person_id": pid, "kind": "phone", "value": f"+49301{n:07d}"} for n, pid in enumerate(ids)
    ]
    session.execute(insert(ContactPoint), points)
    # one real duplicate among them
    session.execute(
        insert(ContactPoint), [{"person_id": ids[1], "kind": "phone", "value": "+493010000000"}]
    )
    started = time.monotonic()
    found = find_duplicates(session, limit=50)
    took = time.monotonic() - started
    assert took < 10, f"{took:.1f} s"
    assert [c.ids for c in found if c.kind == "person"] == [(ids[0], ids[1])]


# -- dismissal ---------------------------------------------------------------------------


def test_a_dismissed_pair_is_not_proposed_again(session: Session) -> None:
    a = person(session, "Jana Petersen", phones=("+4940123456",))
    b = person(session, "Jana Petersen", phones=("+4940123456",))
    assert pair(find_duplicates(session), a.id, b.id) is not None
    row = dismiss(session, "person", b.id, a.id, "admin")
    assert (row.first_id, row.second_id) == (a.id, b.id)
    assert dismiss(session, "person", a.id, b.id, "admin").id == row.id  # once
    session.commit()
    assert pair(find_duplicates(session), a.id, b.id) is None
    entry = audit.entries(session, action="person.not_duplicate")[0]
    assert entry.actor == "admin"
    with pytest.raises(MergeError):
        dismiss(session, "person", a.id, a.id, "admin")
    with pytest.raises(MergeError):
        dismiss(session, "person", a.id, 10_000, "admin")


# -- merge ---------------------------------------------------------------------------------


def _user(session: Session) -> User:
    user = User(name="alice", password_hash="x", role="staff")
    session.add(user)
    session.flush()
    return user


def _mail_with(session: Session, key: str, **link: int) -> Participant:
    interaction = Interaction(
        kind="email", direction="inbound", occurred_at=T0, dedupe_key=key, thread_key=key
    )
    participant = Participant(role="from", email="x@example.org", occurred_at=T0, **link)
    interaction.participants.append(participant)
    session.add(interaction)
    session.flush()
    return participant


def test_merging_people_moves_everything_row_by_row(session: Session) -> None:
    nordwind = org(session, "Nordwind Logistik GmbH")
    keep = person(
        session,
        "Jana Petersen",
        organization=nordwind,
        emails=("jana.petersen@nordwind.de",),
        phones=("+4940123456",),
        categories=("VIP",),
        notes="Ansprechpartnerin Einkauf",
    )
    gone = person(
        session,
        "Petersen, Jana",
        emails=("jana@petersen-privat.de", "j.petersen@nordwind.de"),
        phones=("+4940123456", "+4917612345678"),
        categories=("vip", "Logistik"),
        title="Einkauf",
        street="Hafenstraße 1",
        locality="Hamburg",
        postal_code="20457",
        external_id="old-crm-7",
        notes="Mag keine Anrufe vor 9",
    )
    user = _user(session)
    account = ensure_account(session, "alice-contacts", "carddav", "alice")
    kept_link = _mail_with(session, "m1", person_id=keep.id)
    moved_links = [_mail_with(session, f"m{i}", person_id=gone.id) for i in (2, 3)]
    follow_up = FollowUp(
        person_id=gone.id, assignee_id=user.id, due_on=date(2026, 4, 1), created_by="alice"
    )
    source = CustomerFieldSource(
        person_id=gone.id,
        field="phone",
        value="+4917612345678",
        account_id=account.id,
        collection="/book/",
        remote_id="/book/jana.vcf",
    )
    rule = MatchRule(pattern="jana@petersen-privat.de", action="assign", person_id=gone.id)
    session.add_all([follow_up, source, rule])
    session.commit()
    gone_id, gone_uid, keep_uid = gone.id, gone.uid, keep.uid
    point_ids = {p.value: p.id for p in gone.contact_points}
    seq_before = keep.card_seq

    result = merge(session, "person", keep.id, gone_id, "admin")
    session.commit()
    session.expire_all()

    assert session.get(Person, gone_id) is None
    keep = session.get(Person, keep.id)  # type: ignore[assignment]
    assert keep.uid == keep_uid
    rows = session.execute(
        select(ContactPoint.id, ContactPoint.kind, ContactPoint.value, ContactPoint.person_id)
        .where(ContactPoint.person_id == keep.id)
        .order_by(ContactPoint.kind, ContactPoint.value)
    ).all()
    assert [(kind, value) for _, kind, value, _ in rows] == [
        ("email", "j.petersen@nordwind.de"),
        ("email", "jana.petersen@nordwind.de"),
        ("email", "jana@petersen-privat.de"),
        ("phone", "+4917612345678"),
        ("phone", "+4940123456"),  # once
    ]
    moved_ids = {value: pid for pid, _, value, _ in rows}
    for value in ("j.petersen@nordwind.de", "jana@petersen-privat.de", "+4917612345678"):
        assert moved_ids[value] == point_ids[value]  # the same rows, moved
    assert session.scalar(select(func.count()).select_from(ContactPoint)) == 5
    assert sorted(c.name for c in keep.categories) == ["Logistik", "VIP"]
    assert session.scalar(select(func.count()).select_from(CustomerCategory)) == 2
    links = session.execute(select(Participant.id, Participant.person_id)).all()
    assert sorted(links) == sorted(
        [(kept_link.id, keep.id)] + [(p.id, keep.id) for p in moved_links]
    )
    assert session.get(FollowUp, follow_up.id).person_id == keep.id  # type: ignore[union-attr]
    assert session.get(CustomerFieldSource, source.id).person_id == keep.id  # type: ignore[union-attr]
    assert session.get(MatchRule, rule.id).person_id == keep.id  # type: ignore[union-attr]
    # empty fields filled, nothing overwritten
    assert keep.display_name == "Jana Petersen" and keep.organization_id == nordwind.id
    assert keep.title == "Einkauf"
    assert (keep.street, keep.locality, keep.postal_code) == ("Hafenstraße 1", "Hamburg", "20457")
    assert keep.notes.startswith("Ansprechpartnerin Einkauf") and "Mag keine Anrufe" in keep.notes
    assert keep.external_id == "old-crm-7"
    # the CardDAV export: the kept card changed, the merged one is gone
    assert keep.card_seq > seq_before
    tombstone = session.scalars(select(CardTombstone).where(CardTombstone.uid == gone_uid)).one()
    assert tombstone.seq <= keep.card_seq
    # recorded
    row = session.scalars(select(CustomerMerge)).one()
    assert (row.kind, row.kept_id, row.merged_id) == ("person", keep.id, gone_id)
    assert (row.merged_uid, row.merged_name, row.merged_by) == (gone_uid, "Petersen, Jana", "admin")
    entry = audit.entries(session, action="person.merge")[0]
    assert entry.actor == "admin" and entry.target.startswith(f"person:{keep.id}")
    details = audit.details(entry)
    assert details["merged_uid"] == gone_uid
    assert sorted(details["emails"]) == ["j.petersen@nordwind.de", "jana@petersen-privat.de"]
    assert details["phones"] == ["+4917612345678"]
    assert details["phones_already_there"] == ["+4940123456"]
    assert (details["participants"], details["follow_ups"], details["field_sources"]) == (2, 1, 1)
    assert result.merged_uid == gone_uid
    assert "2 e-mail address(es)" in result.summary()
    # merged pairs are not proposed again
    assert find_duplicates(session) == []


def test_the_kept_external_id_stays_and_the_other_is_noted(session: Session) -> None:
    keep = person(session, "Jana Petersen", external_id="a-1")
    gone = person(session, "Jana Petersen", external_id="b-2")
    result = merge(session, "person", keep.id, gone.id, "admin")
    assert keep.external_id == "a-1"
    assert result.details["merged_external_id"] == "b-2"


def test_merging_organizations_moves_domains_and_people(session: Session) -> None:
    keep = org(session, "Nordwind Logistik GmbH", domains=("nordwind.de",))
    gone = org(
        session,
        "Nordwind Logistik",
        domains=("nordwind-logistik.de",),
        website="https://nordwind.de",
        vat_id="DE136695976",
    )
    gone.contact_points.append(ContactPoint(kind="email", value="info@nordwind.de"))
    gone.categories.append(CustomerCategory(name="Spedition"))
    staff = [person(session, n, organization=gone) for n in ("Jana Petersen", "Kai Wind")]
    user = _user(session)
    link = _mail_with(session, "m1", organization_id=gone.id)
    follow_up = FollowUp(
        organization_id=gone.id, assignee_id=user.id, due_on=date(2026, 4, 1), created_by="x"
    )
    session.add(follow_up)
    session.commit()
    gone_id = gone.id

    result = merge(session, "organization", keep.id, gone_id, "admin")
    session.commit()
    session.expire_all()
    assert session.get(Organization, gone_id) is None
    assert sorted(d.domain for d in keep.domains) == ["nordwind-logistik.de", "nordwind.de"]
    assert [p.value for p in keep.contact_points] == ["info@nordwind.de"]
    assert [c.name for c in keep.categories] == ["Spedition"]
    for member in staff:
        assert session.get(Person, member.id).organization_id == keep.id  # type: ignore[union-attr]
    assert session.get(Participant, link.id).organization_id == keep.id  # type: ignore[union-attr]
    assert session.get(FollowUp, follow_up.id).organization_id == keep.id  # type: ignore[union-attr]
    assert (keep.website, keep.vat_id) == ("https://nordwind.de", "DE136695976")
    assert sorted(result.details["people"]) == sorted(p.id for p in staff)
    assert audit.entries(session, action="organization.merge")[0].actor == "admin"


def test_what_cannot_be_merged(session: Session) -> None:
    a = person(session, "Jana Petersen")
    with pytest.raises(MergeError):
        merge(session, "person", a.id, a.id, "admin")
    with pytest.raises(MergeError):
        merge(session, "person", a.id, 999_999, "admin")
    with pytest.raises(MergeError):
        merge(session, "customer", a.id, 2, "admin")


# -- before creating: likely_existing -------------------------------------------------------


def test_likely_existing(session: Session) -> None:
    nordwind = org(session, "Nordwind Logistik GmbH", domains=("nordwind.de",))
    jana = person(session, "Jana Petersen", organization=nordwind, phones=("+4940123456",))
    kai = person(session, "Kai Wind", organization=nordwind, emails=("kai@nordwind.de",))
    assert likely_existing(session, name="x", emails=["KAI@nordwind.de"], phones=[]) is kai
    assert likely_existing(session, name="Jana Petersen", emails=[], phones=["+4940123456"]) is jana
    # a colleague with the switchboard number is somebody else
    assert likely_existing(session, name="Ole Hansen", emails=[], phones=["+4940123456"]) is None
    found = likely_existing(
        session, name="Petersen, Jana", emails=[], phones=[], organization="Nordwind Logistik"
    )
    assert found is jana
    assert likely_existing(session, name="Jana Schulz", organization=nordwind) is None
    assert likely_existing_organization(session, name="NORDWIND LOGISTIK") is nordwind
    assert likely_existing_organization(session, name="N", website="www.nordwind.de") is nordwind
    assert likely_existing_organization(session, name="Südwind AG") is None
    # names outside ASCII: found whatever the database's lower() knows
    juergen = person(session, "Jürgen Müller", organization=nordwind)
    assert likely_existing(session, name="Müller, Jürgen", organization=nordwind) is juergen
    assert (
        likely_existing(session, name="Jurgen Muller", organization="NORDWIND LOGISTIK") is juergen
    )
    oersted = org(session, "Ørsted Café Zürich AG")
    assert likely_existing_organization(session, name="Orsted Cafe Zurich") is oersted
    gross = org(session, "Groß & Söhne KG")
    assert likely_existing_organization(session, name="Gross und Sohne") is gross


# -- imports and contact sources ------------------------------------------------------------


def _known(session: Session) -> Person:
    nordwind = org(session, "Nordwind Logistik GmbH", domains=("nordwind.de",))
    jana = person(
        session,
        "Jana Petersen",
        organization=nordwind,
        emails=("jana.petersen@nordwind.de",),
        phones=("+4940123456",),
    )
    session.commit()
    return jana


def _people(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Person)) or 0


def test_a_csv_row_of_a_known_person_creates_no_second(session: Session, tmp_path: Path) -> None:
    jana = _known(session)
    path = tmp_path / "people.csv"
    path.write_text(
        "name,organization,phone,mobile,email\n"
        '"Petersen, Jana",Nordwind Logistik,040 123456,,\n'
        "J. Petersen,,040 123456,0176 12345678,\n"
        "Ole Hansen,Nordwind Logistik GmbH,040 123456,,ole@nordwind.de\n",
        encoding="utf-8",
    )
    report = import_customers(session, path, default_region="DE")
    session.commit()
    assert report.problems == []
    assert (report.created, report.updated, report.unchanged) == (1, 1, 1)
    assert _people(session) == 2  # Jana (her name as it was) and the new Ole
    assert session.get(Person, jana.id).display_name == "Jana Petersen"  # type: ignore[union-attr]
    merged = [str(m) for m in report.merged]
    assert merged == [
        "line 2: organization 'Nordwind Logistik' is the existing 'Nordwind Logistik GmbH'",
        "line 2: merged into existing person 'Jana Petersen': same phone +4940123456",
        "line 3: merged into existing person 'Jana Petersen': same phone +4940123456",
    ]
    session.refresh(jana)
    assert {p.value for p in jana.contact_points} == {
        "jana.petersen@nordwind.de",
        "+4940123456",
        "+4917612345678",
    }
    assert session.scalar(select(func.count()).select_from(Organization)) == 1


def test_a_vcard_of_a_known_person_creates_no_second(session: Session) -> None:
    jana = _known(session)
    text = (
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:card-jana\r\nFN:Jana Petersen\r\n"
        "N:Petersen;Jana;;;\r\nORG:Nordwind Logistik\r\nTEL;TYPE=CELL:+49 176 1234 5678\r\n"
        "EMAIL:jana@petersen-privat.de\r\nEND:VCARD\r\n"
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:card-org\r\nFN:NORDWIND LOGISTIK\r\n"
        "ORG:NORDWIND LOGISTIK\r\nX-ABSHOWAS:COMPANY\r\nTEL:+49 40 999 000\r\nEND:VCARD\r\n"
    )
    report = import_contacts(session, read_vcards(text.encode(), "jana.vcf"), default_region="DE")
    session.commit()
    assert report.problems == [] and report.created == 0
    assert _people(session) == 1
    assert session.scalar(select(func.count()).select_from(Organization)) == 1
    assert len(report.merged) >= 2
    session.refresh(jana)
    assert "jana@petersen-privat.de" in {p.value for p in jana.contact_points}
    assert jana.external_id == "card-jana"


def test_a_contact_source_import_enriches_a_known_person(session: Session) -> None:
    jana = _known(session)
    account = ensure_account(session, "alice-contacts", "carddav", "alice")
    card = ContactRecord(
        remote_id="/alice/contacts/jana.vcf",
        uid="",
        kind="person",
        name="Petersen, Jana",
        given_name="Jana",
        family_name="Petersen",
        organization="Nordwind Logistik",
        phones=(("mobile", "0176 12345678"),),
    )
    result = ingest_contacts(
        session,
        account_id=account.id,
        collection="/alice/contacts/",
        records=[card],
        policy="import",
        default_region="DE",
    )
    session.commit()
    assert (result.created, result.enriched, result.problems) == (0, 1, [])
    assert result.merged == [
        "/alice/contacts/jana.vcf: organization 'Nordwind Logistik' is the existing "
        "'Nordwind Logistik GmbH'",
        "/alice/contacts/jana.vcf: merged into existing person 'Jana Petersen': "
        "same name in Nordwind Logistik GmbH: 'Jana Petersen'",
    ]
    assert _people(session) == 1
    session.refresh(jana)
    assert "+4917612345678" in {p.value for p in jana.contact_points}
