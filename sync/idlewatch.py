"""IMAP IDLE for the accounts with ``idle = true``: new mail in the INBOX asks for a sync
at once, so logged mail shows up within seconds instead of at the next interval.

Each watched account has one watcher among all the workers: its thread holds the
account's watcher lock (:data:`crm.locks.WATCHERS`), so when the worker watching it
stops or dies, another worker's next look (every :data:`LOOK_SECONDS`) takes over.
A change is a "sync now" request in the database (``requested_by = "idle"``), which
whichever worker is free runs: the watcher never fetches mail itself.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from sqlalchemy.orm import Session, sessionmaker

from adapters.errors import SourceError, describe
from adapters.imap import ImapSource
from adapters.imapidle import IdleWatcher
from crm.locks import WATCHERS, AccountLocks
from crm.syncstate import request_sync
from sync.config import AccountConfig, ConfigError, SyncConfig
from sync.runner import in_transaction
from sync.sources import open_source

log = logging.getLogger(__name__)
#: how often a worker looks for accounts that nobody watches (a watcher that stopped)
LOOK_SECONDS = 30.0


class Watchers:
    """The IDLE watcher threads of one worker."""

    def __init__(
        self, sessions: sessionmaker[Session], locks: AccountLocks, settings: SyncConfig
    ) -> None:
        self.sessions = sessions
        self.locks = locks
        self.settings = settings
        self._threads: dict[str, tuple[AccountConfig, threading.Thread, threading.Event]] = {}
        #: accounts whose watcher ended for good (no IDLE, login refused), as configured then
        self._ended: dict[str, AccountConfig] = {}
        self._looked = 0.0

    def follow(
        self,
        accounts: Iterable[AccountConfig],
        ids: dict[str, int],
        attention: set[str],
        *,
        force: bool = False,
    ) -> None:
        """Watch the enabled ``idle`` accounts not needing attention; stop the others.
        Looks for unwatched accounts at most every :data:`LOOK_SECONDS` unless ``force``."""
        now = time.monotonic()
        wanted = {
            a.name: a
            for a in accounts
            if a.kind == "imap" and a.idle and a.enabled and a.name not in attention
        }
        for name in list(self._threads):
            account, thread, stop = self._threads[name]
            if wanted.get(name) != account or not thread.is_alive():
                stop.set()
                del self._threads[name]
        if not force and now - self._looked < LOOK_SECONDS:
            return
        self._looked = now
        for name, account in wanted.items():
            if name in self._threads or self._ended.get(name) == account or name not in ids:
                continue
            self._ended.pop(name, None)
            stop = threading.Event()
            thread = threading.Thread(
                target=self._watch,
                args=(account, ids[name], stop),
                name=f"idle-{name}",
                daemon=True,
            )
            self._threads[name] = (account, thread, stop)
            thread.start()

    def stop(self) -> None:
        for _account, _thread, stop in self._threads.values():
            stop.set()
        for _account, thread, _stop in self._threads.values():
            thread.join(5)
        self._threads.clear()

    def _watch(self, account: AccountConfig, account_id: int, stop: threading.Event) -> None:
        with self.locks.hold(account_id, WATCHERS) as held:
            if not held:
                return  # another worker watches it
            try:
                source = open_source(account, self.settings)
            except (SourceError, ConfigError) as exc:
                self._end(account, describe(exc) if isinstance(exc, SourceError) else str(exc))
                return
            assert isinstance(source, ImapSource)
            watcher = IdleWatcher(
                source.settings(),
                on_change=self._asker(account.name, account_id),
                stop=stop,
                on_error=lambda message: self._end(account, message),
            )
            log.info("idle: watching the INBOX of %s", account.name)
            watcher.run()
            if watcher.unsupported:
                self._end(account, "the server does not offer IDLE; the interval applies")

    def _asker(self, name: str, account_id: int) -> Callable[[], None]:
        def ask() -> None:
            log.info("idle: new mail in %s; sync requested", name)
            in_transaction(self.sessions, lambda s: request_sync(s, account_id, "idle"))

        return ask

    def _end(self, account: AccountConfig, why: str) -> None:
        log.warning("idle: not watching %s: %s", account.name, why)
        self._ended[account.name] = account
