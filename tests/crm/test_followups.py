"""Follow-ups (crm.followups) on SQLite and PostgreSQL: creating and checking them, the
quick choices, a user's agenda, who may close them, the audit log, closing on replies."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm import audit
from crm.followups import (
    QUICK_CHOICES,
    close_follow_up,
    close_on_replies,
    create_follow_up,
    due_by_user,
    due_for,
    follow_ups_for,
    open_for_customer,
    reopen_follow_up,
)
from crm.models import FollowUp, Interaction, Person
from crm.normalize import InvalidValueError
from crm.users import add_user
from crm.visibility import Viewer
from tests.crm.helpers import POLICY, customers, ingest, mail

TODAY = date.today()
GRETA = "greta.hansen@nordwind-logistik.de"


@pytest.fixture
def ids(session: Session) -> dict[str, int]:
    found = customers(session)
    for name, role in (("anna", "staff"), ("ben", "staff"), ("vera", "viewer"), ("root", "admin")):
        found[name] = add_user(session, name, secrets.token_urlsafe(16), role).id
    session.commit()
    return found


def test_quick_choices() -> None:
    monday, thursday = date(2026, 3, 2), date(2026, 3, 5)
    assert set(QUICK_CHOICES) == {"no-reply-3d", "tomorrow", "next-week", "in-2-weeks"}
    assert due_for("no-reply-3d", thursday) == (date(2026, 3, 8), True)
    assert due_for("tomorrow", thursday) == (date(2026, 3, 6), False)
    assert due_for("next-week", thursday) == (date(2026, 3, 9), False)
    assert due_for("next-week", monday) == (date(2026, 3, 9), False)
    assert due_for("in-2-weeks", monday) == (date(2026, 3, 16), False)
    with pytest.raises(KeyError):
        due_for("someday", monday)


def test_create_and_audit(session: Session, ids: dict[str, int]) -> None:
    f = create_follow_up(
        session,
        assignee_id=ids["anna"],
        due_on=TODAY,
        actor="anna",
        person_id=ids["greta"],
        note="  Angebot nachfassen ",
        waiting_for_reply=True,
    )
    session.commit()
    assert (f.status, f.note, f.created_by, f.waiting_for_reply) == (
        "open",
        "Angebot nachfassen",
        "anna",
        True,
    )
    [entry] = audit.entries(session, action="follow_up.create")
    assert entry.actor == "anna" and entry.target == f"follow-up {f.id}"
    assert audit.details(entry)["person_id"] == ids["greta"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"person_id": None}, "customer"),
        ({"due_on": TODAY - timedelta(days=1)}, "due_on"),
        ({"note": "x" * 4001}, "note"),
        ({"assignee_id": 999_999}, "assignee"),
        ({"assignee_id": "vera"}, "assignee"),
        ({"person_id": 999_999}, "person"),
        ({"interaction_id": 999_999}, "interaction"),
    ],
)
def test_create_refuses(
    session: Session, ids: dict[str, int], change: dict[str, object], field: str
) -> None:
    args: dict[str, object] = {
        "assignee_id": ids["anna"],
        "due_on": TODAY,
        "actor": "anna",
        "person_id": ids["greta"],
    }
    args.update(change)
    if args["assignee_id"] == "vera":
        args["assignee_id"] = ids["vera"]
    with pytest.raises(InvalidValueError) as raised:
        create_follow_up(session, **args)  # type: ignore[arg-type]
    assert raised.value.field == field
    assert raised.value.reason
    assert session.scalars(select(FollowUp)).all() == []


def test_customer_from_interaction(session: Session, ids: dict[str, int], tmp_path: Path) -> None:
    ingest(session, [mail(GRETA, ["alice@example.com"], message_id="<a@x>")], tmp_path)
    ingest(
        session,
        [mail("info@nordwind-logistik.de", ["alice@example.com"], message_id="<b@x>")],
        tmp_path,
    )
    by_person, by_org = session.scalars(select(Interaction.id).order_by(Interaction.id)).all()
    f1 = create_follow_up(
        session, assignee_id=ids["anna"], due_on=TODAY, actor="anna", interaction_id=by_person
    )
    f2 = create_follow_up(
        session, assignee_id=ids["anna"], due_on=TODAY, actor="anna", interaction_id=by_org
    )
    assert (f1.person_id, f1.organization_id, f1.interaction_id) == (ids["greta"], None, by_person)
    assert (f2.person_id, f2.organization_id) == (None, ids["nordwind"])


def test_agenda(session: Session, ids: dict[str, int]) -> None:
    def make(days: int, who: str = "anna", **kw: object) -> FollowUp:
        f = create_follow_up(
            session, assignee_id=ids[who], due_on=TODAY, actor="anna", person_id=ids["jan"], **kw
        )  # type: ignore[arg-type]
        f.due_on = TODAY + timedelta(days=days)  # overdue ones were made on earlier days
        return f

    late, now, later = make(-2), make(0), make(5)
    make(0, "ben")
    closed = make(1)
    org = create_follow_up(
        session,
        assignee_id=ids["anna"],
        due_on=TODAY,
        actor="anna",
        organization_id=ids["nordwind"],
        note="Rahmenvertrag",
    )
    session.flush()
    close_follow_up(session, closed.id, actor="anna", viewer=Viewer(ids["anna"], False))
    agenda = follow_ups_for(session, ids["anna"], today=TODAY)
    assert [i.id for i in agenda.overdue] == [late.id]
    assert [i.id for i in agenda.today] == [now.id, org.id]
    assert [i.id for i in agenda.upcoming] == [later.id]
    item = agenda.today[1]
    assert (item.customer_kind, item.customer_name, item.customer_path) == (
        "organization",
        "Nordwind Logistik GmbH",
        f"/organizations/{ids['nordwind']}",
    )
    assert agenda.overdue[0].customer_path == f"/people/{ids['jan']}"
    assert agenda.overdue[0].customer_name == "Jan Kowalski"
    assert set(due_by_user(session, TODAY)) == {ids["anna"], ids["ben"]}
    assert [i.id for i in due_by_user(session, TODAY, ids["anna"])[ids["anna"]]] == [
        late.id,
        now.id,
        org.id,
    ]
    greta = create_follow_up(
        session, assignee_id=ids["ben"], due_on=TODAY, actor="ben", person_id=ids["greta"]
    )
    assert greta.id in {i.id for i in open_for_customer(session, "organization", ids["nordwind"])}
    assert [i.id for i in open_for_customer(session, "person", ids["greta"])] == [greta.id]


def test_who_may_close(session: Session, ids: dict[str, int]) -> None:
    f = create_follow_up(
        session, assignee_id=ids["ben"], due_on=TODAY, actor="anna", person_id=ids["jan"]
    )
    session.commit()
    with pytest.raises(PermissionError):
        close_follow_up(session, f.id, actor="vera", viewer=Viewer(ids["vera"], False))
    other = add_user(session, "carl", secrets.token_urlsafe(16), "staff")
    with pytest.raises(PermissionError):
        close_follow_up(session, f.id, actor="carl", viewer=Viewer(other.id, False))
    with pytest.raises(LookupError):
        close_follow_up(session, 999_999, actor="anna", viewer=Viewer(ids["anna"], False))
    for user in ("anna", "ben", "root"):  # the creator, the assignee, an admin
        viewer = Viewer(ids[user], user == "root")
        close_follow_up(session, f.id, actor=user, viewer=viewer, status="cancelled")
        assert (f.status, f.closed_by) == ("cancelled", user)
        reopen_follow_up(session, f.id, actor=user, viewer=viewer)
        assert (f.status, f.closed_by, f.closed_at) == ("open", "", None)
    session.commit()
    actions = [e.action for e in audit.entries(session, target=f"follow-up {f.id}")]
    assert actions.count("follow_up.close") == 3 and actions.count("follow_up.reopen") == 3


def test_close_on_replies(session: Session, ids: dict[str, int], tmp_path: Path) -> None:
    def make(**kw: object) -> FollowUp:
        return create_follow_up(session, assignee_id=ids["anna"], due_on=TODAY, actor="anna", **kw)  # type: ignore[arg-type]

    on_greta = make(person_id=ids["greta"], waiting_for_reply=True)
    on_org = make(organization_id=ids["nordwind"], waiting_for_reply=True)
    not_waiting = make(person_id=ids["greta"])
    on_jan = make(person_id=ids["jan"], waiting_for_reply=True)
    session.commit()
    later = datetime.now(UTC) + timedelta(minutes=1)
    colleague = session.get(Person, ids["greta"])
    assert colleague is not None
    # a colleague writes from the organization's domain: the organization's follow-up only
    ingest(
        session,
        [mail("info@nordwind-logistik.de", ["alice@example.com"], message_id="<c@x>", when=later)],
        tmp_path,
    )
    session.refresh(on_org)
    session.refresh(on_greta)
    assert (on_org.status, on_org.closed_by) == ("done", "reply")
    assert on_greta.status == "open"
    ingest(session, [mail(GRETA, ["alice@example.com"], message_id="<g@x>", when=later)], tmp_path)
    for f in (on_greta, not_waiting, on_jan):
        session.refresh(f)
    reply = session.scalar(select(Interaction.id).where(Interaction.message_id == "<g@x>"))
    assert (on_greta.status, on_greta.closed_by_interaction_id) == ("done", reply)
    assert not_waiting.status == "open" and on_jan.status == "open"
    assert close_on_replies(session, []) == 0
    assert POLICY  # the helpers' policy: example.com is internal
