"""Private interactions: seen by their owner and admins only, on every query that lists,
counts or reads interactions; who may change the visibility. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from crm import audit
from crm.models import Interaction, User
from crm.search import matching_interactions, search_customers
from crm.timeline import (
    Customer,
    activity_by_month,
    get_entry,
    thread_entries,
    timeline,
    timeline_page,
)
from crm.visibility import Viewer, can_change, set_visibility, visible_to
from tests.crm.helpers import T0, customers, ingest, mail

SECRET = "Geheimprojekt Zugspitze"


def _users(session: Session) -> dict[str, int]:
    users = {
        name: User(name=name, password_hash="-", role=role)
        for name, role in (("ada", "staff"), ("bert", "staff"), ("root", "admin"))
    }
    session.add_all(users.values())
    session.flush()
    return {name: u.id for name, u in users.items()}


def _world(session: Session, tmp_path) -> dict[str, int]:
    """Jan (a person on gmail) with three mails: a thread of two (the first private, Ada's)
    and one public mail; Greta at Nordwind with one public mail."""
    ids = customers(session)
    ids.update(_users(session))
    records = [
        mail(
            "jan.kowalski@gmail.com",
            ["alice@example.com"],
            subject=SECRET,
            message_id="secret@jan",
            when=T0,
            remote_id="1",
        ),
        mail(
            "alice@example.com",
            ["jan.kowalski@gmail.com"],
            subject="Re: " + SECRET,
            message_id="reply@alice",
            references=("secret@jan",),
            when=T0 + timedelta(hours=1),
            remote_id="2",
        ),
        mail(
            "jan.kowalski@gmail.com",
            ["alice@example.com"],
            subject="Rechnung 4711",
            message_id="invoice@jan",
            when=T0 + timedelta(hours=2),
            remote_id="3",
        ),
        mail(
            "greta.hansen@nordwind-logistik.de",
            ["alice@example.com"],
            subject="Lieferavis",
            message_id="avis@nordwind",
            when=T0 + timedelta(hours=3),
            remote_id="4",
        ),
    ]
    ingest(session, records, tmp_path)
    by_mid = {i.message_id: i for i in session.scalars(select(Interaction))}
    secret = by_mid["secret@jan"]
    secret.visibility, secret.owner_id = "private", ids["ada"]
    session.commit()
    ids.update(
        secret=secret.id,
        reply=by_mid["reply@alice"].id,
        invoice=by_mid["invoice@jan"].id,
        avis=by_mid["avis@nordwind"].id,
    )
    return ids


def _viewers(ids: dict[str, int]) -> tuple[Viewer, Viewer, Viewer]:
    return Viewer(ids["ada"], False), Viewer(ids["bert"], False), Viewer(ids["root"], True)


def _subjects(session: Session, customer: Customer | None, viewer: Viewer) -> list[str]:
    return [e.subject for e in timeline(session, customer, viewer=viewer)]


def test_a_private_mail_is_on_the_timeline_of_its_owner_and_admins_only(session, tmp_path) -> None:
    ids = _world(session, tmp_path)
    ada, bert, root = _viewers(ids)
    jan = Customer("person", ids["jan"], "Jan")
    full = ["Rechnung 4711", "Re: " + SECRET, SECRET]
    assert _subjects(session, jan, ada) == full
    assert _subjects(session, jan, root) == full
    assert _subjects(session, jan, Viewer.everyone()) == full
    assert _subjects(session, jan, bert) == ["Rechnung 4711", "Re: " + SECRET]
    assert SECRET not in _subjects(session, None, bert)  # everyone's timeline
    assert SECRET in _subjects(session, None, ada)
    assert SECRET not in _subjects(session, None, Viewer(None, False))  # nobody in particular

    [entry] = [e for e in timeline(session, jan, viewer=ada) if e.subject == SECRET]
    assert entry.private and entry.owner == "ada" and entry.owner_id == ids["ada"]


def test_pages_are_cut_after_hiding_so_none_comes_short(session, tmp_path) -> None:
    ids = _world(session, tmp_path)
    _, bert, _ = _viewers(ids)
    jan = Customer("person", ids["jan"], "Jan")
    first = timeline_page(session, jan, viewer=bert, limit=1)
    assert [e.subject for e in first.entries] == ["Rechnung 4711"]
    second = timeline_page(session, jan, viewer=bert, limit=1, cursor=first.next_cursor)
    assert [e.subject for e in second.entries] == ["Re: " + SECRET]
    assert second.next_cursor is None  # the private one is not a hidden third page


def test_counts_get_entry_and_threads_follow_visibility(session, tmp_path) -> None:
    ids = _world(session, tmp_path)
    ada, bert, root = _viewers(ids)
    jan = Customer("person", ids["jan"], "Jan")
    today = date(2026, 3, 31)
    assert dict(activity_by_month(session, jan, 2, today, viewer=ada))["2026-03"] == 3
    assert dict(activity_by_month(session, jan, 2, today, viewer=root))["2026-03"] == 3
    assert dict(activity_by_month(session, jan, 2, today, viewer=bert))["2026-03"] == 2

    assert get_entry(session, ids["secret"], viewer=bert) is None
    found = get_entry(session, ids["secret"], viewer=ada)
    assert found is not None and found.subject == SECRET
    assert get_entry(session, ids["secret"], viewer=root) is not None
    assert get_entry(session, ids["invoice"], viewer=bert) is not None

    key = found.thread_key
    assert [e.subject for e in thread_entries(session, key, viewer=ada)] == [
        SECRET,
        "Re: " + SECRET,
    ]
    assert [e.subject for e in thread_entries(session, key, viewer=bert)] == ["Re: " + SECRET]
    count = session.scalars(select(Interaction.id).where(visible_to(bert))).all()
    assert ids["secret"] not in count and len(count) == 3


def test_words_of_a_private_mail_find_nothing_for_others(session, tmp_path) -> None:
    ids = _world(session, tmp_path)
    ada, bert, root = _viewers(ids)
    assert matching_interactions(session, "Zugspitze", viewer=ada) == [
        ids["reply"],
        ids["secret"],
    ]
    assert matching_interactions(session, "Zugspitze", viewer=root) == [
        ids["reply"],
        ids["secret"],
    ]
    assert matching_interactions(session, "Zugspitze", viewer=bert) == [ids["reply"]]

    # the public reply holds the words too: Jan is found for everyone
    assert [h.reason for h in search_customers(session, "Zugspitze", viewer=bert).hits] == ["mail"]
    # once the reply is private too, nothing of Jan's that bert may read has them
    session.execute(
        update(Interaction)
        .where(Interaction.id == ids["reply"])
        .values(visibility="private", owner_id=ids["ada"])
    )
    session.commit()
    assert search_customers(session, "Zugspitze", viewer=bert).hits == []
    assert [h.name for h in search_customers(session, "Zugspitze", viewer=ada).hits] == [
        "Jan Kowalski"
    ]
    assert [h.name for h in search_customers(session, "Zugspitze", viewer=root).hits] == [
        "Jan Kowalski"
    ]
    # a search by name still finds the customer: only the mail is private
    assert [h.name for h in search_customers(session, "Kowalski", viewer=bert).hits] == [
        "Jan Kowalski"
    ]


def test_who_may_change_the_visibility(session, tmp_path) -> None:
    ids = _world(session, tmp_path)
    ada, bert, root = _viewers(ids)
    secret = session.get_one(Interaction, ids["secret"])
    invoice = session.get_one(Interaction, ids["invoice"])
    assert can_change(ada, secret) and can_change(root, secret)
    assert not can_change(bert, secret)
    assert can_change(bert, invoice)  # nobody owns it yet
    assert not can_change(Viewer.everyone(), invoice)  # private needs someone to own it

    with pytest.raises(LookupError):  # bert cannot see it: for him it does not exist
        set_visibility(session, ids["secret"], "everyone", bert)
    with pytest.raises(LookupError):  # no such interaction
        set_visibility(session, ids["secret"] + 1000, "private", bert)
    with pytest.raises(ValueError, match="visibility must be one of"):
        set_visibility(session, ids["invoice"], "secret", bert)

    # bert makes the unowned invoice private: it becomes his
    assert set_visibility(session, ids["invoice"], "private", bert) == 1
    session.commit()
    invoice = session.get_one(Interaction, ids["invoice"])
    assert (invoice.visibility, invoice.owner_id) == ("private", ids["bert"])
    # ada cannot see bert's private mail, so cannot make it public either
    assert not can_change(ada, invoice)
    with pytest.raises(LookupError):
        set_visibility(session, ids["invoice"], "everyone", ada)
    # an admin may make anything public again; the owner stays
    assert set_visibility(session, ids["invoice"], "everyone", root) == 1
    session.commit()
    invoice = session.get_one(Interaction, ids["invoice"])
    assert (invoice.visibility, invoice.owner_id) == ("everyone", ids["bert"])
    # now bert owns it: ada may not make it private
    with pytest.raises(PermissionError):
        set_visibility(session, ids["invoice"], "private", ada)
    session.rollback()
    # setting what it already is changes nothing
    assert set_visibility(session, ids["invoice"], "everyone", bert) == 0
    # the owner makes hers public again
    assert set_visibility(session, ids["secret"], "everyone", ada) == 1
    session.commit()
    assert SECRET in _subjects(session, Customer("person", ids["jan"], "Jan"), bert)

    logged = [
        (e.actor, audit.details(e)["visibility"])
        for e in reversed(audit.entries(session, action="interaction.visibility"))
    ]
    assert logged == [
        ("bert", "private"),
        ("root", "everyone"),
        ("bert", "everyone"),
        ("ada", "everyone"),
    ]


def test_a_whole_thread_is_made_private(session, tmp_path) -> None:
    ids = _world(session, tmp_path)
    ada, bert, root = _viewers(ids)
    jan = Customer("person", ids["jan"], "Jan")
    # ada's own secret is private already; the reply has no owner: both hers now
    assert set_visibility(session, ids["secret"], "private", ada, thread=True) == 1
    session.commit()
    reply = session.get_one(Interaction, ids["reply"])
    assert (reply.visibility, reply.owner_id) == ("private", ids["ada"])
    assert _subjects(session, jan, bert) == ["Rechnung 4711"]
    assert len(_subjects(session, jan, root)) == 3
    [entry] = audit.entries(session, action="interaction.visibility")
    assert audit.details(entry)["thread"] is True
    assert entry.target == f"interaction {ids['secret']}"

    # making the thread public again: the admin may
    assert set_visibility(session, ids["reply"], "everyone", root, thread=True) == 2
    session.commit()
    assert len(_subjects(session, jan, bert)) == 3


def test_a_thread_with_someone_elses_mail_is_refused_whole(session, tmp_path) -> None:
    ids = _world(session, tmp_path)
    ada, bert, _ = _viewers(ids)
    reply = session.get_one(Interaction, ids["reply"])
    reply.owner_id = ids["ada"]  # public, but ada's
    session.commit()
    # bert sees the reply (public) but it is ada's; the secret he cannot see at all
    with pytest.raises(PermissionError):
        set_visibility(session, ids["reply"], "private", bert, thread=True)
    session.rollback()
    assert session.get_one(Interaction, ids["reply"]).visibility == "everyone"
    assert set_visibility(session, ids["reply"], "private", ada, thread=True) == 1
