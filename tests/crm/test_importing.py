"""``crmsync import customers``: CSV and vCard files into people and organizations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from adapters.vcard import read_vcards
from crm.importing import ImportReport, guess_format, import_customers
from crm.models import ContactPoint, Organization, OrganizationDomain, Person
from crm.vcardimport import import_contacts

SAMPLES = Path(__file__).resolve().parents[2] / "sync" / "sample"
HEADER = (
    "type,external_id,name,given_name,family_name,organization,title,"
    "email,phone,mobile,domains,notes\n"
)
ACME = "organization,ORG-1,Acme Corp,,,,,sales@acme.example,+1 212 555 0100,,acme.example,\n"
JANA = (
    "person,P-1,,Jana,Petersen,Nordwind Logistik GmbH,Leiterin Einkauf,"
    "Jana.Petersen@Nordwind-Logistik.example,040 66969 121,01512 3456789,,\n"
)
DANA = (
    "person,,,Dana,Whitfield,Acme Corp,VP Procurement,"
    "dana.whitfield@acme.example,+1 212 555 0142,,,\n"
)
SONNENKORN = "urn:uuid:2f6c1a7e-5d3b-4c8a-9e1f-0b7d6a5c4e3d"  # a KIND:org card's UID
TOBIAS = "person,,Tobias Beispiel,,,,,tobias.beispiel@gmail.com,,+49 1512 3456790,,\n"


# -- helpers ---------------------------------------------------------------------------


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def run(session: Session, path: Path, region: str = "DE", fmt: str | None = None) -> ImportReport:
    """Import like the CLI does (vCards read by adapters.vcard): the caller commits."""
    raw = path.read_bytes()
    if (fmt or guess_format(path, raw)) == "vcard":
        cards = read_vcards(raw, path.name)
        report = import_contacts(session, cards, default_region=region, source_name=path.name)
    else:
        report = import_customers(session, path, default_region=region)
    session.commit()
    return report


def snapshot(session: Session) -> dict[str, list[tuple[Any, ...]]]:
    """Every customer row with every column (timestamps included)."""
    tables = (Organization, OrganizationDomain, Person, ContactPoint)
    return {
        t.__tablename__: sorted(tuple(r) for r in session.execute(select(t.__table__)))
        for t in tables
    }


def person_with(session: Session, address: str) -> Person:
    point = session.scalars(select(ContactPoint).filter_by(kind="email", value=address)).one()
    assert point.person is not None
    return point.person


def points(owner: Person | Organization) -> set[tuple[str, str, str]]:
    return {(p.kind, p.value, p.label) for p in owner.contact_points}


def problem_lines(report: ImportReport) -> list[int]:
    return [p.line for p in report.problems]


# -- CSV -------------------------------------------------------------------------------


def test_csv_creates_people_organizations_and_contact_points(
    session: Session, tmp_path: Path
) -> None:
    report = run(session, write(tmp_path, "c.csv", HEADER + ACME + JANA + DANA + TOBIAS))

    assert report == ImportReport(created=4, updated=0, unchanged=0, problems=[])
    jana = person_with(session, "jana.petersen@nordwind-logistik.example")
    assert (jana.display_name, jana.given_name, jana.family_name) == (
        "Jana Petersen",
        "Jana",
        "Petersen",
    )
    assert (jana.title, jana.external_id) == ("Leiterin Einkauf", "P-1")
    assert jana.organization is not None
    assert jana.organization.name == "Nordwind Logistik GmbH"  # created for her
    assert points(jana) == {
        ("email", "jana.petersen@nordwind-logistik.example", ""),
        ("phone", "+494066969121", "work"),
        ("phone", "+4915123456789", "mobile"),
    }
    originals = {p.value: p.original for p in jana.contact_points}
    assert originals["jana.petersen@nordwind-logistik.example"] == (
        "Jana.Petersen@Nordwind-Logistik.example"
    )
    assert originals["+494066969121"] == "040 66969 121"
    acme = session.scalars(select(Organization).filter_by(name="Acme Corp")).one()
    assert [d.domain for d in acme.domains] == ["acme.example"]
    assert points(acme) == {("email", "sales@acme.example", ""), ("phone", "+12125550100", "work")}
    assert person_with(session, "dana.whitfield@acme.example").organization is acme
    tobias = person_with(session, "tobias.beispiel@gmail.com")
    assert tobias.organization is None
    assert points(tobias) == {
        ("email", "tobias.beispiel@gmail.com", ""),
        ("phone", "+4915123456790", "mobile"),
    }


def test_reimporting_the_same_file_changes_nothing(session: Session, tmp_path: Path) -> None:
    path = write(tmp_path, "c.csv", HEADER + ACME + JANA + DANA + TOBIAS)
    run(session, path)
    before = snapshot(session)

    report = run(session, path)

    assert report == ImportReport(created=0, updated=0, unchanged=4, problems=[])
    assert snapshot(session) == before


def test_a_changed_row_updates_that_person_only(session: Session, tmp_path: Path) -> None:
    run(session, write(tmp_path, "c.csv", HEADER + ACME + JANA + DANA + TOBIAS))
    dana_before = snapshot(session)["people"][1:]  # Jana is the first person
    changed = JANA.replace("Leiterin Einkauf", "Geschäftsführerin").replace(
        "01512 3456789", "01512 3456789;+49 40 66969 199"
    )

    report = run(session, write(tmp_path, "c2.csv", HEADER + ACME + changed + DANA + TOBIAS))

    assert report == ImportReport(created=0, updated=1, unchanged=3, problems=[])
    jana = person_with(session, "jana.petersen@nordwind-logistik.example")
    assert jana.title == "Geschäftsführerin"
    assert {p.value for p in jana.contact_points if p.kind == "phone"} == {
        "+494066969121",
        "+4915123456789",
        "+494066969199",
    }
    assert snapshot(session)["people"][1:] == dana_before


def test_an_empty_cell_keeps_what_is_stored(session: Session, tmp_path: Path) -> None:
    run(session, write(tmp_path, "c.csv", HEADER + JANA))
    without_title = JANA.replace("Leiterin Einkauf", "").replace("040 66969 121", "")

    report = run(session, write(tmp_path, "c2.csv", HEADER + without_title))

    assert report.unchanged == 1
    jana = person_with(session, "jana.petersen@nordwind-logistik.example")
    assert jana.title == "Leiterin Einkauf"
    assert "+494066969121" in {p.value for p in jana.contact_points}


def test_bad_rows_are_reported_with_their_line_and_skipped(
    session: Session, tmp_path: Path
) -> None:
    text = (
        HEADER  # 1
        + JANA  # 2
        + "person,,Bad Mail,,,,,x@,,,,\n"  # 3
        + "person,,Bad Phone,,,,,bad.phone@acme.example,12,,,\n"  # 4
        + 'person,,Multi Line,,,,,multi@acme.example,,,,"first\nsecond"\n'  # 5-6
        + "organization,,Bad Domain Ltd,,,,,,,,bad_domain,\n"  # 7
        + ",,,,,,,,,,,\n"  # 8: cells, all empty
        + "\n"  # 9: a blank line is no row
        + DANA  # 10
        + "person,,Domain Person,,,,,dp@acme.example,,,acme.example,\n"  # 11
        + "customer,,Odd Type,,,,,odd@acme.example,,,,\n"  # 12
        + "person,,Too Many,,,,,many@acme.example,,,,,surplus\n"  # 13
    )

    report = run(session, write(tmp_path, "c.csv", text))

    assert problem_lines(report) == [3, 4, 7, 8, 11, 12, 13]
    messages = [p.message for p in report.problems]
    assert messages[0].startswith("email 'x@': ")
    assert messages[1].startswith("phone '12': not a valid phone number")
    assert messages[2].startswith("domain 'bad_domain': ")
    assert messages[3] == "neither a name nor an e-mail address"
    assert "only an organization may have domains" in messages[4]
    assert str(report.problems[0]).startswith("line 3: email 'x@'")
    assert report.created == 3
    stored = {p.display_name for p in session.scalars(select(Person))}
    assert stored == {"Jana Petersen", "Multi Line", "Dana Whitfield"}
    assert person_with(session, "multi@acme.example").notes == "first\nsecond"
    assert not session.scalars(select(ContactPoint).filter_by(value="bad.phone@acme.example")).all()
    assert session.scalars(select(Organization).filter_by(name="Bad Domain Ltd")).all() == []


def test_semicolon_delimited_file_with_bom(session: Session, tmp_path: Path) -> None:
    text = (
        "Type;Name;Organization;E-Mail;Phone;Domains;Given Name\n"
        "organization;Nordwind Logistik GmbH;;info@nordwind-logistik.example;040 66969 100;"
        "nordwind-logistik.example;\n"
        "person;Jörg Hinrichs;nordwind logistik gmbh;"
        "joerg.hinrichs@nordwind-logistik.example;;;Jörg\n"
    )

    report = run(session, write(tmp_path, "c.csv", text, encoding="utf-8-sig"))

    assert report.created == 2
    assert [str(p) for p in report.problems] == ["line 1: unknown columns ignored: e_mail"]
    joerg = session.scalars(select(Person)).one()
    assert (joerg.display_name, joerg.given_name) == ("Jörg Hinrichs", "Jörg")
    assert joerg.organization is not None
    assert joerg.organization.name == "Nordwind Logistik GmbH"  # found case-insensitively
    assert session.scalars(select(Organization)).all() == [joerg.organization]


def test_tab_delimited_file(session: Session, tmp_path: Path) -> None:
    text = "name\temail\tmobile\nTobias Beispiel\ttobias.beispiel@gmail.com\t01512 3456790\n"

    report = run(session, write(tmp_path, "c.tsv", text))

    assert report == ImportReport(created=1, updated=0, unchanged=0, problems=[])
    assert points(person_with(session, "tobias.beispiel@gmail.com")) >= {
        ("phone", "+4915123456790", "mobile")
    }


def test_an_address_of_another_customer_rolls_back_the_whole_row(
    session: Session, tmp_path: Path
) -> None:
    dana = DANA.replace("person,,", "person,P-3,", 1)
    run(session, write(tmp_path, "c.csv", HEADER + ACME + dana + TOBIAS))
    before = snapshot(session)
    text = (
        HEADER
        + "person,,Someone Else,,,Neue Firma GmbH,,"
        + "tobias.beispiel@gmail.com;dana.whitfield@acme.example,,,,\n"  # Tobias's, then Dana's
        + "person,P-9,Other Id,,,,,dana.whitfield@acme.example,,,,\n"  # Dana is P-3
        + "person,,Sales Person,,,,,sales@acme.example,,,,\n"  # the organization's
        + "person,,New Person,,,,,new.person@acme.example,,,,\n"
    )

    report = run(session, write(tmp_path, "c2.csv", text))

    assert [str(p) for p in report.problems] == [
        "line 2: email 'dana.whitfield@acme.example': address already belongs to Dana Whitfield",
        "line 3: email 'dana.whitfield@acme.example': address already belongs to Dana Whitfield",
        "line 4: email 'sales@acme.example': address already belongs to Acme Corp",
    ]
    assert report.created == 1
    after = snapshot(session)
    assert [r for r in after["people"] if r[2] != "New Person"] == before["people"]
    assert session.scalars(select(Organization).filter_by(name="Neue Firma GmbH")).all() == []


def test_a_domain_of_another_organization_is_a_problem(session: Session, tmp_path: Path) -> None:
    roadrunner = "organization,,Roadrunner Inc,,,,,,,,roadrunner.example,\n"
    run(session, write(tmp_path, "c.csv", HEADER + ACME + roadrunner))
    text = HEADER + roadrunner.replace("roadrunner.example", "roadrunner.example;acme.example")

    report = run(session, write(tmp_path, "c2.csv", text))

    assert [p.message for p in report.problems] == [
        "domain 'acme.example' already belongs to Acme Corp"
    ]
    assert sorted(session.scalars(select(OrganizationDomain.domain))) == [
        "acme.example",
        "roadrunner.example",
    ]


def test_an_organization_is_found_by_its_domain(session: Session, tmp_path: Path) -> None:
    run(session, write(tmp_path, "c.csv", HEADER + ACME.replace("ORG-1", "")))
    text = HEADER + "organization,,Acme Corporation,,,,,,,,acme.example;acme-europe.example,\n"

    report = run(session, write(tmp_path, "c2.csv", text))

    assert report == ImportReport(created=0, updated=1, unchanged=0, problems=[])
    acme = session.scalars(select(Organization)).one()
    assert acme.name == "Acme Corporation"
    assert sorted(d.domain for d in acme.domains) == ["acme-europe.example", "acme.example"]


def test_a_person_is_found_by_external_id_then_address_then_name(
    session: Session, tmp_path: Path
) -> None:
    first = HEADER + JANA + "person,,Max Muster,,,Acme Corp,,,,,,\n"
    run(session, write(tmp_path, "c.csv", first))
    moved = JANA.replace("Jana.Petersen@Nordwind-Logistik.example", "jana@petersen.example")
    by_name = "person,,max muster,,,Acme Corp,Einkauf,,,,,\n"
    other_org = "person,,Max Muster,,,Nordwind Logistik GmbH,,,,,,\n"

    report = run(session, write(tmp_path, "c2.csv", HEADER + moved + by_name + other_org))

    assert report == ImportReport(created=1, updated=2, unchanged=0, problems=[])
    jana = session.scalars(select(Person).filter_by(external_id="P-1")).one()
    assert {p.value for p in jana.contact_points if p.kind == "email"} == {
        "jana.petersen@nordwind-logistik.example",  # kept: never deleted
        "jana@petersen.example",
    }
    maxes = session.scalars(select(Person).where(Person.display_name.ilike("max muster"))).all()
    assert sorted((m.display_name, m.title) for m in maxes) == [
        ("Max Muster", ""),  # at Nordwind: another person
        ("max muster", "Einkauf"),  # the one at Acme, as the file now writes him
    ]


def test_unknown_columns_are_reported_once(session: Session, tmp_path: Path) -> None:
    text = "name,Fax,email,Birthday\nTobias Beispiel,123,tobias.beispiel@gmail.com,1990-01-01\n"

    report = run(session, write(tmp_path, "c.csv", text))

    assert [str(p) for p in report.problems] == ["line 1: unknown columns ignored: fax, birthday"]
    assert report.created == 1


def test_a_file_that_is_not_utf8_is_refused_with_its_line(session: Session, tmp_path: Path) -> None:
    path = write(tmp_path, "c.csv", HEADER + JANA + "person,,Jörg,,,,,,,,,\n", encoding="latin-1")

    report = run(session, path)

    assert problem_lines(report) == [3]
    assert "not UTF-8" in report.problems[0].message
    assert session.scalars(select(Person)).all() == []


def test_the_caller_owns_the_transaction(session: Session, tmp_path: Path) -> None:
    import_customers(session, write(tmp_path, "c.csv", HEADER + JANA), default_region="DE")
    session.rollback()

    assert session.scalars(select(Person)).all() == []


# -- vCard -----------------------------------------------------------------------------


def test_vcard_3_and_4(session: Session) -> None:
    report = run(session, SAMPLES / "customers.vcf")

    assert report == ImportReport(created=4, updated=0, unchanged=0, problems=[])
    henrike = person_with(session, "henrike.albers@nordwind-logistik.example")  # vCard 3.0
    assert (henrike.display_name, henrike.given_name, henrike.family_name) == (
        "Henrike Albers",
        "Henrike",
        "Albers",
    )
    assert henrike.title == "Vertrieb Innendienst"
    assert henrike.notes == "Vertretung für Jana Petersen, ab Juli Teamleitung"
    assert henrike.external_id == "8F3A1C2E-4B5D-4E6F-9A7B-1C2D3E4F5A6B"
    assert henrike.organization is not None
    assert henrike.organization.name == "Nordwind Logistik GmbH"
    assert {(p.value, p.label) for p in henrike.contact_points if p.kind == "phone"} == {
        ("+494066969130", "work"),
        ("+4915123456791", "mobile"),
    }
    camille = person_with(session, "camille.dubois@acme-europe.example")  # vCard 4.0, tel: URIs
    assert {(p.value, p.label) for p in camille.contact_points if p.kind == "phone"} == {
        ("+33199001234", "work"),
        ("+33612345678", "mobile"),
    }
    kranich = session.scalars(select(Organization).filter_by(name="Kranich Bau AG")).one()
    assert points(kranich) == {  # X-ABShowAs:COMPANY
        ("email", "info@kranich-bau.example", ""),
        ("phone", "+493023125400", "work"),
    }
    sonnenkorn = session.scalars(select(Organization).filter_by(external_id=SONNENKORN)).one()
    assert sonnenkorn.name == "Sonnenkorn Bäckerei KG"
    assert sonnenkorn.domains == []


def test_the_samples_import_cleanly_in_either_order(session: Session) -> None:
    csv_path, vcf_path = SAMPLES / "customers.csv", SAMPLES / "customers.vcf"
    assert run(session, vcf_path).problems == []
    assert run(session, csv_path).problems == []
    before = snapshot(session)

    again = (run(session, csv_path), run(session, vcf_path))

    assert [(r.created, r.updated, r.problems) for r in again] == [(0, 0, []), (0, 0, [])]
    assert snapshot(session) == before
    assert len(before["people"]) == 8
    assert len(before["organizations"]) == 5


def test_a_broken_card_is_reported_with_its_line_and_the_others_import(
    session: Session, tmp_path: Path
) -> None:
    text = (
        "BEGIN:VCARD\nVERSION:3.0\nFN:Ann Example\nEMAIL:ann@example.org\nEND:VCARD\n"  # 1-5
        "BEGIN:VCARD\nVERSION:3.0\nFN:Bob Broken\nEMAIL;TYPE=work\nEND:VCARD\n"  # 6-10
        "BEGIN:VCARD\nVERSION:3.0\nFN:Carl Cut\n"  # 11-13, no END:VCARD
        "BEGIN:VCARD\nVERSION:4.0\nFN:Dora Example\nEMAIL:dora@example.org\n"  # 14-17
        "PHOTO:data:image/jpeg;base64,not-base64!\nEND:VCARD\n"  # 18-19
        "BEGIN:VCARD\nVERSION:3.0\nFN:Eve Example\nTEL:12\nEND:VCARD\n"  # 20-24
    )

    report = run(session, write(tmp_path, "cards.vcf", text))

    assert [str(p) for p in report.problems] == [
        "line 9: unreadable vCard: not a content line: 'EMAIL;TYPE=work'",
        "line 11: vCard without END:VCARD",
        "line 20: phone '12': not a valid phone number (region DE)",
    ]
    names = set(session.scalars(select(Person.display_name)))
    assert names == {"Ann Example", "Dora Example"}  # a broken PHOTO costs nothing


def test_vcard_21_quoted_printable(session: Session, tmp_path: Path) -> None:
    text = (
        "BEGIN:VCARD\r\nVERSION:2.1\r\n"
        "N;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:M=C3=BCller;J=C3=B6rg;;;\r\n"
        "FN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:J=C3=B6rg M=\r\n=C3=BCller\r\n"
        "TEL;CELL:+49 1512 3456789\r\nEMAIL;INTERNET:joerg@mueller.example\r\nEND:VCARD\r\n"
    )

    report = run(session, write(tmp_path, "old.vcf", text))

    assert report.problems == []
    joerg = person_with(session, "joerg@mueller.example")
    assert (joerg.display_name, joerg.given_name, joerg.family_name) == (
        "Jörg Müller",
        "Jörg",
        "Müller",
    )
    assert points(joerg) >= {("phone", "+4915123456789", "mobile")}


def test_vcard_addresses_websites_and_categories(session: Session, tmp_path: Path) -> None:
    text = (
        "BEGIN:VCARD\nVERSION:3.0\nFN:Ann Example\nEMAIL:ann@example.org\n"
        "ADR;TYPE=HOME:;;1 Home Road;Springfield;;;\n"
        "item1.ADR:;;2 Office Park;Hamburg;HH;20095;Germany\nitem1.X-ABLabel:_$!<Work>!$_\n"
        "URL:https://ann.example\nCATEGORIES:VIP,Press\nEND:VCARD\n"
    )

    assert run(session, write(tmp_path, "ann.vcf", text)).created == 1

    ann = person_with(session, "ann@example.org")
    assert (ann.street, ann.locality, ann.postal_code) == ("2 Office Park", "Hamburg", "20095")
    assert ann.website == "https://ann.example"
    assert sorted(c.name for c in ann.categories) == ["Press", "VIP"]


def test_an_edited_card_without_uid_updates_its_customer(session: Session, tmp_path: Path) -> None:
    # the parser makes up a UID from the card's content; it is no external_id
    card = "BEGIN:VCARD\nVERSION:3.0\nFN:Ann Example\nEMAIL:ann@example.org\n{}END:VCARD\n"
    assert run(session, write(tmp_path, "ann.vcf", card.format(""))).created == 1

    report = run(session, write(tmp_path, "ann.vcf", card.format("TITLE:CEO\n")))

    assert (report.updated, report.problems) == (1, [])
    ann = person_with(session, "ann@example.org")
    assert (ann.title, ann.external_id) == ("CEO", None)


def test_a_vcard_in_windows_1252_is_read(session: Session, tmp_path: Path) -> None:
    text = "BEGIN:VCARD\r\nVERSION:2.1\r\nN:Müller;Jörg\r\nEMAIL:joerg@example.org\r\nEND:VCARD\r\n"

    report = run(session, write(tmp_path, "old.vcf", text, encoding="cp1252"))

    assert (report.created, report.problems) == (1, [])
    assert person_with(session, "joerg@example.org").display_name == "Jörg Müller"


def test_the_format_is_guessed_from_the_content(session: Session, tmp_path: Path) -> None:
    card = "BEGIN:VCARD\nVERSION:3.0\nFN:Ann Example\nEMAIL:ann@example.org\nEND:VCARD\n"

    assert run(session, write(tmp_path, "export", card)).created == 1
    assert run(session, write(tmp_path, "export.txt", card), fmt="vcard").unchanged == 1


# -- the shared corpus of real-world vCards ---------------------------------------------


def test_every_corpus_vcard_imports_without_raising(session: Session, corpus: Path) -> None:
    files = sorted((corpus / "vcard").glob("*.vcf"))
    assert files, f"no .vcf files in {corpus / 'vcard'}"
    for path in files:
        report = run(session, path)
        handled = report.created + report.updated + report.unchanged + len(report.problems)
        if "BEGIN:VCARD" in path.read_text(encoding="utf-8", errors="replace").upper():
            assert handled >= 1, path.name
    for path in files:
        assert run(session, path).created == 0, f"{path.name}: not idempotent"


def test_corpus_rfc_examples(session: Session, corpus: Path) -> None:
    report = run(session, corpus / "vcard" / "ezvcard__rfc2426-example.vcf")
    assert report == ImportReport(created=2, updated=0, unchanged=0, problems=[])
    frank = person_with(session, "frank_dawson@lotus.com")
    assert frank.display_name == "Frank Dawson"
    assert frank.organization is not None
    assert frank.organization.name == "Lotus Development Corporation"
    assert points(frank) == {
        ("email", "frank_dawson@lotus.com", ""),
        ("email", "fdawson@earthlink.net", ""),
        ("phone", "+19196769515", "work"),
        ("phone", "+19196769564", "fax"),
    }

    report = run(session, corpus / "vcard" / "ezvcard__rfc6350-example.vcf")
    assert report == ImportReport(created=1, updated=0, unchanged=0, problems=[])
    simon = person_with(session, "simon.perreault@viagenie.ca")
    assert (simon.given_name, simon.family_name) == ("Simon", "Perreault")
    assert simon.organization is not None
    assert simon.organization.name == "Viagenie"
    assert {(p.value, p.label) for p in simon.contact_points if p.kind == "phone"} == {
        ("+14186569254", "work"),  # tel:+1-418-656-9254;ext=102
        ("+14182626501", "mobile"),
    }


def test_corpus_gmail_list_and_broken_cards(session: Session, corpus: Path) -> None:
    report = run(session, corpus / "vcard" / "ezvcard__gmail-list.vcf")
    assert report.created == 3
    assert person_with(session, "chrisy55d@yahoo.com").display_name == "Chris Beatle"

    # a card without N and FN is named by its address; a later card with its UID renames it
    report = run(session, corpus / "vcard" / "radicale__broken-vcard.vcf")
    assert report.created == 1
    known = person_with(session, "test-misses-n-or-fn@example.com")
    assert known.display_name == "test-misses-n-or-fn@example.com"
    report = run(session, corpus / "vcard" / "radicale__broken-vcards2.vcf")
    assert (report.created, report.updated, report.problems) == (1, 1, [])
    assert known.display_name == "Test Example"

    # "--BEGIN:VCARD": nothing but text outside a card
    report = run(session, corpus / "vcard" / "caldavtester__vcarderrors_4.vcf")
    assert (report.created, problem_lines(report)) == (0, [1])


def test_corpus_vcard_21_from_china(session: Session, corpus: Path) -> None:
    report = run(session, corpus / "vcard" / "vobject__quoted-printable_vcard21.vcf", "CN")

    assert report == ImportReport(created=1, updated=0, unchanged=0, problems=[])
    person = session.scalars(select(Person)).one()
    assert (person.display_name, person.given_name, person.family_name) == ("黄世勇", "世勇", "黄")
    assert {(p.value, p.label) for p in person.contact_points} == {
        ("+8615810139237", "mobile"),
        ("+861088520374", "work"),
    }


def test_iban_bic_and_vat_ids_are_checked_and_stored_compact(
    session: Session, tmp_path: Path
) -> None:
    text = (
        "type,name,email,iban,bic,vat_id\n"
        "organization,Nordwind Logistik GmbH,,DE89 3704 0044 0532 0130 00,cobadeffxxx,"
        "DE 136695976\n"  # 2
        "organization,Typo Bank AG,,DE89 3704 0044 0532 0130 01,,\n"  # 3
        "organization,Typo Tax AG,,,,DE136695977\n"  # 4
        "person,Ann Short,ann@acme.example,,XYZ,\n"  # 5
    )
    report = run(session, write(tmp_path, "ids.csv", text))
    assert problem_lines(report) == [3, 4, 5]
    assert [p.message.split(":")[0] for p in report.problems] == [
        "IBAN 'DE89 3704 0044 0532 0130 01'",
        "VAT id 'DE136695977'",
        "BIC 'XYZ'",
    ]
    assert "check digits" in report.problems[0].message
    [org] = session.scalars(select(Organization)).all()
    assert (org.name, org.iban, org.bic, org.vat_id) == (
        "Nordwind Logistik GmbH",
        "DE89370400440532013000",
        "COBADEFFXXX",
        "DE136695976",
    )
    assert session.scalars(select(Person)).all() == []
