"""The Microsoft Graph simulator against the unmodified msal library and plain HTTP.

msal accepts only https authorities, so the simulator serves TLS with a self-signed
certificate; msal gets it through ``http_client=login`` (its own
``verify=`` would lose to ``$REQUESTS_CA_BUNDLE``), the Graph calls through a niquests
session with ``trust_env`` off.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import msal
import niquests
import pytest
import requests

from tests.servers.graph import GraphServer
from tests.servers.graph_state import make_certificate

ALICE, BOB = "alice@contoso.example", "bob@contoso.example"
GRAPH_DEFAULT = ["https://graph.microsoft.com/.default"]


def mime(n: int, *, sensitivity: str | None = None, size: int = 0) -> bytes:
    extra = f"Sensitivity: {sensitivity}\r\n" if sensitivity else ""
    body = f"Hello number {n}.\r\n" + "x" * size
    return (
        f"From: Bob Customer <bob@customer.example>\r\nTo: Alice <{ALICE}>\r\n"
        f"Cc: carol@customer.example\r\nSubject: Offer {n}\r\nMessage-ID: <m{n}@customer.example>"
        f"\r\nDate: Mon, 01 Jan 2024 10:00:00 +0100\r\n{extra}Content-Type: text/plain\r\n\r\n"
        f"{body}"
    ).encode()


@pytest.fixture
def app_id(graph: GraphServer) -> str:
    graph.add_user(ALICE, "Alice Staff")
    graph.add_user(BOB, "Bob Staff")
    return graph.add_app(secret="s3cret")


@pytest.fixture
def http(graph: GraphServer, app_id: str) -> Iterator[niquests.Session]:
    """A Graph session with an app-only token from the simulator's own API."""
    with niquests.Session() as session:
        session.trust_env = False
        session.verify = str(graph.ca_file)
        session.headers["Authorization"] = "Bearer " + graph.issue_token(app_id)
        yield session


@pytest.fixture
def login(graph: GraphServer) -> Iterator[requests.Session]:
    """The HTTP client msal gets (closed at the end, or the socket warns)."""
    with graph.http_session() as session:
        yield session


def confidential(
    login: requests.Session, graph: GraphServer, client_id: str, credential: Any
) -> Any:
    return msal.ConfidentialClientApplication(
        client_id,
        client_credential=credential,
        authority=graph.authority,
        instance_discovery=False,
        http_client=login,
    )


def drain(http: niquests.Session, url: str, **headers: str) -> tuple[list[dict[str, Any]], str]:
    """All pages of a delta round: (items, deltaLink)."""
    items: list[dict[str, Any]] = []
    while True:
        answer = http.get(url, headers=headers)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        items += page["value"]
        if "@odata.deltaLink" in page:
            return items, page["@odata.deltaLink"]
        url = page["@odata.nextLink"]


# -- identity ---------------------------------------------------------------------------------


def test_client_secret_through_msal(
    graph: GraphServer, app_id: str, login: requests.Session
) -> None:
    result = confidential(login, graph, app_id, "s3cret").acquire_token_for_client(GRAPH_DEFAULT)
    claims = json.loads(base64.urlsafe_b64decode(result["access_token"].split(".")[1] + "=="))
    assert result["token_type"] == "Bearer" and claims["tid"] == graph.tenant_id
    assert {"Mail.Read", "Calendars.Read", "Contacts.Read"} <= set(claims["roles"])
    wrong = confidential(login, graph, app_id, "nope").acquire_token_for_client(GRAPH_DEFAULT)
    assert wrong["error"] == "invalid_client" and wrong["error_codes"] == [7000215]
    assert wrong["error_description"].startswith("AADSTS7000215:")
    unknown = confidential(login, graph, "no-such-app", "s3cret").acquire_token_for_client(
        GRAPH_DEFAULT
    )
    assert unknown["error"] == "unauthorized_client"
    bad_scope = confidential(login, graph, app_id, "s3cret").acquire_token_for_client(["Mail.Read"])
    assert bad_scope["error"] == "invalid_scope"


def test_certificate_credential_both_thumbprints(
    graph: GraphServer, login: requests.Session
) -> None:
    key, cert = make_certificate()
    client_id = graph.add_app(certificate=cert)
    modern = {"private_key": key, "public_certificate": cert}  # PS256, x5t#S256
    assert "access_token" in confidential(login, graph, client_id, modern).acquire_token_for_client(
        GRAPH_DEFAULT
    )
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    sha1 = x509.load_pem_x509_certificate(cert.encode()).fingerprint(hashes.SHA1()).hex()  # noqa: S303
    legacy = {"private_key": key, "thumbprint": sha1}  # RS256, x5t
    assert "access_token" in confidential(login, graph, client_id, legacy).acquire_token_for_client(
        GRAPH_DEFAULT
    )
    other_key, _ = make_certificate()
    forged = {"private_key": other_key, "public_certificate": cert}
    result = confidential(login, graph, client_id, forged).acquire_token_for_client(GRAPH_DEFAULT)
    assert result["error"] == "invalid_client" and result["error_codes"] == [700027]


def test_instance_discovery_endpoint_and_unknown_tenant(
    graph: GraphServer, app_id: str, login: requests.Session
) -> None:
    app = msal.ConfidentialClientApplication(
        app_id,
        client_credential="s3cret",
        authority=graph.authority,
        instance_discovery=f"{graph.base_url}/common/discovery/instance",
        http_client=login,
    )
    assert "access_token" in app.acquire_token_for_client(GRAPH_DEFAULT)
    with pytest.raises(ValueError, match="no-such-tenant"):
        msal.ConfidentialClientApplication(
            app_id,
            client_credential="s3cret",
            authority=graph.base_url + "/no-such-tenant",
            instance_discovery=False,
            http_client=login,
        )
    answer = login.get(graph.base_url + "/no-such-tenant/v2.0/.well-known/openid-configuration")
    assert answer.status_code == 400 and answer.json()["error_codes"] == [90002]


def test_device_code_refresh_and_revocations(graph: GraphServer, login: requests.Session) -> None:
    graph.add_user(ALICE)
    client_id = graph.add_app(public_client=True)
    app = msal.PublicClientApplication(
        client_id,
        authority=graph.authority,
        instance_discovery=False,
        http_client=login,
    )
    flow = app.initiate_device_flow(scopes=["User.Read", "Mail.Read"])
    assert flow["user_code"] in flow["message"]
    pending = app.acquire_token_by_device_flow(flow, exit_condition=lambda flow: True)
    assert pending["error"] == "authorization_pending" and pending["error_codes"] == [70016]
    graph.approve_device_code(flow["user_code"], ALICE)
    flow["latest_attempt_at"] = 0
    result = app.acquire_token_by_device_flow(flow)
    assert result["id_token_claims"]["preferred_username"] == ALICE
    with niquests.Session() as http:
        http.trust_env, http.verify = False, str(graph.ca_file)
        me = http.get(
            f"{graph.graph_url}/me", headers={"Authorization": "Bearer " + result["access_token"]}
        )
        assert me.json()["userPrincipalName"] == ALICE
    assert graph.requests[-1].principal == ALICE
    scopes = ["Mail.Read"]
    again = app.acquire_token_by_refresh_token(result["refresh_token"], scopes)
    assert "access_token" in again and again["refresh_token"] != result["refresh_token"]
    graph.expire_refresh_tokens(ALICE)
    expired = app.acquire_token_by_refresh_token(again["refresh_token"], scopes)
    assert expired["error"] == "invalid_grant" and expired["error_codes"] == [700082]

    def fresh_refresh_token() -> str:
        code = graph.issue_auth_code(
            client_id, ALICE, "http://localhost", "offline_access Mail.Read"
        )
        form = {
            "client_id": client_id,
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": "http://localhost",
            "scope": "offline_access Mail.Read",
        }
        return str(
            login.post(graph.authority + "/oauth2/v2.0/token", data=form).json()["refresh_token"]
        )

    # msal remembers a refresh token's failure for a while: each case gets its own token
    token = fresh_refresh_token()
    graph.revoke_consent(client_id, ALICE)
    assert app.acquire_token_by_refresh_token(token, scopes)["error_codes"] == [65001]
    graph.grant_consent(client_id, ALICE)
    token = fresh_refresh_token()
    graph.revoke_refresh_tokens(ALICE)
    revoked = app.acquire_token_by_refresh_token(token, scopes)
    assert revoked["error_codes"] == [50173]


def test_auth_code_flow_with_pkce(graph: GraphServer, login: requests.Session) -> None:
    graph.add_user(ALICE)
    redirect = "http://localhost:8400/callback"
    client_id = graph.add_app(secret="s3cret", redirect_uris=(redirect,))
    app = confidential(login, graph, client_id, "s3cret")
    with pytest.warns(UserWarning, match="form_post"):  # msal's advice; query mode is served
        flow = app.initiate_auth_code_flow(["Mail.Read"], redirect_uri=redirect)
    session = login
    assert (
        "login_required" in session.get(flow["auth_uri"], allow_redirects=False).headers["Location"]
    )
    graph.sign_in(ALICE)
    location = session.get(flow["auth_uri"], allow_redirects=False).headers["Location"]
    params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
    result = app.acquire_token_by_auth_code_flow(flow, params)
    assert result["id_token_claims"]["oid"] == graph.user_id(ALICE)
    assert "refresh_token" in result
    redeemed = app.acquire_token_by_authorization_code(params["code"], ["Mail.Read"], redirect)
    assert redeemed["error_codes"] == [54005]
    code = graph.issue_auth_code(client_id, ALICE, redirect)
    mismatch = app.acquire_token_by_authorization_code(code, ["Mail.Read"], redirect + "x")
    assert mismatch["error"] == "invalid_grant" and mismatch["error_codes"] == [500112]
    verifier = "v" * 50
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    code = graph.issue_auth_code(
        client_id, ALICE, redirect, code_challenge=challenge.decode().rstrip("=")
    )
    wrong = app.acquire_token_by_authorization_code(
        code, ["Mail.Read"], redirect, data={"code_verifier": "w" * 50}
    )
    assert wrong["error_codes"] == [50148]


# -- Graph: users, folders, access ---------------------------------------------------------------


def test_users_folders_and_paging(graph: GraphServer, http: niquests.Session) -> None:
    alice = graph.user_id(ALICE)
    by_upn = http.get(f"{graph.graph_url}/users/{ALICE}").json()
    assert by_upn["id"] == alice and by_upn["mail"] == ALICE
    assert http.get(f"{graph.graph_url}/users/{alice}").json()["displayName"] == "Alice Staff"
    missing = http.get(f"{graph.graph_url}/users/nobody@contoso.example/mailFolders")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "ErrorInvalidUser"
    inbox = http.get(f"{graph.graph_url}/users/{ALICE}/mailFolders/inbox").json()
    assert inbox["id"] == graph.folder_id(ALICE, "inbox") and inbox["displayName"] == "Inbox"
    sub = graph.add_folder(ALICE, "Customers", "inbox")
    children = http.get(f"{graph.graph_url}/users/{ALICE}/mailFolders/inbox/childFolders").json()
    assert [f["id"] for f in children["value"]] == [sub]
    first = http.get(f"{graph.graph_url}/users/{ALICE}/mailFolders?$top=5").json()
    assert len(first["value"]) == 5 and "$skip=5" in first["@odata.nextLink"]
    rest = http.get(first["@odata.nextLink"]).json()
    names = {f["displayName"] for f in first["value"] + rest["value"]}
    assert {"Inbox", "Sent Items", "Deleted Items", "Drafts", "Archive"} <= names


def test_access_policy_roles_and_token_faults(
    graph: GraphServer, app_id: str, http: niquests.Session
) -> None:
    graph.restrict_app(app_id, ALICE)
    ok = http.get(f"{graph.graph_url}/users/{ALICE}/mailFolders/inbox")
    denied = http.get(f"{graph.graph_url}/users/{BOB}/mailFolders/inbox")
    assert ok.status_code == 200 and denied.status_code == 403
    assert denied.json()["error"]["code"] == "ErrorAccessDenied"
    assert http.get(f"{graph.graph_url}/users/{BOB}").status_code == 200  # directory, not mail
    me = http.get(f"{graph.graph_url}/me")
    assert me.status_code == 400
    no_mail = graph.add_app(secret="x", roles=("Calendars.Read",))
    bare = {"Authorization": "Bearer " + graph.issue_token(no_mail)}
    assert http.get(f"{graph.graph_url}/users/{ALICE}/messages", headers=bare).status_code == 403
    delegated = {"Authorization": "Bearer " + graph.issue_token(app_id, ALICE)}
    other = http.get(f"{graph.graph_url}/users/{BOB}/messages", headers=delegated)
    assert other.status_code == 403
    graph.expire_access_tokens()
    expired = http.get(f"{graph.graph_url}/users/{ALICE}")
    assert expired.status_code == 401
    assert expired.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert expired.headers["WWW-Authenticate"].startswith("Bearer")
    anonymous = http.get(f"{graph.graph_url}/users/{ALICE}", headers={"Authorization": ""})
    assert anonymous.status_code == 401
    assert [r.principal for r in graph.requests[:2]] == [f"app:{app_id}"] * 2


# -- mail --------------------------------------------------------------------------------------


def test_message_delta_rounds(graph: GraphServer, http: niquests.Session) -> None:
    ids = [graph.add_message(ALICE, "inbox", mime(n)) for n in range(25)]
    url = f"{graph.graph_url}/users/{ALICE}/mailFolders/inbox/messages/delta"
    select = "?$select=subject,from,toRecipients,internetMessageId,receivedDateTime"
    items, delta = drain(http, url + select, Prefer="odata.maxpagesize=10")
    assert len(items) == 25 and {i["id"] for i in items} == set(ids)
    first = next(i for i in items if i["id"] == ids[0])
    assert first["subject"] == "Offer 0" and first["internetMessageId"] == "<m0@customer.example>"
    assert first["from"]["emailAddress"] == {
        "name": "Bob Customer",
        "address": "bob@customer.example",
    }
    assert "body" not in first and "$deltatoken=" in delta
    assert sum(1 for r in graph.requests if "delta" in r.path) == 3
    assert drain(http, delta)[0] == []
    new = graph.add_message(ALICE, "inbox", mime(99))
    graph.update_message(ids[1], categories=("Customer",), is_read=True)
    graph.delete_message(ids[2])
    graph.move_message(ids[3], "archive")
    changes, delta2 = drain(http, delta)
    by_id = {c["id"]: c for c in changes}
    assert set(by_id) == {new, ids[1], ids[2], ids[3]}
    assert by_id[ids[2]]["@removed"] == {"reason": "deleted"} and "@removed" in by_id[ids[3]]
    assert by_id[ids[1]]["subject"] == "Offer 1" and "body" not in by_id[ids[1]]  # $select kept
    graph.invalidate_delta_tokens()
    gone = http.get(delta2)
    assert gone.status_code == 410 and gone.json()["error"]["code"] == "syncStateNotFound"
    items, delta3 = drain(http, url)
    graph.invalidate_delta_tokens("resyncRequired")
    assert http.get(delta3).json()["error"]["code"] == "resyncRequired"
    full = items[0]
    assert full["body"]["contentType"] == "text" and full["bodyPreview"].startswith("Hello")
    assert full["ccRecipients"][0]["emailAddress"]["address"] == "carol@customer.example"
    assert full["sentDateTime"] == "2024-01-01T09:00:00Z" and full["changeKey"]


def test_mime_value_and_sensitivity(graph: GraphServer, http: niquests.Session) -> None:
    raw = mime(1, sensitivity="Private")
    private = graph.add_message(ALICE, "inbox", raw)
    plain = graph.add_message(ALICE, "inbox", mime(2))
    value = http.get(f"{graph.graph_url}/users/{ALICE}/messages/{private}/$value")
    assert value.status_code == 200 and value.content == raw
    expand = "$expand=singleValueExtendedProperties($filter=id eq 'Integer 0x36')"
    url = f"{graph.graph_url}/users/{ALICE}/mailFolders/inbox/messages/delta?$select=id&{expand}"
    items = {i["id"]: i for i in drain(http, url)[0]}
    assert items[private]["singleValueExtendedProperties"] == [{"id": "Integer 0x36", "value": "2"}]
    assert "singleValueExtendedProperties" not in items[plain]
    missing = http.get(f"{graph.graph_url}/users/{ALICE}/messages/nope/$value")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "ErrorItemNotFound"


def test_batch_of_mime_values(graph: GraphServer, http: niquests.Session) -> None:
    ids = [graph.add_message(ALICE, "inbox", mime(n)) for n in range(3)]
    graph.fail_next(r"/messages/.*/\$value", status=429, retry_after=7)
    steps = [
        {"id": str(n), "method": "GET", "url": f"/users/{ALICE}/messages/{i}/$value"}
        for n, i in enumerate(ids)
    ]
    steps.append({"id": "me", "method": "GET", "url": f"/users/{ALICE}?$select=mail"})
    answer = http.post(f"{graph.graph_url}/$batch", json={"requests": steps})
    assert answer.status_code == 200
    responses = {r["id"]: r for r in answer.json()["responses"]}
    assert responses["0"]["status"] == 429 and responses["0"]["headers"]["Retry-After"] == "7"
    assert base64.b64decode(responses["1"]["body"]) == mime(1)
    assert responses["me"]["body"]["mail"] == ALICE
    too_many = [{"id": str(n), "method": "GET", "url": "/users/" + ALICE} for n in range(21)]
    assert http.post(f"{graph.graph_url}/$batch", json={"requests": too_many}).status_code == 400
    assert [r.batch for r in graph.requests if r.batch] == ["0", "1", "2", "me"]


def test_throttling_retry_same_page_and_slowness(
    graph: GraphServer, http: niquests.Session
) -> None:
    for n in range(5):
        graph.add_message(ALICE, "inbox", mime(n))
    url = f"{graph.graph_url}/users/{ALICE}/mailFolders/inbox/messages/delta?$select=subject"
    page = http.get(url, headers={"Prefer": "odata.maxpagesize=2"}).json()
    graph.fail_next("messages/delta", status=429, retry_after=3)
    graph.fail_next("messages/delta", status=503, retry_after=2)
    throttled = http.get(page["@odata.nextLink"])
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "3"
    assert throttled.json()["error"]["code"] == "TooManyRequests"
    unavailable = http.get(page["@odata.nextLink"])
    assert unavailable.status_code == 503 and unavailable.headers["Retry-After"] == "2"
    one = http.get(page["@odata.nextLink"]).json()
    two = http.get(page["@odata.nextLink"]).json()
    assert [i["id"] for i in one["value"]] == [i["id"] for i in two["value"]]
    graph.set_delay("/users/", 0.3)
    began = time.monotonic()
    assert http.get(f"{graph.graph_url}/users/{ALICE}").status_code == 200
    assert time.monotonic() - began >= 0.3
    graph.set_delay("/users/", 0)


def test_many_messages_fast(graph: GraphServer, http: niquests.Session) -> None:
    """A small version of the benchmark: 1,000 mails of 5 KB by delta pages and $batch."""
    for n in range(1000):
        graph.add_message(ALICE, "inbox", mime(n, size=5000))
    began = time.monotonic()
    url = f"{graph.graph_url}/users/{ALICE}/mailFolders/inbox/messages/delta?$select=id"
    items, _ = drain(http, url, Prefer="odata.maxpagesize=500")
    fetched = 0
    for start in range(0, len(items), 20):
        steps = [
            {"id": i["id"], "method": "GET", "url": f"/users/{ALICE}/messages/{i['id']}/$value"}
            for i in items[start : start + 20]
        ]
        answer = http.post(f"{graph.graph_url}/$batch", json={"requests": steps}).json()
        fetched += sum(len(base64.b64decode(r["body"])) > 5000 for r in answer["responses"])
    assert fetched == 1000
    assert time.monotonic() - began < 10


# -- calendar and contacts ---------------------------------------------------------------------


def test_calendar_view_delta_with_series(graph: GraphServer, http: niquests.Session) -> None:
    single = graph.add_event(
        ALICE,
        subject="Kick-off",
        start=dt.datetime(2024, 3, 4, 10),
        end=dt.datetime(2024, 3, 4, 11),
        sensitivity="private",
        location="Room 1",
        organizer=("Bob", "bob@customer.example"),
        attendees=[{"address": ALICE, "response": "accepted"}],
    )
    weekly = {
        "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["tuesday"]},
        "range": {"type": "numbered", "startDate": "2024-03-05", "numberOfOccurrences": 4},
    }
    master = graph.add_event(
        ALICE,
        subject="Weekly",
        start=dt.datetime(2024, 3, 5, 9),
        end=dt.datetime(2024, 3, 5, 9, 30),
        recurrence=weekly,
    )
    graph.modify_occurrence(
        master,
        dt.datetime(2024, 3, 12, 9),
        subject="Weekly (moved)",
        start=dt.datetime(2024, 3, 12, 14),
        end=dt.datetime(2024, 3, 12, 15),
    )
    graph.cancel_occurrence(master, dt.datetime(2024, 3, 19, 9))
    graph.add_event(
        ALICE,
        subject="Holiday",
        start=dt.datetime(2024, 3, 8),
        end=dt.datetime(2024, 3, 9),
        is_all_day=True,
    )
    window = "startDateTime=2024-03-01T00:00:00Z&endDateTime=2024-04-01T00:00:00Z"
    url = f"{graph.graph_url}/users/{ALICE}/calendarView/delta?{window}"
    items, delta = drain(http, url, Prefer="odata.maxpagesize=2")
    by_subject = {i["subject"]: i for i in items}
    assert sorted(by_subject) == ["Holiday", "Kick-off", "Weekly", "Weekly (moved)"]
    assert len(items) == 5  # 2 plain occurrences, 1 exception, no master, no cancelled one
    kick = by_subject["Kick-off"]
    assert kick["type"] == "singleInstance" and kick["sensitivity"] == "private"
    assert kick["start"] == {"dateTime": "2024-03-04T09:00:00.0000000", "timeZone": "UTC"}
    assert kick["originalStartTimeZone"] == "W. Europe Standard Time"
    assert kick["attendees"][0]["status"]["response"] == "accepted"
    moved = by_subject["Weekly (moved)"]
    assert moved["type"] == "exception" and moved["seriesMasterId"] == master
    assert moved["originalStart"] == "2024-03-12T08:00:00Z"
    occurrences = [i for i in items if i["type"] == "occurrence"]
    assert len(occurrences) == 2 and len({o["iCalUId"] for o in occurrences}) == 2
    assert by_subject["Holiday"]["isAllDay"] and by_subject["Holiday"]["start"]["dateTime"] == (
        "2024-03-08T00:00:00.0000000"
    )
    berlin = http.get(url, headers={"Prefer": 'outlook.timezone="W. Europe Standard Time"'})
    start = next(i for i in berlin.json()["value"] if i["id"] == single)["start"]
    assert start == {
        "dateTime": "2024-03-04T10:00:00.0000000",
        "timeZone": "W. Europe Standard Time",
    }
    graph.cancel_occurrence(master, dt.datetime(2024, 3, 26, 9))
    graph.update_event(single, subject="Kick-off (new time)")
    changes = {c["id"]: c for c in drain(http, delta)[0]}
    assert changes[single]["subject"] == "Kick-off (new time)"
    removed = [c for c in changes.values() if "@removed" in c]
    assert [c["@removed"] for c in removed] == [{"reason": "deleted"}]
    assert len(changes) == 2
    master_json = http.get(f"{graph.graph_url}/users/{ALICE}/events/{master}").json()
    assert master_json["type"] == "seriesMaster" and master_json["recurrence"] == weekly
    bad = http.get(f"{graph.graph_url}/users/{ALICE}/calendarView/delta")
    assert bad.status_code == 400


def test_contacts_delta(graph: GraphServer, http: niquests.Session) -> None:
    anna = graph.add_contact(
        ALICE,
        displayName="Anna Buyer",
        givenName="Anna",
        surname="Buyer",
        companyName="Customer AG",
        jobTitle="Purchasing",
        emailAddresses=[{"name": "Anna Buyer", "address": "anna@customer.example"}],
        businessPhones=["+49 30 1234"],
        mobilePhone="+49 170 1",
        homePhones=[],
        businessAddress={"street": "Hauptstr. 1", "city": "Berlin", "countryOrRegion": "DE"},
        categories=["Customer"],
        personalNotes="met at fair",
    )
    other = graph.add_contact(ALICE, displayName="Other")
    url = f"{graph.graph_url}/users/{ALICE}/contacts/delta"
    items, delta = drain(http, url)
    contact = next(i for i in items if i["id"] == anna)
    assert contact["emailAddresses"][0]["address"] == "anna@customer.example"
    assert contact["businessAddress"]["city"] == "Berlin" and contact["jobTitle"] == "Purchasing"
    folder = graph.add_contact_folder(ALICE, "Customers")
    graph.add_contact(ALICE, folder, displayName="In folder")
    graph.update_contact(anna, jobTitle="Head of Purchasing")
    graph.delete_contact(other)
    changes = {c["id"]: c for c in drain(http, delta)[0]}
    assert changes[anna]["jobTitle"] == "Head of Purchasing" and "@removed" in changes[other]
    assert len(changes) == 2
    folder_url = f"{graph.graph_url}/users/{ALICE}/contactFolders/{folder}/contacts/delta"
    assert [c["displayName"] for c in drain(http, folder_url + "?$select=displayName")[0]] == [
        "In folder"
    ]


def test_plain_http_without_msal() -> None:
    """``tls=False`` for a client that takes its token from the test API (a benchmark)."""
    with GraphServer.start(tls=False) as graph:
        graph.add_user(ALICE)
        token = graph.issue_token(graph.add_app(secret="x"))
        assert graph.graph_url.startswith("http://") and graph.ca_file is None
        with niquests.Session() as http:
            answer = http.get(
                f"{graph.graph_url}/users/{ALICE}", headers={"Authorization": "Bearer " + token}
            )
        assert answer.status_code == 200 and answer.json()["userPrincipalName"] == ALICE
