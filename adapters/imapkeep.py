"""Logged-in IMAP connections kept between the runs of one account, in a long-running worker.

A steady-state pass over an unchanged mailbox is one EXAMINE; logging in again for it
cost more than the pass, on both sides: on a two-core machine a Dovecot login (its
login and mail processes) took about as much CPU as crmsync's whole pass. So the
worker keeps each account's connection after a pass and the next pass of the same
account takes it back, after a NOOP to see that it still lives. Connections idle
longer than :data:`MAX_IDLE_SECONDS` are logged out (servers may drop a client idle
for 30 minutes, RFC 9051 §5.4), and so is everything when the worker stops.

Off unless :meth:`KeptConnections.enable` was called: a one-shot ``crmsync sync``
logs out at the end of its pass. A connection is kept under its settings and a hash
of its password (salted per process, never stored), so a changed password or server
logs in afresh. A connection a pass left in doubt (a network error, a timeout) is
never kept: :class:`adapters.imap.ImapSource` drops it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from typing import Any

from adapters.imapconnect import ImapSettings, shutdown

log = logging.getLogger(__name__)

#: a kept connection older than this is logged out instead of used
MAX_IDLE_SECONDS = 20 * 60.0
#: at most this many connections are kept (the oldest go first)
MAX_KEPT = 2000
_SALT = os.urandom(16)


def _key(settings: ImapSettings) -> tuple[Any, ...]:
    secret = hashlib.sha256(_SALT + settings.password.encode()).hexdigest()
    return (
        settings.host.lower(),
        settings.port,
        settings.security,
        settings.username,
        settings.tls_verify,
        settings.ca_file,
        secret,
    )


class KeptConnections:
    """The connections of one process, by account settings."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._kept: dict[tuple[Any, ...], tuple[Any, float]] = {}
        self._users = 0

    @property
    def enabled(self) -> bool:
        return self._users > 0

    def enable(self) -> None:
        """Keep connections from now on (a worker starts)."""
        with self._mutex:
            self._users += 1

    def release(self) -> None:
        """The worker that enabled keeping stops: when it was the last one, every kept
        connection is logged out and none is kept any more."""
        with self._mutex:
            self._users = max(self._users - 1, 0)
            last = self._users == 0
        if last:
            self.close_all()

    def take(self, settings: ImapSettings) -> Any | None:
        """A live, logged-in connection for these settings, or None."""
        if not self.enabled:
            return None
        with self._mutex:
            found = self._kept.pop(_key(settings), None)
        if found is None:
            return None
        client, since = found
        if time.monotonic() - since > MAX_IDLE_SECONDS:
            _logout(client)
            return None
        try:
            client.noop()
        except Exception:  # dropped by the server meanwhile: a new login it is
            shutdown(client)
            return None
        return client

    def give(self, settings: ImapSettings, client: Any) -> bool:
        """Keep ``client`` for the next pass; False (and nothing kept) when disabled."""
        if not self.enabled:
            return False
        with self._mutex:
            old = self._kept.pop(_key(settings), None)
            self._kept[_key(settings)] = (client, time.monotonic())
            extra = len(self._kept) - MAX_KEPT
            oldest = sorted(self._kept, key=lambda k: self._kept[k][1])[:extra] if extra > 0 else []
            dropped = [self._kept.pop(k)[0] for k in oldest]
        for other in ([old[0]] if old else []) + dropped:
            _logout(other)
        return True

    def sweep(self) -> int:
        """Log out the connections idle too long; how many."""
        now = time.monotonic()
        with self._mutex:
            stale = [k for k, (_c, since) in self._kept.items() if now - since > MAX_IDLE_SECONDS]
            clients = [self._kept.pop(k)[0] for k in stale]
        for client in clients:
            _logout(client)
        return len(clients)

    def close_all(self) -> None:
        """Log out every kept connection (the worker stops)."""
        with self._mutex:
            clients = [client for client, _since in self._kept.values()]
            self._kept.clear()
        for client in clients:
            _logout(client)


def _logout(client: Any) -> None:
    try:
        client.logout()
    except Exception:  # already gone: nothing to release but the socket
        shutdown(client)


#: the process's kept connections (the worker enables them)
KEPT = KeptConnections()
