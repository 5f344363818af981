"""The sync loop: adapter -> crm, one transaction per batch.

Each batch's interactions, its quarantined items and the cursor that follows
them are committed together, so a crash before the commit repeats the batch
and a crash after it does not (DESIGN.md, "Ingest: exactly once").
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from adapters.base import BatchLimits, Source
from adapters.errors import (
    AuthError,
    InvalidCursorError,
    SourceError,
    TransientError,
    describe,
)
from adapters.records import (
    Batch,
    Collection,
    ContactRecord,
    EventRecord,
    ItemFailure,
    MailRecord,
)
from crm.archive import Archive
from crm.contacts import ingest_contacts
from crm.db import will_write
from crm.ingest import IngestResult, MailContext, ingest_mail, storage_key
from crm.locks import AccountLocks
from crm.matching import MatchPolicy
from crm.meetings import ingest_events
from crm.models import Account, SyncRun, User, utcnow
from crm.privacy import RuleBook, user_id_by_name, user_ids_by_email
from crm.syncstate import (
    claim_due,
    ensure_account,
    finish_run,
    load_cursor,
    quarantine,
    record_folder,
    save_cursor,
    start_run,
)
from sync.config import AccountConfig, Config, ConfigError
from sync.logbox import unwrap
from sync.logfields import fields
from sync.schedule import Backoff, next_due
from sync.sources import open_source
from sync.stored import all_accounts

log = logging.getLogger(__name__)

#: called after each committed batch: (account, collection, what the batch brought)
BatchListener = Callable[[str, str, "AccountResult"], None]
T = TypeVar("T")
#: how long a claimed account waits before another worker may take it, should the
#: worker that claimed it die (a live one holds it by its lock however long it runs)
CLAIM_SECONDS = 10.0
#: how long after its due time an account waits for the worker that ran it last
#: (which keeps its login) before another worker may take it
GRACE_SECONDS = 5.0
#: how often a transaction is tried when it lost a race (see :func:`in_transaction`)
ATTEMPTS = 4


@dataclass
class AccountResult:
    """What one pass over one account brought, and how it ended.

    ``auth_failed``: the server refused the credentials (the account now needs
    attention). ``retry_after``: how long a busy server asked us to wait, if it said.
    """

    account: str
    ingest: IngestResult = field(default_factory=IngestResult)
    quarantined: int = 0
    error: str = ""
    auth_failed: bool = False
    retry_after: float | None = None
    #: not run: another worker (or thread) is syncing it, or has just synced it
    busy: bool = False
    #: cut short between batches by a shutdown (what was stored stays stored)
    stopped: bool = False
    #: when the account is due next, as this run left it
    next_run_at: datetime | None = None
    #: collections that brought nothing: their status is written when the run ends
    unchanged: list[_Folder] = field(default_factory=list, repr=False)

    @property
    def ok(self) -> bool:
        return not self.error


class Interrupted(SourceError):
    """Raised between batches when the runner is asked to stop (the worker shuts down)."""


def match_policy(config: Config, accounts: Iterable[AccountConfig] | None = None) -> MatchPolicy:
    """The matching policy from ``[crm]``; mailbox owners' addresses count as staff.

    ``accounts`` are the mailboxes whose owners count (default: the config file's).
    """
    staff = set(config.crm.staff_addresses)
    mailboxes = config.accounts if accounts is None else accounts
    staff.update(a.username.lower() for a in mailboxes if a.username and "@" in a.username)
    staff.update(m.lower() for a in mailboxes for m in a.mailboxes)  # Exchange staff mailboxes
    return MatchPolicy(
        internal_domains=frozenset(config.crm.internal_domains),
        staff_addresses=frozenset(staff),
        extra_free_mail=frozenset(config.crm.free_mail_domains),
        not_free_mail=frozenset(config.crm.not_free_mail_domains),
        log_internal_mail=config.crm.log_internal_mail,
    )


def in_transaction(sessions: sessionmaker[Session], work: Callable[[Session], T]) -> T:
    """``work(session)`` in one writing transaction, tried again when it lost a race.

    On SQLite the transaction takes the write lock at its start (:func:`will_write`).
    The race is PostgreSQL's: two accounts store the same mail at once and the
    second insert of its dedupe key fails (or the two deadlock); tried again,
    the mail is known. ``work`` must be safe to repeat (all of ingest is).
    """
    for attempt in range(ATTEMPTS):
        try:
            with sessions.begin() as session:
                return work(will_write(session))
        except (IntegrityError, OperationalError) as exc:
            if attempt == ATTEMPTS - 1 or not _lost_race(exc):
                raise
            log.info("transaction lost a race (%s); trying again", type(exc.orig).__name__)
            time.sleep(0.05 * 2**attempt)
    raise AssertionError("unreachable")


def _lost_race(exc: IntegrityError | OperationalError) -> bool:
    if isinstance(exc, IntegrityError):
        return True
    return getattr(exc.orig, "sqlstate", None) in ("40001", "40P01")  # serialization, deadlock


class Runner:
    """Pulls accounts into the CRM; used by ``crmsync sync`` and by the worker.

    One runner may sync several accounts at once from several threads (the
    worker does); it never runs one account twice at once by itself: that is
    the caller's job (:class:`sync.scheduler.Worker`).
    """

    def __init__(
        self,
        config: Config,
        sessions: sessionmaker[Session],
        *,
        on_batch: BatchListener | None = None,
        open_source: Callable[[AccountConfig], Source] | None = None,
        locks: AccountLocks | None = None,
        backoff: Backoff | None = None,
        worker: str | None = None,
    ) -> None:
        self.config = config
        self.sessions = sessions
        self.locks = locks or AccountLocks(sessions.kw["bind"])
        self.backoff = backoff or Backoff()
        #: who runs the passes, as the runs record it
        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}"
        self.policy = match_policy(config)
        self.archive = Archive(config.archive.path)
        self.limits = BatchLimits(config.sync.batch_max_items, config.sync.batch_max_bytes)
        self.on_batch = on_batch
        self._open = open_source or (lambda account: _open_configured(account, config))
        #: set to end every pass at its next batch (the cursor is stored per batch)
        self.stopping = threading.Event()

    def know_accounts(self, accounts: Iterable[AccountConfig]) -> None:
        """Count the owners of all these mailboxes as staff (accounts from the web view
        too), and the users' own addresses."""
        self.policy = match_policy(self.config, accounts)
        with self.sessions() as session:
            self._more_staff(a for a in session.scalars(select(User.email)) if a)

    def sync_all(self, only: str | None = None, trigger: str = "manual") -> list[AccountResult]:
        """One pass over every enabled account, from the config file and the web view
        (or just ``only``, enabled or not)."""
        accounts = all_accounts(self.config, self.sessions)
        self.know_accounts(accounts)
        if only:
            return [self.sync_account(pick_account(accounts, only), trigger)]
        return [self.sync_account(a, trigger) for a in accounts if a.enabled]

    def sync_account(self, account: AccountConfig, trigger: str = "manual") -> AccountResult:
        """One pass over one account; its failure is recorded, never raised.

        ``trigger`` is stored on the run: ``schedule``, ``request`` or ``manual``. An
        account another thread or process is syncing is left alone (``busy``), and so
        is one a scheduled pass finds already done (another worker ran it since it was
        due).
        """
        result = AccountResult(account.name)
        account_id = self._account_id(account, trigger)
        if account_id is None:  # not due: another worker took it, or ran it just now
            result.busy = True
            return result
        with self.locks.hold(account_id) as held:
            if not held:
                result.busy = True
                return result
            run_id = in_transaction(
                self.sessions, lambda session: self._start(session, account, trigger)
            )
            started = time.monotonic()
            self._pass(account, account_id, result)
            in_transaction(
                self.sessions,
                lambda session: self._finish(session, account, account_id, run_id, result),
            )
        log.info(
            "run %s",
            fields(
                account=account.name,
                trigger=trigger,
                status="stopped" if result.stopped else "failed" if result.error else "ok",
                new=result.ingest.new,
                known=result.ingest.known,
                quarantined=result.quarantined,
                duration_ms=round((time.monotonic() - started) * 1000),
            ),
        )
        return result

    def _pass(self, account: AccountConfig, account_id: int, result: AccountResult) -> None:
        try:
            with self._open(account) as source:
                collections = source.collections()
                self._more_staff(source.staff_addresses())
                for collection in collections:
                    self._sync_collection(source, account, account_id, collection, result)
        except Interrupted:
            result.stopped = True
            result.error = "stopped between batches: crmsync was shutting down"
        except (SourceError, ConfigError) as exc:
            self._failed(result, exc)
        except Exception as exc:  # a bug or the database: the run is closed as failed
            result.error = f"unexpected error: {type(exc).__name__}: {_first_line(exc)}"
            # a database error's text holds the statement's parameters: mail, so no traceback
            traceback = not isinstance(exc, SQLAlchemyError)
            log.error("sync of %s failed: %s", account.name, result.error, exc_info=traceback)

    def _more_staff(self, addresses: Iterable[str]) -> None:
        """Count these addresses as staff too (mailboxes a source found, such as the members
        of an Exchange distribution group)."""
        extra = {a.lower() for a in addresses} - self.policy.staff_addresses
        if extra:
            self.policy = replace(
                self.policy, staff_addresses=self.policy.staff_addresses | frozenset(extra)
            )

    def _account_id(self, account: AccountConfig, trigger: str) -> int | None:
        """The account's row id; for a scheduled pass only if it is due, and then claimed
        (:func:`crm.syncstate.claim_due`), so that the workers do not all try it."""

        def claim(session: Session) -> int | None:
            lease, grace = timedelta(seconds=CLAIM_SECONDS), timedelta(seconds=GRACE_SECONDS)
            return claim_due(session, account.name, lease, self.worker, grace)

        if trigger == "schedule":
            claimed = in_transaction(self.sessions, claim)
            if claimed is not None:
                return claimed
        with self.sessions() as session:  # a read: most runs find the row there
            found = session.scalar(select(Account.id).where(Account.name == account.name))
        if found is None:  # never synced: the row is made, then (if scheduled) claimed
            in_transaction(
                self.sessions,
                lambda s: ensure_account(
                    s, account.name, account.kind, account.owner or "", role=account.role
                ),
            )
            return self._account_id(account, trigger)
        return None if trigger == "schedule" else found

    def _start(self, session: Session, account: AccountConfig, trigger: str) -> int:
        """Open the run (the caller holds the account)."""
        row = ensure_account(
            session, account.name, account.kind, account.owner or "", role=account.role
        )
        return start_run(session, row, trigger, self.worker).id

    def _failed(self, result: AccountResult, exc: SourceError | ConfigError) -> None:
        result.error = describe(exc) if isinstance(exc, SourceError) else str(exc)
        result.auth_failed = isinstance(exc, AuthError)
        if isinstance(exc, TransientError):
            result.retry_after = exc.retry_after
        log.warning("sync of %s failed: %s", result.account, result.error)

    def _sync_collection(
        self,
        source: Source,
        account: AccountConfig,
        account_id: int,
        collection: Collection,
        result: AccountResult,
    ) -> None:
        folder = _Folder(
            account_id,
            collection,
            utcnow(),
            account.policy,
            role=account.role,
            owner=account.owner or "",
            authserv_id=account.authserv_id,
        )
        with self.sessions() as session:
            cursor = load_cursor(session, account_id, collection.id)
        before, started = replace(result.ingest), time.monotonic()
        try:
            try:
                batches = self._pull(source, folder, cursor, result)
            except InvalidCursorError as exc:
                log.info("%s: %s", result.account, describe(exc))
                batches = self._pull(source, folder, None, result)
        except (SourceError, ConfigError) as exc:
            error = describe(exc) if isinstance(exc, SourceError) else str(exc)
            in_transaction(self.sessions, lambda session: folder.record(session, error=error))
            raise
        if batches:
            in_transaction(self.sessions, lambda session: folder.record(session, ok=True))
        else:  # unchanged: noted with the end of the run, one transaction fewer
            result.unchanged.append(folder)
        log.info(
            "collection %s",
            fields(
                account=account.name,
                collection=collection.name,
                new=result.ingest.new - before.new,
                known=result.ingest.known - before.known,
                duration_ms=round((time.monotonic() - started) * 1000),
            ),
        )

    def _pull(
        self,
        source: Source,
        folder: _Folder,
        cursor: dict[str, Any] | None,
        result: AccountResult,
    ) -> int:
        """Pull and store ``folder`` from ``cursor``; how many batches came."""
        count = 0
        for batch in source.pull(folder.collection, cursor, self.limits):
            count += 1
            step = in_transaction(
                self.sessions, partial(self._store, folder=folder, batch=batch, result=result)
            )
            result.ingest += step.ingest
            result.quarantined += step.quarantined
            if self.on_batch:
                self.on_batch(result.account, folder.collection.name, step)
            if self.stopping.is_set():
                raise Interrupted("interrupted: crmsync was stopped", account=result.account)
        return count

    def _store(
        self, session: Session, folder: _Folder, batch: Batch, result: AccountResult
    ) -> AccountResult:
        """One batch, its quarantine, its cursor and the folder's counts: one transaction."""
        step = AccountResult(result.account)
        account_id, collection = folder.account_id, folder.collection.id
        mails = [r for r in batch.records if isinstance(r, MailRecord)]
        events = [r for r in batch.records if isinstance(r, EventRecord)]
        contacts = [r for r in batch.records if isinstance(r, ContactRecord)]
        failures = list(batch.failures)
        if mails:
            context, mails = self._mail_context(session, folder, mails, failures)
            step.ingest = ingest_mail(
                session,
                account_id=account_id,
                collection=collection,
                records=mails,
                policy=self.policy,
                archive=self.archive,
                context=context,
            )
        if events or folder.collection.kind == "calendar":
            meetings = ingest_events(
                session,
                account_id=account_id,
                collection=collection,
                records=events,
                policy=self.policy,
                deleted=batch.deleted,
                window=batch.window,
            )
            step.ingest += IngestResult(
                new=meetings.new, known=meetings.known + meetings.updated, skipped=meetings.skipped
            )
        if contacts or folder.collection.kind == "contacts":
            cards = ingest_contacts(
                session,
                account_id=account_id,
                collection=collection,
                records=contacts,
                policy=folder.contacts_policy,
                default_region=self.config.crm.default_region,
                deleted=batch.deleted,
            )
            step.ingest += IngestResult(
                new=cards.created,
                known=cards.enriched + cards.unchanged,
                skipped=cards.unmatched + len(cards.problems),
            )
        step.quarantined = quarantine(session, account_id, collection, failures)
        save_cursor(session, account_id, collection, batch.cursor)
        folder.record(
            session, new=step.ingest.new, known=step.ingest.known, quarantined=step.quarantined
        )
        return step

    def _mail_context(
        self,
        session: Session,
        folder: _Folder,
        mails: list[MailRecord],
        failures: list[ItemFailure],
    ) -> tuple[MailContext, list[MailRecord]]:
        """Whose mail it is and what the privacy rules keep out; for the logging mailbox
        the originals behind what staff BCC'd or forwarded (refusals join ``failures``)."""
        book = RuleBook.load(session, log_bulk=self.config.crm.log_bulk_mail)
        collection = folder.collection.id
        if folder.role != "logging":
            owner_id = user_id_by_name(session, folder.owner)
            rules = book.for_user(owner_id)
            return MailContext(
                private=lambda record: rules.reason(record, collection), owner_id=owner_id
            ), mails
        logged = unwrap(mails, policy=self.policy, authserv_id=folder.authserv_id)
        failures.extend(logged.refused)
        users = user_ids_by_email(session, logged.senders.values())
        owners = {key: users[sender] for key, sender in logged.senders.items() if sender in users}

        def private(record: MailRecord) -> str | None:
            owner = owners.get(storage_key(record.dedupe_key))
            return book.for_user(owner).reason(record, "")

        context = MailContext(private=private, owners=owners, filed_to=logged.filed_to)
        return context, logged.records

    def _finish(
        self,
        session: Session,
        account: AccountConfig,
        account_id: int,
        run_id: int,
        result: AccountResult,
    ) -> None:
        for folder in result.unchanged:
            folder.record(session, ok=True)
        run = session.get_one(SyncRun, run_id)
        row = session.get_one(Account, account_id)
        run.new_count = result.ingest.new
        run.known_count = result.ingest.known
        run.skipped_count = result.ingest.skipped
        run.unmatched_count = result.ingest.unmatched
        run.quarantined_count = result.quarantined
        now = utcnow()

        def due(failures: int) -> datetime | None:
            if result.auth_failed or not account.enabled:
                return None  # not scheduled: until an admin acts, or only on request
            result.next_run_at = next_due(
                now,
                account.interval_seconds,
                failures=failures,
                backoff=self.backoff,
                retry_after=result.retry_after,
            )
            return result.next_run_at

        finish_run(
            session,
            run,
            row,
            result.error,
            needs_attention=result.auth_failed,
            stopped=result.stopped,
            due=due,
        )


@dataclass(frozen=True)
class _Folder:
    """One pass over one collection: what :func:`record_folder` needs to know it again."""

    account_id: int
    collection: Collection
    started_at: datetime
    #: contacts: the account's policy, "enrich" or "import" (see crm.contacts)
    contacts_policy: str = "enrich"
    #: mail: "mailbox" or "logging", whose mailbox it is, whose Authentication-Results count
    role: str = "mailbox"
    owner: str = ""
    authserv_id: str | None = None

    def record(self, session: Session, **what: Any) -> None:
        record_folder(
            session,
            self.account_id,
            self.collection.id,
            self.collection.name,
            started_at=self.started_at,
            **what,
        )


def pick_account(accounts: list[AccountConfig], name: str) -> AccountConfig:
    for account in accounts:
        if account.name == name:
            return account
    known = ", ".join(account.name for account in accounts) or "none"
    raise ConfigError(f'no account named "{name}"; known: {known}')


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:200] if lines else ""


def _open_configured(account: AccountConfig, config: Config) -> Source:
    return open_source(account, config.sync)
