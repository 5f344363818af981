"""Customers as vCards: what a phone reads, and when a card counts as changed."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import vobject
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm import addressbooks, cards, changes
from crm.importing import import_customers
from crm.models import (
    Card,
    CardTombstone,
    ContactPoint,
    CustomerCategory,
    Organization,
    Person,
    User,
)
from crm.review import assign_address
from crm.users import add_user

ALL = addressbooks.ALL_CUSTOMERS


def _person(**kw: object) -> Person:
    person = Person(display_name="Jörg Müller", given_name="Jörg", family_name="Müller")
    for key, value in kw.items():
        setattr(person, key, value)
    return person


def _render(session: Session) -> dict[str, Card]:
    cards.refresh(session)
    session.commit()
    return {c.uid: c for c in session.scalars(select(Card))}


def _parse(text: str) -> vobject.base.Component:
    return vobject.readOne(text)


def test_a_person_card_has_every_field_escaped_and_parses_back(session: Session) -> None:
    org = Organization(name="Müller; Söhne, GmbH", website="https://mueller.example")
    person = _person(
        organization=org,
        title="Einkauf, Leitung",
        notes="Line one\nLine two; with, punctuation \\ and a backslash " + "ß" * 60,
        website="https://example.org/jörg",
        street="Hauptstraße 1",
        locality="Köln",
        postal_code="50667",
        country="Deutschland",
    )
    person.contact_points += [
        ContactPoint(kind="email", value="j.mueller@example.org", label="work"),
        ContactPoint(kind="email", value="joerg@home.example", label="home"),
        ContactPoint(kind="phone", value="+4922112345", label="work"),
        ContactPoint(kind="phone", value="+491701234567", label="mobile"),
    ]
    person.categories += [CustomerCategory(name="VIP"), CustomerCategory(name="Köln, Nord")]
    session.add(person)
    session.commit()
    card = _render(session)[person.uid]

    for text, version in ((card.vcard3, "3.0"), (card.vcard4, "4.0")):
        assert text.startswith("BEGIN:VCARD\r\nVERSION:" + version + "\r\n")
        assert all(len(line.encode()) <= 75 for line in text.split("\r\n")), "folded at 75 octets"
        parsed = _parse(text)
        assert parsed.fn.value == "Jörg Müller"
        assert parsed.uid.value == person.uid
        assert parsed.org.value == ["Müller; Söhne, GmbH"]
        assert parsed.title.value == "Einkauf, Leitung"
        assert parsed.note.value == person.notes
        assert parsed.url.value == "https://example.org/jörg"
        assert {e.value for e in parsed.contents["email"]} == {
            "j.mueller@example.org",
            "joerg@home.example",
        }
        tels = {t.value.removeprefix("tel:") for t in parsed.contents["tel"]}
        assert tels == {"+4922112345", "+491701234567"}
        assert sorted(parsed.categories.value) == ["Köln, Nord", "VIP"]
        assert "rev" in parsed.contents
    v3 = _parse(card.vcard3)
    assert v3.n.value.family == "Müller" and v3.n.value.given == "Jörg"
    assert v3.adr.value.street == "Hauptstraße 1" and v3.adr.value.city == "Köln"
    mobile = next(t for t in v3.contents["tel"] if t.value == "+491701234567")
    assert "CELL" in mobile.params["TYPE"]
    assert "TEL;VALUE=uri;TYPE=cell,voice:tel:+491701234567" in card.vcard4


def test_an_organization_is_a_company_card(session: Session) -> None:
    org = Organization(name="ACME AG", street="Weg 2", locality="Bern", country="Schweiz")
    org.contact_points.append(ContactPoint(kind="phone", value="+41311234567", label="work"))
    session.add(org)
    session.commit()
    card = _render(session)[org.uid]
    v3, v4 = _parse(card.vcard3), _parse(card.vcard4)
    assert v3.fn.value == "ACME AG" and v3.org.value == ["ACME AG"]
    assert v3.contents["x-abshowas"][0].value == "COMPANY"
    assert "x-addressbookserver-kind" not in v3.contents  # a company, not a group
    assert v4.kind.value == "org"
    assert v4.tel.value == "tel:+41311234567"


@settings(max_examples=60, deadline=None)
@given(
    text=st.text(
        st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=300
    )
)
def test_any_text_survives_escaping_and_folding(text: str) -> None:
    person = _person(notes=text, display_name=text.strip() or "x", uid="u-1")
    body = cards.finish(cards.render_person(person, text, False), cards.utcnow())
    assert all(len(line.encode()) <= 75 for line in body.split("\r\n"))
    parsed = _parse(body)
    expected = "".join(c for c in text if c >= " " or c in "\n\r\t")
    expected = expected.replace("\t", " ").replace("\r\n", "\n").replace("\r", "\n")
    if not expected:
        assert "note" not in parsed.contents and "org" not in parsed.contents
        return
    assert parsed.note.value == expected
    assert parsed.org.value == [expected]


# -- change tracking --------------------------------------------------------------------


def _seq(session: Session, customer: Person | Organization) -> int:
    session.refresh(customer)
    return customer.card_seq


def test_every_kind_of_change_moves_the_counter_and_the_etag(session: Session) -> None:
    org = Organization(name="ACME")
    person = _person(organization=org)
    session.add(person)
    session.commit()
    etag = _render(session)[person.uid].etag
    token = addressbooks.sync_state(session).token

    def changed_since(previous: int) -> list[str]:
        cards.refresh(session)
        session.commit()
        present, _ = addressbooks.changes_since(session, ALL, previous)
        return [c.uid for c in present]

    person.title = person.title  # the same value again: no change
    session.commit()
    assert changed_since(token) == []

    person.contact_points.append(ContactPoint(kind="phone", value="+4930111", label="mobile"))
    session.commit()
    assert changed_since(token) == [person.uid]
    assert _render(session)[person.uid].etag != etag

    token = addressbooks.sync_state(session).token
    org.name = "ACME Europe"  # shown as ORG on the person's card
    session.commit()
    assert set(changed_since(token)) == {person.uid, org.uid}
    assert "ORG:ACME Europe" in _render(session)[person.uid].vcard3

    token = addressbooks.sync_state(session).token
    session.add(CustomerCategory(person_id=person.id, name="Lead"))
    session.commit()
    assert changed_since(token) == [person.uid]

    token = addressbooks.sync_state(session).token
    point = session.scalars(select(ContactPoint).where(ContactPoint.kind == "phone")).one()
    point.value = "+4930222"
    session.commit()
    assert changed_since(token) == [person.uid]


def test_content_unchanged_keeps_the_etag_and_rev(session: Session) -> None:
    user = add_user(session, "olga", "a long password", "staff")
    org = Organization(name="ACME")
    person = _person(organization=org)
    session.add(person)
    session.commit()
    before = _render(session)[person.uid]
    etag, text = before.etag, before.vcard3
    token = addressbooks.sync_state(session).token
    org.owner_id = user.id  # changes books, not the card
    session.commit()
    after = _render(session)[person.uid]
    assert after.etag == etag and after.vcard3 == text
    present, _ = addressbooks.changes_since(session, ALL, token)
    assert person.uid in {c.uid for c in present}  # reported; the client sees the same ETag


def test_deleting_leaves_a_tombstone_and_pruning_expires_old_tokens(session: Session) -> None:
    org = Organization(name="ACME")
    person = _person(organization=org)
    other = _person(display_name="Other")
    session.add_all([person, other])
    session.commit()
    _render(session)
    token = addressbooks.sync_state(session).token
    uid, org_uid = person.uid, org.uid
    session.delete(org)  # its people lose their ORG line
    session.delete(person)
    session.commit()
    cards.refresh(session)
    session.commit()
    present, gone = addressbooks.changes_since(session, ALL, token)
    assert set(gone) == {uid, org_uid}
    assert present == []
    assert session.scalars(select(Card).where(Card.uid == uid)).first() is None

    row = session.scalars(select(CardTombstone)).first()
    assert row is not None
    row.deleted_at -= timedelta(days=400)
    session.commit()
    assert changes.prune_tombstones(session, timedelta(days=180)) >= 1
    session.commit()
    assert addressbooks.sync_state(session).horizon > token


def test_imports_and_the_review_queue_change_cards(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    path.write_text(
        "name,email,organization,city,website,categories\n"
        "Ana Lima,ana@lima.example,Lima Ltda,São Paulo,https://lima.example,VIP;Brasil\n",
        encoding="utf-8",
    )
    import_customers(session, path, default_region="DE")
    session.commit()
    ana = session.scalars(select(Person).where(Person.display_name == "Ana Lima")).one()
    card = _parse(_render(session)[ana.uid].vcard3)
    assert card.adr.value.city == "São Paulo"
    assert sorted(card.categories.value) == ["Brasil", "VIP"]
    token = addressbooks.sync_state(session).token

    from crm.matching import MatchPolicy

    assign_address(session, "ana.private@mail.example", MatchPolicy(), person_id=ana.id)
    session.commit()
    cards.refresh(session)
    session.commit()
    present, _ = addressbooks.changes_since(session, ALL, token)
    assert [c.uid for c in present] == [ana.uid]
    assert "ana.private@mail.example" in session.get(Card, ana.uid).vcard3  # type: ignore[union-attr]


def test_books_by_owner_and_category(session: Session) -> None:
    olga = add_user(session, "olga", "a long password", "staff")
    add_user(session, "piet", "a long password", "staff")
    mine = Organization(name="Mine", owner_id=olga.id)
    theirs = Organization(name="Theirs")
    worker = _person(display_name="Worker", organization=mine)
    vip = _person(display_name="VIP person")
    vip.categories.append(CustomerCategory(name="VIP"))
    session.add_all([mine, theirs, worker, vip])
    session.commit()
    owner_book = addressbooks.add_book(session, "olga", "Olga's", "owner", "olga", ["staff"])
    vip_book = addressbooks.add_book(session, "vip", "VIPs", "category", "VIP", ["admin"])
    _render(session)
    assert {c.uid for c in addressbooks.list_cards(session, owner_book)} == {mine.uid, worker.uid}
    assert {c.uid for c in addressbooks.list_cards(session, vip_book)} == {vip.uid}
    assert [b.slug for b in addressbooks.books_for(session, "staff")] == ["customers", "olga"]
    assert [b.slug for b in addressbooks.books_for(session, "viewer")] == []

    token = addressbooks.sync_state(session).token
    piet = session.scalars(select(User).where(User.name == "piet")).one()
    mine.owner_id = piet.id  # the organization and its people leave Olga's book
    session.commit()
    cards.refresh(session)
    session.commit()
    present, gone = addressbooks.changes_since(session, owner_book, token)
    assert present == [] and set(gone) == {mine.uid, worker.uid}

    with pytest.raises(Exception, match="no user named"):
        addressbooks.add_book(session, "x", "X", "owner", "nobody", ["staff"])
    with pytest.raises(Exception, match="short name"):
        addressbooks.add_book(session, "Bad Slug", "X", "category", "VIP", ["staff"])
