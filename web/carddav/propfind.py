"""PROPFIND (RFC 4918 section 9.1): depth 0 and 1; ``Depth: infinity`` is refused with
DAV:propfind-finite-depth, as section 9.1 allows."""

from __future__ import annotations

from xml.etree.ElementTree import Element

from werkzeug.wrappers import Request, Response

from crm.addressbooks import get_cards, list_cards
from web.carddav import resources as r
from web.carddav.props import ALLPROP, Render, card_props, collection_props
from web.carddav.resources import card_name
from web.carddav.xmlutil import (
    DAV,
    BadRequest,
    Multistatus,
    Name,
    empty,
    parse,
    prefers_minimal,
    split,
    tag,
)

MULTISTATUS = "application/xml; charset=utf-8"


def depth(request: Request, allowed: tuple[str, ...] = ("0", "1")) -> str:
    """The Depth header; DavError 403 for infinity (the RFC's default when it is missing)."""
    value = request.headers.get("Depth", "infinity").strip().lower()
    if value not in ("0", "1", "infinity"):
        raise BadRequest(f"Depth must be 0, 1 or infinity, not {value!r}")
    if value not in allowed:
        raise r.DavError(
            403,
            "PROPFIND with Depth: infinity is not supported; send Depth: 0 or 1",
            "<D:propfind-finite-depth/>",
        )
    return value


def requested_props(root: Element | None) -> tuple[str, list[Name]]:
    """("allprop", included names) | ("propname", []) | ("prop", names) of a body."""
    if root is None:
        return "allprop", []
    if split(root.tag) != (DAV, "propfind"):
        raise BadRequest("a PROPFIND body must be a DAV:propfind element")
    kinds = [split(child.tag) for child in root]
    modes = [k[1] for k in kinds if k[0] == DAV and k[1] in ("allprop", "propname", "prop")]
    if len(modes) != 1:
        raise BadRequest("DAV:propfind needs exactly one of DAV:allprop, DAV:propname, DAV:prop")
    mode = modes[0]
    if mode == "prop":
        prop = root.find(f"{{{DAV}}}prop")
        assert prop is not None
        return "prop", [split(p.tag) for p in prop]
    include = root.find(f"{{{DAV}}}include")
    return mode, [split(p.tag) for p in include] if include is not None else []


def handle(ctx: r.Ctx, request: Request, res: r.Resource) -> Response:
    level = depth(request)
    mode, names = requested_props(parse(request.get_data()))
    out = Multistatus(minimal=prefers_minimal(request.headers))
    _describe(ctx, out, res, mode, names)
    if level == "1":
        for child in _children(ctx, res):
            _describe(ctx, out, child, mode, names)
        if isinstance(res, r.BookResource):
            _cards(ctx, out, res, mode, names)
    return Response(out.render(), status=207, content_type=MULTISTATUS)


def _children(ctx: r.Ctx, res: r.Resource) -> list[r.Resource]:
    if isinstance(res, r.Root):
        return [r.Principal(ctx.principal_url), r.Home(ctx.home_url)]
    if isinstance(res, r.Collection):
        return [
            r.Principal(ctx.principal_url) if res.kind == "principals" else r.Home(ctx.home_url)
        ]
    if isinstance(res, r.Home):
        return [r.BookResource(ctx.book_url(b), b) for b in r.books(ctx)]
    return []


def _describe(ctx: r.Ctx, out: Multistatus, res: r.Resource, mode: str, names: list[Name]) -> None:
    if isinstance(res, r.CardResource):
        _one_card(ctx, out, res, mode, names)
        return
    describe_props(out, res.path, collection_props(ctx, res), mode, names)


def describe_props(
    out: Multistatus, path: str, props: dict[Name, Render], mode: str, names: list[Name]
) -> None:
    """One response of a PROPFIND: the names (propname), or the values of the asked-for
    properties (prop) or of all but the expensive ones (allprop), unknown ones as 404."""
    if mode == "propname":
        out.propstats(path, [empty(n, out.namespaces) for n in props], [])
        return
    wanted = names if mode == "prop" else [n for n in props if n in ALLPROP or n in names]
    if mode == "allprop":
        wanted += [n for n in names if n not in props]
    found, missing = [], []
    for name in dict.fromkeys(wanted):
        render = props.get(name)
        t = tag(name, out.namespaces)
        if render is None:
            missing.append(f"<{t}/>")
        else:
            found.append(f"<{t}>{render()}</{t}>")
    out.propstats(path, found, missing)


def _one_card(
    ctx: r.Ctx, out: Multistatus, res: r.CardResource, mode: str, names: list[Name]
) -> None:
    card = get_cards(ctx.session, res.book, [res.uid]).get(res.uid)
    if card is None:
        raise r.DavError(404, "there is no such card in this address book")
    found, missing = card_props(mode, names, card, out.namespaces, len(card.vcard3.encode()))
    out.propstats(res.path, found, missing)


def _cards(ctx: r.Ctx, out: Multistatus, res: r.BookResource, mode: str, names: list[Name]) -> None:
    namespaces = out.namespaces
    dates = mode != "prop" or (DAV, "getlastmodified") in names
    prefix = ctx.book_url(res.book)
    names = list(dict.fromkeys(names))
    for ref in list_cards(ctx.session, res.book, dates=dates):
        found, missing = card_props(mode, names, ref, namespaces)
        out.propstats(prefix + card_name(ref.uid), found, missing)
