"""Graph's JSON resources into crmsync's records, with the same keys as EWS and CalDAV give.

- **Mail**: the message's MIME (``/$value``) through the shared parser, so the same mail
  seen through Graph, EWS or IMAP has one dedupe key. Categories become flags. A
  message whose PidTagSensitivity (the extended property ``Integer 0x36``) is Private,
  or with one of the account's private categories, is never fetched.
- **Calendar**: calendarView delta hands out single events, occurrences and exceptions
  (never series masters), each with its own id. The dedupe key is the one the iCalendar
  parser gives the same meeting read from CalDAV, or from Exchange through EWS:
  ``ical:<UID>`` and, for an occurrence, ``/<RECURRENCE-ID in UTC>`` (``YYYYMMDD`` for
  an all-day one). The UID is Exchange's: Graph's ``iCalUId`` of an occurrence carries
  the occurrence's date inside the Outlook global object id; zeroed, it is the series'
  id, the UID Exchange writes into the iCalendar it exports. A meeting that came from
  outside (a ``vCal-Uid`` id) gives back the UID its organizer wrote ([MS-OXOCAL]
  2.2.1.27, PidLidGlobalObjectId).
- **Contacts**: the contact's properties into a :class:`ContactRecord`.
"""

from __future__ import annotations

import binascii
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from adapters.errors import ItemError
from adapters.mime import parse_mail
from adapters.mimetext import html_to_text
from adapters.records import Attendee, ContactRecord, EventRecord, MailRecord
from adapters.windowszones import iana_name

#: PidTagSensitivity, as Graph names the extended property
SENSITIVITY = "Integer 0x36"
PRIVATE_SENSITIVITY = "2"
#: what a mail delta round asks for (enough to decide whether to fetch the MIME)
MAIL_SELECT = "id,categories,receivedDateTime,isDraft"
MAIL_EXPAND = f"singleValueExtendedProperties($filter=id eq '{SENSITIVITY}')"
CONTACT_SELECT = (
    "id,displayName,givenName,surname,companyName,jobTitle,emailAddresses,businessPhones,"
    "homePhones,mobilePhone,businessAddress,homeAddress,otherAddress,businessHomePage,"
    "categories,personalNotes,lastModifiedDateTime"
)
#: the Outlook global object id's class id (hex), before the occurrence's date
GOID_CLASS = "040000008200E00074C5B7101A82E008"
_VCAL_UID = b"vCal-Uid\x01\x00\x00\x00"
RESPONSES = {
    "accepted": "ACCEPTED",
    "declined": "DECLINED",
    "tentativelyaccepted": "TENTATIVE",
    "notresponded": "NEEDS-ACTION",
    "none": "NEEDS-ACTION",
    "organizer": "ACCEPTED",
}
ROLES = {
    "required": "REQ-PARTICIPANT",
    "optional": "OPT-PARTICIPANT",
    "resource": "NON-PARTICIPANT",
}


def is_private_mail(item: dict[str, Any], private_categories: frozenset[str]) -> bool:
    """A message marked Private, or with one of the private categories."""
    for prop in item.get("singleValueExtendedProperties") or ():
        named = str(prop.get("id", "")).lower() == SENSITIVITY.lower()
        if named and str(prop.get("value", "")).strip() == PRIVATE_SENSITIVITY:
            return True
    categories = {str(c).casefold() for c in item.get("categories") or ()}
    return bool(categories & private_categories)


def mail_record(raw: bytes, item: dict[str, Any]) -> MailRecord:
    """A message's MIME as a mail record (the delta item gives id, time and categories)."""
    remote_id = str(item["id"])
    if not raw:
        raise ItemError(f"message {remote_id}: Graph sent no MIME content", remote_id=remote_id)
    return parse_mail(
        raw,
        remote_id=remote_id,
        received_at=parse_time(item.get("receivedDateTime")),
        flags=tuple(str(c) for c in item.get("categories") or ()),
    )


# -- calendar ------------------------------------------------------------------------------------


def event_record(item: dict[str, Any]) -> EventRecord | None:
    """One event or occurrence of calendarView delta as a record (None for a series
    master, which calendarView does not hand out anyway)."""
    remote_id = str(item.get("id") or "")
    kind = item.get("type") or "singleInstance"
    if kind == "seriesMaster":
        return None
    uid = series_uid(str(item.get("iCalUId") or ""))
    if not uid:
        raise ItemError(f"event {remote_id}: no iCalUId", remote_id=remote_id)
    all_day = bool(item.get("isAllDay"))
    starts, ends = _when(item.get("start"), remote_id), _when(item.get("end"), remote_id)
    if all_day:
        starts, ends = _midnight(starts), _midnight(ends)
    if ends < starts:
        ends = starts
    key, recurrence_id = f"ical:{uid}", None
    if kind in ("occurrence", "exception") or item.get("seriesMasterId"):
        recurrence_id = _original_start(item, remote_id)
        if all_day:
            local = _in_zone(recurrence_id, item.get("originalStartTimeZone"))
            recurrence_id = datetime(local.year, local.month, local.day, tzinfo=UTC)
            key += "/" + recurrence_id.strftime("%Y%m%d")
        else:
            key += "/" + recurrence_id.strftime("%Y%m%dT%H%M%SZ")
    body = item.get("body") or {}
    text = str(body.get("content") or "")
    if str(body.get("contentType", "")).lower() == "html":
        text = html_to_text(text)
    location = item.get("location") or {}
    organizer = _person((item.get("organizer") or {}).get("emailAddress"), "CHAIR", "ACCEPTED")
    return EventRecord(
        remote_id=remote_id,
        dedupe_key=key,
        uid=uid,
        recurrence_id=recurrence_id,
        summary=str(item.get("subject") or ""),
        location=str(location.get("displayName") or ""),
        description=text.strip(),
        starts_at=starts,
        ends_at=ends,
        all_day=all_day,
        status="CANCELLED" if item.get("isCancelled") else _status(item),
        private=str(item.get("sensitivity") or "").lower() in ("private", "confidential"),
        organizer=organizer,
        attendees=tuple(
            a
            for a in (
                _person(
                    entry.get("emailAddress"),
                    ROLES.get(str(entry.get("type") or "").lower(), ""),
                    RESPONSES.get(str((entry.get("status") or {}).get("response")).lower(), ""),
                )
                for entry in item.get("attendees") or ()
            )
            if a is not None
        ),
        last_modified=parse_time(item.get("lastModifiedDateTime")),
    )


def series_uid(ical_uid: str) -> str:
    """The UID Exchange exports for the series an ``iCalUId`` belongs to."""
    value = ical_uid.strip()
    if not value.upper().startswith(GOID_CLASS) or len(value) < 80:
        return value
    try:
        data = binascii.unhexlify(value)
    except (binascii.Error, ValueError):
        return value
    payload = data[40:]
    if payload.startswith(_VCAL_UID):
        embedded = payload[len(_VCAL_UID) :].split(b"\x00", 1)[0]
        try:
            return embedded.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return (value[:32] + "00000000" + value[40:]).upper()


def _status(item: dict[str, Any]) -> str:
    show_as = str(item.get("showAs") or "").lower()
    return "TENTATIVE" if show_as == "tentative" else "CONFIRMED"


def _person(address: Any, role: str, status: str) -> Attendee | None:
    if not isinstance(address, dict) or not address.get("address"):
        return None
    email = str(address["address"]).strip()
    name = str(address.get("name") or "").strip()
    return Attendee(email=email, name="" if name == email else name, role=role, status=status)


def _when(value: Any, remote_id: str) -> datetime:
    """A dateTimeTimeZone as UTC (Windows zone names mapped to IANA)."""
    if not isinstance(value, dict) or not value.get("dateTime"):
        raise ItemError(f"event {remote_id}: no start or end", remote_id=remote_id)
    text = str(value["dateTime"])
    try:
        naive = datetime.fromisoformat(_seven_digits(text))
    except ValueError:
        raise ItemError(
            f"event {remote_id}: unreadable time {text!r}", remote_id=remote_id
        ) from None
    if naive.tzinfo is not None:
        return naive.astimezone(UTC)
    return naive.replace(tzinfo=_zone(value.get("timeZone"))).astimezone(UTC)


def _original_start(item: dict[str, Any], remote_id: str) -> datetime:
    found = parse_time(item.get("originalStart"))
    if found is None:
        raise ItemError(f"occurrence {remote_id}: no originalStart", remote_id=remote_id)
    return found


def _in_zone(moment: datetime, zone_name: Any) -> datetime:
    return moment.astimezone(_zone(zone_name))


def _zone(name: Any) -> Any:
    text = str(name or "UTC")
    if text.upper() in ("UTC", "GMT", "Z", "TZONE://MICROSOFT/UTC"):
        return UTC
    found = iana_name(text)
    if found is None:
        return UTC
    try:
        return ZoneInfo(found[0])
    except ZoneInfoNotFoundError:
        return UTC


def _midnight(moment: datetime) -> datetime:
    """An all-day event's day as midnight UTC (as the iCalendar parser gives it)."""
    return datetime(moment.year, moment.month, moment.day, tzinfo=UTC)


def _seven_digits(text: str) -> str:
    """Graph writes seven fraction digits ("2026-11-02T09:00:00.0000000"); Python reads six."""
    head, dot, frac = text.partition(".")
    if not dot:
        return text
    digits = "".join(c for c in frac if c.isdigit())
    rest = frac[len(digits) :]
    return f"{head}.{digits[:6]}{rest}"


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 UTC time as Graph writes it, or None."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(_seven_digits(str(value)).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


# -- contacts ------------------------------------------------------------------------------------


def contact_record(item: dict[str, Any]) -> ContactRecord:
    """A contact resource as a contact record."""
    remote_id = str(item.get("id") or "")
    emails = tuple(
        ("work" if n == 0 else "other", str(e.get("address")).strip())
        for n, e in enumerate(item.get("emailAddresses") or ())
        if isinstance(e, dict) and e.get("address")
    )
    phones = tuple(
        [("work", str(p).strip()) for p in item.get("businessPhones") or () if p]
        + ([("mobile", str(item["mobilePhone"]).strip())] if item.get("mobilePhone") else [])
        + [("home", str(p).strip()) for p in item.get("homePhones") or () if p]
    )
    address = next(
        (
            a
            for a in (item.get(k) for k in ("businessAddress", "homeAddress", "otherAddress"))
            if isinstance(a, dict) and any(a.values())
        ),
        {},
    )
    company = str(item.get("companyName") or "")
    given, family = str(item.get("givenName") or ""), str(item.get("surname") or "")
    name = str(item.get("displayName") or "") or company or (emails[0][1] if emails else "")
    if not name:
        raise ItemError(
            f"contact {remote_id}: no name, company or e-mail address", remote_id=remote_id
        )
    return ContactRecord(
        remote_id=remote_id,
        uid=f"graph:{remote_id}",
        kind="person" if (given or family or not company) else "organization",
        name=name,
        given_name=given,
        family_name=family,
        organization=company,
        title=str(item.get("jobTitle") or ""),
        notes=str(item.get("personalNotes") or ""),
        emails=emails,
        phones=phones,
        website=str(item.get("businessHomePage") or ""),
        street=str(address.get("street") or ""),
        city=str(address.get("city") or ""),
        region=str(address.get("state") or ""),
        postal_code=str(address.get("postalCode") or ""),
        country=str(address.get("countryOrRegion") or ""),
        categories=tuple(str(c) for c in item.get("categories") or ()),
        revision=parse_time(item.get("lastModifiedDateTime")),
    )


__all__ = [
    "CONTACT_SELECT",
    "MAIL_EXPAND",
    "MAIL_SELECT",
    "contact_record",
    "event_record",
    "is_private_mail",
    "mail_record",
    "parse_time",
    "series_uid",
]
