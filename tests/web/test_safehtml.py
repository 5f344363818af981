"""web.safehtml without a browser: the hostile bodies, legitimate mail, the corpus."""

from __future__ import annotations

import email
import email.policy
import re
from email.message import EmailMessage
from html.parser import HTMLParser

import pytest

from adapters.mimetext import decode_bytes
from tests.corpus import mail_messages, need
from tests.web.hostile_bodies import HOSTILE_BODIES, REMOTE_HOSTS
from web.safehtml import (
    BODY_CSP,
    STYLE_PROPERTIES,
    SafeBody,
    body_csp,
    sanitize_mail_html,
    text_to_html,
    wrap_document,
)

ALLOWED_TAGS = {
    "a", "abbr", "address", "b", "bdi", "bdo", "big", "blockquote", "br", "caption",
    "center", "cite", "code", "col", "colgroup", "dd", "del", "dfn", "div", "dl", "dt",
    "em", "font", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd",
    "li", "mark", "ol", "p", "pre", "q", "s", "samp", "small", "span", "strike",
    "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "tt",
    "u", "ul", "var", "wbr",
}  # fmt: skip
NEVER_TAGS = ["script", "base", "meta", "link", "style", "svg", "math", "iframe", "object", "embed"]
NEVER_TAGS += ["form", "input", "button", "frame", "frameset", "template", "noscript", "video"]
URL_ATTRIBUTES = {"href", "src"}
BAD_SCHEME = re.compile(r"\b(javascript|vbscript|data|livescript)\s*:", re.I)
CSS_FETCH = re.compile(r"url\s*\(|expression|image-set|@import|\\", re.I)


class _Elements(HTMLParser):
    """Every start tag and its attributes, as a browser's tokenizer sees them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, attrs))


def elements(html: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    parser = _Elements()
    parser.feed(html)
    parser.close()
    return parser.found


def shape(html: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """Tags and attributes, in a fixed order: nh3 reorders attributes when it drops one."""
    return [(tag, sorted(attrs, key=lambda a: a[0])) for tag, attrs in elements(html)]


def assert_safe(html: str, *, remote_images: bool = False) -> None:
    """The invariants every sanitized body keeps, whatever went in."""
    assert not re.search(r"<\s*/?\s*(" + "|".join(NEVER_TAGS) + r")\b", html, re.I), html
    for tag, attrs in elements(html):
        assert tag in ALLOWED_TAGS, (tag, html)
        for name, value in attrs:
            value = value or ""
            assert not name.startswith("on"), (tag, name)
            assert name in {"style", "title", "dir", "lang", "align", "target", "rel", "alt",
                            "width", "height", "border", "hspace", "vspace", "cellpadding",
                            "cellspacing", "bgcolor", "summary", "valign", "colspan", "rowspan",
                            "nowrap", "scope", "span", "color", "face", "size", "start",
                            "type", "value", "noshade"} | URL_ATTRIBUTES, (tag, name)  # fmt: skip
            if name == "style":
                assert_safe_style(value)
            if name in URL_ATTRIBUTES:
                assert_safe_url(tag, name, value, remote_images=remote_images)


def assert_safe_style(style: str) -> None:
    assert not CSS_FETCH.search(style), style
    names = {decl.split(":", 1)[0].strip() for decl in style.split(";") if decl.strip()}
    assert names <= STYLE_PROPERTIES, style


def assert_safe_url(tag: str, name: str, url: str, *, remote_images: bool) -> None:
    assert not BAD_SCHEME.match(url.strip()), (tag, name, url)
    if tag == "img" and not remote_images:
        assert url.startswith("/attachments/"), url  # only rewritten cid: parts
        return
    assert url.startswith(("http://", "https://", "mailto:", "/attachments/")), url
    assert tag in ({"img"} if name == "src" else {"a"}), (tag, name)


# -- the hostile bodies ----------------------------------------------------------------


@pytest.mark.parametrize(("name", "hostile"), HOSTILE_BODIES, ids=[n for n, _ in HOSTILE_BODIES])
def test_hostile_body_is_defused(name: str, hostile: str) -> None:
    body = sanitize_mail_html(hostile)
    assert_safe(body.html)
    for _, attributes in elements(body.html):
        assert not any(BAD_SCHEME.search(value or "") for _, value in attributes), body.html
    for host in REMOTE_HOSTS:
        assert host not in body.html, body.html
    assert_safe(sanitize_mail_html(hostile, remote_images=True).html, remote_images=True)


def test_hostile_bodies_cover_the_issue() -> None:
    names = [name for name, _ in HOSTILE_BODIES]
    assert len(names) >= 40 and len(set(names)) == len(names)
    everything = "\n".join(html for _, html in HOSTILE_BODIES).lower()
    for needle in ("<script", "onerror", "onload", "onmouseover", "autofocus", "javascript:",
                   "vbscript:", "<svg", "<math", "<iframe", "<object", "<embed", "<form",
                   "formaction", "<base", "http-equiv", "<link", "@import", "url(",
                   "expression(", "data:", "srcset", "poster", "<audio", 'type="image"',
                   "background=", "<noscript", "<![cdata[", "<template", "<isindex",
                   "<frameset"):  # fmt: skip
        assert needle in everything, needle


def test_sanitizing_twice_changes_nothing() -> None:
    for _, hostile in HOSTILE_BODIES:
        once = sanitize_mail_html(hostile).html
        twice = sanitize_mail_html(once).html
        assert shape(twice) == shape(once)
        assert re.sub(r"<[^>]*>", "", twice) == re.sub(r"<[^>]*>", "", once)


# -- images ----------------------------------------------------------------------------

IMAGES = (
    '<img src="https://img.example/a.png" alt="logo" width="120">'
    '<img src="http://img.example/b.gif">'
    '<img src="//img.example/c.png">'
    '<img src="cid:part1.abc@mail.example">'
    '<img src="cid:unknown@mail.example">'
    '<img src="data:image/png;base64,iVBORw0KGgo=">'
    '<img src="relative.png">'
)


def _cid(content_id: str) -> str | None:
    return "/attachments/12" if content_id == "part1.abc@mail.example" else None


def test_remote_images_are_blocked_and_counted() -> None:
    body = sanitize_mail_html(IMAGES, cid_url=_cid)
    expected = '<img alt="logo" width="120"><img><img><img src="/attachments/12"><img><img><img>'
    assert shape(body.html) == shape(expected)
    assert body == SafeBody(html=body.html, remote_images=3)


def test_remote_images_load_when_asked() -> None:
    body = sanitize_mail_html(IMAGES, remote_images=True, cid_url=_cid)
    assert body.remote_images == 0
    assert re.findall(r'src="([^"]*)"', body.html) == [
        "https://img.example/a.png",
        "http://img.example/b.gif",
        "https://img.example/c.png",
        "/attachments/12",
    ]


def test_cid_needs_a_mapping_to_our_own_site() -> None:
    assert 'src="' not in sanitize_mail_html('<img src="cid:x@y">').html
    assert sanitize_mail_html('<img src="cid:%3Cx@y%3E">', cid_url=lambda c: f"/a/{c}").html == (
        '<img src="/a/x@y">'
    )
    for outside in (
        "https://other.example/a",
        "//other.example/a",
        "/\\other.example/a",
        "/\t/other.example/a",
        "javascript:alert(1)",
        "",
    ):
        html = sanitize_mail_html('<img src="cid:x@y">', cid_url=lambda c, o=outside: o).html
        assert 'src="' not in html, outside


def test_cid_links_are_rewritten_too() -> None:
    html = sanitize_mail_html(
        '<a href="cid:doc@x">the offer</a>', cid_url=lambda c: "/attachments/3"
    )
    assert 'href="/attachments/3"' in html.html


def test_an_error_in_cid_url_reaches_the_caller() -> None:
    def broken(content_id: str) -> str | None:
        raise LookupError(content_id)

    with pytest.raises(LookupError, match="x@y"):
        sanitize_mail_html('<img src="cid:x@y">', cid_url=broken)


# -- legitimate mail survives ----------------------------------------------------------

NEWSLETTER = """<!DOCTYPE html><html><head><title>Offer</title>
<style>td { padding: 4px }</style></head>
<body bgcolor="#eeeeee">
<table width="600" cellpadding="0" cellspacing="0" border="0" align="center">
<tr><td bgcolor="#ffffff" valign="top" style="color: #333333; font-family: Arial; padding: 8px">
<h1 style="font-size: 20px; text-align: center">Spring offer</h1>
<p>Dear <b>Anna</b>, <i>our</i> <u>new</u> <font color="red" face="Verdana">prices</font>:</p>
<ul><li>one</li><li>two</li></ul><ol start="3"><li>three</li></ol>
<blockquote type="cite">Quoted <br>text</blockquote><hr>
<pre>  indented</pre>
<p><a href="https://shop.example/offer?a=1&amp;b=2" target="_self" id="x">See the offer</a>
or <a href="mailto:sales@shop.example">write to us</a>.</p>
</td></tr></table></body></html>"""


def test_legitimate_formatting_survives() -> None:
    html = sanitize_mail_html(NEWSLETTER).html
    for kept in (
        '<table width="600" cellpadding="0" cellspacing="0" border="0" align="center">',
        '<td bgcolor="#ffffff" valign="top" style="color:#333333;font-family:Arial;padding:8px">',
        '<h1 style="font-size:20px;text-align:center">Spring offer</h1>',
        "<b>Anna</b>, <i>our</i> <u>new</u>",
        '<font color="red" face="Verdana">prices</font>',
        "<ul><li>one</li><li>two</li></ul>",
        '<ol start="3">',
        '<blockquote type="cite">Quoted <br>text</blockquote><hr>',
        "<pre>  indented</pre>",
        '<a href="https://shop.example/offer?a=1&amp;b=2" target="_blank" '
        'rel="noopener noreferrer nofollow">See the offer</a>',
        'href="mailto:sales@shop.example"',
    ):
        assert kept in html
    assert "Offer" not in html  # the <title>
    assert "padding: 4px" not in html  # the <style> element, content and all
    assert_safe(html)


def test_style_keeps_safe_properties_only() -> None:
    html = sanitize_mail_html(
        '<p style="color: red; background: url(https://t.example/x); '
        "background-image: url(https://t.example/y); font-weight: bold; position: fixed; "
        'list-style-image: url(x); content: url(x); behavior: url(x); cursor: url(x), auto">x</p>'
    ).html
    assert html == '<p style="color:red;font-weight:bold">x</p>'
    assert not STYLE_PROPERTIES & {
        "background", "background-image", "list-style", "list-style-image", "content",
        "behavior", "-moz-binding", "cursor", "border-image", "border-image-source", "mask",
        "mask-image", "filter", "clip-path", "shape-outside", "src",
    }  # fmt: skip


def test_style_declaration_with_escape_or_url_is_dropped() -> None:
    html = sanitize_mail_html(r'<p style="color: \72 ed; font-family: url(x); margin: 0">x</p>')
    assert html.html == '<p style="margin:0">x</p>'
    assert sanitize_mail_html('<p style="background: url(x)">x</p>').html == "<p>x</p>"


# -- plain text ------------------------------------------------------------------------


def test_text_is_escaped() -> None:
    assert text_to_html("a < b & \"c\" 'd'\n<script>x</script>") == (
        "a &lt; b &amp; &quot;c&quot; &#x27;d&#x27;\n&lt;script&gt;x&lt;/script&gt;"
    )


def test_text_urls_become_links() -> None:
    assert text_to_html("See https://ex.example/a?b=1&c=2.\r\nBye") == (
        'See <a href="https://ex.example/a?b=1&amp;c=2" rel="noopener noreferrer nofollow" '
        'target="_blank">https://ex.example/a?b=1&amp;c=2</a>.\nBye'
    )
    assert 'href="http://ex.example/wiki/A_(b)"' in text_to_html("(http://ex.example/wiki/A_(b))")
    assert "<a" not in text_to_html("javascript:alert(1) ftp://x.example www.x.example")


def test_text_url_cannot_break_out() -> None:
    html = text_to_html('https://ex.example/"onmouseover="alert(1)<script>x</script>')
    assert html == (
        '<a href="https://ex.example/" rel="noopener noreferrer nofollow" target="_blank">'
        "https://ex.example/</a>&quot;onmouseover=&quot;alert(1)&lt;script&gt;x&lt;/script&gt;"
    )
    assert_safe(sanitize_mail_html(html).html)


# -- the document and its policy -------------------------------------------------------


def test_body_csp_allows_no_script() -> None:
    assert body_csp(False) == BODY_CSP
    for remote in (False, True):
        directives = dict(d.strip().split(" ", 1) for d in body_csp(remote).split(";"))
        assert directives["default-src"] == "'none'"
        assert "script-src" not in directives
        assert "allow-scripts" not in directives["sandbox"]
        assert directives["base-uri"] == directives["form-action"] == "'none'"
    assert "http" not in BODY_CSP
    assert "img-src 'self' https: http:" in body_csp(True)


def test_wrap_document() -> None:
    page = wrap_document("<p>hi</p>")
    assert page.startswith('<!DOCTYPE html>\n<html><head><meta charset="utf-8">')
    assert '<meta name="referrer" content="no-referrer">' in page
    assert "<body><p>hi</p></body></html>" in page
    assert "<script" not in page


# -- the corpus ------------------------------------------------------------------------


def _html_parts(raw: bytes) -> list[str]:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    found = []
    for part in message.walk():
        if part.get_content_type() == "text/html":
            data = part.get_payload(decode=True)
            assert isinstance(data, bytes)
            found.append(decode_bytes(data, part.get_content_charset(), "html", []))
    return found


def test_corpus_html_parts_sanitize() -> None:
    messages = mail_messages()
    need(bool(messages), "no mail in the corpus (set CRMSYNC_CORPUS)")
    parts = [html for _, raw in messages for html in _html_parts(raw)]
    assert parts
    for html in parts:
        for remote in (False, True):
            assert_safe(sanitize_mail_html(html, remote_images=remote).html, remote_images=remote)
