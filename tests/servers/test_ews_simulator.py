"""The EWS simulator against exchangelib itself: it must answer as Exchange does.

These drive the unmodified exchangelib (no crmsync code) through its real HTTP stack
against :class:`tests.servers.ews.EwsServer`, for each operation and fault the crmsync
EWS adapter relies on.
"""

from __future__ import annotations

import datetime as dt
import gc
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from exchangelib import (
    BASIC,
    DELEGATE,
    IMPERSONATION,
    NTLM,
    Account,
    Build,
    CalendarItem,
    Configuration,
    Contact,
    Credentials,
    Message,
    Version,
)
from exchangelib import errors as ews_errors
from exchangelib.protocol import BaseProtocol, FailFast, FaultTolerance, Protocol
from exchangelib.services import SyncFolderItems

from tests.servers.ews import EwsServer, Fault

ALICE = "alice@example.com"
BOB = "bob@example.com"
SERVICE = "svc-crmsync@example.com"


@pytest.fixture(autouse=True)
def _fresh_protocols() -> Iterator[None]:
    """exchangelib caches a protocol per endpoint and credentials: start each test clean."""
    timeout = BaseProtocol.TIMEOUT
    Protocol.clear_cache()
    yield
    Protocol.clear_cache()
    BaseProtocol.TIMEOUT = timeout


@pytest.fixture
def server(ews: EwsServer) -> EwsServer:
    """Alice and Bob with mailboxes; a service account with impersonation; Bob's delegate."""
    ews.add_user(ALICE, "alice-pw", mailbox=ALICE)
    ews.add_user(BOB, "bob-pw", mailbox=BOB)
    ews.add_user(SERVICE, "svc-pw", impersonation=True)
    ews.add_user("carol@example.com", "carol-pw", mailbox="carol@example.com")
    ews.grant_delegate("carol@example.com", ALICE)
    ews.add_folder(ALICE, "Inbox/Customers")
    ews.add_folder(ALICE, "Archive/2024")
    return ews


def mail(n: int, size: int = 0) -> bytes:
    body = "x" * size
    return (
        f"From: Bob Sender <bob{n}@customer.example>\r\nTo: {ALICE}\r\n"
        f"Subject: Mail {n}\r\nMessage-ID: <m{n}@customer.example>\r\n"
        f"Date: Mon, 06 May 2024 10:00:00 +0000\r\n\r\nHello {n}\r\n{body}\r\n"
    ).encode()


def account(
    server: EwsServer,
    address: str = ALICE,
    user: str = ALICE,
    password: str = "alice-pw",  # noqa: S107
    access_type: str = DELEGATE,
    version: Version | None = None,
) -> Account:
    config = Configuration(
        service_endpoint=server.url,
        credentials=Credentials(user, password),
        auth_type=BASIC,
        version=version or Version(build=Build(15, 1, 2507, 6)),
        retry_policy=FailFast(),
    )
    return Account(address, config=config, autodiscover=False, access_type=access_type)


def test_version_guessing_walks_down_to_what_the_server_accepts() -> None:
    with EwsServer.start(version=(15, 0, 1497, 2)) as server:
        server.add_user(ALICE, "alice-pw", mailbox=ALICE)
        config = Configuration(
            service_endpoint=server.url,
            credentials=Credentials(ALICE, "alice-pw"),
            auth_type=BASIC,
            retry_policy=FailFast(),
        )
        acc = Account(ALICE, config=config, autodiscover=False, access_type=DELEGATE)
        assert acc.version.build == Build(15, 0, 1497, 2)
        assert acc.version.api_version == "Exchange2013_SP1"
        assert set(server.operations()) == {"ConvertId"}
        tried = [r.api_version for r in server.requests]
        assert [r.status for r in server.requests][-1] == 200
        assert tried[-1] == "Exchange2013_SP1" and len(tried) > 1


def test_version_guessing_exchange_2019(server: EwsServer) -> None:
    with EwsServer.start(version=(15, 2, 1118, 7)) as s2019:
        s2019.add_user(ALICE, "alice-pw", mailbox=ALICE)
        config = Configuration(
            service_endpoint=s2019.url, credentials=Credentials(ALICE, "alice-pw"), auth_type=BASIC
        )
        acc = Account(ALICE, config=config, autodiscover=False)
        assert acc.version.build == Build(15, 2, 1118, 7)
        assert s2019.operations() == ["ConvertId"]


def test_well_known_folders(server: EwsServer) -> None:
    acc = account(server)
    assert acc.inbox.name == "Inbox"
    assert server.operations() == ["GetFolder", "GetFolder"]  # root, then inbox
    assert acc.calendar.name == "Calendar" and acc.contacts.name == "Contacts"
    assert acc.sent.name == "Sent Items" and acc.trash.name == "Deleted Items"
    assert acc.msg_folder_root.name == "Top of Information Store"
    assert all(r.mailboxes == [ALICE] for r in server.requests)


def test_folder_path_lookup(server: EwsServer) -> None:
    acc = account(server)
    customers = acc.root / "Top of Information Store" / "Inbox" / "Customers"
    assert customers.id == server.folder_id(ALICE, "Inbox/Customers")
    server.clear_log()
    archive = acc.msg_folder_root // "Archive" // "2024"
    assert archive.id == server.folder_id(ALICE, "Archive/2024")
    assert "FindFolder" in server.operations()
    with pytest.raises(ews_errors.ErrorFolderNotFound):
        acc.msg_folder_root // "Nowhere"
    names = {f.name for f in acc.msg_folder_root.walk()}
    assert {"Inbox", "Customers", "Archive", "2024", "Calendar"} <= names


def test_sync_folder_items_pages_then_reports_changes(server: EwsServer) -> None:
    ids = [server.add_message(ALICE, "Inbox/Customers", mail(n)) for n in range(7)]
    acc = account(server)
    folder = acc.root / "Top of Information Store" / "Inbox" / "Customers"
    svc = SyncFolderItems(account=acc)
    state, seen, pages = None, [], []
    while True:
        changes = list(
            svc.call(folder, "IdOnly", {}, state, None, max_changes_returned=3, sync_scope=None)
        )
        pages.append(svc.includes_last_item_in_range)
        seen += [(kind, item.id) for kind, item in changes]
        assert svc.sync_state and svc.sync_state != state
        state = svc.sync_state
        if svc.includes_last_item_in_range:
            break
    assert pages == [False, False, True]
    assert seen == [("create", i) for i in ids]

    new = server.add_message(ALICE, "Inbox/Customers", mail(99))
    new_key = server.update_item(ids[0], subject="Changed")
    server.delete_item(ids[1])
    server.set_read(ids[2])
    changes = list(svc.call(folder, "IdOnly", {}, state, None, 100, None))
    kinds = {kind: item for kind, item in changes}
    assert kinds["update"].id == ids[0] and kinds["update"].changekey == new_key
    assert kinds["delete"].id == ids[1]
    assert kinds["read_flag_change"][0].id == ids[2] and kinds["read_flag_change"][1] is True
    assert kinds["create"].id == new
    assert svc.includes_last_item_in_range


def test_sync_items_with_properties(server: EwsServer) -> None:
    server.add_message(ALICE, "inbox", mail(1), sensitivity="Private", categories=["Kunde"])
    server.add_calendar_item(
        ALICE,
        uid="uid-1@example.com",
        subject="Meeting",
        start=dt.datetime(2024, 5, 6, 9, tzinfo=dt.UTC),
        end=dt.datetime(2024, 5, 6, 10, tzinfo=dt.UTC),
        calendar_item_type="RecurringMaster",
        rrule="FREQ=WEEKLY;COUNT=3",
    )
    server.add_contact(
        ALICE,
        display_name="Eve Example",
        given_name="Eve",
        surname="Example",
        company_name="Customer GmbH",
        emails=["eve@customer.example"],
        phones={"BusinessPhone": "+49 30 1234", "MobilePhone": "+49 170 1"},
        addresses={"Business": {"Street": "Hauptstr. 1", "City": "Berlin"}},
    )
    acc = account(server)
    [(kind, msg)] = list(acc.inbox.sync_items(only_fields=["subject", "sensitivity", "categories"]))
    assert kind == "create" and isinstance(msg, Message)
    assert (msg.subject, msg.sensitivity, msg.categories) == ("Mail 1", "Private", ["Kunde"])
    [(_, event)] = list(acc.calendar.sync_items())
    assert isinstance(event, CalendarItem) and event.uid == "uid-1@example.com"
    assert event.is_recurring and event.type == "RecurringMaster"
    [(_, contact)] = list(acc.contacts.sync_items())
    assert isinstance(contact, Contact) and contact.company_name == "Customer GmbH"
    assert contact.email_addresses[0].email == "eve@customer.example"
    assert {p.label: p.phone_number for p in contact.phone_numbers}["MobilePhone"] == "+49 170 1"
    assert contact.physical_addresses[0].city == "Berlin"
    [fetched] = list(acc.fetch([event], only_fields=["mime_content"]))
    assert (
        b"BEGIN:VCALENDAR" in fetched.mime_content and b"RRULE:FREQ=WEEKLY" in fetched.mime_content
    )


def test_get_item_many_ids_with_mime_and_one_missing(server: EwsServer) -> None:
    ids = [server.add_message(ALICE, "inbox", mail(n, 5000)) for n in range(60)]
    server.hide_items(ids[10])
    acc = account(server)
    items = list(acc.fetch([(i, None) for i in ids], only_fields=["mime_content", "subject"]))
    assert server.operations().count("GetItem") == 1  # 60 ids in one request
    assert isinstance(items[10], ews_errors.ErrorItemNotFound)
    good = [i for n, i in enumerate(items) if n != 10]
    assert all(isinstance(i, Message) for i in good)
    assert good[0].mime_content == mail(0, 5000) and good[0].subject == "Mail 0"


def test_find_item_pages(server: EwsServer) -> None:
    for n in range(12):
        server.add_message(ALICE, "inbox", mail(n))
    acc = account(server)
    subjects = [m.subject for m in acc.inbox.all().only("subject").order_by("subject")]
    assert len(subjects) == 12
    server.clear_log()
    qs = acc.inbox.all().only("subject")
    qs.page_size = 5
    assert len(list(qs)) == 12
    assert server.operations() == ["FindItem"] * 3
    assert [m.subject for m in acc.inbox.filter(subject="Mail 3")] == ["Mail 3"]


def test_impersonation(server: EwsServer) -> None:
    acc = account(server, ALICE, SERVICE, "svc-pw", access_type=IMPERSONATION)
    assert acc.inbox.name == "Inbox"
    assert server.requests[-1].impersonated == ALICE and server.requests[-1].user == SERVICE
    denied = account(server, BOB, ALICE, "alice-pw", access_type=IMPERSONATION)
    with pytest.raises(ews_errors.ErrorImpersonateUserDenied):
        denied.inbox  # noqa: B018
    nobody = account(server, "nobody@example.com", SERVICE, "svc-pw", access_type=IMPERSONATION)
    with pytest.raises(ews_errors.ErrorNonExistentMailbox):
        nobody.inbox  # noqa: B018


def test_delegate_access(server: EwsServer) -> None:
    server.add_message(ALICE, "inbox", mail(1))
    carol = account(server, ALICE, "carol@example.com", "carol-pw")
    assert [m.subject for m in carol.inbox.all()] == ["Mail 1"]
    assert server.requests[-1].mailboxes == [ALICE] and server.requests[-1].impersonated is None
    bob = account(server, ALICE, BOB, "bob-pw")
    with pytest.raises(ews_errors.ErrorAccessDenied):
        bob.inbox  # noqa: B018
    ghost = account(server, "ghost@example.com", BOB, "bob-pw")
    with pytest.raises(ews_errors.ErrorNonExistentMailbox):
        ghost.inbox  # noqa: B018


def test_expand_dl_and_resolve_names(server: EwsServer) -> None:
    server.add_group("sales@example.com", [ALICE, BOB, "partner@other.example"], name="Sales")
    acc = account(server)
    members = acc.protocol.expand_dl("sales@example.com")
    assert [m.email_address for m in members] == [ALICE, BOB, "partner@other.example"]
    with pytest.raises(ews_errors.ErrorNameResolutionNoResults):
        acc.protocol.expand_dl("nobody@example.com")
    [resolved] = acc.protocol.resolve_names([BOB])
    assert resolved.email_address == BOB
    [missing] = acc.protocol.resolve_names(["zzz-nobody"])
    assert isinstance(missing, ews_errors.ErrorNameResolutionNoResults)


def test_server_busy_surfaces_with_back_off(server: EwsServer) -> None:
    acc = account(server)
    server.fail_next("GetFolder", Fault.server_busy(back_off_ms=1500))
    with pytest.raises(ews_errors.ErrorServerBusy) as caught:
        acc.inbox  # noqa: B018
    assert caught.value.back_off == 1.5
    assert acc.inbox.name == "Inbox"  # the next call works


def test_http_503_with_retry_after(server: EwsServer) -> None:
    acc = account(server)
    acc.root  # noqa: B018
    server.fail_next("GetFolder", Fault.http(503, retry_after=1))
    with pytest.raises(ews_errors.ErrorServerBusy):
        acc.inbox  # noqa: B018  (FailFast: a transient error surfaces as ErrorServerBusy)
    assert server.requests[-1].status == 503
    acc.protocol.config.retry_policy = FaultTolerance(max_wait=10)
    server.fail_next("GetFolder", Fault.http(503, retry_after=1))
    started = time.monotonic()
    assert acc.inbox.name == "Inbox"  # FaultTolerance waits Retry-After, then retries
    assert time.monotonic() - started >= 1


def test_invalid_sync_state(server: EwsServer) -> None:
    server.add_message(ALICE, "inbox", mail(1))
    acc = account(server)
    svc = SyncFolderItems(account=acc)
    list(svc.call(acc.inbox, "IdOnly", {}, None, None, 100, None))
    state = svc.sync_state
    server.invalidate_sync_states()
    with pytest.raises(ews_errors.ErrorInvalidSyncStateData):
        list(svc.call(acc.inbox, "IdOnly", {}, state, None, 100, None))
    with pytest.raises(ews_errors.ErrorInvalidSyncStateData):
        list(svc.call(acc.inbox, "IdOnly", {}, "garbage", None, 100, None))


def test_deleted_folder(server: EwsServer) -> None:
    acc = account(server)
    customers = acc.msg_folder_root // "Inbox" // "Customers"
    server.delete_folder(ALICE, "Inbox/Customers")
    with pytest.raises(ews_errors.ErrorFolderNotFound):
        customers.refresh()
    with pytest.raises(ews_errors.ErrorFolderNotFound):
        list(customers.sync_items())


def test_unauthorized(server: EwsServer) -> None:
    with pytest.raises(ews_errors.UnauthorizedError):
        account(server, password="wrong").inbox  # noqa: B018
    acc = account(server)
    server.fail_next("GetFolder", Fault.unauthorized())
    with pytest.raises(ews_errors.UnauthorizedError):
        acc.inbox  # noqa: B018


def test_soap_fault_and_malformed_requests(server: EwsServer) -> None:
    acc = account(server)
    server.fail_next("GetFolder", Fault.soap("ErrorInternalServerError", "Boom"))
    with pytest.raises(ews_errors.ErrorInternalServerError, match="Boom"):
        acc.inbox  # noqa: B018
    auth = (ALICE, "alice-pw")
    for body in (b"<not-xml", b"<a/>", _soap(b"<m:NoSuchOperation/>")):
        r = requests.post(server.url, data=body, auth=auth, timeout=5)
        assert r.status_code == 500 and b"ErrorSchemaValidation" in r.content
    r = requests.post(server.url, data=_soap(b"<m:GetFolder/>"), auth=auth, timeout=5)
    assert r.status_code == 500 and b"FolderShape" in r.content


def _soap(op: bytes) -> bytes:
    return (
        b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
        b'xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"><s:Body>'
        + op
        + b"</s:Body></s:Envelope>"
    )


def test_slow_answer_times_out(server: EwsServer) -> None:
    acc = account(server)
    acc.root  # noqa: B018
    BaseProtocol.TIMEOUT = 0.3
    server.set_delay("GetFolder", 1.0)
    started = time.monotonic()
    with pytest.raises(ews_errors.ErrorTimeoutExpired):
        acc.inbox  # noqa: B018
    assert time.monotonic() - started < 1.0


# requests_ntlm leaves the sockets of a failed handshake to the garbage collector
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_ntlm_login() -> None:
    with EwsServer.start(ntlm=True) as server:
        server.add_user("EXAMPLE\\alice", "alice-pw", mailbox=ALICE)

        def login(password: str) -> Account:
            config = Configuration(
                service_endpoint=server.url,
                credentials=Credentials("EXAMPLE\\alice", password),
                auth_type=NTLM,
                version=Version(build=Build(15, 1, 2507, 6)),
                retry_policy=FailFast(),
            )
            return Account(ALICE, config=config, autodiscover=False, access_type=DELEGATE)

        assert login("alice-pw").inbox.name == "Inbox"
        assert {r.user for r in server.requests} == {"EXAMPLE\\alice"}
        with pytest.raises(ews_errors.UnauthorizedError):
            login("wrong").inbox  # noqa: B018
        Protocol.clear_cache()
        gc.collect()


def test_https_with_self_signed_certificate() -> None:
    with EwsServer.start(tls=True) as server:
        server.add_user(ALICE, "alice-pw", mailbox=ALICE)
        ca_file = str(server.ca_file)

        class TrustTestCa(requests.adapters.HTTPAdapter):
            def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
                super().cert_verify(conn, url, ca_file, cert)

        original = BaseProtocol.HTTP_ADAPTER_CLS
        BaseProtocol.HTTP_ADAPTER_CLS = TrustTestCa
        try:
            assert server.url.startswith("https://")
            assert account(server).inbox.name == "Inbox"
        finally:
            BaseProtocol.HTTP_ADAPTER_CLS = original
