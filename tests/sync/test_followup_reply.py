"""A follow-up waiting for a reply closes itself when the customer's reply is synced from a
real Dovecot mailbox (SQLite and PostgreSQL); others stay open."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from crm import audit
from crm.followups import create_follow_up
from crm.models import FollowUp, Interaction
from crm.users import add_user
from sync.config import Config, parse_config
from sync.runner import Runner
from tests.crm.helpers import customers
from tests.servers.dovecot import DovecotServer

GRETA = "Greta Hansen <greta.hansen@nordwind-logistik.de>"
JAN = "Jan Kowalski <jan.kowalski@gmail.com>"


def mail(sender: str, subject: str, when: datetime) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "alice@example.com"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = make_msgid(domain="test.example")
    msg.set_content("Guten Tag,\nhier meine Antwort.\n")
    return msg.as_bytes()


@pytest.fixture
def mailbox(
    dovecot: DovecotServer, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[str, Config]:
    name, password = f"alice-{secrets.token_hex(4)}", secrets.token_urlsafe(12)
    dovecot.add_user(name, password)
    variable = "PW_" + name.replace("-", "_").upper()
    monkeypatch.setenv(variable, password)
    data = {
        "database": {"url": db_url},
        "crm": {"internal_domains": ["example.com"]},
        "archive": {"path": "archive"},
        "accounts": [
            {
                "name": name,
                "kind": "imap",
                "host": dovecot.host,
                "port": dovecot.port,
                "security": "none",
                "username": name,
                "password_env": variable,
                "folders": ["INBOX"],
                "owner": "alice",
            }
        ],
    }
    return name, parse_config(data, base_dir=tmp_path)


def test_reply_closes_the_follow_up_waiting_for_it(
    dovecot: DovecotServer, mailbox: tuple[str, Config], sessions: sessionmaker[Session]
) -> None:
    name, config = mailbox
    with sessions.begin() as session:
        ids = customers(session)
        alice = add_user(session, "alice", secrets.token_urlsafe(16), "staff")
        alice.email = "alice@example.com"
        session.flush()

        def make(**kw: object) -> int:
            f = create_follow_up(
                session, assignee_id=alice.id, due_on=date.today(), actor="alice", **kw
            )  # type: ignore[arg-type]
            return f.id

        on_greta = make(person_id=ids["greta"], waiting_for_reply=True, note="Angebot")
        on_jan = make(person_id=ids["jan"], waiting_for_reply=True)
        not_waiting = make(person_id=ids["greta"], note="Anrufen, ob Antwort oder nicht")
    now = datetime.now(UTC).replace(microsecond=0)

    # an older mail of Greta's (sent before the follow-up was made) closes nothing
    dovecot.append(name, "INBOX", [mail(GRETA, "Re: Angebot (alt)", now - timedelta(days=2))])
    assert all(r.ok for r in Runner(config, sessions).sync_all())
    with sessions() as session:
        assert session.get_one(FollowUp, on_greta).status == "open"

    dovecot.append(name, "INBOX", [mail(GRETA, "Re: Angebot", now + timedelta(minutes=1))])
    assert all(r.ok for r in Runner(config, sessions).sync_all())
    with sessions() as session:
        reply = session.scalar(select(Interaction.id).where(Interaction.subject == "Re: Angebot"))
        closed = session.get_one(FollowUp, on_greta)
        assert (closed.status, closed.closed_by, closed.closed_by_interaction_id) == (
            "done",
            "reply",
            reply,
        )
        assert closed.closed_at is not None
        assert session.get_one(FollowUp, on_jan).status == "open"  # another customer
        assert session.get_one(FollowUp, not_waiting).status == "open"  # not waiting
        [entry] = audit.entries(session, action="follow_up.close")
        assert (entry.actor, entry.target) == ("reply", f"follow-up {on_greta}")
        assert audit.details(entry)["interaction_id"] == reply
