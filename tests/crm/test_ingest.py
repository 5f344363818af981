"""Exactly-once ingest, matching and the review queue, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from adapters.records import Attachment
from crm.archive import Archive
from crm.ingest import ingest_mail
from crm.matching import MatchPolicy
from crm.models import Document, Interaction, InteractionSource, Participant, ReviewItem
from crm.review import apply_to_backlog, assign_address, ignore, open_items
from crm.syncstate import ensure_account
from crm.timeline import Customer, find_customer, timeline
from crm.visibility import Viewer
from sync.runner import in_transaction
from tests.crm.helpers import POLICY, T0, customers, ingest, mail, series

EVERYONE = Viewer.everyone()


def count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_same_mail_twice_and_in_two_mailboxes_is_one_interaction(
    session: Session, tmp_path: Path
) -> None:
    customers(session)
    record = mail(
        "greta.hansen@nordwind-logistik.de",
        ["alice@example.com", "bob@example.com"],
        message_id="abc@nordwind",
    )
    first = ingest(session, [record], tmp_path, account="alice-mail")
    again = ingest(session, [record], tmp_path, account="alice-mail")
    other = ingest(session, [record], tmp_path, account="bob-mail")
    assert (first.new, again.new, other.new) == (1, 0, 0)
    assert (again.known, other.known) == (1, 1)
    assert count(session, Interaction) == 1
    sources = session.scalars(select(InteractionSource)).all()
    assert sorted(s.collection for s in sources) == ["INBOX", "INBOX"]
    assert len({s.account_id for s in sources}) == 2


def test_duplicate_inside_one_batch_is_stored_once(session: Session, tmp_path: Path) -> None:
    record = mail("greta.hansen@nordwind-logistik.de", ["alice@example.com"], message_id="x@y")
    result = ingest(session, [record, record], tmp_path)
    assert (result.new, result.known) == (1, 1)
    assert count(session, Interaction) == 1


def test_matching_by_address_domain_and_free_mail(session: Session, tmp_path: Path) -> None:
    ids = customers(session)
    ingest(
        session,
        [
            mail("greta.hansen@nordwind-logistik.de", ["alice@example.com"], message_id="1@t"),
            mail("einkauf@nordwind-logistik.de", ["alice@example.com"], message_id="2@t"),
            mail("jan.kowalski@gmail.com", ["alice@example.com"], message_id="3@t"),
            mail("someone.else@gmail.com", ["alice@example.com"], message_id="4@t"),
            mail("ops@eu.nordwind-logistik.de", ["alice@example.com"], message_id="5@t"),
        ],
        tmp_path,
    )
    links = {
        p.email: (p.person_id, p.organization_id, p.match_reason)
        for p in session.scalars(select(Participant).where(Participant.role == "from"))
    }
    assert links["greta.hansen@nordwind-logistik.de"] == (ids["greta"], ids["nordwind"], "address")
    assert links["einkauf@nordwind-logistik.de"] == (None, ids["nordwind"], "domain")
    assert links["ops@eu.nordwind-logistik.de"] == (None, ids["nordwind"], "domain")
    assert links["jan.kowalski@gmail.com"] == (ids["jan"], None, "address")
    # gmail.com identifies no company: an unknown gmail address is unmatched, queued
    assert links["someone.else@gmail.com"] == (None, None, None)
    assert [i.email for i in open_items(session)] == ["someone.else@gmail.com"]


def test_direction_and_internal_mail(session: Session, tmp_path: Path) -> None:
    customers(session)
    result = ingest(
        session,
        [
            mail("alice@example.com", ["greta.hansen@nordwind-logistik.de"], message_id="out@t"),
            mail("greta.hansen@nordwind-logistik.de", ["alice@example.com"], message_id="in@t"),
            mail("alice@example.com", ["bob@example.com"], message_id="internal@t"),
            mail("alice@staff-mail.example.net", ["bob@example.com"], message_id="staff@t"),
        ],
        tmp_path,
    )
    assert (result.new, result.skipped) == (2, 2)
    directions = dict(session.execute(select(Interaction.message_id, Interaction.direction)).all())
    assert directions == {"out@t": "outbound", "in@t": "inbound"}
    assert open_items(session) == []  # staff never enter the review queue


def test_internal_mail_logged_when_configured(session: Session, tmp_path: Path) -> None:
    policy = MatchPolicy(internal_domains=frozenset({"example.com"}), log_internal_mail=True)
    result = ingest(
        session,
        [mail("alice@example.com", ["bob@example.com"], message_id="i@t")],
        tmp_path,
        policy=policy,
    )
    assert result.new == 1
    assert session.scalar(select(Interaction.direction)) == "internal"


def test_unmatched_mail_is_stored_and_relinked_after_assignment(
    session: Session, tmp_path: Path
) -> None:
    ids = customers(session)
    result = ingest(
        session,
        [
            mail(
                "ceo@unknown-startup.io",
                ["alice@example.com"],
                message_id=f"{i}@s",
                subject=f"Pitch {i}",
            )
            for i in range(3)
        ],
        tmp_path,
    )
    assert (result.new, result.unmatched) == (3, 3)
    [item] = open_items(session)
    assert (item.email, item.interaction_count) == ("ceo@unknown-startup.io", 3)
    greta = Customer("person", ids["greta"], "Greta Hansen")
    assert timeline(session, greta, viewer=EVERYONE) == []

    done = assign_address(session, "ceo@unknown-startup.io", POLICY, person_id=ids["greta"])
    session.commit()
    assert (done.participants, done.review_items_closed) == (3, 1)
    assert [e.subject for e in timeline(session, greta, viewer=EVERYONE)] == [
        "Pitch 2",
        "Pitch 1",
        "Pitch 0",
    ]
    assert open_items(session) == []
    # new mail from that address now matches at once
    ingest(
        session, [mail("ceo@unknown-startup.io", ["alice@example.com"], message_id="n@s")], tmp_path
    )
    assert len(timeline(session, greta, viewer=EVERYONE)) == 4


def test_assigning_to_an_organization_is_a_rule(session: Session, tmp_path: Path) -> None:
    ids = customers(session)
    ingest(
        session, [mail("buyer@partner-shop.de", ["alice@example.com"], message_id="p@t")], tmp_path
    )
    assign_address(session, "buyer@partner-shop.de", POLICY, organization_id=ids["nordwind"])
    session.commit()
    participant = session.scalars(select(Participant).where(Participant.role == "from")).one()
    assert (participant.organization_id, participant.match_reason) == (ids["nordwind"], "rule")
    org = find_customer(session, "nordwind-logistik.de")
    assert [e.subject for e in timeline(session, org, viewer=EVERYONE)] == ["Angebot"]


def test_import_after_mail_relinks_backlog(session: Session, tmp_path: Path) -> None:
    ingest(
        session,
        [mail("greta.hansen@nordwind-logistik.de", ["alice@example.com"], message_id="early@t")],
        tmp_path,
    )
    assert len(open_items(session)) == 1
    customers(session)  # the customer list arrives later
    relinked = apply_to_backlog(session, POLICY)
    session.commit()
    assert relinked.participants == 1
    greta = find_customer(session, "greta.hansen@nordwind-logistik.de")
    assert len(timeline(session, greta, viewer=EVERYONE)) == 1
    assert session.scalars(select(ReviewItem.status)).one() == "assigned"


def test_ignored_domain_leaves_the_queue(session: Session, tmp_path: Path) -> None:
    ingest(
        session,
        [
            mail("a@noise.example.org", ["alice@example.com"], message_id="1@n"),
            mail("b@noise.example.org", ["alice@example.com"], message_id="2@n"),
        ],
        tmp_path,
    )
    done = ignore(session, "@noise.example.org", POLICY)
    session.commit()
    assert done.review_items_closed == 2
    ingest(
        session, [mail("c@noise.example.org", ["alice@example.com"], message_id="3@n")], tmp_path
    )
    assert open_items(session) == []


def test_bulk_mail_never_creates_review_entries(session: Session, tmp_path: Path) -> None:
    result = ingest(
        session,
        [
            mail(
                "news@shop.example.org",
                ["alice@example.com"],
                message_id="b1@t",
                automation=(("list-unsubscribe", "<mailto:u@shop.example.org>"),),
            ),
            mail(
                "noreply@tool.example.org",
                ["alice@example.com"],
                message_id="b2@t",
                automation=(("auto-submitted", "auto-generated"),),
            ),
            mail(
                "x@tool.example.org",
                ["alice@example.com"],
                message_id="b3@t",
                automation=(("precedence", "bulk"),),
            ),
            mail(
                "human@tool.example.org",
                ["alice@example.com"],
                message_id="h@t",
                automation=(("auto-submitted", "no"),),
            ),
        ],
        tmp_path,
    )
    assert result.new == 4
    assert [i.email for i in open_items(session)] == ["human@tool.example.org"]


def test_review_queue_counts_every_mail_when_accounts_store_at_once(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    """Eight mailboxes store mail from the same unknown sender at the same moment (what
    a worker's threads do): the review queue counts every mail, none lost to a race."""
    with sessions.begin() as session:
        ids = [ensure_account(session, f"box{n}", "imap").id for n in range(8)]
    archive = Archive(tmp_path / "archive")
    start = threading.Barrier(len(ids))

    def store(n: int, account_id: int) -> None:
        start.wait()
        for b in range(6):
            batch = [
                mail(
                    "buyer@unknown-shop.example.org",
                    [f"staff{n}@example.com"],
                    message_id=f"{n}.{b}.{i}@race",
                    when=T0 + timedelta(minutes=b * 10 + i),
                )
                for i in range(5)
            ]
            in_transaction(
                sessions,
                lambda s, batch=batch: ingest_mail(
                    s,
                    account_id=account_id,
                    collection="INBOX",
                    records=batch,
                    policy=POLICY,
                    archive=archive,
                ),
            )

    threads = [threading.Thread(target=store, args=(n, i)) for n, i in enumerate(ids)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with sessions() as session:
        [item] = open_items(session)
        assert (item.email, item.interaction_count) == ("buyer@unknown-shop.example.org", 240)
        assert item.first_seen_at == T0 and item.last_seen_at == T0 + timedelta(minutes=54)


def test_threads_and_attachments_stored_once(session: Session, tmp_path: Path) -> None:
    pdf = Attachment("angebot.pdf", "application/pdf", b"%PDF-1.4 fake but bytes" * 100)
    ingest(
        session,
        [
            mail(
                "greta.hansen@nordwind-logistik.de",
                ["alice@example.com"],
                message_id="root@t",
                attachments=(pdf,),
            ),
            mail(
                "alice@example.com",
                ["greta.hansen@nordwind-logistik.de"],
                message_id="reply@t",
                references=("root@t",),
                attachments=(pdf,),
            ),
        ],
        tmp_path,
    )
    threads = set(session.scalars(select(Interaction.thread_key)))
    assert threads == {"root@t"}
    assert count(session, Document) == 1
    [doc] = session.scalars(select(Document)).all()
    assert (
        tmp_path / "archive" / doc.sha256[:2] / doc.sha256[2:4] / doc.sha256
    ).read_bytes() == pdf.data


def test_organization_timeline_includes_its_people_newest_first(
    session: Session, tmp_path: Path
) -> None:
    customers(session)
    ingest(
        session,
        series(3, "greta.hansen@nordwind-logistik.de", "alice@example.com")
        + series(2, "jan.kowalski@gmail.com", "alice@example.com"),
        tmp_path,
    )
    org = find_customer(session, "Nordwind Logistik GmbH")
    entries = timeline(session, org, viewer=EVERYONE)
    assert [e.subject for e in entries] == ["Mail 2", "Mail 1", "Mail 0"]
    assert entries[0].customers[0].name in {"Greta Hansen", "Nordwind Logistik GmbH"}
    assert len(timeline(session, None, viewer=EVERYONE)) == 5


def test_hostile_text_is_stored(session: Session, tmp_path: Path) -> None:
    record = mail(
        "greta.hansen@nordwind-logistik.de",
        ["alice@example.com"],
        subject="nul\x00byte and \udcff surrogate",
        message_id="<" + "x" * 900 + ">",
    )
    result = ingest(session, [record], tmp_path)
    assert result.new == 1
    stored = session.scalars(select(Interaction)).one()
    assert "\x00" not in stored.subject
    assert len(stored.dedupe_key) <= 500
    assert ingest(session, [record], tmp_path).known == 1
