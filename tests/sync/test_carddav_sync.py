"""Address books through the whole sync (a real Radicale): ``enrich`` adds to the people
the CRM knows and creates nobody, ``import`` creates them; a card deleted at the source
deletes nothing in the CRM."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from crm.models import ContactPoint, CustomerFieldSource, Organization, Person
from sync.runner import Runner
from tests.adapters.test_carddav import vcard
from tests.servers.radicale import RadicaleServer
from tests.sync.helpers import make_config

ANN = vcard(
    "ann-uid",
    "Smith Ann",
    "ann@customer.example",
    extra="TEL;TYPE=CELL:+49 170 1234567\r\nTITLE:Head of Purchasing\r\nORG:Customer GmbH",
)
BOB = vcard("bob-uid", "Jones Bob", "bob@other.example", extra="ORG:Other AG")


def _account(radicale: RadicaleServer, book: str, policy: str) -> dict[str, object]:
    return {
        "name": f"alice-{policy}",
        "kind": "carddav",
        "url": radicale.url,
        "username": radicale.username,
        "password_env": "CARDDAV_TEST_PASSWORD",
        "books": [book],
        "policy": policy,
    }


def _people(sessions: sessionmaker[Session]) -> dict[str, tuple[str, list[str], str]]:
    with sessions() as session:
        return {
            p.display_name: (
                p.title,
                sorted(c.value for c in p.contact_points),
                p.organization.name if p.organization else "",
            )
            for p in session.scalars(select(Person))
        }


@pytest.fixture
def book(radicale: RadicaleServer, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("CARDDAV_TEST_PASSWORD", radicale.password)
    url = radicale.make_addressbook()
    radicale.put_card(url, "ann.vcf", ANN)
    radicale.put_card(url, "bob.vcf", BOB)
    return url


def test_enrich_adds_to_known_people_only(
    tmp_path, db_url: str, sessions: sessionmaker[Session], radicale: RadicaleServer, book: str
) -> None:
    with sessions.begin() as session:
        ann = Person(display_name="Ann Smith")
        ann.contact_points.append(ContactPoint(kind="email", value="ann@customer.example"))
        session.add(ann)
    config = make_config(tmp_path, db_url, [_account(radicale, book, "enrich")])
    [result] = Runner(config, sessions).sync_all()
    assert result.ok, result.error
    assert _people(sessions) == {
        "Ann Smith": ("Head of Purchasing", ["+491701234567", "ann@customer.example"], "")
    }
    with sessions() as session:
        assert session.scalars(select(Organization)).all() == []
        [row] = session.scalars(select(CustomerFieldSource).filter_by(field="phone")).all()
        assert row.account.name == "alice-enrich"
        assert row.remote_id.endswith("/ann.vcf")

    radicale.delete(book.rstrip("/") + "/ann.vcf")
    assert Runner(config, sessions).sync_all()[0].ok
    assert "+491701234567" in _people(sessions)["Ann Smith"][1]
    with sessions() as session:
        assert all(r.removed_at is not None for r in session.scalars(select(CustomerFieldSource)))


def test_import_creates_people_and_organizations(
    tmp_path, db_url: str, sessions: sessionmaker[Session], radicale: RadicaleServer, book: str
) -> None:
    config = make_config(tmp_path, db_url, [_account(radicale, book, "import")])
    [result] = Runner(config, sessions).sync_all()
    assert result.ok, result.error
    assert result.ingest.new == 2
    expected = {
        "Smith Ann": (
            "Head of Purchasing",
            ["+491701234567", "ann@customer.example"],
            "Customer GmbH",
        ),
        "Jones Bob": ("", ["bob@other.example"], "Other AG"),
    }
    assert _people(sessions) == expected

    radicale.delete(book.rstrip("/") + "/bob.vcf")
    radicale.put_card(book, "ann.vcf", ANN.replace(b"Head of Purchasing", b"Director"))
    [again] = Runner(config, sessions).sync_all()
    assert again.ok, again.error
    _, points, org = expected["Smith Ann"]
    expected["Smith Ann"] = ("Director", points, org)
    assert _people(sessions) == expected, "Bob stays; Ann's title was the card's own"
