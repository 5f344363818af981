"""The MIME tree of a message, for :mod:`adapters.mime`.

Header blocks are split into fields here, by the rules of the stdlib's
``compat32`` FeedParser, and each part's Content-* fields are kept in a
``compat32`` :class:`email.message.Message`, whose parameter parsing (RFC 2231
file names, charsets, boundaries) we use. Bodies are split at their boundaries
with ``bytes.find``. The FeedParser itself walks every line in Python and
compiles a regular expression for every boundary: on 15 KB text+html mail it
parses about 2,900 messages a second, less than what parse_mail as a whole
must do. This way each part also keeps its original bytes (an attached message
is handed on exactly as it came).

Nothing here raises on a malformed message: what had to be worked around is
appended to the caller's ``defects`` list, under the stdlib's defect names
where the stdlib has one.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass, field
from email.message import Message

from adapters.mimetext import header_bytes_to_text

_BASE64_JUNK = re.compile(rb"[^A-Za-z0-9+/]")
# A header field: a name of printable ASCII but ":" (RFC 5322 section 2.2), a colon.
# compat32 also takes an empty name (and drops the line); so do we.
_FIELD = re.compile(r"([!-9;-~]*):")
# A line of the header section that is no field, no fold and not its end.
_STRAY_LINE = re.compile(rb"\n(?![ \t\r\n]|[!-9;-~]+:)")
_FIELD_LINE = re.compile(rb"[!-9;-~]+:")
_KNOWN_FIELD_LINE = re.compile(
    rb"(?i)(from|to|cc|subject|date|message-id|mime-version|content-type|received|references"
    rb"|in-reply-to|reply-to|return-path):"
)
MAX_DEPTH = 40


@dataclass
class Part:
    """One node of the tree: its headers, its raw body, and its sub-parts."""

    #: every header field as (name as written, value): 8-bit bytes decoded, folds kept
    items: list[tuple[str, str]]
    #: the Content-* fields alone, for compat32's get_param(), get_filename(), ...
    mime: Message
    #: the lower-case media type, defaults applied (RFC 2045 section 5.2, RFC 2046 5.1.5)
    ctype: str
    #: the body as sent: Content-Transfer-Encoding not undone
    body: bytes
    children: list[Part] = field(default_factory=list)
    #: whether the body was split into ``children`` (a multipart without a usable
    #: boundary is not, and is shown as text)
    multipart: bool = False


def parse_tree(raw: bytes, defects: list[str]) -> Part:
    """The MIME tree of a whole message."""
    if b"\n" not in raw:
        raw = raw.replace(b"\r", b"\n")  # classic Mac OS line ends
    return _part(_repair_folds(raw, defects), defects, depth=0)


def read_head(data: bytes) -> list[tuple[str, str]]:
    """The header fields of ``data`` alone (an attached message's Subject, say)."""
    return _split_head(data, [])[0]


def _part(data: bytes, defects: list[str], depth: int, digest: bool = False) -> Part:
    items, body = _split_head(data, defects)
    mime = Message()  # compat32 is the default policy of Message
    for name, value in items:
        if name[:8].lower() == "content-":
            mime.set_raw(name, value)
    if digest:
        mime.set_default_type("message/rfc822")  # RFC 2046 section 5.1.5
    part = Part(items, mime, mime.get_content_type(), body)
    if not part.ctype.startswith("multipart/"):
        return part
    if depth >= MAX_DEPTH:
        defects.append(f"multipart: nested deeper than {MAX_DEPTH} levels, kept as one part")
        return part
    try:
        boundary = mime.get_boundary()
    except (ValueError, LookupError, UnicodeError):  # RFC 2231 charset the stdlib chokes on
        boundary = None
    chunks = _split_body(body, boundary, defects) if boundary else None
    if chunks is None:
        # RFC 2046 section 5.1.1 requires the boundary; without one, show the body as text.
        defects.append("StartBoundaryNotFoundDefect" if boundary else "NoBoundaryInMultipartDefect")
        return part
    is_digest = part.ctype == "multipart/digest"
    part.children = [_part(chunk, defects, depth + 1, is_digest) for chunk in chunks]
    part.multipart = True
    return part


def _split_head(data: bytes, defects: list[str]) -> tuple[list[tuple[str, str]], bytes]:
    """The header fields and the body of one message or part."""
    if data.startswith((b"\n", b"\r\n")):  # no header fields at all (RFC 2046 section 5.1)
        return [], data[data.index(b"\n") + 1 :]
    start, end = _blank_line(data)
    head, separator, body = data[:start], data[start:end], data[end:]
    # As the stdlib's bytes parser does, keep 8-bit bytes as surrogate escapes for now.
    fields, leftover = _fields(head.decode("ascii", "surrogateescape"), defects)
    if leftover:
        # A line that is no header field ended the header block early: the body starts there.
        body = leftover.encode("ascii", "surrogateescape") + separator + body
    items = [(name, header_bytes_to_text(value, name.lower(), defects)) for name, value in fields]
    return items, body


def _blank_line(data: bytes) -> tuple[int, int]:
    """The span of the line break ending the header block plus the empty line after
    it (LF, CRLF or mixed); (len, len) if there is none.

    The form the first line's end suggests is looked for first, so that the search
    for the other stops there instead of scanning a large body.
    """
    newline = data.find(b"\n")
    crlf = newline > 0 and data[newline - 1] == 0x0D
    best, size = -1, 0
    for pattern in (b"\n\r\n", b"\n\n") if crlf else (b"\n\n", b"\n\r\n"):
        found = data.find(pattern, 0, len(data) if best < 0 else best + len(pattern))
        if found >= 0 and (best < 0 or found < best):
            best, size = found, len(pattern)
    if best < 0:
        return len(data), len(data)
    start = best - 1 if best and data[best - 1] == 0x0D else best
    return start, best + size


def _fields(head: str, defects: list[str]) -> tuple[list[tuple[str, str]], str]:
    """Header fields as compat32's FeedParser reads them: a line starting with white
    space continues the field above (RFC 5322 section 2.2.3), an envelope "From "
    line first is skipped, and the first line that is neither ends the header."""
    fields: list[tuple[str, list[str]]] = []
    lines = head.split("\n")
    leftover = ""
    for index, line in enumerate(lines):
        line = line.rstrip("\r")
        if line[:1] in (" ", "\t"):
            if fields:
                fields[-1][1].append(line)
            else:
                defects.append("FirstHeaderLineIsContinuationDefect")
            continue
        if index == 0 and line.startswith("From "):
            continue  # the mbox envelope line
        found = _FIELD.match(line)
        if found is None:
            defects.append("MissingHeaderBodySeparatorDefect")
            leftover = "\n".join(lines[index:])
            break
        if not found.group(1):
            defects.append("InvalidHeaderDefect")  # a line starting with ":"
            continue
        fields.append((found.group(1), [line[found.end() :].lstrip(" \t")]))
    return [(name, "\n".join(value)) for name, value in fields], leftover


def _split_body(body: bytes, boundary: str, defects: list[str]) -> list[bytes] | None:
    """The parts between the "--boundary" delimiter lines (RFC 2046 section 5.1.1),
    or None if there is not one. The line break before a delimiter belongs to it."""
    delimiter = b"--" + boundary.encode("utf-8", "surrogateescape")
    bounds: list[tuple[int, int]] = []  # (where the delimiter line starts, where it ends)
    closed_at = -1
    pos = 0
    while (found := body.find(delimiter, pos)) >= 0:
        pos = found + len(delimiter)
        if found and body[found - 1] != 0x0A:
            continue  # not at the start of a line
        end = body.find(b"\n", pos)
        end = len(body) if end < 0 else end + 1
        rest = body[pos:end].rstrip()  # transport padding may follow the delimiter
        if rest == b"--":
            closed_at = found
            break
        if not rest:  # anything else is a longer boundary that starts with ours
            bounds.append((found, end))
    if not bounds:
        return None
    if closed_at < 0:
        defects.append("CloseBoundaryNotFoundDefect")
    ends = [start for start, _ in bounds[1:]] + [closed_at if closed_at >= 0 else len(body)]
    return [_chop_line_end(body[start:stop]) for (_, start), stop in zip(bounds, ends, strict=True)]


def _chop_line_end(chunk: bytes) -> bytes:
    if chunk.endswith(b"\r\n"):
        return chunk[:-2]
    return chunk[:-1] if chunk.endswith(b"\n") else chunk


def _repair_folds(raw: bytes, defects: list[str]) -> bytes:
    """Put back the white space of folded header lines that lost it (news and list
    archives do this). The parser would end the header section at such a line, and
    take the From, To and Subject below it for body text."""
    end = _blank_line(raw)[0]
    if _STRAY_LINE.search(raw, 0, end) is None:
        return raw
    lines = raw[:end].split(b"\n")
    known = [i for i, line in enumerate(lines) if _KNOWN_FIELD_LINE.match(line)]
    stray = [
        i
        for i in range(1, known[-1] if known else 0)
        if lines[i][:1] not in (b" ", b"\t") and not _FIELD_LINE.match(lines[i])
    ]
    if not stray:
        return raw
    for i in stray:
        lines[i] = b" " + lines[i]
    defects.append(f"headers: {len(stray)} folded lines had lost their leading white space")
    return b"\n".join(lines) + raw[end:]


def decode_body(part: Part, label: str, defects: list[str]) -> bytes:
    """The part's body with its Content-Transfer-Encoding undone (RFC 2045 section 6)."""
    encoding = str(part.mime.get("content-transfer-encoding", "")).strip().lower()
    if encoding == "base64":
        return _base64(part.body, label, defects)
    if encoding == "quoted-printable":
        return binascii.a2b_qp(part.body)
    if encoding in ("x-uuencode", "uuencode", "x-uue", "uue"):
        return _uudecode(part.body, label, defects)
    if encoding not in ("", "7bit", "8bit", "binary"):
        defects.append(f"{label}: unknown transfer encoding {encoding[:30]!r}, kept as is")
    return part.body


def _base64(data: bytes, label: str, defects: list[str]) -> bytes:
    """Base64, decoded as far as it goes when it is broken."""
    try:
        return binascii.a2b_base64(data)  # skips line breaks and other stray characters
    except binascii.Error:
        pass
    defects.append(f"{label}: broken base64")
    cleaned = _BASE64_JUNK.sub(b"", data)
    if len(cleaned) % 4 == 1:
        cleaned = cleaned[:-1]  # a lone trailing character holds no whole byte
    try:
        return binascii.a2b_base64(cleaned + b"=" * (-len(cleaned) % 4))
    except binascii.Error:
        return b""


def _uudecode(data: bytes, label: str, defects: list[str]) -> bytes:
    """uuencode, as old mailers sent attachments (lines between "begin" and "end")."""
    out = bytearray()
    lines = iter(data.splitlines())
    for line in lines:
        if line.startswith(b"begin "):
            break
    for line in lines:
        if line.strip() == b"end":
            break
        try:
            out += binascii.a2b_uu(line)
        except binascii.Error:
            defects.append(f"{label}: broken uuencode line")
    return bytes(out)
