"""GET and HEAD: a card (vCard 3.0, or 4.0 when the Accept header asks for it) with its
ETag and the conditions If-None-Match and If-Match; an address book as one file of
all its cards (what "download" in a browser gives)."""

from __future__ import annotations

from werkzeug.wrappers import Request, Response

from crm.addressbooks import all_cards, get_cards
from web.carddav import resources as r
from web.carddav.props import http_date


def wants_v4(request: Request) -> bool:
    accept = request.headers.get("Accept", "")
    return any(
        "text/vcard" in part and "version=4.0" in part.replace(" ", "")
        for part in accept.split(",")
    )


def handle(ctx: r.Ctx, request: Request, res: r.Resource) -> Response:
    v4 = wants_v4(request)
    content_type = "text/vcard; charset=utf-8" + ("; version=4.0" if v4 else "")
    if isinstance(res, r.BookResource):
        cards = all_cards(ctx.session, res.book)
        body = "".join(c.vcard4 if v4 else c.vcard3 for c in cards)
        response = Response(body, content_type=content_type)
        response.headers["Content-Disposition"] = f'attachment; filename="{res.book.slug}.vcf"'
        return response
    if not isinstance(res, r.CardResource):
        raise r.DavError(
            405, "this is a collection; PROPFIND lists it, or GET an address book or card"
        )
    card = get_cards(ctx.session, res.book, [res.uid]).get(res.uid)
    if card is None:
        raise r.DavError(404, "there is no such card in this address book")
    etag = card.etag
    if request.if_match and not request.if_match.contains(etag):
        return Response(status=412, headers={"ETag": f'"{etag}"'})
    headers = {"ETag": f'"{etag}"'}
    if card.changed_at is not None:
        headers["Last-Modified"] = http_date(card.changed_at)
    if request.if_none_match and request.if_none_match.contains(etag):
        return Response(status=304, headers=headers)
    return Response(card.vcard4 if v4 else card.vcard3, content_type=content_type, headers=headers)
