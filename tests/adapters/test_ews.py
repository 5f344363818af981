"""The EWS adapter against the EWS simulator (tests/servers/ews.py), through exchangelib's
real HTTP stack: collections, paged incremental sync, private items, throttling, invalid
sync states, items that cannot be fetched, rights, calendars and contacts."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest

from adapters.base import BatchLimits
from adapters.errors import AuthError, InvalidCursorError, SourceError, TransientError
from adapters.ews import EwsSource
from adapters.ewsconnect import EwsSettings
from adapters.records import Batch, ContactRecord, EventRecord, MailRecord
from tests.servers.ews import EwsServer, Fault

SERVICE, PASSWORD = "svc-crm", "svc-pass-123"
ALICE, BOB = "alice@example.com", "bob@example.com"
LIMITS = BatchLimits(500, 25_000_000)
SOON = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=2)


def mail(n: int, sender: str = "ann@customer.example", to: str = ALICE, **headers: str) -> bytes:
    message = EmailMessage()
    message["From"], message["To"] = sender, to
    message["Subject"] = f"Offer {n}"
    message["Message-ID"] = f"<offer-{n}@customer.example>"
    message["Date"] = "Mon, 23 Nov 2026 09:00:00 +0000"
    for name, value in headers.items():
        message[name] = value
    message.set_content(f"Offer number {n}")
    return bytes(message)


@pytest.fixture
def server(ews: EwsServer) -> EwsServer:
    ews.add_user(SERVICE, PASSWORD, impersonation=True)
    ews.add_mailbox(ALICE)
    ews.add_mailbox(BOB)
    return ews


def source(server: EwsServer, **kwargs: Any) -> EwsSource:
    settings = EwsSettings(
        url=server.url,
        username=kwargs.pop("username", SERVICE),
        password=kwargs.pop("password", PASSWORD),
        auth="basic",
        access=kwargs.pop("access", "impersonation"),
        version=kwargs.pop("version", "2016"),
        timeout=kwargs.pop("timeout", 10.0),
        tls_verify=kwargs.pop("tls_verify", True),
        ca_file=kwargs.pop("ca_file", None),
    )
    kwargs.setdefault("mailboxes", [ALICE])
    return EwsSource(settings=settings, account="exchange", **kwargs)


def pull(
    src: EwsSource, collection_id: str, cursor: dict[str, Any] | None = None, **limits: int
) -> list[Batch]:
    [collection] = [c for c in src.collections() if c.id == collection_id]
    bounds = BatchLimits(limits.get("items", 500), limits.get("bytes", 25_000_000))
    return list(src.pull(collection, cursor, bounds))


def subjects(batches: list[Batch]) -> list[str]:
    return [r.subject for b in batches for r in b.records if isinstance(r, MailRecord)]


INBOX = f"{ALICE}|mail|Inbox"


def test_collections_per_mailbox_and_group_members(server: EwsServer) -> None:
    server.add_group("sales@example.com", [BOB, "carol@example.com"])
    server.add_mailbox("carol@example.com")
    src = source(server, groups=["sales@example.com"], folders=["Inbox", "Sent Items"])
    found = [(c.id, c.kind) for c in src.collections()]
    assert found[:4] == [
        (f"{ALICE}|mail|Inbox", "mail"),
        (f"{ALICE}|mail|Sent Items", "mail"),
        (f"{ALICE}|calendar", "calendar"),
        (f"{ALICE}|contacts", "contacts"),
    ]
    mailboxes = sorted({c.id.split("|")[0] for c in src.collections()})
    assert mailboxes == [ALICE, BOB, "carol@example.com"]
    assert "ExpandDL" in server.operations()


def test_initial_sync_in_pages_then_only_changes(server: EwsServer) -> None:
    ids = [server.add_message(ALICE, "inbox", mail(n)) for n in range(7)]
    src = source(server, page_size=3)
    batches = pull(src, INBOX)
    assert subjects(batches) == [f"Offer {n}" for n in range(7)]
    assert [len(b.records) for b in batches] == [3, 3, 1]
    states = [b.cursor["state"] for b in batches]
    assert len(set(states)) == 3  # the cursor moves on with every page
    record = batches[0].records[0]
    assert isinstance(record, MailRecord) and record.remote_id == ids[0]
    assert record.dedupe_key and record.sender is not None
    assert record.sender.email == "ann@customer.example"

    server.clear_log()
    assert pull(src, INBOX, batches[-1].cursor) == []  # nothing changed: nothing to store
    assert server.operations() == ["SyncFolderItems"]

    server.add_message(ALICE, "inbox", mail(7))
    server.update_item(ids[1], categories=["Customer"])
    server.delete_item(ids[2])
    server.set_read(ids[3])
    changed = pull(src, INBOX, batches[-1].cursor)
    assert sorted(subjects(changed)) == ["Offer 1", "Offer 7"]
    assert [d for b in changed for d in b.deleted] == [ids[2]]
    [offer1] = [r for b in changed for r in b.records if r.subject == "Offer 1"]  # type: ignore[union-attr]
    assert offer1.flags == ("Customer",)  # type: ignore[union-attr]


def test_a_crash_between_pages_resumes_after_the_last_stored_page(server: EwsServer) -> None:
    for n in range(10):
        server.add_message(ALICE, "inbox", mail(n))
    src = source(server, page_size=4)
    [collection] = [c for c in src.collections() if c.id == INBOX]
    pages: Iterator[Batch] = src.pull(collection, None, LIMITS)
    first = next(pages)  # stored; then the process dies
    assert subjects([first]) == [f"Offer {n}" for n in range(4)]
    rest = pull(source(server, page_size=4), INBOX, first.cursor)
    assert subjects(rest) == [f"Offer {n}" for n in range(4, 10)]


def test_a_page_bigger_than_a_batch_is_split_and_the_state_moves_at_its_end(
    server: EwsServer,
) -> None:
    for n in range(150):
        server.add_message(ALICE, "inbox", mail(n))
    batches = pull(source(server), INBOX, bytes=10_000)
    # GetItem is asked 100 ids at a time: the batch closes when a chunk ends over the limits
    assert subjects(batches) == [f"Offer {n}" for n in range(150)]
    assert [len(b.records) for b in batches] == [100, 50]
    assert batches[0].cursor == {} and batches[1].cursor["state"]  # the state after the page


def test_private_mail_is_never_read(server: EwsServer) -> None:
    server.add_message(ALICE, "inbox", mail(1))
    hidden = server.add_message(ALICE, "inbox", mail(2), sensitivity="Private")
    server.add_message(ALICE, "inbox", mail(3), categories=["privat"])
    server.add_message(ALICE, "inbox", mail(4), sensitivity="Personal")
    server.clear_log()
    batches = pull(source(server, private_categories=["Private", "Privat"]), INBOX)
    assert subjects(batches) == ["Offer 1", "Offer 4"]
    assert all(r.remote_id != hidden for b in batches for r in b.records)


def test_a_busy_server_is_waited_for_as_it_asks(server: EwsServer) -> None:
    server.add_message(ALICE, "inbox", mail(1))
    src = source(server)
    waits: list[float] = []
    src.sleep = waits.append
    server.fail_next("SyncFolderItems", Fault.server_busy(back_off_ms=1500))
    server.fail_next("GetItem", Fault.http(503, retry_after=2))
    assert subjects(pull(src, INBOX)) == ["Offer 1"]
    assert waits == [1.5, 2]


def test_a_server_that_asks_for_too_long_a_wait_ends_the_pass(server: EwsServer) -> None:
    src = source(server)
    src.sleep = lambda s: None
    server.fail_next("SyncFolderItems", Fault.server_busy(back_off_ms=300_000))
    with pytest.raises(TransientError) as caught:
        pull(src, INBOX)
    assert caught.value.retry_after == 300


def test_an_invalid_sync_state_starts_the_folder_over(server: EwsServer) -> None:
    server.add_message(ALICE, "inbox", mail(1))
    src = source(server)
    cursor = pull(src, INBOX)[-1].cursor
    server.invalidate_sync_states()
    with pytest.raises(InvalidCursorError):
        pull(src, INBOX, cursor)
    assert subjects(pull(src, INBOX, None)) == ["Offer 1"]


def test_a_deleted_folder_is_an_error_and_a_new_one_is_read_from_the_start(
    server: EwsServer,
) -> None:
    server.add_folder(ALICE, "Inbox/Customers")
    server.add_message(ALICE, "Inbox/Customers", mail(1))
    collection = f"{ALICE}|mail|Inbox/Customers"
    src = source(server, folders=["Inbox/Customers"])
    cursor = pull(src, collection)[-1].cursor
    server.delete_folder(ALICE, "Inbox/Customers")
    with pytest.raises(SourceError, match="folder not found"):
        pull(source(server, folders=["Inbox/Customers"]), collection, cursor)
    server.add_folder(ALICE, "Inbox/Customers")
    server.add_message(ALICE, "Inbox/Customers", mail(2))
    again = pull(source(server, folders=["Inbox/Customers"]), collection, cursor)
    assert subjects(again) == ["Offer 2"]


def test_items_deleted_meanwhile_are_skipped(server: EwsServer) -> None:
    good = server.add_message(ALICE, "inbox", mail(1))
    gone = server.add_message(ALICE, "inbox", mail(2))
    server.hide_items(gone)
    batches = pull(source(server), INBOX)
    assert [r.remote_id for b in batches for r in b.records] == [good]
    assert [f for b in batches for f in b.failures] == []  # its Delete comes next time


def test_an_unreadable_calendar_item_is_quarantined_and_the_rest_goes_on(
    server: EwsServer,
) -> None:
    broken = b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:no end, no start\r\n"
    bad = server.add_calendar_item(
        ALICE, uid="broken-1", subject="Broken", start=SOON, end=SOON, mime=broken
    )
    server.add_calendar_item(
        ALICE, uid="fine-1", subject="Fine", start=SOON, end=SOON + timedelta(hours=1)
    )
    batches = pull(source(server), f"{ALICE}|calendar")
    assert [r.summary for b in batches for r in b.records] == ["Fine"]  # type: ignore[union-attr]
    [failure] = [f for b in batches for f in b.failures]
    assert failure.remote_id == bad and failure.raw == broken and bad in failure.reason


def test_wrong_password_missing_right_and_unknown_mailbox_in_words(server: EwsServer) -> None:
    with pytest.raises(AuthError, match="refused"):
        pull(source(server, password="wrong"), INBOX)
    server.add_user("helpdesk", "helpdesk-pass")
    with pytest.raises(AuthError, match="ApplicationImpersonation"):
        pull(source(server, username="helpdesk", password="helpdesk-pass"), INBOX)
    with pytest.raises(SourceError, match=r"no mailbox nobody@example\.com"):
        source(server, mailboxes=["nobody@example.com"]).probe()


def test_delegate_access(server: EwsServer) -> None:
    server.add_user("assistant", "assistant-pass")
    server.add_message(ALICE, "inbox", mail(1))
    src = source(server, username="assistant", password="assistant-pass", access="delegate")
    with pytest.raises(AuthError, match="delegate"):
        pull(src, INBOX)
    server.grant_delegate("assistant", ALICE)
    src = source(server, username="assistant", password="assistant-pass", access="delegate")
    assert subjects(pull(src, INBOX)) == ["Offer 1"]


def test_probe_names_every_mailbox_and_its_folders(server: EwsServer) -> None:
    lines = source(server, mailboxes=[ALICE, BOB]).probe()
    assert lines == [
        f"{ALICE}: Inbox, Sent Items, Calendar, Contacts",
        f"{BOB}: Inbox, Sent Items, Calendar, Contacts",
    ]


def test_the_version_is_guessed_when_not_pinned(server: EwsServer) -> None:
    server.add_message(ALICE, "inbox", mail(1))
    assert subjects(pull(source(server, version="auto"), INBOX)) == ["Offer 1"]


def test_tls_with_the_servers_ca_and_without(tmp_path: Any) -> None:
    with EwsServer.start(tls=True) as tls:
        tls.add_user(SERVICE, PASSWORD, impersonation=True)
        tls.add_mailbox(ALICE)
        tls.add_message(ALICE, "inbox", mail(1))
        assert subjects(pull(source(tls, ca_file=str(tls.ca_file)), INBOX)) == ["Offer 1"]
        with pytest.raises(TransientError, match="TLS"):
            pull(source(tls), INBOX)


# -- calendar -------------------------------------------------------------------------------

WEEKLY = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:Microsoft Exchange Server 2010\r
BEGIN:VTIMEZONE\r
TZID:W. Europe Standard Time\r
BEGIN:STANDARD\r
DTSTART:16010101T030000\r
TZOFFSETFROM:+0200\r
TZOFFSETTO:+0100\r
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10\r
END:STANDARD\r
BEGIN:DAYLIGHT\r
DTSTART:16010101T020000\r
TZOFFSETFROM:+0100\r
TZOFFSETTO:+0200\r
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3\r
END:DAYLIGHT\r
END:VTIMEZONE\r
BEGIN:VEVENT\r
UID:040000008200E00074C5B7101A82E008000000005C7F0C1E\r
SUMMARY:Weekly call with Ann\r
DTSTART;TZID=W. Europe Standard Time:{start}\r
DTEND;TZID=W. Europe Standard Time:{end}\r
RRULE:FREQ=WEEKLY;COUNT=4\r
EXDATE;TZID=W. Europe Standard Time:{third}\r
ORGANIZER;CN=Alice:mailto:alice@example.com\r
ATTENDEE;PARTSTAT=ACCEPTED;CN=Ann:mailto:ann@customer.example\r
CLASS:PUBLIC\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:040000008200E00074C5B7101A82E008000000005C7F0C1E\r
RECURRENCE-ID;TZID=W. Europe Standard Time:{second}\r
SUMMARY:Weekly call with Ann (moved)\r
DTSTART;TZID=W. Europe Standard Time:{moved}\r
DTEND;TZID=W. Europe Standard Time:{moved_end}\r
ORGANIZER;CN=Alice:mailto:alice@example.com\r
ATTENDEE;PARTSTAT=TENTATIVE;CN=Ann:mailto:ann@customer.example\r
END:VEVENT\r
END:VCALENDAR\r
"""


def _local(day: datetime, hour: int) -> str:
    return day.strftime("%Y%m%d") + f"T{hour:02d}0000"


def test_a_recurring_meeting_with_an_exception_and_a_deleted_occurrence(
    server: EwsServer,
) -> None:
    monday = SOON + timedelta(days=(7 - SOON.weekday()) % 7 or 7)
    ics = WEEKLY.format(
        start=_local(monday, 10), end=_local(monday, 11),
        second=_local(monday + timedelta(7), 10), third=_local(monday + timedelta(14), 10),
        moved=_local(monday + timedelta(8), 14), moved_end=_local(monday + timedelta(8), 15),
    )  # fmt: skip
    item = server.add_calendar_item(
        ALICE, uid="040000008200E00074C5B7101A82E008000000005C7F0C1E", subject="Weekly call",
        start=monday, end=monday + timedelta(hours=1), calendar_item_type="RecurringMaster",
        mime=ics.encode(),
    )  # fmt: skip
    batches = pull(source(server), f"{ALICE}|calendar")
    events = sorted(
        (r for b in batches for r in b.records if isinstance(r, EventRecord)),
        key=lambda r: r.starts_at,
    )
    assert [e.summary for e in events] == [
        "Weekly call with Ann", "Weekly call with Ann (moved)", "Weekly call with Ann",
    ]  # fmt: skip
    assert {e.remote_id for e in events} == {item}
    winter = monday.month in (11, 12, 1, 2, 3) and not (monday.month == 3 and monday.day > 24)
    offset = 1 if winter else 2
    assert events[0].starts_at.hour == 10 - offset  # W. Europe Standard Time mapped
    uid = "040000008200E00074C5B7101A82E008000000005C7F0C1E"
    assert all(e.dedupe_key.startswith(f"ical:{uid}/") for e in events)
    assert events[1].attendees[0].status == "TENTATIVE"
    assert batches[-1].window is not None


def test_a_private_appointment_is_stored_private(server: EwsServer) -> None:
    server.add_calendar_item(
        ALICE, uid="private-1", subject="Doctor", start=SOON, end=SOON + timedelta(hours=1),
        sensitivity="Private",
    )  # fmt: skip
    [event] = [r for b in pull(source(server), f"{ALICE}|calendar") for r in b.records]
    assert isinstance(event, EventRecord) and event.private


def test_a_cancelled_meeting_is_marked_cancelled(server: EwsServer) -> None:
    item = server.add_calendar_item(
        ALICE, uid="review-3", subject="Review", start=SOON, end=SOON + timedelta(hours=1)
    )
    src = source(server)
    [first] = [r for b in pull(src, f"{ALICE}|calendar") for r in b.records]
    assert isinstance(first, EventRecord) and first.status != "CANCELLED"
    cursor = pull(src, f"{ALICE}|calendar")[-1].cursor
    server.update_item(item, is_cancelled=True)
    [again] = [r for b in pull(src, f"{ALICE}|calendar", cursor) for r in b.records]
    assert isinstance(again, EventRecord) and again.status == "CANCELLED"


def test_a_deleted_appointment_is_reported(server: EwsServer) -> None:
    item = server.add_calendar_item(
        ALICE, uid="kickoff-1", subject="Kick-off", start=SOON, end=SOON + timedelta(hours=1)
    )
    src = source(server)
    cursor = pull(src, f"{ALICE}|calendar")[-1].cursor
    server.delete_item(item)
    [batch] = pull(src, f"{ALICE}|calendar", cursor)
    assert batch.deleted == (item,) and batch.records == ()


# -- contacts -------------------------------------------------------------------------------


def test_contacts_from_their_properties(server: EwsServer) -> None:
    server.add_contact(
        ALICE, display_name="Ann Smith", given_name="Ann", surname="Smith",
        company_name="Customer GmbH", job_title="Head of Purchasing",
        emails=["ann@customer.example", "ann.smith@home.example"],
        phones={"BusinessPhone": "+49 30 1234567", "MobilePhone": "+49 170 7654321"},
        addresses={"Business": {"Street": "Hauptstr. 1", "City": "Berlin",
                                "PostalCode": "10115", "CountryOrRegion": "Germany"}},
    )  # fmt: skip
    [contact] = [r for b in pull(source(server), f"{ALICE}|contacts") for r in b.records]
    assert isinstance(contact, ContactRecord)
    assert (contact.name, contact.given_name, contact.family_name, contact.kind) == (
        "Ann Smith", "Ann", "Smith", "person",
    )  # fmt: skip
    assert (contact.organization, contact.title) == ("Customer GmbH", "Head of Purchasing")
    assert contact.emails == (("work", "ann@customer.example"), ("other", "ann.smith@home.example"))
    assert sorted(contact.phones) == [("mobile", "+49 170 7654321"), ("work", "+49 30 1234567")]
    assert (contact.street, contact.city, contact.postal_code, contact.country) == (
        "Hauptstr. 1", "Berlin", "10115", "Germany",
    )  # fmt: skip


@pytest.mark.filterwarnings("ignore::ResourceWarning")  # a refused NTLM handshake's socket
def test_ntlm_login() -> None:
    with EwsServer.start(ntlm=True) as server:
        server.add_user("EXAMPLE\\svc-crm", PASSWORD, impersonation=True)
        server.add_mailbox(ALICE)
        server.add_message(ALICE, "inbox", mail(1))
        settings = EwsSettings(
            url=server.url, username="EXAMPLE\\svc-crm", password=PASSWORD, auth="ntlm",
            version="2016",
        )  # fmt: skip
        src = EwsSource(settings=settings, mailboxes=[ALICE], account="exchange")
        assert subjects(pull(src, INBOX)) == ["Offer 1"]
        wrong = EwsSource(
            settings=EwsSettings(**{**settings.__dict__, "password": "wrong"}),
            mailboxes=[ALICE], account="exchange",
        )  # fmt: skip
        with pytest.raises(AuthError):
            pull(wrong, INBOX)
        gc.collect()  # collect the refused handshake's socket while the warning is ignored


def test_an_unknown_server_name_is_said_to_be_dns() -> None:
    settings = EwsSettings(url="https://exchange.invalid/EWS/Exchange.asmx", username=SERVICE,
                           password=PASSWORD, auth="basic", version="2016")  # fmt: skip
    with pytest.raises(TransientError, match=r'DNS: the server name "exchange\.invalid"'):
        EwsSource(settings=settings, mailboxes=[ALICE], account="exchange").probe()


def test_a_closed_port_is_said_to_be_refused(server: EwsServer) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, not listening: nothing answers there
        url = f"http://127.0.0.1:{port}/EWS/Exchange.asmx"
        settings = EwsSettings(url=url, username=SERVICE, password=PASSWORD, auth="basic",
                               version="2016")  # fmt: skip
        with pytest.raises(TransientError, match="connection refused"):
            EwsSource(settings=settings, mailboxes=[ALICE], account="exchange").probe()
