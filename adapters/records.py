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
    # Authentication-Results header fields (RFC 8601), topmost first: the logging
    # mailbox accepts mail only with a DKIM or SPF pass for the sender's domain.
    auth_results: tuple[str, ...] = ()
    # The message as the source gave it: kept for the batch, so a logged mail that is
    # refused can be quarantined whole, and a forward's attached original be read.
    raw: bytes = field(default=b"", repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class Attendee:
    """An organizer or attendee of an event (``email`` as written, without ``mailto:``)."""

    email: str
    name: str = ""
    #: ROLE: CHAIR | REQ-PARTICIPANT | OPT-PARTICIPANT | NON-PARTICIPANT ("" when absent)
    role: str = ""
    #: PARTSTAT: NEEDS-ACTION | ACCEPTED | DECLINED | TENTATIVE | DELEGATED ("" when absent)
    status: str = ""


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One occurrence of a calendar event, parsed by :func:`adapters.ical.parse_calendar`.

    A recurring event yields one record per occurrence inside the pull window; an
    overridden occurrence (RECURRENCE-ID) replaces the one it overrides. ``dedupe_key``
    is ``ical:<UID>`` for a single event and ``ical:<UID>/<RECURRENCE-ID as UTC
    YYYYMMDDTHHMMSSZ, or YYYYMMDD for all-day>`` for an occurrence, so the same
    meeting seen in five calendars is one entry.
    """

    remote_id: str  # the calendar object: its href, or its file name
    dedupe_key: str
    uid: str
    recurrence_id: datetime | None  # the occurrence's original start, UTC
    summary: str
    location: str
    description: str = field(repr=False)
    starts_at: datetime  # UTC; an all-day event: midnight UTC of its date
    ends_at: datetime  # UTC, exclusive
    all_day: bool
    status: str  # CONFIRMED | TENTATIVE | CANCELLED ("" when absent)
    #: CLASS:PRIVATE or CONFIDENTIAL: stored for the timeline, never logged
    private: bool
    organizer: Attendee | None
    attendees: tuple[Attendee, ...]
    sequence: int = 0
    last_modified: datetime | None = None
    defects: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ContactRecord:
    """One contact (a vCard), parsed by :func:`adapters.vcard.parse_vcards`.

    Values are as the card wrote them (crm normalizes addresses and numbers).
    ``emails`` and ``phones`` are (label, value) pairs; labels: work, home, mobile,
    fax, pager, other.
    """

    remote_id: str
    uid: str
    kind: str  # person | organization
    name: str  # FN
    given_name: str = ""
    family_name: str = ""
    organization: str = ""
    title: str = ""
    notes: str = ""
    emails: tuple[tuple[str, str], ...] = ()
    phones: tuple[tuple[str, str], ...] = ()
    website: str = ""
    street: str = ""
    city: str = ""
    region: str = ""
    postal_code: str = ""
    country: str = ""
    categories: tuple[str, ...] = ()
    has_photo: bool = False
    revision: datetime | None = None
    defects: tuple[str, ...] = ()


Record = MailRecord | EventRecord | ContactRecord


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
    #: calendars: the span recurring events were expanded in (occurrences of an event
    #: read now that are missing inside it are gone; outside it they were not read)
    window: tuple[datetime, datetime] | None = None
