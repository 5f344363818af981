"""Inline forwards: the original mail inside a forwarded mail's plain text.

Staff forward customer mail to the logging mailbox. An attached forward
(message/rfc822) is unwrapped by the MIME parser; this module reads the *inline*
forwards, where the mail client wrote the original's headers as text above its
body. Each client writes them its own way, in the user's language:

* Outlook (Windows, new Outlook, OWA): ``-----Original Message-----``,
  ``-----Ursprüngliche Nachricht-----`` or a line of underscores, then
  ``From:/Von:``, ``Sent:/Gesendet:``, ``To:/An:``, ``Cc:``, ``Subject:/Betreff:``;
  from HTML the names may be bold (``*From:*``), and sometimes there is no
  separator at all, only the ``From:``/``Sent:`` pair.
* Thunderbird: ``-------- Forwarded Message --------`` with an RFC 5322 date.
* Apple Mail: ``Begin forwarded message:``, headers often quoted with ``> ``.
* Gmail: ``---------- Forwarded message ---------``, German Gmail mixing
  ``Von:`` with ``Date:``/``Subject:``/``To:``.

Only text is read here: no MIME, no database. Nothing in this module raises on
odd input; what cannot be read is ``None`` (the forward, or its date), because a
mail that is not understood is still logged, just as itself.

Every scan is linear in the text's length: the header block after a marker is
read for at most :data:`_MAX_BLOCK_LINES` lines, and no regular expression here
can backtrack over more than one line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_tz

from dateutil import parser as dateparser

from adapters.records import Address

__all__ = ["InlineForward", "filing_hint", "find_inline_forward"]


@dataclass(frozen=True)
class InlineForward:
    """The forwarded original as its client wrote it, and the forwarder's note above it."""

    sender: Address
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    occurred_at: datetime | None  # aware UTC; None when the date could not be read
    subject: str
    body: str  # the forwarded original's text (after the header block)
    note: str  # what the forwarder wrote above the forward (stripped)


# The header names each client writes (lower-case, English and German), by meaning.
_HEADER_NAMES: dict[str, str] = {
    "from": "from",
    "von": "from",
    "sent": "date",
    "gesendet": "date",
    "date": "date",
    "datum": "date",
    "to": "to",
    "an": "to",
    "cc": "cc",
    "kopie": "cc",
    "kopie (cc)": "cc",
    "bcc": "bcc",
    "blindkopie": "bcc",
    "subject": "subject",
    "betreff": "subject",
    "reply-to": "reply-to",
    "antwort an": "reply-to",
    "importance": "other",
    "wichtigkeit": "other",
    "priority": "other",
    "priorität": "other",
    "attachments": "other",
    "anlagen": "other",
}
_LONGEST_NAME = max(len(name) for name in _HEADER_NAMES)
# The headers whose values wrap onto the next line when long.
_WRAPPING = ("from", "to", "cc", "bcc", "reply-to", "subject")

# Lines that open a forward. Anchored at both ends and without nested repetition, so
# a line is matched in one pass however it is built.
_DASHED_MARKER = re.compile(
    r"-{2,}\s*(?:original message|ursprüngliche nachricht|forwarded message"
    r"|weitergeleitete nachricht)\s*-*"
)
_APPLE_MARKERS = ("begin forwarded message:", "anfang der weitergeleiteten nachricht:")
_UNDERSCORES = re.compile(r"_{10,}")

#: How many lines a header block may span (with continuation lines of a long To list).
_MAX_BLOCK_LINES = 200
#: How long a note's first line may be to be read as a filing hint.
_MAX_HINT_LINE = 200


def find_inline_forward(text: str, *, sent_at: datetime) -> InlineForward | None:
    """The first forwarded original inside a plain-text body, or None.

    ``sent_at`` is the forwarding mail's own Date: Outlook and Gmail write the
    original's date in local time without a zone, and the forwarder's zone is the
    best guess for it. A body whose first quoted part is a reply (``On ... wrote:``,
    ``Am ... schrieb ...:``) is not a forward, even when the quote holds one: what
    was logged then is the reply.
    """
    try:
        return _find(text, sent_at)
    except Exception:  # never let one odd mail stop the logging of the rest
        return None


def _find(text: str, sent_at: datetime) -> InlineForward | None:
    lines = _normalize(text).split("\n")
    cleaned = [_clean(line) for line in lines]
    for i, line in enumerate(cleaned):
        if _is_attribution(line) or (i and _is_attribution(f"{cleaned[i - 1]} {line}")):
            return None
        if _is_marker(line.lower()):
            found = _read_block(lines, cleaned, i + 1, sent_at, bare=False)
        elif i + 1 < len(cleaned) and _is_outlook_pair(line, cleaned[i + 1]):
            found = _read_block(lines, cleaned, i, sent_at, bare=True)
        else:
            continue
        if found is not None:
            note = "\n".join(above.rstrip() for above in lines[:i]).strip()
            return replace(found, note=note)
    return None


def _normalize(text: str) -> str:
    """Line breaks as ``\\n``; the odd spaces of HTML-to-text converters as plain spaces."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    for space in ("\u00a0", "\u202f", "\u2007", "\t"):
        text = text.replace(space, " ")
    for invisible in ("\ufeff", "\u200b"):
        text = text.replace(invisible, "")
    return text


def _quote_depth(line: str) -> tuple[int, str]:
    """How many ``>`` quote markers open the line, and the line without them."""
    depth = 0
    rest = line.lstrip(" ")
    while rest.startswith(">"):
        depth += 1
        rest = rest[1:].lstrip(" ")
    return depth, rest


def _clean(line: str) -> str:
    """A line without quote markers and surrounding whitespace, for recognising headers."""
    return _quote_depth(line)[1].strip()


def _is_marker(lower: str) -> bool:
    return (
        lower in _APPLE_MARKERS
        or _UNDERSCORES.fullmatch(lower) is not None
        or (lower.startswith("--") and _DASHED_MARKER.fullmatch(lower) is not None)
    )


def _is_attribution(line: str) -> bool:
    """``On <date>, <name> wrote:`` / ``Am <date> schrieb <name>:``, a reply's quote header."""
    lower = line.lower()
    if lower.startswith("on ") and lower.endswith("wrote:"):
        return True
    return lower.startswith("am ") and " schrieb " in lower and lower.endswith(":")


def _split_header(line: str) -> tuple[str, str] | None:
    """``(meaning, value)`` of a header line such as ``*Von:* Jana <j@x>``, else None."""
    colon = line.find(":", 0, _LONGEST_NAME + 6)
    if colon <= 0:
        return None
    name = " ".join(line[:colon].strip(" *").lower().split())
    kind = _HEADER_NAMES.get(name)
    if kind is None:
        return None
    return kind, line[colon + 1 :].strip(" *")


def _header_kind(line: str) -> str | None:
    split = _split_header(line)
    return None if split is None else split[0]


def _is_outlook_pair(line: str, following: str) -> bool:
    """``From:`` directly followed by ``Sent:``: Outlook's header block without a separator."""
    if _header_kind(line) != "from" or _header_kind(following) != "date":
        return False
    return following[: following.find(":")].strip(" *").lower() in ("sent", "gesendet")


def _read_block(
    lines: list[str], cleaned: list[str], start: int, sent_at: datetime, *, bare: bool
) -> InlineForward | None:
    """The header block at ``start`` (blank lines before it skipped) and the body after it.

    A value may wrap onto following lines (a long To list); a blank line ends the block
    unless another header follows it (converted HTML gives each header a paragraph).
    """
    n = len(lines)
    i = start
    while i < n and not cleaned[i] and i - start < _MAX_BLOCK_LINES:
        i += 1
    depth = _quote_depth(lines[i])[0] if i < n else 0
    block_end = i + _MAX_BLOCK_LINES
    headers: dict[str, list[str]] = {}
    last: str | None = None
    while i < n and i < block_end:
        line = cleaned[i]
        split = _split_header(line) if line else None
        if split is not None and split[0] not in headers:
            last = split[0]
            headers[last] = [split[1]]
        elif split is None and line and last in _WRAPPING:
            headers[last].append(line)
        elif not line and headers:
            following = i + 1
            while following < n and following < block_end and not cleaned[following]:
                following += 1
            kind = _header_kind(cleaned[following]) if following < n else None
            if kind is None or kind in headers:
                break
            i = following
            continue
        else:
            break
        i += 1
    values = {kind: " ".join(parts) for kind, parts in headers.items()}
    if "from" not in values:
        return None
    if bare and not ("subject" in values and "to" in values):
        return None
    senders = parse_addresses(values["from"])
    if not senders:
        return None  # a name without an address cannot be matched to anyone
    body = "\n".join(_strip_quotes(line, depth) for line in lines[i:])
    return InlineForward(
        sender=senders[0],
        to=parse_addresses(values.get("to", "")),
        cc=parse_addresses(values.get("cc", "")),
        occurred_at=parse_date(values.get("date", ""), sent_at=sent_at),
        subject=" ".join(values.get("subject", "").split()),
        body=body.strip("\n").rstrip(),
        note="",
    )


def _strip_quotes(line: str, depth: int) -> str:
    """The line without the ``depth`` quote markers the forwarded block was quoted with."""
    rest = line
    for _ in range(depth):
        stripped = rest.lstrip(" ")
        if not stripped.startswith(">"):
            break
        rest = stripped[1:]
        if rest.startswith(" "):
            rest = rest[1:]
    return rest.rstrip()


# --- addresses -------------------------------------------------------------------

_ADDR_SPEC = re.compile(r"[^\s<>()\[\]@,;:\"]{1,64}@[A-Za-z0-9\-.]{1,253}")


def parse_addresses(value: str) -> tuple[Address, ...]:
    """The mailboxes of an address header as a mail client wrote it in a forward.

    Outlook separates with ``;`` and leaves ``Petersen, Jana <j@x>`` unquoted, so the
    list is split on ``;`` and ``,`` outside quotes and angle brackets, and a piece
    without an address is joined to the next one (it was part of a name). Outlook's
    ``Name [mailto:j@x]`` and HTML-converted ``j@x<mailto:j@x>`` are read too. Names
    without any address (Outlook's internal recipients) are dropped: they cannot be
    matched to anyone.
    """
    value = re.sub(r"[\[<]\s*mailto:", "<", value, flags=re.IGNORECASE).replace("]", ">")
    pieces = _split_outside(value)
    merged: list[str] = []
    pending = ""
    for piece, separator in pieces:
        text = f"{pending}{piece}" if pending else piece
        if "@" in text:
            merged.append(text)
            pending = ""
        elif separator == "," and text.strip():
            pending = f"{text},"
        else:
            pending = ""
    addresses: list[Address] = []
    for item in merged:
        address = _one_address(item)
        if address is not None and address not in addresses:
            addresses.append(address)
    return tuple(addresses)


def _split_outside(value: str) -> list[tuple[str, str]]:
    """``value`` cut at ``,``/``;`` outside quotes and ``<...>``: (piece, separator) pairs."""
    pieces: list[tuple[str, str]] = []
    current: list[str] = []
    quoted = False
    angle = False
    for char in value:
        if char == '"':
            quoted = not quoted
        elif char == "<" and not quoted:
            angle = True
        elif char == ">" and not quoted:
            angle = False
        elif char in ",;" and not quoted and not angle:
            pieces.append(("".join(current), char))
            current = []
            continue
        current.append(char)
    pieces.append(("".join(current), ""))
    return pieces


def _one_address(item: str) -> Address | None:
    item = item.strip()
    open_at = item.rfind("<")
    close_at = item.find(">", open_at + 1) if open_at >= 0 else -1
    if open_at >= 0 and close_at > open_at:
        email = item[open_at + 1 : close_at].strip()
        name = item[:open_at].strip()
    else:
        match = _ADDR_SPEC.search(item)
        if match is None:
            return None
        email = match.group(0)
        name = (item[: match.start()] + item[match.end() :]).strip(" ()")
    email = email.strip(" .'\"")
    if _ADDR_SPEC.fullmatch(email) is None:
        return None
    name = name.strip()
    if len(name) >= 2 and name[0] == name[-1] and name[0] in "\"'":
        name = name[1:-1].replace('\\"', '"').strip()
    if name.lower() == email.lower():
        name = ""  # "j@x <j@x>", from an HTML mailto link
    return Address(email=email, name=" ".join(name.split()))


# --- dates -----------------------------------------------------------------------

_GERMAN_MONTHS = {
    "januar": "january",
    "jänner": "january",
    "februar": "february",
    "märz": "march",
    "maerz": "march",
    "mär": "mar",
    "mrz": "mar",
    "april": "april",
    "mai": "may",
    "juni": "june",
    "juli": "july",
    "oktober": "october",
    "okt": "oct",
    "dezember": "december",
    "dez": "dec",
}
_WEEKDAYS = {
    "montag",
    "dienstag",
    "mittwoch",
    "donnerstag",
    "freitag",
    "samstag",
    "sonnabend",
    "sonntag",
    "mo",
    "di",
    "mi",
    "do",
    "fr",
    "sa",
    "so",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "mon",
    "tue",
    "tues",
    "wed",
    "thu",
    "thur",
    "thurs",
    "fri",
    "sat",
    "sun",
}
_FILLERS = {"at", "um", "uhr", "à", "den"}
_HOUR = 3600
# Zone abbreviations mail clients write, with their UTC offsets in seconds.
_ZONES: dict[str, int] = {
    "UTC": 0,
    "UT": 0,
    "GMT": 0,
    "Z": 0,
    "WET": 0,
    "WEST": _HOUR,
    "BST": _HOUR,
    "CET": _HOUR,
    "MEZ": _HOUR,
    "CEST": 2 * _HOUR,
    "MESZ": 2 * _HOUR,
    "EET": 2 * _HOUR,
    "OEZ": 2 * _HOUR,
    "EEST": 3 * _HOUR,
    "OESZ": 3 * _HOUR,
    "MSK": 3 * _HOUR,
    "IST": 5 * _HOUR + 1800,
    "SGT": 8 * _HOUR,
    "HKT": 8 * _HOUR,
    "JST": 9 * _HOUR,
    "KST": 9 * _HOUR,
    "AEST": 10 * _HOUR,
    "AEDT": 11 * _HOUR,
    "NZST": 12 * _HOUR,
    "NZDT": 13 * _HOUR,
    "AST": -4 * _HOUR,
    "ADT": -3 * _HOUR,
    "EST": -5 * _HOUR,
    "EDT": -4 * _HOUR,
    "CST": -6 * _HOUR,
    "CDT": -5 * _HOUR,
    "MST": -7 * _HOUR,
    "MDT": -6 * _HOUR,
    "PST": -8 * _HOUR,
    "PDT": -7 * _HOUR,
    "AKST": -9 * _HOUR,
    "AKDT": -8 * _HOUR,
    "HST": -10 * _HOUR,
}
_RFC_DATE = re.compile(r"(?:[A-Za-z]{3},\s*)?\d{1,2}\s+[A-Za-z]{3}\s+\d{4}\s+\d{1,2}:\d{2}")
# "GMT+1", "UTC+01:00", "(UTC+01:00) Amsterdam, Berlin, ...": dateutil would read the
# POSIX way round (GMT+1 as UTC-1), so these are turned into plain offsets first.
_GMT_OFFSET = re.compile(r"\(?\b(?:GMT|UTC)\s?([+-])(\d{1,2})(?::?(\d{2}))?\)?", re.IGNORECASE)
_YEAR = re.compile(r"\b\d{4}\b")
_TIME = re.compile(r"\d:\d\d")
_NUMERIC_GERMAN = re.compile(r"\b(\d{1,2})\.(\d{1,2})\.(\d{4}|\d{2})\b")


def parse_date(value: str, *, sent_at: datetime) -> datetime | None:
    """A forward's date as UTC, or None.

    RFC 5322 dates (Thunderbird) carry their offset. Outlook and Gmail write local
    time without a zone, so the forwarding mail's own offset is assumed. Apple Mail
    writes a zone abbreviation (CET, MEZ, PST, ...), honoured from a fixed table:
    dateutil would otherwise ignore the ones it does not know and read local time.
    """
    value = " ".join(value.split())
    if not value or len(value) > 200:
        return None
    try:
        parsed = _parse_date(value, sent_at)
    except (ValueError, OverflowError, TypeError, LookupError):
        return None
    if parsed is None or not 1900 <= parsed.year <= 2200:
        return None
    return parsed


def _parse_date(value: str, sent_at: datetime) -> datetime | None:
    if _RFC_DATE.match(value):
        parts = parsedate_tz(value)
        if parts is not None and parts[9] is not None:
            naive = datetime(*parts[:6])
            return (naive - timedelta(seconds=parts[9])).replace(tzinfo=UTC)
    if not (_YEAR.search(value) and _TIME.search(value)):
        return None  # dateutil fills what is missing from today: a guess, not a date
    offset: timedelta | None = None
    gmt = _GMT_OFFSET.search(value)
    if gmt is not None:
        sign = -1 if gmt.group(1) == "-" else 1
        offset = sign * timedelta(hours=int(gmt.group(2)), minutes=int(gmt.group(3) or 0))
        value = f"{value[: gmt.start()]} {value[gmt.end() :]}"
    numeric = _NUMERIC_GERMAN.search(value)
    if numeric is not None:  # 02.03.2026: day first, written as ISO so nothing is guessed
        day, month, year = numeric.groups()
        year = year if len(year) == 4 else f"20{year}"
        value = f"{value[: numeric.start()]} {year}-{month}-{day} {value[numeric.end() :]}"
    words: list[str] = []
    for token in value.replace(",", " ").split():
        bare = token.lower().rstrip(".")
        if bare in _WEEKDAYS or bare in _FILLERS:
            continue
        if bare in _GERMAN_MONTHS:
            words.append(_GERMAN_MONTHS[bare])
        elif token.endswith(".") and bare.isdigit():
            words.append(bare)  # "2. März"
        else:
            words.append(token)
    parsed = dateparser.parse(" ".join(words), tzinfos=_ZONES)
    if offset is not None:
        parsed = parsed.replace(tzinfo=timezone(offset))
    elif parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone(sent_at.utcoffset() or timedelta(0)))
    return parsed.astimezone(UTC)


# --- filing hints ----------------------------------------------------------------

_HINT_EMAIL = re.compile(r"[A-Za-z0-9._%+'\-]{1,64}@[A-Za-z0-9\-]{1,63}(?:\.[A-Za-z0-9\-]{1,63})+")
_HINT_REFERENCE = re.compile(
    r"(?:(?:ref|reference|referenz|kunde|kd|kundennr|customer|kunden-nr|nr)\.?\s*[:#]\s*\S.{0,38}"
    r"|#[A-Za-z0-9][A-Za-z0-9\-_/]{0,30}"
    r"|[A-Za-z]{1,5}-\d{1,10})",
    re.IGNORECASE,
)


def filing_hint(note: str) -> str | None:
    """The first line of the forwarder's note when it names a customer, else None.

    Staff file a forward under a customer by writing that customer on the first
    line: an e-mail address (returned lower-case, as addresses are matched) or a
    short reference such as ``#1234``, ``K-1234`` or ``ref: ACME`` (returned as
    written, whitespace collapsed). Anything longer is a message to a colleague,
    not a filing instruction, and gives None.
    """
    for raw in note.splitlines():
        line = " ".join(raw.replace("\u00a0", " ").split())
        if not line:
            continue
        if len(line) > _MAX_HINT_LINE:
            return None
        email = _HINT_EMAIL.search(line)
        if email is not None:
            return email.group(0).strip(".'-").lower()
        if _HINT_REFERENCE.fullmatch(line):
            return line
        return None
    return None
