"""Local files: mail in a Maildir (with Maildir++ subfolders), an mbox file or a folder
of mbox files (Thunderbird's "Local Folders" and ImapMail folders); calendars and
contacts in a folder of .ics files, a folder of .vcf files or a vdir (see
adapters.fileitems).

Formats (``format`` in the account's config; "auto" tells them apart by what is at
``path``): "maildir", "mbox", "mboxes" (a folder of mbox files), "ics", "vcf", "vdir".

In a folder of mbox files, each mbox is one collection whose id is its path relative
to the folder (``Archives.sbd/2024``) and whose name drops the ``.sbd`` of
Thunderbird's subfolders (``Archives/2024``). Thunderbird's own files next to them
(``.msf`` indexes, ``.dat``, ``.json``, ``.html``) are not mail and are skipped: a file
counts as an mbox when it starts with ``From `` (or is empty beside its ``.msf``).

Cursors (DESIGN.md, "files: mtime/name"):

- Maildir: the (mtime, base name) of the last message taken. A message moved
  from ``new/`` to ``cur/`` keeps its mtime and its base name (the part before
  ``:2,``), so it is not taken twice. https://cr.yp.to/proto/maildir.html
- mbox: the byte offset after the last message taken, and the file's identity.
  Appends continue from there; a file that shrank or was replaced (compacted by
  Thunderbird) raises :class:`InvalidCursorError`, and sync reads it again
  (ingest is idempotent). Each mbox of a folder of them has its own.
- .ics/.vcf folders and vdirs: {file name: [size, mtime_ns]} (adapters.fileitems).

With ``since`` (a day), mail dated before it is skipped: by its Date header, else the
date of the mbox ``From`` line, else the file's mtime. The cursor moves past a skipped
message as past a stored one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from email.parser import BytesHeaderParser
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from adapters.base import BatchLimits, Source
from adapters.errors import InvalidCursorError, ItemError, SourceError
from adapters.fileitems import count_items, item_kind, pull_items, vdir_collections
from adapters.mime import parse_mail
from adapters.records import Batch, Collection, ItemFailure, MailRecord

MAILDIR_PARTS = ("cur", "new", "tmp")
FORMATS = ("maildir", "mbox", "mboxes", "ics", "vcf", "vdir")
#: Thunderbird's files beside its mbox files: never mail
NOT_MBOX = {".msf", ".dat", ".json", ".html", ".htm", ".sqlite", ".log", ".js", ".txt", ".bak"}


class FilesSource(Source):
    """Mail, calendars or contacts from files on this machine (read-only)."""

    kind = "files"

    def __init__(
        self,
        *,
        path: Path,
        format: str = "auto",
        account: str = "",
        window_back: timedelta | None = None,
        window_ahead: timedelta | None = None,
        since: date | None = None,
    ) -> None:
        self.path = path
        self.account = account
        #: mail dated before this (midnight UTC of ``since``) is skipped
        self.since = datetime.combine(since, datetime.min.time(), UTC) if since else None
        self.window_back, self.window_ahead = window_back, window_ahead
        self.format = detect(path) if format == "auto" else format
        if self.format not in FORMATS:
            raise SourceError(
                f"{path}: not a Maildir, an mbox file, a folder of mbox files, "
                "a folder of .ics or .vcf files, or a vdir",
                account=account,
            )
        wants_file = self.format == "mbox"
        if not (path.is_file() if wants_file else path.is_dir()):
            what = "a file" if wants_file else "a folder"
            raise SourceError(f"{path}: not {what} (format {self.format!r})", account=account)

    def collections(self) -> list[Collection]:
        if self.format == "mbox":
            return [Collection(id=self.path.name, name=self.path.name)]
        if self.format == "mboxes":
            return [
                Collection(id=rel, name=rel.replace(".sbd/", "/")) for rel in _mbox_files(self.path)
            ]
        if self.format in ("ics", "vcf"):
            kind = "calendar" if self.format == "ics" else "contacts"
            return [Collection(id=self.path.name, name=self.path.name, kind=kind)]
        if self.format == "vdir":
            return vdir_collections(self.path)
        found = [Collection(id="INBOX", name="INBOX")]
        for child in sorted(self.path.iterdir()):
            if child.name.startswith(".") and _is_maildir(child):  # Maildir++ subfolder
                name = child.name[1:]
                found.append(Collection(id=name, name=name.replace(".", "/")))
        return found

    def pull(
        self, collection: Collection, cursor: dict[str, Any] | None, limits: BatchLimits
    ) -> Iterator[Batch]:
        if self.format in ("mbox", "mboxes"):
            yield from _pull_mbox(self._mbox(collection), collection.id, cursor, limits, self.since)
        elif self.format in ("ics", "vcf", "vdir"):
            folder = self.path if self.format != "vdir" else self.path / collection.id
            yield from pull_items(
                folder,
                collection.kind,
                cursor,
                limits,
                window_back=self.window_back,
                window_ahead=self.window_ahead,
            )
        else:
            yield from _pull_maildir(self._maildir(collection), cursor, limits, self.since)

    def estimate(self, collection: Collection, cursor: dict[str, Any] | None) -> int | None:
        """The messages (or item files) a pull would read: new ones after the cursor,
        those dated before ``since`` left out (their headers are read, nothing parsed)."""
        if self.format in ("mbox", "mboxes"):
            path = self._mbox(collection)
            try:
                offset = _mbox_offset(path, collection.id, cursor)
            except InvalidCursorError:
                offset = 0
            messages = _mbox_messages(path, offset)
            return sum(1 for _, _, raw, env in messages if not _too_old(raw, env, self.since))
        if self.format in ("ics", "vcf", "vdir"):
            folder = self.path if self.format != "vdir" else self.path / collection.id
            return count_items(
                folder,
                collection.kind,
                cursor,
                window_back=self.window_back,
                window_ahead=self.window_ahead,
            )
        pending = _maildir_pending(self._maildir(collection), cursor)
        if self.since is None:
            return len(pending)
        return sum(1 for m, _, path in pending if not _too_old(_head(path), _utc_ns(m), self.since))

    def _mbox(self, collection: Collection) -> Path:
        return self.path if self.format == "mbox" else self.path / collection.id

    def _maildir(self, collection: Collection) -> Path:
        return self.path if collection.id == "INBOX" else self.path / f".{collection.id}"


def detect(path: Path) -> str:
    """The format of what is at ``path``, or "unknown"."""
    if path.is_file():
        return "mbox" if _starts_mbox(path) else "unknown"
    if not path.is_dir():
        return "unknown"
    if _is_maildir(path):
        return "maildir"
    kind = item_kind(path)
    if kind is not None:
        return "ics" if kind == "calendar" else "vcf"
    if vdir_collections(path):
        return "vdir"
    if _mbox_files(path) or any(path.glob("*.msf")):
        return "mboxes"
    return "unknown"


def _starts_mbox(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(5) == b"From "
    except OSError:
        return False


def _mbox_files(root: Path) -> list[str]:
    """The mbox files under ``root`` (Thunderbird's layout: subfolders of a folder
    ``X`` are in ``X.sbd``), as sorted POSIX paths relative to ``root``."""
    found: list[str] = []

    def walk(folder: Path, prefix: str) -> None:
        try:
            children = sorted(folder.iterdir())
        except OSError:
            return
        for child in children:
            if child.name.startswith("."):
                continue
            if child.is_dir():
                if child.name.endswith(".sbd"):
                    walk(child, f"{prefix}{child.name}/")
            elif child.suffix.lower() not in NOT_MBOX and child.is_file():
                empty = child.stat().st_size == 0
                if _starts_mbox(child) or (empty and child.with_name(child.name + ".msf").exists()):
                    found.append(prefix + child.name)

    walk(root, "")
    return found


def _is_maildir(path: Path) -> bool:
    return all((path / part).is_dir() for part in ("cur", "new"))


# -- Maildir ------------------------------------------------------------------------


def _maildir_pending(folder: Path, cursor: dict[str, Any] | None) -> list[tuple[int, str, Path]]:
    """The messages after the cursor, oldest first."""
    after = (cursor["mtime_ns"], cursor["name"]) if cursor else (-1, "")
    return sorted(m for m in _maildir_messages(folder) if (m[0], m[1]) > after)


def _pull_maildir(
    folder: Path, cursor: dict[str, Any] | None, limits: BatchLimits, since: datetime | None
) -> Iterator[Batch]:
    pending = _maildir_pending(folder, cursor)
    batch: list[tuple[int, str, Path]] = []
    size = 0
    for entry in pending:
        entry_size = entry[2].stat().st_size
        if batch and (len(batch) >= limits.max_items or size + entry_size > limits.max_bytes):
            yield _maildir_batch(batch, since)
            batch, size = [], 0
        batch.append(entry)
        size += entry_size
    if batch:
        yield _maildir_batch(batch, since)


def _maildir_messages(folder: Path) -> Iterator[tuple[int, str, Path]]:
    for part in ("new", "cur"):
        with os.scandir(folder / part) as entries:
            for entry in entries:
                if entry.is_file() and not entry.name.startswith("."):
                    base = entry.name.split(":", 1)[0]
                    yield entry.stat().st_mtime_ns, base, Path(entry.path)


def _maildir_batch(entries: list[tuple[int, str, Path]], since: datetime | None) -> Batch:
    records: list[MailRecord] = []
    failures: list[ItemFailure] = []
    for mtime_ns, name, path in entries:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:  # moved or deleted by the mail client meanwhile
            continue
        received = _utc_ns(mtime_ns)
        if _too_old(raw, received, since):
            continue
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


def _pull_mbox(
    path: Path,
    collection: str,
    cursor: dict[str, Any] | None,
    limits: BatchLimits,
    since: datetime | None = None,
) -> Iterator[Batch]:
    try:
        stat = path.stat()
        with path.open("rb"):
            pass
    except FileNotFoundError as exc:
        raise SourceError(f"{path} is gone") from exc
    except OSError as exc:  # unreadable (permissions): reported, the other mboxes go on
        reason = f"{collection}: cannot read: {exc.strerror or exc}"
        yield Batch((), dict(cursor or {}), (), (ItemFailure(collection, reason),))
        return
    offset = _mbox_offset(path, collection, cursor)
    records: list[MailRecord] = []
    failures: list[ItemFailure] = []
    size = 0
    end = offset
    skipped = False  # the cursor is to move past skipped messages too
    for start, end, raw, received in _mbox_messages(path, offset):
        if _too_old(raw, received or _utc_ns(stat.st_mtime_ns), since):
            skipped = True
            continue
        _parse_into(raw, str(start), received, (), records, failures)
        size += len(raw)
        if len(records) + len(failures) >= limits.max_items or size >= limits.max_bytes:
            yield Batch(tuple(records), {"inode": stat.st_ino, "offset": end}, (), tuple(failures))
            records, failures, size, skipped = [], [], 0, False
    if records or failures or skipped:
        yield Batch(tuple(records), {"inode": stat.st_ino, "offset": end}, (), tuple(failures))


def _mbox_offset(path: Path, collection: str, cursor: dict[str, Any] | None) -> int:
    """Where to go on reading; :class:`InvalidCursorError` if the file was rewritten."""
    if not cursor:
        return 0
    stat = path.stat()
    if cursor.get("inode") != stat.st_ino or stat.st_size < cursor["offset"]:
        raise InvalidCursorError(f"{path} was rewritten", collection=collection)
    return int(cursor["offset"])


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


def _too_old(raw: bytes, fallback: datetime | None, since: datetime | None) -> bool:
    """Whether a message is dated before ``since``: by its Date header, else ``fallback``."""
    if since is None:
        return False
    when = _header_date(raw) or fallback
    return when is not None and when < since


def _header_date(raw: bytes) -> datetime | None:
    """The Date header (RFC 5322 §3.6.1) as an aware datetime; None if absent or unreadable."""
    end = min((i for i in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if i >= 0), default=-1)
    head = raw if end < 0 else raw[:end]
    value = BytesHeaderParser().parsebytes(head).get("Date")
    try:
        when = parsedate_to_datetime(str(value)) if value else None
    except (TypeError, ValueError, IndexError):
        return None
    if when is not None and when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when


def _head(path: Path) -> bytes:
    """The first 64 KiB of a message: its header, as a rule."""
    try:
        with path.open("rb") as handle:
            return handle.read(65536)
    except OSError:
        return b""


def _utc_ns(mtime_ns: int) -> datetime:
    return datetime.fromtimestamp(mtime_ns / 1e9, UTC)


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
