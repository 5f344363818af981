"""The logging mailbox and privacy rules against a real Dovecot, on SQLite and PostgreSQL.

Alice (alice@example.com) has her own mailbox synced; staff BCC or forward mail to a
logging mailbox. Nordwind is a customer (domain nordwind-logistik.de, Greta Hansen);
Jan Kowalski writes from gmail.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from crm.archive import Archive
from crm.forwards import find_inline_forward
from crm.models import (
    Attachment,
    Document,
    Interaction,
    InteractionSource,
    Participant,
    QuarantineItem,
    User,
)
from crm.privacy import add_rule, impact
from crm.users import add_user
from sync.config import Config, parse_config
from sync.runner import Runner
from tests.crm.helpers import customers
from tests.servers.dovecot import DovecotServer

FORWARDS = Path(__file__).resolve().parent.parent / "fixtures" / "forwards"
GRETA = "greta.hansen@nordwind-logistik.de"
JAN = "jan.kowalski@gmail.com"
WHEN = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


class Setup:
    """Alice's mailbox and the logging mailbox in Dovecot, and a config for both."""

    def __init__(
        self, dovecot: DovecotServer, db_url: str, tmp_path: Path, mp: pytest.MonkeyPatch
    ) -> None:
        self.dovecot, self.tmp_path = dovecot, tmp_path
        self.alice = f"alice-{secrets.token_hex(4)}"
        self.logbox = f"log-{secrets.token_hex(4)}"
        accounts = []
        for name, role, owner in ((self.alice, "mailbox", "alice"), (self.logbox, "logging", "")):
            password = secrets.token_urlsafe(12)
            dovecot.add_user(name, password)
            variable = "PW_" + name.replace("-", "_").upper()
            mp.setenv(variable, password)
            account: dict[str, Any] = {
                "name": name,
                "kind": "imap",
                "host": dovecot.host,
                "port": dovecot.port,
                "security": "none",
                "username": name,
                "password_env": variable,
                "folders": ["INBOX", "Sent", "Private"] if role == "mailbox" else ["INBOX"],
                "role": role,
            }
            if owner:
                account["owner"] = owner
                with dovecot.client(name) as imap:  # every configured folder exists
                    for folder in ("Sent", "Private"):
                        imap.create_folder(folder)
            accounts.append(account)
        self.data: dict[str, Any] = {
            "database": {"url": db_url},
            "crm": {
                "internal_domains": ["example.com"],
                "staff_addresses": ["alice@example.com", "bob@example.com"],
            },
            "archive": {"path": "archive"},
            "accounts": accounts,
        }

    def config(self, **crm: Any) -> Config:
        data = dict(self.data, crm={**self.data["crm"], **crm})
        return parse_config(data, base_dir=self.tmp_path)

    def put(self, who: str, folder: str, *mails: bytes, flags: tuple[str, ...] = ()) -> None:
        self.dovecot.append(who, folder, list(mails), flags=flags)


@pytest.fixture
def setup(
    dovecot: DovecotServer, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Setup:
    return Setup(dovecot, db_url, tmp_path, monkeypatch)


@pytest.fixture
def people(sessions: sessionmaker[Session]) -> dict[str, int]:
    with sessions.begin() as session:
        ids = customers(session)
        alice = add_user(session, "alice", secrets.token_urlsafe(16), "staff")
        alice.email = "alice@example.com"
        session.flush()
        ids["alice_user"] = alice.id
    return ids


def sync(config: Config, sessions: sessionmaker[Session]) -> None:
    results = Runner(config, sessions).sync_all()
    assert all(r.ok for r in results), [r.error for r in results]


def mail(
    sender: str,
    to: list[str],
    subject: str,
    *,
    body: str = "Guten Tag,\nanbei das Angebot.\n",
    when: datetime = WHEN,
    message_id: str | None = None,
    headers: dict[str, str] | None = None,
    attachment: tuple[str, bytes] | None = None,
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = message_id or make_msgid(domain="test.example")
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    if attachment:
        msg.add_attachment(
            attachment[1], maintype="application", subtype="pdf", filename=attachment[0]
        )
    return msg


def interactions(sessions: sessionmaker[Session]) -> list[Interaction]:
    with sessions() as session:
        return list(session.scalars(select(Interaction).order_by(Interaction.id)))


def roles(sessions: sessionmaker[Session], interaction_id: int) -> set[tuple[str, str, Any]]:
    with sessions() as session:
        rows = session.execute(
            select(Participant.role, Participant.email, Participant.person_id).where(
                Participant.interaction_id == interaction_id
            )
        )
        return {tuple(row) for row in rows}


def sources(sessions: sessionmaker[Session], interaction_id: int) -> int:
    with sessions() as session:
        return (
            session.scalar(
                select(func.count()).where(InteractionSource.interaction_id == interaction_id)
            )
            or 0
        )


def test_bcc_is_logged_once_as_the_senders_outbound_mail(
    setup: Setup, people: dict[str, int], sessions: sessionmaker[Session]
) -> None:
    sent = mail("Alice Berger <alice@example.com>", [GRETA], "Angebot Seefracht").as_bytes()
    setup.put(setup.logbox, "INBOX", sent)  # BCC'd: the logging address is in no header
    setup.put(setup.alice, "Sent", sent)
    sync(setup.config(), sessions)
    [entry] = interactions(sessions)
    assert (entry.direction, entry.subject) == ("outbound", "Angebot Seefracht")
    assert entry.owner_id == people["alice_user"]
    assert ("to", GRETA, people["greta"]) in roles(sessions, entry.id)
    assert sources(sessions, entry.id) == 2


def test_attached_forward_logs_the_original_filed_to_the_named_customer(
    setup: Setup, people: dict[str, int], sessions: sessionmaker[Session]
) -> None:
    original = mail(
        "Greta Hansen <greta.hansen@nordwind-logistik.de>",
        ["alice@example.com"],
        "Reklamation Lieferung 14",
        when=WHEN,
    )
    forward = mail("alice@example.com", ["log@example.com"], "Fwd: Reklamation Lieferung 14")
    forward.set_content(f"{JAN}\nBitte auch bei Jan ablegen.\n")
    forward.add_attachment(original.as_bytes(), maintype="message", subtype="rfc822")
    setup.put(setup.logbox, "INBOX", forward.as_bytes())
    setup.put(setup.alice, "INBOX", original.as_bytes())  # the same mail, received
    sync(setup.config(), sessions)
    [entry] = interactions(sessions)
    assert (entry.direction, entry.subject, entry.occurred_at) == (
        "inbound",
        "Reklamation Lieferung 14",
        WHEN,
    )
    found = roles(sessions, entry.id)
    assert ("from", GRETA, people["greta"]) in found
    assert ("about", JAN, people["jan"]) in found  # filed by the first line
    assert sources(sessions, entry.id) == 2


def test_outsiders_and_failed_authentication_are_quarantined_not_logged(
    setup: Setup, people: dict[str, int], sessions: sessionmaker[Session]
) -> None:
    outsider = mail("Mallory <mallory@evil.example>", ["log@example.com"], "Rechnung")
    spoofed = mail(
        "alice@example.com",
        [GRETA],
        "Neue Bankverbindung",
        headers={
            "Authentication-Results": "mx.example.com; dkim=fail header.d=example.com;"
            " spf=fail smtp.mailfrom=alice@example.com"
        },
    )
    genuine = mail(
        "alice@example.com",
        [GRETA],
        "Lieferavis KW 12",
        headers={
            "Authentication-Results": "mx.example.com; dkim=pass header.d=example.com;"
            " spf=pass smtp.mailfrom=alice@example.com"
        },
    )
    setup.put(setup.logbox, "INBOX", outsider.as_bytes(), spoofed.as_bytes(), genuine.as_bytes())
    sync(setup.config(), sessions)
    assert [i.subject for i in interactions(sessions)] == ["Lieferavis KW 12"]
    with sessions() as session:
        reasons = sorted(session.scalars(select(QuarantineItem.reason)))
        raws = list(session.scalars(select(QuarantineItem.raw)))
    assert reasons == [
        "logging mailbox: mallory@evil.example is not a known staff address",
        "logging mailbox: no DKIM or SPF pass for example.com (dkim=fail, spf=fail)",
    ]
    assert any(b"Neue Bankverbindung" in raw for raw in raws)  # kept whole for the admin


@pytest.mark.parametrize("fixture", sorted(p.name for p in FORWARDS.glob("*.eml")) or ["none"])
def test_inline_forwards_of_each_client_are_unwrapped(
    fixture: str, setup: Setup, people: dict[str, int], sessions: sessionmaker[Session]
) -> None:
    raw = (FORWARDS / fixture).read_bytes()
    parsed = message_from_bytes(raw, policy=default_policy)
    body = parsed.get_body(preferencelist=("plain",))
    assert body is not None
    expected = find_inline_forward(
        body.get_content(), sent_at=parsed["Date"].datetime.astimezone(UTC)
    )
    assert expected is not None, fixture
    staff = str(parsed["From"].addresses[0].addr_spec).lower()
    setup.data["crm"]["staff_addresses"].append(staff)
    setup.put(setup.logbox, "INBOX", raw)
    sync(setup.config(), sessions)
    [entry] = interactions(sessions)
    assert entry.subject == expected.subject
    assert entry.direction == "inbound"
    if expected.occurred_at:
        assert entry.occurred_at == expected.occurred_at
    found = roles(sessions, entry.id)
    assert ("from", expected.sender.email.lower()) in {(r, e) for r, e, _ in found}
    assert staff not in {e for r, e, _ in found if r == "from"}


@pytest.mark.parametrize("first", ["forward", "original"])
def test_an_inline_forward_and_its_original_are_one_entry(
    first: str, setup: Setup, people: dict[str, int], sessions: sessionmaker[Session]
) -> None:
    original = mail(
        "Greta Hansen <greta.hansen@nordwind-logistik.de>",
        ["Alice Berger <alice@example.com>"],
        "Preisliste 2027",
        body="Hallo Alice,\nhier die neue Preisliste.\nGruß Greta\n",
    )
    forward = mail(
        "Alice Berger <alice@example.com>",
        ["log@example.com"],
        "WG: Preisliste 2027",
        body=(
            "\n\n-----Ursprüngliche Nachricht-----\n"
            "Von: Greta Hansen <greta.hansen@nordwind-logistik.de>\n"
            "Gesendet: Montag, 2. März 2026 09:30\n"
            "An: Alice Berger <alice@example.com>\n"
            "Betreff: Preisliste 2027\n\n"
            "Hallo Alice,\nhier die neue Preisliste.\nGruß Greta\n"
        ),
        when=WHEN.replace(hour=10),
    )
    forward.replace_header("Date", "Mon, 02 Mar 2026 11:00:00 +0100")
    order = [(setup.logbox, forward), (setup.alice, original)]
    if first == "original":
        order.reverse()
    for who, message in order:
        setup.put(who, "INBOX", message.as_bytes())
        sync(setup.config(), sessions)
    [entry] = interactions(sessions)
    assert entry.subject == "Preisliste 2027"
    assert entry.message_id == original["Message-ID"].strip("<>")
    assert sources(sessions, entry.id) == 2


def test_private_folder_label_and_bulk_mail_are_not_logged(
    setup: Setup, people: dict[str, int], sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        for kind, value in (("folder", "Private"), ("label", "$private")):
            add_rule(session, kind=kind, value=value, user_id=people["alice_user"], actor="alice")
    setup.put(setup.alice, "Private", mail(GRETA, ["alice@example.com"], "Arzttermin").as_bytes())
    setup.put(
        setup.alice,
        "INBOX",
        mail(GRETA, ["alice@example.com"], "Geburtstag").as_bytes(),
        flags=("$private",),
    )
    setup.put(
        setup.alice,
        "INBOX",
        mail(
            "news@nordwind-logistik.de",
            ["alice@example.com"],
            "Newsletter März",
            headers={"List-Unsubscribe": "<mailto:unsubscribe@nordwind-logistik.de>"},
        ).as_bytes(),
        mail(GRETA, ["alice@example.com"], "Lieferung 15").as_bytes(),
    )
    sync(setup.config(), sessions)
    assert [i.subject for i in interactions(sessions)] == ["Lieferung 15"]
    sync(setup.config(log_bulk_mail=True), sessions)  # new mail only: the rules stand
    assert [i.subject for i in interactions(sessions)] == ["Lieferung 15"]


def test_a_never_log_domain_added_later_removes_past_mail_and_orphaned_files(
    setup: Setup, people: dict[str, int], sessions: sessionmaker[Session]
) -> None:
    shared, own = b"%PDF-1.4 shared terms", b"%PDF-1.4 only for jan"
    setup.put(
        setup.alice,
        "INBOX",
        mail(JAN, ["alice@example.com"], "Privat", attachment=("jan.pdf", own)).as_bytes(),
        mail(JAN, ["alice@example.com"], "AGB", attachment=("agb.pdf", shared)).as_bytes(),
        mail(
            GRETA, ["alice@example.com"], "AGB Nordwind", attachment=("agb.pdf", shared)
        ).as_bytes(),
    )
    sync(setup.config(), sessions)
    assert len(interactions(sessions)) == 3
    archive = Archive(setup.tmp_path / "archive")
    with sessions() as session:
        counted = impact(session, "domain", "gmail.com", None)
    assert (counted.interactions, counted.sources) == (2, 0)  # what the admin confirms
    with sessions.begin() as session:
        _, done = add_rule(session, kind="domain", value="gmail.com", user_id=None, actor="admin")
    for digest in done.files:
        archive.remove(digest)
    assert [i.subject for i in interactions(sessions)] == ["AGB Nordwind"]
    with sessions() as session:
        kept = set(session.scalars(select(Document.sha256)))
        assert session.scalar(select(func.count()).select_from(Attachment)) == 1
    assert kept == {hashlib.sha256(shared).hexdigest()}
    assert not archive.path(hashlib.sha256(own).hexdigest()).exists()
    assert archive.path(hashlib.sha256(shared).hexdigest()).exists()
    sync(setup.config(), sessions)  # nothing comes back
    assert [i.subject for i in interactions(sessions)] == ["AGB Nordwind"]


def test_a_users_folder_rule_added_later_keeps_what_others_saw(
    setup: Setup, people: dict[str, int], sessions: sessionmaker[Session]
) -> None:
    private = mail(GRETA, ["alice@example.com"], "Persönlich").as_bytes()
    setup.put(setup.alice, "Private", private)
    setup.put(setup.logbox, "INBOX", mail("bob@example.com", [GRETA], "Rückfrage").as_bytes())
    sync(setup.config(), sessions)
    assert len(interactions(sessions)) == 2
    with sessions() as session:
        counted = impact(session, "folder", "Private", people["alice_user"])
    assert (counted.interactions, counted.sources) == (1, 1)
    with sessions.begin() as session:
        add_rule(
            session, kind="folder", value="Private", user_id=people["alice_user"], actor="alice"
        )
    assert [i.subject for i in interactions(sessions)] == ["Rückfrage"]
    with sessions() as session:
        user = session.scalar(select(User).where(User.name == "alice"))
        assert user is not None


def test_a_bccd_reply_quoting_its_predecessor_is_logged_as_the_reply(
    setup: Setup, people: dict[str, int], sessions: sessionmaker[Session]
) -> None:
    reply = mail(
        "Alice Berger <alice@example.com>",
        [GRETA],
        "AW: Preisliste 2027",
        body=(
            "Danke, Greta, passt so.\n\n"
            "-----Ursprüngliche Nachricht-----\n"
            "Von: Greta Hansen <greta.hansen@nordwind-logistik.de>\n"
            "Gesendet: Montag, 2. März 2026 09:30\n"
            "An: Alice Berger <alice@example.com>\n"
            "Betreff: Preisliste 2027\n\nHallo Alice, hier die Liste.\n"
        ),
    )
    setup.put(setup.logbox, "INBOX", reply.as_bytes())
    sync(setup.config(), sessions)
    [entry] = interactions(sessions)
    assert (entry.subject, entry.direction) == ("AW: Preisliste 2027", "outbound")
    assert entry.message_id == reply["Message-ID"].strip("<>")
