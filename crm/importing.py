"""Importing customers from CSV and vCard files (``crmsync import customers FILE``).

CSV files are read here; vCard files by ``adapters.vcard``, the one vCard parser,
whose cards :mod:`crm.vcardimport` turns into the records stored below.

The caller owns the transaction: nothing here commits. Every row (CSV) or card
(vCard) is stored in a savepoint of its own, so a bad one is reported and
skipped while the rest is imported. Importing the same file again changes
nothing; a changed row updates its customer. Values are only ever added or
overwritten, never removed: an empty cell leaves the stored value as it is, and
addresses, numbers and domains that other sources added stay.

CSV format
----------
- UTF-8, with or without a byte order mark. The first line is the header.
- The delimiter is detected on the header line among ``,`` ``;`` and tab
  (``,`` when in doubt). Quoting follows RFC 4180 (``"``); a quoted cell may
  span lines.
- Column names are case-insensitive; surrounding spaces are ignored and a space
  or ``-`` counts as ``_`` (``Given Name`` is ``given_name``). Columns may come
  in any order and may be left out. Unknown columns are reported once (line 1)
  and ignored.
- Blank lines are skipped. Every other line is one customer:

  ============  ==============================================================
  column        meaning
  ============  ==============================================================
  type          ``person`` (the default when empty) or ``organization``
  external_id   stable id of the customer in the system the file comes from
  name          display name; for a person it defaults to "given_name
                family_name", else to the first e-mail address
  given_name    person only
  family_name   person only
  organization  person only: the organization's name, found (case-insensitive)
                or created
  title         person only: job title
  email         e-mail addresses, several separated by ``;``
  phone         work phone numbers, several separated by ``;``; written with
                ``+CC`` or in the default region's national format
  mobile        mobile phone numbers, as ``phone``
  domains       organization only: its mail domains, separated by ``;``
  notes         free text
  website       a web address
  street, city, region, postal_code, country
                the postal address
  categories    categories (tags), several separated by ``;``
  ============  ==============================================================

- A row fails as a whole, is reported with its (first physical) line number
  and stores nothing when any value is invalid (an e-mail address, a phone
  number, a domain), when it has neither a name nor an e-mail address (an
  organization needs a name), when it fills a column its type may not have,
  or when it conflicts with stored data: an address of another customer, a
  domain of another organization.

Who a row is
------------
A person is the one with the row's ``external_id``; else the one owning one
of the row's e-mail addresses; else the one with the same display name
(case-insensitive) at the same organization. An organization is the one with
the row's ``external_id``; else the one with the same name (case-insensitive);
else the one owning one of the row's domains. No match: the customer is
created.

Before a customer is created, :mod:`crm.duplicates` is asked whether the row is
most likely a stored one all the same: a person with one of the row's phone
numbers (when the names agree: a colleague's switchboard number is not enough),
or with the same name in another spelling ("Petersen, Jana", "Dr. Jana
Petersen") at the same organization; an organization with the same name but
for case, accents and legal form ("Nordwind Logistik" for "Nordwind Logistik
GmbH"), the domain of the row's web site, or one of its phone numbers. Such a
row enriches that customer instead of creating a duplicate, and
:attr:`ImportReport.merged` says so with the reason.

The counts of :class:`ImportReport` are per row (or card): ``created``,
``updated`` (something changed), ``unchanged``; each failed row is one problem.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TextIO, TypeVar

from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from crm.duplicates import existing_organization, existing_person
from crm.models import ContactPoint, CustomerCategory, Organization, OrganizationDomain, Person
from crm.normalize import (
    InvalidValueError,
    phone_e164,
    valid_bic,
    valid_domain,
    valid_email,
    valid_iban,
    valid_vat_id,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
Outcome = Literal["created", "updated", "unchanged"]
Owner = Person | Organization

COLUMNS = frozenset(
    {"type", "external_id", "name", "given_name", "family_name", "organization", "title"}
    | {"email", "phone", "mobile", "domains", "notes", "website", "categories"}
    | {"street", "city", "region", "postal_code", "country"}
    | {"iban", "bic", "vat_id"}
)
#: the payment and tax ids, each checked (python-stdnum) before it is stored
ID_CHECKS = {"iban": valid_iban, "bic": valid_bic, "vat_id": valid_vat_id}
#: record attribute -> model attribute of the postal address and web site
ADDRESS_FIELDS = {
    "website": "website",
    "street": "street",
    "city": "locality",
    "region": "region",
    "postal_code": "postal_code",
    "country": "country",
}
PERSON_ONLY = ("given_name", "family_name", "organization", "title")
MAX_TEXT = 255  # the String(255) columns: names, title, external id
FIELD_LIMITS = {"website": 512, "street": 255, "city": 128, "region": 128}
FIELD_LIMITS |= {"postal_code": 32, "country": 128}


@dataclass
class ImportProblem:
    """A row or card that was not imported, or a remark on the file; ``line`` is 1-based."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass
class ImportReport:
    """What an import did: rows (cards) created, updated, unchanged, and what failed.

    ``merged``: rows that matched no customer by the rules of "Who a row is" but were
    most likely a stored one (:mod:`crm.duplicates`: the same phone number, the same name
    in the same organization, an organization's same name or domain), which the row
    enriched instead of creating a duplicate; each with the reason. Those rows are
    counted as updated or unchanged.
    """

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    problems: list[ImportProblem] = field(default_factory=list)
    merged: list[ImportProblem] = field(default_factory=list)

    def count(self, outcome: Outcome) -> None:
        """Count one stored row."""
        setattr(self, outcome, getattr(self, outcome) + 1)


@dataclass
class CustomerRecord:
    """One customer as a file states it, not yet validated (values as written)."""

    line: int
    kind: Literal["person", "organization"] = "person"
    external_id: str = ""
    name: str = ""
    given_name: str = ""
    family_name: str = ""
    organization: str = ""
    title: str = ""
    notes: str = ""
    emails: list[str] = field(default_factory=list)
    phones: list[tuple[str, str]] = field(default_factory=list)  # (label, number)
    domains: list[str] = field(default_factory=list)
    website: str = ""
    street: str = ""
    city: str = ""
    region: str = ""
    postal_code: str = ""
    country: str = ""
    categories: list[str] = field(default_factory=list)
    iban: str = ""
    bic: str = ""
    vat_id: str = ""


@dataclass
class _Checked:
    """A record's normalized values: (address, original), (E.164, label, original), domain."""

    emails: list[tuple[str, str]]
    phones: list[tuple[str, str, str]]
    domains: list[str]
    #: IBAN, BIC and VAT id, checked and compact (only those the record gives)
    ids: dict[str, str] = field(default_factory=dict)


class RowError(Exception):
    """Raised when a row cannot be stored: it conflicts with stored data or breaks a rule."""


# -- entry points ----------------------------------------------------------------------


def import_customers(session: Session, path: Path, *, default_region: str) -> ImportReport:
    """Import the customers of a CSV file.

    Reports problems (with line numbers) instead of raising for bad data;
    raises :class:`OSError` when the file cannot be read. A vCard file is read
    by ``adapters.vcard`` and its cards imported by
    :func:`crm.vcardimport.import_contacts` (:func:`guess_format` tells them apart).
    """
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        problem = ImportProblem(line, f"not UTF-8 (byte 0x{raw[exc.start]:02x}); save as UTF-8")
        return ImportReport(problems=[problem])
    report = import_csv(session, io.StringIO(text, newline=""), default_region=default_region)
    log_report(path.name, report)
    return report


def guess_format(path: Path, raw: bytes) -> str:
    """The format of a file: "vcard" for .vcf/.vcard or text starting BEGIN:VCARD, else "csv"."""
    if path.suffix.lower() in (".vcf", ".vcard"):
        return "vcard"
    if path.suffix.lower() in (".csv", ".tsv", ".txt"):
        return "csv"
    first = raw[:4096].decode("utf-8", "replace").lstrip("\ufeff \t\r\n").partition("\n")[0]
    return "vcard" if first.strip().upper().endswith("BEGIN:VCARD") else "csv"


def log_report(name: str, report: ImportReport) -> None:
    """One log line on what an import did."""
    log.info(
        "imported %s: %d created, %d updated, %d unchanged, %d problems",
        name,
        report.created,
        report.updated,
        report.unchanged,
        len(report.problems),
    )
    for note in report.merged:
        log.info("imported %s: %s", name, note)


def import_csv(
    session: Session, stream: TextIO, *, default_region: str, source_name: str = "<csv>"
) -> ImportReport:
    """Import the customers of a CSV text stream (open it with ``newline=""``)."""
    log.debug("importing CSV %s", source_name)
    return store_records(session, read_csv(stream), default_region=default_region)


def store_records(
    session: Session,
    items: Iterable[CustomerRecord | ImportProblem],
    *,
    default_region: str,
) -> ImportReport:
    """Store each record in a savepoint of its own; problems pass through to the report."""
    report = ImportReport()
    for item in items:
        if isinstance(item, ImportProblem):
            report.problems.append(item)
            continue
        merged: list[str] = []
        try:
            with session.begin_nested():
                outcome, _ = store_customer(
                    session, item, default_region=default_region, merged=merged
                )
                session.flush()
        except (InvalidValueError, RowError) as exc:
            report.problems.append(ImportProblem(item.line, str(exc)))
        except DBAPIError as exc:  # a constraint we did not foresee: report, go on
            report.problems.append(ImportProblem(item.line, f"not stored: {exc.orig}"))
        else:
            report.count(outcome)
            report.merged.extend(ImportProblem(item.line, note) for note in merged)
    return report


# -- CSV -------------------------------------------------------------------------------


def read_csv(stream: TextIO) -> Iterator[CustomerRecord | ImportProblem]:
    """The records of a CSV stream (format: see the module docstring), and its problems."""
    text = stream.read().removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    header = next(reader, [])
    columns = [c.strip().lower().replace(" ", "_").replace("-", "_") for c in header]
    if not any(columns):
        yield ImportProblem(1, "no header row")
        return
    unknown = [c for c in columns if c not in COLUMNS]
    if unknown:
        yield ImportProblem(1, f"unknown columns ignored: {', '.join(unknown)}")
    end = reader.line_num
    for cells in reader:
        start, end = end + 1, reader.line_num
        if cells:  # [] is a blank line
            yield _csv_record(start, columns, cells)


def _delimiter(text: str) -> str:
    """The delimiter of the header line: ``,`` ``;`` or tab."""
    try:
        return csv.Sniffer().sniff(text.partition("\n")[0], delimiters=",;\t").delimiter
    except csv.Error:
        return ","


def _csv_record(line: int, columns: list[str], cells: list[str]) -> CustomerRecord | ImportProblem:
    """One data row as a record, or the problem that makes it unusable."""
    extra = [c for c in cells[len(columns) :] if c.strip()]
    if extra:
        return ImportProblem(line, f"{len(cells)} cells, but the header has {len(columns)}")
    row: dict[str, str] = {}
    for column, cell in zip(columns, cells, strict=False):
        row.setdefault(column, cell.strip())  # a repeated column: the first one counts
    kind = row.get("type", "").lower() or "person"
    if kind not in ("person", "organization"):
        return ImportProblem(line, f"type {row['type']!r}: must be person or organization")
    return CustomerRecord(
        line=line,
        kind="person" if kind == "person" else "organization",
        external_id=row.get("external_id", ""),
        name=row.get("name", ""),
        given_name=row.get("given_name", ""),
        family_name=row.get("family_name", ""),
        organization=row.get("organization", ""),
        title=row.get("title", ""),
        notes=row.get("notes", ""),
        emails=_split(row.get("email", "")),
        phones=[("work", n) for n in _split(row.get("phone", ""))]
        + [("mobile", n) for n in _split(row.get("mobile", ""))],
        domains=_split(row.get("domains", "")),
        categories=_split(row.get("categories", "")),
        **{name: row.get(name, "") for name in ADDRESS_FIELDS},
        **{name: row.get(name, "") for name in ID_CHECKS},
    )


def _split(cell: str) -> list[str]:
    """The ``;``-separated values of a cell."""
    return [v.strip() for v in cell.split(";") if v.strip()]


# -- validating and storing one record -------------------------------------------------


def store_customer(
    session: Session,
    record: CustomerRecord,
    *,
    default_region: str,
    merged: list[str] | None = None,
) -> tuple[Outcome, Owner]:
    """Create or update the customer of one record (no savepoint); and that customer.

    A record that is most likely a stored customer (:mod:`crm.duplicates`) updates it;
    ``merged`` gets a line saying so. Raises :class:`RowError` or
    :class:`InvalidValueError` when the record cannot be stored.
    """
    notes = merged if merged is not None else []
    checked = _check(record, default_region)
    if record.kind == "organization":
        return _store_organization(session, record, checked, notes)
    return _store_person(session, record, checked, notes)


def find_customer(
    session: Session,
    record: CustomerRecord,
    *,
    default_region: str,
    merged: list[str] | None = None,
) -> Owner | None:
    """The stored customer a record describes ("Who a row is", then the likely one of
    :mod:`crm.duplicates`, noted in ``merged``), creating nothing.

    Raises :class:`RowError` or :class:`InvalidValueError` as :func:`store_customer` does.
    """
    notes = merged if merged is not None else []
    checked = _check(record, default_region)
    if record.kind == "organization":
        return _find_organization(session, record, checked, notes)
    org = None
    if record.organization:
        same_name = select(Organization).where(
            func.lower(Organization.name) == func.lower(record.organization)
        )
        org = _one_or_none(
            session.scalars(same_name).all(), f"several organizations named {record.organization!r}"
        )
        if org is None:
            org = _likely_organization(session, record.organization, notes)
        if org is None:  # nobody works at an organization that does not exist yet
            return _find_person(session, record, checked, "", None, notes)
    return _find_person(session, record, checked, _display_name(record), org, notes)


def _check(record: CustomerRecord, region: str) -> _Checked:
    """Validate and normalize a record's values; raises for the first bad one."""
    for name in ("external_id", "name", "given_name", "family_name", "organization", "title"):
        if len(getattr(record, name)) > MAX_TEXT:
            raise RowError(f"{name}: longer than {MAX_TEXT} characters")
    for name, limit in FIELD_LIMITS.items():
        if len(getattr(record, name)) > limit:
            raise RowError(f"{name}: longer than {limit} characters")
    return _Checked(
        emails=[(valid_email(e), e) for e in record.emails],
        phones=[(phone_e164(n, region), label, n) for label, n in record.phones],
        domains=[valid_domain(d) for d in record.domains],
        ids={k: check(v) for k, check in ID_CHECKS.items() if (v := getattr(record, k).strip())},
    )


def _store_person(
    session: Session, record: CustomerRecord, checked: _Checked, notes: list[str]
) -> tuple[Outcome, Person]:
    """Create or update a person, their organization, addresses and numbers."""
    if checked.domains:
        raise RowError("domains: only an organization may have domains")
    display = _display_name(record)
    if not display and not checked.emails:
        raise RowError("neither a name nor an e-mail address")
    org, org_created = _organization_named(session, record.organization, notes)
    noted = len(notes)
    person = _find_person(session, record, checked, display, org, notes)
    created = person is None
    if person is None:
        person = Person(display_name=display or checked.emails[0][0], organization=org)
        session.add(person)
    if len(notes) > noted:  # most likely this person: their names stay, empty ones filled
        changed = False
        for name in ("given_name", "family_name", "title", "notes"):
            if not getattr(person, name):
                changed |= _assign(person, name, getattr(record, name))
    else:
        changed = _assign(person, "display_name", display)
        for name in ("given_name", "family_name", "title", "notes"):
            changed |= _assign(person, name, getattr(record, name))
    changed |= _assign(person, "external_id", record.external_id)
    if org is not None and person.organization is not org:
        person.organization, changed = org, True
    changed |= _add_contact_points(session, person, checked)
    changed |= _add_card_fields(person, record, checked)
    return _outcome(created, changed or org_created), person


def _store_organization(
    session: Session, record: CustomerRecord, checked: _Checked, notes: list[str]
) -> tuple[Outcome, Organization]:
    """Create or update an organization, its domains, addresses and numbers."""
    misplaced = [n for n in PERSON_ONLY if getattr(record, n)]
    if misplaced:
        raise RowError(f"{', '.join(misplaced)}: only for a person")
    if not record.name:
        raise RowError("an organization needs a name")
    noted = len(notes)
    org = _find_organization(session, record, checked, notes)
    created = org is None
    if org is None:
        org = Organization(name=record.name)
        session.add(org)
    likely = len(notes) > noted  # a likely match keeps its own spelling of the name
    changed = False if likely else _assign(org, "name", record.name)
    changed |= _assign(org, "notes", record.notes)
    changed |= _assign(org, "external_id", record.external_id)
    changed |= _add_domains(session, org, checked.domains)
    changed |= _add_contact_points(session, org, checked)
    changed |= _add_card_fields(org, record, checked)
    return _outcome(created, changed), org


def _add_card_fields(target: Owner, record: CustomerRecord, checked: _Checked) -> bool:
    """Set the web site, postal address and checked ids the record gives, add its new
    categories."""
    changed = False
    for name, attribute in ADDRESS_FIELDS.items():
        changed |= _assign(target, attribute, getattr(record, name))
    for name, value in checked.ids.items():
        changed |= _assign(target, name, value)
    have = {c.name.casefold() for c in target.categories}
    for name in dict.fromkeys(c.strip()[:64] for c in record.categories if c.strip()):
        if name.casefold() not in have:
            target.categories.append(CustomerCategory(name=name))
            have.add(name.casefold())
            changed = True
    return changed


def _display_name(record: CustomerRecord) -> str:
    """The record's name, else "given family"."""
    return record.name or " ".join(p for p in (record.given_name, record.family_name) if p)


def _outcome(created: bool, changed: bool) -> Outcome:
    if created:
        return "created"
    return "updated" if changed else "unchanged"


def _assign(target: Owner, name: str, value: str) -> bool:
    """Set a text attribute to a non-empty value that differs; True if it changed."""
    if not value or getattr(target, name) == value:
        return False
    setattr(target, name, value)
    return True


def _find_person(
    session: Session,
    record: CustomerRecord,
    checked: _Checked,
    display: str,
    org: Organization | None,
    notes: list[str],
) -> Person | None:
    """The stored person a record describes: by external id, an address, or name and
    org; else the one it most likely is (:func:`crm.duplicates.existing_person`: the
    same phone number, the same name in another spelling at the same org)."""
    if record.external_id:
        found = session.scalars(select(Person).filter_by(external_id=record.external_id)).first()
        if found is not None:
            return found
    for address, original in checked.emails:
        point = _email_point(session, address)
        if point is not None and point.person is not None:
            if record.external_id and point.person.external_id not in (None, record.external_id):
                raise RowError(f"email {original!r}: address already belongs to {_name(point)}")
            return point.person
    if display:
        same_name = select(Person).where(
            func.lower(Person.display_name) == func.lower(display),
            Person.organization_id == (org.id if org is not None else None),
            Person.external_id.is_(None) | (Person.external_id == (record.external_id or None)),
        )
        found = _one_or_none(session.scalars(same_name).all(), f"several people named {display!r}")
        if found is not None:
            return found
    likely = existing_person(
        session,
        name=display,
        phones=[number for number, _, _ in checked.phones],
        organization=org,
        external_id=record.external_id,
    )
    if likely is None or not isinstance(likely.customer, Person):
        return None
    notes.append(f"merged into existing person '{likely.customer.display_name}': {likely.reason}")
    return likely.customer


def _find_organization(
    session: Session, record: CustomerRecord, checked: _Checked, notes: list[str]
) -> Organization | None:
    """The stored organization a record describes: by external id, name, or a domain;
    else the one it most likely is (:func:`crm.duplicates.existing_organization`)."""
    found = _find_organization_exactly(session, record, checked.domains)
    if found is not None or not record.name:
        return found
    likely = existing_organization(
        session,
        name=record.name,
        website=record.website,
        phones=[number for number, _, _ in checked.phones],
        external_id=record.external_id,
    )
    if likely is None or not isinstance(likely.customer, Organization):
        return None
    notes.append(f"merged into existing organization '{likely.customer.name}': {likely.reason}")
    return likely.customer


def _find_organization_exactly(
    session: Session, record: CustomerRecord, domains: list[str]
) -> Organization | None:
    """The stored organization a record describes: by external id, name, or a domain."""
    if record.external_id:
        found = session.scalars(
            select(Organization).filter_by(external_id=record.external_id)
        ).first()
        if found is not None:
            return found
    same_name = select(Organization).where(
        func.lower(Organization.name) == func.lower(record.name),
        Organization.external_id.is_(None)
        | (Organization.external_id == (record.external_id or None)),
    )
    found = _one_or_none(
        session.scalars(same_name).all(), f"several organizations named {record.name!r}"
    )
    if found is not None or not domains:
        return found
    owned = select(OrganizationDomain).where(OrganizationDomain.domain.in_(domains))
    return next((d.organization for d in session.scalars(owned)), None)


def _organization_named(
    session: Session, name: str, notes: list[str]
) -> tuple[Organization | None, bool]:
    """The organization of that name (case-insensitive), else the one of the same name
    but for its legal form ("Nordwind Logistik" is "Nordwind Logistik GmbH"), created
    if there is none."""
    if not name:
        return None, False
    same_name = select(Organization).where(func.lower(Organization.name) == func.lower(name))
    found = _one_or_none(session.scalars(same_name).all(), f"several organizations named {name!r}")
    if found is None:
        found = _likely_organization(session, name, notes)
    if found is not None:
        return found, False
    org = Organization(name=name)
    session.add(org)
    session.flush()  # its id is what a person's name is looked up with
    return org, True


def _likely_organization(session: Session, name: str, notes: list[str]) -> Organization | None:
    """The one organization whose name is ``name`` but for case, accents and legal form."""
    likely = existing_organization(session, name=name)
    if likely is None or not isinstance(likely.customer, Organization):
        return None
    notes.append(f"organization {name!r} is the existing '{likely.customer.name}'")
    return likely.customer


def _one_or_none(found: Sequence[T], ambiguous: str) -> T | None:
    """The single item found; several are a problem the row must resolve (an external id)."""
    if len(found) > 1:
        raise RowError(f"{ambiguous}: give an external_id or an e-mail address")
    return found[0] if found else None


def _add_domains(session: Session, org: Organization, domains: list[str]) -> bool:
    """Give ``org`` the domains it lacks; True if any was added."""
    added = False
    for domain in dict.fromkeys(domains):
        owner = session.scalars(select(OrganizationDomain).filter_by(domain=domain)).first()
        if owner is None:
            org.domains.append(OrganizationDomain(domain=domain))
            added = True
        elif owner.organization is not org:
            raise RowError(f"domain {domain!r} already belongs to {owner.organization.name}")
    return added


def _add_contact_points(session: Session, owner: Owner, checked: _Checked) -> bool:
    """Give ``owner`` the addresses and numbers it lacks; True if any was added."""
    added = False
    for address, original in checked.emails:
        point = _email_point(session, address)
        if point is None:
            owner.contact_points.append(
                ContactPoint(kind="email", value=address, original=original)
            )
            added = True
        elif owner not in (point.person, point.organization):
            raise RowError(f"email {original!r}: address already belongs to {_name(point)}")
    known = {p.value for p in owner.contact_points if p.kind == "phone"}
    for number, label, original in checked.phones:
        if number not in known:
            point = ContactPoint(kind="phone", value=number, label=label, original=original)
            owner.contact_points.append(point)
            known.add(number)
            added = True
    return added


def _email_point(session: Session, address: str) -> ContactPoint | None:
    """The stored contact point of a normalized address (pending ones included)."""
    query = select(ContactPoint).filter_by(kind="email", value=address)
    return session.scalars(query).first()


def _name(point: ContactPoint) -> str:
    """The name of the customer a contact point belongs to."""
    if point.person is not None:
        return point.person.display_name
    return point.organization.name if point.organization is not None else "?"
