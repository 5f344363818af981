"""The follow-ups as a read-only CalDAV task list, request by request (RFC 4791): the
principal's calendar-home-set, the home and the list described by PROPFIND, GET with
conditions, calendar-multiget and calendar-query, refused writes, and rights."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import icalendar
import pytest
from defusedxml.ElementTree import fromstring
from sqlalchemy import select

from crm.models import FollowUp, User, utcnow
from tests.carddav_protocol.conftest import D, World, error_condition, multistatus

CAL = "{urn:ietf:params:xml:ns:caldav}"
CS = "{http://calendarserver.org/ns/}"
HOME = "/dav/calendars/staff/"
TASKS = "/dav/calendars/staff/follow-ups/"
NS = 'xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"'
PROPFIND_CALENDAR = (
    '<D:propfind xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"'
    ' xmlns:CS="http://calendarserver.org/ns/"><D:prop>'
    "<D:resourcetype/><D:displayname/><C:supported-calendar-component-set/>"
    "<CS:getctag/><D:current-user-privilege-set/><D:supported-report-set/>"
    "</D:prop></D:propfind>"
)


@dataclass
class Tasks:
    """The follow-ups made for the tests, by name: their UIDs."""

    uids: dict[str, str]


@pytest.fixture
def tasks(world: World) -> Tasks:
    """For user "staff": one open (due in a week, waiting for a reply), one overdue, one
    done yesterday, one cancelled yesterday, one done 40 days ago (no longer listed);
    for "other": one open."""
    now = utcnow()
    today = date.today()
    with world.sessions.begin() as session:
        users = {u.name: u.id for u in session.scalars(select(User))}
        ann = world.people["Ann Smith"].id
        acme = world.orgs["ACME"].id
        rows = {
            "open": FollowUp(
                person_id=ann,
                assignee_id=users["staff"],
                due_on=today + timedelta(days=7),
                note="Send the offer\nwith the new prices",
                waiting_for_reply=True,
                created_by="staff",
            ),
            "overdue": FollowUp(
                organization_id=acme,
                assignee_id=users["staff"],
                due_on=today - timedelta(days=3),
                created_by="staff",
            ),
            "done": FollowUp(
                person_id=ann,
                assignee_id=users["staff"],
                due_on=today - timedelta(days=2),
                note="Call back",
                status="done",
                closed_at=now - timedelta(days=1),
                created_by="staff",
            ),
            "cancelled": FollowUp(
                organization_id=acme,
                assignee_id=users["staff"],
                due_on=today,
                note="Visit",
                status="cancelled",
                closed_at=now - timedelta(days=1),
                created_by="staff",
            ),
            "old": FollowUp(
                organization_id=acme,
                assignee_id=users["staff"],
                due_on=today - timedelta(days=50),
                status="done",
                closed_at=now - timedelta(days=40),
                created_by="staff",
            ),
            "others": FollowUp(
                person_id=ann,
                assignee_id=users["other"],
                due_on=today,
                note="Not for staff",
                created_by="other",
            ),
        }
        session.add_all(rows.values())
        session.flush()
        return Tasks({name: row.uid for name, row in rows.items()})


def item(uid: str) -> str:
    return f"{TASKS}{uid}.ics"


def vtodo(text: str) -> icalendar.Todo:
    calendar = icalendar.Calendar.from_ical(text)
    (found,) = calendar.walk("VTODO")
    return found


def test_discovery_principal_home_and_task_list(world: World, tasks: Tasks) -> None:
    dav = world.dav()
    body = f"<D:propfind {NS}><D:prop><C:calendar-home-set/></D:prop></D:propfind>"
    principal = multistatus(dav.propfind("/dav/principals/staff/", body))
    home_set = principal["/dav/principals/staff/"].prop(CAL + "calendar-home-set")
    assert home_set.findtext(D + "href") == HOME

    listing = multistatus(dav.propfind(HOME, PROPFIND_CALENDAR, depth="1"))
    assert list(listing) == [HOME, TASKS]
    assert listing[HOME].prop(D + "resourcetype").find(CAL + "calendar") is None
    tasklist = listing[TASKS]
    assert tasklist.prop(D + "resourcetype").find(CAL + "calendar") is not None
    assert tasklist.prop(D + "resourcetype").find(D + "collection") is not None
    assert tasklist.prop(D + "displayname").text == "Follow-ups (crmsync)"
    comps = tasklist.prop(CAL + "supported-calendar-component-set").findall(CAL + "comp")
    assert [c.get("name") for c in comps] == ["VTODO"]
    assert tasklist.prop(CS + "getctag").text
    privileges = {
        p.tag
        for p in tasklist.prop(D + "current-user-privilege-set").iter()
        if p.tag != D + "privilege"
    }
    assert D + "read" in privileges and D + "write" not in privileges
    assert D + "write-content" not in privileges
    reports = tasklist.prop(D + "supported-report-set")
    assert reports.find(f".//{CAL}calendar-multiget") is not None
    assert reports.find(f".//{CAL}calendar-query") is not None


def test_depth_one_lists_the_users_own_follow_ups(world: World, tasks: Tasks) -> None:
    etags = (
        '<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/><D:getcontenttype/></D:prop></D:propfind>'
    )
    listing = multistatus(world.dav().propfind(TASKS, etags, depth="1"))
    wanted = {item(tasks.uids[k]) for k in ("open", "overdue", "done", "cancelled")}
    assert set(listing) == {TASKS, *wanted}
    for path in wanted:
        assert listing[path].prop(D + "getetag").text
        assert listing[path].prop(D + "getcontenttype").text.startswith("text/calendar")
    one = multistatus(world.dav().propfind(item(tasks.uids["open"]), etags))
    assert list(one) == [item(tasks.uids["open"])]


def test_get_a_todo_with_etag_conditions(world: World, tasks: Tasks) -> None:
    dav = world.dav()
    path = item(tasks.uids["open"])
    response = dav.request("GET", path)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/calendar")
    etag = response.headers["ETag"]
    text = response.get_data(as_text=True)
    todo = vtodo(text)
    assert str(todo["UID"]) == tasks.uids["open"]
    assert str(todo["SUMMARY"]) == "Ann Smith: Send the offer"
    assert "Send the offer\nwith the new prices" in str(todo["DESCRIPTION"])
    assert "Waiting for a reply" in str(todo["DESCRIPTION"])
    assert todo.decoded("DUE") == date.today() + timedelta(days=7)
    assert "DUE;VALUE=DATE:" in text
    assert str(todo["STATUS"]) == "NEEDS-ACTION"
    assert "COMPLETED" not in todo
    assert str(todo["URL"]) == f"http://localhost/people/{world.people['Ann Smith'].id}"
    assert "ATTENDEE" not in text and "ORGANIZER" not in text
    assert "crmsync" in text and "PRODID:" in text
    assert dav.request("GET", path, **{"If-None-Match": etag}).status_code == 304
    assert dav.request("GET", path, **{"If-None-Match": '"other"'}).status_code == 200
    assert dav.request("GET", path, **{"If-Match": '"other"'}).status_code == 412
    head = dav.request("HEAD", path)
    assert head.status_code == 200 and head.get_data() == b""
    assert head.headers["ETag"] == etag
    # a closed one: completed; an old one and another user's are not there
    done = vtodo(dav.request("GET", item(tasks.uids["done"])).get_data(as_text=True))
    assert str(done["STATUS"]) == "COMPLETED" and "COMPLETED" in done
    assert int(done["PERCENT-COMPLETE"]) == 100
    cancelled = vtodo(dav.request("GET", item(tasks.uids["cancelled"])).get_data(as_text=True))
    assert str(cancelled["STATUS"]) == "CANCELLED"
    overdue = vtodo(dav.request("GET", item(tasks.uids["overdue"])).get_data(as_text=True))
    assert str(overdue["SUMMARY"]) == "Follow up ACME; Inc, Ltd"
    assert dav.request("GET", item(tasks.uids["old"])).status_code == 404
    assert dav.request("GET", item(tasks.uids["others"])).status_code == 404
    assert dav.request("GET", item("nobody")).status_code == 404


def _report_items(response_body: bytes) -> dict[str, tuple[str, str]]:
    root = fromstring(response_body)
    found = {}
    for response in root.findall(D + "response"):
        prop = response.find(f"{D}propstat/{D}prop")
        if prop is None:
            continue
        found[response.findtext(D + "href") or ""] = (
            prop.findtext(D + "getetag") or "",
            prop.findtext(CAL + "calendar-data") or "",
        )
    return found


def test_calendar_multiget(world: World, tasks: Tasks) -> None:
    paths = [item(tasks.uids["open"]), item(tasks.uids["done"]), item(tasks.uids["others"])]
    body = (
        f"<C:calendar-multiget {NS}><D:prop><D:getetag/><C:calendar-data/></D:prop>"
        + "".join(f"<D:href>{p}</D:href>" for p in paths)
        + "</C:calendar-multiget>"
    )
    response = world.dav().report(TASKS, body)
    answers = multistatus(response)
    assert answers[paths[2]].status == 404
    found = _report_items(response.get_data())
    assert set(found) == set(paths[:2])
    etag, data = found[paths[0]]
    assert "\r\n" in data  # CRLF kept
    assert str(vtodo(data)["UID"]) == tasks.uids["open"]
    assert world.dav().request("GET", paths[0]).headers["ETag"] == etag


def query_body(inner: str = '<C:comp-filter name="VTODO"/>') -> str:
    return (
        f"<C:calendar-query {NS}><D:prop><D:getetag/><C:calendar-data/></D:prop>"
        f'<C:filter><C:comp-filter name="VCALENDAR">{inner}</C:comp-filter></C:filter>'
        "</C:calendar-query>"
    )


def test_calendar_query(world: World, tasks: Tasks) -> None:
    dav = world.dav()
    mine = {item(tasks.uids[k]) for k in ("open", "overdue", "done", "cancelled")}
    found = _report_items(dav.report(TASKS, query_body()).get_data())
    assert set(found) == mine
    assert all("BEGIN:VTODO" in data for _, data in found.values())
    # a time-range is not applied: every to-do
    ranged = query_body(
        '<C:comp-filter name="VTODO"><C:time-range start="20000101T000000Z"/></C:comp-filter>'
    )
    assert set(_report_items(dav.report(TASKS, ranged).get_data())) == mine
    # no events here
    assert (
        _report_items(dav.report(TASKS, query_body('<C:comp-filter name="VEVENT"/>')).get_data())
        == {}
    )
    # what a client asking for the open ones sends
    pending = query_body(
        '<C:comp-filter name="VTODO"><C:prop-filter name="COMPLETED"><C:is-not-defined/>'
        '</C:prop-filter><C:prop-filter name="STATUS"><C:text-match negate-condition="yes">'
        "CANCELLED</C:text-match></C:prop-filter></C:comp-filter>"
    )
    assert set(_report_items(dav.report(TASKS, pending).get_data())) == {
        item(tasks.uids["open"]),
        item(tasks.uids["overdue"]),
    }
    # sync-collection is not offered on the task list
    sync = (
        '<D:sync-collection xmlns:D="DAV:"><D:sync-token/>'
        "<D:prop><D:getetag/></D:prop></D:sync-collection>"
    )
    refused = dav.report(TASKS, sync)
    assert refused.status_code == 403
    assert D + "supported-report" in error_condition(refused)


@pytest.mark.parametrize("method", ["PUT", "DELETE", "MKCALENDAR", "PROPPATCH", "MKCOL"])
def test_writes_are_refused(world: World, tasks: Tasks, method: str) -> None:
    path = item(tasks.uids["open"]) if method in ("PUT", "DELETE") else TASKS
    if method == "MKCALENDAR":
        path = "/dav/calendars/staff/new/"
    body = b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n" if method == "PUT" else b""
    response = world.dav().request(method, path, body)
    assert response.status_code == 403
    assert D + "need-privileges" in error_condition(response)
    assert b"read-only" in response.get_data()
    assert world.dav().request("GET", item(tasks.uids["open"])).status_code == 200


def test_rights_well_known_and_options(world: World, tasks: Tasks) -> None:
    other = "/dav/calendars/other/follow-ups/"
    for path in (other, "/dav/calendars/other/", f"{other}{tasks.uids['others']}.ics"):
        assert world.dav().propfind(path, depth="0").status_code == 403
    assert world.dav().request("GET", f"{other}{tasks.uids['others']}.ics").status_code == 403
    assert world.dav("staff", "wrong-password").propfind(TASKS).status_code == 401
    anonymous = world.client.open(TASKS, method="PROPFIND", headers={"Depth": "0"})
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Basic")
    # the other user sees only their own one
    listing = multistatus(world.dav("other").propfind(other, depth="1"))
    assert set(listing) == {other, f"{other}{tasks.uids['others']}.ics"}
    # RFC 6764
    for method, status in (("GET", 301), ("PROPFIND", 307)):
        moved = world.client.open("/.well-known/caldav", method=method)
        assert moved.status_code == status
        assert moved.headers["Location"].endswith("/dav/")
    options = world.dav().request("OPTIONS", TASKS)
    assert "calendar-access" in options.headers["DAV"]
    assert "addressbook" in options.headers["DAV"]


def test_ctag_and_etag_change_with_the_follow_ups(world: World, tasks: Tasks) -> None:
    dav = world.dav()

    def ctag() -> str:
        answers = multistatus(dav.propfind(TASKS, PROPFIND_CALENDAR))
        return answers[TASKS].prop(CS + "getctag").text or ""

    def etag(key: str) -> str:
        return dav.request("GET", item(tasks.uids[key])).headers["ETag"]

    first, open_etag, overdue_etag = ctag(), etag("open"), etag("overdue")
    assert ctag() == first  # stable between requests
    with world.sessions.begin() as session:
        row = session.scalars(select(FollowUp).where(FollowUp.uid == tasks.uids["open"])).one()
        row.note = "Send the revised offer"
    second = ctag()
    assert second != first
    assert etag("open") != open_etag and etag("overdue") == overdue_etag
    with world.sessions.begin() as session:
        row = session.scalars(select(FollowUp).where(FollowUp.uid == tasks.uids["overdue"])).one()
        row.status, row.closed_at = "done", utcnow()
    third = ctag()
    assert third != second
    closed = vtodo(dav.request("GET", item(tasks.uids["overdue"])).get_data(as_text=True))
    assert str(closed["STATUS"]) == "COMPLETED"
    with world.sessions.begin() as session:
        row = session.scalars(select(FollowUp).where(FollowUp.uid == tasks.uids["cancelled"])).one()
        session.delete(row)
    assert ctag() != third
    assert dav.request("GET", item(tasks.uids["cancelled"])).status_code == 404
