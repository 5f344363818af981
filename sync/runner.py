"""The sync loop: adapter -> crm, one transaction per batch.

Each batch's interactions, its quarantined items and the cursor that follows
them are committed together, so a crash before the commit repeats the batch
and a crash after it does not (DESIGN.md, "Ingest: exactly once").
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from adapters.base import BatchLimits, Source
from adapters.errors import AuthError, InvalidCursorError, SourceError, describe
from adapters.records import Batch, Collection
from crm.archive import Archive
from crm.ingest import IngestResult, ingest_mail
from crm.matching import MatchPolicy
from crm.models import Account, SyncRun
from crm.syncstate import (
    ensure_account,
    finish_run,
    load_cursor,
    quarantine,
    save_cursor,
    start_run,
)
from sync.config import AccountConfig, Config, ConfigError
from sync.sources import open_source

log = logging.getLogger(__name__)

#: called after each committed batch: (account, collection, what the batch brought)
BatchListener = Callable[[str, str, "AccountResult"], None]


@dataclass
class AccountResult:
    """What one pass over one account brought, and how it ended."""

    account: str
    ingest: IngestResult = field(default_factory=IngestResult)
    quarantined: int = 0
    error: str = ""
    auth_failed: bool = False

    @property
    def ok(self) -> bool:
        return not self.error


def match_policy(config: Config) -> MatchPolicy:
    """The matching policy from ``[crm]``; mailbox owners' addresses count as staff."""
    staff = set(config.crm.staff_addresses)
    staff.update(a.username.lower() for a in config.accounts if a.username and "@" in a.username)
    return MatchPolicy(
        internal_domains=frozenset(config.crm.internal_domains),
        staff_addresses=frozenset(staff),
        extra_free_mail=frozenset(config.crm.free_mail_domains),
        not_free_mail=frozenset(config.crm.not_free_mail_domains),
        log_internal_mail=config.crm.log_internal_mail,
    )


class Runner:
    """Pulls accounts into the CRM; used by ``crmsync sync`` and (later) the worker."""

    def __init__(
        self,
        config: Config,
        sessions: sessionmaker[Session],
        *,
        on_batch: BatchListener | None = None,
        open_source: Callable[[AccountConfig], Source] | None = None,
    ) -> None:
        self.config = config
        self.sessions = sessions
        self.policy = match_policy(config)
        self.archive = Archive(config.archive.path)
        self.limits = BatchLimits(config.sync.batch_max_items, config.sync.batch_max_bytes)
        self.on_batch = on_batch
        self._open = open_source or (lambda account: _open_configured(account, config))

    def sync_all(self, only: str | None = None) -> list[AccountResult]:
        """One pass over every enabled account (or just ``only``)."""
        accounts = (
            [self.config.account(only)] if only else [a for a in self.config.accounts if a.enabled]
        )
        return [self.sync_account(account) for account in accounts]

    def sync_account(self, account: AccountConfig) -> AccountResult:
        """One pass over one account; its failure is recorded, never raised."""
        result = AccountResult(account.name)
        with self.sessions.begin() as session:
            row = ensure_account(session, account.name, account.kind, account.owner or "")
            run = start_run(session, row)
            account_id, run_id = row.id, run.id
        try:
            with self._open(account) as source:
                for collection in source.collections():
                    self._sync_collection(source, account_id, collection, result)
        except (SourceError, ConfigError) as exc:
            result.error = describe(exc) if isinstance(exc, SourceError) else str(exc)
            result.auth_failed = isinstance(exc, AuthError)
            log.warning("sync of %s failed: %s", account.name, result.error)
        self._finish(account_id, run_id, result)
        return result

    def _sync_collection(
        self, source: Source, account_id: int, collection: Collection, result: AccountResult
    ) -> None:
        with self.sessions() as session:
            cursor = load_cursor(session, account_id, collection.id)
        try:
            self._pull(source, account_id, collection, cursor, result)
        except InvalidCursorError as exc:
            log.info("%s: %s", result.account, describe(exc))
            self._pull(source, account_id, collection, None, result)

    def _pull(
        self,
        source: Source,
        account_id: int,
        collection: Collection,
        cursor: dict[str, Any] | None,
        result: AccountResult,
    ) -> None:
        for batch in source.pull(collection, cursor, self.limits):
            step = self._store(account_id, collection.id, batch, result.account)
            result.ingest += step.ingest
            result.quarantined += step.quarantined
            if self.on_batch:
                self.on_batch(result.account, collection.name, step)

    def _store(self, account_id: int, collection: str, batch: Batch, name: str) -> AccountResult:
        """One batch, its quarantine and its cursor: one transaction."""
        step = AccountResult(name)
        with self.sessions.begin() as session:
            step.ingest = ingest_mail(
                session,
                account_id=account_id,
                collection=collection,
                records=batch.records,
                policy=self.policy,
                archive=self.archive,
            )
            step.quarantined = quarantine(session, account_id, collection, batch.failures)
            save_cursor(session, account_id, collection, batch.cursor)
        return step

    def _finish(self, account_id: int, run_id: int, result: AccountResult) -> None:
        with self.sessions.begin() as session:
            run = session.get_one(SyncRun, run_id)
            account = session.get_one(Account, account_id)
            run.new_count = result.ingest.new
            run.known_count = result.ingest.known
            run.skipped_count = result.ingest.skipped
            run.unmatched_count = result.ingest.unmatched
            run.quarantined_count = result.quarantined
            finish_run(session, run, account, result.error, needs_attention=result.auth_failed)


def _open_configured(account: AccountConfig, config: Config) -> Source:
    return open_source(account, config.sync)
