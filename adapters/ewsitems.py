"""Exchange items (as exchangelib reads them) into crmsync's records.

- **Mail**: the item's MIME content through the shared parser (:func:`adapters.mime.
  parse_mail`), so a mail seen through EWS and through IMAP has one dedupe key. Exchange
  categories become the record's flags. An item marked Private (Sensitivity), or with
  one of the account's private categories, is left out: it is never logged.
- **Calendar**: the item's MIME content, which Exchange gives as an iCalendar object
  (the series master with its exceptions and EXDATEs, Windows time-zone names), through
  the shared parser (:func:`adapters.ical.parse_calendar`): the same dedupe keys
  (``ical:<UID>/<RECURRENCE-ID>``) as the CalDAV adapter, expanded in the same window.
- **Contacts**: from the contact's properties (display name, names, company, job title,
  e-mail addresses, phone numbers, business or first postal address, web page,
  categories, notes) into a :class:`ContactRecord`.

Which items each kind fetches and with which fields is said here (``*_FIELDS``), so
the adapter asks exactly for them.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from adapters.errors import ItemError
from adapters.ical import parse_calendar
from adapters.mime import parse_mail
from adapters.records import ContactRecord, EventRecord, ItemFailure, MailRecord

#: what SyncFolderItems returns with each change (enough to decide whether to fetch)
SYNC_FIELDS = {
    "mail": ("item_class", "sensitivity", "categories", "datetime_received"),
    "calendar": ("item_class", "sensitivity"),
    "contacts": ("item_class",),
}
#: what GetItem fetches for the items to store
FETCH_FIELDS = {
    "mail": ("mime_content", "sensitivity", "categories", "datetime_received"),
    "calendar": ("mime_content", "sensitivity", "categories", "is_cancelled"),
    "contacts": (
        "display_name", "given_name", "surname", "company_name", "job_title",
        "email_addresses", "phone_numbers", "physical_addresses", "business_homepage",
        "categories", "last_modified_time", "has_picture",
    ),
}  # fmt: skip
#: item classes each kind stores (a meeting request in the inbox is mail)
ITEM_CLASSES = {
    "mail": ("IPM.Note", "IPM.Schedule.Meeting", "IPM.Post", "REPORT.IPM.Note"),
    "calendar": ("IPM.Appointment",),
    "contacts": ("IPM.Contact",),
}
PRIVATE = "Private"
#: Exchange's phone number keys, as the vCard labels the CRM knows
PHONE_LABELS = {
    "BusinessPhone": "work", "BusinessPhone2": "work", "CompanyMainPhone": "work",
    "MobilePhone": "mobile", "CarPhone": "mobile", "HomePhone": "home", "HomePhone2": "home",
    "BusinessFax": "fax", "HomeFax": "fax", "OtherFax": "fax", "Pager": "pager",
}  # fmt: skip


def wanted(kind: str, item: Any, private_categories: frozenset[str]) -> bool:
    """Whether a created or changed item is one to store: of the kind's item classes, and
    not private (Sensitivity Private, or a private category)."""
    item_class = getattr(item, "item_class", None) or ""
    if not item_class.startswith(ITEM_CLASSES[kind]):
        return False
    return not is_private(kind, item, private_categories)


def too_old(kind: str, item: Any, since: datetime | None) -> bool:
    """Mail received before ``since`` (by the DateTimeReceived SyncFolderItems gave with
    the change): left out without fetching its MIME content."""
    if kind != "mail" or since is None:
        return False
    received = getattr(item, "datetime_received", None)
    return isinstance(received, datetime) and _utc(received) < since


def is_private(kind: str, item: Any, private_categories: frozenset[str]) -> bool:
    """Mail marked Private or with a private category. (A private meeting is stored, shown
    as "Private meeting" and never logged, as for CalDAV: its CLASS says so.)"""
    if kind != "mail":
        return False
    if getattr(item, "sensitivity", None) == PRIVATE:
        return True
    categories = {c.casefold() for c in getattr(item, "categories", None) or ()}
    return bool(categories & private_categories)


def mail_record(item: Any, remote_id: str) -> MailRecord:
    """A fetched message as a mail record; :class:`ItemError` when it cannot be read."""
    raw = _mime(item, remote_id)
    received = getattr(item, "datetime_received", None)
    return parse_mail(
        raw,
        remote_id=remote_id,
        received_at=_utc(received) if isinstance(received, datetime) else None,
        flags=tuple(getattr(item, "categories", None) or ()),
    )


def event_records(
    item: Any, remote_id: str, window: tuple[datetime, datetime]
) -> tuple[list[EventRecord], list[ItemFailure]]:
    """A fetched calendar item's occurrences within ``window``."""
    raw = _mime(item, remote_id)
    records, failures = parse_calendar(raw, remote_id, window=window)
    private = getattr(item, "sensitivity", None) in ("Private", "Confidential")
    cancelled = bool(getattr(item, "is_cancelled", False))
    if private or cancelled:
        # What Exchange keeps in the item's properties wins over its iCalendar export:
        # Sensitivity (the export usually says CLASS:PRIVATE too) and IsCancelled (a
        # meeting the organizer cancelled stays in the attendees' calendars).
        records = [_flagged(r, private, cancelled) for r in records]
    return records, failures


def contact_record(item: Any, remote_id: str) -> ContactRecord:
    """A fetched contact as a contact record."""
    emails = tuple(
        ("work" if e.label == "EmailAddress1" else "other", e.email.strip())
        for e in sorted(getattr(item, "email_addresses", None) or (), key=lambda e: e.label)
        if getattr(e, "email", None)
    )
    phones = tuple(
        (PHONE_LABELS.get(p.label, "other"), p.phone_number.strip())
        for p in getattr(item, "phone_numbers", None) or ()
        if getattr(p, "phone_number", None)
    )
    address = _address(getattr(item, "physical_addresses", None) or ())
    company = getattr(item, "company_name", None) or ""
    name = getattr(item, "display_name", None) or company or (emails[0][1] if emails else "")
    if not name:
        raise ItemError(
            f"contact {remote_id}: no name, company or e-mail address", remote_id=remote_id
        )
    modified = getattr(item, "last_modified_time", None)
    return ContactRecord(
        remote_id=remote_id,
        uid=f"ews:{remote_id}",
        kind="person"
        if (getattr(item, "given_name", None) or getattr(item, "surname", None) or not company)
        else "organization",
        name=name,
        given_name=getattr(item, "given_name", None) or "",
        family_name=getattr(item, "surname", None) or "",
        organization=company,
        title=getattr(item, "job_title", None) or "",
        emails=emails,
        phones=phones,
        website=getattr(item, "business_homepage", None) or "",
        street=address.get("street", ""),
        city=address.get("city", ""),
        region=address.get("state", ""),
        postal_code=address.get("zipcode", ""),
        country=address.get("country", ""),
        categories=tuple(getattr(item, "categories", None) or ()),
        has_photo=bool(getattr(item, "has_picture", False)),
        revision=_utc(modified) if isinstance(modified, datetime) else None,
    )


def _address(entries: Any) -> dict[str, str]:
    """The business address, else the first one."""
    ordered = sorted(entries, key=lambda a: (a.label != "Business", a.label))
    if not ordered:
        return {}
    first = ordered[0]
    fields = ("street", "city", "state", "zipcode", "country")
    return {f: str(getattr(first, f, None) or "").strip() for f in fields}


def _mime(item: Any, remote_id: str) -> bytes:
    raw = getattr(item, "mime_content", None)
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    if not raw:
        raise ItemError(f"item {remote_id}: the server sent no MIME content", remote_id=remote_id)
    return bytes(raw)


def _flagged(record: EventRecord, private: bool, cancelled: bool) -> EventRecord:
    return replace(
        record,
        private=record.private or private,
        status="CANCELLED" if cancelled else record.status,
    )


def _utc(value: datetime) -> datetime:
    """A plain UTC datetime (exchangelib's EWSDateTime accepts only its own zones)."""
    if value.tzinfo is None:
        return datetime(*value.timetuple()[:6], value.microsecond, tzinfo=UTC)
    return datetime.fromtimestamp(value.timestamp(), UTC)
