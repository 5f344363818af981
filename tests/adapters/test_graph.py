"""The Graph adapter against the Graph simulator (tests/servers/graph.py), through msal and
requests: sign-in (secret, certificate, a signed-in user's stored cache), paged delta sync
of mail, calendar and contacts, private items, throttling, lost delta links, revoked
tokens, access policies, and the same meeting keys as the iCalendar parser gives."""

from __future__ import annotations

import binascii
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapters.base import BatchLimits
from adapters.errors import AuthError, InvalidCursorError, SourceError, TransientError, describe
from adapters.graph import GraphSource
from adapters.graphauth import GraphSettings
from adapters.graphitems import series_uid
from adapters.ical import parse_calendar
from adapters.records import Batch, ContactRecord, EventRecord, MailRecord
from tests.adapters.test_ews import mail
from tests.servers.graph import GraphServer
from tests.servers.graph_identity import DEFAULT_ROLES
from tests.servers.graph_state import make_certificate

ALICE, BOB = "alice@contoso.onmicrosoft.com", "bob@contoso.onmicrosoft.com"
SECRET = "s3cret-value"
SOON = datetime.now(UTC).replace(minute=0, second=0, microsecond=0, tzinfo=None) + timedelta(days=3)


@pytest.fixture
def app_id(graph: GraphServer) -> str:
    graph.add_user(ALICE)
    graph.add_user(BOB)
    return graph.add_app(secret=SECRET)


def settings(graph: GraphServer, client_id: str, **kwargs: Any) -> GraphSettings:
    kwargs.setdefault("client_secret", SECRET)
    kwargs.setdefault("timeout", 10.0)
    return GraphSettings(
        tenant=graph.tenant_id,
        client_id=client_id,
        login_url=graph.base_url,
        graph_url=graph.graph_url,
        ca_file=str(graph.ca_file),
        **kwargs,
    )


OPENED: list[GraphSource] = []


@pytest.fixture(autouse=True)
def _close_sources() -> Iterator[None]:
    yield
    while OPENED:
        OPENED.pop().close()


def source(graph: GraphServer, client_id: str, **kwargs: Any) -> GraphSource:
    kwargs.setdefault("mailboxes", [ALICE])
    config = {k: kwargs.pop(k) for k in list(kwargs) if k in GraphSettings.__dataclass_fields__}
    src = GraphSource(settings=settings(graph, client_id, **config), account="m365", **kwargs)
    src.sleep = lambda seconds: None
    OPENED.append(src)
    return src


def pull(
    src: GraphSource, collection_id: str, cursor: dict[str, Any] | None = None, items: int = 500
) -> list[Batch]:
    [collection] = [c for c in src.collections() if c.id == collection_id]
    return list(src.pull(collection, cursor, BatchLimits(items, 25_000_000)))


def subjects(batches: list[Batch]) -> list[str]:
    return [r.subject for b in batches for r in b.records if isinstance(r, MailRecord)]


INBOX = f"{ALICE}|mail|Inbox"


def test_collections_probe_and_folders_by_path(graph: GraphServer, app_id: str) -> None:
    customers = graph.add_folder(ALICE, "Customers", "inbox")
    graph.add_message(ALICE, customers, mail(1))
    src = source(graph, app_id, mailboxes=[ALICE, BOB], folders=["Inbox", "Inbox/Customers"])
    ids = [c.id for c in src.collections()]
    assert ids[:4] == [INBOX, f"{ALICE}|mail|Inbox/Customers", f"{ALICE}|calendar",
                       f"{ALICE}|contacts"]  # fmt: skip
    alone = source(graph, app_id, folders=["Inbox", "Inbox/Customers"])
    assert alone.probe() == [f"{ALICE}: Inbox, Customers, 1 calendar(s), Contacts"]
    assert subjects(pull(src, f"{ALICE}|mail|Inbox/Customers")) == ["Offer 1"]
    missing = source(graph, app_id, folders=["Archive/Nope"])
    with pytest.raises(SourceError, match='no folder "Archive/Nope"'):
        missing.probe()


def test_probe_names_the_missing_folder_of_one_mailbox(graph: GraphServer, app_id: str) -> None:
    graph.add_folder(ALICE, "Customers", "inbox")
    src = source(graph, app_id, mailboxes=[ALICE, BOB], folders=["Inbox/Customers"])
    with pytest.raises(SourceError, match=f'no folder "Inbox/Customers" in {BOB}'):
        src.probe()


def test_initial_paged_and_incremental_mail(graph: GraphServer, app_id: str) -> None:
    ids = [graph.add_message(ALICE, "inbox", mail(n)) for n in range(25)]
    src = source(graph, app_id, page_size=10)
    batches = pull(src, INBOX)
    assert [len(b.records) for b in batches] == [10, 10, 5]
    assert sorted(subjects(batches)) == sorted(f"Offer {n}" for n in range(25))
    assert all(b.cursor["folder"] == graph.folder_id(ALICE, "inbox") for b in batches)
    values = [r for r in graph.requests if r.path.endswith("/$value")]
    assert values and all(r.batch for r in values)  # fetched through $batch, not one by one
    cursor = batches[-1].cursor
    assert pull(src, INBOX, cursor)[0].records == ()  # nothing changed: nothing to store
    graph.add_message(ALICE, "inbox", mail(99))
    graph.update_message(ids[0], categories=("Customer",))
    graph.delete_message(ids[1])
    later = pull(src, INBOX, cursor)
    got = {r.subject: r.flags for b in later for r in b.records if isinstance(r, MailRecord)}
    assert got == {"Offer 99": (), "Offer 0": ("Customer",)}
    assert [d for b in later for d in b.deleted] == [ids[1]]


def test_crash_between_pages_resumes_at_the_page(graph: GraphServer, app_id: str) -> None:
    for n in range(30):
        graph.add_message(ALICE, "inbox", mail(n))
    src = source(graph, app_id, page_size=10)
    [collection] = [c for c in src.collections() if c.id == INBOX]
    first = next(iter(src.pull(collection, None, BatchLimits(500, 25_000_000))))
    # the process dies here; a new one starts from the stored cursor
    rest = pull(source(graph, app_id, page_size=10), INBOX, first.cursor)
    seen = subjects([first]) + subjects(rest)
    assert sorted(seen) == sorted(f"Offer {n}" for n in range(30)) and len(seen) == 30


def test_private_mail_is_never_fetched(graph: GraphServer, app_id: str) -> None:
    graph.add_message(ALICE, "inbox", mail(1, Sensitivity="Private"))
    graph.add_message(ALICE, "inbox", mail(2), categories=("Privat",))
    graph.add_message(ALICE, "inbox", mail(3), sensitivity=3)  # company confidential
    graph.add_message(ALICE, "inbox", mail(4))
    src = source(graph, app_id, private_categories=["Private", "Privat"])
    assert sorted(subjects(pull(src, INBOX))) == ["Offer 3", "Offer 4"]
    assert len([r for r in graph.requests if r.path.endswith("/$value")]) == 2


def test_throttling_is_waited_out(graph: GraphServer, app_id: str) -> None:
    for n in range(3):
        graph.add_message(ALICE, "inbox", mail(n))
    src = source(graph, app_id)
    waits: list[float] = []
    src.sleep = waits.append
    graph.fail_next(r"/messages/delta", status=429, retry_after=7)
    graph.fail_next(r"/\$value$", status=503, retry_after=2, times=2)  # two batch steps
    assert sorted(subjects(pull(src, INBOX))) == ["Offer 0", "Offer 1", "Offer 2"]
    assert waits == [7.0, 2.0]
    graph.fail_next(r"/messages/delta", status=429, retry_after=3600)
    with pytest.raises(TransientError) as caught:
        pull(src, INBOX)
    assert caught.value.retry_after == 3600


def test_lost_delta_link_starts_over(graph: GraphServer, app_id: str) -> None:
    graph.add_message(ALICE, "inbox", mail(1))
    src = source(graph, app_id)
    cursor = pull(src, INBOX)[-1].cursor
    graph.invalidate_delta_tokens()
    with pytest.raises(InvalidCursorError) as caught:
        pull(src, INBOX, cursor)
    assert caught.value.collection == f"{ALICE}: Inbox"
    assert subjects(pull(src, INBOX, None)) == ["Offer 1"]


def test_a_folder_made_again_is_read_from_the_start(graph: GraphServer, app_id: str) -> None:
    first = graph.add_folder(ALICE, "Leads")
    graph.add_message(ALICE, first, mail(1))
    src = source(graph, app_id, folders=["Leads"])
    cursor = pull(src, f"{ALICE}|mail|Leads")[-1].cursor
    assert cursor["folder"] == first
    again = source(graph, app_id, folders=["Leads"])
    graph.mailbox(ALICE).folders[first].display_name = "Old leads"  # renamed away
    second = graph.add_folder(ALICE, "Leads")
    graph.add_message(ALICE, second, mail(2))
    batches = pull(again, f"{ALICE}|mail|Leads", cursor)
    assert subjects(batches) == ["Offer 2"] and batches[-1].cursor["folder"] == second


def test_expired_token_is_renewed_and_refusals_are_said(graph: GraphServer, app_id: str) -> None:
    graph.add_message(ALICE, "inbox", mail(1))
    src = source(graph, app_id)
    pull(src, INBOX)
    graph.expire_access_tokens()
    assert subjects(pull(src, INBOX)) == ["Offer 1"]  # a new token, no error
    wrong = source(graph, app_id, client_secret="not-it")
    with pytest.raises(AuthError, match="client secret is wrong"):
        pull(wrong, INBOX)
    graph.revoke_access_tokens()
    graph.identity.apps[app_id].secret = "rotated"  # the admin deleted our secret
    with pytest.raises(AuthError, match="client secret is wrong"):
        pull(src, INBOX)


def test_access_policy_and_permissions_in_words(graph: GraphServer, app_id: str) -> None:
    graph.restrict_app(app_id, ALICE)
    with pytest.raises(AuthError, match="application access policy"):
        source(graph, app_id, mailboxes=[BOB]).probe()
    assert source(graph, app_id, mailboxes=[ALICE]).probe()
    no_mail = graph.add_app(secret=SECRET, roles=("Calendars.Read",))
    with pytest.raises(AuthError, match="lacks the permission"):
        source(graph, no_mail).probe()
    with pytest.raises(SourceError, match="no such mailbox: users/nobody"):
        source(graph, app_id, mailboxes=["nobody@contoso.onmicrosoft.com"]).probe()


def test_certificate_credential(graph: GraphServer) -> None:
    graph.add_user(ALICE)
    key, cert = make_certificate()
    client_id = graph.add_app(certificate=cert)
    graph.add_message(ALICE, "inbox", mail(5))
    src = source(graph, client_id, client_secret="", certificate=key + cert)
    assert subjects(pull(src, INBOX)) == ["Offer 5"]
    other_key, _ = make_certificate()
    forged = source(graph, client_id, client_secret="", certificate=other_key + cert)
    with pytest.raises(AuthError, match="certificate is not the one registered"):
        pull(forged, INBOX)


class MemoryStore:
    """A token store as the sync keeps it (there encrypted in the database)."""

    def __init__(self, cache: str | None = None) -> None:
        self.cache, self.saves = cache, 0

    def load(self) -> str | None:
        return self.cache

    def save(self, cache: str) -> None:
        self.cache, self.saves = cache, self.saves + 1


def signed_in(graph: GraphServer, client_id: str, upn: str) -> MemoryStore:
    """A store holding the cache of a device-code sign-in of ``upn``."""
    import msal

    cache = msal.SerializableTokenCache()
    src = source(graph, client_id, sign_in="user", client_secret="", mailboxes=[])
    app = msal.PublicClientApplication(
        client_id, authority=graph.authority, instance_discovery=False, http_client=src.http,
        token_cache=cache,
    )  # fmt: skip
    flow = app.initiate_device_flow(scopes=src.settings.scopes())
    graph.approve_device_code(flow["user_code"], upn)
    assert "access_token" in app.acquire_token_by_device_flow(flow)
    return MemoryStore(cache.serialize())


def test_signed_in_user_reads_own_mailbox(graph: GraphServer) -> None:
    graph.add_user(ALICE)
    client_id = graph.add_app(public_client=True)
    graph.add_message(ALICE, "inbox", mail(7))
    store = signed_in(graph, client_id, ALICE)
    src = source(graph, client_id, sign_in="user", client_secret="", mailboxes=[], store=store)
    assert next(c.id for c in src.collections()) == "me|mail|Inbox"
    assert src.probe()[0] == f"signed in as {ALICE}"
    assert subjects(pull(src, "me|mail|Inbox")) == ["Offer 7"]
    assert all(r.principal == ALICE for r in graph.requests if r.path.startswith("/v1.0/"))
    graph.expire_access_tokens()
    src2 = source(graph, client_id, sign_in="user", client_secret="", mailboxes=[], store=store)
    assert subjects(pull(src2, "me|mail|Inbox")) == ["Offer 7"]
    assert store.saves >= 1  # the renewed tokens were kept
    nobody = source(graph, client_id, sign_in="user", client_secret="", store=MemoryStore())
    with pytest.raises(AuthError, match="nobody has signed in yet"):
        pull(nobody, "me|mail|Inbox")


def test_expired_or_revoked_sign_in_needs_an_admin(graph: GraphServer) -> None:
    graph.add_user(ALICE)
    client_id = graph.add_app(public_client=True)
    store = signed_in(graph, client_id, ALICE)
    graph.revoke_access_tokens()
    graph.expire_refresh_tokens(ALICE)
    src = source(graph, client_id, sign_in="user", client_secret="", store=store)
    with pytest.raises(AuthError, match="sign-in has expired: sign in again"):
        pull(src, "me|mail|Inbox")
    store = signed_in(graph, client_id, ALICE)
    graph.revoke_access_tokens()
    graph.revoke_consent(client_id, ALICE)
    src = source(graph, client_id, sign_in="user", client_secret="", store=store)
    with pytest.raises(AuthError, match="not \\(or no longer\\) consented"):
        pull(src, "me|mail|Inbox")


# -- calendar ----------------------------------------------------------------------------------


def weekly(count: int) -> dict[str, Any]:
    first = SOON.date()
    return {
        "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": [first.strftime("%A")]},
        "range": {"type": "numbered", "startDate": first.isoformat(), "numberOfOccurrences": count},
    }


def events(batches: list[Batch]) -> list[EventRecord]:
    return [r for b in batches for r in b.records if isinstance(r, EventRecord)]


def test_calendar_series_exceptions_and_cancellations(graph: GraphServer, app_id: str) -> None:
    people = [{"address": "carol@customer.example", "name": "Carol", "response": "accepted"}]
    series = graph.add_event(
        ALICE, subject="Weekly review", start=SOON, end=SOON + timedelta(hours=1),
        time_zone="W. Europe Standard Time", recurrence=weekly(4), attendees=people,
        organizer=("Alice", ALICE), location="Room 1",
    )  # fmt: skip
    graph.add_event(ALICE, subject="Private", start=SOON, end=SOON + timedelta(hours=1),
                    sensitivity="private", attendees=people)  # fmt: skip
    src = source(graph, app_id, page_size=2)
    batches = pull(src, f"{ALICE}|calendar")
    found = sorted(events(batches), key=lambda r: r.starts_at)
    weekly_ones = [r for r in found if r.summary == "Weekly review"]
    assert len(weekly_ones) == 4 and len({r.dedupe_key for r in weekly_ones}) == 4
    assert weekly_ones[0].attendees[0].status == "ACCEPTED" and weekly_ones[0].location == "Room 1"
    assert next(r for r in found if r.summary == "Private").private
    cursor = batches[-1].cursor
    second = SOON + timedelta(days=7)
    graph.modify_occurrence(
        series, second, subject="Moved review",
        start=second + timedelta(hours=2), end=second + timedelta(hours=3),
    )  # fmt: skip
    graph.cancel_occurrence(series, SOON + timedelta(days=14))
    later = pull(src, f"{ALICE}|calendar", cursor)
    [moved] = events(later)
    assert moved.summary == "Moved review"
    assert moved.dedupe_key == weekly_ones[1].dedupe_key  # same occurrence, updated
    assert moved.starts_at - weekly_ones[1].starts_at == timedelta(hours=2)
    assert [d for b in later for d in b.deleted] == [weekly_ones[2].remote_id]
    graph.update_event(series, is_cancelled=True)
    assert {r.status for r in events(pull(src, f"{ALICE}|calendar", later[-1].cursor))} == {
        "CANCELLED"
    }


def vcal_goid(uid: str) -> str:
    """An Outlook global object id that wraps an outside organizer's UID ([MS-OXOCAL])."""
    data = b"vCal-Uid\x01\x00\x00\x00" + uid.encode() + b"\x00"
    head = bytes.fromhex("040000008200E00074C5B7101A82E008") + bytes(4) + bytes(16)
    return binascii.hexlify(head + len(data).to_bytes(4, "little") + data).decode().upper()


def test_same_meeting_keys_as_the_icalendar_parser(graph: GraphServer, app_id: str) -> None:
    """A customer's invitation seen through Graph and as its iCalendar file (CalDAV, EWS):
    the same dedupe key per occurrence, all-day and timed."""
    uid = "kickoff-2026@customer.example"
    start = SOON.replace(hour=9)
    graph.add_event(
        ALICE, subject="Kickoff", start=start, end=start + timedelta(hours=1),
        time_zone="W. Europe Standard Time", ical_uid=vcal_goid(uid), recurrence=weekly(3),
        attendees=[{"address": "ann@customer.example"}],
    )  # fmt: skip
    graph.add_event(
        ALICE, subject="Fair", start=start.replace(hour=0), end=start.replace(hour=0)
        + timedelta(days=1), is_all_day=True, ical_uid="fair@customer.example",
        recurrence=weekly(2), attendees=[{"address": "ann@customer.example"}],
    )  # fmt: skip
    got = {r.dedupe_key for r in events(pull(source(graph, app_id), f"{ALICE}|calendar"))}
    day = start.strftime("%Y%m%d")
    ics = f"""BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//y//EN\r
BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20261101T000000Z\r\nSUMMARY:Kickoff\r
DTSTART;TZID=W. Europe Standard Time:{day}T090000\r\nDURATION:PT1H\r
RRULE:FREQ=WEEKLY;COUNT=3\r\nATTENDEE:mailto:ann@customer.example\r\nEND:VEVENT\r
BEGIN:VEVENT\r\nUID:fair@customer.example\r\nDTSTAMP:20261101T000000Z\r\nSUMMARY:Fair\r
DTSTART;VALUE=DATE:{day}\r\nDTEND;VALUE=DATE:{(start + timedelta(days=1)).strftime("%Y%m%d")}\r
RRULE:FREQ=WEEKLY;COUNT=2\r\nATTENDEE:mailto:ann@customer.example\r\nEND:VEVENT\r
END:VCALENDAR\r\n"""
    now = datetime.now(UTC)
    parsed, failures = parse_calendar(
        ics.encode(), "kickoff.ics", window=(now - timedelta(days=30), now + timedelta(days=90))
    )
    assert not failures and got == {r.dedupe_key for r in parsed} and len(got) == 5


def test_series_uid_of_outlook_ids() -> None:
    goid = "040000008200E00074C5B7101A82E008" + "07EA0B17" + "00" * 16 + "10000000" + "AB" * 16
    assert series_uid(goid) == goid[:32] + "00000000" + goid[40:]
    assert series_uid(vcal_goid("x@y")) == "x@y"
    assert series_uid("plain-uid@host") == "plain-uid@host"


def test_calendar_window_moves_read_afresh(graph: GraphServer, app_id: str) -> None:
    graph.add_event(ALICE, subject="Call", start=SOON, end=SOON + timedelta(hours=1),
                    attendees=[{"address": "ann@customer.example"}])  # fmt: skip
    src = source(graph, app_id)
    cursor = pull(src, f"{ALICE}|calendar")[-1].cursor
    old = datetime.now(UTC) - timedelta(days=400)
    cursor = {**cursor, "window": [old.isoformat(), (old + timedelta(days=730)).isoformat()]}
    assert [r.summary for r in events(pull(src, f"{ALICE}|calendar", cursor))] == ["Call"]


# -- contacts ----------------------------------------------------------------------------------


def test_contacts_initial_incremental_and_deleted(graph: GraphServer, app_id: str) -> None:
    carol = graph.add_contact(
        ALICE, displayName="Carol Customer", givenName="Carol", surname="Customer",
        companyName="Customer GmbH", jobTitle="Buyer",
        emailAddresses=[{"name": "Carol", "address": "carol@customer.example"}],
        businessPhones=["+49 30 1234567"], mobilePhone="+49 170 1234567",
        businessAddress={"street": "Hauptstr. 1", "city": "Berlin", "postalCode": "10115",
                         "countryOrRegion": "Germany"},
    )  # fmt: skip
    graph.add_contact(ALICE, displayName="Acme Ltd", companyName="Acme Ltd")
    src = source(graph, app_id)
    batches = pull(src, f"{ALICE}|contacts")
    cards = {r.name: r for b in batches for r in b.records if isinstance(r, ContactRecord)}
    assert cards["Carol Customer"].phones == (("work", "+49 30 1234567"),
                                              ("mobile", "+49 170 1234567"))  # fmt: skip
    assert cards["Carol Customer"].city == "Berlin" and cards["Carol Customer"].kind == "person"
    assert cards["Acme Ltd"].kind == "organization"
    graph.update_contact(carol, jobTitle="Head of purchasing")
    later = pull(src, f"{ALICE}|contacts", batches[-1].cursor)
    assert [r.title for b in later for r in b.records if isinstance(r, ContactRecord)] == [
        "Head of purchasing"
    ]
    graph.delete_contact(carol)
    assert [d for b in pull(src, f"{ALICE}|contacts", later[-1].cursor) for d in b.deleted] == [
        carol
    ]


def test_unreadable_items_are_quarantined(graph: GraphServer, app_id: str) -> None:
    good = graph.add_message(ALICE, "inbox", mail(1))
    bad = graph.add_message(ALICE, "inbox", mail(2))
    graph.fail_next(rf"/messages/{bad}/\$value", status=500, retry_after=None)
    batches = pull(source(graph, app_id), INBOX)
    assert subjects(batches) == ["Offer 1"]
    [failure] = [f for b in batches for f in b.failures]
    assert failure.remote_id == bad and "could not give its MIME" in failure.reason
    assert good not in [f.remote_id for b in batches for f in b.failures]


def test_a_server_too_slow_to_answer_is_a_transient_error(graph: GraphServer, app_id: str) -> None:
    graph.add_message(ALICE, "inbox", mail(1))
    src = source(graph, app_id, timeout=0.3)
    src.auth.token()  # signed in; then Graph itself is slow
    graph.set_delay(r"/messages/delta", 1.0)
    with pytest.raises(TransientError, match="did not answer in time"):
        pull(src, INBOX)
    graph.set_delay(r"/messages/delta", 0)
    assert subjects(pull(src, INBOX)) == ["Offer 1"]


# -- distribution groups (app-only) ------------------------------------------------------------

CAROL, DAVE = "carol@contoso.onmicrosoft.com", "dave@contoso.onmicrosoft.com"
SALES, LEADS = "sales@contoso.onmicrosoft.com", "leads@contoso.onmicrosoft.com"


def test_the_members_of_groups_are_read_nested_ones_too(graph: GraphServer) -> None:
    for user in (ALICE, BOB, CAROL, DAVE):
        graph.add_user(user)
    graph.add_group(LEADS, DAVE, CAROL)
    graph.add_group(SALES, BOB, CAROL, LEADS)
    graph.add_group("other@contoso.onmicrosoft.com", ALICE)
    graph.directory_page_size = 2  # the members come in pages, linked by @odata.nextLink
    app = graph.add_app(secret=SECRET, roles=(*DEFAULT_ROLES, "GroupMember.Read.All"))
    graph.add_message(CAROL, "inbox", mail(1))
    graph.add_message(DAVE, "inbox", mail(2))
    src = source(graph, app, mailboxes=[ALICE], groups=["Sales@Contoso.onmicrosoft.com"])
    assert src.staff_addresses() == []  # known once the collections are
    ids = [c.id for c in src.collections()]
    assert [i for i in ids if i.endswith("|mail|Inbox")] == [
        f"{m}|mail|Inbox" for m in (ALICE, BOB, CAROL, DAVE)
    ]
    assert src.staff_addresses() == [ALICE, BOB, CAROL, DAVE]
    assert subjects(pull(src, f"{CAROL}|mail|Inbox")) == ["Offer 1"]
    assert subjects(pull(src, f"{DAVE}|mail|Inbox")) == ["Offer 2"]  # only in the nested group
    members = "/transitiveMembers/microsoft.graph.user"
    pages = [r for r in graph.requests if r.path.endswith(members)]
    assert len(pages) == 2 and all(r.status == 200 for r in pages)
    assert [r.query["$filter"] for r in graph.requests if r.path == "/v1.0/groups"] == [
        "mail eq 'sales@contoso.onmicrosoft.com'"
    ]
    probe = source(graph, app, mailboxes=[], groups=[LEADS], calendar=False, contacts=False)
    assert probe.probe() == [f"{DAVE}: Inbox, Sent Items", f"{CAROL}: Inbox, Sent Items"]


def test_a_group_that_is_not_there_is_named(graph: GraphServer) -> None:
    graph.add_user(ALICE)
    graph.add_group(SALES, ALICE)
    app = graph.add_app(secret=SECRET, roles=(*DEFAULT_ROLES, "GroupMember.Read.All"))
    src = source(graph, app, groups=[SALES, "nobody@contoso.onmicrosoft.com"])
    with pytest.raises(SourceError) as caught:
        src.collections()
    assert not isinstance(caught.value, AuthError)
    assert 'no distribution group "nobody@contoso.onmicrosoft.com"' in caught.value.message


def test_a_group_the_app_may_not_read_names_the_permission(graph: GraphServer) -> None:
    graph.add_user(ALICE)
    graph.add_user(BOB)
    graph.add_group(SALES, BOB)
    app = graph.add_app(secret=SECRET)  # Mail.Read and friends, not GroupMember.Read.All
    src = source(graph, app, groups=[SALES])
    with pytest.raises(AuthError) as caught:
        src.collections()
    assert f'cannot read the distribution group "{SALES}"' in caught.value.message
    assert "GroupMember.Read.All" in describe(caught.value)
    assert [r.status for r in graph.requests if r.path == "/v1.0/groups"] == [403]


def test_a_signed_in_user_reads_no_group(graph: GraphServer) -> None:
    graph.add_user(ALICE)
    graph.add_group(SALES, ALICE)
    src = source(graph, "client", sign_in="user", mailboxes=[], groups=[SALES])
    assert src.groups == [] and src.mailboxes() == ["me"]


def test_since_leaves_older_mail_out_on_the_first_and_later_syncs(
    graph: GraphServer, app_id: str
) -> None:
    old, new = datetime(2023, 6, 1, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC)
    for n in range(3):
        graph.add_message(ALICE, "inbox", mail(n), received=old)
    for n in range(3, 5):
        graph.add_message(ALICE, "inbox", mail(n), received=new)
    src = source(graph, app_id, since=datetime(2024, 1, 1).date(), page_size=1)
    batches = pull(src, INBOX)
    assert sorted(subjects(batches)) == ["Offer 3", "Offer 4"]
    graph.add_message(ALICE, "inbox", mail(5), received=old)  # an old mail moved in
    graph.add_message(ALICE, "inbox", mail(6), received=datetime.now(UTC))
    assert subjects(pull(src, INBOX, batches[-1].cursor)) == ["Offer 6"]  # the filter holds
    first = next(r for r in graph.requests if r.path.endswith("/messages/delta"))
    assert first.query["$filter"] == "receivedDateTime ge 2024-01-01T00:00:00Z"


def test_dry_run_counts_a_folder_s_first_sync(graph: GraphServer, app_id: str) -> None:
    for n in range(7):
        graph.add_message(ALICE, "inbox", mail(n))
    src = source(graph, app_id)
    [inbox] = [c for c in src.collections() if c.id == INBOX]
    assert src.estimate(inbox, None) == 7
    cursor = pull(src, INBOX)[-1].cursor
    assert src.estimate(inbox, cursor) is None  # a delta round: Graph cannot count it
    dated = source(graph, app_id, since=datetime(2024, 1, 1).date())
    assert dated.estimate(inbox, None) is None
