"""Data-subject requests: what is stored about an address, its export, its erasure.

Runs on SQLite and PostgreSQL (the ``session`` fixture)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from adapters.records import Attachment as MailAttachment
from crm import addressbooks, audit, cards
from crm.archive import Archive
from crm.models import (
    Attachment,
    ContactPoint,
    Document,
    Interaction,
    Participant,
    Person,
    QuarantineItem,
    ReviewItem,
)
from crm.subjects import (
    PlanChangedError,
    erase_plan,
    erase_subject,
    export_subject,
    find_subject,
)
from crm.syncstate import ensure_account
from tests.crm.helpers import T0, customers, ingest, mail

GRETA = "greta.hansen@nordwind-logistik.de"
JAN = "jan.kowalski@gmail.com"
ONLY = b"%PDF-1.4 only on Greta's own mail\n"
SHARED = b"%PDF-1.4 price list, sent to everyone\n"
RAW = b"From: Greta Hansen <Greta.Hansen@Nordwind-Logistik.de>\r\nDate: yesterday?\r\n\r\nHallo\r\n"
OTHER_RAW = b"From: someone@else.example\r\n\r\nnot about Greta\r\n"


@pytest.fixture
def stored(session: Session, tmp_path: Path) -> dict[str, int]:
    ids = customers(session)
    session.commit()
    records = [
        mail(
            GRETA,
            ["alice@example.com"],
            subject="Persönliche Frage",
            message_id="own@nordwind",
            attachments=(
                MailAttachment("Lebenslauf.pdf", "application/pdf", ONLY),
                MailAttachment("Preisliste.pdf", "application/pdf", SHARED),
            ),
        ),
        mail(
            "alice@example.com",
            [GRETA],
            cc=[JAN],
            subject="Termin mit Greta und Jan",
            message_id="both@example.com",
            when=T0 + timedelta(hours=1),
            attachments=(MailAttachment("Preisliste.pdf", "application/pdf", SHARED),),
        ),
        mail(JAN, ["alice@example.com"], subject="Nur Jan", message_id="jan@gmail"),
    ]
    ingest(session, records, tmp_path)
    session.execute(
        update(Interaction)
        .where(Interaction.message_id == "own@nordwind")
        .values(visibility="private")
    )
    account = ensure_account(session, "alice-mail", "imap")
    session.add_all(
        [
            ReviewItem(
                email=GRETA,
                name="Greta",
                status="assigned",
                interaction_count=1,
                first_seen_at=T0,
                last_seen_at=T0,
            ),
            ReviewItem(
                email="einkauf@kranich-bau.example",
                interaction_count=0,
                first_seen_at=T0,
                last_seen_at=T0,
            ),
            QuarantineItem(
                account_id=account.id,
                collection="INBOX",
                remote_id="77",
                reason="unparseable Date header",
                raw=RAW,
            ),
            QuarantineItem(
                account_id=account.id,
                collection="INBOX",
                remote_id="78",
                reason="too large",
                raw=OTHER_RAW,
            ),
        ]
    )
    session.commit()
    ids["own"] = session.scalars(
        select(Interaction.id).where(Interaction.message_id == "own@nordwind")
    ).one()
    ids["both"] = session.scalars(
        select(Interaction.id).where(Interaction.message_id == "both@example.com")
    ).one()
    ids["jan_mail"] = session.scalars(
        select(Interaction.id).where(Interaction.message_id == "jan@gmail")
    ).one()
    return ids


def _sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def test_find_collects_everything_about_the_address(session: Session, stored) -> None:
    subject = find_subject(session, "  Greta.Hansen@Nordwind-Logistik.DE ")
    assert subject.email == GRETA
    assert [p.display_name for p in subject.people] == ["Greta Hansen"]
    assert [i.subject for i in subject.interactions] == [
        "Persönliche Frage",
        "Termin mit Greta und Jan",
    ]
    assert [a.filename for a in subject.attachments] == [
        "Lebenslauf.pdf",
        "Preisliste.pdf",
        "Preisliste.pdf",
    ]
    assert [r.email for r in subject.review_items] == [GRETA]
    assert [q.remote_id for q in subject.quarantine] == ["77"]
    assert find_subject(session, "nobody@nowhere.example").is_empty


def test_export_writes_the_subjects_data_and_files(
    session: Session, stored, tmp_path: Path
) -> None:
    out = tmp_path / "export"
    summary = export_subject(session, Archive(tmp_path / "archive"), GRETA, out, actor="cli:tester")
    session.commit()
    only = f"attachments/{_sha(ONLY)}-Lebenslauf.pdf"
    shared = f"attachments/{_sha(SHARED)}-Preisliste.pdf"
    assert sorted(summary.files) == sorted(
        [only, shared, f"quarantine/{_quarantine_id(session)}.eml"]
    )
    assert (out / only).read_bytes() == ONLY
    assert (out / shared).read_bytes() == SHARED
    assert (out / "quarantine" / f"{_quarantine_id(session)}.eml").read_bytes() == RAW

    data = json.loads((out / "person.json").read_text(encoding="utf-8"))
    assert data["email"] == GRETA
    assert data["exported_at"].endswith("+00:00")
    [person] = data["people"]
    assert person["display_name"] == "Greta Hansen"
    assert person["organization"]["name"] == "Nordwind Logistik GmbH"
    assert person["contact_points"] == [
        {"kind": "email", "value": GRETA, "label": "", "original": ""}
    ]
    assert person["created_at"].endswith("+00:00")
    own, both = data["interactions"]
    assert own["id"] == stored["own"]
    assert (own["kind"], own["direction"], own["visibility"]) == ("email", "inbound", "private")
    assert own["occurred_at"] == "2026-03-02T09:30:00+00:00"
    assert own["subject"] == "Persönliche Frage"
    assert own["body_text"] == "Text of Persönliche Frage"
    assert own["participants"] == [
        {"role": "from", "email": GRETA, "name": "Greta.Hansen", "internal": False},
        {"role": "to", "email": "alice@example.com", "name": "", "internal": True},
    ]
    assert [(s["account"], s["folder"]) for s in own["sources"]] == [("alice-mail", "INBOX")]
    assert own["attachments"] == [
        {
            "filename": "Lebenslauf.pdf",
            "content_type": "application/pdf",
            "size": len(ONLY),
            "sha256": _sha(ONLY),
            "file": only,
        },
        {
            "filename": "Preisliste.pdf",
            "content_type": "application/pdf",
            "size": len(SHARED),
            "sha256": _sha(SHARED),
            "file": shared,
        },
    ]
    assert both["occurred_at"] == "2026-03-02T10:30:00+00:00"
    assert [(p["role"], p["email"]) for p in both["participants"]] == [
        ("from", "alice@example.com"),
        ("to", GRETA),
        ("cc", JAN),
    ]
    assert [a["file"] for a in both["attachments"]] == [shared]
    assert [(r["email"], r["status"]) for r in data["review_items"]] == [(GRETA, "assigned")]
    [quarantined] = data["quarantine"]
    assert {k: quarantined[k] for k in ("reason", "account", "folder", "remote_id")} == {
        "reason": "unparseable Date header",
        "account": "alice-mail",
        "folder": "INBOX",
        "remote_id": "77",
    }
    [entry] = audit.entries(session, action="person.export")
    assert (entry.actor, entry.target) == ("cli:tester", GRETA)
    assert audit.details(entry) == {
        "attachments": 3,
        "files": 3,
        "interactions": 2,
        "people": 1,
        "quarantine_items": 1,
        "review_items": 1,
    }
    assert "Persönliche" not in entry.details


def _quarantine_id(session: Session) -> int:
    return session.scalars(select(QuarantineItem.id).where(QuarantineItem.remote_id == "77")).one()


def test_erase_deletes_the_subject_and_keeps_the_others(
    session: Session, stored, tmp_path: Path
) -> None:
    archive = Archive(tmp_path / "archive")
    cards.refresh(session)
    session.commit()
    token = addressbooks.sync_state(session).token
    greta_uid = session.get(Person, stored["greta"]).uid  # type: ignore[union-attr]

    plan = erase_plan(session, GRETA)
    assert [p for _, p in plan.people] == ["Greta Hansen"]
    assert [i.subject for i in plan.deleted] == ["Persönliche Frage"]
    assert [i.subject for i in plan.kept] == ["Termin mit Greta und Jan"]
    assert plan.documents == (_sha(ONLY),)
    assert plan.counts == {
        "people": 1,
        "interactions_deleted": 1,
        "interactions_changed": 1,
        "participants_removed": 1,
        "attachments_deleted": 2,
        "documents_deleted": 1,
        "review_items": 1,
        "quarantine_items": 1,
    }
    session.rollback()

    summary = erase_subject(session, archive, plan, "cli:tester")
    assert summary.files_removed == (_sha(ONLY),)
    session.expire_all()

    assert session.scalars(select(Person.display_name)).all() == ["Jan Kowalski"]
    assert session.scalars(select(ContactPoint.value)).all() == [JAN]
    assert session.execute(
        select(Interaction.id, Interaction.subject).order_by(Interaction.id)
    ).all() == [(stored["both"], "Termin mit Greta und Jan"), (stored["jan_mail"], "Nur Jan")]
    participants = session.execute(
        select(
            Participant.interaction_id,
            Participant.role,
            Participant.email,
            Participant.is_internal,
            Participant.person_id,
        ).order_by(Participant.id)
    ).all()
    assert participants == [
        (stored["both"], "from", "alice@example.com", True, None),
        (stored["both"], "cc", JAN, False, stored["jan"]),
        (stored["jan_mail"], "from", JAN, False, stored["jan"]),
        (stored["jan_mail"], "to", "alice@example.com", True, None),
    ]
    assert session.execute(
        select(Attachment.interaction_id, Attachment.filename, Attachment.document_sha256)
    ).all() == [(stored["both"], "Preisliste.pdf", _sha(SHARED))]
    assert session.scalars(select(Document.sha256)).all() == [_sha(SHARED)]
    assert not archive.path(_sha(ONLY)).exists()
    assert archive.read(_sha(SHARED)) == SHARED
    assert session.scalars(select(ReviewItem.email)).all() == ["einkauf@kranich-bau.example"]
    assert session.scalars(select(QuarantineItem.remote_id)).all() == ["78"]

    cards.refresh(session)
    session.commit()
    _present, gone = addressbooks.changes_since(session, addressbooks.ALL_CUSTOMERS, token)
    assert greta_uid in gone

    [entry] = audit.entries(session, action="person.erase")
    assert (entry.actor, entry.target) == ("cli:tester", GRETA)
    assert audit.details(entry) == plan.counts
    assert "Persönliche" not in entry.details and "Preisliste" not in entry.details

    assert erase_plan(session, GRETA).is_empty
    assert not find_subject(session, GRETA).people


def test_erase_refuses_a_plan_that_grew(session: Session, stored, tmp_path: Path) -> None:
    plan = erase_plan(session, GRETA)
    session.rollback()
    ingest(
        session,
        [mail(GRETA, ["alice@example.com"], subject="Noch eine Frage", message_id="late@n")],
        tmp_path,
    )
    with pytest.raises(PlanChangedError, match="interactions_deleted"):
        erase_subject(session, Archive(tmp_path / "archive"), plan, "cli:tester")
    session.expire_all()
    assert session.scalars(select(Person.display_name).order_by(Person.id)).all() == [
        "Greta Hansen",
        "Jan Kowalski",
    ]
    assert len(session.scalars(select(Interaction.id)).all()) == 4
    assert audit.entries(session, action="person.erase") == []


def test_an_address_without_a_person(session: Session, tmp_path: Path) -> None:
    customers(session)
    session.commit()
    ingest(
        session,
        [
            mail(
                "einkauf@kranich-bau.example",
                ["alice@example.com"],
                subject="Anfrage Kranmiete",
                message_id="kran@kranich",
            )
        ],
        tmp_path,
    )
    plan = erase_plan(session, "Einkauf@Kranich-Bau.example")
    assert plan.people == ()
    assert [i.subject for i in plan.deleted] == ["Anfrage Kranmiete"]
    assert plan.counts["review_items"] == 1
    session.rollback()
    erase_subject(session, Archive(tmp_path / "archive"), plan, "web:admin")
    session.expire_all()
    assert session.scalars(select(Interaction.id)).all() == []
    assert session.scalars(select(ReviewItem.id)).all() == []
    assert session.scalars(select(Person.display_name).order_by(Person.id)).all() == [
        "Greta Hansen",
        "Jan Kowalski",
    ]
