"""The files adapter on folders of .ics and .vcf files, vdirs and folders of mbox files."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.base import BatchLimits
from adapters.errors import SourceError
from adapters.files import FilesSource
from adapters.records import Batch, Collection, ContactRecord, EventRecord, MailRecord
from tests.mailgen import messages

LIMITS = BatchLimits()
LONG = timedelta(days=365 * 40)  # a window that holds every corpus event


def event(uid: str, summary: str, start: datetime | None = None, rrule: str = "") -> bytes:
    start = start or datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    stamp = start.strftime("%Y%m%dT%H%M%SZ")
    end = (start + timedelta(hours=1)).strftime("%Y%m%dT%H%M%SZ")
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//crmsync tests//EN",
        "BEGIN:VEVENT",
        f"UID:{uid}",
        "DTSTAMP:20250101T000000Z",
        f"DTSTART:{stamp}",
        f"DTEND:{end}",
        f"SUMMARY:{summary}",
        *([f"RRULE:{rrule}"] if rrule else []),
        "END:VEVENT",
        "END:VCALENDAR",
        "",
    ]
    return "\r\n".join(lines).encode()


def card(uid: str, name: str, email: str) -> bytes:
    lines = ["BEGIN:VCARD", "VERSION:3.0", f"UID:{uid}", f"FN:{name}", f"EMAIL:{email}"]
    return ("\r\n".join([*lines, "END:VCARD", ""])).encode()


def write(path: Path, data: bytes, *, mtime_ns: int | None = None) -> None:
    path.write_bytes(data)
    if mtime_ns is not None:
        os.utime(path, ns=(mtime_ns, mtime_ns))


def pull_all(
    source: FilesSource,
    collection: Collection,
    cursor: dict[str, Any] | None,
    limits: BatchLimits = LIMITS,
) -> tuple[list[Batch], dict[str, Any] | None]:
    """Every batch of one pull, and the cursor after the last one."""
    batches = list(source.pull(collection, cursor, limits))
    return batches, (batches[-1].cursor if batches else cursor)


def records(batches: list[Batch]) -> list[Any]:
    return [r for b in batches for r in b.records]


def mbox(mails: list[bytes]) -> bytes:
    out = []
    for n, mail in enumerate(mails):
        out.append(f"From sender{n}@example.com Mon Jan  6 10:00:00 2025\n".encode())
        body = b"".join(
            b">" + line if line.startswith(b"From ") else line
            for line in mail.splitlines(keepends=True)
        )
        out.append(body if body.endswith(b"\n") else body + b"\n")
        out.append(b"\n")
    return b"".join(out)


# -- a folder of .ics files -------------------------------------------------------------


def test_ics_folder_add_edit_delete(tmp_path: Path) -> None:
    folder = tmp_path / "calendar"
    folder.mkdir()
    write(folder / "a.ics", event("a", "Kickoff"), mtime_ns=1_700_000_000_000_000_000)
    write(folder / "b.ics", event("b", "Weekly", rrule="FREQ=WEEKLY;COUNT=4"))
    (folder / "notes.txt").write_text("not a calendar")

    source = FilesSource(path=folder)
    assert source.format == "ics"
    [collection] = source.collections()
    assert collection.kind == "calendar"

    batches, cursor = pull_all(source, collection, None)
    found = records(batches)
    assert all(isinstance(r, EventRecord) for r in found)
    assert sorted(r.summary for r in found) == ["Kickoff"] + ["Weekly"] * 4
    assert all(b.window is not None for b in batches)
    assert cursor is not None
    assert sorted(cursor["files"]) == ["a.ics", "b.ics"]

    # unchanged: nothing
    assert pull_all(source, collection, cursor)[0] == []

    # add c, rewrite a (same size, a new mtime), delete b
    write(folder / "c.ics", event("c", "Review"))
    write(folder / "a.ics", event("a", "Kickof2"), mtime_ns=1_700_000_100_000_000_000)
    (folder / "b.ics").unlink()
    batches, cursor = pull_all(source, collection, cursor)
    assert sorted((r.remote_id, r.summary) for r in records(batches)) == [
        ("a.ics", "Kickof2"),
        ("c.ics", "Review"),
    ]
    assert [d for b in batches for d in b.deleted] == ["b.ics"]
    assert cursor is not None
    assert sorted(cursor["files"]) == ["a.ics", "c.ics"]
    assert pull_all(source, collection, cursor)[0] == []


def test_ics_occurrences_of_one_file_stay_in_one_batch(tmp_path: Path) -> None:
    folder = tmp_path / "calendar"
    folder.mkdir()
    for n in range(6):
        write(folder / f"{n}.ics", event(f"e{n}", f"Daily {n}", rrule="FREQ=DAILY;COUNT=5"))
    source = FilesSource(path=folder, format="ics")
    [collection] = source.collections()
    batches, _ = pull_all(source, collection, None, BatchLimits(max_items=7))
    assert len(records(batches)) == 30
    for batch in batches:
        ids = {r.remote_id for r in batch.records}
        for remote_id in ids:  # every occurrence of a file is in the batch that has one
            assert sum(r.remote_id == remote_id for r in batch.records) == 5
    assert len(batches) == 6  # 5 + 5 > 7: one file a batch
    # the cursor of each batch names only the files taken so far
    assert [len(b.cursor["files"]) for b in batches] == [1, 2, 3, 4, 5, 6]


def test_malformed_ics_and_vcf_are_failures(tmp_path: Path, corpus: Path) -> None:
    calendars = tmp_path / "cal"
    calendars.mkdir()
    shutil.copy(corpus / "ical" / "radicale__broken-vevent.ics", calendars / "broken.ics")
    write(calendars / "good.ics", event("good", "Fine"))
    source = FilesSource(path=calendars)
    [collection] = source.collections()
    batches, cursor = pull_all(source, collection, None)
    assert [r.summary for r in records(batches)] == ["Fine"]
    [failure] = [f for b in batches for f in b.failures]
    assert failure.remote_id == "broken.ics"
    assert "broken.ics" in failure.reason
    # a file that cannot be parsed is not read again until it changes
    assert cursor is not None
    assert pull_all(source, collection, cursor)[0] == []

    cards = tmp_path / "cards"
    cards.mkdir()
    shutil.copy(corpus / "vcard" / "caldavtester__vcarderrors_4.vcf", cards / "bad.vcf")
    write(cards / "good.vcf", card("g", "Good Person", "good@example.com"))
    source = FilesSource(path=cards)
    [collection] = source.collections()
    batches, _ = pull_all(source, collection, None)
    assert [r.name for r in records(batches)] == ["Good Person"]
    [failure] = [f for b in batches for f in b.failures]
    assert failure.remote_id == "bad.vcf"
    assert "not a vCard" in failure.reason


def test_unreadable_file_is_a_failure_and_tried_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "cards"
    folder.mkdir()
    write(folder / "a.vcf", card("a", "Anna", "anna@example.com"))
    write(folder / "b.vcf", card("b", "Bert", "bert@example.com"))
    read_bytes = Path.read_bytes

    def forbidden(self: Path) -> bytes:
        if self.name == "b.vcf":
            raise PermissionError(13, "Permission denied", str(self))
        return read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", forbidden)
    source = FilesSource(path=folder)
    [collection] = source.collections()
    batches, cursor = pull_all(source, collection, None)
    assert [r.name for r in records(batches)] == ["Anna"]
    [failure] = [f for b in batches for f in b.failures]
    assert failure.remote_id == "b.vcf"
    assert "cannot read" in failure.reason
    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    batches, cursor = pull_all(source, collection, cursor)
    assert [r.name for r in records(batches)] == ["Bert"]


# -- .vcf folders and vdirs ----------------------------------------------------------------


def test_vcf_folder(tmp_path: Path, corpus: Path) -> None:
    folder = tmp_path / "contacts"
    folder.mkdir()
    shutil.copy(corpus / "vcard" / "ezvcard__gmail-list.vcf", folder / "gmail.vcf")  # 3 cards
    write(folder / "one.vcf", card("one", "Jana Petersen", "jana@nordwind.example"))
    source = FilesSource(path=folder)
    assert source.format == "vcf"
    [collection] = source.collections()
    assert collection.kind == "contacts"
    batches, cursor = pull_all(source, collection, None)
    found = records(batches)
    assert all(isinstance(r, ContactRecord) for r in found)
    assert sorted(r.remote_id for r in found) == [
        "gmail.vcf#1",
        "gmail.vcf#2",
        "gmail.vcf#3",
        "one.vcf",
    ]
    assert all(b.window is None for b in batches)

    (folder / "one.vcf").unlink()
    batches, cursor = pull_all(source, collection, cursor)
    assert records(batches) == []
    assert [d for b in batches for d in b.deleted] == ["one.vcf"]
    assert pull_all(source, collection, cursor)[0] == []


def test_vdir_with_a_calendar_and_an_address_book(tmp_path: Path, corpus: Path) -> None:
    root = tmp_path / "vdir"
    (root / "work").mkdir(parents=True)
    (root / "people").mkdir()
    (root / "empty").mkdir()
    (root / "work" / "displayname").write_text("Work calendar\n")
    (root / "work" / "color").write_text("#ff0000\n")
    shutil.copy(
        corpus / "ical" / "radicale__event_daily_rrule_overridden.ics", root / "work" / "r.ics"
    )
    write(root / "work" / "mine.ics", event("mine", "Planning"))
    shutil.copy(corpus / "vcard" / "ezvcard__rfc6350-example.vcf", root / "people" / "x.vcf")

    source = FilesSource(path=root, window_back=LONG, window_ahead=LONG)
    assert source.format == "vdir"
    collections = source.collections()
    assert [(c.id, c.name, c.kind) for c in collections] == [
        ("people", "people", "contacts"),
        ("work", "Work calendar", "calendar"),
    ]
    people, work = collections

    batches, cursor = pull_all(source, work, None)
    events = records(batches)
    assert {r.remote_id for r in events} == {"r.ics", "mine.ics"}
    assert sum(r.remote_id == "r.ics" for r in events) > 1  # a recurring event, expanded
    assert all(b.window is not None for b in batches)
    assert cursor is not None and "window" in cursor
    assert pull_all(source, work, cursor)[0] == []

    batches, cursor = pull_all(source, people, None)
    [contact] = records(batches)
    assert isinstance(contact, ContactRecord)
    assert contact.remote_id == "x.vcf"
    assert pull_all(source, people, cursor)[0] == []


def test_calendar_read_afresh_when_the_window_moved(tmp_path: Path) -> None:
    folder = tmp_path / "calendar"
    folder.mkdir()
    write(folder / "a.ics", event("a", "Weekly", rrule="FREQ=WEEKLY"))
    source = FilesSource(path=folder)
    [collection] = source.collections()
    _, cursor = pull_all(source, collection, None)
    assert cursor is not None
    old = datetime.fromisoformat(cursor["window"][0]) - timedelta(days=60)
    moved = {**cursor, "window": [old.isoformat(), cursor["window"][1]]}
    batches, after = pull_all(source, collection, moved)
    assert {r.remote_id for r in records(batches)} == {"a.ics"}
    assert after is not None
    assert datetime.fromisoformat(after["window"][0]) > old + timedelta(days=59)


# -- mbox files ----------------------------------------------------------------------------


def test_thunderbird_folder_of_mbox_files(tmp_path: Path) -> None:
    root = tmp_path / "Local Folders"
    (root / "Archives.sbd").mkdir(parents=True)
    mails = messages(9, seed=7)
    (root / "Inbox").write_bytes(mbox(mails[:3]))
    (root / "Inbox.msf").write_bytes(b'// <!-- <mdb:mork:z v="1.4"/> -->\n')
    (root / "Trash").write_bytes(b"")
    (root / "Trash.msf").write_bytes(b"")
    (root / "Archives").write_bytes(b"")
    (root / "Archives.msf").write_bytes(b"")
    (root / "Archives.sbd" / "2024").write_bytes(mbox(mails[3:7]))
    (root / "Archives.sbd" / "2024.msf").write_bytes(b"x")
    (root / "Mr. Smith").write_bytes(mbox(mails[7:]))
    (root / "msgFilterRules.dat").write_bytes(b'version="9"\n')
    (root / "folderTree.json").write_bytes(b"{}")
    (root / "popstate.dat").write_bytes(b"# POP3 State File\n")

    source = FilesSource(path=root)
    assert source.format == "mboxes"
    collections = source.collections()
    assert [(c.id, c.name, c.kind) for c in collections] == [
        ("Archives", "Archives", "mail"),
        ("Archives.sbd/2024", "Archives/2024", "mail"),
        ("Inbox", "Inbox", "mail"),
        ("Mr. Smith", "Mr. Smith", "mail"),
        ("Trash", "Trash", "mail"),
    ]
    counts = {}
    cursors = {}
    for collection in collections:
        batches, cursors[collection.id] = pull_all(source, collection, None)
        assert all(isinstance(r, MailRecord) for r in records(batches))
        assert not [f for b in batches for f in b.failures]
        counts[collection.id] = len(records(batches))
    assert counts == {"Archives": 0, "Archives.sbd/2024": 4, "Inbox": 3, "Mr. Smith": 2, "Trash": 0}

    # a new message appended to the Inbox: only it is read
    with (root / "Inbox").open("ab") as handle:
        handle.write(mbox(messages(1, seed=8)))
    inbox = collections[2]
    batches, _ = pull_all(source, inbox, cursors["Inbox"])
    assert len(records(batches)) == 1
    for collection in collections[:2] + collections[3:]:
        assert pull_all(source, collection, cursors[collection.id])[0] == []


def test_big_mbox_ingested_twice_gives_nothing_new(tmp_path: Path) -> None:
    path = tmp_path / "archive.mbox"
    path.write_bytes(mbox(messages(2000, seed=3)))
    source = FilesSource(path=path)
    assert source.format == "mbox"
    [collection] = source.collections()
    limits = BatchLimits(max_items=300, max_bytes=2 * 1024 * 1024)
    batches, cursor = pull_all(source, collection, None, limits)
    found = records(batches)
    assert len(found) == 2000
    assert len({r.dedupe_key for r in found}) == 2000
    assert not [f for b in batches for f in b.failures]
    assert all(len(b.records) <= 300 for b in batches)
    assert pull_all(source, collection, cursor, limits)[0] == []


def test_unknown_path_and_wrong_format(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "readme.txt").write_text("hello")
    with pytest.raises(SourceError, match="not a Maildir"):
        FilesSource(path=tmp_path / "x")
    (tmp_path / "f.mbox").write_bytes(b"From a@b Mon Jan  6 10:00:00 2025\n\nhi\n")
    with pytest.raises(SourceError, match="not a folder"):
        FilesSource(path=tmp_path / "f.mbox", format="ics")
