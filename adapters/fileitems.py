"""Folders of calendar and contact files: a folder of .ics files, a folder of .vcf
files, or a vdir (vdirsyncer's layout: one subfolder per collection, one item a file).

Cursor: ``{"files": {file name: [size, mtime_ns]}}``, plus ``"window": [from, to]``
(ISO dates) for calendars. A file whose size or mtime differs from the stored one
(or that is new) is read again; a stored name no longer found is reported in
:attr:`Batch.deleted`. The cursor holds one entry per file, which is fine up to some
100,000 files per collection (a few MB of JSON); past that it wants another design.

A file whose bytes cannot be read (permissions) is a failure, and its entry keeps
the old value, so the next pull tries it again. A file that cannot be parsed is a
failure too, but is not read again until it changes.

Recurring events are expanded within a window around now (adapters.ical), and an
unchanged file is not read again, so when the window of the last full read has moved
by more than :data:`WINDOW_SLACK` every file is read afresh (as adapters.caldav does).
One file's occurrences always travel in one batch.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from adapters.base import BatchLimits
from adapters.ical import parse_calendar, window_around
from adapters.records import Batch, Collection, ItemFailure, Record
from adapters.vcard import parse_vcards

log = logging.getLogger(__name__)

WINDOW_SLACK = timedelta(days=30)
#: the extension of a collection's item files, by collection kind
SUFFIXES = {"calendar": ".ics", "contacts": ".vcf"}
KINDS = {suffix: kind for kind, suffix in SUFFIXES.items()}


def item_kind(folder: Path) -> str | None:
    """ "calendar" or "contacts" by the item files directly in ``folder`` (the more
    numerous kind wins), or None when it holds neither."""
    counts = dict.fromkeys(SUFFIXES, 0)
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                kind = KINDS.get(os.path.splitext(entry.name)[1].lower())
                if kind and not entry.name.startswith(".") and entry.is_file():
                    counts[kind] += 1
    except OSError:
        return None
    best = max(counts, key=lambda k: counts[k])
    return best if counts[best] else None


def vdir_collections(root: Path) -> list[Collection]:
    """The subfolders of a vdir that hold .ics or .vcf files, named by their
    ``displayname`` file (vdirsyncer's metadata) where there is one."""
    found = []
    for child in sorted(root.iterdir()):
        if child.name.startswith(".") or not child.is_dir():
            continue
        kind = item_kind(child)
        if kind is None:
            continue
        name = child.name
        with contextlib.suppress(OSError, UnicodeDecodeError):  # vdirsyncer's metadata
            name = (child / "displayname").read_text("utf-8").strip() or name
        found.append(Collection(id=child.name, name=name, kind=kind))
    return found


def pull_items(
    folder: Path,
    kind: str,
    cursor: dict[str, Any] | None,
    limits: BatchLimits,
    *,
    now: datetime | None = None,
    window_back: timedelta | None = None,
    window_ahead: timedelta | None = None,
) -> Iterator[Batch]:
    """What changed among the ``kind`` item files of ``folder`` since ``cursor``."""
    calendar = kind == "calendar"
    now = now or datetime.now(UTC)
    window: tuple[datetime, datetime] | None = None
    old: dict[str, list[int]] = dict((cursor or {}).get("files", {}))
    read_window = (cursor or {}).get("window")
    afresh = False
    if calendar:
        window = _window(now, window_back, window_ahead)
        stored = read_window and datetime.fromisoformat(read_window[0])
        afresh = not stored or window[0] - stored > WINDOW_SLACK
        if afresh:
            if stored:
                log.info("%s: the window moved; reading it afresh", folder)
            read_window = [window[0].isoformat(), window[1].isoformat()]
    current = _listing(folder, SUFFIXES[kind])
    changed = sorted(n for n, stat in current.items() if afresh or old.get(n) != list(stat))
    deleted = sorted(n for n in old if n not in current)
    if not changed and not deleted:
        return
    state = {n: v for n, v in old.items() if n in current}

    def cut(records: list[Record], failures: list[ItemFailure], gone: list[str]) -> Batch:
        new_cursor: dict[str, Any] = {"files": dict(state)}
        if calendar:
            new_cursor["window"] = read_window
        return Batch(tuple(records), new_cursor, tuple(gone), tuple(failures), window)

    records: list[Record] = []
    failures: list[ItemFailure] = []
    gone = list(deleted)
    size = 0
    pending = True  # something to store: the deletions, or the new window
    for name in changed:
        stat = current[name]
        unreadable = False
        try:
            raw = (folder / name).read_bytes()
        except FileNotFoundError:  # deleted since the listing
            if state.pop(name, None) is not None:
                gone.append(name)
                pending = True
            continue
        except OSError as exc:
            unreadable = True
            found: list[Record] = []
            failed = [ItemFailure(name, f"{name}: cannot read: {exc.strerror or exc}")]
        else:
            found, failed = _parse(raw, name, window)
        count = len(found) + len(failed)
        if (records or failures) and (
            len(records) + len(failures) + count > limits.max_items
            or size + stat[0] > limits.max_bytes
        ):
            yield cut(records, failures, gone)
            records, failures, gone, size = [], [], [], 0
        pending = True
        records += found
        failures += failed
        size += stat[0]
        if not unreadable:  # an unreadable file keeps its old entry: tried again next time
            state[name] = list(stat)
    if pending:
        yield cut(records, failures, gone)


def count_items(
    folder: Path,
    kind: str,
    cursor: dict[str, Any] | None,
    *,
    window_back: timedelta | None = None,
    window_ahead: timedelta | None = None,
) -> int:
    """How many item files :func:`pull_items` would read: the new and changed ones, or
    all of a calendar whose window has moved (nothing is read or parsed here)."""
    old: dict[str, list[int]] = dict((cursor or {}).get("files", {}))
    current = _listing(folder, SUFFIXES[kind])
    if kind == "calendar":
        stored = (cursor or {}).get("window")
        start = _window(datetime.now(UTC), window_back, window_ahead)[0]
        if not stored or start - datetime.fromisoformat(stored[0]) > WINDOW_SLACK:
            return len(current)
    return sum(1 for name, stat in current.items() if old.get(name) != list(stat))


def _parse(
    raw: bytes, name: str, window: tuple[datetime, datetime] | None
) -> tuple[list[Record], list[ItemFailure]]:
    if window is not None:
        events, failed = parse_calendar(raw, name, window=window)
        return list(events), failed
    cards, failed = parse_vcards(raw, name)
    return list(cards), failed


def _window(
    now: datetime, back: timedelta | None, ahead: timedelta | None
) -> tuple[datetime, datetime]:
    if back is None or ahead is None:
        return window_around(now)
    return window_around(now, back, ahead)


def _listing(folder: Path, suffix: str) -> dict[str, tuple[int, int]]:
    """{file name: (size, mtime_ns)} of the ``suffix`` files directly in ``folder``."""
    found: dict[str, tuple[int, int]] = {}
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith(".") or not entry.name.lower().endswith(suffix):
                continue
            try:
                if not entry.is_file():
                    continue
                stat = entry.stat()
            except OSError:  # gone meanwhile
                continue
            found[entry.name] = (stat.st_size, stat.st_mtime_ns)
    return found
