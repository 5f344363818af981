"""Data-subject requests and the audit log in the web view (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from crm import audit
from crm.archive import Archive
from crm.models import Interaction, Person
from tests.crm.helpers import ingest, mail
from tests.web.conftest import Browser
from tests.web.data import PDF, populate

GRETA = "greta.hansen@nordwind-logistik.de"
PAGE = "/admin/persons"


@pytest.fixture
def ids(app, sessions: sessionmaker[Session], tmp_path: Path) -> dict[str, int]:
    return populate(sessions, tmp_path / "archive")


def text(response) -> str:
    return response.get_data(as_text=True)


def _counts(page: str) -> str:
    found = re.search(r'name="counts" type="hidden" value="([^"]+)"', page) or re.search(
        r'type="hidden" name="counts" value="([^"]+)"', page
    )
    assert found, page
    return found[1]


def _subjects(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as session:
        return list(session.scalars(select(Interaction.subject).order_by(Interaction.id)))


def test_admin_sees_what_is_stored(admin: Browser, ids) -> None:
    page = admin.get(f"{PAGE}?email=Greta.Hansen@Nordwind-Logistik.de")
    assert page.status_code == 200
    body = text(page)
    assert "Stored about greta.hansen@nordwind-logistik.de" in body
    assert "Greta Hansen" in body
    assert "Anfrage Rahmenvertrag" in body and "Angebot Seefracht Hamburg–Oslo" in body
    assert "2 interactions" in body and "1 attachments" in body
    assert "Frage 01" not in body  # Jan's mail
    assert "Download export" in body and "Erase…" in body
    assert "Nothing is stored" in text(admin.get(f"{PAGE}?email=nobody@nowhere.example"))


def test_download_export_is_a_zip_with_person_json_and_attachments(
    admin: Browser, ids, sessions
) -> None:
    admin.get(f"{PAGE}?email={GRETA}")
    response = admin.post(f"{PAGE}/export", {"email": GRETA})
    assert response.status_code == 200
    assert response.mimetype == "application/zip"
    assert "attachment" in response.headers["Content-Disposition"]
    bundle = zipfile.ZipFile(io.BytesIO(response.get_data()))
    response.close()  # the server closes (and so deletes) the temporary zip file
    names = bundle.namelist()
    [root] = {n.split("/")[0] for n in names}
    assert root.startswith(f"export-{GRETA}-")
    data = json.loads(bundle.read(f"{root}/person.json").decode("utf-8"))
    assert [p["display_name"] for p in data["people"]] == ["Greta Hansen"]
    assert [i["subject"] for i in data["interactions"]] == [
        "Anfrage Rahmenvertrag",
        "Angebot Seefracht Hamburg–Oslo",
    ]
    digest = hashlib.sha256(PDF).hexdigest()
    assert bundle.read(f"{root}/attachments/{digest}-Angebot.pdf") == PDF
    with sessions() as session:
        [entry] = audit.entries(session, action="person.export")
        assert (entry.actor, entry.target) == ("admin", GRETA)


def test_erase_after_confirming(admin: Browser, ids, sessions, tmp_path: Path) -> None:
    confirm = admin.get(f"{PAGE}/erase?email={GRETA}")
    assert confirm.status_code == 200
    page = text(confirm)
    assert "Anfrage Rahmenvertrag" in page and "Angebot Seefracht Hamburg–Oslo" in page
    assert "Greta Hansen" in page
    response = admin.post(f"{PAGE}/erase", {"email": GRETA, "counts": _counts(page)})
    assert response.status_code == 302
    assert f"{GRETA} erased: 1 people, 2 interactions, 1 archived files" in text(
        admin.get(response.headers["Location"])
    )
    assert "Anfrage Rahmenvertrag" not in _subjects(sessions)
    assert "Lieferavis KW 48" in _subjects(sessions)
    with sessions() as session:
        assert session.get(Person, ids["greta"]) is None
        [entry] = audit.entries(session, action="person.erase")
        assert (entry.actor, entry.target) == ("admin", GRETA)
        assert audit.details(entry)["interactions_deleted"] == 2
    assert not Archive(tmp_path / "archive").path(hashlib.sha256(PDF).hexdigest()).exists()
    log = text(admin.get("/admin/audit?action=person."))
    assert "person.erase" in log and GRETA in log


def test_a_plan_that_changed_is_refused(admin: Browser, ids, sessions, tmp_path: Path) -> None:
    page = text(admin.get(f"{PAGE}/erase?email={GRETA}"))
    with sessions() as session:
        ingest(session, [mail(GRETA, ["alice@example.com"], subject="Noch was")], tmp_path)
    response = admin.post(f"{PAGE}/erase", {"email": GRETA, "counts": _counts(page)})
    assert response.status_code == 302
    assert "changed since the confirmation page" in text(admin.get(response.headers["Location"]))
    assert "Noch was" in _subjects(sessions) and "Anfrage Rahmenvertrag" in _subjects(sessions)
    with sessions() as session:
        assert session.get(Person, ids["greta"]) is not None
        assert audit.entries(session, action="person.erase") == []


def test_erase_needs_the_csrf_token(admin: Browser, ids, sessions) -> None:
    page = text(admin.get(f"{PAGE}/erase?email={GRETA}"))
    refused = admin.client.post(f"{PAGE}/erase", data={"email": GRETA, "counts": _counts(page)})
    assert refused.status_code == 400
    assert "The CSRF token is missing" in text(refused)
    export = admin.client.post(f"{PAGE}/export", data={"email": GRETA})
    assert export.status_code == 400
    assert "Anfrage Rahmenvertrag" in _subjects(sessions)


@pytest.mark.parametrize("role", ["staff", "viewer"])
def test_only_admins(app, role: str, ids, sessions) -> None:
    from tests.web.conftest import _logged_in

    browser = _logged_in(app, role)
    assert browser.get(f"{PAGE}?email={GRETA}").status_code == 403
    assert browser.get(f"{PAGE}/erase?email={GRETA}").status_code == 403
    assert browser.post(f"{PAGE}/export", {"email": GRETA}).status_code == 403
    assert browser.post(f"{PAGE}/erase", {"email": GRETA, "counts": "people=1"}).status_code == 403
    assert browser.get("/admin/audit").status_code == 403
    assert "Anfrage Rahmenvertrag" in _subjects(sessions)


def test_anonymous_is_sent_to_login(anonymous: Browser) -> None:
    for url in (PAGE, "/admin/audit", f"{PAGE}/erase?email={GRETA}"):
        response = anonymous.get(url)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login?next=")


def test_audit_log_filters_and_pages(admin: Browser, sessions) -> None:
    with sessions.begin() as session:
        for n in range(55):
            audit.record(session, "cli:root", "privacy_rule.add", f"domain spam{n}.example")
        audit.record(session, "bob", "person.erase", "ann@example.org", people=1)
    first = text(admin.get("/admin/audit"))
    assert first.index("ann@example.org") < first.index("spam54.example")
    assert "Next →" in first and "spam4.example" not in first
    second = text(admin.get("/admin/audit?page=2"))
    assert "spam4.example" in second and "Next →" not in second
    only = text(admin.get("/admin/audit?action=person.&actor=bob"))
    assert "ann@example.org" in only and "spam" not in only
    by_target = text(admin.get("/admin/audit?target=spam12."))
    assert "spam12.example" in by_target and "spam13.example" not in by_target
    future = text(admin.get("/admin/audit?since=2999-01-01"))
    assert "No entries match the filter" in future
