"""The follow-ups as a read-only CalDAV task list, read with the caldav library from a
running ``crmsync run``, on SQLite and on PostgreSQL.

alice has follow-ups of every kind (open, due today, overdue, done yesterday,
cancelled, done long ago) and bob one of his own. The caldav library discovers the task
list from the principal (calendar-home-set, then the home's calendars), reads exactly
alice's to-dos, sees the ctag and a to-do's ETag change when a follow-up changes, is
refused when it writes, and cannot reach bob's task list.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta

import caldav
import pytest
from caldav.elements.base import BaseElement
from caldav.lib import error as caldav_error
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.db import will_write
from crm.models import FollowUp, Organization, Person, User, utcnow
from tests.carddav.conftest import DavSite

pytestmark = pytest.mark.slow

TASK_LIST = "Follow-ups (crmsync)"


class GetCTag(BaseElement):
    tag = "{http://calendarserver.org/ns/}getctag"


@contextmanager
def writing(site: DavSite) -> Iterator[Session]:
    """A writing transaction beside the running server (on SQLite: BEGIN IMMEDIATE, which
    waits for the server's writers instead of failing)."""
    with site.sessions.begin() as session:
        will_write(session)
        yield session


@dataclass
class Made:
    uids: dict[str, str]
    person_id: int


def make_follow_ups(site: DavSite) -> Made:
    now, today = utcnow(), date.today()
    with writing(site) as session:
        users = {u.name: u.id for u in session.scalars(select(User))}
        juergen = session.scalars(
            select(Person).where(Person.uid == site.customers.uid("juergen"))
        ).one()
        nordwind = session.scalars(
            select(Organization).where(Organization.uid == site.customers.uid("org-nordwind"))
        ).one()
        alice, bob = users["alice"], users["bob"]
        rows = {
            "today": FollowUp(
                person_id=juergen.id,
                assignee_id=alice,
                due_on=today,
                note="Angebot nachfassen\nPreise für 2027",
                created_by="alice",
            ),
            "overdue": FollowUp(
                organization_id=nordwind.id,
                assignee_id=alice,
                due_on=today - timedelta(days=5),
                waiting_for_reply=True,
                created_by="alice",
            ),
            "done": FollowUp(
                person_id=juergen.id,
                assignee_id=alice,
                due_on=today - timedelta(days=1),
                note="Rückruf",
                status="done",
                closed_at=now - timedelta(days=1),
                created_by="alice",
            ),
            "cancelled": FollowUp(
                organization_id=nordwind.id,
                assignee_id=alice,
                due_on=today + timedelta(days=3),
                note="Besuch",
                status="cancelled",
                closed_at=now - timedelta(hours=2),
                created_by="alice",
            ),
            "long-done": FollowUp(
                person_id=juergen.id,
                assignee_id=alice,
                due_on=today - timedelta(days=90),
                status="done",
                closed_at=now - timedelta(days=60),
                created_by="alice",
            ),
            "bobs": FollowUp(
                person_id=juergen.id,
                assignee_id=bob,
                due_on=today,
                note="Bob's own",
                created_by="bob",
            ),
        }
        session.add_all(rows.values())
        session.flush()
        return Made({k: row.uid for k, row in rows.items()}, juergen.id)


def connect(site: DavSite, user: str = "alice") -> caldav.DAVClient:
    return caldav.DAVClient(url=site.url + "dav/", username=user, password=site.app_passwords[user])


def task_list(client: caldav.DAVClient) -> caldav.Calendar:
    calendars = client.principal().calendars()
    assert [c.get_display_name() for c in calendars] == [TASK_LIST]
    return calendars[0]


def by_uid(todos: list[caldav.Todo]) -> dict[str, dict[str, object]]:
    found = {}
    for todo in todos:
        component = todo.icalendar_component
        found[str(component["UID"])] = {
            "summary": str(component["SUMMARY"]),
            "due": component.decoded("DUE"),
            "status": str(component["STATUS"]),
            "text": todo.data,
        }
    return found


def test_caldav_client_reads_exactly_the_users_follow_ups(dav_site: DavSite) -> None:
    site = dav_site
    made = make_follow_ups(site)
    today = date.today()
    with connect(site) as client:
        tasks = task_list(client)
        assert tasks.url.path == "/dav/calendars/alice/follow-ups/"
        found = by_uid(tasks.todos(include_completed=True))
        wanted = {made.uids[k] for k in ("today", "overdue", "done", "cancelled")}
        assert set(found) == wanted
        today_item = found[made.uids["today"]]
        assert today_item["summary"] == "Jürgen Müller: Angebot nachfassen"
        assert today_item["due"] == today
        assert today_item["status"] == "NEEDS-ACTION"
        assert found[made.uids["overdue"]] == found[made.uids["overdue"]] | {
            "summary": "Follow up Nordwind Logistik GmbH",
            "due": today - timedelta(days=5),
            "status": "NEEDS-ACTION",
        }
        assert "Waiting for a reply" in str(found[made.uids["overdue"]]["text"])
        assert found[made.uids["done"]]["status"] == "COMPLETED"
        assert found[made.uids["cancelled"]]["status"] == "CANCELLED"
        for item in found.values():
            text = str(item["text"])
            assert "ATTENDEE" not in text and "ORGANIZER" not in text
        assert f"/people/{made.person_id}" in str(today_item["text"])

        # the open ones only, as the library asks for them by default
        pending = by_uid(tasks.todos())
        assert set(pending) == {made.uids["today"], made.uids["overdue"]}

        # one by UID (calendar-query with a UID prop-filter) and by URL (GET)
        one = tasks.object_by_uid(made.uids["today"])
        assert str(one.icalendar_component["SUMMARY"]) == "Jürgen Müller: Angebot nachfassen"

    with connect(site, "bob") as client:
        found = by_uid(task_list(client).todos(include_completed=True))
        assert set(found) == {made.uids["bobs"]}


def _etag(client: caldav.DAVClient, url: str) -> str:
    response = client.request(url, "HEAD")
    assert response.status == 200
    return str(response.headers["ETag"])


def test_a_change_changes_the_ctag_and_the_etag(dav_site: DavSite) -> None:
    site = dav_site
    made = make_follow_ups(site)
    with connect(site) as client:
        tasks = task_list(client)
        today_url = str(tasks.url.join(f"{made.uids['today']}.ics"))
        overdue_url = str(tasks.url.join(f"{made.uids['overdue']}.ics"))
        ctag = tasks.get_property(GetCTag())
        etags = (_etag(client, today_url), _etag(client, overdue_url))
        assert ctag and tasks.get_property(GetCTag()) == ctag

        with writing(site) as session:
            row = session.scalars(select(FollowUp).where(FollowUp.uid == made.uids["today"])).one()
            row.status, row.closed_at = "done", utcnow()
        changed = tasks.get_property(GetCTag())
        assert changed != ctag
        assert _etag(client, today_url) != etags[0]
        assert _etag(client, overdue_url) == etags[1]
        found = by_uid(tasks.todos(include_completed=True))
        assert found[made.uids["today"]]["status"] == "COMPLETED"

        with writing(site) as session:  # a follow-up deleted: its row gone
            gone = session.scalars(select(FollowUp).where(FollowUp.uid == made.uids["cancelled"]))
            session.delete(gone.one())
        assert tasks.get_property(GetCTag()) != changed
        assert made.uids["cancelled"] not in by_uid(tasks.todos(include_completed=True))


def test_writes_are_refused_and_another_users_list_is_not_reachable(dav_site: DavSite) -> None:
    site = dav_site
    made = make_follow_ups(site)
    with connect(site) as client:
        tasks = task_list(client)
        with pytest.raises(caldav_error.DAVError) as refused:
            tasks.add_todo(summary="From the phone", uid="made-on-a-phone")
        assert "Forbidden" in str(refused.value)
        # overwriting a follow-up's to-do, and deleting it
        today = tasks.object_by_uid(made.uids["today"])
        with pytest.raises(caldav_error.AuthorizationError) as put:
            client.put(str(today.url), "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")
        assert put.value.status == 403
        with pytest.raises(caldav_error.DAVError) as deleted:
            today.delete()
        assert "Forbidden" in str(deleted.value)
        assert "made-on-a-phone" not in by_uid(tasks.todos(include_completed=True))
        assert len(by_uid(tasks.todos(include_completed=True))) == 4

        bobs = caldav.Calendar(client=client, url=client.url.join("/dav/calendars/bob/follow-ups/"))
        with pytest.raises(caldav_error.DAVError) as denied:
            bobs.todos(include_completed=True)
        assert "Forbidden" in str(denied.value)
        with pytest.raises(caldav_error.AuthorizationError) as get:
            client.request(
                str(client.url.join(f"/dav/calendars/bob/follow-ups/{made.uids['bobs']}.ics"))
            )
        assert get.value.status == 403
