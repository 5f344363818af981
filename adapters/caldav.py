"""Calendars on a CalDAV server (Nextcloud, Radicale, Baikal, SOGo, iCloud, Fastmail, ...)
through the ``caldav`` library.

Cursor: ``{"token": sync-token or None, "etags": {href: etag} or None, "window":
[from, to]}``. With RFC 6578 support the token names what changed since the last
pull; on a server without it (or one that fails the REPORT) the ETags of a depth-1
PROPFIND are compared with the stored ones (what vdirsyncer does everywhere). A token
the server refuses (DAV:valid-sync-token) is :class:`InvalidCursorError`: sync starts
the calendar over, and ingest is idempotent.

Recurring events are expanded within a window around now (adapters.ical). The window
moves with time but a sync token does not re-read unchanged events, so when the
stored window has moved by more than :data:`WINDOW_SLACK` the calendar is read afresh
(occurrences that entered the window are then found).

Discovery goes through the library; the requests of a pull (getctag, sync-collection,
ETag PROPFIND, calendar-multiget) are sent and read by :mod:`adapters.caldavwire` on
the library's session (the library's way wherever an answer is not a plain 207), and
each multiget (:data:`FETCH_CHUNK` objects) is fetched in a thread while the one
before is parsed. An unchanged calendar costs one getctag PROPFIND Depth 0, with no
discovery when the calendar is known by its path.

One calendar object's occurrences always travel in one batch: crm compares them with
what it stored for that object, inside the window the batch names.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from adapters import caldavwire as wire
from adapters.base import BatchLimits, Source
from adapters.errors import AuthError, InvalidCursorError, SourceError, TransientError
from adapters.ical import parse_calendar, window_around
from adapters.records import Batch, Collection, EventRecord, ItemFailure

log = logging.getLogger(__name__)
WINDOW_SLACK = timedelta(days=30)
#: hrefs per calendar-multiget (batches stay as BatchLimits says): the first one small,
#: so that parsing starts early, the others larger (Radicale spends some 15 ms on a
#: request whatever its size: 5,000 objects take it 1.6 s in 50 requests, 1.0 s in 5)
FIRST_CHUNK = 100
FETCH_CHUNK = 500
_CALENDAR_DATA = "{urn:ietf:params:xml:ns:caldav}calendar-data"
_GETETAG = "{DAV:}getetag"


class CalDavSource(Source):
    """The calendars of one CalDAV account (all of them, or those configured)."""

    kind = "caldav"

    def __init__(
        self,
        *,
        url: str,
        username: str,
        password: str,
        calendars: Sequence[str] = (),
        timeout: float = 60.0,
        window_back: timedelta = timedelta(days=365),
        window_ahead: timedelta = timedelta(days=365),
        tls_verify: bool | str = True,
        account: str = "",
    ) -> None:
        import caldav  # imported here: only accounts of this kind pay for it

        self.account = account
        self.wanted = list(calendars)
        self.window_back, self.window_ahead = window_back, window_ahead
        # tls_verify: True (the system's CAs), False (a test server), or a CA file
        self._client = caldav.DAVClient(  # type: ignore[operator]
            url=url,
            username=username,
            password=password,
            timeout=int(timeout),
            ssl_verify_cert=tls_verify,
        )
        self._calendars: dict[str, Any] = {}

    # -- collections --------------------------------------------------------------------

    def _all(self) -> list[Any]:
        with self._errors():
            calendars = self._client.principal().calendars()
        found = []
        for calendar in calendars:
            try:
                components = calendar.get_supported_components()
            except Exception:
                components = ["VEVENT"]
            if "VEVENT" in components:
                found.append(calendar)
        return found

    def collections(self) -> list[Collection]:
        out = []
        for calendar in self._all():
            path = urlsplit(str(calendar.url)).path
            name = _name(calendar) or path.rstrip("/").rsplit("/", 1)[-1]
            if self.wanted and name not in self.wanted and path not in self.wanted:
                continue
            self._calendars[path] = calendar
            out.append(Collection(id=path, name=name, kind="calendar"))
        missing = [w for w in self.wanted if w not in {c.name for c in out} | {c.id for c in out}]
        if missing:
            raise SourceError(
                f"no calendar named {', '.join(missing)} on the server", account=self.account
            )
        return out

    def probe(self) -> list[str]:
        return [_name(c) or str(c.url) for c in self._all()]

    # -- pulling ---------------------------------------------------------------------------

    def pull(
        self, collection: Collection, cursor: dict[str, Any] | None, limits: BatchLimits
    ) -> Iterator[Batch]:
        calendar = self._calendars.get(collection.id)
        if calendar is None:  # known by its path: no discovery round trips
            with self._errors():
                calendar = self._client.calendar(url=self._client.url.join(collection.id))
            self._calendars[collection.id] = calendar
        now = datetime.now(UTC)
        window = window_around(now, self.window_back, self.window_ahead)
        cursor = dict(cursor or {})
        stored = cursor.get("window")
        if stored and now - datetime.fromisoformat(stored[0]) - self.window_back > WINDOW_SLACK:
            log.info("%s: the window moved; reading %s afresh", self.account, collection.name)
            cursor = {}
        # The CalendarServer ctag first: where the server keeps one, an unchanged calendar
        # costs one small PROPFIND (a sync-collection REPORT costs the server a look at
        # every object: 0.45 s for 5,000 on Radicale). Read before the changes, so a
        # change made in between is found next time.
        ctag = self._ctag(calendar)
        if ctag is not None and cursor.get("ctag") == ctag and cursor.get("window"):
            return
        changed, deleted, new_cursor = self._changes(calendar, collection, cursor)
        new_cursor["window"] = [window[0].isoformat(), window[1].isoformat()]
        new_cursor["ctag"] = ctag
        same_state = (
            new_cursor.get("token") == cursor.get("token")
            and new_cursor.get("ctag") == cursor.get("ctag")
            and (cursor.get("token") is not None or new_cursor.get("etags") == cursor.get("etags"))
        )
        if not changed and not deleted and same_state:
            return  # nothing changed: one round trip
        step = max(1, min(limits.max_items, 100))
        hrefs = list(changed)
        chunks = _chunks(hrefs)
        for index, objects in enumerate(self._prefetched(calendar, chunks)):
            final = index == len(chunks) - 1
            parts = [objects[i : i + step] for i in range(0, len(objects), step)]
            for number, part in enumerate(parts or ([[]] if final else [])):
                last = final and number == max(0, len(parts) - 1)
                records: list[EventRecord] = []
                failures: list[ItemFailure] = []
                for href, raw in part:  # parsed while the next multiget is on the wire
                    found, failed = parse_calendar(raw, href, window=window)
                    records.extend(found)
                    failures.extend(failed)
                yield Batch(
                    records=tuple(records),
                    cursor=new_cursor if last else cursor or {"token": None},
                    deleted=tuple(deleted) if last else (),
                    failures=tuple(failures),
                    window=window,
                )
        if not hrefs:
            yield Batch(records=(), cursor=new_cursor, deleted=tuple(deleted), window=window)

    def _prefetched(
        self, calendar: Any, chunks: list[list[str]]
    ) -> Iterator[list[tuple[str, bytes]]]:
        """Each chunk's (href, data), the next one fetched in a thread meanwhile."""
        if not chunks:
            return
        with ThreadPoolExecutor(1, thread_name_prefix="caldav-fetch") as pool:
            pending = pool.submit(self._multiget, calendar, chunks[0])
            try:
                for following in [*chunks[1:], None]:
                    objects = pending.result()
                    if following is not None:
                        pending = pool.submit(self._multiget, calendar, following)
                    yield objects
            finally:
                pending.cancel()

    def _changes(
        self, calendar: Any, collection: Collection, cursor: dict[str, Any]
    ) -> tuple[list[str], list[str], dict[str, Any]]:
        """(changed hrefs, deleted hrefs, the cursor after them)."""
        from caldav.lib import error

        token = cursor.get("token")
        if cursor.get("etags") is None:  # the server did sync tokens last time (or first pull)
            quick = self._sync_report(calendar, token)
            if quick is not None:
                return quick
            try:
                with self._errors():
                    result = calendar.get_objects_by_sync_token(
                        sync_token=token, load_objects=False, disable_fallback=True
                    )
            except SourceError as exc:
                cause = exc.__cause__
                if token and isinstance(cause, error.DAVError) and _expired(cause):
                    raise InvalidCursorError(
                        "sync token refused", collection=collection.name, account=self.account
                    ) from None
                if isinstance(exc, AuthError | TransientError):
                    raise
                log.info(
                    "%s: %s has no usable sync-collection; comparing ETags",
                    self.account,
                    collection.name,
                )
            else:
                changed = [_path(o.url) for o in result.objects]
                deleted = sorted(_path(u) for u in getattr(result, "deleted_urls", ()) or ())
                return (
                    [h for h in changed if h not in deleted],
                    deleted,
                    {"token": result.sync_token, "etags": None},
                )
        etags = self._etags(calendar)
        before: dict[str, str] = cursor.get("etags") or {}
        changed = [h for h, tag in etags.items() if before.get(h) != tag]
        deleted = sorted(h for h in before if h not in etags)
        return changed, deleted, {"token": None, "etags": etags}

    def _sync_report(
        self, calendar: Any, token: str | None
    ) -> tuple[list[str], list[str], dict[str, Any]] | None:
        """The sync-collection REPORT (RFC 6578) sent and read here, as the library's
        get_objects_by_sync_token reads it; None to ask the library instead (an error,
        a truncated answer, a server it knows to lack sync tokens)."""
        support = calendar.client.features.is_supported("sync-token", return_type=dict)
        if support.get("support") == "unsupported":
            return None
        with self._errors():
            content = wire.send(
                self._client, "REPORT", str(calendar.url), wire.sync_body(token), "0"
            )
            answer = wire.parse(content) if content is not None else None
            if answer is None or answer.truncated:
                return None
            own = _path(calendar.url).rstrip("/")
            entries: dict[str, bool] = {}  # path -> removed; a later entry wins
            for href, status, props in answer.responses:
                path = wire.sync_path(calendar, href)
                if path.rstrip("/") == own:
                    continue  # the calendar itself (iCloud lists it)
                entries[path] = status == 404 and not props.get(_GETETAG)
        deleted = sorted(p for p, removed in entries.items() if removed)
        changed = [p for p, removed in entries.items() if not removed]
        return changed, deleted, {"token": answer.sync_token or None, "etags": None}

    def _ctag(self, calendar: Any) -> str | None:
        """The calendar's CalendarServer getctag, or None where the server has none."""
        with self._errors():
            content = wire.send(
                self._client, "PROPFIND", str(calendar.url), wire.propfind_body(wire.GETCTAG), "0"
            )
            answer = wire.parse(content) if content is not None else None
            if answer is None:
                value = calendar.get_property(_getctag(), use_cached=False)
                return str(value) if value else None
        own = _path(calendar.url).rstrip("/")
        found = [props for href, _, props in answer.responses if _path(href).rstrip("/") == own]
        value = (found or [props for _, _, props in answer.responses][:1] or [{}])[0].get(
            wire.GETCTAG
        )
        return value if value else None

    def _etags(self, calendar: Any) -> dict[str, str]:
        from caldav.elements import dav

        own = _path(calendar.url)
        with self._errors():
            content = wire.send(
                self._client, "PROPFIND", str(calendar.url), wire.propfind_body(_GETETAG), "1"
            )
            answer = wire.parse(content) if content is not None else None
            if answer is None:
                response = calendar._query_properties([dav.GetEtag()], depth=1)
                props = response.expand_simple_props([dav.GetEtag()])
                listed = [(href, values.get(dav.GetEtag.tag)) for href, values in props.items()]
            else:
                listed = [(href, values.get(_GETETAG)) for href, _, values in answer.responses]
        return {
            _path(href): etag or ""
            for href, etag in listed
            if _path(href) != own and _path(href).endswith(".ics")
        }

    def _multiget(self, calendar: Any, hrefs: list[str]) -> list[tuple[str, bytes]]:
        """(href, data) of each object still there, in the server's order."""
        with self._errors():
            content = wire.send(
                self._client, "REPORT", str(calendar.url), wire.multiget_body(hrefs), None
            )
            answer = wire.parse(content) if content is not None else None
            if answer is None:  # the library's way: its errors, its auth negotiation
                return self._library_multiget(calendar, hrefs)
        out = []
        for href, _, props in answer.responses:
            data = props.get(_CALENDAR_DATA)
            if data:  # none: deleted between the listing and the fetch, next pull says so
                # wire.fix: what the library did to data before (obj.data), cheaper
                out.append((wire.multiget_path(calendar, href), wire.fix(data).encode()))
        return out

    def _library_multiget(self, calendar: Any, hrefs: list[str]) -> list[tuple[str, bytes]]:
        with self._errors():
            objects = calendar.multiget([calendar.url.join(h) for h in hrefs], raise_notfound=False)
        out = []
        for obj in objects:
            data = obj.data
            if data is not None:
                out.append((_path(obj.url), data.encode() if isinstance(data, str) else data))
        return out

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing a dead connection is no error
            self._client.close()

    # -- errors ----------------------------------------------------------------------------

    def _errors(self) -> _ErrorMap:
        return _ErrorMap(self.account)


class _ErrorMap:
    """Turns the caldav library's and the HTTP stack's errors into adapters.errors."""

    def __init__(self, account: str) -> None:
        self.account = account

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is None or isinstance(exc, SourceError):
            return
        from caldav.lib import error

        message = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        if isinstance(exc, error.AuthorizationError) and not _expired(exc):
            raise AuthError(message, account=self.account) from exc
        if isinstance(exc, error.DAVError):
            status = str(getattr(exc, "reason", "")) + message
            if any(code in status for code in ("429", "502", "503", "504")):
                raise TransientError(message, account=self.account) from exc
            raise SourceError(message, account=self.account) from exc
        if isinstance(exc, OSError | TimeoutError) or "Connection" in type(exc).__name__:
            raise TransientError(message, account=self.account) from exc


def _chunks(hrefs: list[str]) -> list[list[str]]:
    """``hrefs`` cut into multigets: :data:`FIRST_CHUNK`, then :data:`FETCH_CHUNK` each."""
    chunks, start, size = [], 0, max(1, min(FIRST_CHUNK, FETCH_CHUNK))
    while start < len(hrefs):
        chunks.append(hrefs[start : start + size])
        start, size = start + size, max(1, FETCH_CHUNK)
    return chunks


def _getctag() -> Any:
    """A CS:getctag property element (the caldav library has none of its own)."""
    from caldav.elements.base import BaseElement

    class GetCTag(BaseElement):
        tag = "{http://calendarserver.org/ns/}getctag"

    return GetCTag()


def _expired(exc: BaseException) -> bool:
    text = f"{exc} {getattr(exc, 'preconditions', '')}"
    return "valid-sync-token" in text


def _name(calendar: Any) -> str:
    try:
        return str(calendar.get_display_name() or "")
    except Exception:
        return ""


def _path(url: Any) -> str:
    return urlsplit(str(url)).path
