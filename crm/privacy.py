"""Privacy rules: mail that is never logged, applied before anything is stored, and to
what was stored before the rule existed.

A rule is a folder, a label (IMAP keyword or flag, Exchange category), an address or a
domain. Admin-wide rules (no user) name addresses and domains and keep that mail out of
the CRM altogether. A user's rules cover the mail of the mailboxes they own and the mail
they log through the logging mailbox: a mail in alice's "Private" folder is not logged
from her mailbox, but the same mail, received by bob in his inbox, is his to log.

Added later, a rule applies to the past: :func:`impact` counts what it would take out
(shown to the admin before confirming) and :func:`apply_rule` removes it: the user's
sources of the matching interactions, and each interaction no source is left of, with
its attachments' files when nothing else refers to them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, delete, exists, func, or_, select
from sqlalchemy.orm import Session

from adapters.records import MailRecord
from crm import audit
from crm.matching import chunked, is_bulk
from crm.models import (
    Account,
    Attachment,
    Document,
    Interaction,
    InteractionSource,
    Participant,
    PrivacyRule,
    User,
)
from crm.normalize import InvalidValueError, email_key, valid_domain

KINDS = ("folder", "label", "address", "domain")
#: what an admin-wide rule may name (folders and labels belong to a mailbox's owner)
GLOBAL_KINDS = ("address", "domain")


def folder_path(collection: str) -> str:
    """A folder's path as rules compare it: ``INBOX.Private``, ``INBOX/Private`` and an
    Exchange collection ``alice@example.com|mail|Inbox/Private`` are all ``inbox/private``."""
    if "|mail|" in collection:
        collection = collection.rsplit("|mail|", 1)[1]
    return collection.replace(".", "/").strip("/").lower()


def folder_matches(rule: str, collection: str) -> bool:
    """The folder ``rule`` names is ``collection`` or contains it; a rule without
    ``INBOX/`` also names that folder below the inbox (servers differ there)."""
    path, wanted = folder_path(collection), folder_path(rule)
    for candidate in (wanted, f"inbox/{wanted}"):
        if path == candidate or path.startswith(candidate + "/"):
            return True
    return False


def domain_matches(domain: str, email: str) -> bool:
    """``email`` is at ``domain`` or one of its subdomains."""
    at = email.rpartition("@")[2]
    return at == domain or at.endswith("." + domain)


@dataclass(frozen=True)
class Rules:
    """The rules that apply to one mailbox's mail (or one logging sender's)."""

    folders: frozenset[str] = frozenset()
    labels: frozenset[str] = frozenset()
    addresses: frozenset[str] = frozenset()
    domains: frozenset[str] = frozenset()
    #: log mailing-list, newsletter and auto-generated mail (``[crm] log_bulk_mail``)
    log_bulk: bool = False

    def reason(self, record: MailRecord, collection: str) -> str | None:
        """Why ``record`` (in ``collection``) is not logged, or None."""
        for folder in self.folders:
            if folder_matches(folder, collection):
                return f"private folder {folder}"
        labels = {label.lower() for label in record.flags} & self.labels
        if labels:
            return f"private label {sorted(labels)[0]}"
        for email in _emails(record):
            if email in self.addresses:
                return f"never-log address {email}"
            for domain in self.domains:
                if domain_matches(domain, email):
                    return f"never-log domain {domain}"
        if not self.log_bulk and is_bulk(record.automation_headers):
            return "bulk or automated mail"
        return None


def _emails(record: MailRecord) -> Iterable[str]:
    senders = [record.sender] if record.sender else []
    for address in (*senders, *record.to, *record.cc, *record.bcc):
        yield email_key(address.email)


@dataclass
class RuleBook:
    """Every rule, loaded once for a batch: :meth:`for_user` gives one mailbox's."""

    by_user: dict[int | None, list[PrivacyRule]] = field(default_factory=dict)
    log_bulk: bool = False

    @classmethod
    def load(cls, session: Session, *, log_bulk: bool = False) -> RuleBook:
        book = cls(log_bulk=log_bulk)
        for rule in session.scalars(select(PrivacyRule)):
            book.by_user.setdefault(rule.user_id, []).append(rule)
        return book

    def for_user(self, user_id: int | None) -> Rules:
        rules = self.by_user.get(None, []) + (
            self.by_user.get(user_id, []) if user_id is not None else []
        )

        def values(kind: str) -> frozenset[str]:
            return frozenset(r.value for r in rules if r.kind == kind)

        return Rules(
            folders=values("folder"),
            labels=values("label"),
            addresses=values("address"),
            domains=values("domain"),
            log_bulk=self.log_bulk,
        )


def user_id_by_name(session: Session, name: str | None) -> int | None:
    """The id of the user called ``name`` (an account's owner), or None."""
    if not name:
        return None
    return session.scalar(select(User.id).where(User.name == name))


def user_ids_by_email(session: Session, emails: Iterable[str]) -> dict[str, int]:
    """Users by their own address (lower-case), for mail a staff member logged."""
    wanted = sorted({email_key(e) for e in emails if e})
    found: dict[str, int] = {}
    for part in chunked(wanted):
        rows = session.execute(select(User.email, User.id).where(func.lower(User.email).in_(part)))
        found.update({email.lower(): uid for email, uid in rows})
    return found


# --- rules as admins and users add them --------------------------------------------------


def normalized(kind: str, value: str) -> str:
    """The rule's value as stored and compared; raises InvalidValueError with the reason."""
    value = value.strip()
    if kind not in KINDS:
        raise InvalidValueError("rule", kind, f"the kind is one of {', '.join(KINDS)}")
    if not value:
        raise InvalidValueError(kind, value, "the rule needs a value")
    if kind == "address":
        email = email_key(value)
        local, _, domain = email.rpartition("@")
        if not local or not domain:
            raise InvalidValueError(kind, value, "not a mail address")
        return email
    if kind == "domain":
        return valid_domain(value.lstrip("@").lower())
    if kind == "label":
        return value.lower()
    return value.strip("/")


def add_rule(
    session: Session,
    *,
    kind: str,
    value: str,
    user_id: int | None,
    actor: str,
) -> tuple[PrivacyRule, Impact]:
    """Add a rule and apply it to what is stored; the audit log says who and how much.

    After the commit the caller removes ``Impact.files`` from the archive.
    """
    if user_id is None and kind not in GLOBAL_KINDS:
        raise InvalidValueError(
            kind,
            value,
            "folders and labels are a user's: name the user (admin-wide rules "
            "name addresses or domains)",
        )
    value = normalized(kind, value)
    known = session.scalar(
        select(PrivacyRule).where(
            PrivacyRule.kind == kind,
            PrivacyRule.value == value,
            PrivacyRule.user_id.is_(None) if user_id is None else PrivacyRule.user_id == user_id,
        )
    )
    if known is not None:
        raise InvalidValueError(kind, value, "that rule exists already")
    rule = PrivacyRule(kind=kind, value=value, user_id=user_id, created_by=actor)
    session.add(rule)
    session.flush()
    done = apply_rule(session, rule)
    audit.record(
        session,
        actor,
        "privacy_rule.add",
        f"{kind} {value}" + ("" if user_id is None else f" (user {user_id})"),
        removed_interactions=done.interactions,
        removed_sources=done.sources,
        removed_files=len(done.files),
    )
    return rule, done


def remove_rule(session: Session, rule: PrivacyRule, actor: str) -> None:
    """Drop a rule: mail is logged again from now on (what was removed stays removed)."""
    audit.record(
        session,
        actor,
        "privacy_rule.remove",
        f"{rule.kind} {rule.value}" + ("" if rule.user_id is None else f" (user {rule.user_id})"),
    )
    session.delete(rule)


def rules_of(session: Session, user_id: int | None) -> Sequence[PrivacyRule]:
    """A user's rules, or the admin-wide ones for None."""
    owner = PrivacyRule.user_id.is_(None) if user_id is None else PrivacyRule.user_id == user_id
    return session.scalars(
        select(PrivacyRule).where(owner).order_by(PrivacyRule.kind, PrivacyRule.value)
    ).all()


# --- the past ------------------------------------------------------------------------------


@dataclass
class Impact:
    """What a rule takes (or took) out of the history."""

    interactions: int = 0
    sources: int = 0
    #: archive files no longer referred to (removed after the commit by the caller)
    files: list[str] = field(default_factory=list)


def impact(session: Session, kind: str, value: str, user_id: int | None) -> Impact:
    """What adding this rule would remove, without removing it."""
    value = normalized(kind, value)
    sources, whole = _targets(session, PrivacyRule(kind=kind, value=value, user_id=user_id))
    doomed = whole | _left_without_source(session, sources)
    return Impact(interactions=len(doomed), sources=len(sources))


def apply_rule(session: Session, rule: PrivacyRule) -> Impact:
    """Remove what ``rule`` matches from the stored history (see the module's text).

    The rows of documents no attachment refers to any more go too; their files are the
    caller's to remove (``Impact.files``) once the transaction has committed, so a
    rollback never leaves a row without its file.
    """
    sources, whole = _targets(session, rule)
    doomed = whole | _left_without_source(session, sources)
    for part in chunked(sorted(sources)):
        session.execute(delete(InteractionSource).where(InteractionSource.id.in_(part)))
    digests: set[str] = set()
    for part in chunked(sorted(doomed)):
        digests.update(
            session.scalars(
                select(Attachment.document_sha256).where(Attachment.interaction_id.in_(part))
            )
        )
        for table in (Attachment, Participant, InteractionSource):
            session.execute(delete(table).where(table.interaction_id.in_(part)))
        session.execute(delete(Interaction).where(Interaction.id.in_(part)))
    files = orphaned_documents(session, digests)
    return Impact(interactions=len(doomed), sources=len(sources), files=files)


def orphaned_documents(session: Session, digests: Iterable[str]) -> list[str]:
    """Delete the rows of the documents among ``digests`` no attachment refers to; their
    digests (whose files the caller removes)."""
    gone: list[str] = []
    for part in chunked(sorted(set(digests))):
        unused = session.scalars(
            select(Document.sha256).where(
                Document.sha256.in_(part),
                ~exists().where(Attachment.document_sha256 == Document.sha256),
            )
        ).all()
        if unused:
            session.execute(delete(Document).where(Document.sha256.in_(unused)))
            gone.extend(unused)
    return gone


def _targets(session: Session, rule: PrivacyRule) -> tuple[set[int], set[int]]:
    """(ids of the sources the rule removes, ids of the interactions it removes whole)."""
    mail = Interaction.kind == "email"
    if rule.user_id is None:  # admin-wide: address or domain, wherever it was seen
        matching = select(Participant.interaction_id).where(_participant_matches(rule))
        whole = set(
            session.scalars(select(Interaction.id).where(mail, Interaction.id.in_(matching)))
        )
        return set(), whole
    owner = session.get(User, rule.user_id)
    mine = _users_sources(owner)
    query = (
        select(InteractionSource.id, InteractionSource.collection, InteractionSource.labels)
        .join(Interaction, Interaction.id == InteractionSource.interaction_id)
        .where(mail, mine)
    )
    if rule.kind == "label":  # narrowed here, matched against whole lines below
        query = query.where(
            func.lower(InteractionSource.labels).contains(rule.value, autoescape=True)
        )
    elif rule.kind in ("address", "domain"):
        matching = select(Participant.interaction_id).where(_participant_matches(rule))
        query = query.where(InteractionSource.interaction_id.in_(matching))
    found = set()
    for source_id, collection, labels in session.execute(query):
        if rule.kind == "folder" and not folder_matches(rule.value, collection):
            continue
        if rule.kind == "label" and rule.value not in labels.lower().splitlines():
            continue  # "private" is not "private-ish"
        found.add(source_id)
    return found, set()


def _users_sources(owner: User | None) -> ColumnElement[bool]:
    """The sources that are a user's: from the mailboxes they own, and what they logged
    through a logging mailbox (the interaction's owner)."""
    if owner is None:
        return InteractionSource.id.is_(None)
    owned = select(Account.id).where(Account.owner == owner.name)
    logging = select(Account.id).where(Account.role == "logging")
    return or_(
        InteractionSource.account_id.in_(owned),
        InteractionSource.account_id.in_(logging) & (Interaction.owner_id == owner.id),
    )


def _participant_matches(rule: PrivacyRule) -> ColumnElement[bool]:
    if rule.kind == "address":
        return Participant.email == rule.value
    return or_(
        Participant.email.endswith("@" + rule.value, autoescape=True),
        Participant.email.endswith("." + rule.value, autoescape=True),
    )


def _left_without_source(session: Session, sources: set[int]) -> set[int]:
    """The interactions all of whose sources are among ``sources``."""
    if not sources:
        return set()
    touched: set[int] = set()
    for part in chunked(sorted(sources)):
        touched.update(
            session.scalars(
                select(InteractionSource.interaction_id).where(InteractionSource.id.in_(part))
            )
        )
    doomed: set[int] = set()
    for part in chunked(sorted(touched)):
        rows = session.execute(
            select(InteractionSource.interaction_id, InteractionSource.id).where(
                InteractionSource.interaction_id.in_(part)
            )
        )
        remaining: dict[int, int] = {}
        for iid, sid in rows:
            if sid not in sources:
                remaining[iid] = remaining.get(iid, 0) + 1
        doomed.update(i for i in part if not remaining.get(i))
    return doomed


PrivateTest = Callable[[MailRecord], str | None]
