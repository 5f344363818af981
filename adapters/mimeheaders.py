"""Header fields of a mail message: addresses, message ids and the date.

Helpers of :mod:`adapters.mime`. ``headers`` is a message's header fields by
lower-case name, values as written (8-bit bytes decoded, folds kept). Nothing
here raises on a malformed field: problems are appended to ``defects``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import getaddresses, parsedate_to_datetime

from adapters.mimetext import collapse, decode_header
from adapters.records import Address

Headers = dict[str, list[str]]

_FUTURE_SLACK = timedelta(days=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MSG_ID = re.compile(r"<([^<>]*)>")
# One entry of a plain address list: "Name" <a@b>, Name <a@b>, <a@b> or a@b, then a
# comma or the end. An unquoted name may hold an "@": in "alice@example.com
# <bob@example.com>" (a spoofing pattern) the address is bob's, as mail clients show it.
_SIMPLE_ADDRESS = re.compile(
    r'\s*(?:(?:"(?P<quoted>[^"\\]*)"|(?P<plain>[^",;:<>()\\\[\]]*?))\s*'
    r'<(?P<angle>[^<>\s",;:()\\\[\]]*)>|(?P<bare>[^<>\s",;:()\\\[\]]+))\s*(?:,|$)'
)
_COMMENT = re.compile(r"\([^()]*\)")  # RFC 5322 section 3.2.2


def first(headers: Headers, name: str) -> str:
    """The first ``name`` field's value, or ""."""
    values = headers.get(name)
    return values[0] if values else ""


# --- addresses and message ids ------------------------------------------------------


def addresses(headers: Headers, name: str, defects: list[str]) -> tuple[Address, ...]:
    """The addresses in every ``name`` header; entries without an "@" are dropped."""
    values = headers.get(name)
    if not values:
        return ()
    # Split first and decode the names after (RFC 2047 section 5): an encoded
    # name may hide a comma or a quote.
    value = collapse(", ".join(values))
    found = _address_list(value, name, defects)
    if not found and "=?" in value:
        # A whole address inside an encoded word: forbidden, and seen in spam.
        found = _address_list(collapse(decode_header(value, name, defects)), name, defects)
    return tuple(found)


def _address_list(value: str, label: str, defects: list[str]) -> list[Address]:
    found: dict[str, Address] = {}
    for name, email in _split_addresses(value, label, defects):
        email = "".join(email.split())
        if "@" in email and email.lower() not in found:
            text = collapse(decode_header(name, label, defects)) if name else ""
            found[email.lower()] = Address(email=email, name=text)
    return list(found.values())


def _split_addresses(value: str, label: str, defects: list[str]) -> list[tuple[str, str]]:
    """(name, address) pairs: plain lists read by one regular expression, anything
    else (groups, comments, quoted local parts) by the stdlib's RFC 5322 parser."""
    pairs: list[tuple[str, str]] = []
    pos = 0
    while pos < len(value):
        entry = _SIMPLE_ADDRESS.match(value, pos)
        if entry is None:
            return _full_parse(value, label, defects)
        pairs.append(
            (entry["quoted"] or entry["plain"] or "", entry["angle"] or entry["bare"] or "")
        )
        pos = entry.end()
    return pairs


def _full_parse(value: str, label: str, defects: list[str]) -> list[tuple[str, str]]:
    try:
        return getaddresses([value])
    except Exception:  # deeply nested quotes and comments hit RecursionError, say
        defects.append(f"{label}: unreadable address list")
        return []


def clean_message_id(value: str) -> str | None:
    """A msg-id without its angle brackets and white space (RFC 5322 section 3.6.4)."""
    match = _MSG_ID.search(value)
    candidate = match.group(1) if match and match.group(1).strip() else value
    return "".join(candidate.split()).strip("<>") or None


def message_ids(value: str) -> list[str]:
    """The msg-ids in In-Reply-To or References, in order; tolerant of garbage."""
    ids = ["".join(bracketed.split()) for bracketed in _MSG_ID.findall(value)]
    if not any(ids):
        tokens = value.split()
        ids = [t for t in tokens if "@" in t] or (tokens if len(tokens) == 1 else [])
        ids = [t.strip("<>,;") for t in ids]
    return list(dict.fromkeys(i for i in ids if i))


# --- dates ----------------------------------------------------------------------------


def occurred_at(headers: Headers, received_at: datetime | None, defects: list[str]) -> datetime:
    """The Date header in UTC; the delivery time where it is missing or implausible."""
    received = _as_utc(received_at) if received_at is not None else None
    value = collapse(first(headers, "date"))
    if not value:
        defects.append("date: missing")
        return _fallback_time(received, headers, defects)
    parsed = _parse_date(value)
    if parsed is None:
        defects.append(f"date: unreadable {value[:60]!r}")
        return _fallback_time(received, headers, defects)
    if parsed.tzinfo is None:
        defects.append("date: no time zone, assumed UTC")
    parsed = _as_utc(parsed)
    if not _plausible(parsed):
        defects.append(f"date: out of range {value[:60]!r}")
        return _fallback_time(received, headers, defects, last_resort=parsed)
    return parsed


def _parse_date(value: str) -> datetime | None:
    try:
        parsed = parsedate_to_datetime(_COMMENT.sub(" ", value))
        _as_utc(parsed)  # years near 1 or 9999 overflow here
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return parsed


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _plausible(moment: datetime) -> bool:
    return _EPOCH <= moment <= datetime.now(UTC) + _FUTURE_SLACK


def _fallback_time(
    received: datetime | None,
    headers: Headers,
    defects: list[str],
    last_resort: datetime | None = None,
) -> datetime:
    """The store's delivery time; else the newest Received header's timestamp
    (RFC 5321 section 4.4: it ends with "; date-time"); else now."""
    if received is not None:
        return received
    for trace in headers.get("received", [])[:1]:
        stamp = _parse_date(collapse(trace.rpartition(";")[2]))
        if stamp is not None and stamp.tzinfo is not None and _plausible(_as_utc(stamp)):
            defects.append("date: used the Received header's time")
            return _as_utc(stamp)
    if last_resort is not None:
        return last_resort
    defects.append("date: no usable time, used the time of parsing")
    return datetime.now(UTC)
