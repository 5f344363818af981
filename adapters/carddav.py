"""CardDAV address books as a source (RFC 6352), read with our own small client.

python-caldav has no address-book client, so this one follows what vdirsyncer's DAV
storage does, on :mod:`adapters.davclient`:

- **Discovery** from a bare server URL: ``/.well-known/carddav`` (RFC 6764 §5, a
  redirect followed with method and body kept), ``DAV:current-user-principal``
  (RFC 5397), ``CARDDAV:addressbook-home-set`` (RFC 6352 §7.1.1), then a Depth 1
  PROPFIND of the home for collections of resourcetype ``CARDDAV:addressbook``.
  A URL that is itself an address book or a home is taken as it is. Books are
  configured by display name, by the last segment of their path, or by URL.
- **A first pull** lists the book (PROPFIND Depth 1: getetag, getcontentlength) and
  fetches the cards with ``addressbook-multiget`` (RFC 6352 §8.7), in batches planned
  by :class:`BatchLimits` from the listed sizes.
- **Later pulls** ask for the changes since the stored ``sync-token`` (RFC 6578
  sync-collection): changed hrefs are fetched with multiget, ``404`` entries become
  :attr:`Batch.deleted`. A token the server refuses (``DAV:valid-sync-token``; Radicale
  answers 403, Xandikos 412, RFC 6578 §3.2 says 403 or 409) raises
  :class:`InvalidCursorError`. An unchanged book costs that one REPORT.
- **Servers without sync-token** are compared by ETag: the cursor keeps every card's
  ETag and the book's ``CS:getctag``; an unchanged ctag costs one Depth 0 PROPFIND.

The cursor, one of:

- ``{"sync_token": T}``: everything up to the server's state T is stored.
- ``{"sync_token": T0, "after": href}``: a first pull listed the book at state T0 and
  stored the cards up to ``href`` (in href order); the next pull lists again and takes
  only the later ones, and ends with T0 (not the newer state it listed), so the
  sync from T0 then reports whatever changed among the early cards in between.
- ``{"ctag": C, "etags": {href: etag}}``: the ETag fallback. A cut-short pull here
  (and an incremental sync) is repeated from its start: ingest is idempotent.
- ``{}``: nothing stored yet.

``remote_id`` of a card is its href: the path, percent-encoded one way
(:func:`adapters.davclient.normalize_href`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit
from xml.etree.ElementTree import Element, SubElement

from adapters.base import BatchLimits, Source
from adapters.davclient import (
    CALSERVER,
    CARDDAV,
    DAV,
    DavClient,
    DavResource,
    Multistatus,
    NotDavError,
    PreconditionError,
    StatusError,
    normalize_href,
    same_collection,
    xml_body,
)
from adapters.errors import InvalidCursorError, SourceError
from adapters.imap import is_loopback
from adapters.records import Batch, Collection, ItemFailure, Record
from adapters.vcard import parse_vcards

log = logging.getLogger(__name__)

ADDRESSBOOK = f"{CARDDAV}addressbook"
ADDRESS_DATA = f"{CARDDAV}address-data"
HOME_SET = f"{CARDDAV}addressbook-home-set"
PRINCIPAL = f"{DAV}current-user-principal"
RESOURCETYPE = f"{DAV}resourcetype"
DISPLAYNAME = f"{DAV}displayname"
GETETAG = f"{DAV}getetag"
GETCTAG = f"{CALSERVER}getctag"
SYNC_TOKEN = f"{DAV}sync-token"
_ENTRY_PROPS = (RESOURCETYPE, DISPLAYNAME, PRINCIPAL, HOME_SET)
_LISTING_PROPS = (
    RESOURCETYPE,
    GETETAG,
    f"{DAV}getcontentlength",
    f"{DAV}getcontenttype",
    SYNC_TOKEN,
    GETCTAG,
)
_WELL_KNOWN = "/.well-known/carddav"
# vCards are text/vcard (RFC 6350), or text/x-vcard and text/directory on old servers.
_CARD_TYPES = ("vcard", "directory")


@dataclass(frozen=True, slots=True)
class _Book:
    """An address book on the server."""

    url: str
    name: str

    def collection(self) -> Collection:
        return Collection(id=self.url, name=self.name, kind="contacts")


@dataclass(frozen=True, slots=True)
class _Member:
    """A card as a listing or a sync report named it."""

    href: str
    etag: str
    size: int = 0


@dataclass(frozen=True, slots=True)
class _Cursor:
    """Where a book's last pull ended (see the module docstring)."""

    sync_token: str = ""
    after: str | None = None
    ctag: str = ""
    etags: dict[str, str] | None = None

    @classmethod
    def load(cls, raw: dict[str, Any] | None, collection: str) -> _Cursor:
        if not raw:
            return cls()
        try:
            cursor: _Cursor | None = cls._parse(raw)
        except (AttributeError, TypeError, ValueError):
            cursor = None
        if cursor is None or (cursor.after is not None and not cursor.sync_token):
            keys = ", ".join(sorted(map(str, raw)))  # not the cursor: it may hold 100,000 ETags
            raise InvalidCursorError(
                f"unreadable CardDAV cursor (keys: {keys})", collection=collection
            )
        return cursor

    @classmethod
    def _parse(cls, raw: dict[str, Any]) -> _Cursor:
        etags = raw.get("etags")
        after = raw.get("after")
        return cls(
            sync_token=str(raw.get("sync_token") or ""),
            after=None if after is None else str(after),
            ctag=str(raw.get("ctag") or ""),
            etags=None if etags is None else {str(k): str(v) for k, v in etags.items()},
        )

    def dump(self) -> dict[str, Any]:
        if self.etags is not None:
            return {"ctag": self.ctag, "etags": dict(self.etags)}
        if self.after is not None:
            return {"sync_token": self.sync_token, "after": self.after}
        return {"sync_token": self.sync_token} if self.sync_token else {}


class CardDavSource(Source):
    """One CardDAV account: its address books, pulled read-only in bounded batches."""

    kind = "carddav"

    def __init__(
        self,
        *,
        url: str,
        username: str,
        password: str,
        books: Sequence[str] = (),
        account: str = "",
        tls_verify: bool = True,
        ca_file: str | None = None,
        timeout: float = 60.0,
        sync_collection: bool = True,
    ) -> None:
        """``books``: display names, path segments or URLs; none means every book.
        ``sync_collection=False`` never uses RFC 6578, only the ctag/ETag comparison
        (for servers whose sync-token support is broken)."""
        self.url = url if urlsplit(url).path else url + "/"
        self.username = username
        self._password = password
        self.books = tuple(books)
        self.account = account
        self.tls_verify = tls_verify
        self.ca_file = ca_file
        self.timeout = timeout
        self.sync_collection = sync_collection
        self._client: DavClient | None = None

    def __repr__(self) -> str:
        return f"CardDavSource({self.username} at {self.url})"

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    @property
    def client(self) -> DavClient:
        if self._client is None:
            self._client = self._connect()
        return self._client

    def _connect(self) -> DavClient:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SourceError(f"not an http(s) URL: {self.url!r}", account=self.account)
        if parts.scheme == "http" and not is_loopback(parts.hostname):
            raise SourceError(
                f"refusing to send the password in plain text to {parts.hostname}; "
                "use an https:// URL (http:// is for loopback only)",
                account=self.account,
            )
        verify: bool | str = self.ca_file or self.tls_verify
        return DavClient(
            self.url,
            self.username,
            self._password,
            verify=verify,
            timeout=self.timeout,
            account=self.account,
        )

    # --- collections ------------------------------------------------------------------

    def collections(self) -> list[Collection]:
        """The configured address books (all of them when none is configured)."""
        if self.books and all(_is_url(spec) for spec in self.books):
            found = [self._book_at(urljoin(self.url, spec)) for spec in self.books]
        else:
            books = self._discover()
            found = [self._pick(spec, books) for spec in self.books] if self.books else books
        unique = {book.url: book for book in found}
        return [book.collection() for book in unique.values()]

    def probe(self) -> list[str]:
        """The name of every address book the account has."""
        return sorted((book.name for book in self._discover()), key=str.lower)

    def _pick(self, spec: str, books: list[_Book]) -> _Book:
        if _is_url(spec):
            wanted = normalize_href(self.url, spec)
            same = [b for b in books if same_collection(normalize_href(b.url, b.url), wanted)]
            return same[0] if same else self._book_at(urljoin(self.url, spec))
        for match in (lambda b: b.name == spec, lambda b: _last_segment(b.url) == spec):
            chosen = [b for b in books if match(b)]
            if chosen:
                return chosen[0]
        names = ", ".join(sorted(b.name for b in books)) or "none"
        raise SourceError(
            f"address book {spec!r} does not exist on the server (it has: {names})",
            account=self.account,
        )

    def _book_at(self, url: str) -> _Book:
        """A configured book URL, checked to be an address book."""
        answer = self.client.propfind(url, (RESOURCETYPE, DISPLAYNAME), depth=0)
        me = _first(answer)
        if me is None or not me.is_a(ADDRESSBOOK):
            raise SourceError(f"{url} is not an address book", account=self.account)
        return _book(answer.url, me)

    def _discover(self) -> list[_Book]:
        """Every address book of the user (RFC 6352 §7.1.1, RFC 6764 §6)."""
        base, entry = self._entry()
        if entry.is_a(ADDRESSBOOK):
            return [_book(base, entry)]
        books: dict[str, _Book] = {}
        for home in self._homes(base, entry):
            listing = self.client.propfind(home, (RESOURCETYPE, DISPLAYNAME), depth=1)
            for resource in listing.responses:
                if resource.is_a(ADDRESSBOOK):
                    book = _book(listing.url, resource)
                    books.setdefault(book.url, book)
        return list(books.values())

    def _entry(self) -> tuple[str, DavResource]:
        """Where discovery starts: the well-known URL for a bare server URL (RFC 6764
        §5), else the configured one; its answer to a Depth 0 PROPFIND."""
        bare = urlsplit(self.url).path in ("", "/")
        candidates = [urljoin(self.url, _WELL_KNOWN), self.url] if bare else [self.url]
        problem: SourceError | None = None
        for candidate in candidates:
            try:
                answer = self.client.propfind(candidate, _ENTRY_PROPS, depth=0)
            except (StatusError, NotDavError) as exc:
                log.debug("%s: no CardDAV at %s: %s", self.account, candidate, exc.message)
                problem = exc
                continue
            return answer.url, _first(answer) or DavResource(normalize_href(answer.url, ""))
        reason = problem.message if problem else "no answer"
        raise SourceError(f"no CardDAV service at {self.url} ({reason})", account=self.account)

    def _homes(self, base: str, entry: DavResource) -> list[str]:
        """The addressbook-home-set, asked of the principal where the entry lacks it;
        the entry itself where the server knows neither (as vdirsyncer falls back)."""
        homes = entry.hrefs_in(HOME_SET)
        principal = entry.href_in(PRINCIPAL)
        if not homes and principal:
            answer = self.client.propfind(urljoin(base, principal), (HOME_SET,), depth=0)
            me = _first(answer)
            homes, base = (me.hrefs_in(HOME_SET) if me else []), answer.url
        return [urljoin(base, home) for home in homes] or [base]

    # --- pull -------------------------------------------------------------------------

    def pull(
        self, collection: Collection, cursor: dict[str, Any] | None, limits: BatchLimits
    ) -> Iterator[Batch]:
        """What changed in one address book since ``cursor``, in bounded batches."""
        start = _Cursor.load(cursor, collection.id)
        if start.sync_token and start.after is None and self.sync_collection:
            yield from self._pull_changes(collection.id, start, limits)
        else:
            yield from self._pull_listing(collection.id, start, limits)

    def _pull_changes(self, book: str, start: _Cursor, limits: BatchLimits) -> Iterator[Batch]:
        """RFC 6578: the changes since the token; a truncated answer (507 for the
        collection, §3.6) is continued from the token it carried."""
        token = start.sync_token
        while True:
            report = self._sync_report(book, token)
            if not report.sync_token:
                raise SourceError(f"{book}: sync report without a sync-token", account=self.account)
            changed, deleted, truncated = _changes(report, book)
            before, after = _Cursor(sync_token=token), _Cursor(sync_token=report.sync_token)
            if changed or deleted or report.sync_token != token:
                yield from self._batches(book, changed, deleted, after, _repeat(before), limits)
            if not truncated:
                return
            token = report.sync_token

    def _sync_report(self, book: str, token: str) -> Multistatus:
        root = Element(f"{DAV}sync-collection")
        SubElement(root, SYNC_TOKEN).text = token
        SubElement(root, f"{DAV}sync-level").text = "1"
        wanted = SubElement(root, f"{DAV}prop")
        SubElement(wanted, GETETAG)
        SubElement(wanted, f"{DAV}getcontentlength")
        try:
            return self.client.multistatus("REPORT", book, xml_body(root), headers={"Depth": "0"})
        except PreconditionError as exc:
            if exc.condition != f"{DAV}valid-sync-token":
                raise
            raise InvalidCursorError(
                f"the server no longer accepts the sync-token of {book}",
                collection=book,
                account=self.account,
            ) from None

    def _pull_listing(self, book: str, start: _Cursor, limits: BatchLimits) -> Iterator[Batch]:
        """List the book and fetch what is new or changed (by ETag) or not yet taken."""
        if start.etags is not None and start.ctag and self._ctag(book) == start.ctag:
            return
        listing = self.client.propfind(book, _LISTING_PROPS, depth=1)
        me, members = _members(listing, book)
        token = me.text(SYNC_TOKEN) if self.sync_collection else ""
        known = start.etags or {}
        if token and start.after is not None:  # resuming a first pull at its state T0
            todo = [m for m in members if m.href > start.after]
            deleted: list[str] = []
            token = start.sync_token
        else:
            todo = [m for m in members if known.get(m.href) != m.etag]
            deleted = sorted(set(known) - {m.href for m in members})
        if token:
            final = _Cursor(sync_token=token)
            # a first pull (nothing stored) may resume after its last stored href
            progress = _resume_after(token) if start.etags is None else _repeat(start)
        else:
            final = _Cursor(ctag=me.text(GETCTAG), etags={m.href: m.etag for m in members})
            progress = _repeat(start)
        if todo or deleted or final != start:
            yield from self._batches(book, todo, deleted, final, progress, limits)

    def _ctag(self, book: str) -> str:
        """The book's ``CS:getctag``: it changes whenever a card does."""
        me = _first(self.client.propfind(book, (GETCTAG,), depth=0))
        return me.text(GETCTAG) if me is not None else ""

    def _batches(
        self,
        book: str,
        todo: list[_Member],
        deleted: list[str],
        final: _Cursor,
        progress: Callable[[list[_Member]], _Cursor],
        limits: BatchLimits,
    ) -> Iterator[Batch]:
        """Fetch ``todo`` in planned groups; the last batch carries ``final``, earlier
        ones ``progress(group)``; deletions go with the first."""
        groups = _plan(todo, limits)
        if not groups:
            yield Batch(records=(), cursor=final.dump(), deleted=tuple(deleted))
            return
        for number, group in enumerate(groups, start=1):
            cursor = final if number == len(groups) else progress(group)
            records, failures = self._multiget(book, group)
            yield Batch(
                records=tuple(records),
                cursor=cursor.dump(),
                deleted=tuple(deleted) if number == 1 else (),
                failures=tuple(failures),
            )

    def _multiget(self, book: str, group: list[_Member]) -> tuple[list[Record], list[ItemFailure]]:
        """addressbook-multiget (RFC 6352 §8.7); cards gone since listing are skipped."""
        root = Element(f"{CARDDAV}addressbook-multiget")
        wanted = SubElement(root, f"{DAV}prop")
        SubElement(wanted, GETETAG)
        SubElement(wanted, ADDRESS_DATA)
        for member in group:
            SubElement(root, f"{DAV}href").text = member.href
        answer = self.client.multistatus("REPORT", book, xml_body(root))
        asked = {m.href for m in group}
        records: list[Record] = []
        failures: list[ItemFailure] = []
        for resource in answer.responses:
            if resource.href not in asked or (resource.status or 200) != 200:
                continue
            asked.discard(resource.href)  # a server that repeats an href is read once
            data = resource.props.get(ADDRESS_DATA)
            if data is None:
                failures.append(ItemFailure(resource.href, "the server sent no address-data"))
                continue
            cards, bad = parse_vcards((data.text or "").encode("utf-8"), resource.href)
            records += cards
            failures += bad
        if asked:
            log.debug("%s: %d cards vanished since listing", self.account, len(asked))
        return records, failures


def _resume_after(token: str) -> Callable[[list[_Member]], _Cursor]:
    """The cursor after a group of a first pull: at state ``token``, stored up to its end."""
    return lambda group: _Cursor(sync_token=token, after=group[-1].href)


def _repeat(start: _Cursor) -> Callable[[list[_Member]], _Cursor]:
    """The cursor after a group that is not the last: the start (a crash repeats all)."""
    return lambda _group: start


def _is_url(spec: str) -> bool:
    return spec.startswith(("/", "http://", "https://"))


def _last_segment(url: str) -> str:
    return unquote(urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1])


def _first(answer: Multistatus) -> DavResource | None:
    return answer.responses[0] if answer.responses else None


def _book(base: str, resource: DavResource) -> _Book:
    url = urljoin(base, resource.href.rstrip("/") + "/")
    return _Book(url=url, name=resource.text(DISPLAYNAME) or _last_segment(url))


def _members(listing: Multistatus, book: str) -> tuple[DavResource, list[_Member]]:
    """The book's own entry and its cards, in href order (after vdirsyncer's
    ``_parse_prop_responses``: collections, entries without ETag and other media
    types are skipped, a repeated href is taken once)."""
    book_href = normalize_href(book, book)
    me = DavResource(book_href)
    members: dict[str, _Member] = {}
    for resource in listing.responses:
        if same_collection(resource.href, book_href):
            me = resource
            continue
        kind = resource.text(f"{DAV}getcontenttype").lower()
        if resource.is_a(f"{DAV}collection") or not resource.text(GETETAG):
            continue
        if kind and not any(t in kind for t in _CARD_TYPES):
            continue
        size = _size(resource)
        members.setdefault(resource.href, _Member(resource.href, resource.text(GETETAG), size))
    return me, sorted(members.values(), key=lambda m: m.href)


def _changes(report: Multistatus, book: str) -> tuple[list[_Member], list[str], bool]:
    """(changed cards, deleted hrefs, truncated?) of a sync-collection report."""
    book_href = normalize_href(book, book)
    changed: dict[str, _Member] = {}
    deleted: set[str] = set()
    truncated = False
    for resource in report.responses:
        if same_collection(resource.href, book_href):
            truncated = truncated or resource.status == 507
        elif resource.status == 404:
            deleted.add(resource.href)
        elif resource.status is None or resource.status // 100 == 2:
            changed[resource.href] = _Member(resource.href, resource.text(GETETAG), _size(resource))
    return sorted(changed.values(), key=lambda m: m.href), sorted(deleted - set(changed)), truncated


def _size(resource: DavResource) -> int:
    text = resource.text(f"{DAV}getcontentlength")
    return int(text) if text.isdigit() else 0


def _plan(members: list[_Member], limits: BatchLimits) -> list[list[_Member]]:
    """Cut ``members`` into groups of at most ``max_items`` cards and about ``max_bytes``
    (by the listed sizes; a card of unknown size counts as nothing but one item)."""
    groups: list[list[_Member]] = []
    size = 0
    for member in members:
        full = groups and (
            len(groups[-1]) >= limits.max_items or size + member.size > limits.max_bytes
        )
        if not groups or full:
            groups.append([])
            size = 0
        groups[-1].append(member)
        size += member.size
    return groups
