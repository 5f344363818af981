"""Timeline pages from the (customer, time) indexes: the same entries, in the same order,
as a plain reading of the whole history, across pages, links and filters."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from crm.customers import add_note
from crm.timeline import Customer, TimelineFilter, activity_by_month, timeline_page
from crm.visibility import Viewer
from tests.crm.helpers import customers, ingest, mail

START = datetime(2026, 1, 1, 12, tzinfo=UTC)


def _history(session, tmp_path) -> dict[str, int]:
    ids = customers(session)
    records = []
    for i in range(70):
        when = START + timedelta(hours=i)
        if i % 3 == 0:  # Greta, a person of Nordwind: linked by address
            records.append(
                mail(
                    "greta.hansen@nordwind-logistik.de",
                    ["alice@example.com"],
                    subject=f"G{i}",
                    message_id=f"g{i}@n",
                    when=when,
                )
            )
        elif i % 3 == 1:  # someone else at Nordwind: linked by domain
            records.append(
                mail(
                    "alice@example.com",
                    ["dispo@nordwind-logistik.de", "greta.hansen@nordwind-logistik.de"],
                    subject=f"D{i}",
                    message_id=f"d{i}@n",
                    when=when,
                )
            )
        else:  # Jan: not Nordwind's
            records.append(
                mail(
                    "jan.kowalski@gmail.com",
                    ["alice@example.com"],
                    subject=f"J{i}",
                    message_id=f"j{i}@n",
                    when=when,
                )
            )
    ingest(session, records, tmp_path)
    return ids


def _all_pages(session, customer, filters=None, size=7) -> list[str]:
    subjects, cursor = [], None
    while True:
        page = timeline_page(
            session, customer, filters, viewer=Viewer.everyone(), limit=size, cursor=cursor
        )
        subjects += [e.subject for e in page.entries]
        if page.next_cursor is None:
            return subjects
        cursor = page.next_cursor


def test_organization_pages_merge_its_links_without_gaps_or_doubles(session, tmp_path) -> None:
    ids = _history(session, tmp_path)
    nordwind = Customer("organization", ids["nordwind"], "Nordwind")
    expected = [f"{'G' if i % 3 == 0 else 'D'}{i}" for i in reversed(range(70)) if i % 3 != 2]
    assert _all_pages(session, nordwind) == expected  # D mails have two Nordwind participants
    greta = Customer("person", ids["greta"], "Greta")
    assert _all_pages(session, greta) == [s for s in expected]  # Greta is on every D mail too
    jan = Customer("person", ids["jan"], "Jan")
    assert _all_pages(session, jan, size=50) == [f"J{i}" for i in reversed(range(70)) if i % 3 == 2]


def test_filters_apply_before_the_page_is_cut(session, tmp_path) -> None:
    ids = _history(session, tmp_path)
    nordwind = Customer("organization", ids["nordwind"], "Nordwind")
    outbound = _all_pages(session, nordwind, TimelineFilter(direction="outbound"), size=5)
    assert outbound == [f"D{i}" for i in reversed(range(70)) if i % 3 == 1]
    day = _all_pages(
        session, nordwind, TimelineFilter(since=date(2026, 1, 2), until=date(2026, 1, 2))
    )
    assert day == [
        f"{'G' if i % 3 == 0 else 'D'}{i}" for i in reversed(range(12, 36)) if i % 3 != 2
    ]


def test_a_note_joins_the_timeline_and_the_activity(session, tmp_path) -> None:
    ids = _history(session, tmp_path)
    greta = Customer("person", ids["greta"], "Greta")
    add_note(session, greta, "Rückruf erbeten", "staff")
    session.commit()
    assert (
        timeline_page(session, greta, viewer=Viewer.everyone(), limit=1).entries[0].subject
        == "Rückruf erbeten"
    )
    nordwind = Customer("organization", ids["nordwind"], "Nordwind")
    activity = dict(
        activity_by_month(
            session, nordwind, months=12, today=date(2026, 1, 31), viewer=Viewer.everyone()
        )
    )
    assert activity["2026-01"] == 47  # 24 G + 23 D, each counted once
    assert activity["2025-12"] == 0 and len(activity) == 12
