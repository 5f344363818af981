"""Exchange Server mailboxes through EWS (exchangelib): mail, calendar and contacts.

One account entry reads many staff mailboxes with a service account (impersonation or
delegate access, :mod:`adapters.ewsconnect`); the mailboxes are listed, or come from
distribution groups expanded with ExpandDL. Each mailbox gives collections:

- ``<mailbox>|mail|<folder>``: a mail folder, by well-known name ("Inbox", "Sent
  Items", or EWS's own ids "inbox", "sentitems") or by path under the top of the
  information store ("Inbox/Customers", "Archive/2024");
- ``<mailbox>|calendar``: the calendar; ``<mailbox>|contacts``: the contacts folder.

**Incremental, page by page.** Each collection is read with ``SyncFolderItems``, driven
one page at a time (exchangelib's ``Folder.sync_items()`` hands out the sync state only
when every page is consumed). With ``since``, mail received before that day is skipped
by the DateTimeReceived each change carries (SyncFolderItems cannot filter), so its
MIME content is never fetched. A page's new and changed items are fetched with
``GetItem`` (:mod:`adapters.ewsitems` says which fields) and yielded as a batch whose
cursor is the state after that page, so a crash in the middle of a 50,000-item first
sync resumes at the page it stopped in. A page bigger than the batch limits is split;
the parts before its last carry the state before the page (ingest is idempotent, so a
repeated part adds nothing).

Cursor: ``{"folder": folder id, "state": SyncState, "window": [from, to]}`` (the window
for calendars only). A state the server refuses (``ErrorInvalidSyncStateData``) raises
:class:`InvalidCursorError`, and the runner starts the folder over; so does a folder
whose id changed (deleted and made again). A calendar whose window has moved by more
than :data:`adapters.mailboxes.WINDOW_SLACK` is read afresh, as with CalDAV.

Faults: a busy server's back-off is waited out (``ErrorServerBusy`` with
``BackOffMilliseconds``, HTTP 503 with ``Retry-After``); an item that cannot be fetched
or read is reported in :attr:`Batch.failures` with its id and reason; a refused login is
an :class:`AuthError`. No exchangelib exception leaves this module.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from exchangelib import EWSDateTime
from exchangelib import errors as ews
from exchangelib.folders import (
    Calendar,
    Contacts,
    DeletedItems,
    Drafts,
    Folder,
    Inbox,
    JunkEmail,
    Outbox,
    SentItems,
)
from exchangelib.items import ID_ONLY
from exchangelib.services import SyncFolderItems

from adapters import ewsconnect
from adapters.base import BatchLimits, Source
from adapters.errors import InvalidCursorError, ItemError, SourceError
from adapters.ewsconnect import EwsSettings, translate, with_back_off
from adapters.ewsitems import (
    FETCH_FIELDS,
    SYNC_FIELDS,
    contact_record,
    event_records,
    mail_record,
    too_old,
    wanted,
)
from adapters.mailboxes import calendar_window, mailbox_collections, split_id, window_value
from adapters.records import Batch, Collection, ItemFailure, Record

log = logging.getLogger(__name__)

#: SyncFolderItems' largest page (MaxChangesReturned, 1..512)
MAX_PAGE = 512
#: GetItem: ids per request
FETCH_CHUNK = 100
#: well-known folder names (as Outlook shows them in English, and EWS's own ids)
WELL_KNOWN: dict[str, type[Folder]] = {
    "inbox": Inbox, "sent items": SentItems, "sentitems": SentItems, "sent": SentItems,
    "deleted items": DeletedItems, "deleteditems": DeletedItems, "drafts": Drafts,
    "junk email": JunkEmail, "junkemail": JunkEmail, "outbox": Outbox,
    "calendar": Calendar, "contacts": Contacts,
}  # fmt: skip


@dataclass
class _Mailbox:
    """One mailbox's exchangelib Account and the folders resolved in it so far."""

    address: str
    account: Any
    folders: dict[str, Any] = field(default_factory=dict)


class EwsSource(Source):
    """The mailboxes of one ``ews`` account."""

    kind = "ews"

    def __init__(
        self,
        *,
        settings: EwsSettings,
        mailboxes: Sequence[str] = (),
        groups: Sequence[str] = (),
        folders: Sequence[str] = ("Inbox", "Sent Items"),
        calendar: bool = True,
        contacts: bool = True,
        private_categories: Sequence[str] = (),
        window_back: timedelta = timedelta(days=365),
        window_ahead: timedelta = timedelta(days=365),
        page_size: int = MAX_PAGE,
        account: str = "",
        since: date | None = None,
    ) -> None:
        self.settings = settings
        self.account = account
        self.wanted_mailboxes = [m.strip().lower() for m in mailboxes if m.strip()]
        self.groups = [g.strip().lower() for g in groups if g.strip()]
        self.folders = list(folders)
        self.calendar, self.contacts = calendar, contacts
        self.private_categories = frozenset(c.casefold() for c in private_categories)
        self.window_back, self.window_ahead = window_back, window_ahead
        self.page_size = max(1, min(page_size, MAX_PAGE))
        #: mail received before this (midnight UTC of ``since``) is not pulled
        self.since = datetime.combine(since, datetime.min.time(), UTC) if since else None
        self._config: Any = None
        self._boxes: dict[str, _Mailbox] = {}
        self._expanded: list[str] | None = None
        #: how the adapter waits for a busy server (a test may count the waits)
        self.sleep = time.sleep

    # -- connection ------------------------------------------------------------------------

    def _call(self, work: Any, mailbox: str = "", **kwargs: Any) -> Any:
        return with_back_off(
            work, account=self.account, mailbox=mailbox, sleep=self.sleep, **kwargs
        )

    def _configuration(self) -> Any:
        if self._config is None and not self.settings.autodiscover:
            ewsconnect.check_dns(self.settings.url)
            try:
                self._config = ewsconnect.configuration(self.settings)
            except ValueError as exc:
                raise SourceError(str(exc), account=self.account) from None
        return self._config

    def _box(self, address: str) -> _Mailbox:
        box = self._boxes.get(address)
        if box is None:
            try:
                account = ewsconnect.open_mailbox(self.settings, self._configuration(), address)
            except Exception as exc:
                raise translate(exc, self.account, address) from None
            box = self._boxes[address] = _Mailbox(address, account)
        return box

    def close(self) -> None:
        """Close the connections of this pass (exchangelib keeps its protocol objects per
        endpoint and credentials; their sessions are opened again when next needed)."""
        protocols = {id(b.account.protocol): b.account.protocol for b in self._boxes.values()}
        for protocol in protocols.values():
            try:
                protocol.close()
            except Exception as exc:  # closing never fails a pass
                log.debug("%s: closing the EWS sessions: %s", self.account, exc)

    def mailboxes(self) -> list[str]:
        """The configured mailboxes and the members of the configured groups."""
        if self._expanded is None:
            found = dict.fromkeys(self.wanted_mailboxes)
            for group in self.groups:
                protocol = self._box(self._any_mailbox(group)).account.protocol
                members = self._call(lambda p=protocol, g=group: list(p.expand_dl(g)), group)
                for member in members:
                    address = (getattr(member, "email_address", None) or "").lower()
                    if address and getattr(member, "mailbox_type", "Mailbox") == "Mailbox":
                        found.setdefault(address)
            self._expanded = list(found)
        return self._expanded

    def staff_addresses(self) -> list[str]:
        return list(self._expanded or ())

    def _any_mailbox(self, group: str) -> str:
        return self.wanted_mailboxes[0] if self.wanted_mailboxes else group

    # -- collections -----------------------------------------------------------------------

    def collections(self) -> list[Collection]:
        return mailbox_collections(
            self.mailboxes(), self.folders, calendar=self.calendar, contacts=self.contacts
        )

    def probe(self) -> list[str]:
        """Every mailbox with the folders found for it; the first failure, in words."""
        lines = []
        for mailbox in self.mailboxes():
            names = [self._folder(mailbox, spec).name for spec in self._specs()]
            lines.append(f"{mailbox}: {', '.join(names)}")
        return lines

    def _specs(self) -> list[str]:
        extra = (["calendar"] if self.calendar else []) + (["contacts"] if self.contacts else [])
        return [*self.folders, *extra]

    def _folder(self, mailbox: str, spec: str) -> Any:
        box = self._box(mailbox)
        if spec not in box.folders:
            box.folders[spec] = self._call(lambda: _resolve(box.account, spec), mailbox)
        return box.folders[spec]

    # -- pulling ---------------------------------------------------------------------------

    def pull(
        self, collection: Collection, cursor: dict[str, Any] | None, limits: BatchLimits
    ) -> Iterator[Batch]:
        mailbox, kind, spec = split_id(collection)
        folder = self._folder(mailbox, spec)
        cursor = dict(cursor or {})
        if cursor.get("folder") not in (None, folder.id):
            log.info("%s: %s is a new folder; reading it from the start", self.account, spec)
            cursor = {}
        window = None
        if kind == "calendar":
            window, cursor = calendar_window(
                cursor, self.window_back, self.window_ahead,
                account=self.account, name=collection.name,
            )  # fmt: skip
        base = {"folder": folder.id}
        if window is not None:
            base["window"] = window_value(window)
        state = cursor.get("state")
        size = max(1, min(self.page_size, limits.max_items))  # a page is at most a batch
        while True:
            changes, new_state, last = self._page(folder, kind, state, size, collection, mailbox)
            if not changes:
                if state is None or new_state != state:  # a first state, or a newer one
                    yield Batch(records=(), cursor={**base, "state": new_state}, window=window)
                return
            yield from self._store_page(
                folder, kind, changes, limits, window, mailbox,
                before={**base, "state": state} if state else {},
                after={**base, "state": new_state},
            )  # fmt: skip
            if last or new_state == state:
                return
            state = new_state

    def _page(
        self,
        folder: Any,
        kind: str,
        state: str | None,
        size: int,
        collection: Collection,
        mailbox: str,
    ) -> tuple[list[tuple[str, Any]], str, bool]:
        """One SyncFolderItems page: its changes, the state after it, whether it is the last."""
        service = SyncFolderItems(account=folder.account)
        extra = {
            f for f in folder.normalize_fields(fields=SYNC_FIELDS[kind]) if not f.field.is_attribute
        }

        def call() -> list[tuple[str, Any]]:
            return list(
                service.call(
                    folder=folder, shape=ID_ONLY, additional_fields=extra, sync_state=state,
                    ignore=None, max_changes_returned=size, sync_scope=None,
                )
            )  # fmt: skip

        try:
            changes = self._call(call, mailbox, passthrough=(ews.ErrorInvalidSyncStateData,))
        except ews.ErrorInvalidSyncStateData:
            raise InvalidCursorError(
                "the server no longer accepts the sync state",
                collection=collection.name,
                account=self.account,
            ) from None
        return changes, service.sync_state, bool(service.includes_last_item_in_range)

    def _store_page(
        self,
        folder: Any,
        kind: str,
        changes: list[tuple[str, Any]],
        limits: BatchLimits,
        window: tuple[datetime, datetime] | None,
        mailbox: str,
        *,
        before: dict[str, Any],
        after: dict[str, Any],
    ) -> Iterator[Batch]:
        fetch: dict[str, Any] = {}
        deleted: list[str] = []
        for change, item in changes:
            if change == SyncFolderItems.DELETE:
                deleted.append(item.id)
                fetch.pop(item.id, None)
            elif self._wanted_change(kind, change, item):
                fetch[item.id] = item
        records: list[Record] = []
        failures: list[ItemFailure] = []
        size = 0
        ids = list(fetch.values())
        for start in range(0, len(ids), FETCH_CHUNK):
            chunk = ids[start : start + FETCH_CHUNK]
            got = self._call(
                lambda c=chunk: list(
                    folder.account.fetch(
                        ids=c, folder=folder, only_fields=FETCH_FIELDS[kind], chunk_size=FETCH_CHUNK
                    )
                ),
                mailbox,
            )
            for asked, item in zip(chunk, got, strict=True):
                size += self._convert(kind, asked.id, item, window, records, failures)
            full = len(records) >= limits.max_items or size >= limits.max_bytes
            if full and start + FETCH_CHUNK < len(ids):  # more of this page to come
                yield Batch(tuple(records), before, failures=tuple(failures), window=window)
                records, failures, size = [], [], 0
        yield Batch(
            tuple(records), after, deleted=tuple(deleted), failures=tuple(failures), window=window
        )

    def _wanted_change(self, kind: str, change: str, item: Any) -> bool:
        """A created or changed item to store: of the kind, not private, not too old."""
        if change not in (SyncFolderItems.CREATE, SyncFolderItems.UPDATE):
            return False
        return wanted(kind, item, self.private_categories) and not too_old(kind, item, self.since)

    def estimate(self, collection: Collection, cursor: dict[str, Any] | None) -> int | None:
        """Without a sync state: the folder's item count (FindItem, ids only, mail limited
        to ``since``). With one: the changes SyncFolderItems has since that state, read
        page by page without any MIME content and without keeping the new state."""
        mailbox, kind, spec = split_id(collection)
        folder = self._folder(mailbox, spec)
        state = (cursor or {}).get("state") if (cursor or {}).get("folder") == folder.id else None
        if state is not None:
            try:
                return self._count_changes(folder, kind, state, collection, mailbox)
            except InvalidCursorError:
                pass  # sync would read the folder again: count all of it
        query = folder.all()
        if kind == "mail" and self.since is not None:
            query = folder.filter(datetime_received__gte=EWSDateTime.from_datetime(self.since))
        return int(self._call(query.count, mailbox))

    def _count_changes(
        self, folder: Any, kind: str, state: str, collection: Collection, mailbox: str
    ) -> int:
        count = 0
        while True:
            changes, new_state, last = self._page(
                folder, kind, state, MAX_PAGE, collection, mailbox
            )
            count += sum(1 for change, item in changes if self._wanted_change(kind, change, item))
            if not changes or last or new_state == state:
                return count
            state = new_state

    def _convert(
        self,
        kind: str,
        remote_id: str,
        item: Any,
        window: tuple[datetime, datetime] | None,
        records: list[Record],
        failures: list[ItemFailure],
    ) -> int:
        """Add the records of one fetched item (or its failure); the bytes it had."""
        if isinstance(item, ews.ErrorItemNotFound):
            return 0  # deleted since the page was read: its Delete comes next time
        if isinstance(item, Exception):
            reason = (
                f"item {remote_id}: the server could not give it ({type(item).__name__}: {item})"
            )
            failures.append(ItemFailure(remote_id, reason))
            return 0
        raw = getattr(item, "mime_content", None) or b""
        try:
            if kind == "mail":
                records.append(mail_record(item, remote_id))
            elif kind == "calendar":
                assert window is not None
                found, failed = event_records(item, remote_id, window)
                records.extend(found)
                failures.extend(failed)
            else:
                records.append(contact_record(item, remote_id))
        except ItemError as exc:
            failures.append(ItemFailure(remote_id, exc.reason, raw=_bytes(raw)))
        except Exception as exc:  # the last guard: one odd item never stops the folder
            reason = f"item {remote_id}: could not be read ({type(exc).__name__}: {exc})"
            failures.append(ItemFailure(remote_id, reason, raw=_bytes(raw)))
        return len(raw)


def _resolve(account: Any, spec: str) -> Any:
    """A folder by well-known name (one GetFolder) or by path under the top of the
    information store (a FindFolder per level, without loading the whole tree)."""
    known = WELL_KNOWN.get(spec.strip().lower())
    if known is not None:
        return known.get_distinguished(root=account.root)
    folder = account.msg_folder_root
    for part in [p for p in spec.strip("/").split("/") if p]:
        folder = folder // part
    return folder


def _bytes(raw: Any) -> bytes:
    return raw.encode("utf-8") if isinstance(raw, str) else bytes(raw or b"")
