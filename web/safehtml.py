"""Mail bodies made safe to show: sanitized HTML, escaped text, and the policy around them.

A mail's HTML is cleaned with nh3 (ammonia) against an allow-list written for
mail: tables, fonts, basic formatting, lists, headings, quotes, links and
images. Everything else goes, and the content of ``script``, ``style``,
``svg``, ``math``, ``template`` and friends goes with it. Links may point to
``http``, ``https`` and ``mailto`` only; images to ``http``/``https`` (only when
the user asked for remote images) or to ``cid:`` parts of the same mail, which
are rewritten to our own attachment URL. ``style`` attributes are kept, but only
with properties that cannot carry a URL.

The result is shown as its own document (:func:`wrap_document`) inside
``<iframe sandbox>`` without ``allow-scripts``, and sent with
:func:`body_csp`, which allows no script at all and no image outside our own
site unless remote images were asked for. Each layer alone stops script; the
sanitizer is also what stops requests that no script is needed for (meta
refresh, ``<base>``, forms).
"""

from __future__ import annotations

import html as htmllib
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote

import nh3

TAGS = frozenset(
    {
        "a", "abbr", "address", "b", "bdi", "bdo", "big", "blockquote", "br", "caption",
        "center", "cite", "code", "col", "colgroup", "dd", "del", "dfn", "div", "dl", "dt",
        "em", "font", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd",
        "li", "mark", "ol", "p", "pre", "q", "s", "samp", "small", "span", "strike",
        "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "tt",
        "u", "ul", "var", "wbr",
    }
)  # fmt: skip
# Dropped together with everything inside them: code, styles, foreign content and
# text a reader was never meant to see (a <title> would otherwise show as text).
CLEAN_CONTENT_TAGS = frozenset(
    {
        "script", "style", "template", "title", "noscript", "noembed", "noframes", "xmp",
        "iframe", "object", "embed", "applet", "svg", "math", "textarea", "select",
        "head", "frameset", "plaintext",
    }
)  # fmt: skip
_CELL = {"align", "valign", "width", "height", "bgcolor", "colspan", "rowspan", "nowrap"}
_ROWS = {"align", "valign", "bgcolor"}
ATTRIBUTES: dict[str, set[str]] = {
    "*": {"style", "title", "dir", "lang", "align"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height", "border", "hspace", "vspace"},
    "table": {"width", "border", "cellpadding", "cellspacing", "bgcolor", "summary"},
    "td": _CELL,
    "th": _CELL | {"scope"},
    "tr": _ROWS,
    "thead": _ROWS,
    "tbody": _ROWS,
    "tfoot": _ROWS,
    "col": {"span", "width", "valign"},
    "colgroup": {"span", "width", "valign"},
    "font": {"color", "face", "size"},
    "ol": {"start", "type"},
    "ul": {"type"},
    "li": {"value", "type"},
    "hr": {"width", "size", "noshade", "color"},
    "blockquote": {"type"},
}
# CSS properties none of which takes a URL: no background(-image), list-style(-image),
# border-image, content, cursor, mask, filter, clip-path, behavior or -moz-binding.
STYLE_PROPERTIES = frozenset(
    {
        "color", "background-color", "font", "font-family", "font-size", "font-style",
        "font-weight", "font-variant", "line-height", "letter-spacing", "word-spacing",
        "text-align", "text-decoration", "text-indent", "text-transform", "vertical-align",
        "white-space", "word-break", "word-wrap", "overflow-wrap", "direction",
        "margin", "margin-top", "margin-right", "margin-bottom", "margin-left",
        "padding", "padding-top", "padding-right", "padding-bottom", "padding-left",
        "border", "border-top", "border-right", "border-bottom", "border-left",
        "border-color", "border-style", "border-width", "border-collapse",
        "border-spacing", "border-radius", "width", "height", "max-width", "min-width",
        "max-height", "min-height", "display", "float", "clear", "list-style-type",
        "table-layout", "caption-side", "empty-cells",
    }
)  # fmt: skip
LINK_REL = "noopener noreferrer nofollow"
# nh3 checks schemes before our attribute filter sees a value; the filter then decides.
URL_SCHEMES = frozenset({"http", "https", "mailto", "cid"})

# The URL parser drops tab and newline anywhere and C0 controls and spaces at both ends.
_URL_NOISE = re.compile(r"[\t\n\r]")
_URL_EDGES = re.compile(r"^[\x00-\x20]+|[\x00-\x20]+$")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
# A declaration that smuggles a URL, an escape or an old IE script hook is dropped whole.
_BAD_CSS = re.compile(r"url\s*\(|image-set|image\s*\(|expression|behavior|binding|\\|@|/\*", re.I)
_TEXT_URL = re.compile(r"\bhttps?://[^\s<>\"'`]+", re.I)
_TRAILING = ".,;:!?'\")]}>"


@dataclass(frozen=True)
class SafeBody:
    """A sanitized HTML body.

    ``html`` is the cleaned fragment; ``remote_images`` counts the remote image
    references that were blocked (0 when remote images were allowed), so the page
    can offer "load images (N)".
    """

    html: str
    remote_images: int


def sanitize_mail_html(
    html: str,
    *,
    remote_images: bool = False,
    cid_url: Callable[[str], str | None] | None = None,
) -> SafeBody:
    """Clean a mail's HTML body for display in the sandboxed body document.

    Args:
        html: the text/html part, decoded to ``str``; a whole document or a fragment.
        remote_images: keep ``http``/``https`` image sources. When false they are
            removed (the ``<img>`` stays, with its ``alt`` and size) and counted.
        cid_url: maps a Content-ID (``cid:`` URL decoded, without angle brackets) to
            the URL of that attachment on our own site, such as ``/attachments/12``,
            or ``None`` when unknown. Only path-absolute URLs are accepted. Without it
            every ``cid:`` reference is dropped.

    Returns:
        The cleaned fragment and the number of blocked remote images. Exceptions
        raised by ``cid_url`` propagate to the caller.
    """
    policy = _UrlPolicy(remote_images=remote_images, cid_url=cid_url)
    cleaned = nh3.clean(
        html,
        tags=set(TAGS),
        clean_content_tags=set(CLEAN_CONTENT_TAGS),
        attributes=ATTRIBUTES,
        attribute_filter=policy.filter,
        strip_comments=True,
        link_rel=LINK_REL,
        set_tag_attribute_values={"a": {"target": "_blank"}},
        url_schemes=set(URL_SCHEMES),
        filter_style_properties=set(STYLE_PROPERTIES),
    )
    if policy.error is not None:
        raise policy.error
    return SafeBody(html=cleaned, remote_images=policy.blocked)


class _UrlPolicy:
    """The per-call attribute filter: decides every href, src and style value.

    nh3 reports an exception raised in the filter through ``sys.unraisablehook``
    and strips the attribute; we keep the first one and raise it after cleaning.
    """

    def __init__(self, *, remote_images: bool, cid_url: Callable[[str], str | None] | None):
        self.remote_images = remote_images
        self.cid_url = cid_url
        self.blocked = 0
        self.error: Exception | None = None

    def filter(self, tag: str, attribute: str, value: str) -> str | None:
        """nh3's ``attribute_filter``: the value to keep, or ``None`` to drop it."""
        try:
            if attribute == "style":
                return _clean_style(value)
            if attribute == "href" and tag == "a":
                return self._url(value, allowed=("http", "https", "mailto"))
            if attribute == "src" and tag == "img":
                return self._url(value, allowed=("http", "https"), image=True)
        except Exception as error:  # re-raised by sanitize_mail_html
            self.error = self.error or error
            return None
        return value

    def _url(self, value: str, *, allowed: tuple[str, ...], image: bool = False) -> str | None:
        url = _URL_EDGES.sub("", _URL_NOISE.sub("", value))
        match = _SCHEME.match(url)
        scheme = match.group(1).lower() if match else None
        if scheme is None and url.replace("\\", "/").startswith("//"):
            scheme, url = "https", "https:" + url.replace("\\", "/")  # protocol-relative
        if scheme == "cid":
            return self._cid(url[4:])
        if scheme not in allowed:
            return None  # relative (no base in a mail), or a scheme we do not follow
        if image and not self.remote_images:
            self.blocked += 1
            return None
        return url

    def _cid(self, content_id: str) -> str | None:
        if self.cid_url is None:
            return None
        found = self.cid_url(unquote(content_id).strip("<>"))
        path = _URL_NOISE.sub("", found or "").replace("\\", "/")
        if not path.startswith("/") or path.startswith("//"):
            return None  # only a path on our own site
        return found


def _clean_style(value: str) -> str | None:
    """Drop declarations that could fetch or run anything; nh3 then keeps allowed names."""
    kept = [part for part in value.split(";") if part.strip() and not _BAD_CSS.search(part)]
    return "; ".join(part.strip() for part in kept) or None


def text_to_html(text: str) -> str:
    """Escape a text/plain body and make its bare ``http(s)`` URLs links.

    The result is an HTML fragment meant for an element styled
    ``white-space: pre-wrap`` (``wrap_document`` styles ``<div class="text">``),
    so line breaks and indentation show as written. Links open in a new window
    with ``rel="noopener noreferrer nofollow"``. A URL ends at white space or at
    ``< > " ' `` and loses trailing punctuation, so nothing in the text can leave
    the attribute or the element.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "\ufffd")
    out: list[str] = []
    position = 0
    for match in _TEXT_URL.finditer(text):
        url = _trim_url(match.group(0))
        out.append(htmllib.escape(text[position : match.start()]))
        escaped = htmllib.escape(url, quote=True)
        out.append(f'<a href="{escaped}" rel="{LINK_REL}" target="_blank">{escaped}</a>')
        position = match.start() + len(url)
    out.append(htmllib.escape(text[position:]))
    return "".join(out)


def _trim_url(url: str) -> str:
    """Strip sentence punctuation after a URL; keep a ')' that closes a '(' of the URL."""
    while url and url[-1] in _TRAILING:
        if url[-1] == ")" and url.count("(") >= url.count(")"):
            break
        url = url[:-1]
    return url


def body_csp(remote_images: bool) -> str:
    """The Content-Security-Policy header for the body document.

    No script of any kind (``default-src 'none'`` and no ``script-src``), inline
    styles only, images from our own site (``cid:`` parts rewritten to attachment
    URLs) and, when the user asked for them, from any ``http``/``https`` host. No
    fonts, frames, forms, ``<base>`` or connections. ``sandbox`` repeats the
    iframe's sandbox, so the body stays script-less and in an opaque origin even
    when opened directly rather than in the iframe; ``frame-ancestors 'self'`` lets
    only our own pages frame it.
    """
    images = "img-src 'self' https: http:" if remote_images else "img-src 'self'"
    return (
        f"default-src 'none'; style-src 'unsafe-inline'; {images}; font-src 'none'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'self'; "
        "sandbox allow-popups allow-popups-to-escape-sandbox"
    )


BODY_CSP = body_csp(False)

_DOCUMENT_STYLE = (
    "html{color-scheme:light}"
    "body{margin:8px;font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;"
    "color:#1d1d1f;background:#fff;overflow-wrap:anywhere}"
    "img{max-width:100%;height:auto}"
    "img:not([src]){outline:1px dashed #bbb}"
    "pre,.text{white-space:pre-wrap}"
    "table{max-width:100%}"
    "blockquote{margin:0 0 0 .6em;padding-left:.6em;border-left:2px solid #ccc}"
    "a{color:#0b57d0}"
)


def wrap_document(body_html: str) -> str:
    """A complete HTML document around an already sanitized or escaped body.

    This is what ``GET /interactions/<id>/body`` returns for the sandboxed iframe:
    doctype, UTF-8, ``no-referrer`` (remote images and links learn nothing of our
    URLs), and a small style sheet for readable mail. ``body_html`` is inserted as
    is; it must come from :func:`sanitize_mail_html` or :func:`text_to_html`.
    """
    return (
        "<!DOCTYPE html>\n"
        '<html><head><meta charset="utf-8">'
        '<meta name="referrer" content="no-referrer">'
        f"<style>{_DOCUMENT_STYLE}</style></head>\n"
        f"<body>{body_html}</body></html>\n"
    )
