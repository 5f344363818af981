"""The URL space of the CardDAV export and what each path is, for one request.

::

    /dav/                                     root (current-user-principal)
    /dav/principals/<user>/                   the user's principal (addressbook-home-set)
    /dav/addressbooks/<user>/                 the user's address-book home
    /dav/addressbooks/<user>/<book>/          an address book ("customers": All customers)
    /dav/addressbooks/<user>/<book>/<uid>.vcf a customer's card
    /dav/calendars/...                        the follow-ups as a task list (calendars.py)

A user reaches only their own principal and home, and only the books their role
allows: anything else is 403, whatever exists behind it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

from sqlalchemy.orm import Session

from crm.addressbooks import Book, books_for, get_book
from crm.users import LoggedIn


class DavError(Exception):
    """An answer other than success: ``status`` with an optional DAV:error condition."""

    def __init__(self, status: int, message: str, condition: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.condition = condition


@dataclass
class Ctx:
    """One request: the database session, who asks, and where the DAV tree is mounted."""

    session: Session
    user: LoggedIn
    base: str  # "/dav" below the application's script root, no trailing slash

    def url(self, *parts: str, collection: bool = True) -> str:
        path = "/".join(quote(p, safe="@.-_~") for p in parts)
        tail = "/" if collection else ""
        return f"{self.base}/{path}{tail}" if path else f"{self.base}/"

    @property
    def principal_url(self) -> str:
        return self.url("principals", self.user.name)

    @property
    def home_url(self) -> str:
        return self.url("addressbooks", self.user.name)

    def book_url(self, book: Book) -> str:
        return self.url("addressbooks", self.user.name, book.slug)

    def card_url(self, book: Book, uid: str) -> str:
        return self.book_url(book) + card_name(uid)


_PLAIN = re.compile(r"[A-Za-z0-9._~@-]+")


def card_name(uid: str) -> str:
    """The file name of a card in its book's URL."""
    return (uid if _PLAIN.fullmatch(uid) else quote(uid, safe="")) + ".vcf"


@dataclass(frozen=True)
class Root:
    path: str


@dataclass(frozen=True)
class Collection:
    """``/dav/principals/`` or ``/dav/addressbooks/``: lists the user's own entry only."""

    path: str
    kind: str  # principals | addressbooks


@dataclass(frozen=True)
class Principal:
    path: str


@dataclass(frozen=True)
class Home:
    path: str


@dataclass(frozen=True)
class BookResource:
    path: str
    book: Book


@dataclass(frozen=True)
class CardResource:
    path: str
    book: Book
    uid: str


Resource = Root | Collection | Principal | Home | BookResource | CardResource


def segments(ctx: Ctx, path: str) -> list[str]:
    """The path's segments below the DAV root; DavError 404 for a path outside it."""
    path = unquote(urlsplit(path).path)
    if path != ctx.base and not path.startswith(ctx.base + "/"):
        raise DavError(404, f"{path} is not inside the address books")
    return [s for s in path[len(ctx.base) :].split("/") if s]


def resolve(ctx: Ctx, path: str) -> Resource:
    """What ``path`` is; DavError 404 when nothing is there, 403 when it is not this
    user's to read."""
    parts = segments(ctx, path)
    if not parts:
        return Root(ctx.url())
    top, rest = parts[0], parts[1:]
    if top not in ("principals", "addressbooks"):
        raise DavError(404, f"nothing at {path}")
    if not rest:
        return Collection(ctx.url(top), top)
    if rest[0] != ctx.user.name:
        raise DavError(403, "this belongs to another user")
    if top == "principals":
        if len(rest) > 1:
            raise DavError(404, f"nothing at {path}")
        return Principal(ctx.principal_url)
    if len(rest) == 1:
        return Home(ctx.home_url)
    book = get_book(ctx.session, rest[1])
    if book is None:
        raise DavError(404, f"there is no address book {rest[1]!r}")
    if not book.allows(ctx.user.role):
        raise DavError(403, f"your role may not read the address book {book.name!r}")
    if len(rest) == 2:
        return BookResource(ctx.book_url(book), book)
    if len(rest) == 3 and rest[2].endswith(".vcf"):
        return CardResource(ctx.card_url(book, rest[2][:-4]), book, rest[2][:-4])
    raise DavError(404, f"nothing at {path}")


def card_uid(ctx: Ctx, book: Book, href: str) -> str | None:
    """The UID a multiget href names in ``book``, or None when it is not one of its cards."""
    try:
        parts = segments(ctx, href)
    except DavError:
        return None
    if (
        len(parts) == 4
        and parts[0] == "addressbooks"
        and parts[1] == ctx.user.name
        and parts[2] == book.slug
        and parts[3].endswith(".vcf")
    ):
        return parts[3][:-4]
    return None


def books(ctx: Ctx) -> list[Book]:
    return books_for(ctx.session, ctx.user.role)
