"""REPORT: addressbook-multiget and addressbook-query (RFC 6352 section 8), and
sync-collection (RFC 6578)."""

from __future__ import annotations

from xml.etree.ElementTree import Element

from werkzeug.wrappers import Request, Response

from crm.addressbooks import CardData, all_cards, changes_since, get_cards, list_cards, sync_state
from web.carddav import resources as r
from web.carddav.props import ALLPROP, card_props, parse_sync_token, sync_token
from web.carddav.query import UnsupportedCollation, compile_filter, lines, partial
from web.carddav.xmlutil import (
    CARDDAV,
    DAV,
    BadRequest,
    Multistatus,
    Name,
    escape,
    parse,
    prefers_minimal,
    split,
)

MULTISTATUS = "application/xml; charset=utf-8"
ADDRESS_DATA = (CARDDAV, "address-data")


class _AddressData:
    """What a CARDDAV:address-data element in DAV:prop asks for."""

    def __init__(self, element: Element) -> None:
        content_type = element.get("content-type", "text/vcard")
        version = element.get("version", "3.0")
        if content_type != "text/vcard" or version not in ("3.0", "4.0"):
            raise r.DavError(
                403,
                f"address data is served as text/vcard 3.0 or 4.0, not {content_type} {version}",
                "<C:supported-address-data-conversion/>",
            )
        self.v4 = version == "4.0"
        names = [
            (p.get("name") or "").upper() for p in element if split(p.tag) == (CARDDAV, "prop")
        ]
        self.only = frozenset(n for n in names if n) if names else None

    def render(self, card: CardData) -> str:
        text = card.vcard4 if self.v4 else card.vcard3
        if self.only is not None:
            text = partial(text, self.only)
        # CR kept as a character reference: XML parsers turn a literal CRLF into LF
        return escape(text).replace("\r", "&#13;")


def _prop_request(root: Element) -> tuple[list[Name], _AddressData | None]:
    prop = root.find(f"{{{DAV}}}prop")
    if prop is None:
        # DAV:allprop or DAV:propname (or nothing) in a report: the card's own properties
        return sorted(ALLPROP), None
    names: list[Name] = []
    address_data = None
    for child in prop:
        name = split(child.tag)
        if name == ADDRESS_DATA:
            address_data = _AddressData(child)
        else:
            names.append(name)
    return names, address_data


def _card_response(
    out: Multistatus, path: str, card: CardData, names: list[Name], data: _AddressData | None
) -> None:
    found, missing = card_props("prop", names, card, out.namespaces)
    if data is not None:
        found.append(f"<C:address-data>{data.render(card)}</C:address-data>")
    out.propstats(path, found, missing)


def handle(ctx: r.Ctx, request: Request, res: r.Resource) -> Response:
    root = parse(request.get_data())
    if root is None:
        raise BadRequest("a REPORT needs a body naming the report")
    report = split(root.tag)
    if not isinstance(res, r.BookResource | r.CardResource):
        raise r.DavError(403, "reports are answered on address books only", "<D:supported-report/>")
    out = Multistatus(minimal=prefers_minimal(request.headers))
    if report == (CARDDAV, "addressbook-multiget"):
        return _multiget(ctx, root, res, out)
    if report == (CARDDAV, "addressbook-query"):
        return _query(ctx, root, res, out)
    if report == (DAV, "sync-collection"):
        if not isinstance(res, r.BookResource):
            raise r.DavError(
                403, "sync-collection is answered on address books", "<D:supported-report/>"
            )
        return _sync(ctx, root, res, out)
    raise r.DavError(403, f"the report {report[1]} is not supported here", "<D:supported-report/>")


def _multiget(
    ctx: r.Ctx, root: Element, res: r.BookResource | r.CardResource, out: Multistatus
) -> Response:
    names, data = _prop_request(root)
    hrefs = [(h.text or "").strip() for h in root.findall(f"{{{DAV}}}href")]
    uids = {h: r.card_uid(ctx, res.book, h) for h in hrefs}
    cards = get_cards(ctx.session, res.book, [u for u in uids.values() if u])
    for h in hrefs:
        uid = uids[h]
        card = cards.get(uid) if uid else None
        if card is None:
            out.status(h, 404)
        else:
            _card_response(out, ctx.card_url(res.book, card.uid), card, names, data)
    return Response(out.render(), status=207, content_type=MULTISTATUS)


def _limit(root: Element) -> int | None:
    element = root.find(f"{{{CARDDAV}}}limit/{{{CARDDAV}}}nresults")
    if element is None:
        return None
    try:
        value = int((element.text or "").strip())
    except ValueError as exc:
        raise BadRequest("CARDDAV:nresults must be a number") from exc
    return max(value, 0)


def _query(
    ctx: r.Ctx, root: Element, res: r.BookResource | r.CardResource, out: Multistatus
) -> Response:
    names, data = _prop_request(root)
    try:
        test = compile_filter(root.find(f"{{{CARDDAV}}}filter"))
    except UnsupportedCollation as exc:
        raise r.DavError(
            403, f"the collation {exc} is not supported", "<C:supported-collation/>"
        ) from exc
    limit = _limit(root)
    count = 0
    cards = all_cards(ctx.session, res.book)
    if isinstance(res, r.CardResource):
        cards = [c for c in cards if c.uid == res.uid]
    for card in cards:
        if not test(lines(card.vcard3)):
            continue
        if limit is not None and count >= limit:
            out.raw(
                f"<D:response><D:href>{escape(ctx.book_url(res.book))}</D:href>"
                "<D:status>HTTP/1.1 507 Insufficient Storage</D:status>"
                "<D:error><D:number-of-matches-within-limits/></D:error>"
                "<D:responsedescription>only the first matches are answered</D:responsedescription>"
                "</D:response>"
            )
            break
        count += 1
        _card_response(out, ctx.card_url(res.book, card.uid), card, names, data)
    return Response(out.render(), status=207, content_type=MULTISTATUS)


def _sync(ctx: r.Ctx, root: Element, res: r.BookResource, out: Multistatus) -> Response:
    token_element = root.find(f"{{{DAV}}}sync-token")
    token_text = (token_element.text or "").strip() if token_element is not None else ""
    level = root.find(f"{{{DAV}}}sync-level")
    if level is not None and (level.text or "").strip() not in ("1", "infinite"):
        raise BadRequest("DAV:sync-level must be 1 or infinite")
    names, data = _prop_request(root)
    state = sync_state(ctx.session)
    if not token_text:
        refs = list_cards(ctx.session, res.book)
        gone: list[str] = []
    else:
        since = parse_sync_token(res.book.slug, token_text)
        if since is None or since < state.horizon or since > state.token:
            raise r.DavError(
                403,
                "the sync token is unknown or expired; sync again without one",
                "<D:valid-sync-token/>",
            )
        changed, gone = changes_since(ctx.session, res.book, since)
        refs = changed
    if data is not None:
        loaded = get_cards(ctx.session, res.book, [c.uid for c in refs])
        for ref in refs:
            card = loaded.get(ref.uid)
            if card is not None:
                _card_response(out, ctx.card_url(res.book, ref.uid), card, names, data)
    else:
        namespaces = out.namespaces
        for ref in refs:
            found, missing = card_props("prop", names, ref, namespaces)
            out.propstats(ctx.card_url(res.book, ref.uid), found, missing)
    for uid in gone:
        out.status(ctx.card_url(res.book, uid), 404)
    tail = f"<D:sync-token>{escape(sync_token(res.book.slug, state.token))}</D:sync-token>"
    return Response(out.render(tail), status=207, content_type=MULTISTATUS)
