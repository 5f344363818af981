"""``since``: only mail on or after a day is pulled, on IMAP (INTERNALDATE, real Dovecot),
local files (Date header, else mtime) and EWS (DateTimeReceived, the EWS simulator);
incremental pulls still fetch only what is new, and ``estimate`` counts the same."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from adapters.base import BatchLimits
from adapters.ews import EwsSource
from adapters.ewsconnect import EwsSettings
from adapters.files import FilesSource
from adapters.imap import ImapSource
from adapters.records import Batch, Collection, MailRecord
from tests.servers.dovecot import DovecotServer, ImapUser
from tests.servers.ews import EwsServer

SINCE = date(2024, 1, 1)
OLD = datetime(2023, 11, 5, 9, 30, tzinfo=UTC)
NEW = datetime(2024, 3, 4, 10, 0, tzinfo=UTC)
INBOX = Collection(id="INBOX", name="INBOX")


def mail(n: int, when: datetime | None = None) -> bytes:
    message = EmailMessage()
    message["From"] = "ann@customer.example"
    message["To"] = "alice@example.com"
    message["Subject"] = f"message {n}"
    message["Message-ID"] = f"<since-{n}@customer.example>"
    if when is not None:
        message["Date"] = when.strftime("%a, %d %b %Y %H:%M:%S +0000")
    message.set_content(f"number {n}")
    return bytes(message)


def subjects(batches: list[Batch]) -> list[str]:
    return [r.subject for b in batches for r in b.records if isinstance(r, MailRecord)]


def pull(source: Any, collection: Collection, cursor: Any = None, **limits: int) -> list[Batch]:
    bounds = BatchLimits(limits.get("items", 500), 25_000_000)
    return list(source.pull(collection, cursor, bounds))


# --- IMAP ------------------------------------------------------------------------------


def imap_source(user: ImapUser, **extra: Any) -> ImapSource:
    return ImapSource(
        host=user.host,
        port=user.port,
        security="none",
        username=user.name,
        password=user.password,
        timeout=10,
        account="since",
        **extra,
    )


def test_imap_since_takes_only_recent_mail_and_stays_incremental(
    dovecot: DovecotServer, imap_user: ImapUser
) -> None:
    # INTERNALDATE is the APPEND date; the Date headers say the opposite on purpose
    dovecot.append(imap_user.name, "INBOX", [mail(n, NEW) for n in range(3)], msg_time=OLD)
    dovecot.append(imap_user.name, "INBOX", [mail(n, OLD) for n in range(3, 8)], msg_time=NEW)
    dovecot.append(imap_user.name, "INBOX", [mail(8, NEW)], msg_time=OLD)
    dovecot.append(imap_user.name, "INBOX", [mail(9, NEW)], msg_time=NEW)
    with imap_source(imap_user, since=SINCE) as source:
        assert source.estimate(INBOX, None) == 6
        batches = pull(source, INBOX, items=2)
        assert subjects(batches) == [f"message {n}" for n in (3, 4, 5, 6, 7, 9)]
        lasts = [b.cursor["last_uid"] for b in batches]
        assert lasts == sorted(lasts) and len(set(lasts)) == len(lasts)  # moves per batch
        assert lasts[-1] == 10  # past every UID searched, the old ones too
        cursor = batches[-1].cursor

        assert source.estimate(INBOX, cursor) == 0
        assert pull(source, INBOX, cursor) == []
        dovecot.append(imap_user.name, "INBOX", [mail(10, NEW)], msg_time=OLD)
        dovecot.append(imap_user.name, "INBOX", [mail(11, NEW)], msg_time=NEW)
        assert source.estimate(INBOX, cursor) == 1
        later = pull(source, INBOX, cursor)
        assert subjects(later) == ["message 11"]
        assert later[-1].cursor["last_uid"] == 12


def test_imap_without_since_takes_everything(dovecot: DovecotServer, imap_user: ImapUser) -> None:
    dovecot.append(imap_user.name, "INBOX", [mail(1, NEW)], msg_time=OLD)
    dovecot.append(imap_user.name, "INBOX", [mail(2, NEW)], msg_time=NEW)
    with imap_source(imap_user) as source:
        assert source.estimate(INBOX, None) == 2
        assert subjects(pull(source, INBOX)) == ["message 1", "message 2"]


def test_imap_estimate_after_uidvalidity_changed_counts_all(
    dovecot: DovecotServer, imap_user: ImapUser
) -> None:
    dovecot.append(imap_user.name, "INBOX", [mail(n, NEW) for n in range(3)], msg_time=NEW)
    with imap_source(imap_user) as source:
        cursor = pull(source, INBOX)[-1].cursor
    dovecot.reset_uidvalidity(imap_user.name, "INBOX")
    with imap_source(imap_user) as source:
        assert source.estimate(INBOX, cursor) == 3


# --- files -----------------------------------------------------------------------------


def test_mbox_since_by_date_header_then_envelope(tmp_path: Path) -> None:
    path = tmp_path / "archive.mbox"
    path.write_bytes(
        b"From a Sun Nov  5 09:30:00 2023\n"
        + mail(1, OLD)
        + b"From a Sun Nov  5 09:30:00 2023\n"
        + mail(2, NEW)  # the header wins over the From_ line
        + b"From a Mon Mar  4 10:00:00 2024\n"
        + mail(3)  # no Date header: the From_ line's date
        + b"From a Sun Nov  5 09:30:00 2023\n"
        + mail(4)
    )
    source = FilesSource(path=path, since=SINCE)
    [collection] = source.collections()
    assert source.estimate(collection, None) == 2
    batches = pull(source, collection)
    assert subjects(batches) == ["message 2", "message 3"]
    cursor = batches[-1].cursor
    assert cursor["offset"] == path.stat().st_size
    assert source.estimate(collection, cursor) == 0

    with path.open("ab") as handle:
        handle.write(b"From a Sun Nov  5 09:30:00 2023\n" + mail(5, OLD))
    skipped = pull(source, collection, cursor)
    assert subjects(skipped) == []
    assert skipped[-1].cursor["offset"] == path.stat().st_size  # moved past the old one
    with path.open("ab") as handle:
        handle.write(b"From a Sun Nov  5 09:30:00 2023\n" + mail(6, NEW))
    assert source.estimate(collection, skipped[-1].cursor) == 1
    assert subjects(pull(source, collection, skipped[-1].cursor)) == ["message 6"]


def test_maildir_since_by_date_header_else_mtime(tmp_path: Path) -> None:
    for part in ("cur", "new", "tmp"):
        (tmp_path / part).mkdir()

    def deliver(name: str, raw: bytes, mtime: datetime) -> None:
        path = tmp_path / "new" / name
        path.write_bytes(raw)
        os.utime(path, (mtime.timestamp(), mtime.timestamp()))

    deliver("1.a", mail(1, OLD), NEW)
    deliver("2.b", mail(2, NEW), OLD)
    deliver("3.c", mail(3), NEW)
    deliver("4.d", mail(4), OLD)
    source = FilesSource(path=tmp_path, format="maildir", since=SINCE)
    assert source.estimate(INBOX, None) == 2
    batches = pull(source, INBOX)
    assert sorted(subjects(batches)) == ["message 2", "message 3"]
    cursor = batches[-1].cursor
    assert source.estimate(INBOX, cursor) == 0
    assert pull(source, INBOX, cursor) == []


def test_files_without_since_takes_everything(tmp_path: Path) -> None:
    path = tmp_path / "archive.mbox"
    path.write_bytes(b"From a Sun Nov  5 09:30:00 2023\n" + mail(1, OLD))
    source = FilesSource(path=path)
    [collection] = source.collections()
    assert source.estimate(collection, None) == 1
    assert subjects(pull(source, collection)) == ["message 1"]


# --- EWS -------------------------------------------------------------------------------

SERVICE, PASSWORD, ALICE = "svc-crm", "svc-pass-123", "alice@example.com"


def ews_source(server: EwsServer, **extra: Any) -> EwsSource:
    settings = EwsSettings(
        url=server.url,
        username=SERVICE,
        password=PASSWORD,
        auth="basic",
        access="impersonation",
        version="2016",
        timeout=10.0,
    )
    return EwsSource(settings=settings, mailboxes=[ALICE], account="exchange", **extra)


def test_ews_since_skips_old_mail_without_fetching_it(ews: EwsServer) -> None:
    ews.add_user(SERVICE, PASSWORD, impersonation=True)
    ews.add_mailbox(ALICE)
    for n in range(3):
        ews.add_message(ALICE, "inbox", mail(n, OLD), received=OLD)
    for n in range(3, 5):
        ews.add_message(ALICE, "inbox", mail(n, NEW), received=NEW)
    source = ews_source(ews, since=SINCE, page_size=2)
    [inbox] = [c for c in source.collections() if c.id == f"{ALICE}|mail|Inbox"]
    assert source.estimate(inbox, None) == 2
    ews.clear_log()
    batches = pull(source, inbox)
    assert subjects(batches) == ["message 3", "message 4"]
    # pages of two: [old, old] [old, new] [new]; the first page's items are never fetched
    assert ews.operations() == [
        "SyncFolderItems", "SyncFolderItems", "GetItem", "SyncFolderItems", "GetItem",
    ]  # fmt: skip
    cursor = batches[-1].cursor

    ews.add_message(ALICE, "inbox", mail(5, OLD), received=OLD)
    ews.add_message(ALICE, "inbox", mail(6, NEW), received=NEW)
    assert source.estimate(inbox, cursor) == 1
    later = pull(source, inbox, cursor)
    assert subjects(later) == ["message 6"]


def test_ews_without_since_counts_the_folder(ews: EwsServer) -> None:
    ews.add_user(SERVICE, PASSWORD, impersonation=True)
    ews.add_mailbox(ALICE)
    for n in range(3):
        ews.add_message(ALICE, "inbox", mail(n, OLD), received=OLD)
    source = ews_source(ews)
    [inbox] = [c for c in source.collections() if c.id == f"{ALICE}|mail|Inbox"]
    assert source.estimate(inbox, None) == 3
    assert len(subjects(pull(source, inbox))) == 3
