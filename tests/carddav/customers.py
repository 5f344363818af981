"""A small set of customers for the real-client tests, with what their cards must say.

About twenty customers: organizations and their people, names outside ASCII (German,
Scandinavian, Polish, Greek, Chinese), commas and semicolons inside names (which a vCard
must escape), and a NOTE long enough to be folded over many lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from crm.models import ContactPoint, CustomerCategory, Organization, Person

LONG_NOTE = (
    "Rahmenvertrag seit 2019; Ansprechpartner wechselt jährlich, bitte vor jedem Angebot "
    "nachfragen, ob die Zuständigkeit noch stimmt.\n"
    "Lieferadresse ≠ Rechnungsadresse: Waren an das Lager in Köln-Porz, Rechnungen an die "
    "Zentrale; Skonto 2 % bei Zahlung innerhalb von 10 Tagen, sonst 30 Tage netto.\n"
    "Besonderheiten: keine Anrufe vor 9 Uhr, Faxe werden nicht gelesen, "
    "E-Mails bitte immer in Kopie an die Buchhaltung — danke! 🙂 " * 2
).strip()


@dataclass(frozen=True)
class Spec:
    """One customer: ``key`` names it in the tests; ``org`` is the key of its organization."""

    key: str
    name: str
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    org: str = ""
    given: str = ""
    family: str = ""
    title: str = ""
    note: str = ""
    categories: tuple[str, ...] = ()

    @property
    def is_org(self) -> bool:
        return self.key.startswith("org-")


ORGANIZATIONS = (
    Spec(
        "org-nordwind",
        "Nordwind Logistik GmbH",
        ("info@nordwind-logistik.example",),
        ("+494012345678",),
        note="Hauptkunde Norddeutschland",
    ),
    Spec(
        "org-msp",
        "Müller, Schmidt & Partner; Steuerberater",
        ("kanzlei@msp-steuer.example",),
        ("+498912345670",),
        categories=("Steuer, Recht", "VIP"),
    ),
    Spec(
        "org-oersted", "Ørsted Café Zürich AG", ("hallo@oersted-cafe.example",), ("+41441234567",)
    ),
    Spec("org-beijing", "北京贸易有限公司", ("sales@beijing-trade.example",), ("+861012345678",)),
)

PEOPLE = (
    Spec(
        "juergen",
        "Jürgen Müller",
        ("juergen.mueller@nordwind-logistik.example",),
        ("+4917612345678", "+494012345679"),
        org="org-nordwind",
        given="Jürgen",
        family="Müller",
        title="Geschäftsführer",
        note=LONG_NOTE,
        categories=("VIP",),
    ),
    Spec(
        "sabine",
        "Sabine Groß",
        ("sabine.gross@nordwind-logistik.example",),
        ("+4917698765432",),
        org="org-nordwind",
        given="Sabine",
        family="Groß",
        title="Einkauf; Disposition",
    ),
    Spec(
        "doe",
        "Doe, John Jr.",
        ("john.doe@msp-steuer.example", "jd@example.org"),
        ("+498912345671",),
        org="org-msp",
        given="John",
        family="Doe",
    ),
    Spec(
        "schmidt",
        "Dr. Eva Schmidt; Partnerin",
        ("eva.schmidt@msp-steuer.example",),
        org="org-msp",
        given="Eva",
        family="Schmidt",
    ),
    Spec(
        "zoe",
        "Zoë Ångström",
        ("zoe.angstrom@oersted-cafe.example",),
        ("+41791234567",),
        org="org-oersted",
        given="Zoë",
        family="Ångström",
    ),
    Spec(
        "lukasz",
        "Łukasz Żółkiewski",
        ("lukasz@zolkiewski.example",),
        ("+48601234567",),
        given="Łukasz",
        family="Żółkiewski",
    ),
    Spec(
        "sokratis",
        "Σωκράτης Παπαδόπουλος",
        ("sokratis@papadopoulos.example",),
        ("+302101234567",),
        given="Σωκράτης",
        family="Παπαδόπουλος",
    ),
    Spec(
        "wang",
        "王小明",
        ("wang.xiaoming@beijing-trade.example",),
        ("+8613812345678",),
        org="org-beijing",
        given="小明",
        family="王",
    ),
    Spec(
        "renee",
        "Renée O'Connor",
        ("renee.oconnor@gmail.example",),
        ("+353861234567",),
        given="Renée",
        family="O'Connor",
    ),
    Spec("tobias", "Tobias Beispiel", ("tobias.beispiel@gmail.example",), given="Tobias"),
    Spec("fatma", "Fatma Yılmaz", ("fatma.yilmaz@yilmaz-bau.example",), ("+905321234567",)),
    Spec("noemail", "Otto Ohnemail", phones=("+4930123456",), given="Otto", family="Ohnemail"),
    Spec("phoneless", "Paula Telefonlos", ("paula@telefonlos.example",)),
    Spec("backslash", "Back\\Slash & Co", ("backslash@example.net",)),
    Spec("francois", "François Lefèvre", ("f.lefevre@lefevre.example",), ("+33612345678",)),
    Spec("ingrid", "Ingrid Bäckström", ("ingrid@backstrom.example",), ("+46701234567",)),
)

ALL = ORGANIZATIONS + PEOPLE


@dataclass
class Customers:
    """The customers as stored: ``uids`` by key."""

    uids: dict[str, str] = field(default_factory=dict)

    def uid(self, key: str) -> str:
        return self.uids[key]


def _points(spec: Spec) -> list[ContactPoint]:
    points = [ContactPoint(kind="email", value=e, label="work", original=e) for e in spec.emails]
    labels = ("mobile", "work", "home")
    points += [
        ContactPoint(kind="phone", value=p, label=labels[i % 3], original=p)
        for i, p in enumerate(spec.phones)
    ]
    return points


def add_customers(session: Session) -> Customers:
    """Store every customer of :data:`ALL` (the caller commits)."""
    orgs: dict[str, Organization] = {}
    stored: dict[str, Person | Organization] = {}
    for spec in ORGANIZATIONS:
        org = Organization(
            name=spec.name,
            notes=spec.note,
            contact_points=_points(spec),
            categories=[CustomerCategory(name=c) for c in spec.categories],
        )
        session.add(org)
        orgs[spec.key] = stored[spec.key] = org
    for spec in PEOPLE:
        person = Person(
            display_name=spec.name,
            given_name=spec.given,
            family_name=spec.family,
            title=spec.title,
            notes=spec.note,
            organization=orgs.get(spec.org),
            contact_points=_points(spec),
            categories=[CustomerCategory(name=c) for c in spec.categories],
        )
        session.add(person)
        stored[spec.key] = person
    session.flush()
    return Customers({key: customer.uid for key, customer in stored.items()})
