"""Customers for the CardDAV benchmark (benchmarks/carddav.py), and Radicale's storage.

:func:`generate` fills a migrated crmsync database through the ORM, as imports and the
web forms do (so crm.changes stamps every customer and the cards are rendered lazily by
the server): about one organization for five people, each person with 1-3 e-mail
addresses and 1-3 phone numbers (E.164, labelled work/home/mobile), an organization for
three quarters of them, and now and then a title, an address, a website, categories and
notes. Names come from benchmarks/timelinewords.py (umlauts, accents, ``ß``, ``ş``),
and some values need vCard escaping (commas and semicolons in company names and notes)
or folding (long notes). The same seed gives the same customers, UIDs included, so a
SQLite and a PostgreSQL database hold the same cards.

:func:`write_radicale_collection` writes cards into Radicale's ``multifilesystem``
storage directly (``collection-root/<user>/<collection>/`` with ``.Radicale.props``
and one ``<uid>.vcf`` per card), the way Radicale stores an uploaded address book.
"""

from __future__ import annotations

import json
import random
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
for _path in (ROOT, BENCH):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import timelinewords as words  # noqa: E402
from sqlalchemy import select  # noqa: E402
from sqlalchemy.orm import Session, sessionmaker  # noqa: E402

from crm import apppasswords  # noqa: E402
from crm.models import (  # noqa: E402
    Card,
    ContactPoint,
    CustomerCategory,
    Organization,
    OrganizationDomain,
    Person,
    User,
)
from crm.users import add_user  # noqa: E402

USER = "bench"
WEB_PASSWORD = "bench-password-1"  # noqa: S105 (a throwaway database)
FLUSH_EVERY = 500  # customers per flush
Progress = Callable[[str], None]

CITIES = (
    ("Hamburg", "20095", "Hamburg", "Deutschland"),
    ("München", "80331", "Bayern", "Deutschland"),
    ("Köln", "50667", "Nordrhein-Westfalen", "Deutschland"),
    ("Düsseldorf", "40213", "Nordrhein-Westfalen", "Deutschland"),
    ("Lübeck", "23552", "Schleswig-Holstein", "Deutschland"),
    ("Görlitz", "02826", "Sachsen", "Deutschland"),
    ("Würzburg", "97070", "Bayern", "Deutschland"),
    ("Zürich", "8001", "ZH", "Schweiz"),
    ("Wien", "1010", "Wien", "Österreich"),
    ("Malmö", "211 22", "Skåne", "Sverige"),
    ("Göteborg", "411 03", "Västra Götaland", "Sverige"),
    ("Tromsø", "9008", "Troms", "Norge"),
    ("Kraków", "31-001", "Małopolskie", "Polska"),
    ("İzmir", "35210", "İzmir", "Türkiye"),
    ("Besançon", "25000", "Bourgogne-Franche-Comté", "France"),
    ("A Coruña", "15001", "Galicia", "España"),
)
STREETS = (
    "Hauptstraße",
    "Große Elbstraße",
    "Am Sandtorkai",
    "Königsallee",
    "Rue de la Paix",
    "Storgatan",
    "ul. Floriańska",
    "Kurfürstendamm",
    "Mühlenweg",
    "Bahnhofstraße",
)
CATEGORIES = ("A-Kunde", "B-Kunde", "Lieferant", "Messe 2025", "Newsletter", "Partner; Reseller")
NOTES = (
    "Bevorzugt Rückruf am Vormittag, nicht vor 9 Uhr; Einkauf läuft über die Zentrale.",
    "Met at the trade fair in Hannover, interested in the maintenance contract, asks for a"
    " quote with three-year terms, delivery to the site in Görlitz, invoice to the head office.",
    "Rahmenvertrag bis 12/2026.\nAnsprechpartner im Urlaub: siehe Zentrale, Tel. +49 40 1234-0",
    "Ärger mit der letzten Lieferung (Teile beschädigt), Gutschrift erteilt, Kunde zufrieden.",
    "Spricht Deutsch, English, Français; prefers e-mail over phone.",
)
TITLE_CHOICES = (*words.TITLES, "Leiterin Einkauf", "Prokurist, Vertrieb", "CFO")
_SLUG = str.maketrans(
    {"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "&": "-", " ": "-", "é": "e", "è": "e"}
)


def slug(text: str, *, dots: bool = False) -> str:
    """Lower-case ASCII for addresses and domains (umlauts spelt out)."""
    text = text.lower().translate(_SLUG)
    allowed = "abcdefghijklmnopqrstuvwxyz0123456789-" + ("." if dots else "")
    return "".join(c for c in text if c in allowed).strip("-.") or "x"


@dataclass
class Generated:
    """What :func:`generate` made: counts, seconds, the user's app password, and the UIDs
    of the people (to change one now and then)."""

    people: int
    organizations: int
    contact_points: int
    seconds: float
    app_password: str
    person_uids: list[str]

    @property
    def cards(self) -> int:
        return self.people + self.organizations


class _Maker:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.taken: set[str] = set()

    def uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def unique(self, candidate: str) -> str:
        """``candidate`` (an address or a domain), numbered when it is taken."""
        value, n = candidate, 1
        while value in self.taken:
            n += 1
            if "@" in candidate:
                local, _, domain = candidate.partition("@")
                value = f"{local}{n}@{domain}"
            else:
                name, _, tld = candidate.partition(".")
                value = f"{name}{n}.{tld}"
        self.taken.add(value)
        return value

    def phone(self, label: str) -> ContactPoint:
        rng = self.rng
        if label == "mobile":
            number = f"+491{rng.choice('567')}{rng.randint(0, 9)}{rng.randint(1000000, 9999999)}"
        else:
            area = rng.choice(("30", "40", "89", "221", "211", "451", "3581", "931"))
            number = f"+49{area}{rng.randint(100000, 9999999)}"
        original = f"{number[:3]} {number[3:6]} {number[6:]}"
        return ContactPoint(kind="phone", value=number, label=label, original=original)

    def email(self, address: str, label: str) -> ContactPoint:
        return ContactPoint(kind="email", value=address, label=label, original=address)

    def address(self, customer: Person | Organization) -> None:
        rng = self.rng
        city, postal, region, country = rng.choice(CITIES)
        customer.street = f"{rng.choice(STREETS)} {rng.randint(1, 180)}"
        customer.locality, customer.postal_code = city, postal
        customer.region, customer.country = region, country

    def categories(self) -> list[CustomerCategory]:
        count = self.rng.choices((0, 1, 2), weights=(70, 22, 8))[0]
        return [CustomerCategory(name=n) for n in self.rng.sample(CATEGORIES, count)]

    def organization(self) -> tuple[Organization, str]:
        rng = self.rng
        first, trade = rng.choice(words.ORG_WORDS), rng.choice(words.ORG_TRADES)
        if rng.random() < 0.1:
            family = rng.choice(words.FAMILY_NAMES)
            name = f"{family}, {rng.choice(words.FAMILY_NAMES)} & Partner; {trade}"
        else:
            name = f"{first} {trade} {rng.choice(words.LEGAL_FORMS)}"
        domain = self.unique(f"{slug(first + '-' + trade)}.{rng.choice(words.TLDS)}")
        org = Organization(name=name, uid=self.uid(), website=f"https://www.{domain}/")
        org.domains = [OrganizationDomain(domain=domain)]
        points = [self.phone("work") for _ in range(rng.randint(1, 2))]
        if rng.random() < 0.6:
            box = rng.choice(("info", "office", "einkauf", "kontakt"))
            points.insert(0, self.email(self.unique(f"{box}@{domain}"), "work"))
        org.contact_points = points
        if rng.random() < 0.8:
            self.address(org)
        if rng.random() < 0.3:
            org.notes = rng.choice(NOTES)
        org.categories = self.categories()
        return org, domain

    def person(self, org: tuple[Organization, str] | None) -> Person:
        rng = self.rng
        given, family = rng.choice(words.GIVEN_NAMES), rng.choice(words.FAMILY_NAMES)
        person = Person(
            uid=self.uid(),
            given_name=given,
            family_name=family,
            display_name=f"{given} {family}",
            organization=org[0] if org else None,
        )
        local = rng.choice((f"{given}.{family}", f"{given[0]}.{family}", f"{given}{family}"))
        domains = [org[1] if org else rng.choice(words.FREE_MAIL)]
        domains += rng.sample(words.FREE_MAIL, 2)
        labels = ["work" if org else "home", "home", "home"]
        points = [
            self.email(self.unique(f"{slug(local, dots=True)}@{domains[i]}"), labels[i])
            for i in range(rng.choices((1, 2, 3), weights=(55, 35, 10))[0])
        ]
        phone_labels = rng.sample(
            ("work", "mobile", "home"), rng.choices((1, 2, 3), (50, 35, 15))[0]
        )
        points += [self.phone(label) for label in phone_labels]
        person.contact_points = points
        if org is not None and rng.random() < 0.5:
            person.title = rng.choice(TITLE_CHOICES)
        if rng.random() < 0.35:
            self.address(person)
        if rng.random() < 0.1:
            person.website = f"https://{slug(given)}-{slug(family)}.example/"
        if rng.random() < 0.15:
            person.notes = rng.choice(NOTES)
        person.categories = self.categories()
        return person


def generate(
    sessions: sessionmaker[Session], customers: int, seed: int, progress: Progress = print
) -> Generated:
    """``customers`` cards' worth of organizations (about a sixth) and people in a migrated,
    empty database, a staff user :data:`USER` and an app password for it (returned)."""
    start = time.perf_counter()
    maker = _Maker(seed)
    org_count = max(customers // 6, 1)
    people_count = customers - org_count
    points = 0
    person_uids: list[str] = []
    with sessions() as session:
        user = add_user(session, USER, WEB_PASSWORD, "staff")
        password = apppasswords.create(session, user, "bench")
        orgs = []
        for n in range(org_count):
            org = maker.organization()
            orgs.append(org)
            session.add(org[0])
            points += len(org[0].contact_points)
            if (n + 1) % FLUSH_EVERY == 0:
                session.flush()
        session.flush()
        at_org = people_count * 3 // 4
        for n in range(people_count):
            person = maker.person(maker.rng.choice(orgs) if n < at_org else None)
            session.add(person)
            points += len(person.contact_points)
            person_uids.append(person.uid)
            if (n + 1) % FLUSH_EVERY == 0:
                session.flush()
                if (n + 1) % (FLUSH_EVERY * 10) == 0:
                    progress(f"  {n + 1 + org_count:,} customers")
        session.commit()
    return Generated(
        people=people_count,
        organizations=org_count,
        contact_points=points,
        seconds=time.perf_counter() - start,
        app_password=password,
        person_uids=person_uids,
    )


def change_person(sessions: sessionmaker[Session], uid: str, note: str) -> None:
    """Change what one person's card says (its note), through the ORM as a form would."""
    with sessions() as session:
        person = session.scalars(select(Person).where(Person.uid == uid)).one()
        person.notes = note
        session.commit()


def user_exists(sessions: sessionmaker[Session]) -> bool:
    with sessions() as session:
        return session.scalar(select(User.id).where(User.name == USER)) is not None


def rendered_cards(sessions: sessionmaker[Session]) -> list[tuple[str, str]]:
    """(uid, vCard 3.0 text) of every card crmsync has rendered."""
    with sessions() as session:
        return [(uid, text) for uid, text in session.execute(select(Card.uid, Card.vcard3))]


def write_radicale_collection(
    folder: Path, user: str, collection: str, name: str, cards: Iterable[tuple[str, str]]
) -> int:
    """Write an address book into Radicale's multifilesystem storage under ``folder``
    (its ``filesystem_folder``); the number of cards written."""
    path = folder / "collection-root" / user / collection
    path.mkdir(parents=True, exist_ok=True)
    props = {"tag": "VADDRESSBOOK", "D:displayname": name}
    (path / ".Radicale.props").write_text(json.dumps(props), encoding="utf-8")
    count = 0
    for uid, text in cards:
        (path / f"{uid}.vcf").write_bytes(text.encode("utf-8"))
        count += 1
    return count
