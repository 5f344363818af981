"""IMAP mail folders as a source, over IMAP4rev1/IMAP4rev2 (RFC 3501, RFC 9051).

The cursor of a folder is ``{"uidvalidity", "last_uid", "highestmodseq"}``:

- UIDs only grow within one UIDVALIDITY (RFC 3501 §2.3.1.1, RFC 9051 §2.3.1.1),
  so "everything after ``last_uid``" is exactly what is new. A changed
  UIDVALIDITY raises :class:`InvalidCursorError` and sync starts the folder over.
- An unchanged folder costs one EXAMINE: its UIDNEXT and, where the server has
  CONDSTORE (RFC 7162 §3.1), its HIGHESTMODSEQ both equal what the cursor saw.
- Folders are opened with EXAMINE (read-only) and bodies fetched with
  ``BODY.PEEK[]``, so nothing is marked ``\\Seen`` (RFC 3501 §6.4.5).

Folders are configured by name or by SPECIAL-USE attribute (RFC 6154), such as
``\\Sent``; none configured means INBOX and the ``\\Sent`` folder.

With ``since`` (a day), only messages whose INTERNALDATE is on or after it are fetched:
the UID SEARCH above the cursor adds ``SINCE <date>`` (RFC 3501 §6.4.4; the server
compares dates in its own time zone). The cursor still moves past every UID searched,
so an older message is skipped for good, not looked at again on every pass.
"""

from __future__ import annotations

import contextlib
import imaplib
import logging
import ssl
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from imapclient.exceptions import LoginError

from adapters.base import BatchLimits, Source
from adapters.errors import AuthError, InvalidCursorError, ItemError, SourceError, TransientError
from adapters.imapconnect import SECURITY_MODES as SECURITY_MODES
from adapters.imapconnect import ImapSettings, connect, shutdown, temporary
from adapters.imapconnect import is_loopback as is_loopback
from adapters.imapconnect import text as _text
from adapters.imapkeep import KEPT
from adapters.mime import parse_mail
from adapters.records import Batch, Collection, ItemFailure, Record

log = logging.getLogger(__name__)

DEFAULT_FOLDERS = ("INBOX", "\\Sent")
#: RFC 6154 special-use attributes, lower-cased, as "test connection" marks them
SPECIAL_USE = frozenset(
    f.lower()
    for f in ("\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash")
)
# A UID SEARCH answer is one line, and imaplib refuses lines over 1,000,000 bytes:
# 80,000 UIDs of up to ten digits fit. Bigger folders are searched in windows of UIDs.
_SEARCH_WINDOW = 80_000
# UIDs per FETCH: imapclient spells each UID out, and a command line should stay under
# the 8,000 octets servers are asked to accept (RFC 2683 §3.2.1.5, RFC 7162 §4).
_FETCH_CHUNK = 700
_BODY_ITEMS = ["BODY.PEEK[]", "INTERNALDATE", "FLAGS"]


@dataclass(frozen=True, slots=True)
class _Mailbox:
    """What EXAMINE said about a folder (RFC 3501 §6.3.2, RFC 7162 §3.1.2.1)."""

    name: str
    uidvalidity: int
    uidnext: int | None
    highestmodseq: int | None
    exists: int = 0


@dataclass(frozen=True, slots=True)
class _Cursor:
    """Where a folder's last pull ended: the adapter's private cursor."""

    uidvalidity: int
    last_uid: int
    highestmodseq: int | None

    @classmethod
    def load(cls, raw: dict[str, Any], collection: str) -> _Cursor:
        try:
            modseq = raw.get("highestmodseq")
            return cls(
                int(raw["uidvalidity"]),
                int(raw["last_uid"]),
                None if modseq is None else int(modseq),
            )
        except (KeyError, TypeError, ValueError):
            raise InvalidCursorError(
                f"unreadable IMAP cursor {raw!r}", collection=collection
            ) from None

    def dump(self) -> dict[str, Any]:
        return {
            "uidvalidity": self.uidvalidity,
            "last_uid": self.last_uid,
            "highestmodseq": self.highestmodseq,
        }

    def unchanged(self, box: _Mailbox) -> bool:
        """No new UID since, and no change at all where the server counts mod-sequences."""
        no_new = box.uidnext is not None and box.uidnext <= self.last_uid + 1
        return no_new and (box.highestmodseq is None or box.highestmodseq == self.highestmodseq)


class ImapSource(Source):
    """One IMAP account: its configured folders, pulled read-only in bounded batches."""

    kind = "imap"

    def __init__(
        self,
        *,
        host: str,
        port: int,
        security: str,
        username: str,
        password: str,
        folders: Sequence[str] = (),
        tls_verify: bool = True,
        ca_file: str | None = None,
        timeout: float = 60.0,
        account: str = "",
        since: date | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.security = security
        self.username = username
        self._password = password
        self.folders = tuple(folders)
        self.tls_verify = tls_verify
        self.ca_file = ca_file
        self.timeout = timeout
        self.account = account
        self.since = since
        self._client: Any = None  # IMAPClient, connected on first use
        self._selected: str | None = None

    def __repr__(self) -> str:
        return f"ImapSource({self.username}@{self.host}:{self.port}, {self.security})"

    # --- collections ------------------------------------------------------------------

    def collections(self) -> list[Collection]:
        """The configured folders, special-use attributes resolved with LIST (RFC 6154)."""
        with self._boundary("listing folders"):
            listing = self._connection().list_folders()
        found: dict[str, Collection] = {}
        for spec in self.folders or DEFAULT_FOLDERS:
            name = self._resolve(spec, listing)
            if name is not None:
                found.setdefault(name, Collection(id=name, name=_display_name(name, listing)))
        return list(found.values())

    def probe(self) -> list[str]:
        """Every selectable folder on the server, special-use ones marked ("Sent (\\Sent)")."""
        with self._boundary("listing folders"):
            listing = self._connection().list_folders()
        names = []
        for flags, _, name in listing:
            if _has_flag(flags, "\\Noselect", "\\NonExistent"):
                continue
            special = [_text(f) for f in flags if _text(f).lower() in SPECIAL_USE]
            names.append(f"{name} ({', '.join(special)})" if special else str(name))
        return sorted(names, key=lambda n: (not n.upper().startswith("INBOX"), n.lower()))

    def _resolve(self, spec: str, listing: list[tuple[Any, Any, str]]) -> str | None:
        if spec.startswith("\\"):
            return self._resolve_special(spec, listing)
        for flags, _, name in listing:
            same = name == spec or (spec.upper() == "INBOX" and name.upper() == "INBOX")
            if same and not _has_flag(flags, "\\Noselect", "\\NonExistent"):
                return name
        raise SourceError(f"folder {spec!r} does not exist on the server", account=self.account)

    def _resolve_special(self, flag: str, listing: list[tuple[Any, Any, str]]) -> str | None:
        for flags, _, name in listing:
            if _has_flag(flags, flag):
                return name
        with self._boundary(f"looking for the {flag} folder"):
            # imapclient guesses from common names where the server lacks SPECIAL-USE
            name = self._connection().find_special_folder(flag.encode())
        if name is None and self.folders:
            raise SourceError(f"no folder marked {flag} on the server", account=self.account)
        if name is None:
            log.info("%s: the server has no %s folder; skipping it", self.account, flag)
        return str(name) if name is not None else None

    # --- pull -------------------------------------------------------------------------

    def pull(
        self, collection: Collection, cursor: dict[str, Any] | None, limits: BatchLimits
    ) -> Iterator[Batch]:
        """New mail of one folder since ``cursor``, in batches bounded by ``limits``.

        Only the last batch carries the server's HIGHESTMODSEQ (RFC 7162); earlier
        ones keep the old one, so a crash between batches never skips mail.
        """
        start = _Cursor.load(cursor, collection.id) if cursor else None
        box = self._examine(collection.id)
        if start is not None:
            self._check_uidvalidity(start, box)
            if start.unchanged(box):
                return
        last_uid = start.last_uid if start is not None else 0
        old_modseq = start.highestmodseq if start is not None else None
        groups = _plan(self._sizes(box, self._new_uids(box, last_uid)), limits)
        # Every UID below UIDNEXT was searched: the last batch may claim all of them.
        seen_upto = max(last_uid, (box.uidnext or 1) - 1)
        if not groups:
            yield Batch(
                records=(), cursor=_Cursor(box.uidvalidity, seen_upto, box.highestmodseq).dump()
            )
        for number, uids in enumerate(groups, start=1):
            if number < len(groups):
                upto = _Cursor(box.uidvalidity, max(uids), old_modseq)
            else:
                upto = _Cursor(box.uidvalidity, max(seen_upto, max(uids)), box.highestmodseq)
            yield self._batch(box, uids, upto)

    def estimate(self, collection: Collection, cursor: dict[str, Any] | None) -> int | None:
        """The number of UIDs the next pull would fetch: one EXAMINE and one UID SEARCH
        (after the cursor, since-limited), no FETCH."""
        start = _Cursor.load(cursor, collection.id) if cursor else None
        box = self._examine(collection.id)
        if start is not None and start.uidvalidity != box.uidvalidity:
            start = None  # sync would read the folder again
        if start is not None and start.unchanged(box):
            return 0
        return len(self._new_uids(box, start.last_uid if start is not None else 0))

    def _check_uidvalidity(self, start: _Cursor, box: _Mailbox) -> None:
        if start.uidvalidity != box.uidvalidity:
            raise InvalidCursorError(
                f"UIDVALIDITY of {box.name!r} is now {box.uidvalidity}, not {start.uidvalidity}",
                collection=box.name,
                account=self.account,
            )

    def _examine(self, folder: str) -> _Mailbox:
        """EXAMINE ``folder`` (RFC 3501 §6.3.2), reconnecting once if a kept connection died."""
        reused = self._client is not None
        try:
            return self._examine_once(folder)
        except TransientError:
            if not reused:
                raise
            log.info("%s: connection lost; connecting again", self.account)
            return self._examine_once(folder)

    def _examine_once(self, folder: str) -> _Mailbox:
        with self._boundary(f"opening folder {folder!r}", folder=folder):
            response = self._connection().select_folder(folder, readonly=True)
        self._selected = folder
        if b"UIDVALIDITY" not in response:
            raise SourceError(f"folder {folder!r} has no UIDVALIDITY", account=self.account)
        return _Mailbox(
            name=folder,
            uidvalidity=int(response[b"UIDVALIDITY"]),
            uidnext=_optional_int(response.get(b"UIDNEXT")),
            highestmodseq=_optional_int(response.get(b"HIGHESTMODSEQ")),
            exists=int(response.get(b"EXISTS", 0)),
        )

    def _new_uids(self, box: _Mailbox, last_uid: int) -> list[int]:
        """UIDs above ``last_uid`` (UID SEARCH, RFC 3501 §6.4.4), received on or after
        ``since`` where set.

        ``UID SEARCH UID n:*`` also answers the highest UID when it is below n
        (``*`` is the highest UID and ``n:*`` means the same as ``*:n``), hence the filter.
        """
        uids: set[int] = set()
        since = ["SINCE", self.since] if self.since is not None else []
        for uid_range in _search_ranges(box, last_uid):
            with self._boundary(f"searching folder {box.name!r}", folder=box.name):
                found = self._connection().search(["UID", uid_range, *since])
            uids.update(u for u in found if u > last_uid)
        return sorted(uids)

    def _sizes(self, box: _Mailbox, uids: list[int]) -> list[tuple[int, int]]:
        """(UID, RFC822.SIZE) of each message still there."""
        fetched = self._fetch(box, uids, ["RFC822.SIZE"])
        return [(uid, int(data.get(b"RFC822.SIZE", 0))) for uid, data in fetched]

    def _batch(self, box: _Mailbox, uids: list[int], cursor: _Cursor) -> Batch:
        """Fetch and parse one planned batch; expunged messages are skipped."""
        self._reselect(box)
        records: list[Record] = []
        failures: list[ItemFailure] = []
        for uid, data in self._fetch(box, uids, _BODY_ITEMS):
            if b"BODY[]" in data:
                _parse_into(uid, data, records, failures)
        return Batch(records=tuple(records), cursor=cursor.dump(), failures=tuple(failures))

    def _fetch(
        self, box: _Mailbox, uids: list[int], items: list[str]
    ) -> Iterator[tuple[int, dict[bytes, Any]]]:
        """UID FETCH ``items`` (RFC 3501 §6.4.5, §6.4.8) in chunks; expunged UIDs are absent."""
        for i in range(0, len(uids), _FETCH_CHUNK):
            chunk = uids[i : i + _FETCH_CHUNK]
            with self._boundary(f"fetching from {box.name!r}", folder=box.name):
                response = self._connection().fetch(chunk, items)
            for uid in chunk:
                data = response.pop(uid, None)  # drop each body once it is handed on
                if data is not None:
                    yield uid, data

    def _reselect(self, box: _Mailbox) -> None:
        """Between batches the caller may have used this source for another folder."""
        if self._selected == box.name and self._client is not None:
            return
        again = self._examine(box.name)
        if again.uidvalidity != box.uidvalidity:
            raise InvalidCursorError(
                f"UIDVALIDITY of {box.name!r} changed", collection=box.name, account=self.account
            )

    # --- connection -------------------------------------------------------------------

    def _connection(self) -> Any:
        if self._client is None:
            self._client = self._connect()
        return self._client

    def _connect(self) -> Any:
        """Connect, secure and log in (:mod:`adapters.imapconnect`)."""
        self._selected = None
        settings = self.settings()
        kept = KEPT.take(settings)  # the last pass's connection, in a worker
        if kept is not None:
            return kept
        with self._boundary(f"connecting to {self.host}:{self.port}"):
            return connect(settings)

    def settings(self) -> ImapSettings:
        """How this source reaches its server (what an IDLE watcher needs too)."""
        return ImapSettings(
            host=self.host,
            port=self.port,
            security=self.security,
            username=self.username,
            password=self._password,
            tls_verify=self.tls_verify,
            ca_file=self.ca_file,
            timeout=self.timeout,
            account=self.account,
        )

    def close(self) -> None:
        """Log out (a worker keeps the connection for the account's next pass instead,
        :mod:`adapters.imapkeep`); a connection that already died is just dropped."""
        client, self._client = self._client, None
        self._selected = None
        if client is None or KEPT.give(self.settings(), client):
            return
        try:
            client.logout()
        except Exception as exc:  # logout on a dead connection: nothing left to release
            log.debug("%s: logout failed (%s); closing the socket", self.account, exc)
            shutdown(client)

    # --- errors -----------------------------------------------------------------------

    @contextlib.contextmanager
    def _boundary(self, doing: str, *, folder: str | None = None) -> Iterator[None]:
        """Translate imapclient, imaplib, socket and ssl errors into adapters.errors."""
        try:
            yield
        except SourceError:
            raise
        except LoginError as exc:
            raise self._login_error(exc) from None
        except ssl.SSLCertVerificationError as exc:
            self._drop()
            raise SourceError(
                f"TLS certificate of {self.host}:{self.port} not trusted ({exc.verify_message}); "
                "check ca_file or the server's certificate",
                account=self.account,
            ) from None
        except (imaplib.IMAP4.abort, OSError) as exc:  # OSError: refused, timeout, TLS
            self._drop()
            raise TransientError(
                f"{doing}: {_text(exc) or type(exc).__name__}", account=self.account
            ) from None
        except imaplib.IMAP4.error as exc:  # a NO or BAD answer; the connection lives on
            raise self._command_error(doing, folder, _text(exc)) from None

    def _login_error(self, exc: LoginError) -> SourceError:
        self._drop()
        text = _text(exc)
        if isinstance(exc.__context__, imaplib.IMAP4.abort) or temporary(text):
            return TransientError(f"login: {text}", account=self.account)
        return AuthError(text, account=self.account)

    def _command_error(self, doing: str, folder: str | None, text: str) -> SourceError:
        if temporary(text):
            return TransientError(f"{doing}: {text}", account=self.account)
        if folder is not None:
            return SourceError(f"folder {folder!r} cannot be read: {text}", account=self.account)
        return SourceError(f"{doing}: {text}", account=self.account)

    def _drop(self) -> None:
        """Forget a connection that failed; the next use connects again."""
        client, self._client = self._client, None
        self._selected = None
        if client is not None:
            shutdown(client)


def _parse_into(
    uid: int, data: dict[bytes, Any], records: list[Record], failures: list[ItemFailure]
) -> None:
    raw = bytes(data[b"BODY[]"])
    # \Recent is per session (and gone in RFC 9051): not a property of the message
    flags = tuple(_text(f) for f in data.get(b"FLAGS", ()) if _text(f).lower() != "\\recent")
    try:
        records.append(
            parse_mail(
                raw, remote_id=str(uid), received_at=_utc(data.get(b"INTERNALDATE")), flags=flags
            )
        )
    except ItemError as exc:
        failures.append(ItemFailure(remote_id=str(uid), reason=exc.reason, raw=raw))


def _search_ranges(box: _Mailbox, last_uid: int) -> list[str]:
    """UID ranges to search above ``last_uid``: one, unless the answer could exceed a line."""
    if box.uidnext is None:
        return [f"{last_uid + 1}:*"]
    top = box.uidnext - 1
    if top <= last_uid:
        return []
    if box.exists <= _SEARCH_WINDOW:
        return [f"{last_uid + 1}:{top}"]
    starts = range(last_uid + 1, top + 1, _SEARCH_WINDOW)
    return [f"{lo}:{min(lo + _SEARCH_WINDOW - 1, top)}" for lo in starts]


def _plan(sizes: Iterable[tuple[int, int]], limits: BatchLimits) -> list[list[int]]:
    """Group UIDs into batches of at most ``max_items`` and ``max_bytes`` (a bigger
    message goes alone)."""
    groups: list[list[int]] = []
    group: list[int] = []
    total = 0
    for uid, size in sizes:
        if group and (len(group) >= limits.max_items or total + size > limits.max_bytes):
            groups.append(group)
            group, total = [], 0
        group.append(uid)
        total += size
    if group:
        groups.append(group)
    return groups


def _display_name(name: str, listing: list[tuple[Any, Any, str]]) -> str:
    """The folder's path with "/" between levels, whatever the server's delimiter."""
    for _, delimiter, listed in listing:
        if listed == name and delimiter:
            return name.replace(_text(delimiter), "/")
    return name


def _has_flag(flags: Iterable[Any], *wanted: str) -> bool:
    have = {_text(flag).lower() for flag in flags}
    return any(flag.lower() in have for flag in wanted)


def _utc(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)
