"""The records that pass from adapters to crm: frozen dataclasses, no I/O.

This is the one module of ``adapters`` that ``crm`` may import. Every datetime
here is timezone-aware UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Address:
    """One mailbox as written in a header: ``name <email>``.

    ``email`` is the addr-spec as the message wrote it (whitespace stripped, no
    angle brackets); normalising it for matching is crm's job.
    """

    email: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class Attachment:
    """One attached file, with its bytes (stored once, by content, in crm's archive)."""

    filename: str
    content_type: str
    data: bytes = field(repr=False)

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True, slots=True)
class MailRecord:
    """One mail message, parsed by :func:`adapters.mime.parse_mail`.

    ``dedupe_key`` is the same for the same message wherever it is seen: built
    from the Message-ID, or, where there is none, from a hash of the message's
    own stable headers and body (see adapters/mime.py).
    """

    remote_id: str
    dedupe_key: str
    message_id: str | None
    subject: str
    sender: Address | None
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    bcc: tuple[Address, ...]
    reply_to: tuple[Address, ...]
    occurred_at: datetime
    in_reply_to: str | None
    references: tuple[str, ...]
    text: str = field(repr=False)
    html: str = field(repr=False)
    attachments: tuple[Attachment, ...] = field(repr=False)
    size: int
    # The headers that tell bulk and automated mail apart (List-Id, List-Unsubscribe,
    # Auto-Submitted, Precedence, X-Auto-Response-Suppress, ...), lower-cased names.
    automation_headers: tuple[tuple[str, str], ...] = ()
    # IMAP flags/keywords, Exchange categories: for privacy rules.
    flags: tuple[str, ...] = ()
    # What the parser had to work around (bad charset, broken Date, ...): kept, shown to admins.
    defects: tuple[str, ...] = ()


Record = MailRecord


@dataclass(frozen=True, slots=True)
class ItemFailure:
    """One remote item that could not be read: quarantined with its reason and raw bytes."""

    remote_id: str
    reason: str
    raw: bytes = field(repr=False, default=b"")


@dataclass(frozen=True, slots=True)
class Collection:
    """A mail folder, calendar or address book of a source."""

    id: str
    name: str
    kind: str = "mail"


@dataclass(frozen=True, slots=True)
class Batch:
    """A bounded slice of one collection, and the cursor that follows it.

    The cursor is opaque to everyone but the adapter that made it (a small
    JSON-able dict). Sync stores it in the same transaction as the batch's
    records, so a crash before the commit repeats the batch and a crash after
    it does not.
    """

    records: tuple[Record, ...]
    cursor: dict[str, Any]
    deleted: tuple[str, ...] = ()
    failures: tuple[ItemFailure, ...] = ()
