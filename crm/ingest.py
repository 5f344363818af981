"""Exactly-once ingest of mail into the interaction history.

One call takes one batch and writes it set-wise (a handful of statements
whatever the batch size). The caller wraps it, with the cursor that follows
the batch, in one transaction: a crash before the commit repeats the batch, a
crash after it does not, and the dedupe key makes a repeat harmless.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.orm import Session

from adapters.records import Address, MailRecord
from crm.archive import Archive
from crm.followups import close_on_replies
from crm.matching import MatchPolicy, Resolution, Resolver, chunked, direction, is_bulk
from crm.models import (
    Attachment,
    ContactPoint,
    Document,
    Interaction,
    InteractionSource,
    Organization,
    Participant,
    Person,
)
from crm.normalize import email_key
from crm.review import note_unmatched


@dataclass
class IngestResult:
    """What one batch brought: new entries, already known ones, and why others were left out."""

    new: int = 0
    known: int = 0
    skipped: int = 0  # internal-only mail, not logged by policy
    unmatched: int = 0  # new entries that no customer matched (yet)

    def __iadd__(self, other: IngestResult) -> IngestResult:
        self.new += other.new
        self.known += other.known
        self.skipped += other.skipped
        self.unmatched += other.unmatched
        return self


@dataclass(frozen=True)
class MailContext:
    """What the caller knows of a batch beyond its records.

    ``private`` says why a record is not logged (a privacy rule, bulk mail), or None.
    ``owner_id`` is the user whose mailbox it is; ``owners`` (storage key -> user id)
    overrides it per mail (the logging mailbox: whoever logged it). ``filed_to``
    (storage key -> an address or a customer's reference) links a logged mail to the
    customer a staff member named in the forward's first line.
    """

    private: Callable[[MailRecord], str | None] | None = None
    owner_id: int | None = None
    owners: Mapping[str, int] = field(default_factory=dict)
    filed_to: Mapping[str, str] = field(default_factory=dict)


#: the dedupe key of a forward's original that lost its Message-ID (an inline forward)
FORWARD_KEY = "fwd:"


@dataclass(frozen=True)
class _Mail:
    """A record with its participants classified, ready to store."""

    record: MailRecord
    participants: tuple[tuple[str, str, str, bool], ...]  # role, email, name, internal
    direction: str
    bulk: bool

    @property
    def external(self) -> list[str]:
        return [email for _, email, _, internal in self.participants if not internal]


def ingest_mail(
    session: Session,
    *,
    account_id: int,
    collection: str,
    records: Sequence[MailRecord],
    policy: MatchPolicy,
    archive: Archive,
    context: MailContext | None = None,
) -> IngestResult:
    """Append ``records`` to the history exactly once; note where each was seen.

    A record ``context.private`` names a reason for is neither stored nor noted as
    seen here: it counts as skipped, like internal-only mail.
    """
    context = context or MailContext()
    kept = [r for r in records if context.private is None or context.private(r) is None]
    unique: dict[str, MailRecord] = {}
    for record in kept:
        unique.setdefault(storage_key(record.dedupe_key), record)
    existing = _existing(session, list(unique))
    existing.update(
        _same_mail_forwarded(session, {k: r for k, r in unique.items() if k not in existing})
    )
    _note_sources(session, account_id, collection, {existing[k]: unique[k] for k in existing})
    result = IngestResult(
        known=len(kept) - len(unique) + len(existing), skipped=len(records) - len(kept)
    )
    fresh = [_classify(r, policy) for k, r in unique.items() if k not in existing]
    logged = [m for m in fresh if m.external or policy.log_internal_mail]
    result.skipped += len(fresh) - len(logged)
    if logged:
        resolutions = Resolver(session, policy).resolve({e for m in logged for e in m.external})
        ids = _insert_interactions(session, logged, context)
        _insert_participants(session, ids, logged, resolutions)
        by_id = dict(zip(ids, (m.record for m in logged), strict=True))
        _note_sources(session, account_id, collection, by_id, fresh=True)
        _insert_attachments(session, ids, logged, archive)
        result.new = len(logged)
        result.unmatched = sum(1 for m in logged if not _any_match(m, resolutions))
        note_unmatched(session, _review_candidates(logged, resolutions))
        existing.update(zip((storage_key(m.record.dedupe_key) for m in logged), ids, strict=True))
        close_on_replies(session, ids)  # follow-ups waiting for these replies
    if context.filed_to:
        _file_to_customers(session, existing, unique, context.filed_to)
    return result


def fuzzy_key(sender: str, subject: str, when: datetime) -> str:
    """The key of a mail by sender, subject and minute: what an inline forward gives of
    its original (no Message-ID, the time to the minute)."""
    subject = " ".join(subject.split()).casefold()
    text = f"{email_key(sender)}\n{subject}\n{when:%Y%m%d%H%M}"
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _fuzzy_keys(record: MailRecord) -> list[str]:
    """A mail's keys for its own minute and the minutes before and after."""
    sender = record.sender.email if record.sender else ""
    minute = record.occurred_at.replace(second=0, microsecond=0)
    return [
        fuzzy_key(sender, record.subject, minute + timedelta(minutes=shift)) for shift in (0, -1, 1)
    ]


def _same_mail_forwarded(session: Session, fresh: dict[str, MailRecord]) -> dict[str, int]:
    """New mail that is stored already under another key, by sender, subject and minute:

    - an inline forward's original (key ``fwd:``) whose real mail came first is that mail;
    - a real mail whose inline-forwarded copy came first takes that entry over: the
      entry gets the mail's own key, Message-ID, thread, time and text.

    Only forwarded originals carry a ``fuzzy_key`` (a partial index holds just them), so
    the second look costs ordinary mail one small query per batch.
    """
    same: dict[str, int] = {}
    for key, record in fresh.items():
        if key.startswith(FORWARD_KEY):
            found = _real_mail(session, record)
            if found is not None:
                same[key] = found
    wanted: dict[str, str] = {}
    for key, record in fresh.items():
        if not key.startswith(FORWARD_KEY):
            wanted.update(dict.fromkeys(_fuzzy_keys(record), key))
    taken: set[int] = set()
    for part in chunked(sorted(wanted)):
        rows = session.execute(
            select(Interaction.fuzzy_key, Interaction.id).where(Interaction.fuzzy_key.in_(part))
        )
        for fuzzy, iid in rows:
            key = wanted[fuzzy or ""]
            if key not in same and iid not in taken:
                _take_over(session, iid, key, fresh[key])
                same[key] = iid
                taken.add(iid)
    return same


def _real_mail(session: Session, forwarded: MailRecord) -> int | None:
    """The stored mail an inline forward's original is: same sender and subject, sent
    within the forward's minute (give or take one)."""
    if forwarded.sender is None:
        return None
    when, margin = forwarded.occurred_at, timedelta(seconds=90)
    rows = session.execute(
        select(Interaction.id, Interaction.subject)
        .join(Participant, Participant.interaction_id == Interaction.id)
        .where(
            Participant.role == "from",
            Participant.email == email_key(forwarded.sender.email),
            Participant.occurred_at.between(when - margin, when + margin),
            Interaction.kind == "email",
        )
        .order_by(Interaction.id)
    )
    subject = " ".join(forwarded.subject.split()).casefold()
    for iid, stored in rows:
        if " ".join(stored.split()).casefold() == subject:
            return int(iid)
    return None


def _take_over(session: Session, interaction_id: int, key: str, record: MailRecord) -> None:
    """The real mail replaces what its inline-forwarded copy said of it."""
    session.execute(
        update(Interaction)
        .where(Interaction.id == interaction_id)
        .values(
            dedupe_key=key,
            message_id=clean(record.message_id, 998) if record.message_id else None,
            thread_key=thread_key(record),
            occurred_at=record.occurred_at,
            subject=clean(record.subject),
            body_text=clean(record.text),
            body_html=clean(record.html),
            fuzzy_key=None,
        )
    )
    session.execute(
        update(Participant)
        .where(Participant.interaction_id == interaction_id)
        .values(occurred_at=record.occurred_at)
    )


def storage_key(dedupe_key: str) -> str:
    """The dedupe key as stored: long keys (a 900-byte Message-ID) become a digest."""
    if len(dedupe_key) <= 500:
        return dedupe_key
    return "sha256:" + hashlib.sha256(dedupe_key.encode("utf-8", "surrogatepass")).hexdigest()


def thread_key(record: MailRecord) -> str:
    """The thread a mail belongs to: the root of its References chain (RFC 5322 3.6.4)."""
    root = record.references[0] if record.references else record.in_reply_to
    return clean(root or record.message_id or record.dedupe_key, 998)


def clean(text: str, limit: int | None = None) -> str:
    """Text the database takes: no NUL (PostgreSQL refuses it), valid UTF-8, within ``limit``."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text[:limit] if limit is not None else text


def _classify(record: MailRecord, policy: MatchPolicy) -> _Mail:
    roles: list[tuple[str, Sequence[Address]]] = [
        ("from", [record.sender] if record.sender else []),
        ("to", record.to),
        ("cc", record.cc),
        ("bcc", record.bcc),
    ]
    seen: set[tuple[str, str]] = set()
    participants = []
    for role, addresses in roles:
        for address in addresses:
            email = clean(email_key(address.email), 320)
            if not email or (role, email) in seen:
                continue
            seen.add((role, email))
            participants.append((role, email, clean(address.name, 255), policy.is_internal(email)))
    sender_internal = record.sender is not None and policy.is_internal(
        email_key(record.sender.email)
    )
    has_external = any(not p[3] for p in participants)
    return _Mail(
        record=record,
        participants=tuple(participants),
        direction=direction(sender_internal, has_external),
        bulk=is_bulk(record.automation_headers),
    )


def _existing(session: Session, keys: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for part in chunked(keys):
        rows = session.execute(
            select(Interaction.dedupe_key, Interaction.id).where(Interaction.dedupe_key.in_(part))
        )
        found.update({key: id_ for key, id_ in rows})
    return found


def _note_sources(
    session: Session,
    account_id: int,
    collection: str,
    seen: dict[int, MailRecord],
    *,
    fresh: bool = False,
) -> None:
    """Record that each interaction was seen in this account's collection (once).

    ``fresh``: the interactions were created by this batch, so none has a source yet.
    """
    if not seen:
        return
    known: dict[int, str] = {}
    for part in chunked([] if fresh else list(seen)):
        rows = session.execute(
            select(InteractionSource.interaction_id, InteractionSource.remote_id).where(
                InteractionSource.account_id == account_id,
                InteractionSource.collection == collection,
                InteractionSource.interaction_id.in_(part),
            )
        )
        known.update({iid: rid for iid, rid in rows})
    new_rows = [
        {
            "interaction_id": iid,
            "account_id": account_id,
            "collection": collection,
            "remote_id": clean(rec.remote_id, 512),
            "labels": clean("\n".join(rec.flags)),
        }
        for iid, rec in seen.items()
        if iid not in known
    ]
    if new_rows:
        session.execute(insert(InteractionSource), new_rows)
    for iid, rec in seen.items():  # a remote id changes when UIDVALIDITY does
        if iid in known and known[iid] != rec.remote_id:
            session.execute(
                update(InteractionSource)
                .where(
                    InteractionSource.interaction_id == iid,
                    InteractionSource.account_id == account_id,
                    InteractionSource.collection == collection,
                )
                .values(remote_id=clean(rec.remote_id, 512))
            )


def _insert_interactions(session: Session, mails: list[_Mail], context: MailContext) -> list[int]:
    """Insert and return the new ids in order.

    No RETURNING: with it, SQLAlchemy sends one statement of thousands of
    parameters per batch, which psycopg parses anew each time (it caches only
    small statements); a plain executemany and one lookup by key cost half.
    """
    rows = [_interaction_row(m, context) for m in mails]
    session.execute(insert(Interaction), rows)
    ids = _existing(session, [row["dedupe_key"] for row in rows])
    return [ids[row["dedupe_key"]] for row in rows]


def _interaction_row(mail: _Mail, context: MailContext) -> dict[str, Any]:
    r = mail.record
    key = storage_key(r.dedupe_key)
    return {
        "kind": "email",
        "direction": mail.direction,
        "occurred_at": r.occurred_at,
        "subject": clean(r.subject),
        "body_text": clean(r.text),
        "body_html": clean(r.html),
        "dedupe_key": key,
        "message_id": clean(r.message_id, 998) if r.message_id else None,
        "thread_key": thread_key(r),
        "is_bulk": mail.bulk,
        "size": r.size,
        "defects": clean("\n".join(r.defects)),
        "owner_id": context.owners.get(key, context.owner_id),
        "fuzzy_key": (
            fuzzy_key(r.sender.email if r.sender else "", r.subject, r.occurred_at)
            if key.startswith(FORWARD_KEY)
            else None
        ),
    }


def _insert_participants(
    session: Session, ids: list[int], mails: list[_Mail], resolved: dict[str, Resolution | None]
) -> None:
    rows = []
    for iid, mail in zip(ids, mails, strict=True):
        for role, email, name, internal in mail.participants:
            match = None if internal else resolved.get(email)
            linked = match is not None and match.is_match
            rows.append(
                {
                    "interaction_id": iid,
                    "role": role,
                    "email": email,
                    "name": name,
                    "is_internal": internal,
                    "person_id": match.person_id if linked and match else None,
                    "organization_id": match.organization_id if linked and match else None,
                    "match_reason": match.reason if linked and match else None,
                    "occurred_at": mail.record.occurred_at,
                }
            )
    if rows:
        session.execute(insert(Participant), rows)


def _file_to_customers(
    session: Session,
    ids: Mapping[str, int],
    records: Mapping[str, MailRecord],
    filed_to: Mapping[str, str],
) -> None:
    """Link each mail a staff member filed to a customer (the forward's first line named
    an address or a reference) to that customer, as the entry's subject ("about"); a
    mail stored before (from a mailbox) is linked as well, once."""
    rows = []
    for key, hint in filed_to.items():
        iid, customer = ids.get(key), _customer(session, hint)
        if iid is None or key not in records or customer is None:
            continue
        person_id, organization_id = customer
        linked = session.scalar(
            select(Participant.id).where(
                Participant.interaction_id == iid,
                Participant.role == "about",
                Participant.person_id.is_(None) if person_id is None
                else Participant.person_id == person_id,
                Participant.organization_id.is_(None) if organization_id is None
                else Participant.organization_id == organization_id,
            )
        )  # fmt: skip
        if linked is not None:
            continue
        rows.append(
            {
                "interaction_id": iid,
                "role": "about",
                "email": clean(hint, 320),
                "name": "",
                "is_internal": False,
                "person_id": person_id,
                "organization_id": organization_id,
                "match_reason": "filed",
                "occurred_at": records[key].occurred_at,
            }
        )
    if rows:
        session.execute(insert(Participant), rows)


def _customer(session: Session, hint: str) -> tuple[int | None, int | None] | None:
    """The (person, organization) an address or a reference (external id) names."""
    if "@" in hint:
        row = session.execute(
            select(Person.id, Person.organization_id)
            .join(ContactPoint, ContactPoint.person_id == Person.id)
            .where(ContactPoint.kind == "email", ContactPoint.value == email_key(hint))
        ).first()
        return (row[0], row[1]) if row else None
    reference = hint.lstrip("#").strip()
    person = session.execute(
        select(Person.id, Person.organization_id).where(
            or_(Person.external_id == reference, Person.external_id == hint)
        )
    ).first()
    if person:
        return person[0], person[1]
    org = session.scalar(
        select(Organization.id).where(
            or_(Organization.external_id == reference, Organization.external_id == hint)
        )
    )
    return (None, org) if org is not None else None


def _insert_attachments(
    session: Session, ids: list[int], mails: list[_Mail], archive: Archive
) -> None:
    rows, sizes = [], {}
    for iid, mail in zip(ids, mails, strict=True):
        for att in mail.record.attachments:
            digest = archive.put(att.data)
            sizes[digest] = att.size
            rows.append(
                {
                    "interaction_id": iid,
                    "document_sha256": digest,
                    "filename": clean(att.filename, 512),
                    "content_type": clean(att.content_type, 255),
                    "size": att.size,
                }
            )
    if not rows:
        return
    stored: set[str] = set()
    for part in chunked(sorted(sizes)):
        stored.update(session.scalars(select(Document.sha256).where(Document.sha256.in_(part))))
    missing = [{"sha256": d, "size": s} for d, s in sizes.items() if d not in stored]
    if missing:
        session.execute(insert(Document), missing)
    session.execute(insert(Attachment), rows)


def _any_match(mail: _Mail, resolved: dict[str, Resolution | None]) -> bool:
    return any((r := resolved.get(e)) is not None and r.is_match for e in mail.external)


def _review_candidates(
    mails: list[_Mail], resolved: dict[str, Resolution | None]
) -> list[tuple[str, str, datetime]]:
    """External addresses that matched nothing, once per mail; bulk mail adds none."""
    out = []
    for mail in mails:
        if mail.bulk:
            continue
        names = {email: name for _, email, name, _ in mail.participants}
        for email in dict.fromkeys(mail.external):
            if resolved.get(email) is None:
                out.append((email, names.get(email, ""), mail.record.occurred_at))
    return out
