"""EWS pull: crmsync's EWS adapter against a bare exchangelib loop, in one run.

Puts N mails (default 10,000, about 5 KB each: headers, a text body and, for every
tenth, a small attachment) into one mailbox's inbox in the EWS simulator
(tests/servers/ews.py: HTTP on loopback, Basic auth, Exchange 2016, a service account
with impersonation). Then, alternating, ``--repeat`` times (default 1):

- ``bare``: the limit of the library. exchangelib's own ``Folder.sync_items()`` with
  ``only_fields=[]`` (the ids of every item, paged by 512), then ``Account.fetch()`` of
  those ids for ``mime_content`` (100 per GetItem): every item's MIME content, read and
  nothing more.
- ``adapter``: ``EwsSource.pull()`` of the inbox from no cursor, consuming every batch:
  SyncFolderItems page by page (512 changes, with item class, sensitivity and categories),
  GetItem of each page's new items for MIME content, sensitivity, categories and
  received time, each mail parsed into a MailRecord by the shared MIME parser (what
  IMAP mail goes through). Nothing is written to a database: that is the runner's part,
  measured by benchmarks/imap_ingest.py.
- ``adapter_nochange``: the same pull with the cursor the last one ended with, nothing
  having changed (one SyncFolderItems request).

Prints items per second for both and the ratio adapter/bare time (aim, issue 7: within
1.5x). Wall times; the figures are medians. The simulator runs in this process (one
GIL): its XML rendering is part of both figures alike. The last line is one JSON
object.

    .venv/bin/python benchmarks/ews_pull.py [--mails N] [--repeat K]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from exchangelib import BASIC, IMPERSONATION, Account, Configuration
from exchangelib.credentials import Credentials
from exchangelib.version import Build, Version

from adapters.base import BatchLimits
from adapters.ews import EwsSource
from adapters.ewsconnect import EwsSettings
from tests.servers.ews import EwsServer

USER, PASSWORD, MAILBOX = "svc-bench", "bench-pass-123", "alice@example.com"
WORDS = ["Angebot", "Lieferung", "Termin", "Rechnung", "Kran", "Fracht", "Hafen", "bitte"]


def make_mail(n: int, rng: random.Random) -> bytes:
    message = EmailMessage()
    message["From"] = f"Kunde {n} <kunde{n % 500}@customer{n % 97}.example>"
    message["To"] = MAILBOX
    message["Subject"] = f"Anfrage {n}: " + " ".join(rng.choices(WORDS, k=4))
    message["Message-ID"] = f"<bench-{n}@customer{n % 97}.example>"
    message["Date"] = "Mon, 23 Nov 2026 09:00:00 +0000"
    body = "\n".join(" ".join(rng.choices(WORDS, k=12)) for _ in range(45))
    message.set_content(f"Hallo Alice,\n\n{body}\n\nGruß")
    if n % 10 == 0:
        message.add_attachment(rng.randbytes(1500), maintype="application", subtype="pdf",
                               filename=f"angebot-{n}.pdf")  # fmt: skip
    return bytes(message)


def bare(server: EwsServer) -> tuple[float, int]:
    config = Configuration(
        service_endpoint=server.url,
        credentials=Credentials(USER, PASSWORD),
        auth_type=BASIC,
        version=Version(build=Build(15, 1)),
    )
    account = Account(MAILBOX, config=config, autodiscover=False, access_type=IMPERSONATION)
    start = time.perf_counter()
    ids = [item for change, item in account.inbox.sync_items(only_fields=[]) if change == "create"]
    total = 0
    for item in account.fetch(ids, folder=account.inbox, only_fields=["mime_content"]):
        total += len(item.mime_content)
    elapsed = time.perf_counter() - start
    account.protocol.close()
    assert len(ids) == server_count(server), (len(ids), server_count(server))
    return elapsed, total


def source(server: EwsServer) -> EwsSource:
    settings = EwsSettings(url=server.url, username=USER, password=PASSWORD, auth="basic",
                           version="2016")  # fmt: skip
    return EwsSource(settings=settings, mailboxes=[MAILBOX], folders=["Inbox"], calendar=False,
                     contacts=False, account="bench")  # fmt: skip


def adapter(server: EwsServer, cursor: dict[str, Any] | None) -> tuple[float, int, dict[str, Any]]:
    src = source(server)
    limits = BatchLimits(500, 25_000_000)
    start = time.perf_counter()
    with src:
        [inbox] = src.collections()
        records = 0
        last = cursor or {}
        for batch in src.pull(inbox, cursor, limits):
            records += len(batch.records)
            assert not batch.failures, batch.failures[:3]
            last = batch.cursor
    return time.perf_counter() - start, records, last


def server_count(server: EwsServer) -> int:
    return int(getattr(server, "_bench_count", 0))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mails", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(7)
    with EwsServer.start() as server:
        server.add_user(USER, PASSWORD, impersonation=True)
        server.add_mailbox(MAILBOX)
        size = 0
        for n in range(args.mails):
            raw = make_mail(n, rng)
            size += len(raw)
            server.add_message(MAILBOX, "inbox", raw)
        server._bench_count = args.mails  # type: ignore[attr-defined]
        print(f"{args.mails} mails in the simulator, {size / args.mails / 1024:.1f} KiB each")
        bare(server)  # warm both paths (imports, the simulator's rendering caches)
        adapter(server, None)
        bare_times, adapter_times, nochange_times = [], [], []
        for round_ in range(args.repeat):
            elapsed, _ = bare(server)
            bare_times.append(elapsed)
            elapsed, records, cursor = adapter(server, None)
            assert records == args.mails, records
            adapter_times.append(elapsed)
            for _ in range(3):
                elapsed, records, _ = adapter(server, cursor)
                assert records == 0
                nochange_times.append(elapsed)
            took = f"bare {bare_times[-1]:.2f} s, adapter {adapter_times[-1]:.2f} s"
            print(f"round {round_ + 1}: {took}")
    bare_s, adapter_s = statistics.median(bare_times), statistics.median(adapter_times)
    nochange_ms = statistics.median(nochange_times) * 1000
    figures = {
        "mails": args.mails,
        "bare_exchangelib_s": round(bare_s, 3),
        "bare_exchangelib_msgs_per_s": round(args.mails / bare_s),
        "adapter_initial_s": round(adapter_s, 3),
        "adapter_initial_msgs_per_s": round(args.mails / adapter_s),
        "adapter_nochange_ms": round(nochange_ms, 1),
        "ratio_adapter_over_bare": round(adapter_s / bare_s, 3),
    }
    print(f"bare exchangelib loop: {figures['bare_exchangelib_msgs_per_s']} mails/s")
    print(f"crmsync EWS adapter:   {figures['adapter_initial_msgs_per_s']} mails/s "
          f"(ratio {figures['ratio_adapter_over_bare']}; aim <= 1.5)")  # fmt: skip
    print(f"no-change pull:        {nochange_ms:.1f} ms")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
