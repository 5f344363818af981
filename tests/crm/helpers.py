"""Building customers and mail records for crm tests (plain data, no fakes)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from adapters.records import Address, Attachment, MailRecord
from crm.archive import Archive
from crm.ingest import IngestResult, ingest_mail
from crm.matching import MatchPolicy
from crm.models import ContactPoint, Organization, OrganizationDomain, Person
from crm.syncstate import ensure_account

POLICY = MatchPolicy(
    internal_domains=frozenset({"example.com"}),
    staff_addresses=frozenset({"alice@staff-mail.example.net"}),
)
T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def mail(
    sender: str,
    to: list[str],
    *,
    subject: str = "Angebot",
    message_id: str | None = None,
    cc: list[str] | None = None,
    when: datetime = T0,
    references: tuple[str, ...] = (),
    attachments: tuple[Attachment, ...] = (),
    automation: tuple[tuple[str, str], ...] = (),
    remote_id: str = "1",
) -> MailRecord:
    key = (
        "mid:" + message_id
        if message_id
        else "hash:" + hashlib.sha256(f"{sender}{to}{subject}{when}".encode()).hexdigest()
    )
    return MailRecord(
        remote_id=remote_id,
        dedupe_key=key,
        message_id=message_id,
        subject=subject,
        sender=Address(sender, sender.split("@")[0].title()),
        to=tuple(Address(a) for a in to),
        cc=tuple(Address(a) for a in cc or ()),
        bcc=(),
        reply_to=(),
        occurred_at=when,
        in_reply_to=references[-1] if references else None,
        references=references,
        text=f"Text of {subject}",
        html="",
        attachments=attachments,
        size=1000,
        automation_headers=automation,
    )


def series(n: int, sender: str, to: str, start: datetime = T0) -> list[MailRecord]:
    return [
        mail(
            sender,
            [to],
            subject=f"Mail {i}",
            message_id=f"m{i}.{sender}",
            when=start + timedelta(minutes=i),
            remote_id=str(i + 1),
        )
        for i in range(n)
    ]


def customers(session: Session) -> dict[str, int]:
    """Nordwind (domain nordwind-logistik.de) with Greta; Jan Kowalski on gmail, no org."""
    nordwind = Organization(name="Nordwind Logistik GmbH")
    nordwind.domains.append(OrganizationDomain(domain="nordwind-logistik.de"))
    greta = Person(display_name="Greta Hansen", organization=nordwind)
    greta.contact_points.append(
        ContactPoint(kind="email", value="greta.hansen@nordwind-logistik.de")
    )
    jan = Person(display_name="Jan Kowalski")
    jan.contact_points.append(ContactPoint(kind="email", value="jan.kowalski@gmail.com"))
    session.add_all([nordwind, greta, jan])
    session.flush()
    return {"nordwind": nordwind.id, "greta": greta.id, "jan": jan.id}


def ingest(
    session: Session,
    records: list[MailRecord],
    tmp_path: Path,
    *,
    account: str = "alice-mail",
    folder: str = "INBOX",
    policy: MatchPolicy = POLICY,
) -> IngestResult:
    account_row = ensure_account(session, account, "imap")
    result = ingest_mail(
        session,
        account_id=account_row.id,
        collection=folder,
        records=records,
        policy=policy,
        archive=Archive(tmp_path / "archive"),
    )
    session.commit()
    return result
