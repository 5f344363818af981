"""The CardDAV adapter against real servers: one contract, run on Radicale and on
Xandikos, and a round trip through crmsync's own CardDAV export.

Radicale speaks plain HTTP, Xandikos HTTPS with its own certificate (trusted through
``ca_file``); both check HTTP Basic credentials against an htpasswd file
(tests/servers/). The servers live for the session; each test makes its own address
book. Round trips are counted by the adapter's client (``client.requests``), which
counts what it sends, redirects included.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote, unquote, urljoin, urlsplit

import pytest

from adapters.base import BatchLimits
from adapters.carddav import CardDavSource
from adapters.errors import AuthError, InvalidCursorError, SourceError, TransientError
from adapters.records import Batch, Collection, ContactRecord
from tests.carddav.conftest import DavSite, dav_site  # noqa: F401 - the export's fixture
from tests.carddav.customers import ALL, ORGANIZATIONS
from tests.servers.radicale import DavTestServer, free_port
from tests.servers.xandikos import XandikosServer


@pytest.fixture(params=["radicale", "xandikos"])
def server(request: pytest.FixtureRequest) -> DavTestServer:
    """The session's Radicale, then its Xandikos."""
    found: DavTestServer = request.getfixturevalue(request.param)
    return found


@dataclass
class Book:
    """An address book of this test on ``server``."""

    server: DavTestServer
    url: str
    name: str

    @property
    def collection(self) -> Collection:
        return Collection(id=self.url, name=self.name, kind="contacts")

    @property
    def segment(self) -> str:
        return unquote(urlsplit(self.url).path.rstrip("/").rsplit("/", 1)[-1])

    def href(self, name: str) -> str:
        """A card's href as the adapter reports it: its path, percent-encoded."""
        return urlsplit(urljoin(self.url, quote(name))).path

    def put(self, name: str, card: bytes) -> str:
        self.server.put_card(self.url, name, card)
        return self.href(name)

    def delete(self, name: str) -> None:
        self.server.delete(urljoin(self.url, name))

    def recreate(self) -> None:
        """Delete the book and make a new one at the same URL (its history is gone)."""
        self.server.delete(self.url)
        self.server.make_addressbook(self.segment, self.name)


@pytest.fixture
def book(server: DavTestServer) -> Iterator[Book]:
    name = f"Kunden {uuid.uuid4().hex[:8]}"
    found = Book(server, server.make_addressbook(displayname=name), name)
    yield found
    with contextlib.suppress(AssertionError):
        server.delete(found.url)


def open_source(server: DavTestServer, **options: Any) -> CardDavSource:
    settings: dict[str, Any] = {
        "url": server.url,
        "username": server.username,
        "password": server.password,
        "ca_file": str(server.ca_file) if server.ca_file else None,
        "account": f"{server.name}-contacts",
    }
    return CardDavSource(**(settings | options))


def vcard(uid: str, name: str, email: str = "", *, extra: str = "") -> bytes:
    family, _, given = name.partition(" ")
    lines = ["BEGIN:VCARD", "VERSION:3.0", f"UID:{uid}", f"FN:{name}", f"N:{family};{given};;;"]
    lines += [f"EMAIL;TYPE=WORK:{email}"] if email else []
    lines += [extra] if extra else []
    return ("\r\n".join([*lines, "END:VCARD"]) + "\r\n").encode()


def pull(
    source: CardDavSource,
    book: Book,
    cursor: dict[str, Any] | None = None,
    limits: BatchLimits | None = None,
) -> list[Batch]:
    return list(source.pull(book.collection, cursor, limits or BatchLimits()))


def by_id(batches: list[Batch]) -> dict[str, ContactRecord]:
    found: dict[str, ContactRecord] = {}
    for batch in batches:
        for record in batch.records:
            assert isinstance(record, ContactRecord)
            assert record.remote_id not in found, f"{record.remote_id} came twice"
            found[record.remote_id] = record
    return found


def deleted(batches: list[Batch]) -> list[str]:
    return [href for batch in batches for href in batch.deleted]


def fill(book: Book, count: int) -> dict[str, str]:
    """``count`` cards c0.vcf, c1.vcf, ...; their hrefs by name."""
    return {
        f"c{i}": book.put(
            f"c{i}.vcf", vcard(f"uid-{i}", f"Kunde{i} Anna", f"anna{i}@kunde.example")
        )
        for i in range(count)
    }


# --- discovery ----------------------------------------------------------------------------


def test_discovers_the_book_from_the_bare_url(server: DavTestServer, book: Book) -> None:
    with open_source(server) as source:
        assert urlsplit(source.url).path == "/"
        assert book.name in source.probe()
        before = source.client.requests
        assert book.collection in source.collections()
        # /.well-known/carddav, / where it redirects, the principal, the home's listing
        assert source.client.requests - before == 4


@pytest.mark.parametrize("how", ["name", "segment", "url", "path"])
def test_configured_book_by_name_or_url(server: DavTestServer, book: Book, how: str) -> None:
    spec = {"name": book.name, "segment": book.segment, "url": book.url}.get(how)
    with open_source(server, books=[spec or urlsplit(book.url).path]) as source:
        assert source.collections() == [book.collection]


def test_an_unknown_book_is_an_error_naming_the_books(server: DavTestServer, book: Book) -> None:
    with open_source(server, books=["Nirgendwo"]) as source, pytest.raises(SourceError) as err:
        source.collections()
    assert "Nirgendwo" in err.value.message and book.name in err.value.message


def test_wrong_password_is_an_auth_error(server: DavTestServer) -> None:
    with open_source(server, password="not-the-password") as source:
        with pytest.raises(AuthError) as err:
            source.probe()
        assert err.value.account == f"{server.name}-contacts"
        assert "not-the-password" not in str(err.value)


# --- pulling ------------------------------------------------------------------------------


def test_first_pull_gets_every_card_in_bounded_batches(server: DavTestServer, book: Book) -> None:
    hrefs = fill(book, 5)
    with open_source(server) as source:
        batches = pull(source, book, None, BatchLimits(max_items=2))
    assert [len(b.records) for b in batches] == [2, 2, 1]
    records = by_id(batches)
    assert set(records) == set(hrefs.values())
    anna = records[hrefs["c3"]]
    assert (anna.uid, anna.name, anna.given_name, anna.family_name) == (
        "uid-3",
        "Kunde3 Anna",
        "Anna",
        "Kunde3",
    )
    assert anna.emails == (("work", "anna3@kunde.example"),)
    # a cut-short first pull resumes after the last stored card; the last ends at the token
    assert [b.cursor.get("after") for b in batches] == [hrefs["c1"], hrefs["c3"], None]
    assert set(batches[-1].cursor) == {"sync_token"}


def test_batches_are_bounded_by_bytes_too(server: DavTestServer, book: Book) -> None:
    fill(book, 4)
    with open_source(server) as source:
        batches = pull(source, book, None, BatchLimits(max_bytes=200))
    assert [len(b.records) for b in batches] == [1, 1, 1, 1]


def test_an_empty_book_gives_one_empty_batch_with_its_cursor(
    server: DavTestServer, book: Book
) -> None:
    with open_source(server) as source:
        [batch] = pull(source, book)
        assert batch.records == () and batch.cursor
        assert pull(source, book, batch.cursor) == []


def test_incremental_pull_after_an_add_an_edit_and_a_delete(
    server: DavTestServer, book: Book
) -> None:
    hrefs = fill(book, 3)
    with open_source(server) as source:
        cursor = pull(source, book)[-1].cursor
        new = book.put("neu.vcf", vcard("uid-new", "Neu Nina", "nina@kunde.example"))
        book.put("c1.vcf", vcard("uid-1", "Kunde1 Anna", "anna.neu@kunde.example"))
        book.delete("c2.vcf")
        batches = pull(source, book, cursor)
        records = by_id(batches)
        assert set(records) == {new, hrefs["c1"]}
        assert records[hrefs["c1"]].emails == (("work", "anna.neu@kunde.example"),)
        assert deleted(batches) == [hrefs["c2"]]
        assert pull(source, book, batches[-1].cursor) == []


def test_an_unchanged_book_costs_one_request(server: DavTestServer, book: Book) -> None:
    fill(book, 3)
    with open_source(server) as source:
        cursor = pull(source, book)[-1].cursor
        before = source.client.requests
        assert pull(source, book, cursor) == []
        assert source.client.requests - before == 1


def test_a_sync_token_the_server_refuses_starts_over(server: DavTestServer, book: Book) -> None:
    fill(book, 2)
    with open_source(server) as source:
        cursor = pull(source, book)[-1].cursor
        book.recreate()
        fresh = book.put("danach.vcf", vcard("uid-after", "Danach Dora"))
        with pytest.raises(InvalidCursorError) as err:
            pull(source, book, cursor)
        assert err.value.collection == book.url
        assert set(by_id(pull(source, book, None))) == {fresh}


def test_a_cut_short_first_pull_resumes_and_misses_nothing(
    server: DavTestServer, book: Book
) -> None:
    hrefs = fill(book, 4)
    with open_source(server) as source:
        first = next(source.pull(book.collection, None, BatchLimits(max_items=2)))
        assert set(by_id([first])) == {hrefs["c0"], hrefs["c1"]}
        # the process dies; meanwhile a stored card changes, one is added, one deleted
        book.put("c0.vcf", vcard("uid-0", "Kunde0 Anna", "anna0.neu@kunde.example"))
        added = book.put("c9.vcf", vcard("uid-9", "Kunde9 Anna"))
        book.delete("c3.vcf")
        resumed = pull(source, book, first.cursor)
        assert set(by_id(resumed)) == {hrefs["c2"], added}
        after = pull(source, book, resumed[-1].cursor)
    assert by_id(after)[hrefs["c0"]].emails == (("work", "anna0.neu@kunde.example"),)
    assert hrefs["c3"] in deleted(after)  # deleted since T0, though never stored


def test_etag_fallback_without_sync_tokens(server: DavTestServer, book: Book) -> None:
    hrefs = fill(book, 3)
    with open_source(server, sync_collection=False) as source:
        batches = pull(source, book, None, BatchLimits(max_items=2))
        cursor = batches[-1].cursor
        assert set(cursor["etags"]) == set(hrefs.values()) and cursor["ctag"]
        assert set(by_id(batches)) == set(hrefs.values())

        before = source.client.requests
        assert pull(source, book, cursor) == []
        assert source.client.requests - before == 1  # the ctag did not change

        new = book.put("neu.vcf", vcard("uid-new", "Neu Nina"))
        book.put("c0.vcf", vcard("uid-0", "Kunde0 Anna", "anna0.neu@kunde.example"))
        book.delete("c1.vcf")
        batches = pull(source, book, cursor)
        assert set(by_id(batches)) == {new, hrefs["c0"]}
        assert deleted(batches) == [hrefs["c1"]]
        assert set(batches[-1].cursor["etags"]) == {new, hrefs["c0"], hrefs["c2"]}
        cursor = batches[-1].cursor
    with open_source(server) as source:  # the server does have tokens: taken at the next change
        assert pull(source, book, cursor) == []
        later = book.put("später.vcf", vcard("uid-later", "Später Sven"))
        batches = pull(source, book, cursor)
        assert set(by_id(batches)) == {later}
        assert set(batches[-1].cursor) == {"sync_token"}


def test_a_malformed_card_is_quarantined_and_the_rest_comes_through(
    server: DavTestServer, book: Book
) -> None:
    good = fill(book, 2)
    # both servers store it; it names nobody (an empty FN, an empty N)
    bad = book.put(
        "leer.vcf", b"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:leer\r\nFN: \r\nN:;;;;\r\nEND:VCARD\r\n"
    )
    with open_source(server) as source:
        batches = pull(source, book)
    assert set(by_id(batches)) == set(good.values())
    [failure] = [f for b in batches for f in b.failures]
    assert failure.remote_id == bad
    assert "empty vCard" in failure.reason
    assert b"UID:leer" in failure.raw


def test_an_unreadable_cursor_starts_over() -> None:
    source = CardDavSource(url="http://127.0.0.1:9/", username="u", password="p")
    collection = Collection(id="http://127.0.0.1:9/u/book/", name="book", kind="contacts")
    for cursor in ({"after": "/u/book/a.vcf"}, {"etags": ["not", "a", "map"]}):
        with pytest.raises(InvalidCursorError):
            next(source.pull(collection, cursor, BatchLimits()))


def test_a_server_that_is_down_is_transient() -> None:
    with (
        CardDavSource(url=f"http://127.0.0.1:{free_port()}/", username="u", password="p") as source,
        pytest.raises(TransientError),
    ):
        source.probe()


def test_an_untrusted_certificate_is_no_transient_error(xandikos: XandikosServer) -> None:
    with open_source(xandikos, ca_file=None) as source, pytest.raises(SourceError) as err:
        source.probe()
    assert type(err.value) is SourceError and "TLS" in err.value.message


@contextlib.contextmanager
def answering(status: int, headers: dict[str, str]) -> Iterator[str]:
    """A loopback HTTP server that answers every request with ``status`` and ``headers``
    and nothing else: a busy server, or one that sends the client elsewhere."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def __getattr__(self, name: str) -> Any:
            if name.startswith("do_"):  # PROPFIND, REPORT, ...
                return self._answer
            raise AttributeError(name)

        def _answer(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(status)
            for key, value in {**headers, "Content-Length": "0"}.items():
                self.send_header(key, value)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.mark.parametrize("status", [429, 503])
def test_a_busy_server_is_transient_with_its_retry_after(status: int) -> None:
    with (
        answering(status, {"Retry-After": "7"}) as url,
        CardDavSource(url=url, username="u", password="p") as source,
        pytest.raises(TransientError) as err,
    ):
        source.probe()
    assert err.value.retry_after == 7


def test_a_redirect_to_another_host_is_not_followed_with_the_password() -> None:
    elsewhere = {"Location": "https://dav.example.net/dav/"}
    with answering(302, elsewhere) as url, CardDavSource(url=url, username="u", password="p") as s:
        with pytest.raises(SourceError, match="another server") as err:
            s.probe()
        assert s.client.requests == 1 and type(err.value) is SourceError


def test_plain_http_only_on_loopback() -> None:
    source = CardDavSource(url="http://dav.example.com/", username="u", password="p")
    with pytest.raises(SourceError, match="plain text"):
        source.probe()


# --- crmsync's own CardDAV export -----------------------------------------------------------


def test_reads_crmsync_own_export(dav_site: DavSite) -> None:  # noqa: F811
    with CardDavSource(
        url=dav_site.url,
        username="alice",
        password=dav_site.app_passwords["alice"],
        account="export",
    ) as source:
        [collection] = source.collections()
        assert urlsplit(collection.id).path == dav_site.book_path("alice")
        batches = list(source.pull(collection, None, BatchLimits(max_items=7)))
        records = by_id(batches)
        assert not [f for b in batches for f in b.failures]
        assert set(records) == {dav_site.card_path(spec.key) for spec in ALL}
        by_name = {r.name: r for r in records.values()}
        assert set(by_name) == {spec.name for spec in ALL}
        for spec in ALL:
            record = by_name[spec.name]
            assert record.kind == ("organization" if spec in ORGANIZATIONS else "person")
            assert {value for _, value in record.emails} == set(spec.emails)
        before = source.client.requests
        assert list(source.pull(collection, batches[-1].cursor, BatchLimits())) == []
        assert source.client.requests - before == 1


def test_a_viewer_of_the_export_has_no_address_book(dav_site: DavSite) -> None:  # noqa: F811
    with CardDavSource(
        url=dav_site.url, username="vera", password=dav_site.app_passwords["vera"]
    ) as source:
        assert source.collections() == []
