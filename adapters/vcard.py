"""The one vCard parser every contact source uses: raw bytes in, ContactRecords out.

CardDAV address books, .vcf files, vdirs and ``crmsync import customers`` all hand
over a resource's raw bytes; :func:`parse_vcards` turns each card in them into an
:class:`adapters.records.ContactRecord`, and each card it cannot read into an
:class:`adapters.records.ItemFailure` with its reason, so one broken card costs
nothing but itself. :func:`read_vcards` gives the same, card by card, with the line
each starts at (what the customer import reports).

The content lines are read here, not by vobject: vobject decodes vCard 2.1
quoted-printable only after splitting structured values, knows one charset per
file, stops at the first odd line of a card (a broken PHOTO costs the card its
name) and counts lines its own way; these few rules, from vCard 2.1, RFC 2425/2426
(3.0) and RFC 6350 (4.0), are what contacts need, and take microseconds a card.

Framing and encodings
---------------------
- Cards run from ``BEGIN:VCARD`` to ``END:VCARD`` (a group prefix such as
  ``home.begin:vcard`` allowed). A 2.1 ``AGENT:`` card nested inside is skipped.
  A card without its END, a line in a card that is no content line
  (``***item1.ADR``), and a control character in a line (RFC 6350 section 3.3)
  make the card a failure. Text outside any card is a failure of its own; a
  resource without any card is one failure.
- Lines end in CRLF, LF or CR. Folded lines are unfolded (RFC 6350 section 3.2;
  in 2.1 the leading white space is kept). A 2.1 quoted-printable value ending
  in ``=`` continues on the next line (a soft line break), and a 2.1 BASE64 value
  may continue on unindented lines up to a blank line.
- Parameters may be quoted; 2.1's bare parameters (``TEL;CELL;PREF:``) are TYPEs,
  or the ENCODING when they name one (``QUOTED-PRINTABLE``, ``BASE64``).
- Values are UTF-8 unless a CHARSET parameter says otherwise; text that is not
  what it claims is read as Windows-1252 (Latin-1 where that fails too), noted
  as a defect. A UTF-16 resource (some Windows exports) is read as such.

What a card gives (values as written, escapes undone)
-----------------------------------------------------
- ``name`` from FN; without FN it is derived from N (given and family name),
  ORG, the first EMAIL or the first TEL, noted as a defect (``no FN: ...``). A
  card with none of these is a failure.
- ``given_name``, ``family_name`` from N; ``organization`` from ORG's first
  component; TITLE; ``notes`` from every NOTE; ``website`` from the first URL;
  ``categories`` from every CATEGORIES; ``revision`` from REV (as UTC).
- ``emails`` and ``phones``: every EMAIL and TEL as (label, value); a ``tel:``
  URI (4.0) is read as its number. Labels: ``mobile`` (CELL, iPhone), ``pager``,
  ``fax`` (FAX without VOICE), ``work``, ``home``, else ``other``; an Apple item
  group's ``X-ABLabel`` (``item1.EMAIL`` + ``item1.X-ABLabel:_$!<Work>!$_``) counts
  as a type.
- The address: the first ADR with TYPE work (or an Apple work label), else the
  first ADR; street (and the extended address after it), city, region, postal
  code, country.
- ``kind`` is ``organization`` for KIND:org (4.0), X-ABShowAs:COMPANY (Apple), or
  a card with an ORG and no person's name (FN missing or the same as ORG);
  else ``person``. Contact groups (KIND:group, Apple's
  X-ADDRESSBOOKSERVER-KIND:group) are no contacts and give nothing.
- ``has_photo`` when the card has a PHOTO, inline or a URI; the photo is never
  decoded or kept.
- ``uid`` from UID, as written; a card without one gets ``sha256:`` and a hash
  of its content lines (REV left out), noted as the defect ``no UID: ...``: the
  same card gives the same UID, an edited one another.

Every other property (BDAY, IMPP, Apple's and Google's X- properties, ...) is
read past. Nothing here raises for bad data.
"""

from __future__ import annotations

import binascii
import codecs
import dataclasses
import hashlib
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

from adapters.records import ContactRecord, ItemFailure

log = logging.getLogger(__name__)

# BEGIN:VCARD / END:VCARD, with an optional group prefix ("home.begin:vcard").
_MARKER = re.compile(r"(?:[\w-]+\.)?(BEGIN|END)[ \t]*:[ \t]*VCARD[ \t]*", re.IGNORECASE)
_VERSION = re.compile(r"(?:[\w-]+\.)?VERSION[ \t]*:[ \t]*(\S+)", re.IGNORECASE)
_NAME = re.compile(r"(?:([\w-]+)\.)?([\w-]+)", re.ASCII)
# C0 controls but TAB (line ends are already gone), and DEL: RFC 6350 section 3.3.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_BASE64_TEXT = re.compile(r"[A-Za-z0-9+/= \t]+")
_ESCAPED = re.compile(r"\\([\\,;:\"nN])")
_APPLE_LABEL = re.compile(r"_\$!<(.*)>!\$_")
_REV = re.compile(
    r"(\d{4})-?(\d\d)-?(\d\d)"
    r"(?:T(\d\d):?(\d\d)(?::?(\d\d))?(?:[.,]\d+)?(Z|[+-]\d\d(?::?\d\d)?)?)?"
)
_ENCODINGS = frozenset({"QUOTED-PRINTABLE", "BASE64", "B", "8BIT", "7BIT"})
_MAX_QUOTED = 80  # how much of a bad line a reason quotes


@dataclass(slots=True)
class _Chunk:
    """A stretch of a file: one card (``kind`` "card", or "open" without END:VCARD)
    or text outside any card ("stray"), with its lines and their 1-based numbers."""

    kind: str
    line: int
    lines: list[bytes] = field(default_factory=list)

    @property
    def raw(self) -> bytes:
        return b"\r\n".join(self.lines) + b"\r\n"


@dataclass(slots=True)
class _Prop:
    """One content line: ``group.NAME;PARAM=value:value``, the value still as written
    (a Latin-1 view of its bytes: escapes, quoted-printable and charset not undone)."""

    line: int
    group: str
    name: str
    params: dict[str, list[str]]
    value: str

    @property
    def types(self) -> set[str]:
        return {t.strip().lower() for raw in self.params.get("TYPE", ()) for t in raw.split(",")}


class _CardError(Exception):
    """Raised inside this module for a card that cannot be read: its reason and line."""

    def __init__(self, reason: str, line: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.line = line


def parse_vcards(raw: bytes, remote_id: str) -> tuple[list[ContactRecord], list[ItemFailure]]:
    """Parse a vCard resource (a CardDAV object, a .vcf file: one card or several).

    ``remote_id`` is the source's id for the resource (its href, its file name);
    when it holds more than one card, the n-th card (counting from 1) is
    ``f"{remote_id}#{n}"``. Returns the cards read, and a failure for each card
    that could not be read (its reason starting with the line, its raw bytes).
    What the parser had to work around is in each record's ``defects``. Never
    raises for bad data.
    """
    records: list[ContactRecord] = []
    failures: list[ItemFailure] = []
    for line, item in read_vcards(raw, remote_id):
        if isinstance(item, ContactRecord):
            records.append(item)
        else:
            failures.append(dataclasses.replace(item, reason=f"line {line}: {item.reason}"))
    return records, failures


def read_vcards(raw: bytes, remote_id: str) -> Iterator[tuple[int, ContactRecord | ItemFailure]]:
    """The cards of a resource in order, each with its line (1-based), as
    :func:`parse_vcards` reads them: a record with the line of its BEGIN:VCARD, or a
    failure with the line the problem is at (its reason without the line)."""
    chunks = list(_chunks(_text_bytes(raw)))
    cards = sum(chunk.kind != "stray" for chunk in chunks)
    if not cards:
        yield _not_a_vcard(raw, remote_id, chunks)
        return
    number = 0
    for chunk in chunks:
        if chunk.kind == "stray":
            reason = "text outside BEGIN:VCARD … END:VCARD ignored"
            yield chunk.line, ItemFailure(f"{remote_id}#line{chunk.line}", reason, chunk.raw)
            continue
        number += 1
        card_id = f"{remote_id}#{number}" if cards > 1 else remote_id
        found = _card(chunk, card_id)
        if found is not None:
            yield found


def _not_a_vcard(
    raw: bytes, remote_id: str, chunks: list[_Chunk]
) -> tuple[int, ContactRecord | ItemFailure]:
    if not chunks:
        return 1, ItemFailure(remote_id, "empty: no vCard in it", raw)
    first = chunks[0].lines[0].decode("utf-8", "replace").strip()
    return chunks[0].line, ItemFailure(
        remote_id, f"not a vCard: no BEGIN:VCARD (starts {first[:_MAX_QUOTED]!r})", raw
    )


# -- framing ---------------------------------------------------------------------------


def _text_bytes(raw: bytes) -> bytes:
    """The bytes without a byte order mark; UTF-16 (with a BOM, or ASCII-looking
    text with every second byte zero) re-encoded as UTF-8."""
    if raw.startswith(codecs.BOM_UTF8):
        return raw[3:]
    utf16 = raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    if utf16 or (len(raw) > 3 and raw[1] == 0 and raw[3] == 0 and raw[0] != 0):
        return raw.decode("utf-16" if utf16 else "utf-16-le", "replace").encode("utf-8")
    return raw


def _marker(line: bytes) -> str:
    """ "BEGIN" or "END" for a BEGIN:VCARD or END:VCARD line, else ""."""
    if len(line) > 40 or not line[:1].isalpha():
        return ""
    match = _MARKER.fullmatch(line.decode("latin-1").strip())
    return match.group(1).upper() if match else ""


def _chunks(raw: bytes) -> Iterator[_Chunk]:
    """The cards of a text and the stretches of text outside them, in order.

    A BEGIN:VCARD inside a card starts a nested card after a vCard 2.1 AGENT
    property, and otherwise means the open card lacks its END:VCARD.
    """
    card: _Chunk | None = None
    stray: _Chunk | None = None
    depth = 0
    for number, line in enumerate(raw.splitlines(), start=1):
        marker = _marker(line)
        if card is not None and marker == "BEGIN" and depth == 1 and not _ends_in_agent(card):
            card.kind = "open"
            yield card
            card = None
        if card is None:
            if marker == "BEGIN":
                if stray is not None:
                    yield stray
                stray, card, depth = None, _Chunk("card", number, [line]), 1
            elif stray is not None:
                stray.lines.append(line)
            elif line.strip(b" \t\x00\x1a"):  # blank lines and a DOS end-of-file mark
                stray = _Chunk("stray", number, [line])
            continue
        card.lines.append(line)
        depth += {"BEGIN": 1, "END": -1}.get(marker, 0)
        if depth == 0:
            yield card
            card = None
    if card is not None:
        card.kind = "open"
        yield card
    if stray is not None:
        yield stray


def _ends_in_agent(card: _Chunk) -> bool:
    """True after a vCard 2.1 ``AGENT:`` line, whose value is the card that follows."""
    name, _, value = card.lines[-1].decode("latin-1").partition(":")
    return (
        name.partition(";")[0].rpartition(".")[2].strip().upper() == "AGENT" and not value.strip()
    )


# -- one card --------------------------------------------------------------------------


def _card(chunk: _Chunk, remote_id: str) -> tuple[int, ContactRecord | ItemFailure] | None:
    """One card as a record (None for a contact group), or its failure."""
    if chunk.kind == "open":
        return chunk.line, ItemFailure(remote_id, "vCard without END:VCARD", chunk.raw)
    try:
        record = _record(chunk, remote_id)
    except _CardError as exc:
        return exc.line, ItemFailure(remote_id, exc.reason, chunk.raw)
    except Exception as exc:  # whatever a hostile card provokes, the other cards go on
        log.debug("unreadable vCard at line %d", chunk.line, exc_info=True)
        reason = f"unreadable vCard: {type(exc).__name__}: {exc}"[:300]
        return chunk.line, ItemFailure(remote_id, reason, chunk.raw)
    if record is None:
        log.debug("contact group at line %d skipped", chunk.line)
        return None
    return chunk.line, record


def _content_lines(chunk: _Chunk) -> tuple[str, list[tuple[int, str]]]:
    """The card's version and its logical lines (unfolded, soft line breaks joined),
    as (line number, Latin-1 view of the bytes), without BEGIN, END and nested cards."""
    texts = [(chunk.line + i, line.decode("latin-1")) for i, line in enumerate(chunk.lines)]
    body = _outer_lines(texts[1:-1])
    version = next((m.group(1) for _, t in body if (m := _VERSION.fullmatch(t.strip()))), "")
    logical: list[tuple[int, list[str]]] = []  # (line number, pieces)
    quoted_printable = base64 = False
    for number, text in body:
        pieces = logical[-1][1] if logical else []
        if quoted_printable and pieces[-1].endswith("="):  # 2.1: a soft line break
            pieces[-1] = pieces[-1][:-1]
            pieces.append(text)
        elif not text.strip(" \t"):
            base64 = False
        elif text[0] in " \t" and logical:  # folded; 2.1 keeps the white space
            pieces.append(text if version == "2.1" else text[1:])
        elif base64 and ":" not in text and _BASE64_TEXT.fullmatch(text):
            pieces.append(text.strip())  # 2.1 BASE64 may go on unindented to a blank line
        else:
            logical.append((number, [text]))
            head = text.partition(":")[0].upper()
            quoted_printable, base64 = "QUOTED-PRINTABLE" in head, "BASE64" in head
    return version, [(number, "".join(pieces)) for number, pieces in logical]


def _outer_lines(lines: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """The lines of the card itself, not of a card nested in it (a 2.1 AGENT)."""
    outer: list[tuple[int, str]] = []
    depth = 0
    for number, text in lines:
        marker = _marker(text.encode("latin-1")) if "VCARD" in text.upper() else ""
        depth += marker == "BEGIN"
        if depth == 0 and not marker:
            outer.append((number, text))
        depth -= marker == "END" and depth > 0
    return outer


def _props(logical: list[tuple[int, str]]) -> list[_Prop]:
    """The content lines parsed; raises _CardError for a line that is none."""
    props: list[_Prop] = []
    for number, text in logical:
        bad = _CONTROL.search(text)
        if bad:
            name = text.partition(":")[0].partition(";")[0][:40]
            reason = f"control character U+{ord(bad.group()):04X} in {name}"
            raise _CardError(f"unreadable vCard: {reason}", number)
        prop = _prop(number, text)
        if prop is None:
            quoted = text[:_MAX_QUOTED].encode("latin-1").decode("utf-8", "replace")
            raise _CardError(f"unreadable vCard: not a content line: {quoted!r}", number)
        props.append(prop)
    return props


def _prop(number: int, text: str) -> _Prop | None:
    """``group.NAME;PARAM=a,"b";BARE:value`` (RFC 6350 section 3.3), or None."""
    match = _NAME.match(text)
    if match is None:
        return None
    params: dict[str, list[str]] = {}
    pos = match.end()
    while pos < len(text) and text[pos] == ";":
        pos = _param(text, pos + 1, params)
    if pos >= len(text) or text[pos] != ":":
        return None
    group, name = (match.group(1) or "").upper(), match.group(2).upper()
    return _Prop(number, group, name, params, text[pos + 1 :])


def _param(text: str, pos: int, params: dict[str, list[str]]) -> int:
    """Read one parameter at ``pos`` into ``params``; returns where it ends."""
    end = pos
    while end < len(text) and text[end] not in "=;:":
        end += 1
    name = text[pos:end].strip().upper()
    if end >= len(text) or text[end] != "=":  # 2.1: a bare TYPE or ENCODING
        params.setdefault("ENCODING" if name in _ENCODINGS else "TYPE", []).append(name)
        return end
    values = params.setdefault(name, [])
    pos = end
    while pos < len(text) and text[pos] in "=,":
        pos += 1
        if pos < len(text) and text[pos] == '"':
            close = text.find('"', pos + 1)
            close = len(text) if close < 0 else close
            values.append(text[pos + 1 : close])
            pos = close + 1
        else:
            end = pos
            while end < len(text) and text[end] not in ",;:":
                end += 1
            values.append(text[pos:end])
            pos = end
    return pos


# -- values ----------------------------------------------------------------------------


def _split(value: str, separator: str) -> list[str]:
    """The parts of a value between unescaped separators (escapes kept)."""
    if "\\" not in value:
        return value.split(separator)
    parts: list[str] = []
    current: list[str] = []
    chars = iter(value)
    for char in chars:
        if char == "\\":
            current.append(char + next(chars, ""))
        elif char == separator:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _decode(prop: _Prop, part: str, defects: list[str]) -> str:
    """A part of a value as text: quoted-printable and charset undone, escapes undone
    (RFC 6350 section 3.4), line ends as ``\\n``, white space stripped."""
    data = part.encode("latin-1")
    if "QUOTED-PRINTABLE" in (e.upper() for e in prop.params.get("ENCODING", ())):
        data = binascii.a2b_qp(data)
    text = _charset(data, (prop.params.get("CHARSET") or ["utf-8"])[0].strip(), defects)
    if "\\" in text:
        text = _ESCAPED.sub(lambda m: "\n" if m.group(1) in "nN" else m.group(1), text)
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def _charset(data: bytes, charset: str, defects: list[str]) -> str:
    if data.isascii():
        return data.decode("ascii")
    try:
        return data.decode(charset or "utf-8")
    except LookupError:
        defects.append(f"unknown charset {charset[:40]!r}: read as UTF-8")
        return _charset(data, "utf-8", defects)
    except UnicodeDecodeError:
        pass
    defects.append(f"text not {charset}: read as Windows-1252")
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:  # the five bytes Windows-1252 leaves undefined
        return data.decode("latin-1")


def _revision(text: str, defects: list[str]) -> datetime | None:
    """REV as UTC (a value without a zone is taken as UTC)."""
    if not text:
        return None
    match = _REV.fullmatch(text)
    try:
        if match is None:
            raise ValueError(text)
        year, month, day, hour, minute, second, zone = match.groups()
        tz = UTC
        if zone and zone != "Z":
            digits = zone[1:].replace(":", "")
            offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
            tz = timezone(-offset if zone[0] == "-" else offset)
        y, mo, d, h, mi, sec = (int(v or 0) for v in (year, month, day, hour, minute, second))
        return datetime(y, mo, d, h, mi, sec, tzinfo=tz).astimezone(UTC)
    except ValueError:
        defects.append(f"REV unreadable: {text[:40]!r}")
        return None


# -- the record ------------------------------------------------------------------------


class _Fields:
    """A card's properties by name, read with the card's defects list at hand."""

    def __init__(self, props: list[_Prop], defects: list[str]) -> None:
        self.defects = defects
        self.by_name: dict[str, list[_Prop]] = {}
        for prop in props:
            self.by_name.setdefault(prop.name, []).append(prop)
        self.labels = {p.group: self.text_of(p) for p in self.all("X-ABLABEL") if p.group}

    def all(self, name: str) -> list[_Prop]:
        return self.by_name.get(name, [])

    def first(self, name: str) -> _Prop | None:
        found = self.by_name.get(name)
        return found[0] if found else None

    def text_of(self, prop: _Prop) -> str:
        return _decode(prop, prop.value, self.defects)

    def text(self, name: str) -> str:
        """The first property's value as text, "" if there is none."""
        prop = self.first(name)
        return self.text_of(prop) if prop is not None else ""

    def parts(self, prop: _Prop | None, count: int) -> list[str]:
        """The components of a structured value (N, ADR, ORG), padded to ``count``."""
        if prop is None:
            return [""] * count
        parts = [_decode(prop, part, self.defects) for part in _split(prop.value, ";")]
        return parts + [""] * (count - len(parts))


def _record(chunk: _Chunk, remote_id: str) -> ContactRecord | None:
    """The contact a card describes; None for a contact group."""
    version, logical = _content_lines(chunk)
    defects: list[str] = []
    if version not in ("2.1", "3.0", "4.0"):
        defects.append(f"VERSION {version[:10]!r}: read as 3.0" if version else "no VERSION")
    card = _Fields(_props(logical), defects)
    kind = card.text("KIND").lower()
    if kind == "group" or card.text("X-ADDRESSBOOKSERVER-KIND").lower() == "group":
        return None
    family, given = card.parts(card.first("N"), 2)[:2]
    organization = card.parts(card.first("ORG"), 1)[0]
    fn = card.text("FN")
    emails = _labelled(card, "EMAIL", "mailto:")
    phones = _labelled(card, "TEL", "tel:")
    name = fn or _derived_name(given, family, organization, emails + phones, defects)
    if not name:
        raise _CardError(
            "empty vCard: no name, organization, e-mail address or phone number", chunk.line
        )
    is_org = kind in ("org", "organization") or card.text("X-ABSHOWAS").upper() == "COMPANY"
    is_org |= bool(organization) and not (given or family) and fn in ("", organization)
    street, city, region, postal_code, country = _address(card)
    return ContactRecord(
        remote_id=remote_id,
        uid=card.text("UID") or _content_uid(logical, defects),
        kind="organization" if is_org else "person",
        name=name,
        given_name=given,
        family_name=family,
        organization=organization,
        title=card.text("TITLE"),
        notes="\n\n".join(dict.fromkeys(n for p in card.all("NOTE") if (n := card.text_of(p)))),
        emails=emails,
        phones=phones,
        website=card.text("URL"),
        street=street,
        city=city,
        region=region,
        postal_code=postal_code,
        country=country,
        categories=_categories(card),
        has_photo=any(p.value.strip() for p in card.all("PHOTO")),
        revision=_revision(card.text("REV"), defects),
        defects=tuple(dict.fromkeys(defect[:200] for defect in defects)),
    )


def _derived_name(
    given: str,
    family: str,
    organization: str,
    points: tuple[tuple[str, str], ...],
    defects: list[str],
) -> str:
    """A name for a card without FN: from N, ORG, or its first address or number."""
    candidates = (
        ("N", " ".join(p for p in (given, family) if p)),
        ("ORG", organization),
        ("EMAIL" if points and "@" in points[0][1] else "TEL", points[0][1] if points else ""),
    )
    for source, value in candidates:
        if value:
            defects.append(f"no FN: name taken from {source}")
            return value
    return ""


def _content_uid(logical: list[tuple[int, str]], defects: list[str]) -> str:
    """A UID for a card without one: a hash of its content lines but REV."""
    digest = hashlib.sha256()
    for _, text in logical:
        if _NAME.match(text) and text.partition(":")[0].rpartition(".")[2].upper() != "REV":
            digest.update(text.rstrip().encode("latin-1") + b"\n")
    defects.append("no UID: one derived from the card's content")
    return "sha256:" + digest.hexdigest()


def _labelled(card: _Fields, name: str, scheme: str) -> tuple[tuple[str, str], ...]:
    """(label, value) of every EMAIL or TEL; a ``mailto:``/``tel:`` URI as its address."""
    found: list[tuple[str, str]] = []
    for prop in card.all(name):
        value = card.text_of(prop)
        if value[: len(scheme)].lower() == scheme:
            value = value[len(scheme) :].strip()
        if value:
            found.append((_label(prop, card.labels), value))
    return tuple(found)


def _label(prop: _Prop, labels: dict[str, str]) -> str:
    """work, home, mobile, fax, pager or other, from TYPE and an Apple X-ABLabel."""
    types = prop.types
    apple = _APPLE_LABEL.fullmatch(labels.get(prop.group, "")) if prop.group else None
    if apple:  # _$!<Mobile>!$_, _$!<WorkFAX>!$_, _$!<Home>!$_, ...
        label = apple.group(1).lower()
        types |= {label, "fax"} if label.endswith("fax") else {label}
        types |= {part for part in ("work", "home") if label.startswith(part)}
    if types & {"cell", "mobile", "iphone"}:
        return "mobile"
    if "pager" in types:
        return "pager"
    if "fax" in types and "voice" not in types:
        return "fax"
    return next((label for label in ("work", "home") if label in types), "other")


def _address(card: _Fields) -> tuple[str, str, str, str, str]:
    """Street, city, region, postal code and country of the first ADR with a work
    label (else of the first ADR); the extended address follows the street."""
    for prop in sorted(card.all("ADR"), key=lambda p: _label(p, card.labels) != "work"):
        _, extended, street, city, region, code, country = card.parts(prop, 7)[:7]
        if any((extended, street, city, region, code, country)):
            street = ", ".join(part for part in (street, extended) if part)
            return street, city, region, code, country
    return "", "", "", "", ""


def _categories(card: _Fields) -> tuple[str, ...]:
    """Every category of every CATEGORIES property, once each."""
    found: dict[str, None] = {}
    for prop in card.all("CATEGORIES"):
        for part in _split(prop.value, ","):
            category = _decode(prop, part, card.defects)
            if category:
                found[category] = None
    return tuple(found)
