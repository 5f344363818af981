"""Follow-ups in the web view (SQLite and PostgreSQL): the customer page's form, the form
on a timeline entry, "My follow-ups", done/cancel, and who may do what."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from crm import audit
from crm.followups import create_follow_up
from crm.models import FollowUp, Interaction, User
from tests.web.conftest import Browser
from tests.web.data import populate

TODAY = date.today()


@pytest.fixture
def ids(app: Flask, sessions: sessionmaker[Session], tmp_path: Path) -> dict[str, int]:
    found = populate(sessions, tmp_path / "archive")
    with sessions() as session:
        for name in ("admin", "staff", "viewer"):
            found[name] = session.scalars(select(User.id).where(User.name == name)).one()
        found["offer"] = session.scalars(
            select(Interaction.id).where(Interaction.subject.like("Angebot%"))
        ).one()
    return found


def follow_ups(sessions: sessionmaker[Session]) -> list[FollowUp]:
    with sessions() as session:
        return list(session.scalars(select(FollowUp).order_by(FollowUp.id)))


def text(response) -> str:  # type: ignore[no-untyped-def]
    return response.get_data(as_text=True)


def test_staff_adds_one_on_the_customer_page(
    staff: Browser, ids: dict[str, int], sessions: sessionmaker[Session]
) -> None:
    page = text(staff.get(f"/people/{ids['greta']}"))
    assert 'id="add-follow-up"' in page and "If no reply in 3 days" in page
    assert f'<option selected value="{ids["staff"]}">staff</option>' in page
    response = staff.post(
        "/follow-ups",
        {
            "kind": "person",
            "customer_id": str(ids["greta"]),
            "assignee": str(ids["staff"]),
            "when": "no-reply-3d",
            "note": "Angebot nachfassen",
            "next": f"/people/{ids['greta']}",
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"] == f"/people/{ids['greta']}"
    [f] = follow_ups(sessions)
    assert (f.person_id, f.assignee_id, f.due_on, f.waiting_for_reply, f.note) == (
        ids["greta"],
        ids["staff"],
        TODAY + timedelta(days=3),
        True,
        "Angebot nachfassen",
    )
    assert f.created_by == "staff"
    page = text(staff.get(f"/people/{ids['greta']}"))
    assert "Follow-up added" in page
    section = page[page.index('id="customer-follow-ups"') :]
    assert "Angebot nachfassen" in section and "waiting for a reply" in section
    # the organization's page lists its people's follow-ups too
    assert "Angebot nachfassen" in text(staff.get(f"/organizations/{ids['nordwind']}"))
    mine = text(staff.get("/follow-ups"))
    assert "My follow-ups" in mine
    upcoming = mine[mine.index('id="upcoming"') :]
    assert "Greta Hansen" in upcoming and f'href="/people/{ids["greta"]}"' in upcoming


def test_a_day_an_other_assignee_and_an_organization(
    staff: Browser, ids: dict[str, int], sessions: sessionmaker[Session]
) -> None:
    response = staff.post(
        "/follow-ups",
        {
            "kind": "organization",
            "customer_id": str(ids["nordwind"]),
            "assignee": str(ids["admin"]),
            "when": "",
            "due_on": TODAY.isoformat(),
            "note": "Rahmenvertrag",
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"] == f"/organizations/{ids['nordwind']}"
    [f] = follow_ups(sessions)
    assert (f.organization_id, f.person_id, f.assignee_id, f.due_on, f.waiting_for_reply) == (
        ids["nordwind"],
        None,
        ids["admin"],
        TODAY,
        False,
    )


def test_from_a_timeline_entry(
    staff: Browser, ids: dict[str, int], sessions: sessionmaker[Session]
) -> None:
    page = text(staff.get(f"/organizations/{ids['nordwind']}"))
    assert f'name="interaction_id" value="{ids["offer"]}"' in page
    response = staff.post(
        "/follow-ups",
        {"interaction_id": str(ids["offer"]), "when": "tomorrow", "next": "/timeline#x"},
    )
    assert response.status_code == 302
    [f] = follow_ups(sessions)
    assert (f.person_id, f.interaction_id, f.assignee_id) == (
        ids["greta"],
        ids["offer"],
        ids["staff"],
    )
    assert f.due_on == TODAY + timedelta(days=1)
    with sessions() as session:
        [entry] = audit.entries(session, action="follow_up.create")
    assert entry.actor == "staff"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"when": "", "due_on": ""}, "Choose when"),
        ({"when": "", "due_on": (TODAY - timedelta(days=1)).isoformat()}, "in the past"),
        ({"assignee": "viewer"}, "a viewer cannot be assigned"),
        ({"note": "x" * 4001}, "4000"),
    ],
)
def test_bad_values_are_refused(
    staff: Browser,
    ids: dict[str, int],
    sessions: sessionmaker[Session],
    data: dict[str, str],
    message: str,
) -> None:
    form = {"kind": "person", "customer_id": str(ids["jan"]), "when": "tomorrow"}
    form.update(data)
    if form.get("assignee") == "viewer":
        form["assignee"] = str(ids["viewer"])
    staff.post("/follow-ups", form)
    assert message in text(staff.get("/follow-ups"))
    assert follow_ups(sessions) == []


def test_csrf_and_viewers_are_refused(
    app: Flask, viewer: Browser, ids: dict[str, int], sessions: sessionmaker[Session]
) -> None:
    page = text(viewer.get(f"/people/{ids['greta']}"))
    assert 'id="add-follow-up"' not in page and "Follow up…" not in page
    assert viewer.get("/follow-ups").status_code == 200
    form = {"kind": "person", "customer_id": str(ids["greta"]), "when": "tomorrow"}
    assert viewer.post("/follow-ups", form).status_code == 403
    with app.test_client() as client:  # logged in, but no token
        client.post("/login", data={"name": "staff", "password": "staff-pass-123"})
        assert client.post("/follow-ups", data=form).status_code == 400
    assert follow_ups(sessions) == []


def test_done_cancel_and_who_may(
    app: Flask,
    staff: Browser,
    admin: Browser,
    viewer: Browser,
    ids: dict[str, int],
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:

        def make(days: int, who: str, creator: str) -> int:
            f = create_follow_up(
                session, assignee_id=ids[who], due_on=TODAY, actor=creator, person_id=ids["jan"]
            )
            f.due_on = TODAY + timedelta(days=days)
            session.flush()
            return f.id

        late, now, admins = (
            make(-1, "staff", "staff"),
            make(0, "staff", "admin"),
            make(0, "admin", "admin"),
        )
    page = text(staff.get("/follow-ups"))
    assert page.index(f'data-follow-up="{late}"') > page.index('id="overdue"')
    assert page.index(f'data-follow-up="{now}"') > page.index('id="today"')
    assert f'data-follow-up="{admins}"' not in page
    assert staff.post(f"/follow-ups/{late}/close", {"status": "done"}).status_code == 302
    assert staff.post(f"/follow-ups/{now}/close", {"status": "cancelled"}).status_code == 302
    assert staff.post(f"/follow-ups/{admins}/close", {"status": "done"}).status_code == 403
    assert viewer.post(f"/follow-ups/{admins}/close", {"status": "done"}).status_code == 403
    assert staff.post("/follow-ups/999999/close", {"status": "done"}).status_code == 404
    statuses = {f.id: (f.status, f.closed_by) for f in follow_ups(sessions)}
    assert statuses == {
        late: ("done", "staff"),
        now: ("cancelled", "staff"),
        admins: ("open", ""),
    }
    page = text(staff.get("/follow-ups"))
    closed = page[page.index('id="closed"') :]  # closed ones are listed apart, to reopen
    assert 'data-follow-up="' not in page[: page.index('id="closed"')]
    assert f'data-follow-up="{late}"' in closed and f'data-follow-up="{now}"' in closed
    assert viewer.post(f"/follow-ups/{late}/reopen").status_code == 403
    assert staff.post(f"/follow-ups/{late}/reopen").status_code == 302
    page = text(staff.get("/follow-ups"))
    assert page.index(f'data-follow-up="{late}"') < page.index('id="closed"')
    assert staff.post(f"/follow-ups/{late}/close", {"status": "done"}).status_code == 302
    # an admin may look at anyone's list; staff may not
    other = text(admin.get(f"/follow-ups?user={ids['admin']}"))
    assert f'data-follow-up="{admins}"' in other
    assert "Follow-ups of staff" in text(admin.get(f"/follow-ups?user={ids['staff']}"))
    assert staff.get(f"/follow-ups?user={ids['admin']}").status_code == 403
    assert admin.post(f"/follow-ups/{admins}/close", {"status": "done"}).status_code == 302
