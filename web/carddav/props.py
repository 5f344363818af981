"""The properties of each kind of resource, rendered as XML text.

``collection_props`` answers for the root, principal, home and address books; cards
have their own fast path (``card_props``), because a depth-1 PROPFIND of a book asks
for the same few properties of every card.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import datetime
from email.utils import format_datetime

from crm.addressbooks import CardRef, sync_state
from web.carddav import resources as r
from web.carddav.xmlutil import CALDAV, CARDDAV, CS, DAV, MAX_BODY, Name, empty, escape, href

Render = Callable[[], str]
SYNC_TOKEN_PREFIX = "https://crmsync.org/ns/sync/"  # noqa: S105 - a URI, not a secret
VCARD_TYPE = "text/vcard; charset=utf-8"
READ_PRIVILEGES = (
    "<D:privilege><D:read/></D:privilege>"
    "<D:privilege><D:read-current-user-privilege-set/></D:privilege>"
)
REPORTS_OF_BOOK = (
    "<D:supported-report><D:report><C:addressbook-multiget/></D:report></D:supported-report>"
    "<D:supported-report><D:report><C:addressbook-query/></D:report></D:supported-report>"
    "<D:supported-report><D:report><D:sync-collection/></D:report></D:supported-report>"
)
ADDRESS_DATA_TYPES = (
    '<C:address-data-type content-type="text/vcard" version="3.0"/>'
    '<C:address-data-type content-type="text/vcard" version="4.0"/>'
)
#: what DAV:allprop answers (RFC 4918 section 9.1: its own live properties; those of
#: other specifications only when named in DAV:include)
ALLPROP = frozenset(
    {
        (DAV, "resourcetype"),
        (DAV, "displayname"),
        (DAV, "getetag"),
        (DAV, "getcontenttype"),
        (DAV, "getlastmodified"),
    }
)


def sync_token(book_slug: str, value: int) -> str:
    return f"{SYNC_TOKEN_PREFIX}{book_slug}/{value}"


def parse_sync_token(book_slug: str, token: str) -> int | None:
    """The counter value in a token this book handed out, else None."""
    prefix = f"{SYNC_TOKEN_PREFIX}{book_slug}/"
    if not token.startswith(prefix) or not token[len(prefix) :].isdigit():
        return None
    return int(token[len(prefix) :])


def http_date(when: datetime) -> str:
    return format_datetime(when, usegmt=True)


def collection_props(ctx: r.Ctx, res: r.Resource) -> dict[Name, Render]:
    """Property renderers of a collection (or the principal), by name."""
    props: dict[Name, Render] = {
        (DAV, "current-user-principal"): lambda: href(ctx.principal_url),
        (DAV, "principal-collection-set"): lambda: href(ctx.url("principals")),
        (DAV, "current-user-privilege-set"): lambda: READ_PRIVILEGES,
        (DAV, "supported-report-set"): lambda: "",
        (DAV, "owner"): lambda: href(ctx.principal_url),
    }
    if isinstance(res, r.Root):
        props[(DAV, "resourcetype")] = lambda: "<D:collection/>"
        props[(DAV, "displayname")] = lambda: "crmsync"
    elif isinstance(res, r.Collection):
        props[(DAV, "resourcetype")] = lambda: "<D:collection/>"
        props[(DAV, "displayname")] = lambda: res.kind
    elif isinstance(res, r.Principal):
        props.update(
            {
                (DAV, "resourcetype"): lambda: "<D:collection/><D:principal/>",
                (DAV, "displayname"): lambda: escape(ctx.user.name),
                (DAV, "principal-URL"): lambda: href(ctx.principal_url),
                (DAV, "group-membership"): lambda: "",
                (CARDDAV, "addressbook-home-set"): lambda: href(ctx.home_url),
                # the follow-ups as a read-only task list (web/carddav/calendars.py)
                (CALDAV, "calendar-home-set"): lambda: href(ctx.url("calendars", ctx.user.name)),
            }
        )
    elif isinstance(res, r.Home):
        props.update(
            {
                (DAV, "resourcetype"): lambda: "<D:collection/>",
                (DAV, "displayname"): lambda: escape(f"Address books of {ctx.user.name}"),
                (CARDDAV, "addressbook-home-set"): lambda: href(ctx.home_url),
            }
        )
    elif isinstance(res, r.BookResource):
        book = res.book

        @functools.cache
        def token() -> str:  # sync-token and getctag are the same value: read it once
            return escape(sync_token(book.slug, sync_state(ctx.session).token))

        props.update(
            {
                (DAV, "resourcetype"): lambda: "<D:collection/><C:addressbook/>",
                (DAV, "displayname"): lambda: escape(book.name),
                (CARDDAV, "addressbook-description"): lambda: escape(book.description),
                (CARDDAV, "supported-address-data"): lambda: ADDRESS_DATA_TYPES,
                (CARDDAV, "max-resource-size"): lambda: str(MAX_BODY),
                (DAV, "supported-report-set"): lambda: REPORTS_OF_BOOK,
                (DAV, "sync-token"): token,
                (CS, "getctag"): token,
            }
        )
    return props


_CARD_NAMES: tuple[Name, ...] = (
    (DAV, "getetag"),
    (DAV, "getcontenttype"),
    (DAV, "resourcetype"),
    (DAV, "getlastmodified"),
    (DAV, "current-user-privilege-set"),
)
_ETAG = (DAV, "getetag")
_TYPE = (DAV, "getcontenttype")
_LENGTH = (DAV, "getcontentlength")


def card_props(
    mode: str,
    names: Sequence[Name],
    card: CardRef,
    namespaces: dict[str, str],
    length: int | None = None,
) -> tuple[list[str], list[str]]:
    """(found, missing) rendered properties of a card. ``mode`` is "prop" (``names``
    asked for), "allprop" (``names`` included beside) or "propname"; ``length`` is the
    size of the card when it was loaded (else DAV:getcontentlength is not offered)."""
    offered = _CARD_NAMES if length is None else (*_CARD_NAMES, _LENGTH)
    if mode == "propname":
        return [empty(n, namespaces) for n in offered], []
    if mode == "allprop":
        names = [*(n for n in offered if n in ALLPROP or n == _LENGTH), *names]
    found: list[str] = []
    missing: list[str] = []
    for name in names:
        if name == _ETAG:  # the hot path: a depth-1 listing asks for this of every card
            found.append(f'<D:getetag>"{card.etag}"</D:getetag>')
        elif name == _TYPE:
            found.append(f"<D:getcontenttype>{VCARD_TYPE}</D:getcontenttype>")
        elif name == (DAV, "resourcetype"):
            found.append("<D:resourcetype/>")
        elif name == (DAV, "getlastmodified") and card.changed_at is not None:
            found.append(f"<D:getlastmodified>{http_date(card.changed_at)}</D:getlastmodified>")
        elif name == (DAV, "current-user-privilege-set"):
            found.append(
                f"<D:current-user-privilege-set>{READ_PRIVILEGES}</D:current-user-privilege-set>"
            )
        elif name == _LENGTH and length is not None:
            found.append(f"<D:getcontentlength>{length}</D:getcontentlength>")
        else:
            missing.append(empty(name, namespaces))
    return found, missing
