"""The CalDAV adapter against real servers: Radicale and Xandikos pass the same tests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapters.base import BatchLimits
from adapters.caldav import CalDavSource
from adapters.errors import AuthError, InvalidCursorError
from adapters.records import Batch, Collection, EventRecord
from tests.servers.radicale import DavTestServer

NOW = datetime.now(UTC).replace(microsecond=0, second=0, minute=0)


@pytest.fixture(params=["radicale", "xandikos"])
def server(request: pytest.FixtureRequest) -> DavTestServer:
    found: DavTestServer = request.getfixturevalue(request.param)
    return found


def ics(
    uid: str, start: datetime, summary: str = "Review", extra: str = "", hours: int = 1
) -> bytes:
    end = start + timedelta(hours=hours)
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//crmsync tests//EN\r\n"
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n"
        f"DTSTART:{start:%Y%m%dT%H%M%SZ}\r\nDTEND:{end:%Y%m%dT%H%M%SZ}\r\n"
        f"SUMMARY:{summary}\r\nORGANIZER;CN=Alice:mailto:alice@example.com\r\n"
        "ATTENDEE;CN=Ann;PARTSTAT=ACCEPTED:mailto:ann@customer.example\r\n"
        f"{extra}END:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()


def source(server: DavTestServer, password: str | None = None, **kw: Any) -> CalDavSource:
    return CalDavSource(
        url=server.url,
        username=server.username,
        password=password if password is not None else server.password,
        tls_verify=server.verify,
        account="test",
        **kw,
    )


def pull(src: CalDavSource, collection: Collection, cursor: dict[str, Any] | None) -> list[Batch]:
    return list(src.pull(collection, cursor, BatchLimits(max_items=2)))


def records(batches: list[Batch]) -> list[EventRecord]:
    return [r for b in batches for r in b.records if isinstance(r, EventRecord)]


@pytest.fixture
def calendar(server: DavTestServer) -> Iterator[str]:
    url = server.make_calendar(displayname="Work calendar")
    yield url
    server.delete(url)


def _collection(src: CalDavSource, server: DavTestServer, url: str) -> Collection:
    path = server.path(url)
    [found] = [c for c in src.collections() if c.id.rstrip("/") == path.rstrip("/")]
    return found


def test_discovers_calendars_and_pulls_incrementally(server: DavTestServer, calendar: str) -> None:
    for i in range(3):
        server.put_event(calendar, f"e{i}.ics", ics(f"e{i}", NOW + timedelta(days=i)))
    with source(server) as src:
        collection = _collection(src, server, calendar)
        assert collection.kind == "calendar" and collection.name == "Work calendar"
        assert "Work calendar" in src.probe()
        first = pull(src, collection, None)
        assert sorted(r.uid for r in records(first)) == ["e0", "e1", "e2"]
        assert len(first) >= 2, "bounded batches"
        assert all(b.window is not None for b in first)
        cursor = first[-1].cursor

        assert pull(src, collection, cursor) == [], "nothing changed: nothing yielded"

        server.put_event(calendar, "e3.ics", ics("e3", NOW + timedelta(days=5)))
        server.put_event(calendar, "e1.ics", ics("e1", NOW + timedelta(days=1), "Moved review"))
        server.delete(calendar.rstrip("/") + "/e2.ics")
        second = pull(src, collection, cursor)
        changed = {r.uid: r.summary for r in records(second)}
        assert changed == {"e3": "Review", "e1": "Moved review"}
        assert [d.rsplit("/", 1)[-1] for d in second[-1].deleted] == ["e2.ics"]
        [e1] = [r for r in records(second) if r.uid == "e1"]
        assert e1.organizer is not None and e1.organizer.email == "alice@example.com"
        assert [(a.email, a.status) for a in e1.attendees] == [("ann@customer.example", "ACCEPTED")]


def test_recurring_events_expand_within_the_window(server: DavTestServer, calendar: str) -> None:
    start = NOW.replace(hour=9) + timedelta(days=1)
    override = start + timedelta(weeks=1)
    series = ics(
        "weekly",
        start,
        "Weekly sync",
        extra="RRULE:FREQ=WEEKLY;COUNT=4\r\n"
        f"EXDATE:{start + timedelta(weeks=2):%Y%m%dT%H%M%SZ}\r\n",
    ).replace(
        b"END:VCALENDAR",
        (
            f"BEGIN:VEVENT\r\nUID:weekly\r\nDTSTAMP:20260101T000000Z\r\n"
            f"RECURRENCE-ID:{override:%Y%m%dT%H%M%SZ}\r\n"
            f"DTSTART:{override + timedelta(hours=2):%Y%m%dT%H%M%SZ}\r\n"
            f"DTEND:{override + timedelta(hours=3):%Y%m%dT%H%M%SZ}\r\n"
            "SUMMARY:Weekly sync (later)\r\nEND:VEVENT\r\nEND:VCALENDAR"
        ).encode(),
    )
    server.put_event(calendar, "weekly.ics", series)
    with source(server) as src:
        found = records(pull(src, _collection(src, server, calendar), None))
    by_start = {r.starts_at: r for r in found}
    assert sorted(by_start) == [start, override + timedelta(hours=2), start + timedelta(weeks=3)]
    assert by_start[override + timedelta(hours=2)].summary == "Weekly sync (later)"
    assert len({r.dedupe_key for r in found}) == 3
    assert all(r.remote_id.endswith("weekly.ics") for r in found)


def test_a_refused_sync_token_starts_over(server: DavTestServer, calendar: str) -> None:
    server.put_event(calendar, "a.ics", ics("a", NOW))
    with source(server) as src:
        collection = _collection(src, server, calendar)
        cursor = pull(src, collection, None)[-1].cursor
        assert cursor.get("token")
        # (a change since: the ctag differs, so the token is asked for)
        bogus = dict(cursor, token=str(cursor["token"]) + "-unknown", ctag="older")
        with pytest.raises(InvalidCursorError):
            pull(src, collection, bogus)


def test_etag_comparison_where_there_is_no_sync_token(server: DavTestServer, calendar: str) -> None:
    server.put_event(calendar, "a.ics", ics("a", NOW))
    server.put_event(calendar, "b.ics", ics("b", NOW + timedelta(days=1)))
    with source(server) as src:
        collection = _collection(src, server, calendar)
        cursor = {"token": None, "etags": {}}  # what a server without RFC 6578 leaves
        first = pull(src, collection, cursor)
        assert sorted(r.uid for r in records(first)) == ["a", "b"]
        after = first[-1].cursor
        assert after["token"] is None and len(after["etags"]) == 2
        assert pull(src, collection, after) == []
        server.put_event(calendar, "a.ics", ics("a", NOW, "Changed"))
        server.delete(calendar.rstrip("/") + "/b.ics")
        second = pull(src, collection, after)
        assert [r.summary for r in records(second)] == ["Changed"]
        assert [d.rsplit("/", 1)[-1] for d in second[-1].deleted] == ["b.ics"]


def test_a_broken_event_is_a_failure_and_the_rest_comes_through(
    server: DavTestServer, calendar: str
) -> None:
    server.put_event(calendar, "good.ics", ics("good", NOW))
    bad = ics("bad", NOW).replace(b"DTSTART:", b"DTSTART:not-a-date-")
    try:
        server.put_event(calendar, "bad.ics", bad)
    except Exception:  # a server that refuses it keeps it out itself
        pytest.skip(f"{type(server).__name__} refuses a broken DTSTART on PUT")
    with source(server) as src:
        batches = pull(src, _collection(src, server, calendar), None)
    assert [r.uid for r in records(batches)] == ["good"]
    failures = [f for b in batches for f in b.failures]
    assert [f.remote_id.rsplit("/", 1)[-1] for f in failures] == ["bad.ics"]
    assert failures[0].reason


def test_a_wrong_password_is_an_auth_error(server: DavTestServer) -> None:
    with source(server, password="wrong") as src, pytest.raises(AuthError):
        src.collections()


def test_a_no_change_pull_is_one_propfind_and_needs_no_discovery(
    server: DavTestServer, calendar: str
) -> None:
    for i in range(3):
        server.put_event(calendar, f"n{i}.ics", ics(f"n{i}", NOW + timedelta(days=i)))
    with source(server) as src:
        collection = _collection(src, server, calendar)
        cursor = pull(src, collection, None)[-1].cursor
    with source(server) as fresh:  # no collections(): the calendar is known by its path
        sent: list[tuple[str, int]] = []
        session = fresh._client.session
        original = session.request

        def counted(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            answer = original(method, url, *args, **kwargs)
            sent.append((method, answer.status_code))
            return answer

        session.request = counted  # type: ignore[method-assign]
        assert pull(fresh, collection, cursor) == []
        assert [m for m, status in sent if status != 401] == ["PROPFIND"]
        sent.clear()
        assert pull(fresh, collection, cursor) == []
        assert sent == [("PROPFIND", 207)]
        server.put_event(calendar, "n9.ics", ics("n9", NOW, "New"))
        assert [r.summary for r in records(pull(fresh, collection, cursor))] == ["New"]
