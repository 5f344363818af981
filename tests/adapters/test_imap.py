"""ImapSource against a real Dovecot (tests/servers/dovecot.py); nothing is mocked."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from adapters import imap
from adapters.base import BatchLimits
from adapters.errors import AuthError, InvalidCursorError, SourceError, TransientError
from adapters.imap import ImapSource, is_loopback
from adapters.records import Batch, Collection
from tests.servers.dovecot import DovecotServer, ImapUser, write_ca_file

INBOX = Collection(id="INBOX", name="INBOX")
SENT = Collection(id="Sent", name="Sent")
UNLIMITED = BatchLimits()


def mail(n: int, *, padding: int = 0, sender: str = "anna@customer.example") -> bytes:
    """A small, well-formed message; ``padding`` bytes of body make it bigger."""
    body = b"Hello, this is message %d.\r\n" % n + b"x" * padding + b"\r\n"
    return (
        b"From: Anna <%s>\r\n" % sender.encode()
        + b"To: bob@example.com\r\n"
        + b"Subject: message %d\r\n" % n
        + b"Date: Mon, 04 Mar 2024 10:%02d:00 +0100\r\n" % (n % 60)
        + b"Message-ID: <msg-%d@customer.example>\r\n" % n
        + b"\r\n"
        + body
    )


@pytest.fixture
def source(imap_user: ImapUser) -> Iterator[ImapSource]:
    with make_source(imap_user) as src:
        yield src


def make_source(user: ImapUser, **overrides: Any) -> ImapSource:
    settings: dict[str, Any] = {
        "host": user.host,
        "port": user.port,
        "security": "none",
        "username": user.name,
        "password": user.password,
        "account": "test-account",
        "timeout": 10,
    }
    settings.update(overrides)
    return ImapSource(**settings)


def pull(
    src: ImapSource,
    collection: Collection = INBOX,
    cursor: dict[str, Any] | None = None,
    limits: BatchLimits = UNLIMITED,
) -> list[Batch]:
    return list(src.pull(collection, cursor, limits))


def subjects(batches: list[Batch]) -> list[str]:
    return [record.subject for batch in batches for record in batch.records]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- collections -----------------------------------------------------------------------


def test_collections_default_to_inbox_and_the_sent_special_use_folder(source: ImapSource) -> None:
    assert source.collections() == [INBOX, SENT]


def test_collections_resolve_names_and_special_use_flags(
    dovecot: DovecotServer, imap_user: ImapUser
) -> None:
    dovecot.append(imap_user.name, "Projects/Acme", [mail(1)])
    with make_source(imap_user, folders=["inbox", "\\Sent", "Projects/Acme", "INBOX"]) as src:
        found = src.collections()
    assert [c.id for c in found] == ["INBOX", "Sent", "Projects/Acme"]
    assert found[2].name == "Projects/Acme"


def test_a_missing_folder_is_a_source_error_naming_it(imap_user: ImapUser) -> None:
    with make_source(imap_user, folders=["INBOX", "Nope"]) as src:
        with pytest.raises(SourceError, match="'Nope'") as caught:
            src.collections()
        assert type(caught.value) is SourceError
        with pytest.raises(SourceError, match="'Nope'"):
            pull(src, Collection(id="Nope", name="Nope"))


def test_a_configured_special_use_folder_that_does_not_exist_is_an_error(
    imap_user: ImapUser,
) -> None:
    with (
        make_source(imap_user, folders=["\\Drafts"]) as src,
        pytest.raises(SourceError, match="Drafts"),
    ):
        src.collections()


# --- pulling ---------------------------------------------------------------------------


def test_initial_pull_delivers_inbox_and_sent(
    dovecot: DovecotServer, imap_user: ImapUser, source: ImapSource
) -> None:
    inbox_uids = dovecot.append(imap_user.name, "INBOX", [mail(1), mail(2), mail(3)])
    dovecot.append(imap_user.name, "Sent", [mail(4, sender="bob@example.com")])

    inbox = pull(source, INBOX)
    sent = pull(source, SENT)

    assert subjects(inbox) == ["message 1", "message 2", "message 3"]
    assert [r.remote_id for r in inbox[0].records] == [str(uid) for uid in inbox_uids]
    assert subjects(sent) == ["message 4"]
    status = dovecot.status(imap_user.name, "INBOX")
    assert inbox[-1].cursor == {
        "uidvalidity": status[b"UIDVALIDITY"],
        "last_uid": 3,
        "highestmodseq": status[b"HIGHESTMODSEQ"],
    }


def test_incremental_pull_returns_only_new_mail(
    dovecot: DovecotServer, imap_user: ImapUser, source: ImapSource
) -> None:
    dovecot.append(imap_user.name, "INBOX", [mail(1), mail(2)])
    cursor = pull(source)[-1].cursor
    dovecot.append(imap_user.name, "INBOX", [mail(3)])

    batches = pull(source, cursor=cursor)

    assert subjects(batches) == ["message 3"]
    assert batches[-1].cursor["last_uid"] == 3


def test_an_empty_folder_yields_a_cursor_and_then_nothing(source: ImapSource) -> None:
    first = pull(source)
    assert [b.records for b in first] == [()]
    assert first[0].cursor["last_uid"] == 0
    assert pull(source, cursor=first[0].cursor) == []


def test_an_unchanged_mailbox_costs_one_examine(
    dovecot: DovecotServer, imap_user: ImapUser
) -> None:
    dovecot.append(imap_user.name, "INBOX", [mail(1), mail(2)])
    with make_source(imap_user) as src:
        cursor = pull(src)[-1].cursor
    dovecot.enable_rawlog(imap_user.name)

    with make_source(imap_user) as src:
        assert pull(src, cursor=cursor) == []
        assert pull(src, cursor=cursor) == []

    # Measured on the server: Dovecot's rawlog of the session after login.
    commands = dovecot.imap_commands(imap_user.name, sessions=1)
    assert commands == ["ENABLE", "EXAMINE", "EXAMINE", "LOGOUT"]


def test_new_mail_costs_examine_search_and_two_fetches(
    dovecot: DovecotServer, imap_user: ImapUser
) -> None:
    dovecot.append(imap_user.name, "INBOX", [mail(1)])
    with make_source(imap_user) as src:
        cursor = pull(src)[-1].cursor
    dovecot.append(imap_user.name, "INBOX", [mail(2), mail(3)])
    dovecot.enable_rawlog(imap_user.name)

    with make_source(imap_user) as src:
        assert subjects(pull(src, cursor=cursor)) == ["message 2", "message 3"]

    commands = dovecot.imap_commands(imap_user.name, sessions=1)
    assert commands == ["ENABLE", "EXAMINE", "UID SEARCH", "UID FETCH", "UID FETCH", "LOGOUT"]


def test_pulling_never_sets_seen_and_passes_flags_through(
    dovecot: DovecotServer, imap_user: ImapUser, source: ImapSource
) -> None:
    dovecot.append(imap_user.name, "INBOX", [mail(1)])
    dovecot.append(imap_user.name, "INBOX", [mail(2)], flags=["\\Flagged", "private"])

    records = [r for batch in pull(source) for r in batch.records]

    assert records[0].flags == ()
    assert set(records[1].flags) == {"\\Flagged", "private"}
    with dovecot.client(imap_user.name) as other:
        other.select_folder("INBOX", readonly=True)
        flags = other.fetch(other.search(), ["FLAGS"])
    assert all(b"\\Seen" not in data[b"FLAGS"] for data in flags.values())
    assert len(flags) == 2


def test_internaldate_arrives_as_aware_utc(
    dovecot: DovecotServer, imap_user: ImapUser, source: ImapSource
) -> None:
    undated = b"From: anna@customer.example\r\nSubject: no date\r\n\r\nhi\r\n"
    received = datetime(2024, 3, 4, 9, 30, tzinfo=UTC)
    dovecot.append(imap_user.name, "INBOX", [undated], msg_time=received)

    (record,) = pull(source)[0].records

    assert record.occurred_at == received


def test_a_changed_uidvalidity_invalidates_the_cursor(
    dovecot: DovecotServer, imap_user: ImapUser, source: ImapSource
) -> None:
    dovecot.append(imap_user.name, "INBOX", [mail(1), mail(2)])
    cursor = pull(source)[-1].cursor
    source.close()
    new_validity = dovecot.reset_uidvalidity(imap_user.name, "INBOX")

    with pytest.raises(InvalidCursorError) as caught:
        pull(source, cursor=cursor)

    assert caught.value.collection == "INBOX"
    restarted = pull(source, cursor=None)
    assert subjects(restarted) == ["message 1", "message 2"]
    assert restarted[-1].cursor["uidvalidity"] == new_validity


def test_an_unreadable_cursor_is_an_invalid_cursor(source: ImapSource) -> None:
    with pytest.raises(InvalidCursorError):
        pull(source, cursor={"last_uid": "many"})


def test_batches_respect_max_items(
    dovecot: DovecotServer, imap_user: ImapUser, source: ImapSource
) -> None:
    dovecot.append(imap_user.name, "INBOX", [mail(n) for n in range(1, 8)])
    status = dovecot.status(imap_user.name, "INBOX")

    batches = pull(source, limits=BatchLimits(max_items=3))

    assert [len(b.records) for b in batches] == [3, 3, 1]
    assert [b.cursor["last_uid"] for b in batches] == [3, 6, 7]
    # Only the last batch carries HIGHESTMODSEQ: a crash in between never skips mail.
    assert [b.cursor["highestmodseq"] for b in batches] == [None, None, status[b"HIGHESTMODSEQ"]]


def test_earlier_batches_keep_the_previous_modseq(
    dovecot: DovecotServer, imap_user: ImapUser, source: ImapSource
) -> None:
    dovecot.append(imap_user.name, "INBOX", [mail(1)])
    cursor = pull(source)[-1].cursor
    dovecot.append(imap_user.name, "INBOX", [mail(n) for n in range(2, 6)])

    batches = pull(source, cursor=cursor, limits=BatchLimits(max_items=2))

    assert [b.cursor["highestmodseq"] for b in batches[:-1]] == [cursor["highestmodseq"]]
    assert batches[-1].cursor["highestmodseq"] > cursor["highestmodseq"]


def test_batches_respect_max_bytes_and_a_big_message_goes_alone(
    dovecot: DovecotServer, imap_user: ImapUser, source: ImapSource
) -> None:
    small = [mail(n, padding=1000) for n in range(1, 5)]  # ~1.2 kB each
    big = mail(5, padding=6000)
    dovecot.append(imap_user.name, "INBOX", [*small, big, mail(6, padding=1000)])

    batches = pull(source, limits=BatchLimits(max_items=100, max_bytes=2600))

    assert [subjects([b]) for b in batches] == [
        ["message 1", "message 2"],
        ["message 3", "message 4"],
        ["message 5"],
        ["message 6"],
    ]
    for batch in batches:
        assert len(batch.records) == 1 or sum(r.size for r in batch.records) <= 2600


def test_a_malformed_message_ends_in_failures_and_the_rest_is_delivered(
    dovecot: DovecotServer, imap_user: ImapUser, source: ImapSource
) -> None:
    broken = b"X-Nothing-Useful: here\r\n\r\nno From, To, Subject or Date\r\n"
    dovecot.append(imap_user.name, "INBOX", [mail(1), broken, mail(3)])

    (batch,) = pull(source)

    assert subjects([batch]) == ["message 1", "message 3"]
    (failure,) = batch.failures
    assert failure.remote_id == "2"
    assert failure.raw == broken
    assert "not a mail message" in failure.reason
    assert batch.cursor["last_uid"] == 3


def test_expunged_messages_are_skipped_and_the_cursor_moves_past_them(
    dovecot: DovecotServer, imap_user: ImapUser, source: ImapSource
) -> None:
    dovecot.append(imap_user.name, "INBOX", [mail(1), mail(2), mail(3)])
    with dovecot.client(imap_user.name) as writer:
        writer.select_folder("INBOX")
        writer.delete_messages([3])
        writer.expunge()

    batches = pull(source)

    assert subjects(batches) == ["message 1", "message 2"]
    assert batches[-1].cursor["last_uid"] == 3
    assert pull(source, cursor=batches[-1].cursor) == []


# --- connection and errors ---------------------------------------------------------------


def test_a_wrong_password_is_an_auth_error(imap_user: ImapUser) -> None:
    with make_source(imap_user, password="wrong") as src, pytest.raises(AuthError) as caught:
        src.collections()
    assert "wrong" not in str(caught.value)


def test_a_closed_port_is_transient(imap_user: ImapUser) -> None:
    with make_source(imap_user, port=closed_port()) as src, pytest.raises(TransientError):
        pull(src)


@pytest.mark.parametrize("host", ["192.0.2.10", "mail.example.com", "::ffff:192.0.2.1"])
def test_plain_text_to_a_remote_host_is_refused(imap_user: ImapUser, host: str) -> None:
    with make_source(imap_user, host=host) as src:
        with pytest.raises(SourceError, match="plain text") as caught:
            src.collections()
        assert not isinstance(caught.value, TransientError)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("127.0.0.1", True),
        ("127.8.0.1", True),
        ("::1", True),
        ("[::1]", True),
        ("10.0.0.1", False),
        ("localhost.example.com", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_an_unknown_security_mode_is_refused(imap_user: ImapUser) -> None:
    with make_source(imap_user, security="tls") as src, pytest.raises(SourceError, match="tls"):
        src.collections()


def test_ssl_verifies_with_the_generated_ca(dovecot: DovecotServer, imap_user: ImapUser) -> None:
    dovecot.append(imap_user.name, "INBOX", [mail(1)])
    settings = {"security": "ssl", "port": dovecot.ssl_port, "ca_file": dovecot.ca_file}
    with make_source(imap_user, **settings) as src:
        assert subjects(pull(src)) == ["message 1"]


def test_starttls_verifies_with_the_generated_ca(
    dovecot: DovecotServer, imap_user: ImapUser
) -> None:
    dovecot.append(imap_user.name, "INBOX", [mail(1)])
    settings = {"security": "starttls", "host": "localhost", "ca_file": dovecot.ca_file}
    with make_source(imap_user, **settings) as src:
        assert subjects(pull(src)) == ["message 1"]


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_a_wrong_ca_is_a_clear_permanent_error(
    dovecot: DovecotServer, imap_user: ImapUser, tmp_path: Path, security: str
) -> None:
    other_ca = write_ca_file(tmp_path / "other-ca.pem", "some other CA")
    port = dovecot.ssl_port if security == "ssl" else dovecot.port
    settings = {"security": security, "port": port, "ca_file": str(other_ca)}
    with make_source(imap_user, **settings) as src:
        with pytest.raises(SourceError, match="certificate") as caught:
            src.collections()
        assert not isinstance(caught.value, TransientError)


def test_tls_verify_off_connects_and_warns(
    dovecot: DovecotServer, imap_user: ImapUser, caplog: pytest.LogCaptureFixture
) -> None:
    settings = {"security": "ssl", "port": dovecot.ssl_port, "tls_verify": False}
    with make_source(imap_user, **settings) as src:
        assert src.collections() == [INBOX, SENT]
    assert "verification is OFF" in caplog.text


def test_a_missing_ca_file_is_a_permanent_error(imap_user: ImapUser, tmp_path: Path) -> None:
    settings = {"security": "ssl", "ca_file": str(tmp_path / "missing.pem")}
    with make_source(imap_user, **settings) as src:
        with pytest.raises(SourceError, match="ca_file") as caught:
            src.collections()
        assert not isinstance(caught.value, TransientError)


def test_the_password_is_never_logged(
    dovecot: DovecotServer, imap_user: ImapUser, caplog: pytest.LogCaptureFixture
) -> None:
    dovecot.append(imap_user.name, "INBOX", [mail(1)])
    caplog.set_level(logging.DEBUG)
    with make_source(imap_user) as src:
        pull(src)
    wrong = "not-" + imap_user.password
    with make_source(imap_user, password=wrong) as src, pytest.raises(AuthError):
        src.collections()
    assert caplog.records
    assert imap_user.password not in caplog.text


def test_a_dropped_connection_is_reopened_and_close_tolerates_it(
    dovecot: DovecotServer, imap_user: ImapUser
) -> None:
    dovecot.append(imap_user.name, "INBOX", [mail(1)])
    src = make_source(imap_user)
    cursor = pull(src)[-1].cursor
    dovecot.doveadm("kick", imap_user.name)
    dovecot.append(imap_user.name, "INBOX", [mail(2)])

    assert subjects(pull(src, cursor=cursor)) == ["message 2"]
    dovecot.doveadm("kick", imap_user.name)
    src.close()
    src.close()


# --- the server fixture itself -----------------------------------------------------------


def test_many_messages_go_in_by_multiappend(dovecot: DovecotServer, imap_user: ImapUser) -> None:
    uids = dovecot.append(imap_user.name, "Archive/2024", [mail(n) for n in range(1, 1201)])
    assert uids == list(range(1, 1201))
    assert dovecot.status(imap_user.name, "Archive/2024")[b"MESSAGES"] == 1200


@pytest.mark.usefixtures("dovecot")  # skips where Dovecot is not installed
def test_a_server_started_by_hand_stops_with_all_its_processes() -> None:
    psutil = pytest.importorskip("psutil")
    with DovecotServer.start() as server:
        server.add_user("alice", "secret")
        server.client("alice").logout()
        pid = server.pid
        assert pid is not None
        processes = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
        root = server.root
    assert [p for p in processes if p.is_running() and p.status() != psutil.STATUS_ZOMBIE] == []
    assert not root.exists()


def test_big_folders_are_searched_in_windows_and_fetched_in_chunks(
    dovecot: DovecotServer, imap_user: ImapUser, source: ImapSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imap, "_SEARCH_WINDOW", 3)
    monkeypatch.setattr(imap, "_FETCH_CHUNK", 4)
    dovecot.append(imap_user.name, "INBOX", [mail(n) for n in range(1, 8)])
    dovecot.enable_rawlog(imap_user.name)

    batches = pull(source)
    source.close()

    assert subjects(batches) == [f"message {n}" for n in range(1, 8)]
    commands = dovecot.imap_commands(imap_user.name, sessions=1)
    assert commands.count("UID SEARCH") == 3  # UIDs 1:3, 4:6, 7:7
    assert commands.count("UID FETCH") == 4  # sizes 1-4, 5-7; bodies 1-4, 5-7
