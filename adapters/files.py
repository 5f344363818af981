"""Local mail files: a Maildir (with Maildir++ subfolders) or an mbox file.

Cursors (DESIGN.md, "files: mtime/name"):

- Maildir: the (mtime, base name) of the last message taken. A message moved
  from ``new/`` to ``cur/`` keeps its mtime and its base name (the part before
  ``:2,``), so it is not taken twice. https://cr.yp.to/proto/maildir.html
- mbox: the byte offset after the last message taken, and the file's identity.
  Appends continue from there; a file that shrank or was replaced (compacted by
  Thunderbird) raises :class:`InvalidCursorError`, and sync reads it again
  (ingest is idempotent).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adapters.base import BatchLimits, Source
from adapters.errors import InvalidCursorError, ItemError, SourceError
from adapters.mime import parse_mail
from adapters.records import Batch, Collection, ItemFailure, MailRecord

MAILDIR_PARTS = ("cur", "new", "tmp")


class FilesSource(Source):
    """Mail from a Maildir folder tree or an mbox file on this machine (read-only)."""

    kind = "files"

    def __init__(self, *, path: Path, format: str = "auto", account: str = "") -> None:
        self.path = path
        self.account = account
        self.format = _detect(path) if format == "auto" else format
        if self.format not in ("maildir", "mbox"):
            raise SourceError(f"{path}: neither a Maildir nor an mbox file", account=account)

    def collections(self) -> list[Collection]:
        if self.format == "mbox":
            return [Collection(id=self.path.name, name=self.path.name)]
        found = [Collection(id="INBOX", name="INBOX")]
        for child in sorted(self.path.iterdir()):
            if child.name.startswith(".") and _is_maildir(child):  # Maildir++ subfolder
                name = child.name[1:]
                found.append(Collection(id=name, name=name.replace(".", "/")))
        return found

    def pull(
        self, collection: Collection, cursor: dict[str, Any] | None, limits: BatchLimits
    ) -> Iterator[Batch]:
        if self.format == "mbox":
            yield from _pull_mbox(self.path, cursor, limits)
        else:
            folder = self.path if collection.id == "INBOX" else self.path / f".{collection.id}"
            yield from _pull_maildir(folder, cursor, limits)


def _detect(path: Path) -> str:
    if path.is_dir() and _is_maildir(path):
        return "maildir"
    if path.is_file():
        with path.open("rb") as handle:
            if handle.read(5) == b"From ":
                return "mbox"
    return "unknown"


def _is_maildir(path: Path) -> bool:
    return all((path / part).is_dir() for part in ("cur", "new"))


# -- Maildir ------------------------------------------------------------------------


def _pull_maildir(
    folder: Path, cursor: dict[str, Any] | None, limits: BatchLimits
) -> Iterator[Batch]:
    after = (cursor["mtime_ns"], cursor["name"]) if cursor else (-1, "")
    pending = sorted(m for m in _maildir_messages(folder) if (m[0], m[1]) > after)
    batch: list[tuple[int, str, Path]] = []
    size = 0
    for entry in pending:
        entry_size = entry[2].stat().st_size
        if batch and (len(batch) >= limits.max_items or size + entry_size > limits.max_bytes):
            yield _maildir_batch(batch)
            batch, size = [], 0
        batch.append(entry)
        size += entry_size
    if batch:
        yield _maildir_batch(batch)


def _maildir_messages(folder: Path) -> Iterator[tuple[int, str, Path]]:
    for part in ("new", "cur"):
        with os.scandir(folder / part) as entries:
            for entry in entries:
                if entry.is_file() and not entry.name.startswith("."):
                    base = entry.name.split(":", 1)[0]
                    yield entry.stat().st_mtime_ns, base, Path(entry.path)


def _maildir_batch(entries: list[tuple[int, str, Path]]) -> Batch:
    records: list[MailRecord] = []
    failures: list[ItemFailure] = []
    for mtime_ns, name, path in entries:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:  # moved or deleted by the mail client meanwhile
            continue
        received = datetime.fromtimestamp(mtime_ns / 1e9, UTC)
        flags = _maildir_flags(path.name)
        _parse_into(raw, name, received, flags, records, failures)
    last_mtime, last_name, _ = entries[-1]
    return Batch(
        records=tuple(records),
        failures=tuple(failures),
        cursor={"mtime_ns": last_mtime, "name": last_name},
    )


def _maildir_flags(filename: str) -> tuple[str, ...]:
    _, _, info = filename.partition(":2,")
    names = {"S": "\\Seen", "R": "\\Answered", "F": "\\Flagged", "T": "\\Deleted", "D": "\\Draft"}
    return tuple(names[c] for c in info if c in names)


# -- mbox ---------------------------------------------------------------------------


def _pull_mbox(path: Path, cursor: dict[str, Any] | None, limits: BatchLimits) -> Iterator[Batch]:
    stat = path.stat()
    offset = 0
    if cursor:
        if cursor.get("inode") != stat.st_ino or stat.st_size < cursor["offset"]:
            raise InvalidCursorError(f"{path} was rewritten", collection=path.name)
        offset = cursor["offset"]
    records: list[MailRecord] = []
    failures: list[ItemFailure] = []
    size = 0
    end = offset
    for start, end, raw, received in _mbox_messages(path, offset):
        _parse_into(raw, str(start), received, (), records, failures)
        size += len(raw)
        if len(records) + len(failures) >= limits.max_items or size >= limits.max_bytes:
            yield Batch(tuple(records), {"inode": stat.st_ino, "offset": end}, (), tuple(failures))
            records, failures, size = [], [], 0
    if records or failures:
        yield Batch(tuple(records), {"inode": stat.st_ino, "offset": end}, (), tuple(failures))


def _mbox_messages(path: Path, offset: int) -> Iterator[tuple[int, int, bytes, datetime | None]]:
    """(start offset, end offset, message bytes, date of the From_ line) from ``offset`` on.

    A message starts at a line beginning with ``From `` (the mboxo/mboxrd
    separator, RFC 4155); ``>From `` quoting is undone one level (mboxrd).
    """
    with path.open("rb") as handle:
        handle.seek(offset)
        start, envelope = offset, None
        lines: list[bytes] = []
        position = offset
        for line in handle:
            if line.startswith(b"From ") and (envelope is not None or lines):
                yield start, position, b"".join(lines), _envelope_date(envelope)
                lines, start = [], position
            if line.startswith(b"From "):
                envelope = line
            else:
                lines.append(line[1:] if line.startswith(b">From ") else line)
            position += len(line)
        if envelope is not None or lines:
            yield start, position, b"".join(lines), _envelope_date(envelope)


def _envelope_date(line: bytes | None) -> datetime | None:
    """The asctime date at the end of a ``From sender date`` line, as UTC."""
    if not line:
        return None
    parts = line.decode("ascii", "replace").split()
    try:
        return datetime.strptime(" ".join(parts[-5:]), "%a %b %d %H:%M:%S %Y").replace(tzinfo=UTC)
    except ValueError:
        return None


def _parse_into(
    raw: bytes,
    remote_id: str,
    received: datetime | None,
    flags: tuple[str, ...],
    records: list[MailRecord],
    failures: list[ItemFailure],
) -> None:
    try:
        records.append(parse_mail(raw, remote_id=remote_id, received_at=received, flags=flags))
    except ItemError as exc:
        failures.append(ItemFailure(remote_id=remote_id, reason=exc.reason, raw=raw))
