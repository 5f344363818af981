"""Exchange through the whole sync (the EWS simulator, SQLite and PostgreSQL): the same mail
through EWS and IMAP is one interaction, a crash between pages resumes without doubles,
an invalid sync state starts over without doubles, one meeting in two staff calendars is
one entry, contacts enrich known customers, and a refused login needs attention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from crm.models import Account, ContactPoint, Interaction, InteractionSource, Person
from sync.config import Config
from sync.runner import AccountResult, Runner
from tests.adapters.test_ews import ALICE, BOB, PASSWORD, SERVICE, mail
from tests.servers.dovecot import DovecotServer, ImapUser
from tests.servers.ews import EwsServer
from tests.sync.helpers import make_config

SOON = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=3)


@pytest.fixture
def server(ews: EwsServer, monkeypatch: pytest.MonkeyPatch) -> EwsServer:
    ews.add_user(SERVICE, PASSWORD, impersonation=True)
    ews.add_mailbox(ALICE)
    ews.add_mailbox(BOB)
    monkeypatch.setenv("EWS_TEST_PASSWORD", PASSWORD)
    return ews


def ews_account(server: EwsServer, **more: Any) -> dict[str, Any]:
    return {
        "name": "exchange",
        "kind": "ews",
        "url": server.url,
        "username": SERVICE,
        "password_env": "EWS_TEST_PASSWORD",
        "auth": "basic",
        "version": "2016",
        "mailboxes": [ALICE, BOB],
        **more,
    }


def config_for(tmp_path: Path, db_url: str, *accounts: dict[str, Any], **sync: Any) -> Config:
    return make_config(tmp_path, db_url, accounts, **sync)


def count(sessions: sessionmaker[Session], model: type) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def run(config: Config, sessions: sessionmaker[Session]) -> list[AccountResult]:
    results = Runner(config, sessions).sync_all()
    assert all(r.error == "" for r in results), [r.error for r in results]
    return results


def test_the_same_mail_through_ews_and_imap_is_one_interaction(
    tmp_path: Path,
    db_url: str,
    sessions: sessionmaker[Session],
    server: EwsServer,
    dovecot: DovecotServer,
    imap_user: ImapUser,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    raw = mail(1)
    server.add_message(ALICE, "inbox", raw)
    server.add_message(BOB, "sentitems", raw)
    dovecot.append(imap_user.name, "INBOX", [raw])
    monkeypatch.setenv("IMAP_TEST_PASSWORD", imap_user.password)
    imap = {
        "name": "carol-mail", "kind": "imap", "host": imap_user.host, "port": imap_user.port,
        "security": "none", "username": imap_user.name, "password_env": "IMAP_TEST_PASSWORD",
        "folders": ["INBOX"],
    }  # fmt: skip
    config = config_for(tmp_path, db_url, ews_account(server, calendar=False, contacts=False), imap)
    run(config, sessions)
    run(config, sessions)  # again: nothing new
    assert count(sessions, Interaction) == 1
    assert count(sessions, InteractionSource) == 3  # alice's inbox, bob's sent items, IMAP


def test_a_crash_between_pages_resumes_without_doubles(
    tmp_path: Path, db_url: str, sessions: sessionmaker[Session], server: EwsServer
) -> None:
    for n in range(12):
        server.add_message(ALICE, "inbox", mail(n))
    config = config_for(
        tmp_path, db_url, ews_account(server, mailboxes=[ALICE], folders=["Inbox"],
                                      calendar=False, contacts=False),
        batch_max_items=5,
    )  # fmt: skip
    seen: list[int] = []

    def crash_after_two(account: str, folder: str, step: AccountResult) -> None:
        seen.append(step.ingest.new)
        if len(seen) == 2:
            raise KeyboardInterrupt  # the process dies after the second batch is committed

    with pytest.raises(KeyboardInterrupt):
        Runner(config, sessions, on_batch=crash_after_two).sync_all()
    assert count(sessions, Interaction) == sum(seen) > 0
    server.clear_log()
    run(config, sessions)
    assert count(sessions, Interaction) == 12
    assert count(sessions, InteractionSource) == 12


def test_an_invalid_sync_state_starts_over_without_doubles(
    tmp_path: Path, db_url: str, sessions: sessionmaker[Session], server: EwsServer
) -> None:
    for n in range(3):
        server.add_message(ALICE, "inbox", mail(n))
    config = config_for(tmp_path, db_url, ews_account(server, calendar=False, contacts=False))
    run(config, sessions)
    server.invalidate_sync_states()
    server.add_message(ALICE, "inbox", mail(3))
    run(config, sessions)
    assert count(sessions, Interaction) == 4
    assert count(sessions, InteractionSource) == 4


def test_one_meeting_in_two_staff_calendars_is_one_entry(
    tmp_path: Path, db_url: str, sessions: sessionmaker[Session], server: EwsServer
) -> None:
    with sessions.begin() as session:
        ann = Person(display_name="Ann")
        ann.contact_points.append(ContactPoint(kind="email", value="ann@customer.example"))
        session.add(ann)
    for mailbox in (ALICE, BOB):
        server.add_calendar_item(
            mailbox, uid="kickoff-7", subject="Kick-off with Ann", start=SOON,
            end=SOON + timedelta(hours=1), mime=_meeting("kickoff-7", "Kick-off with Ann"),
        )  # fmt: skip
    config = config_for(tmp_path, db_url, ews_account(server, folders=[], contacts=False))
    run(config, sessions)
    with sessions() as session:
        [meeting] = session.scalars(select(Interaction).where(Interaction.kind == "meeting"))
        assert meeting.subject == "Kick-off with Ann"
        assert len(meeting.sources) == 2


def test_contacts_enrich_known_customers(
    tmp_path: Path, db_url: str, sessions: sessionmaker[Session], server: EwsServer
) -> None:
    with sessions.begin() as session:
        ann = Person(display_name="Ann Smith")
        ann.contact_points.append(ContactPoint(kind="email", value="ann@customer.example"))
        session.add(ann)
    server.add_contact(
        ALICE, display_name="Ann Smith", emails=["ann@customer.example"],
        phones={"MobilePhone": "+49 170 1234567"}, job_title="Head of Purchasing",
    )  # fmt: skip
    server.add_contact(ALICE, display_name="Unknown Person", emails=["who@else.example"])
    config = config_for(
        tmp_path, db_url, ews_account(server, mailboxes=[ALICE], folders=[], calendar=False)
    )
    run(config, sessions)
    with sessions() as session:
        [person] = session.scalars(select(Person))
        assert person.title == "Head of Purchasing"
        assert "+491701234567" in {c.value for c in person.contact_points}


def test_a_refused_login_needs_attention(
    tmp_path: Path,
    db_url: str,
    sessions: sessionmaker[Session],
    server: EwsServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EWS_TEST_PASSWORD", "wrong")
    config = config_for(tmp_path, db_url, ews_account(server))
    [result] = Runner(config, sessions).sync_all()
    assert result.auth_failed and "refused" in result.error
    with sessions() as session:
        assert session.scalars(select(Account.needs_attention)).one()


def _meeting(uid: str, summary: str) -> bytes:
    stamp = SOON.strftime("%Y%m%dT%H%M%SZ")
    end = (SOON + timedelta(hours=1)).strftime("%Y%m%dT%H%M%SZ")
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:Microsoft Exchange Server 2010\r\n"
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nSUMMARY:{summary}\r\nDTSTART:{stamp}\r\nDTEND:{end}\r\n"
        "ORGANIZER;CN=Alice:mailto:alice@example.com\r\n"
        "ATTENDEE;PARTSTAT=ACCEPTED;CN=Bob:mailto:bob@example.com\r\n"
        "ATTENDEE;PARTSTAT=NEEDS-ACTION;CN=Ann:mailto:ann@customer.example\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()


def test_members_of_a_group_count_as_staff(
    tmp_path: Path, db_url: str, sessions: sessionmaker[Session], server: EwsServer
) -> None:
    # Dave works for the company but under another domain; he is read through a group.
    dave = "dave@field-office.example"
    server.add_mailbox(dave)
    server.add_group("sales@example.com", [dave])
    server.add_message(dave, "sentitems", mail(1, sender=dave, to="ann@customer.example"))
    config = config_for(
        tmp_path, db_url,
        ews_account(server, mailboxes=[], groups=["sales@example.com"], calendar=False,
                    contacts=False),
    )  # fmt: skip
    run(config, sessions)
    with sessions() as session:
        [interaction] = session.scalars(select(Interaction))
        assert interaction.direction == "outbound"  # from staff to a customer
