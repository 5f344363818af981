"""Watching an IMAP INBOX with IDLE (RFC 2177), so new mail is pulled within seconds.

:class:`IdleWatcher` logs in with the IMAP source's own settings
(:class:`adapters.imapconnect.ImapSettings`, e.g. ``ImapSource.settings()``), opens the
INBOX read-only (EXAMINE) and waits in IDLE. When the server reports ``EXISTS`` (new
mail) or ``EXPUNGE`` it calls ``on_change()``; the caller then runs a normal pull, so
the watcher only says *when*, never *what*, and never changes the mailbox.

- IDLE is re-issued every :data:`RENEW_SECONDS` (25 minutes): servers may log out a
  client idle for 30 minutes (RFC 2177 §3, RFC 9051 §6.3.13).
- A dropped connection is reconnected after an exponentially growing pause
  (:data:`BACKOFF_START` doubling up to :data:`BACKOFF_MAX`), reset once logged in again.
- A refused login, or settings that cannot work (a certificate not trusted, plain text
  to a remote host), end the watcher: ``on_error(message)`` says why, once.
- A server without the IDLE capability is reported once in the log (and in
  :attr:`IdleWatcher.unsupported`); :meth:`IdleWatcher.run` then returns and the
  account keeps its polling interval.
- Setting the ``stop`` event ends :meth:`IdleWatcher.run` within about
  :data:`CHECK_SECONDS` plus one round trip.

The password is in the settings only; it is never logged (imaplib's trace is off).
"""

from __future__ import annotations

import imaplib
import logging
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

from imapclient.exceptions import LoginError

from adapters.errors import SourceError
from adapters.imapconnect import ImapSettings, connect, shutdown, temporary, text

log = logging.getLogger(__name__)

#: how long one IDLE command lasts before it is renewed
RENEW_SECONDS = 25 * 60.0
#: how often the stop event is looked at while idling
CHECK_SECONDS = 1.0
BACKOFF_START = 1.0
BACKOFF_MAX = 300.0
#: the untagged responses that mean the mailbox changed (RFC 9051 §7.4.1, §7.5.1)
CHANGES = (b"EXISTS", b"EXPUNGE")
#: what a broken connection raises (OSError: refused, reset, timed out)
_DROPPED = (OSError, imaplib.IMAP4.abort, imaplib.IMAP4.error)
#: wake-ups in a row with nothing to read that mean the socket is at its end
_EMPTY_WAKEUPS = 3


class IdleWatcher:
    """Calls ``on_change()`` whenever the INBOX of one IMAP account changes.

    ``run()`` blocks until ``stop`` is set, the login is refused, or the server has no
    IDLE; the worker calls it in a thread of its own.
    """

    def __init__(
        self,
        settings: ImapSettings,
        *,
        on_change: Callable[[], None],
        stop: threading.Event,
        on_error: Callable[[str], None] | None = None,
        folder: str = "INBOX",
        renew_seconds: float = RENEW_SECONDS,
        backoff_start: float = BACKOFF_START,
        backoff_max: float = BACKOFF_MAX,
    ) -> None:
        self.settings = settings
        self.on_change = on_change
        self.on_error = on_error
        self.stop = stop
        self.folder = folder
        self.renew_seconds = renew_seconds
        self.backoff_start, self.backoff_max = backoff_start, backoff_max
        #: set when the server turned out to have no IDLE
        self.unsupported = False
        #: set while an IDLE command is in progress (cleared when the connection drops)
        self.idling = threading.Event()

    def __repr__(self) -> str:
        s = self.settings
        return f"IdleWatcher({s.username}@{s.host}:{s.port}, {self.folder})"

    @property
    def _account(self) -> str:
        return self.settings.account or self.settings.username

    def run(self) -> None:
        """Watch until stopped; reconnect with back-off when the connection drops."""
        delay = self.backoff_start
        while not self.stop.is_set():
            client = self._login()
            if client is None:
                return
            if client is _RETRY:
                self._pause(delay)
                delay = min(delay * 2, self.backoff_max)
                continue
            try:
                if not self._watch(client):
                    return
            except _DROPPED as exc:
                if self.idling.is_set():  # it was watching: the back-off starts afresh
                    delay = self.backoff_start
                self.idling.clear()
                log.warning(
                    "%s: IDLE connection lost (%s); connecting again in %gs",
                    self._account,
                    text(exc) or type(exc).__name__,
                    delay,
                )
                shutdown(client)
                self._pause(delay)
                delay = min(delay * 2, self.backoff_max)
                continue
            self.idling.clear()
            _logout(client)

    def _login(self) -> Any:
        """A logged-in client; :data:`_RETRY` after a transient failure; None when the
        watcher must end (reported through ``on_error``)."""
        try:
            return connect(self.settings, condstore=False)
        except LoginError as exc:
            reason = text(exc)
            if temporary(reason) or isinstance(exc.__context__, imaplib.IMAP4.abort):
                log.warning("%s: login refused for now (%s)", self._account, reason)
                return _RETRY
            self._fail(f"login refused by {self.settings.host}: {reason}")
        except SourceError as exc:
            self._fail(exc.message)
        except ssl.SSLCertVerificationError as exc:
            self._fail(
                f"TLS certificate of {self.settings.host}:{self.settings.port} not trusted"
                f" ({exc.verify_message})"
            )
        except _DROPPED as exc:
            log.warning(
                "%s: cannot reach %s:%d for IDLE (%s)",
                self._account,
                self.settings.host,
                self.settings.port,
                text(exc) or type(exc).__name__,
            )
            return _RETRY
        return None

    def _watch(self, client: Any) -> bool:
        """Idle on the folder until stopped (True) or IDLE is not offered (False)."""
        if not client.has_capability("IDLE"):
            self.unsupported = True
            log.warning(
                "%s: %s does not offer IDLE (RFC 2177); new mail waits for the next poll",
                self._account,
                self.settings.host,
            )
            _logout(client)
            return False
        client.select_folder(self.folder, readonly=True)
        log.info("%s: watching %s with IDLE", self._account, self.folder)
        while not self.stop.is_set():
            if self._idle_once(client):
                self._changed()
        return True

    def _idle_once(self, client: Any) -> bool:
        """One IDLE command, ended by a change, the stop event or the renewal time;
        whether the folder changed."""
        client.idle()
        self.idling.set()
        changed = False
        deadline = time.monotonic() + self.renew_seconds
        empty = 0
        while not changed and not self.stop.is_set() and time.monotonic() < deadline:
            asked = time.monotonic()
            responses = client.idle_check(timeout=CHECK_SECONDS)
            if any(_response_is(r, b"BYE") for r in responses):
                # the server is closing the connection (RFC 9051 §7.1.5)
                raise imaplib.IMAP4.abort("the server said BYE")
            # idle_check() swallows EOF: a closed socket reads as "ready, nothing in it"
            quick = not responses and time.monotonic() - asked < CHECK_SECONDS / 2
            empty = empty + 1 if quick else 0
            if empty >= _EMPTY_WAKEUPS:
                raise imaplib.IMAP4.abort("the server closed the connection")
            changed = _any_change(responses)
        _, responses = client.idle_done()
        return changed or _any_change(responses)

    def _changed(self) -> None:
        try:
            self.on_change()
        except Exception:  # the caller's bug must not end the watching
            log.exception("%s: on_change failed", self._account)

    def _fail(self, message: str) -> None:
        log.warning("%s: IDLE stopped: %s", self._account, message)
        if self.on_error is not None:
            self.on_error(message)

    def _pause(self, seconds: float) -> None:
        self.stop.wait(seconds)


_RETRY = object()


def _any_change(responses: list[Any]) -> bool:
    return any(isinstance(r, tuple) and len(r) >= 2 and r[1] in CHANGES for r in responses or ())


def _response_is(response: Any, name: bytes) -> bool:
    return isinstance(response, tuple) and bool(response) and response[0] == name


def _logout(client: Any) -> None:
    try:
        client.logout()
    except Exception as exc:  # a dead connection: nothing left to release
        log.debug("IDLE logout failed (%s); closing the socket", exc)
        shutdown(client)
