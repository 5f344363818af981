"""The one MIME parser every mail source uses: RFC 5322 bytes in, a MailRecord out.

IMAP, Maildir, mbox and Exchange all hand over a message's raw bytes;
:func:`parse_mail` turns them into an :class:`adapters.records.MailRecord`.

The work is split in four: :mod:`adapters.mimetree` cuts the message into its
MIME tree (header fields by compat32's rules, bodies at their boundaries),
:mod:`adapters.mimeheaders` reads addresses, message ids and the date,
:mod:`adapters.mimetext` decodes charsets, RFC 2047 words and HTML, and this
module sorts the parts into text, HTML and attachments. A bad charset, a broken
Date or a pathological part becomes a defect on the record, not a failure; only
a message with nothing usable in it raises :class:`adapters.errors.ItemError`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import mimetypes
import re
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message

from adapters.errors import ItemError
from adapters.mimeheaders import (
    Headers,
    addresses,
    clean_message_id,
    first,
    message_ids,
    occurred_at,
)
from adapters.mimetext import (
    collapse,
    decode_bytes,
    decode_header,
    html_to_text,
)
from adapters.mimetree import Part, decode_body, parse_tree, read_head
from adapters.records import Attachment, MailRecord

_MIME_TYPES = mimetypes.MimeTypes()  # the built-in table only: the same on every machine
_EXTENSIONS = {
    "application/ms-tnef": ".dat",
    "application/pgp-signature": ".asc",
    "message/rfc822": ".eml",
    "message/global": ".eml",
    "text/calendar": ".ics",
    "text/plain": ".txt",
}

# A message without any of these is not a mail we can file.
_IDENTITY_HEADERS = ("from", "sender", "to", "cc", "bcc", "subject", "date")
# What a copy of a message keeps wherever it is stored (no Received, Return-Path, X-...).
_HASHED_HEADERS = ("from", "to", "cc", "date", "subject")
# Mailing lists (RFC 2369, RFC 2919, RFC 8058), auto-replies (RFC 3834) and Exchange's
# suppression header: what tells bulk and automated mail apart.
_AUTOMATION_HEADERS = frozenset(
    {
        "list-id",
        "list-unsubscribe",
        "list-unsubscribe-post",
        "list-post",
        "auto-submitted",
        "precedence",
        "x-auto-response-suppress",
        "x-autoreply",
        "x-autorespond",
        "feedback-id",
    }
)
_MAX_KEY_ID = 250  # longer Message-IDs are hashed, so every key fits a database index
_TRAILING_WS = re.compile(rb"[ \t]+$", re.MULTILINE)
# mboxo/mboxrd stores quote body lines that start with "From " with one more ">".
_MBOX_QUOTED_FROM = re.compile(rb"^>+From ", re.MULTILINE)


@dataclass
class _Body:
    """What the walk over the MIME tree found."""

    texts: list[str] = field(default_factory=list)
    htmls: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)


def parse_mail(
    raw: bytes,
    *,
    remote_id: str,
    received_at: datetime | None = None,
    flags: tuple[str, ...] = (),
) -> MailRecord:
    """Parse one message's raw bytes into a :class:`MailRecord`.

    ``remote_id`` is the source's id for the message (IMAP UID, file name, EWS
    item id); ``received_at`` is when the store took it in (IMAP INTERNALDATE),
    used when the Date header is missing or unusable (a naive value is taken as
    UTC); ``flags`` are passed through for the privacy rules.

    Everything the parser had to work around is listed in ``defects``. Raises
    :class:`ItemError` only for a message with nothing usable: empty bytes, no
    header section, none of From, Sender, To, Cc, Bcc, Subject and Date.
    """
    if not raw or raw.isspace():
        raise ItemError("empty message", remote_id=remote_id, raw=raw)
    try:
        return _parse(raw, remote_id, received_at, tuple(flags))
    except ItemError:
        raise
    except Exception as exc:  # whatever a hostile message provokes, the batch goes on
        reason = f"unreadable message: {type(exc).__name__}: {exc}"[:300]
        raise ItemError(reason, remote_id=remote_id, raw=raw) from exc


def message_id_key(message_id: str) -> str:
    """The dedupe key for a Message-ID, the same from every adapter.

    Angle brackets, comments after the id and white space are dropped, so
    ``"<a@b>"`` (IMAP, EWS's InternetMessageId) and ``"a@b"`` give one key.
    Ids longer than 250 characters are hashed. Raises ValueError for an empty id.
    """
    cleaned = clean_message_id(message_id)
    if cleaned is None:
        raise ValueError("empty Message-ID")
    if len(cleaned) > _MAX_KEY_ID:
        return "mid:sha256:" + hashlib.sha256(cleaned.encode("utf-8", "replace")).hexdigest()
    return "mid:" + cleaned


def _parse(
    raw: bytes, remote_id: str, received_at: datetime | None, flags: tuple[str, ...]
) -> MailRecord:
    defects: list[str] = []
    tree = parse_tree(raw, defects)
    items = [(name.lower(), value) for name, value in tree.items]
    headers: Headers = {}
    for name, value in items:
        headers.setdefault(name, []).append(value)
    if not any(name in headers for name in _IDENTITY_HEADERS):
        reason = "no From, To, Subject or Date header" if items else "no header section"
        raise ItemError(f"not a mail message: {reason}", remote_id=remote_id, raw=raw)
    body = _Body()
    _walk(tree, body, defects)
    message_id = clean_message_id(first(headers, "message-id"))
    text, html = _texts(body, defects)
    senders = addresses(headers, "from", defects) or addresses(headers, "sender", defects)
    return MailRecord(
        remote_id=remote_id,
        dedupe_key=message_id_key(message_id) if message_id else _content_key(raw, headers),
        message_id=message_id,
        subject=collapse(decode_header(first(headers, "subject"), "subject", defects)),
        sender=senders[0] if senders else None,
        to=addresses(headers, "to", defects),
        cc=addresses(headers, "cc", defects),
        bcc=addresses(headers, "bcc", defects),
        reply_to=addresses(headers, "reply-to", defects),
        occurred_at=occurred_at(headers, received_at, defects),
        in_reply_to=next(iter(message_ids(first(headers, "in-reply-to"))), None),
        references=tuple(message_ids(" ".join(headers.get("references", [])))),
        text=text,
        html=html,
        attachments=_named(body.attachments),
        size=len(raw),
        automation_headers=tuple(
            (name, collapse(decode_header(value, name, defects)))
            for name, value in items
            if name in _AUTOMATION_HEADERS
        ),
        flags=flags,
        defects=tuple(dict.fromkeys(defect[:200] for defect in defects)),
        auth_results=tuple(
            collapse(value) for name, value in items if name == "authentication-results"
        ),
        raw=raw,
    )


# --- the dedupe key of a message without a Message-ID ---------------------------------


def _content_key(raw: bytes, headers: Headers) -> str:
    """A hash over what every copy of a message keeps: From, To, Cc, Date and
    Subject (decoded, white space collapsed) and the body (line ends and trailing
    white space normalized), not the trace headers a delivery adds."""
    digest = hashlib.sha256()
    for name in _HASHED_HEADERS:
        values = (collapse(decode_header(value, name, [])) for value in headers.get(name, []))
        digest.update(f"{name}: {' '.join(values)}\n".encode("utf-8", "replace"))
    digest.update(b"\n")
    digest.update(_normalized_body(raw))
    return "hash:" + digest.hexdigest()


def _normalized_body(raw: bytes) -> bytes:
    text = raw.replace(b"\r\n", b"\n")
    start = text.find(b"\n\n")
    if start < 0:
        return b""
    body = _TRAILING_WS.sub(b"", text[start + 2 :])
    return _MBOX_QUOTED_FROM.sub(b"From ", body).rstrip(b"\n")


# --- the MIME tree ----------------------------------------------------------------------


def _walk(part: Part, body: _Body, defects: list[str]) -> None:
    """Sort one part (and what it contains) into text, HTML and attachments."""
    try:
        _sort(part, body, defects)
    except Exception as exc:  # one pathological part must not cost the whole message
        defects.append(f"part skipped: {type(exc).__name__}: {exc}")


def _sort(part: Part, body: _Body, defects: list[str]) -> None:
    ctype = part.ctype
    if ctype.startswith("message/"):
        body.attachments.append(_message_attachment(part, ctype, defects))
    elif not part.multipart:
        _leaf(part, ctype, body, defects)
    elif ctype == "multipart/alternative":
        _alternative(part.children, body, defects)
    else:
        for child in part.children:
            _walk(child, body, defects)


def _alternative(children: list[Part], body: _Body, defects: list[str]) -> None:
    """RFC 2046 section 5.1.4: alternatives come in order of preference, the last best."""
    texts: list[str] = []
    htmls: list[str] = []
    for child in children:
        choice = _Body()
        _walk(child, choice, defects)
        texts = choice.texts or texts
        htmls = choice.htmls or htmls
        body.attachments.extend(choice.attachments)
    body.texts.extend(texts)
    body.htmls.extend(htmls)


def _leaf(part: Part, ctype: str, body: _Body, defects: list[str]) -> None:
    filename = _filename(part.mime, defects)
    if ctype.startswith("multipart/"):
        ctype = "text/plain"  # a multipart without its boundary: show what is there
    inline = not filename and part.mime.get_content_disposition() != "attachment"
    if inline and ctype == "text/plain":
        body.texts.append(_part_text(part, "body", defects))
    elif inline and ctype == "text/html":
        body.htmls.append(_part_text(part, "html", defects))
    else:
        data = decode_body(part, f"attachment {filename or ctype}", defects)
        body.attachments.append(Attachment(filename, ctype, data))


def _part_text(part: Part, label: str, defects: list[str]) -> str:
    data = decode_body(part, label, defects)
    try:
        charset = part.mime.get_content_charset()
    except (ValueError, LookupError, UnicodeError):
        charset = "unreadable"
    text = decode_bytes(data, charset, label, defects)
    return "\n".join(text.split("\r\n"))  # faster than str.replace on long text


def _message_attachment(part: Part, ctype: str, defects: list[str]) -> Attachment:
    """An enclosed message (message/rfc822, a bounce's report): kept whole, as a file
    named after its subject."""
    data = decode_body(part, f"attachment {ctype}", defects)
    filename = _filename(part.mime, defects)
    if not filename and ctype in ("message/rfc822", "message/global"):
        subject = next((v for n, v in read_head(data) if n.lower() == "subject"), "")
        stem = re.sub(r"[/\\]", "-", collapse(decode_header(subject, "subject", [])))
        stem = _safe_filename(stem, [])
        filename = f"{stem[:120]}.eml" if stem else ""
    return Attachment(filename, ctype, data)


def _filename(part: Message, defects: list[str]) -> str:
    """The part's file name: RFC 2231 parameters, and RFC 2047 words as Outlook writes them."""
    # Only a filename= (Content-Disposition) or name= (Content-Type) parameter names a
    # file; most parts have neither, and parsing parameters is a quarter of parse time.
    fields = str(part.get("content-disposition", "")) + str(part.get("content-type", ""))
    if "name" not in fields.lower():
        return ""
    try:
        name = part.get_filename()
    except (ValueError, LookupError, UnicodeError):  # RFC 2231 charset the stdlib chokes on
        defects.append("filename: unreadable parameter")
        return ""
    if not isinstance(name, str) or not name:
        return ""
    return _safe_filename(collapse(decode_header(name, "filename", defects)), defects)


def _safe_filename(name: str, defects: list[str]) -> str:
    """The last path component, without control characters."""
    base = re.split(r"[/\\]", name)[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip()
    if base != name.strip():
        defects.append(f"filename: {name[:60]!r} shortened to {base[:60]!r}")
    return "" if base in ("", ".", "..") else base[:255]


def _named(attachments: list[Attachment]) -> tuple[Attachment, ...]:
    """Attachments without a name get "attachment-N.ext", N counting from 1."""
    return tuple(
        attachment
        if attachment.filename
        else dataclasses.replace(
            attachment, filename=f"attachment-{n}{_extension(attachment.content_type)}"
        )
        for n, attachment in enumerate(attachments, start=1)
    )


def _extension(ctype: str) -> str:
    known = _EXTENSIONS.get(ctype) or _MIME_TYPES.guess_extension(ctype, strict=False)
    if known:
        return known
    return {"text": ".txt", "message": ".eml"}.get(ctype.partition("/")[0], ".bin")


def _texts(body: _Body, defects: list[str]) -> tuple[str, str]:
    """The plain text and the HTML; an HTML-only mail gets its text from the HTML."""
    text = "\n".join(part for part in body.texts if part)
    html = "\n".join(part for part in body.htmls if part)
    if html and not text.strip():
        try:
            text = html_to_text(html)
        except Exception as exc:  # html.parser is lenient; this is a last guard
            defects.append(f"html: no text derived ({type(exc).__name__})")
            text = re.sub(r"<[^>]*>", " ", html)
    return text, html
