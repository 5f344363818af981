"""The CardDAV export in-process, request by request: the whole web application (so the
mount at /dav and /.well-known is tested too) on a fresh database, SQLite and
PostgreSQL, with users of every role, their app passwords, and a few customers."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from defusedxml.ElementTree import fromstring
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.test import Client, TestResponse

from crm import apppasswords
from crm.models import ContactPoint, CustomerCategory, Organization, Person
from crm.users import add_user
from tests.web.conftest import make_app

D = "{DAV:}"
C = "{urn:ietf:params:xml:ns:carddav}"
CS = "{http://calendarserver.org/ns/}"
BOOK = "/dav/addressbooks/staff/customers/"
PROPFIND_ETAGS = b'<propfind xmlns="DAV:"><prop><getetag/><getcontenttype/></prop></propfind>'


@dataclass
class Answer:
    """One response of a multistatus: its status (when it has no propstat) and the
    properties by status."""

    status: int | None = None
    props: dict[int, dict[str, ET.Element]] = field(default_factory=dict)

    def prop(self, name: str) -> ET.Element:
        return self.props[200][name]

    def missing(self) -> set[str]:
        return set(self.props.get(404, {}))


def multistatus(response: TestResponse) -> dict[str, Answer]:
    assert response.status_code == 207, response.get_data(as_text=True)
    root = fromstring(response.get_data())
    assert root.tag == D + "multistatus"
    answers: dict[str, Answer] = {}
    for item in root.findall(D + "response"):
        href = item.findtext(D + "href") or ""
        answer = answers.setdefault(href, Answer())
        status = item.findtext(D + "status")
        if status:
            answer.status = int(status.split()[1])
        for propstat in item.findall(D + "propstat"):
            code = int((propstat.findtext(D + "status") or "").split()[1])
            answer.props.setdefault(code, {}).update(
                {p.tag: p for p in propstat.find(D + "prop") or []}
            )
    return answers


def error_condition(response: TestResponse) -> set[str]:
    """The element names of a DAV:error body."""
    root = fromstring(response.get_data())
    assert root.tag == D + "error", response.get_data(as_text=True)
    return {child.tag for child in root}


@dataclass
class Dav:
    """A DAV client for one user (HTTP Basic with an app password)."""

    client: Client
    user: str
    password: str

    def request(
        self, method: str, path: str, body: bytes | str = b"", **headers: str
    ) -> TestResponse:
        auth = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        data = body.encode() if isinstance(body, str) else body
        all_headers = {"Authorization": f"Basic {auth}", **headers}
        if data:
            all_headers.setdefault("Content-Type", "application/xml; charset=utf-8")
        return self.client.open(path, method=method, data=data, headers=all_headers)

    def propfind(self, path: str, body: bytes | str = b"", depth: str = "0") -> TestResponse:
        return self.request("PROPFIND", path, body, Depth=depth)

    def report(self, path: str, body: bytes | str, depth: str = "1") -> TestResponse:
        return self.request("REPORT", path, body, Depth=depth)


@dataclass
class World:
    sessions: sessionmaker[Session]
    client: Client
    passwords: dict[str, str]
    people: dict[str, Person]
    orgs: dict[str, Organization]

    def dav(self, user: str = "staff", password: str | None = None) -> Dav:
        return Dav(self.client, user, password if password is not None else self.passwords[user])

    def uid(self, name: str) -> str:
        found = self.people.get(name) or self.orgs[name]
        return found.uid

    def card_path(self, name: str, book: str = BOOK) -> str:
        return f"{book}{self.uid(name)}.vcf"


def add_customers(session: Session) -> tuple[dict[str, Person], dict[str, Organization]]:
    acme = Organization(name="ACME; Inc, Ltd", street="Main St 1", locality="Springfield")
    acme.contact_points.append(ContactPoint(kind="phone", value="+4930123400", label="work"))
    koeln = Organization(name="Kölner Wasser GmbH")
    people = {
        "Jörg Müller": Person(
            display_name="Jörg Müller", given_name="Jörg", family_name="Müller", organization=koeln
        ),
        "Ann Smith": Person(
            display_name="Ann Smith", given_name="Ann", family_name="Smith", organization=acme
        ),
        "Bob Jones": Person(display_name="Bob Jones", title="CEO", notes="x" * 300),
    }
    people["Jörg Müller"].contact_points += [
        ContactPoint(kind="email", value="joerg@koeln.example", label="work"),
        ContactPoint(kind="phone", value="+4922155501", label="mobile"),
    ]
    people["Ann Smith"].contact_points.append(
        ContactPoint(kind="email", value="ann@acme.example", label="work")
    )
    people["Bob Jones"].categories.append(CustomerCategory(name="VIP"))
    session.add_all([acme, koeln, *people.values()])
    session.flush()
    return people, {"ACME": acme, "Kölner Wasser GmbH": koeln}


@pytest.fixture
def world(sessions: sessionmaker[Session], tmp_path: Path) -> Iterator[World]:
    passwords: dict[str, str] = {}
    with sessions.begin() as session:
        for role in ("admin", "staff", "viewer"):
            user = add_user(session, role, f"{role}-web-password", role)
            passwords[role] = apppasswords.create(session, user, "phone")
        other = add_user(session, "other", "other-web-password", "staff")
        passwords["other"] = apppasswords.create(session, other, "phone")
        people, orgs = add_customers(session)
    app = make_app(sessions, tmp_path / "archive")
    return World(sessions, Client(app), passwords, people, orgs)


def sync_body(token: str = "", props: str = "<D:getetag/>") -> str:
    return (
        '<D:sync-collection xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav">'
        f"<D:sync-token>{token}</D:sync-token><D:sync-level>1</D:sync-level>"
        f"<D:prop>{props}</D:prop></D:sync-collection>"
    )


def sync(dav: Dav, token: str = "", props: str = "<D:getetag/>") -> tuple[dict[str, Answer], str]:
    response = dav.report(BOOK, sync_body(token, props), depth="0")
    answers = multistatus(response)
    new_token = fromstring(response.get_data()).findtext(D + "sync-token")
    assert new_token
    return answers, new_token


def etags(answers: dict[str, Answer]) -> dict[str, str]:
    return {
        href: a.prop(D + "getetag").text or ""
        for href, a in answers.items()
        if 200 in a.props and D + "getetag" in a.props[200]
    }
