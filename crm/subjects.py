"""Data-subject requests (GDPR art. 15 and 17): everything stored about one e-mail
address, its export, and its erasure.

What belongs to a subject: the people owning the address (an e-mail contact point),
every interaction in which the address or one of those people takes part, the
attachments of those, the address's review queue entry, and the quarantined raw items
that contain the address (or another address of those people), case-insensitively.

Erasure deletes the people the way every other deletion does (``session.delete``, so
crm.changes leaves a tombstone and CardDAV clients see the card go), deletes the
interactions in which the subject is the only external participant, and removes the
subject's participant rows from the others. Documents no longer referred to by any
attachment lose their row in the same transaction and their archive file after the
commit (a rollback must never lose a file; a file left behind by a crash between the
commit and the removal is unreferenced and harmless).
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, delete, or_, select
from sqlalchemy.orm import Session, selectinload

from crm import audit
from crm.archive import Archive
from crm.db import will_write
from crm.matching import chunked
from crm.models import (
    Account,
    Attachment,
    ContactPoint,
    CustomerFieldSource,
    Document,
    Interaction,
    Participant,
    Person,
    QuarantineItem,
    ReviewItem,
    utcnow,
)
from crm.normalize import email_key

#: ids per IN (...) list: far below SQLite's and PostgreSQL's limits on parameters
EXPORT_FORMAT = "crmsync data-subject export 1"


class PlanChangedError(Exception):
    """Raised when what an erasure would delete grew since the plan was shown."""


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


# -- finding --------------------------------------------------------------------------


@dataclass
class Subject:
    """Everything stored about one address (loaded objects of one session)."""

    email: str
    #: the address and every other e-mail address of the people owning it, sorted
    addresses: tuple[str, ...]
    people: list[Person]
    #: oldest first, with participants, sources and attachments loaded
    interactions: list[Interaction]
    review_items: list[ReviewItem]
    quarantine: list[QuarantineItem]

    @property
    def person_ids(self) -> set[int]:
        return {p.id for p in self.people}

    @property
    def attachments(self) -> list[Attachment]:
        return [a for i in self.interactions for a in sorted(i.attachments, key=_by_id)]

    @property
    def is_empty(self) -> bool:
        return not (self.people or self.interactions or self.review_items or self.quarantine)

    def is_subjects(self, participant: Participant) -> bool:
        """Whether a participant row is the subject (by address or by person)."""
        return participant.email in self.addresses or participant.person_id in self.person_ids


def _by_id(row: Any) -> int:
    return int(row.id)


def find_subject(session: Session, email: str) -> Subject:
    """Everything stored about ``email`` (normalized with :func:`email_key`)."""
    key = email_key(email)
    people = list(
        session.scalars(
            select(Person)
            .join(ContactPoint, ContactPoint.person_id == Person.id)
            .where(ContactPoint.kind == "email", ContactPoint.value == key)
            .order_by(Person.id)
            .options(
                selectinload(Person.contact_points),
                selectinload(Person.categories),
                selectinload(Person.organization),
            )
        ).unique()
    )
    addresses = {key}
    for person in people:
        addresses.update(c.value for c in person.contact_points if c.kind == "email")
    person_ids = [p.id for p in people]
    linked: ColumnElement[bool] = Participant.email.in_(sorted(addresses))
    if person_ids:
        linked = or_(linked, Participant.person_id.in_(person_ids))
    ids = sorted(set(session.scalars(select(Participant.interaction_id).where(linked))))
    interactions: list[Interaction] = []
    for part in chunked(ids):
        interactions.extend(
            session.scalars(
                select(Interaction)
                .where(Interaction.id.in_(part))
                .options(
                    selectinload(Interaction.participants),
                    selectinload(Interaction.sources),
                    selectinload(Interaction.attachments),
                )
            )
        )
    interactions.sort(key=lambda i: (i.occurred_at, i.id))
    review_items = list(
        session.scalars(
            select(ReviewItem)
            .where(ReviewItem.email.in_(sorted(addresses)))
            .order_by(ReviewItem.id)
        )
    )
    return Subject(
        email=key,
        addresses=tuple(sorted(addresses)),
        people=people,
        interactions=interactions,
        review_items=review_items,
        quarantine=_quarantined(session, addresses),
    )


def _quarantined(session: Session, addresses: Iterable[str]) -> list[QuarantineItem]:
    """Quarantined items whose raw bytes contain one of the addresses (any case).

    The bytes are searched here, not in SQL: they are arbitrary bytes in any encoding,
    and the quarantine is short (items an admin has to look at)."""
    needles = [a.encode("utf-8") for a in addresses if a]
    ids = [
        item_id
        for item_id, raw in session.execute(
            select(QuarantineItem.id, QuarantineItem.raw)
            .order_by(QuarantineItem.id)
            .execution_options(yield_per=100)
        )
        if any(n in bytes(raw).lower() for n in needles)
    ]
    found: list[QuarantineItem] = []
    for part in chunked(ids):
        found.extend(session.scalars(select(QuarantineItem).where(QuarantineItem.id.in_(part))))
    return sorted(found, key=_by_id)


def _account_names(session: Session) -> dict[int, str]:
    return {row.id: row.name for row in session.execute(select(Account.id, Account.name))}


# -- export ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportSummary:
    """What an export wrote: ``person.json`` and the copied files (relative paths)."""

    out_dir: Path
    json_path: Path
    files: tuple[str, ...]
    counts: dict[str, int]
    #: attachments whose file was missing from the archive (listed, not copied)
    missing: tuple[str, ...] = ()


def safe_filename(name: str, limit: int = 100) -> str:
    """A file name safe on every file system: letters, digits, ``.``, ``-``, ``_``."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")
    return cleaned[:limit] or "file"


def export_subject(
    session: Session, archive: Archive, email: str, out_dir: Path, *, actor: str = ""
) -> ExportSummary:
    """Write everything stored about ``email`` to ``out_dir``: ``person.json`` (UTF-8,
    stable order, times ISO 8601 UTC), ``attachments/<sha256>-<name>`` and
    ``quarantine/<id>.eml``. Private interactions are included: they are the subject's
    own data. Records a ``person.export`` audit entry; the caller commits."""
    subject = find_subject(session, email)
    accounts = _account_names(session)
    out_dir.mkdir(parents=True, exist_ok=True)
    files: list[str] = []
    missing: list[str] = []

    def copy_attachment(att: Attachment) -> str | None:
        relative = f"attachments/{att.document_sha256}-{safe_filename(att.filename)}"
        source = archive.path(att.document_sha256)
        if not source.is_file():
            missing.append(relative)
            return None
        target = out_dir / relative
        target.parent.mkdir(exist_ok=True)
        if relative not in files:
            shutil.copyfile(source, target)
            files.append(relative)
        return relative

    interactions = []
    for item in subject.interactions:
        interactions.append(
            {
                "id": item.id,
                "kind": item.kind,
                "direction": item.direction,
                "occurred_at": _iso(item.occurred_at),
                "ends_at": _iso(item.ends_at),
                "subject": item.subject,
                "body_text": item.body_text,
                "location": item.location,
                "visibility": item.visibility,
                "participants": [
                    {"role": p.role, "email": p.email, "name": p.name, "internal": p.is_internal}
                    for p in item.participants
                ],
                "sources": [
                    {
                        "account": accounts.get(s.account_id, ""),
                        "folder": s.collection,
                        "first_seen_at": _iso(s.first_seen_at),
                    }
                    for s in sorted(
                        item.sources, key=lambda s: (accounts.get(s.account_id, ""), s.collection)
                    )
                ],
                "attachments": [
                    {
                        "filename": a.filename,
                        "content_type": a.content_type,
                        "size": a.size,
                        "sha256": a.document_sha256,
                        "file": copy_attachment(a),
                    }
                    for a in sorted(item.attachments, key=_by_id)
                ],
            }
        )
    quarantine = []
    for q in subject.quarantine:
        relative = f"quarantine/{q.id}.eml"
        (out_dir / "quarantine").mkdir(exist_ok=True)
        (out_dir / relative).write_bytes(q.raw)
        files.append(relative)
        quarantine.append(
            {
                "reason": q.reason,
                "account": accounts.get(q.account_id, ""),
                "folder": q.collection,
                "remote_id": q.remote_id,
                "created_at": _iso(q.created_at),
                "file": relative,
            }
        )
    document = {
        "format": EXPORT_FORMAT,
        "email": subject.email,
        "addresses": list(subject.addresses),
        "exported_at": _iso(utcnow()),
        "people": [_person(session, p, accounts) for p in subject.people],
        "interactions": interactions,
        "review_items": [
            {
                "email": r.email,
                "name": r.name,
                "status": r.status,
                "interaction_count": r.interaction_count,
                "first_seen_at": _iso(r.first_seen_at),
                "last_seen_at": _iso(r.last_seen_at),
            }
            for r in subject.review_items
        ],
        "quarantine": quarantine,
    }
    json_path = out_dir / "person.json"
    json_path.write_text(
        json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    counts = {
        "people": len(subject.people),
        "interactions": len(subject.interactions),
        "attachments": len(subject.attachments),
        "review_items": len(subject.review_items),
        "quarantine_items": len(subject.quarantine),
        "files": len(files),
    }
    audit.record(session, actor, "person.export", subject.email, **counts)
    return ExportSummary(out_dir, json_path, tuple(files), counts, tuple(missing))


def _person(session: Session, person: Person, accounts: dict[int, str]) -> dict[str, Any]:
    org = person.organization
    sources = session.scalars(
        select(CustomerFieldSource)
        .where(CustomerFieldSource.person_id == person.id)
        .order_by(CustomerFieldSource.id)
    )
    return {
        "id": person.id,
        "uid": person.uid,
        "display_name": person.display_name,
        "given_name": person.given_name,
        "family_name": person.family_name,
        "title": person.title,
        "notes": person.notes,
        "external_id": person.external_id,
        "website": person.website,
        "street": person.street,
        "locality": person.locality,
        "region": person.region,
        "postal_code": person.postal_code,
        "country": person.country,
        "created_at": _iso(person.created_at),
        "updated_at": _iso(person.updated_at),
        "organization": None
        if org is None
        else {
            "id": org.id,
            "name": org.name,
            "website": org.website,
            "street": org.street,
            "locality": org.locality,
            "region": org.region,
            "postal_code": org.postal_code,
            "country": org.country,
        },
        "contact_points": [
            {"kind": c.kind, "value": c.value, "label": c.label, "original": c.original}
            for c in sorted(person.contact_points, key=_by_id)
        ],
        "categories": sorted(c.name for c in person.categories),
        "sources": [
            {
                "field": s.field,
                "value": s.value,
                "account": accounts.get(s.account_id, ""),
                "collection": s.collection,
                "remote_id": s.remote_id,
                "seen_at": _iso(s.seen_at),
                "removed_at": _iso(s.removed_at),
            }
            for s in sources
        ],
    }


# -- erasure --------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedInteraction:
    """An interaction an erasure deletes or changes, as the plan shows it."""

    id: int
    kind: str
    occurred_at: datetime
    subject: str


@dataclass(frozen=True)
class ErasePlan:
    """What erasing an address deletes (ids, so it can be compared with a later plan)."""

    email: str
    addresses: tuple[str, ...]
    people: tuple[tuple[int, str], ...]  # (id, display name)
    #: the subject is the only external participant: deleted whole
    deleted: tuple[PlannedInteraction, ...]
    #: other external participants too: only the subject's participant rows go
    kept: tuple[PlannedInteraction, ...]
    participant_ids: tuple[int, ...]
    attachment_ids: tuple[int, ...]
    #: documents no attachment refers to once the deleted interactions are gone
    documents: tuple[str, ...]
    review_item_ids: tuple[int, ...]
    quarantine_ids: tuple[int, ...]

    @property
    def counts(self) -> dict[str, int]:
        return {
            "people": len(self.people),
            "interactions_deleted": len(self.deleted),
            "interactions_changed": len(self.kept),
            "participants_removed": len(self.participant_ids),
            "attachments_deleted": len(self.attachment_ids),
            "documents_deleted": len(self.documents),
            "review_items": len(self.review_item_ids),
            "quarantine_items": len(self.quarantine_ids),
        }

    @property
    def is_empty(self) -> bool:
        return not any(self.parts().values())

    def parts(self) -> dict[str, frozenset[Any]]:
        """Each kind of thing the plan touches, as a set of ids."""
        return {
            "people": frozenset(i for i, _ in self.people),
            "interactions_deleted": frozenset(i.id for i in self.deleted),
            "interactions_changed": frozenset(i.id for i in self.kept),
            "participants_removed": frozenset(self.participant_ids),
            "attachments_deleted": frozenset(self.attachment_ids),
            "documents_deleted": frozenset(self.documents),
            "review_items": frozenset(self.review_item_ids),
            "quarantine_items": frozenset(self.quarantine_ids),
        }

    def grown_beyond(self, shown: ErasePlan) -> list[str]:
        """The kinds of which this plan touches something ``shown`` did not."""
        mine, theirs = self.parts(), shown.parts()
        return [kind for kind, ids in mine.items() if not ids <= theirs[kind]]


@dataclass(frozen=True)
class EraseSummary:
    """What an erasure did."""

    email: str
    counts: dict[str, int]
    #: archive files removed after the commit
    files_removed: tuple[str, ...]


def _planned(item: Interaction) -> PlannedInteraction:
    return PlannedInteraction(item.id, item.kind, item.occurred_at, item.subject)


def erase_plan(session: Session, email: str) -> ErasePlan:
    """What erasing ``email`` would delete, computed from the database now."""
    subject = find_subject(session, email)
    deleted: list[Interaction] = []
    kept: list[Interaction] = []
    participant_ids: list[int] = []
    for item in subject.interactions:
        others = [p for p in item.participants if not p.is_internal and not subject.is_subjects(p)]
        if others:
            kept.append(item)
            participant_ids.extend(p.id for p in item.participants if subject.is_subjects(p))
        else:
            deleted.append(item)
    attachments = [a for i in deleted for a in i.attachments]
    deleted_ids = [i.id for i in deleted]
    candidates = sorted({a.document_sha256 for a in attachments})
    still_used: set[str] = set()
    for part in chunked(candidates):
        query = select(Attachment.document_sha256).where(Attachment.document_sha256.in_(part))
        for ids in chunked(deleted_ids):
            query = query.where(Attachment.interaction_id.not_in(ids))
        still_used.update(session.scalars(query))
    return ErasePlan(
        email=subject.email,
        addresses=subject.addresses,
        people=tuple((p.id, p.display_name) for p in subject.people),
        deleted=tuple(_planned(i) for i in deleted),
        kept=tuple(_planned(i) for i in kept),
        participant_ids=tuple(sorted(participant_ids)),
        attachment_ids=tuple(sorted(a.id for a in attachments)),
        documents=tuple(d for d in candidates if d not in still_used),
        review_item_ids=tuple(r.id for r in subject.review_items),
        quarantine_ids=tuple(q.id for q in subject.quarantine),
    )


def erase_subject(session: Session, archive: Archive, plan: ErasePlan, actor: str) -> EraseSummary:
    """Erase what ``plan`` showed, and commit; then remove the orphaned archive files.

    The plan is computed again inside this transaction (on SQLite a writing one, begun
    IMMEDIATE when the session has none yet): when it touches anything the shown plan
    did not, :class:`PlanChangedError` is raised and nothing changes. What disappeared
    meanwhile is simply not deleted again. One ``person.erase`` audit entry with the
    counts (never contents) is written in the same transaction.
    """
    if not session.in_transaction():
        will_write(session)
    current = erase_plan(session, plan.email)
    grown = current.grown_beyond(plan)
    if grown:
        session.rollback()
        raise PlanChangedError(
            f"{plan.email}: more is stored than the plan showed ({', '.join(grown)}); "
            "look at the plan again"
        )
    # an interaction's sources, participants and attachments go with it (ON DELETE CASCADE)
    doomed: list[tuple[Any, Sequence[Any]]] = [
        (Participant.id, current.participant_ids),
        (Interaction.id, [i.id for i in current.deleted]),
        (Document.sha256, current.documents),
        (ReviewItem.id, current.review_item_ids),
        (QuarantineItem.id, current.quarantine_ids),
    ]
    for column, values in doomed:
        for part in chunked(list(values)):
            session.execute(
                delete(column.class_)
                .where(column.in_(part))
                .execution_options(synchronize_session=False)
            )
    session.expire_all()
    # people through the ORM: crm.changes leaves a tombstone for the CardDAV export
    for person_id, _ in current.people:
        person = session.get(Person, person_id)
        if person is not None:
            session.delete(person)
    counts = current.counts
    audit.record(session, actor, "person.erase", current.email, **counts)
    session.commit()
    removed = []
    for digest in current.documents:
        # a mail ingested after the commit may have brought the same file back
        if session.get(Document, digest) is None:
            archive.remove(digest)
            removed.append(digest)
    session.commit()
    return EraseSummary(current.email, counts, tuple(removed))
