"""Mail for the Graph simulator: a message is its raw MIME plus the properties Exchange
keeps beside it (received time, categories, read flag, PidTagSensitivity). The Graph
properties are derived from the headers when first asked for and cached; only the
selected ones are computed, so a delta page of 10,000 mails with ``$select`` is cheap.

Outlook's "private" flag on mail has no property in Graph v1.0's message resource; it is
PidTagSensitivity (0x0036), read through ``$expand=singleValueExtendedProperties($filter=id
eq 'Integer 0x36')``: value ``"0"`` normal, ``"1"`` personal, ``"2"`` private, ``"3"``
confidential, taken from the mail's ``Sensitivity:`` header unless the test sets it.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import email
import email.errors
import email.header
import email.parser
import email.policy
import email.utils
import functools
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from tests.servers.graph_calendar import iso_utc

SENSITIVITY_NAMES = ("normal", "personal", "private", "confidential")
SENSITIVITY_HEADER = {"normal": 0, "personal": 1, "private": 2, "company-confidential": 3}
SENSITIVITY_PROP_ID = "Integer 0x36"
MESSAGE_PROPERTIES = (
    "id",
    "createdDateTime",
    "lastModifiedDateTime",
    "changeKey",
    "categories",
    "receivedDateTime",
    "sentDateTime",
    "hasAttachments",
    "internetMessageId",
    "subject",
    "bodyPreview",
    "importance",
    "parentFolderId",
    "conversationId",
    "isDeliveryReceiptRequested",
    "isReadReceiptRequested",
    "isRead",
    "isDraft",
    "webLink",
    "inferenceClassification",
    "body",
    "sender",
    "from",
    "toRecipients",
    "ccRecipients",
    "bccRecipients",
    "replyTo",
    "flag",
)
# selectable too, but not returned by default
_MESSAGE_KEYS = {
    n.lower(): n for n in (*MESSAGE_PROPERTIES, "internetMessageHeaders", "uniqueBody")
}


def new_id(prefix: str = "AAMkA") -> str:
    """An opaque, URL-safe item id that looks like Exchange's."""
    return prefix + base64.urlsafe_b64encode(secrets.token_bytes(33)).decode()


def new_change_key() -> str:
    return "CQAAABYAAAA" + base64.b64encode(secrets.token_bytes(12)).decode()


def decode_header(value: Any) -> str:
    """A raw header value unfolded, with RFC 2047 encoded words decoded."""
    text = str(value)
    if any("\udc80" <= c <= "\udcff" for c in text):  # raw 8-bit bytes, taken as UTF-8
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    text = re.sub(r"\r?\n(?=[ \t])", "", text)
    if "=?" in text:
        with contextlib.suppress(LookupError, ValueError, email.errors.HeaderParseError):
            text = str(email.header.make_header(email.header.decode_header(text)))
    return text.strip()


def _recipients(value: str | None) -> list[dict[str, Any]]:
    if not value:
        return []
    pairs = email.utils.getaddresses([re.sub(r"\r?\n(?=[ \t])", "", value)])
    return [{"emailAddress": {"name": decode_header(n) or a, "address": a}} for n, a in pairs if a]


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


@dataclass
class Message:
    """A mail: raw MIME plus the properties Exchange keeps beside it."""

    id: str
    folder_id: str
    raw: bytes
    received: dt.datetime
    categories: list[str]
    is_read: bool
    sensitivity: int | None
    created: dt.datetime
    modified: dt.datetime
    change_key: str = field(default_factory=new_change_key)
    conversation_id: str = field(default_factory=lambda: new_id("AAQkA"))

    @functools.cached_property
    def headers(self) -> email.message.Message:
        """The raw headers (compat32: twenty times faster than the modern policy)."""
        parser = email.parser.BytesHeaderParser(policy=email.policy.compat32)
        end = min((i for i in (self.raw.find(b"\r\n\r\n"), self.raw.find(b"\n\n")) if i >= 0),
                  default=len(self.raw))  # fmt: skip
        return parser.parsebytes(self.raw[: end + 2])

    def header(self, name: str, raw: bool = False) -> str | None:
        value = self.headers.get(name)
        if value is None:
            return None
        return str(value) if raw else decode_header(value)

    @functools.cached_property
    def _content(self) -> tuple[dict[str, str], bool]:
        """(the body Graph shows: the HTML part, else the plain one; has attachments)."""
        html = plain = None
        attachments = False
        for part in email.message_from_bytes(self.raw, policy=email.policy.compat32).walk():
            if part.is_multipart():
                continue
            disposition = str(part.get("Content-Disposition") or "").lower()
            kind = part.get_content_type()
            if disposition.startswith("attachment") or not kind.startswith("text/"):
                attachments = attachments or kind not in ("message/delivery-status",)
            elif kind == "text/html" and html is None:
                html = part
            elif kind == "text/plain" and plain is None:
                plain = part
        body = html or plain
        if body is None:
            return {"contentType": "text", "content": ""}, attachments
        payload = body.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        try:
            content = data.decode(body.get_content_charset() or "utf-8", "replace")
        except LookupError:
            content = data.decode("utf-8", "replace")
        return {"contentType": "html" if body is html else "text", "content": content}, attachments

    @property
    def body(self) -> dict[str, str]:
        return self._content[0]

    @functools.cached_property
    def body_preview(self) -> str:
        text = self.body["content"]
        if self.body["contentType"] == "html":
            text = re.sub(r"(?is)<(script|style|head).*?</\1>|<[^>]+>", " ", text)
        return " ".join(text.split())[:255]

    def sent(self) -> str | None:
        date = self.header("Date")
        try:
            parsed = email.utils.parsedate_to_datetime(date) if date else None
        except (TypeError, ValueError):
            parsed = None
        return iso_utc(parsed) if parsed else None

    def has_attachments(self) -> bool:
        return self._content[1]

    def json(self, base_url: str, select: list[str] | None = None) -> dict[str, Any]:
        """The message resource: every property Graph returns without ``$select``, or
        ``@odata.etag``, ``id`` and the selected ones (computed only when asked for)."""
        names = select if select else MESSAGE_PROPERTIES
        data: dict[str, Any] = {"@odata.etag": f'W/"{self.change_key}"', "id": self.id}
        for name in names:
            key = _MESSAGE_KEYS.get(name.lower())
            if key is not None and key != "id":
                data[key] = self.prop(key, base_url)
        return data

    def prop(self, name: str, base_url: str) -> Any:
        """One property of the message resource by its Graph name."""
        match name:
            case "createdDateTime":
                return iso_utc(self.created)
            case "lastModifiedDateTime":
                return iso_utc(self.modified)
            case "changeKey":
                return self.change_key
            case "categories":
                return list(self.categories)
            case "receivedDateTime":
                return iso_utc(self.received)
            case "sentDateTime":
                return self.sent()
            case "hasAttachments":
                return self.has_attachments()
            case "internetMessageId":
                return self.header("Message-ID")
            case "subject":
                return self.header("Subject") or ""
            case "bodyPreview":
                return self.body_preview
            case "importance":
                importance = (self.header("Importance") or "normal").lower()
                return importance if importance in ("low", "high") else "normal"
            case "parentFolderId":
                return self.folder_id
            case "conversationId":
                return self.conversation_id
            case "isReadReceiptRequested":
                return bool(self.header("Disposition-Notification-To"))
            case "isRead":
                return self.is_read
            case "isDeliveryReceiptRequested" | "isDraft":
                return False
            case "webLink":
                return f"{base_url}/owa/?ItemID={self.id}&exvsurl=1&viewmodel=ReadMessageItem"
            case "inferenceClassification":
                return "focused"
            case "body" | "uniqueBody":
                return self.body
            case "sender" | "from":
                sender = _recipients(self.header("Sender" if name == "sender" else "From", True))
                sender = sender or _recipients(self.header("From", True))
                return sender[0] if sender else None
            case "toRecipients" | "ccRecipients" | "bccRecipients" | "replyTo":
                header = {"toRecipients": "To", "ccRecipients": "Cc", "bccRecipients": "Bcc"}
                return _recipients(self.header(header.get(name, "Reply-To"), True))
            case "flag":
                return {"flagStatus": "notFlagged"}
            case "internetMessageHeaders":
                return [{"name": k, "value": decode_header(v)} for k, v in self.headers.items()]
        return None

    def extended(self, prop_ids: set[str]) -> list[dict[str, str]]:
        if SENSITIVITY_PROP_ID.lower() in prop_ids and self.sensitivity is not None:
            return [{"id": SENSITIVITY_PROP_ID, "value": str(self.sensitivity)}]
        return []


def message_sensitivity(raw: bytes) -> int | None:
    """PidTagSensitivity from a ``Sensitivity:`` header (RFC 2156), None when absent."""
    match = re.search(rb"(?im)^sensitivity:[ \t]*([a-z-]+)", raw.split(b"\r\n\r\n", 1)[0])
    if match is None:
        match = re.search(rb"(?im)^sensitivity:[ \t]*([a-z-]+)", raw.split(b"\n\n", 1)[0])
    if match is None:
        return None
    return SENSITIVITY_HEADER.get(match.group(1).decode().lower())
