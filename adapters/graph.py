"""Exchange Online mailboxes through Microsoft Graph: mail, calendar and contacts.

The counterpart of :mod:`adapters.ews` for Exchange Online, where Microsoft has switched
EWS off. One ``graph`` account reads, app-only, the staff mailboxes it lists and those of
the members of the distribution groups it lists (:mod:`adapters.graphgroups`), scoped by
an application access policy, or, signed in as one user, that user's own mailbox
(:mod:`adapters.graphauth`). Each mailbox gives the same collections as with EWS:

- ``<mailbox>|mail|<folder>``: a mail folder, by well-known name ("Inbox", "Sent Items",
  or Graph's own "inbox", "sentitems") or by path ("Inbox/Customers");
- ``<mailbox>|calendar``: the default calendar, as calendarView over the pull window;
- ``<mailbox>|contacts``: the default contacts folder.

(``<mailbox>`` is ``me`` for a signed-in user.)

**Incremental, page by page.** Each collection is read with its delta query. Every page
is one batch, and its cursor is the link Graph gave after that page (the next page's
``@odata.nextLink``, or at the end of the round the ``@odata.deltaLink``), so a crash
in the middle of a 50,000-mail first sync resumes at the page it stopped in. Mail MIME
is fetched with ``$batch`` (20 ``/$value`` GETs a round trip), through the shared MIME
parser. Deletions come from ``@removed``.

Cursor: ``{"folder": id, "link": next or delta link, "window": [from, to]}`` (window for
calendars). A link Graph no longer knows (410) raises :class:`InvalidCursorError`, and
the runner starts the folder over (ingest is idempotent: nothing is doubled); so does a
mail folder whose id changed. A calendar whose window has moved by more than
:data:`adapters.mailboxes.WINDOW_SLACK` is read afresh, as with CalDAV and EWS.

Faults are handled in :mod:`adapters.graphhttp` (429/503 with ``Retry-After``, a new
token after a 401, refusals in words); an item that cannot be fetched or read is
reported in :attr:`Batch.failures` with its id and reason.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote

from adapters.base import BatchLimits, Source
from adapters.errors import InvalidCursorError, ItemError, SourceError
from adapters.graphauth import GraphAuth, GraphSettings, HttpSession, TokenStore
from adapters.graphgroups import group_members
from adapters.graphhttp import DeltaGone, GraphClient, NotFound
from adapters.graphitems import (
    CONTACT_SELECT,
    MAIL_EXPAND,
    MAIL_SELECT,
    contact_record,
    event_record,
    is_private_mail,
    mail_record,
)
from adapters.mailboxes import calendar_window, mailbox_collections, split_id, window_value
from adapters.records import Batch, Collection, ItemFailure, Record

log = logging.getLogger(__name__)

#: the page size asked for (Prefer: odata.maxpagesize); Graph's own limit is 1,000
PAGE_SIZE = 200
#: MIME contents fetched per round of ``$batch`` requests
FETCH_CHUNK = 100
#: well-known folder names (as Outlook shows them in English) -> Graph's names
WELL_KNOWN = {
    "inbox": "inbox", "sent items": "sentitems", "sentitems": "sentitems", "sent": "sentitems",
    "deleted items": "deleteditems", "deleteditems": "deleteditems", "drafts": "drafts",
    "junk email": "junkemail", "junkemail": "junkemail", "outbox": "outbox",
    "archive": "archive",
}  # fmt: skip
ME = "me"


class GraphSource(Source):
    """The mailboxes of one ``graph`` account."""

    kind = "graph"

    def __init__(
        self,
        *,
        settings: GraphSettings,
        store: TokenStore | None = None,
        mailboxes: Sequence[str] = (),
        groups: Sequence[str] = (),
        folders: Sequence[str] = ("Inbox", "Sent Items"),
        calendar: bool = True,
        contacts: bool = True,
        private_categories: Sequence[str] = (),
        window_back: timedelta = timedelta(days=365),
        window_ahead: timedelta = timedelta(days=365),
        page_size: int = PAGE_SIZE,
        account: str = "",
        since: date | None = None,
    ) -> None:
        self.settings, self.account = settings, account
        #: mail received before this day is not read (the delta query's only filter)
        self.since = since
        self.groups: list[str] = []
        if settings.delegated:  # the signed-in user's own mailbox, never a group's
            self.wanted_mailboxes = [ME]
        else:
            self.wanted_mailboxes = list(
                dict.fromkeys(m.strip().lower() for m in mailboxes if m.strip())
            )
            self.groups = list(dict.fromkeys(g.strip().lower() for g in groups if g.strip()))
        self.folders = list(folders)
        self.calendar, self.contacts = calendar, contacts
        self.private_categories = frozenset(c.casefold() for c in private_categories)
        self.window_back, self.window_ahead = window_back, window_ahead
        self.page_size = max(1, min(page_size, 1000))
        self.http = HttpSession(settings.verify, settings.timeout)
        self.auth = GraphAuth(settings, self.http, store=store, account=account)
        #: how the adapter waits for a throttling server (a test may count the waits)
        self.sleep: Callable[[float], None] = time.sleep
        self.client = GraphClient(
            self.auth, self.http, account=account, sleep=lambda s: self.sleep(s)
        )
        self._folder_ids: dict[tuple[str, str], tuple[str, str]] = {}
        self._expanded: list[str] | None = None

    def close(self) -> None:
        self.http.close()

    # -- collections -----------------------------------------------------------------------

    def mailboxes(self) -> list[str]:
        """The configured mailboxes and the members of the configured groups (read once)."""
        if self._expanded is None:
            found = dict.fromkeys(self.wanted_mailboxes)
            for group in self.groups:
                for member in group_members(self.client, group, account=self.account):
                    found.setdefault(member)
            self._expanded = list(found)
        return list(self._expanded)

    def staff_addresses(self) -> list[str]:
        """The mailboxes read (groups' members included), or the signed-in user's address
        (a delegated account names no mailbox)."""
        if not self.settings.delegated:
            return list(self._expanded or ())
        name = self.auth.signed_in_as().lower()
        return [name] if "@" in name else []

    def collections(self) -> list[Collection]:
        return mailbox_collections(
            self.mailboxes(), self.folders, calendar=self.calendar, contacts=self.contacts
        )

    def probe(self) -> list[str]:
        """Every mailbox with the folders found in it; the first failure, in words."""
        lines = []
        if self.settings.delegated:
            self.auth.token()
            lines.append(f"signed in as {self.auth.signed_in_as() or 'a user'}")
        for mailbox in self.mailboxes():
            names = [self._folder(mailbox, f)[1] for f in self.folders]
            base = _base(mailbox)
            if self.calendar:
                found = self.client.get(f"{base}/calendars", params={"$select": "name"})
                names.append(f"{len(found.get('value') or ())} calendar(s)")
            if self.contacts:
                self.client.get(f"{base}/contacts", params={"$top": "1", "$select": "id"})
                names.append("Contacts")
            lines.append(f"{mailbox}: {', '.join(names)}")
        return lines

    def estimate(self, collection: Collection, cursor: dict[str, Any] | None) -> int | None:
        """A mail folder's first sync without ``since``: its item count (one GET). Else
        None: Graph counts neither a delta round nor a filtered folder cheaply."""
        mailbox, kind, spec = split_id(collection)
        if kind != "mail" or cursor or self.since is not None:
            return None
        folder_id = self._folder(mailbox, spec)[0]
        folder = self.client.get(
            f"{_base(mailbox)}/mailFolders/{folder_id}", params={"$select": "totalItemCount"}
        )
        count = folder.get("totalItemCount") if isinstance(folder, dict) else None
        return count if isinstance(count, int) else None

    def _folder(self, mailbox: str, spec: str) -> tuple[str, str]:
        """A mail folder's (id, display name), by well-known name or by path."""
        key = (mailbox, spec)
        if key not in self._folder_ids:
            self._folder_ids[key] = self._resolve(mailbox, spec)
        return self._folder_ids[key]

    def _resolve(self, mailbox: str, spec: str) -> tuple[str, str]:
        base = _base(mailbox)
        select = {"$select": "id,displayName"}
        parts = [p for p in spec.strip().strip("/").split("/") if p]
        if not parts:
            raise SourceError(f"an empty folder name in {mailbox}", account=self.account)
        found: dict[str, Any] | None = None
        known = WELL_KNOWN.get(parts[0].strip().lower())
        try:
            if known is not None:
                found = self.client.get(f"{base}/mailFolders/{known}", params=select)
            else:
                found = self._child(f"{base}/mailFolders", parts[0])
            for part in parts[1:]:
                if found is None:
                    break
                found = self._child(f"{base}/mailFolders/{found['id']}/childFolders", part)
        except NotFound as exc:
            if exc.code != "ErrorItemNotFound":
                raise
            found = None
        if found is None:
            raise SourceError(f'no folder "{spec}" in {mailbox}', account=self.account)
        return str(found["id"]), str(found.get("displayName") or spec)

    def _child(self, listing: str, name: str) -> dict[str, Any] | None:
        url: str | None = listing
        params: dict[str, str] | None = {"$select": "id,displayName", "$top": "100"}
        wanted = name.strip().casefold()
        while url:
            page = self.client.get(url, params=params)
            for folder in page.get("value") or ():
                if str(folder.get("displayName") or "").strip().casefold() == wanted:
                    return dict(folder)
            url, params = page.get("@odata.nextLink"), None
        return None

    # -- pulling ---------------------------------------------------------------------------

    def pull(
        self, collection: Collection, cursor: dict[str, Any] | None, limits: BatchLimits
    ) -> Iterator[Batch]:
        mailbox, kind, spec = split_id(collection)
        base = _base(mailbox)
        cursor = dict(cursor or {})
        size = max(1, min(self.page_size, limits.max_items))
        prefer = f"odata.maxpagesize={size}"
        window = None
        if kind == "mail":
            folder_id = self._folder(mailbox, spec)[0]
            if cursor.get("folder") not in (None, folder_id):
                log.info("%s: %s is a new folder; reading it from the start", self.account, spec)
                cursor = {}
            query = {"$select": MAIL_SELECT, "$expand": MAIL_EXPAND}
            if self.since is not None:  # kept by Graph in the next and delta links
                query["$filter"] = f"receivedDateTime ge {self.since.isoformat()}T00:00:00Z"
            start = (f"{base}/mailFolders/{folder_id}/messages/delta", query)
            fixed: dict[str, Any] = {"folder": folder_id}
        elif kind == "calendar":
            window, cursor = calendar_window(
                cursor, self.window_back, self.window_ahead,
                account=self.account, name=collection.name,
            )  # fmt: skip
            start = (
                f"{base}/calendarView/delta",
                {"startDateTime": _iso(window[0]), "endDateTime": _iso(window[1])},
            )
            prefer += ', outlook.timezone="UTC"'
            fixed = {"window": window_value(window)}
        else:
            start = (f"{base}/contacts/delta", {"$select": CONTACT_SELECT})
            fixed = {}
        link = cursor.get("link")
        before = {**fixed, "link": link} if link else {}
        url, params = (link, None) if link else start
        while True:
            try:
                page = self.client.get(url, params=params, prefer=prefer)
            except DeltaGone as exc:
                raise InvalidCursorError(
                    f"Graph no longer knows the delta link ({exc.message})",
                    collection=collection.name,
                    account=self.account,
                ) from None
            next_link = page.get("@odata.nextLink")
            new_link = next_link or page.get("@odata.deltaLink")
            if not new_link:
                raise SourceError(
                    f"{collection.name}: Graph's delta page has neither a next nor a delta link",
                    account=self.account,
                )
            after = {**fixed, "link": new_link}
            items = list(page.get("value") or ())
            if items or new_link != link:
                yield from self._page(kind, base, items, limits, window, before, after)
            if not next_link:
                return
            url, params, link, before = next_link, None, next_link, after

    def _page(
        self,
        kind: str,
        base: str,
        items: list[dict[str, Any]],
        limits: BatchLimits,
        window: tuple[datetime, datetime] | None,
        before: dict[str, Any],
        after: dict[str, Any],
    ) -> Iterator[Batch]:
        deleted = [str(i["id"]) for i in items if "@removed" in i and i.get("id")]
        present = [i for i in items if "@removed" not in i and i.get("id")]
        if kind != "mail":
            records: list[Record] = []
            failures: list[ItemFailure] = []
            for item in present:
                try:
                    record = event_record(item) if kind == "calendar" else contact_record(item)
                except ItemError as exc:
                    failures.append(ItemFailure(str(item["id"]), exc.reason))
                    continue
                if record is not None:
                    records.append(record)
            yield Batch(
                tuple(records), after, deleted=tuple(deleted), failures=tuple(failures),
                window=window,
            )  # fmt: skip
            return
        wanted = [i for i in present if not is_private_mail(i, self.private_categories)]
        records, failures, size = [], [], 0
        for start in range(0, len(wanted), FETCH_CHUNK):
            chunk = wanted[start : start + FETCH_CHUNK]
            paths = [f"{base}/messages/{quote(str(i['id']), safe='=-_')}/$value" for i in chunk]
            for item, step in zip(chunk, self.client.batch(paths), strict=True):
                remote_id = str(item["id"])
                if step.status == 404:
                    continue  # deleted since the page was read: its @removed comes next
                if step.status != 200 or not isinstance(step.body, bytes):
                    reason = f"message {remote_id}: Graph could not give its MIME ({step.error})"
                    failures.append(ItemFailure(remote_id, reason))
                    continue
                size += len(step.body)
                try:
                    records.append(mail_record(step.body, item))
                except ItemError as exc:
                    failures.append(ItemFailure(remote_id, exc.reason, raw=step.body))
                except Exception as exc:  # the last guard: one odd mail never stops the folder
                    reason = f"message {remote_id}: could not be read ({type(exc).__name__})"
                    failures.append(ItemFailure(remote_id, reason, raw=step.body))
            full = len(records) >= limits.max_items or size >= limits.max_bytes
            if full and start + FETCH_CHUNK < len(wanted):  # more of this page to come
                yield Batch(tuple(records), before, failures=tuple(failures))
                records, failures, size = [], [], 0
        yield Batch(tuple(records), after, deleted=tuple(deleted), failures=tuple(failures))


def _base(mailbox: str) -> str:
    return ME if mailbox == ME else f"users/{quote(mailbox, safe='@.')}"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
