"""IdleWatcher against a real Dovecot (tests/servers/dovecot.py): IDLE (RFC 2177) reports
new mail, the stop event ends it promptly, a refused login ends it once, a dropped
connection is taken up again."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from adapters.imapconnect import ImapSettings
from adapters.imapidle import IdleWatcher
from tests.servers.dovecot import DovecotServer, ImapUser

MAIL = b"From: ann@customer.example\r\nSubject: new\r\nMessage-ID: <idle-1@x>\r\n\r\nhi\r\n"


@dataclass
class Watching:
    """A watcher running in its thread, and what it reported."""

    watcher: IdleWatcher
    thread: threading.Thread
    stop: threading.Event
    changes: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    changed: threading.Event = field(default_factory=threading.Event)


def settings(user: ImapUser, **overrides: Any) -> ImapSettings:
    values: dict[str, Any] = {
        "host": user.host,
        "port": user.port,
        "security": "none",
        "username": user.name,
        "password": user.password,
        "timeout": 10,
        "account": "idle-test",
    }
    values.update(overrides)
    return ImapSettings(**values)


@pytest.fixture
def start() -> Iterator[Any]:
    running: list[Watching] = []

    def start(config: ImapSettings, **kwargs: Any) -> Watching:
        stop = threading.Event()
        holder: list[Watching] = []

        def on_change() -> None:
            holder[0].changes.append(time.monotonic())
            holder[0].changed.set()

        watcher = IdleWatcher(
            config,
            on_change=on_change,
            stop=stop,
            on_error=lambda message: holder[0].errors.append(message),
            **kwargs,
        )
        thread = threading.Thread(target=watcher.run, daemon=True)
        watching = Watching(watcher, thread, stop)
        holder.append(watching)
        running.append(watching)
        thread.start()
        return watching

    yield start
    for watching in running:
        watching.stop.set()
        watching.thread.join(10)


def test_new_mail_is_reported_within_seconds(
    dovecot: DovecotServer, imap_user: ImapUser, start: Any
) -> None:
    watching = start(settings(imap_user))
    assert watching.watcher.idling.wait(10), "the watcher never entered IDLE"
    appended = time.monotonic()
    dovecot.append(imap_user.name, "INBOX", [MAIL])
    assert watching.changed.wait(5)
    assert watching.changes[0] - appended < 3
    assert watching.errors == []

    watching.changed.clear()  # it goes on watching: a second mail is reported too
    assert watching.watcher.idling.wait(5)
    dovecot.append(imap_user.name, "INBOX", [MAIL.replace(b"idle-1", b"idle-2")])
    assert watching.changed.wait(5)


def test_mail_to_another_folder_is_not_a_change(
    dovecot: DovecotServer, imap_user: ImapUser, start: Any
) -> None:
    watching = start(settings(imap_user))
    assert watching.watcher.idling.wait(10)
    dovecot.append(imap_user.name, "Sent", [MAIL])
    assert not watching.changed.wait(2)


def test_stop_ends_run_promptly(imap_user: ImapUser, start: Any) -> None:
    watching = start(settings(imap_user))
    assert watching.watcher.idling.wait(10)
    stopped = time.monotonic()
    watching.stop.set()
    watching.thread.join(5)
    assert not watching.thread.is_alive()
    assert time.monotonic() - stopped < 2.5


def test_wrong_password_ends_the_watcher_once(
    imap_user: ImapUser, start: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    watching = start(settings(imap_user, password="not-the-password-42"))
    watching.thread.join(15)
    assert not watching.thread.is_alive(), "a refused login must end run(), not loop"
    assert len(watching.errors) == 1
    assert "login refused" in watching.errors[0]
    assert "not-the-password-42" not in caplog.text
    assert watching.changes == []


def test_plain_text_to_a_remote_host_is_refused(start: Any) -> None:
    config = ImapSettings(
        host="mail.example.com", port=143, security="none", username="u", password="p"
    )
    watching = start(config)
    watching.thread.join(5)
    assert not watching.thread.is_alive()
    assert "plain text" in watching.errors[0]


def test_dropped_connection_is_taken_up_again(
    dovecot: DovecotServer, imap_user: ImapUser, start: Any
) -> None:
    watching = start(settings(imap_user), backoff_start=0.1)
    assert watching.watcher.idling.wait(10)
    dovecot.doveadm("kick", imap_user.name)
    deadline = time.monotonic() + 10
    while watching.watcher.idling.is_set() and time.monotonic() < deadline:
        time.sleep(0.05)  # the watcher notices the drop
    assert watching.watcher.idling.wait(10), "the watcher did not reconnect"
    dovecot.append(imap_user.name, "INBOX", [MAIL])
    assert watching.changed.wait(5)
    assert watching.errors == []


def test_reconnects_after_the_server_was_unreachable(start: Any) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = ImapSettings(
        host="127.0.0.1", port=port, security="none", username="u", password="p", timeout=2
    )
    watching = start(config, backoff_start=0.05, backoff_max=0.2)
    time.sleep(0.5)  # several refused connections, retried with back-off
    assert watching.thread.is_alive()
    assert watching.errors == []
    watching.stop.set()
    watching.thread.join(3)
    assert not watching.thread.is_alive()
