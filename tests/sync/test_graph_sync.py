"""Exchange Online through the whole sync (the Graph simulator, SQLite and PostgreSQL): the
same mail through Graph and IMAP is one interaction, a crash between pages resumes
without doubles, a lost delta link starts over without doubles, one meeting in two staff
calendars is one entry, contacts enrich known customers, and a refused or revoked
sign-in needs attention."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from crm.models import Account, ContactPoint, Interaction, InteractionSource, Person
from sync.runner import AccountResult, Runner
from tests.adapters.test_ews import mail
from tests.adapters.test_graph import ALICE, BOB, SECRET, SOON
from tests.servers.dovecot import DovecotServer, ImapUser
from tests.servers.graph import GraphServer
from tests.sync.test_ews_sync import config_for, count, run


@pytest.fixture
def server(graph: GraphServer, monkeypatch: pytest.MonkeyPatch) -> GraphServer:
    graph.add_user(ALICE)
    graph.add_user(BOB)
    monkeypatch.setenv("GRAPH_TEST_SECRET", SECRET)
    return graph


@pytest.fixture
def app_id(server: GraphServer) -> str:
    return server.add_app(secret=SECRET)


def graph_account(server: GraphServer, app_id: str, **more: Any) -> dict[str, Any]:
    return {
        "name": "m365",
        "kind": "graph",
        "tenant": server.tenant_id,
        "client_id": app_id,
        "client_secret_env": "GRAPH_TEST_SECRET",
        "login_url": server.base_url,
        "graph_url": server.graph_url,
        "ca_file": str(server.ca_file),
        "mailboxes": [ALICE, BOB],
        **more,
    }


def test_the_same_mail_through_graph_and_imap_is_one_interaction(
    tmp_path: Path,
    db_url: str,
    sessions: sessionmaker[Session],
    server: GraphServer,
    app_id: str,
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
    account = graph_account(server, app_id, calendar=False, contacts=False)
    config = config_for(tmp_path, db_url, account, imap)
    run(config, sessions)
    run(config, sessions)  # again: nothing new
    assert count(sessions, Interaction) == 1
    assert count(sessions, InteractionSource) == 3  # alice's inbox, bob's sent items, IMAP


def test_a_crash_between_pages_resumes_without_doubles(
    tmp_path: Path, db_url: str, sessions: sessionmaker[Session], server: GraphServer, app_id: str
) -> None:
    for n in range(12):
        server.add_message(ALICE, "inbox", mail(n))
    account = graph_account(
        server, app_id, mailboxes=[ALICE], folders=["Inbox"], calendar=False, contacts=False
    )
    config = config_for(tmp_path, db_url, account, batch_max_items=5)
    seen: list[int] = []

    def crash_after_two(account: str, folder: str, step: AccountResult) -> None:
        seen.append(step.ingest.new)
        if len(seen) == 2:
            raise KeyboardInterrupt  # the process dies after the second batch is committed

    with pytest.raises(KeyboardInterrupt):
        Runner(config, sessions, on_batch=crash_after_two).sync_all()
    assert count(sessions, Interaction) == sum(seen) == 10
    server.clear_log()
    run(config, sessions)
    assert count(sessions, Interaction) == 12
    assert count(sessions, InteractionSource) == 12
    # the second run went on from the stored page, it did not read the folder again
    assert len([p for p in server.paths() if p.endswith("/$value")]) == 2


def test_a_lost_delta_link_starts_over_without_doubles(
    tmp_path: Path, db_url: str, sessions: sessionmaker[Session], server: GraphServer, app_id: str
) -> None:
    for n in range(3):
        server.add_message(ALICE, "inbox", mail(n))
    config = config_for(
        tmp_path, db_url, graph_account(server, app_id, calendar=False, contacts=False)
    )
    run(config, sessions)
    server.invalidate_delta_tokens()
    server.add_message(ALICE, "inbox", mail(3))
    run(config, sessions)
    assert count(sessions, Interaction) == 4
    assert count(sessions, InteractionSource) == 4


def test_one_meeting_in_two_staff_calendars_is_one_entry(
    tmp_path: Path, db_url: str, sessions: sessionmaker[Session], server: GraphServer, app_id: str
) -> None:
    with sessions.begin() as session:
        ann = Person(display_name="Ann")
        ann.contact_points.append(ContactPoint(kind="email", value="ann@customer.example"))
        session.add(ann)
    uid = "040000008200E00074C5B7101A82E00800000000" + "AB12" * 14
    for mailbox in (ALICE, BOB):
        server.add_event(
            mailbox, subject="Kick-off with Ann", start=SOON, end=SOON + timedelta(hours=1),
            ical_uid=uid, organizer=("Alice", ALICE),
            attendees=[{"address": BOB}, {"address": "ann@customer.example", "name": "Ann"}],
        )  # fmt: skip
    config = config_for(tmp_path, db_url, graph_account(server, app_id, folders=[], contacts=False))
    run(config, sessions)
    with sessions() as session:
        [meeting] = session.scalars(select(Interaction).where(Interaction.kind == "meeting"))
        assert meeting.subject == "Kick-off with Ann"
        assert len(meeting.sources) == 2


def test_contacts_enrich_known_customers(
    tmp_path: Path, db_url: str, sessions: sessionmaker[Session], server: GraphServer, app_id: str
) -> None:
    with sessions.begin() as session:
        ann = Person(display_name="Ann Smith")
        ann.contact_points.append(ContactPoint(kind="email", value="ann@customer.example"))
        session.add(ann)
    server.add_contact(
        ALICE, displayName="Ann Smith", emailAddresses=[{"address": "ann@customer.example"}],
        mobilePhone="+49 170 1234567", jobTitle="Head of Purchasing",
    )  # fmt: skip
    server.add_contact(
        ALICE, displayName="Unknown", emailAddresses=[{"address": "who@else.example"}]
    )
    account = graph_account(server, app_id, mailboxes=[ALICE], folders=[], calendar=False)
    run(config_for(tmp_path, db_url, account), sessions)
    with sessions() as session:
        [person] = session.scalars(select(Person))
        assert person.title == "Head of Purchasing"
        assert "+491701234567" in {c.value for c in person.contact_points}


def test_a_refused_secret_needs_attention(
    tmp_path: Path,
    db_url: str,
    sessions: sessionmaker[Session],
    server: GraphServer,
    app_id: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GRAPH_TEST_SECRET", "not-the-secret")
    config = config_for(tmp_path, db_url, graph_account(server, app_id))
    [result] = Runner(config, sessions).sync_all()
    assert result.auth_failed and "client secret is wrong" in result.error
    with sessions() as session:
        assert session.scalars(select(Account.needs_attention)).one()


def test_throttling_is_waited_out_in_a_sync(
    tmp_path: Path, db_url: str, sessions: sessionmaker[Session], server: GraphServer, app_id: str
) -> None:
    server.add_message(ALICE, "inbox", mail(1))
    server.fail_next(r"/messages/delta", status=429, retry_after=1)
    server.fail_next(r"/\$value$", status=503, retry_after=1)
    account = graph_account(server, app_id, mailboxes=[ALICE], calendar=False, contacts=False)
    run(config_for(tmp_path, db_url, account), sessions)
    assert count(sessions, Interaction) == 1
    statuses = [r.status for r in server.requests]
    assert 429 in statuses and 503 in statuses
