"""adapters.ical.parse_calendar: over every iCalendar file of the shared corpus, and over
calendars written here."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from icalendar import Component

import adapters.ical as ical
from adapters.ical import (
    DEFAULT_WINDOW,
    default_window,
    parse_calendar,
    window_around,
)
from adapters.icalfast import fast_vevent
from adapters.records import EventRecord, ItemFailure
from adapters.windowszones import iana_name
from tests.corpus import CORPUS

WIDE = (datetime(1990, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC))
ICAL_FILES = sorted(p.name for p in (CORPUS / "ical").glob("*") if p.suffix != ".md")
# Calendars without any VEVENT: nothing to read and nothing wrong with the event data
# (an empty VCALENDAR behind a BOM; a lone VTIMEZONE with a broken offset).
NO_EVENTS = {"icalendar__bom_calendar.ics", "icalendar__parsing_error_in_UTC_offset.ics"}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def read(
    corpus: Path, name: str, window: tuple[datetime, datetime] = WIDE
) -> tuple[list[EventRecord], list[ItemFailure]]:
    return parse_calendar((corpus / "ical" / name).read_bytes(), name, window=window)


def calendar(*events: str, head: str = "") -> bytes:
    """A VCALENDAR around ``events`` (each the lines inside one VEVENT)."""
    body = "".join(f"BEGIN:VEVENT\n{e.strip()}\nEND:VEVENT\n" for e in events)
    text = f"BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//test//EN\n{head}{body}END:VCALENDAR\n"
    return text.replace("\n", "\r\n").encode()


def parse(raw: bytes, window: tuple[datetime, datetime] = WIDE) -> list[EventRecord]:
    records, failures = parse_calendar(raw, "test.ics", window=window)
    assert failures == []
    return records


def by_start(records: list[EventRecord]) -> dict[datetime, EventRecord]:
    return {r.starts_at: r for r in records}


def text_of(records: list[EventRecord], failures: list[ItemFailure]) -> str:
    """Everything that may end up in a log line or on the admin's quarantine page."""
    return " ".join([*(d for r in records for d in r.defects), *(f.reason for f in failures)])


def assert_sane(records: list[EventRecord], failures: list[ItemFailure], name: str) -> None:
    for record in records:
        for moment in (record.starts_at, record.ends_at, record.recurrence_id):
            assert moment is None or moment.utcoffset() == timedelta(0)
        assert record.ends_at >= record.starts_at
        if record.recurrence_id is None:
            assert record.dedupe_key == f"ical:{record.uid}"
        else:
            assert record.dedupe_key.startswith(f"ical:{record.uid}/")
        assert record.remote_id == name
        if record.all_day:
            assert record.starts_at.hour == record.starts_at.minute == 0
            assert record.ends_at > record.starts_at
    assert [k for k, n in Counter(r.dedupe_key for r in records).items() if n > 1] == []
    assert len(failures) <= 1
    for failure in failures:
        assert failure.remote_id == name and failure.reason.startswith(f"{name}: ")


# -- every corpus file ------------------------------------------------------------------


@pytest.mark.parametrize("name", ICAL_FILES or ["(no corpus)"])
def test_every_corpus_file_gives_records_or_failures(corpus: Path, name: str) -> None:
    records, failures = read(corpus, name)
    assert_sane(records, failures, name)
    if name in NO_EVENTS:
        assert records == [] and failures == []
    else:
        assert records or failures


def test_the_corpus_is_all_there(corpus: Path) -> None:
    assert len(ICAL_FILES) == 46


# -- Windows and other time zones ---------------------------------------------------------


def test_outlook_windows_zone_gives_the_utc_instant(corpus: Path) -> None:
    [event], [] = read(corpus, "biweekly__issue85.ics")  # W. Europe Standard Time, summer
    assert (event.starts_at, event.ends_at) == (utc(2018, 7, 22, 10), utc(2018, 7, 22, 11))
    assert event.dedupe_key == "ical:0a1f4b32-279a-11e8-adab-e67eecc63901"
    assert event.defects == () and event.summary == "Meeting in Berlin"


def test_outlook_2010_meeting_with_organizer_and_attendees(corpus: Path) -> None:
    [event], [] = read(corpus, "biweekly__outlook-2010.ics")  # Eastern Standard Time
    assert (event.starts_at, event.ends_at) == (utc(2013, 6, 10, 16), utc(2013, 6, 10, 17))
    assert event.organizer is not None and event.organizer.email == "bobsmith@example.com"
    assert event.organizer.name == "Smith, Bob"
    john, jane = event.attendees
    assert (john.email, john.name, john.role) == (
        "johndoe@example.com",
        "Doe, John",
        "OPT-PARTICIPANT",
    )
    assert (jane.email, jane.role, jane.status) == ("janedoe@example.com", "CHAIR", "")
    assert (event.sequence, event.last_modified) == (1, utc(2013, 6, 8, 20, 4, 10))
    assert (event.location, event.private, event.recurrence_id) == ("Auditorium 16", False, None)


@pytest.mark.parametrize(
    ("name", "start"),
    [
        ("icalendar__issue_836_do_not_quote_tzid.ics", utc(2024, 10, 28, 21)),  # Eastern
        # "New Zealand Standard Time" whose VTIMEZONE has CET offsets: the IANA zone wins
        ("khal__tz_windows_format.ics", utc(2019, 11, 20, 0)),
        (
            "icalendar__issue_237_fail_to_parse_timezone_with_non_ascii_tzid.ics",
            utc(2017, 5, 11, 16, 30),
        ),
        ("vobject__ms_tzid.ics", utc(2008, 5, 30, 5)),  # "Canberra, Melbourne, Sydney"
        ("vobject__tzid_8bit.ics", utc(2008, 5, 30, 9)),  # Cyrillic name: its VTIMEZONE
        ("icalendar__issue_218_bad_tzid.ics", utc(2017, 2, 28, 12)),  # "UTC+11": its VTIMEZONE
        ("radicale__event_timezone_seconds.ics", utc(2018, 4, 20, 9)),  # Europe/Moscow
        ("khal__invalid_tzoffset.ics", utc(2012, 12, 2, 7)),  # a broken, unused VTIMEZONE
        ("rie__x_wr_timezone_simple_events_issue_59.ics", utc(2021, 12, 22, 17)),
    ],
)
def test_time_zones_of_the_corpus(corpus: Path, name: str, start: datetime) -> None:
    records, failures = read(corpus, name)
    assert failures == []
    assert records[0].starts_at == start


def test_outlook_display_names_are_noted_as_read(corpus: Path) -> None:
    [event], [] = read(corpus, "vobject__ms_tzid.ics")
    assert "TZID 'Canberra, Melbourne, Sydney' read as Australia/Sydney" in event.defects


@pytest.mark.parametrize(
    ("tzid", "zone"),
    [
        ("W. Europe Standard Time", "Europe/Berlin"),
        ("Pacific Standard Time", "America/Los_Angeles"),
        ("(UTC+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna", "Europe/Berlin"),
        ("(GMT-05:00) Eastern Time (US & Canada)", "America/New_York"),
        ("(UTC-03:00) Brasília", "America/Sao_Paulo"),
        ("/mozilla.org/20050126_1/Europe/Berlin", "Europe/Berlin"),
        ("tzone://Microsoft/Utc", "Etc/UTC"),
        ("Europe/Vienna", "Europe/Vienna"),
    ],
)
def test_time_zone_names(tzid: str, zone: str) -> None:
    found = iana_name(tzid)
    assert found is not None and found[0] == zone
    assert iana_name("UTC+11") is None and iana_name("Customized Time Zone") is None
    assert iana_name("Custom/UTC") is None  # a tail is tried only behind a vendor prefix


def test_a_windows_zone_without_vtimezone() -> None:
    raw = calendar(
        "UID:w\nDTSTART;TZID=Pacific Standard Time:20240115T090000\n"
        'DTEND;TZID="Pacific Standard Time":20240115T100000'
    )
    [event] = parse(raw)
    assert (event.starts_at, event.ends_at) == (utc(2024, 1, 15, 17), utc(2024, 1, 15, 18))
    assert event.defects == ()


def test_vendor_prefixed_and_display_name_tzids_in_an_event() -> None:
    """icalendar warns about a vendor-prefixed TZID it resolves: the parser never lets it
    (pytest turns warnings into errors here)."""
    [event] = parse(
        calendar(
            "UID:v\nDTSTART;TZID=/mozilla.org/20050126_1/Europe/Berlin:20240101T100000\n"
            'DTEND;VALUE=DATE-TIME;TZID="(UTC+01:00) Amsterdam, Berlin, Bern, Rome, '
            'Stockholm, Vienna":20240101T113000'
        )
    )
    assert (event.starts_at, event.ends_at) == (utc(2024, 1, 1, 9), utc(2024, 1, 1, 10, 30))


def test_a_zone_means_what_its_own_file_says() -> None:
    """icalendar caches VTIMEZONEs process-wide by TZID: two files defining "Office"
    differently must each keep their own."""
    for offset, hour in (("+0100", 9), ("+0500", 5)):
        zone = (
            f"BEGIN:VTIMEZONE\nTZID:Office\nBEGIN:STANDARD\nDTSTART:19700101T000000\n"
            f"TZOFFSETFROM:{offset}\nTZOFFSETTO:{offset}\nEND:STANDARD\nEND:VTIMEZONE\n"
        )
        [event] = parse(calendar("UID:o\nDTSTART;TZID=Office:20240301T100000", head=zone))
        assert event.starts_at == utc(2024, 3, 1, hour)


def test_unknown_zone_and_floating_times_are_utc_and_noted() -> None:
    unknown, floating = parse(
        calendar(
            "UID:a\nDTSTART;TZID=Atlantis/Capital:20240301T100000", "UID:b\nDTSTART:20240301T100000"
        )
    )
    assert unknown.starts_at == floating.starts_at == utc(2024, 3, 1, 10)
    assert any("Atlantis/Capital" in d and "UTC" in d for d in unknown.defects)
    assert floating.defects == ("floating time (no TZID): taken as UTC",)


def test_floating_times_take_x_wr_timezone() -> None:
    raw = calendar("UID:g\nDTSTART:20240301T100000", head="X-WR-TIMEZONE:Europe/Berlin\n")
    [event] = parse(raw)
    assert event.starts_at == utc(2024, 3, 1, 9) and event.defects == ()


# -- recurrence -------------------------------------------------------------------------


def test_override_replaces_its_occurrence(corpus: Path) -> None:
    records, [] = read(corpus, "radicale__event_daily_rrule_overridden.ics")
    assert len(records) == 5  # DAILY;COUNT=5 in US/Eastern
    moved = [r for r in records if r.summary == "Event #2 bis"]
    assert [r.dedupe_key for r in moved] == ["ical:event_daily_rrule_overridden/20060104T170000Z"]
    assert (moved[0].starts_at, moved[0].recurrence_id) == (
        utc(2006, 1, 4, 19),
        utc(2006, 1, 4, 17),
    )
    assert {r.starts_at.hour for r in records if r not in moved} == {17}


def test_cancelled_override_is_kept_cancelled(corpus: Path) -> None:
    records, [] = read(corpus, "khal__event_rrule_recuid_cancelled.ics")
    occurrences = by_start(records)
    assert len(records) == 6
    assert occurrences[utc(2014, 7, 14, 5)].status == "CANCELLED"
    assert occurrences[utc(2014, 7, 7, 7)].recurrence_id == utc(2014, 7, 7, 5)  # moved 2 h
    assert [r.status for r in records].count("CANCELLED") == 1


def test_exdate_removes_an_occurrence(corpus: Path) -> None:
    records, [] = read(corpus, "rie__each_week_but_one_deleted.ics")
    assert len(records) == 7  # COUNT=8, one EXDATE
    assert utc(2019, 3, 10, 23, 30) not in by_start(records)
    records, [] = read(corpus, "icalendar__event_with_recurrence_exdates_on_different_lines.ics")
    days = {r.starts_at.date().isoformat() for r in records}
    assert len(records) == 10 and not days & {
        "2012-04-03",
        "2012-04-10",
        "2012-04-17",
        "2012-05-01",
    }


def test_floating_exdate_in_a_windows_zone_series(corpus: Path) -> None:
    records, [] = read(corpus, "radicale__event_issue2151.ics")
    starts = by_start(records)
    assert len(records) == 27  # weekly Jan 23 to Jul 31 2026, one EXDATE
    assert utc(2026, 4, 3, 9) not in starts and utc(2026, 4, 10, 9) in starts  # CEST
    assert starts[utc(2026, 1, 23, 10)].attendees[0].status == "ACCEPTED"  # CET
    assert starts[utc(2026, 1, 30, 9, 30)].recurrence_id == utc(2026, 1, 30, 10)


def test_this_and_future_override_keys_stay_unique(corpus: Path) -> None:
    records, [] = read(corpus, "rie__issue_75_range_parameter.ics")
    starts = by_start(records)
    assert starts[utc(2024, 9, 17, 9)].recurrence_id == utc(2024, 9, 17, 12)
    assert starts[utc(2024, 9, 14, 6)].recurrence_id == utc(2024, 9, 14, 9)  # the RDATE, moved
    assert starts[utc(2024, 9, 15, 17)].summary == "MODIFIED EVENT"


def test_deleted_modification_and_duplicate_series(corpus: Path) -> None:
    records, [] = read(corpus, "rie__issue_163_deleted_modification.ics")
    assert utc(2024, 8, 19) not in by_start(records)
    assert records[0].dedupe_key == "ical:111/20240729" and records[0].all_day


def test_override_with_a_date_recurrence_id(corpus: Path) -> None:
    records, [] = read(corpus, "radicale__event_mixed_recurrence_id_dt_type.ics")
    assert [r.summary for r in records] == [
        "Recurring event",
        "Override with wrong type",
        "Recurring event",
    ]


def test_all_day_series_with_moved_occurrence(corpus: Path) -> None:
    records, [] = read(corpus, "rie__issue_28_rrule_with_UTC_endinginZ.ics")
    moved = next(r for r in records if r.dedupe_key.endswith("/20200416"))
    assert moved.all_day and (moved.starts_at, moved.ends_at) == (
        utc(2020, 4, 17),
        utc(2020, 4, 18),
    )
    assert moved.recurrence_id == utc(2020, 4, 16)


def test_window_bounds_a_daily_all_day_series(corpus: Path) -> None:
    window = (utc(2019, 3, 4), utc(2019, 3, 8))
    records, [] = read(corpus, "rie__one_day_event_repeat_every_day.ics", window)
    assert [r.dedupe_key[-8:] for r in records] == ["20190304", "20190305", "20190306", "20190307"]
    assert all(r.ends_at - r.starts_at == timedelta(days=1) for r in records)


def test_all_day_without_value_date(corpus: Path) -> None:
    [event], [] = read(corpus, "khal__event_d_no_value.ics")
    assert event.all_day and (event.starts_at, event.ends_at) == (utc(2014, 4, 9), utc(2014, 4, 10))


# -- malformed and odd files --------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("icalendar__broken_ical.ics", "event 'abc': DTSTART unreadable"),
        ("icalendar__big_bad_calendar.ics", "event without UID: no DTSTART (20 times)"),
        ("radicale__broken-vevent.ics", "END:VEVENT missing"),
        ("icalendar__fuzz_testcase_vtimezone_lone_cr.ics", "not an iCalendar file"),
        (
            "rie__bad_rrule_missing_until_event.ics",
            "event 'blabla': unreadable (BadRuleStringFormat",
        ),
    ],
)
def test_malformed_files_are_failures_with_reasons(corpus: Path, name: str, reason: str) -> None:
    records, [failure] = read(corpus, name)
    assert records == []
    assert failure.reason.startswith(f"{name}: ") and reason in failure.reason


def test_bad_events_fail_and_good_ones_come_through(corpus: Path) -> None:
    records, [failure] = read(corpus, "icalendar__issue_722_missing_timezones.ics")
    assert [r.starts_at for r in records] == [utc(2014, 8, 29, 12), utc(2024, 9, 13, 10)]
    assert records[0].ends_at == utc(2014, 8, 29, 15)  # DTEND in America/Los_Angeles
    assert "event without UID: no DTSTART (2 times)" in failure.reason


def test_odd_but_readable_corpus_files(corpus: Path) -> None:
    [event], [] = read(corpus, "icalendar__invalid_duration.ics")
    assert event.ends_at == event.starts_at and "DURATION unreadable: ignored" in event.defects
    [event], [] = read(corpus, "vobject__badstream.ics")  # a nonsensical VALARM
    assert event.starts_at == utc(2002, 10, 28, 14)
    [event], [] = read(corpus, "khal__without_uid.ics")
    assert event.dedupe_key.startswith("ical:sha256:") and event.uid == event.dedupe_key[5:]
    [event], [] = read(corpus, "khal__event_dt_recuid_no_master.ics")
    assert event.dedupe_key == "ical:406336/20170329T160000Z"
    [event], [] = read(corpus, "biweekly__vcal-example1.vcs")
    assert (event.private, event.status) == (True, "TENTATIVE")
    assert "Proposal" not in text_of([event], [])


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"   \r\n",
        b"<html><body>502 Bad Gateway</body></html>",
        b"\x00\xff\xfe garbage",
        b"BEGIN:VCARD\r\nFN:x\r\nEND:VCARD\r\n",
    ],
)
def test_not_icalendar_at_all(raw: bytes) -> None:
    records, [failure] = parse_calendar(raw, "x.ics", window=WIDE)
    assert records == [] and failure.reason.startswith("x.ics: ") and failure.raw == raw


def test_todos_journals_and_free_busy_are_ignored() -> None:
    raw = (
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VTODO\r\nUID:t\r\nSUMMARY:todo\r\nEND:VTODO\r\n"
        b"BEGIN:VJOURNAL\r\nUID:j\r\nEND:VJOURNAL\r\nBEGIN:VFREEBUSY\r\nUID:f\r\n"
        b"FREEBUSY:20240101T100000Z/PT1H\r\nEND:VFREEBUSY\r\nEND:VCALENDAR\r\n"
    )
    assert parse_calendar(raw, "t.ics", window=WIDE) == ([], [])


# -- calendars written here ---------------------------------------------------------------


def test_duration_and_missing_end() -> None:
    timed, day, no_end, no_end_day = parse(
        calendar(
            "UID:d1\nDTSTART:20240301T100000Z\nDURATION:PT1H30M",
            "UID:d2\nDTSTART;VALUE=DATE:20240301\nDURATION:P2D",
            "UID:d3\nDTSTART:20240301T100000Z",
            "UID:d4\nDTSTART;VALUE=DATE:20240301",
        )
    )
    assert timed.ends_at == utc(2024, 3, 1, 11, 30) and not timed.all_day
    assert (day.starts_at, day.ends_at, day.all_day) == (utc(2024, 3, 1), utc(2024, 3, 3), True)
    assert no_end.ends_at == no_end.starts_at  # a date-time without end lasts no time
    assert no_end_day.ends_at == utc(2024, 3, 2)  # a date without end lasts one day


def test_all_day_multi_day_event() -> None:
    [event] = parse(calendar("UID:trip\nDTSTART;VALUE=DATE:20241230\nDTEND;VALUE=DATE:20250102"))
    assert event.all_day and event.dedupe_key == "ical:trip" and event.recurrence_id is None
    assert (event.starts_at, event.ends_at) == (utc(2024, 12, 30), utc(2025, 1, 2))


WEEKLY = (
    "UID:weekly@example.com\nDTSTART;TZID=Europe/Berlin:20240105T100000\n"
    "DTEND;TZID=Europe/Berlin:20240105T110000\nRRULE:FREQ=WEEKLY;COUNT=10\nSUMMARY:Jour fixe"
)


def test_weekly_count_expanded_within_the_window() -> None:
    records = parse(calendar(WEEKLY), window=(utc(2024, 1, 15), utc(2024, 2, 1)))
    assert [r.starts_at for r in records] == [utc(2024, 1, 19, 9), utc(2024, 1, 26, 9)]
    assert [r.dedupe_key for r in records] == [
        "ical:weekly@example.com/20240119T090000Z",
        "ical:weekly@example.com/20240126T090000Z",
    ]
    assert len(parse(calendar(WEEKLY))) == 10
    assert parse(calendar(WEEKLY), window=(utc(2025, 1, 1), utc(2026, 1, 1))) == []


def test_a_single_event_is_read_whatever_the_window() -> None:
    [event] = parse(calendar("UID:old\nDTSTART:20010101T100000Z"), window=default_window())
    assert event.starts_at == utc(2001, 1, 1, 10)


def test_override_moves_one_occurrence() -> None:
    moved = (
        "UID:weekly@example.com\nRECURRENCE-ID;TZID=Europe/Berlin:20240112T100000\n"
        "DTSTART;TZID=Europe/Berlin:20240112T150000\nDTEND;TZID=Europe/Berlin:20240112T160000\n"
        "SUMMARY:Jour fixe (afternoon)\nSEQUENCE:1"
    )
    records = parse(calendar(WEEKLY, moved))
    assert len(records) == 10
    [override] = [r for r in records if r.recurrence_id == utc(2024, 1, 12, 9)]
    assert (override.starts_at, override.summary, override.sequence) == (
        utc(2024, 1, 12, 14),
        "Jour fixe (afternoon)",
        1,
    )
    assert override.dedupe_key == "ical:weekly@example.com/20240112T090000Z"
    assert utc(2024, 1, 12, 9) not in by_start(records)


def test_cancelled_occurrence_and_cancelled_series() -> None:
    cancelled = (
        "UID:weekly@example.com\nRECURRENCE-ID;TZID=Europe/Berlin:20240119T100000\n"
        "DTSTART;TZID=Europe/Berlin:20240119T100000\nSTATUS:CANCELLED"
    )
    records = parse(calendar(WEEKLY, cancelled))
    assert len(records) == 10
    assert [r.starts_at for r in records if r.status == "CANCELLED"] == [utc(2024, 1, 19, 9)]
    series = parse(calendar(WEEKLY + "\nSTATUS:CANCELLED"))
    assert len(series) == 10 and {r.status for r in series} == {"CANCELLED"}


def test_exdate_occurrence_is_absent() -> None:
    records = parse(
        calendar(WEEKLY + "\nEXDATE;TZID=Europe/Berlin:20240112T100000,20240119T100000")
    )
    assert len(records) == 8 and utc(2024, 1, 12, 9) not in by_start(records)


def test_confidential_event_is_private_and_never_quoted() -> None:
    secret = "Lawyer about the Miller divorce"
    raw = calendar(
        f"UID:p1\nCLASS:CONFIDENTIAL\nSUMMARY:{secret}\nDESCRIPTION:{secret}\nLOCATION:{secret}\n"
        "DTSTART:20240301T100000\nSUMMARY:second summary\nSEQUENCE:x\nX-BAD/LINE:1",
        f"UID:p2\nCLASS:PRIVATE\nSUMMARY:{secret}\nDTSTART:20240301T100000Z\nRRULE:FREQ=WEEKLY;UNTL={secret}",
        f"UID:p3\nSUMMARY;;{secret}\nDTSTART;VALUE=DATE:{secret}",
    )
    records, [failure] = parse_calendar(raw, "p.ics", window=WIDE)
    [event] = records
    assert event.private and event.summary == secret and event.defects
    assert "p2" in failure.reason and "p3" in failure.reason
    assert "Miller" not in text_of(records, [failure])


def test_organizer_and_attendees() -> None:
    [event] = parse(
        calendar(
            "UID:m\nDTSTART:20240301T100000Z\nORGANIZER;CN=Alice:MAILTO:alice@example.com\n"
            'ATTENDEE;CN="Bob, B.";ROLE=REQ-PARTICIPANT;PARTSTAT=accepted:'
            "mailto:bob@customer.example\n"
            "ATTENDEE;ROLE=OPT-PARTICIPANT;PARTSTAT=DECLINED:mailto:carol@customer.example\n"
            "ATTENDEE;PARTSTAT=TENTATIVE:Mailto:dave@customer.example"
        )
    )
    assert event.organizer is not None
    assert (event.organizer.email, event.organizer.name) == ("alice@example.com", "Alice")
    assert [(a.email, a.name, a.role, a.status) for a in event.attendees] == [
        ("bob@customer.example", "Bob, B.", "REQ-PARTICIPANT", "ACCEPTED"),
        ("carol@customer.example", "", "OPT-PARTICIPANT", "DECLINED"),
        ("dave@customer.example", "", "", "TENTATIVE"),
    ]


def test_a_file_with_two_events() -> None:
    first, second = parse(
        calendar(
            "UID:one\nDTSTART:20240301T100000Z\nSUMMARY:One",
            "UID:two\nDTSTART:20240302T100000Z\nSUMMARY:Two\nLAST-MODIFIED:20240201T080000Z",
        )
    )
    assert (first.dedupe_key, first.summary) == ("ical:one", "One")
    assert (second.dedupe_key, second.last_modified) == ("ical:two", utc(2024, 2, 1, 8))


def test_one_bad_event_among_good_ones() -> None:
    raw = calendar(
        "UID:good\nDTSTART:20240301T100000Z",
        "UID:bad\nDTSTART:2024-03-01 10:00",
        "UID:also-good\nDTSTART:20240302T100000Z",
    )
    records, [failure] = parse_calendar(raw, "cal/x.ics", window=WIDE)
    assert [r.uid for r in records] == ["good", "also-good"]
    assert failure.reason == "cal/x.ics: event 'bad': DTSTART unreadable"


def test_a_too_dense_rule_is_refused_not_expanded() -> None:
    raw = calendar(
        "UID:tick\nDTSTART:20240101T000000Z\nRRULE:FREQ=MINUTELY",
        "UID:ok\nDTSTART:20240101T000000Z",
    )
    records, [failure] = parse_calendar(raw, "t.ics", window=default_window())
    assert [r.uid for r in records] == ["ok"]
    assert "FREQ=MINUTELY" in failure.reason and "not expanded" in failure.reason


def test_windows() -> None:
    now = datetime(2025, 6, 1, 12, tzinfo=UTC)
    assert window_around(now) == (now - timedelta(days=365), now + timedelta(days=365))
    assert window_around(now.replace(tzinfo=None), timedelta(days=1), timedelta(days=2)) == (
        utc(2025, 5, 31, 12),
        utc(2025, 6, 3, 12),
    )
    start, end = default_window()
    assert end - start == DEFAULT_WINDOW[0] + DEFAULT_WINDOW[1]
    assert start < datetime.now(UTC) < end


# -- never raises --------------------------------------------------------------------------

LINES = [
    "BEGIN:VCALENDAR",
    "END:VCALENDAR",
    "BEGIN:VEVENT",
    "END:VEVENT",
    "BEGIN:VALARM",
    "END:VALARM",
    "BEGIN:VTIMEZONE",
    "END:VTIMEZONE",
    "BEGIN:STANDARD",
    "END:STANDARD",
    "UID:u",
    "UID:v",
    "DTSTART:20240101T100000Z",
    "DTSTART;VALUE=DATE:20240101",
    "DTSTART;TZID=Nowhere:20240101T100000",
    "DTSTART;TZID=W. Europe Standard Time:20240101T100000",
    "DTEND:20231231T100000Z",
    "DURATION:-P1D",
    "DURATION:P99999999W",
    "RRULE:FREQ=DAILY;COUNT=3",
    "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10",
    "RRULE:FREQ=SECONDLY",
    "RRULE:garbage",
    "RECURRENCE-ID:20240102T100000Z",
    "RECURRENCE-ID;RANGE=THISANDFUTURE:20240102T100000Z",
    "RECURRENCE-ID;VALUE=DATE:20240103",
    "EXDATE:20240102T100000Z",
    "RDATE;VALUE=PERIOD:20240105T100000Z/PT1H",
    "STATUS:CANCELLED",
    "CLASS:PRIVATE",
    "SEQUENCE:-1",
    "TZID:Nowhere",
    "TZOFFSETFROM:+5744",
    "TZOFFSETTO:+0100",
    "ATTENDEE:",
    "ORGANIZER;CN=:",
    "X-WR-TIMEZONE:Mars/Olympus",
    ":",
    ";;",
    " folded",
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(LINES), max_size=40), st.sampled_from(["\r\n", "\n", "\r"]))
def test_never_raises_on_shuffled_lines(lines: list[str], newline: str) -> None:
    raw = newline.join(lines).encode()
    records, failures = parse_calendar(raw, "fuzz.ics", window=(utc(2023, 1, 1), utc(2025, 1, 1)))
    assert_sane(records, failures, "fuzz.ics")


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_never_raises_on_bytes(raw: bytes) -> None:
    records, failures = parse_calendar(raw, "b.ics", window=WIDE)
    assert_sane(records, failures, "b.ics")


# -- the fast path (adapters.icalfast) reads exactly what icalendar reads ---------------

FAST_CASES = [
    "SUMMARY:Plain\r\nDTSTART:20260301T090000Z\r\nDTEND:20260301T100000Z\r\n",
    'ORGANIZER;CN="Doe, John":mailto:john@example.com\r\nDTSTART;VALUE=DATE:20260301\r\n'
    'ATTENDEE;CN="A: B";PARTSTAT=ACCEPTED;ROLE=REQ-PARTICIPANT:mailto:a@example.com\r\n',
    "DTSTART;TZID=W. Europe Standard Time:20260301T090000\r\nDURATION:PT1H\r\n"
    'DESCRIPTION:a\\, b\\; c\\nnext \\\\ line\r\nLOCATION;ALTREP="http://x/y:z":Room 1\r\n',
    "DTSTART:20260301T090000Z\r\nSEQUENCE:not-a-number\r\nCATEGORIES:A,B\\,C\r\n",
    "DTSTART:not-a-date\r\nSUMMARY ; LANGUAGE = en :Blanks\r\n",
    "DTSTART:20260301T090000Z\r\nATTENDEE;CN=^'quoted^':mailto:c@example.com\r\n"
    "X-ODD;X-P=a,b:value\r\nRDATE:20260302T090000Z\r\nSTATUS:CANCELLED\r\n",
    "DTSTART:20260301T090000\r\nRRULE:FREQ=WEEKLY;COUNT=3\r\n"
    "EXDATE:20260308T090000\r\nLAST-MODIFIED:20260101T000000Z\r\nCLASS:PRIVATE\r\n",
]


def _both_ways(
    monkeypatch: pytest.MonkeyPatch, raw: bytes, window: tuple[datetime, datetime] = WIDE
) -> tuple[tuple[list[EventRecord], list[ItemFailure]], ...]:
    monkeypatch.setattr(ical, "FAST_PATH", False)
    slow = parse_calendar(raw, "x.ics", window=window)
    monkeypatch.setattr(ical, "FAST_PATH", True)
    return slow, parse_calendar(raw, "x.ics", window=window)


@pytest.mark.parametrize("name", ICAL_FILES or ["(no corpus)"])
def test_the_fast_path_reads_each_corpus_file_as_icalendar_does(
    corpus: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = (corpus / "ical" / name).read_bytes()
    for window in (WIDE, (utc(2024, 1, 1), utc(2026, 1, 1))):
        slow, fast = _both_ways(monkeypatch, raw, window)
        assert fast == slow


@pytest.mark.parametrize("body", FAST_CASES)
def test_the_fast_path_reads_odd_lines_as_icalendar_does(
    body: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:u1\r\n"
        f"DTSTAMP:20260101T000000Z\r\n{body}END:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()
    slow, fast = _both_ways(monkeypatch, raw)
    assert fast == slow


def test_fast_vevent_makes_the_same_component_or_steps_aside() -> None:
    lines = [
        "BEGIN:VEVENT",
        "UID:u1",
        'ORGANIZER;CN="Doe, John";X-CRMSYNC-TZID=x:mailto:john@example.com',
        "DTSTART;VALUE=DATE:20260301",
        "SUMMARY:a\\, b",
        "END:VEVENT",
    ]
    fast = fast_vevent(lines)
    slow = Component.from_ical("\r\n".join(lines) + "\r\n")
    assert fast is not None and fast.to_ical() == slow.to_ical()
    assert list(fast.items()) == list(slow.items())
    assert [dict(v.params) for v in fast.values()] == [dict(v.params) for v in slow.values()]
    assert fast_vevent(["BEGIN:VEVENT", "CATEGORIES:a,b", "END:VEVENT"]) is None
    assert fast_vevent(["BEGIN:VEVENT", "DTSTART:garbage", "END:VEVENT"]) is None
    assert fast_vevent(["BEGIN:VEVENT", "SUMMARY ;X=1:a", "END:VEVENT"]) is None
    assert fast_vevent(["BEGIN:VEVENT", "BEGIN:VALARM", "END:VALARM", "END:VEVENT"]) is None
