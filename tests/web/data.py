"""A small CRM for the web tests: Nordwind with Greta, Jan on gmail, and their mail."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from adapters.records import Attachment
from tests.crm.helpers import POLICY, T0, customers, ingest, mail

PDF = b"%PDF-1.4\n% an offer\n"


def populate(sessions: sessionmaker[Session], archive: Path) -> dict[str, int]:
    """Customers, three mails to/from Nordwind (one HTML with an attachment), one from an
    unknown sender (queued for review) and 60 from Jan (for paging)."""
    with sessions() as session:
        ids = customers(session)
        session.commit()
        offer = mail(
            "alice@example.com",
            ["greta.hansen@nordwind-logistik.de"],
            subject="Angebot Seefracht Hamburg–Oslo",
            message_id="offer@example.com",
            when=T0 + timedelta(days=1),
            references=("ask@nordwind",),
            attachments=(Attachment("Angebot.pdf", "application/pdf", PDF),),
        )
        offer = replace(
            offer,
            html='<p>Guten Tag, <b>anbei</b> unser Angebot.</p><img src="https://tracker.example/p.gif">',
            text="Guten Tag, anbei unser Angebot.",
        )
        records = [
            mail(
                "greta.hansen@nordwind-logistik.de",
                ["alice@example.com"],
                subject="Anfrage Rahmenvertrag",
                message_id="ask@nordwind",
            ),
            offer,
            mail(
                "disponent@nordwind-logistik.de",
                ["alice@example.com"],
                subject="Lieferavis KW 48",
                message_id="avis@nordwind",
                when=T0 + timedelta(days=2),
            ),
            mail(
                "einkauf@kranich-bau.example",
                ["alice@example.com"],
                subject="Anfrage Kranmiete Dezember",
                message_id="kran@kranich",
                when=T0 + timedelta(days=3),
            ),
        ]
        ingest(session, records, archive.parent, policy=POLICY)
        jan = [
            mail(
                "jan.kowalski@gmail.com",
                ["alice@example.com"],
                subject=f"Frage {i:02d}",
                message_id=f"jan{i}@gmail",
                when=T0 - timedelta(days=i),
            )
            for i in range(60)
        ]
        ingest(session, jan, archive.parent, policy=POLICY)
    return ids
