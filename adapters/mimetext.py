"""Text helpers for :mod:`adapters.mime`: charsets, header words and HTML to text.

Nothing here raises on bad input. Every problem becomes a human-readable defect
string appended to the ``defects`` list the caller passes in, and the text is
decoded as well as it can be.
"""

from __future__ import annotations

import binascii
import codecs
import functools
import re
from html.parser import HTMLParser

# Labels that are decoded with a superset codec, as the WHATWG Encoding Standard
# (and every mail client) does, or that Python does not know by this name.
_CHARSET_ALIASES = {
    "us-ascii": "utf-8",
    "ascii": "utf-8",
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "euc-cn": "gb18030",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "shift_jis": "cp932",
    "x-sjis": "cp932",
    "windows-874": "cp874",
    "iso-8859-8-i": "iso-8859-8",
    "iso-8859-6-i": "iso-8859-6",
    "x-mac-cyrillic": "mac-cyrillic",
    "x-mac-roman": "mac-roman",
    "unicode-1-1-utf-7": "utf-7",
}

# RFC 2047 section 2: =?charset?encoding?encoded-text?=. RFC 2231 section 5 lets
# the charset carry a language ("utf-8*en"); we drop it. Unlike the RFC we also
# accept words glued to other text, as real mailers write them.
_ENCODED_WORD = re.compile(r"=\?([^?\s*]+)(?:\*[^?\s]*)?\?([bBqQ])\?([^?]*)\?=")
# RFC 5322 section 2.2.3: unfolding removes a CRLF that is followed by white space.
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_BASE64_JUNK = re.compile(r"[^A-Za-z0-9+/]")
# RFC 1468: ESC $ @ and ESC $ B switch to JIS X 0208, ESC ( B / ESC ( J back to ASCII;
# ESC ( I (half-width katakana) is not in the RFC but in every Japanese mailer.
_ISO2022JP_ESCAPE = re.compile(rb"(\x1b(?:\$[@B]|\([BJI]))")


def collapse(text: str) -> str:
    """``text`` with every run of white space (folds included) turned into one space."""
    return " ".join(text.split())


@functools.lru_cache(maxsize=256)
def codec_for(charset: str) -> str | None:
    """The Python codec for a MIME charset label, or None if there is none."""
    label = charset.strip().strip("\"'").lower()
    name = _CHARSET_ALIASES.get(label, label)
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        return None
    # base64, rot13, zlib... are codecs too, but bytes.decode() refuses them.
    return info.name if getattr(info, "_is_text_encoding", True) else None


def decode_bytes(data: bytes, charset: str | None, label: str, defects: list[str]) -> str:
    """Decode ``data`` declared as ``charset``; never raises.

    Order: the declared charset; if that is unknown, UTF-8 then windows-1252 then
    latin-1; if the declared charset fails, UTF-8 (the most common mislabel) and
    otherwise the declared charset with bad bytes replaced.
    """
    codec = codec_for(charset) if charset else None
    if charset and codec is None:
        defects.append(f"{label}: unknown charset {charset[:40]!r}")
    if codec is not None:
        try:
            return _clean(data.decode(codec), label, defects)
        except UnicodeError:
            pass
        if codec != "utf-8" and _is_utf8(data):
            defects.append(f"{label}: not valid {charset}, read as utf-8")
            return _clean(data.decode("utf-8"), label, defects)
        if codec == "iso2022_jp":
            defects.append(f"{label}: {charset} with Microsoft extensions, read as cp50220")
            return _clean(_decode_cp50220(data), label, defects)
        if codec != "utf-8":
            defects.append(f"{label}: invalid {charset} bytes replaced")
            return _clean(data.decode(codec, "replace"), label, defects)
    return _clean(_fallback(data, label, defects, quiet=codec is None), label, defects)


def _fallback(data: bytes, label: str, defects: list[str], *, quiet: bool) -> str:
    """UTF-8 (damaged UTF-8 too), then windows-1252, then latin-1 (which cannot fail)."""
    try:
        return data.decode("utf-8")
    except UnicodeError:
        pass
    mostly = _mostly_utf8(data)
    if mostly is not None:
        defects.append(f"{label}: damaged utf-8, bad bytes replaced")
        return mostly
    if not quiet:
        defects.append(f"{label}: not valid utf-8, read as windows-1252")
    try:
        return data.decode("cp1252")
    except UnicodeError:
        return data.decode("latin-1")


def _mostly_utf8(data: bytes) -> str | None:
    """``data`` read as UTF-8 with bad bytes replaced, if it is clearly UTF-8 (a name
    cut in the middle of a character, one stray byte) and not some legacy charset,
    whose non-ASCII bytes hardly ever form valid UTF-8 sequences."""
    text = data.decode("utf-8", "replace")
    bad = text.count("\ufffd")
    good = len(text) - len(text.encode("ascii", "ignore")) - bad  # valid non-ASCII characters
    return text if good >= 2 * bad else None


def _decode_cp50220(data: bytes) -> str:
    """ISO-2022-JP as Outlook writes it (Microsoft's CP50220: JIS X 0208 plus the NEC
    and IBM extensions, e.g. "№" or circled digits), which Python's codec refuses.
    Each JIS pair is turned into its Shift_JIS bytes and read as cp932."""
    out = bytearray()
    mode = b"(B"
    for piece in _ISO2022JP_ESCAPE.split(data):
        if piece.startswith(b"\x1b"):
            mode = piece[1:]
        elif mode == b"(I":  # JIS X 0201 half-width katakana
            out += bytes(byte | 0x80 for byte in piece)
        elif mode in (b"$@", b"$B"):
            out += _jis_to_sjis(piece)
        else:
            out += piece
    return out.decode("cp932", "replace")


def _jis_to_sjis(pairs: bytes) -> bytes:
    out = bytearray()
    i = 0
    while i < len(pairs):
        first = pairs[i]
        if first < 0x21 or i + 1 == len(pairs):  # a line break inside a double-byte run
            out.append(first)
            i += 1
            continue
        second = pairs[i + 1]
        lead = (first + 1) // 2 + (0x70 if first < 0x5F else 0xB0)
        # Odd rows give trail bytes 0x40-0x9E (0x7F skipped), even rows 0x9F-0xFC.
        odd_trail = second + (0x20 if second >= 0x60 else 0x1F)
        trail = odd_trail if first % 2 else second + 0x7E
        out += bytes((lead & 0xFF, trail & 0xFF))
        i += 2
    return bytes(out)


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeError:
        return False
    return not data.isascii()


def _clean(text: str, label: str, defects: list[str]) -> str:
    """Drop what no database column takes: NUL characters and lone surrogates (UTF-7)."""
    if "\x00" in text:
        defects.append(f"{label}: NUL characters removed")
        text = text.replace("\x00", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def header_bytes_to_text(value: str, label: str, defects: list[str]) -> str:
    """A raw header value as :mod:`email` hands it over, with its 8-bit bytes decoded.

    The bytes parser keeps non-ASCII bytes as surrogate escapes. RFC 6532 allows
    UTF-8 in headers; anything else is read as windows-1252.
    """
    if value.isascii():
        return value
    data = value.encode("utf-8", "surrogateescape")
    return _clean(_fallback(data, label, defects, quiet=False), label, defects)


def decode_header(value: str, label: str, defects: list[str]) -> str:
    """The text of a raw header value: 8-bit bytes decoded, unfolded, RFC 2047 words decoded.

    White space is kept as written (bar the folds); see :func:`collapse`.
    """
    value = _FOLD.sub("", header_bytes_to_text(value, label, defects))
    if "=?" not in value:
        return value
    return _decode_words(value, label, defects)


def _decode_words(value: str, label: str, defects: list[str]) -> str:
    """Decode the RFC 2047 encoded words in ``value``.

    White space between two encoded words is dropped (RFC 2047 section 6.2), and
    adjacent words in one charset are decoded together, so a multi-byte character
    split across two words (a common encoder bug) survives.
    """
    out: list[str] = []
    run: bytearray = bytearray()
    run_charset: str | None = None
    pos = 0
    for match in _ENCODED_WORD.finditer(value):
        gap = value[pos : match.start()]
        pos = match.end()
        if gap and not (run_charset is not None and gap.isspace()):
            out.append(_flush(run, run_charset, label, defects))
            run, run_charset = bytearray(), None
            out.append(gap)
        charset, encoding, text = match.groups()
        data = _word_bytes(encoding, text, label, defects)
        if data is None:
            out.append(_flush(run, run_charset, label, defects))
            run, run_charset = bytearray(), None
            out.append(match.group(0))
            continue
        if charset.lower() != run_charset:
            out.append(_flush(run, run_charset, label, defects))
            run, run_charset = bytearray(), charset.lower()
        run += data
    out.append(_flush(run, run_charset, label, defects))
    out.append(value[pos:])
    return "".join(out)


def _flush(run: bytearray, charset: str | None, label: str, defects: list[str]) -> str:
    if charset is None or not run:
        return ""
    return decode_bytes(bytes(run), charset, label, defects)


def _word_bytes(encoding: str, text: str, label: str, defects: list[str]) -> bytes | None:
    """The bytes of one encoded word's text, or None if it cannot be decoded."""
    raw = text.encode("utf-8", "surrogateescape")
    if encoding in "qQ":
        # RFC 2047 section 4.2: "_" is a space, "=XX" a byte.
        return binascii.a2b_qp(raw, header=True)
    stripped = text.rstrip("=")
    cleaned = _BASE64_JUNK.sub("", stripped)
    if cleaned != stripped or len(cleaned) % 4 == 1:
        defects.append(f"{label}: malformed base64 encoded-word")
    if len(cleaned) % 4 == 1:
        cleaned = cleaned[:-1]  # a lone trailing character holds no whole byte
    # Missing "=" padding is common and harmless: put it back.
    try:
        return binascii.a2b_base64(cleaned + "=" * (-len(cleaned) % 4))
    except binascii.Error:
        defects.append(f"{label}: undecodable base64 encoded-word")
        return None


class _HTMLText(HTMLParser):
    """Collects the readable text of an HTML document (see :func:`html_to_text`)."""

    _SKIP = frozenset({"script", "style", "head", "template", "title"})
    _PARAGRAPH = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "table", "pre"})
    _LINE = frozenset(
        {"div", "tr", "li", "ul", "ol", "dl", "dt", "dd", "hr", "section", "article"}
        | {"header", "footer", "address", "form", "center", "body"}
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0
        self._pre = 0
        self._pending = 0  # line breaks owed before the next text

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            self._skip = 0  # a <head> that was never closed ends here
        if tag in self._SKIP:
            self._skip += 1
        elif tag == "pre":
            self._pre += 1
        if tag == "br":
            self.parts.append("\n")
        self._break(tag)
        if tag == "li":
            self._text("- ")
        elif tag in ("td", "th"):
            self._text(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skip:
            self._skip -= 1
        elif tag == "pre" and self._pre:
            self._pre -= 1
        self._break(tag)

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        text = data if self._pre else re.sub(r"\s+", " ", data)
        if text.strip() or (text and not self._pending):
            self._text(text)

    def _text(self, text: str) -> None:
        if self._pending:
            self.parts.append("\n" * self._pending)
            self._pending = 0
        self.parts.append(text)

    def _break(self, tag: str) -> None:
        if tag in self._PARAGRAPH:
            self._pending = 2
        elif tag in self._LINE:
            self._pending = max(self._pending, 1)


def html_to_text(html: str) -> str:
    """Readable plain text from HTML: tags stripped, script and style dropped,
    entities unescaped, paragraphs and line breaks kept."""
    parser = _HTMLText()
    parser.feed(html)
    parser.close()
    lines = (line.strip() for line in "".join(parser.parts).splitlines())
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
