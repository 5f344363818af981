"""Importing customers from vCard files (2.1, 3.0 and 4.0); see :mod:`crm.importing`.

The file is read by ``adapters.vcard.read_vcards``, the one vCard parser of
crmsync (sync hands its cards over: crm knows no file formats of the sources);
each card comes with its line, so that a broken card is reported with its line
and the others are imported. Here a card's
:class:`adapters.records.ContactRecord` becomes the
:class:`crm.importing.CustomerRecord` that is validated and stored like a CSV row:

- FN is the name, unless the parser derived it from the card's e-mail address
  or phone number (a card without FN or N): such a customer is named as a CSV
  row without a name is. N gives given_name and family_name; ORG (its first
  component) the organization; TITLE; NOTE the notes.
- UID is the external_id, as written; a UID the parser derived from the card's
  content (a card without one) changes with every edit, so it is none.
- EMAIL, all of them; TEL, all of them, with the parser's labels (``mobile``,
  ``fax``, ``pager``, ``home``, ``work``, ``other``).
- An organization's card (KIND:org, X-ABShowAs:COMPANY, or an ORG without a
  person's name) is an organization named by its ORG (else FN). Mail domains
  never come from a vCard.
- The web site, the postal address (the work address first) and the categories.

A card of a customer the CRM most likely has already (the same phone number, the
same name in another spelling at the same organization, an organization's name
without its legal form: :mod:`crm.duplicates`) enriches that customer instead of
creating a second one; :attr:`crm.importing.ImportReport.merged` lists those cards.

What the parser had to work around (the defects of a record) is logged, not
reported: a card without UID is no problem of the file.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

from sqlalchemy.orm import Session

from adapters.records import ContactRecord, ItemFailure
from crm.importing import CustomerRecord, ImportProblem, ImportReport, log_report, store_records

log = logging.getLogger(__name__)

# adapters.vcard notes a UID it made up (a hash of the card's content) with this defect.
DERIVED_UID = "no UID"

Card = tuple[int, ContactRecord | ItemFailure]  # a card and its line in the file


def import_contacts(
    session: Session, cards: Iterable[Card], *, default_region: str, source_name: str = "<vcard>"
) -> ImportReport:
    """Import the customers of a vCard file's cards, each with its line (1-based)."""
    report = store_records(session, read_contacts(cards), default_region=default_region)
    log_report(source_name, report)
    return report


def read_contacts(cards: Iterable[Card]) -> Iterator[CustomerRecord | ImportProblem]:
    """The records of the cards, and the problems of those the parser could not read."""
    for line, card in cards:
        if isinstance(card, ItemFailure):
            yield ImportProblem(line, card.reason)
            continue
        if card.defects:
            log.debug("vCard at line %d: %s", line, "; ".join(card.defects))
        yield customer_from_contact(card, line)


def customer_from_contact(contact: ContactRecord, line: int) -> CustomerRecord:
    """The customer a contact describes (see the module docstring)."""
    derived_uid = any(defect.startswith(DERIVED_UID) for defect in contact.defects)
    points = {value for _, value in contact.emails + contact.phones}
    name = "" if contact.name in points else contact.name
    record = CustomerRecord(
        line=line,
        external_id="" if derived_uid else contact.uid,
        notes=contact.notes,
        emails=[email for _, email in contact.emails],
        phones=list(contact.phones),
        website=contact.website,
        street=contact.street,
        city=contact.city,
        region=contact.region,
        postal_code=contact.postal_code,
        country=contact.country,
        categories=list(contact.categories),
    )
    if contact.kind == "organization":
        record.kind, record.name = "organization", contact.organization or name
    else:
        record.name, record.given_name = name, contact.given_name
        record.family_name, record.organization = contact.family_name, contact.organization
        record.title = contact.title
    return record
