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
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from exchangelib import BASIC, IMPERSONATION, Account, Configuration
from exchangelib.credentials import Credentials
from exchangelib.version import Build, Version

from adapters.ews import EwsSource
from adapters.ewsconnect import EwsSettings
from benchmarks.mailpull import MAILBOX, Pull, make_mail, measure, timed_pull
from benchmarks.mailpull import figures as mail_figures
from tests.servers.ews import EwsServer

USER, PASSWORD = "svc-bench", "bench-pass-123"


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


def adapter(server: EwsServer, cursor: dict[str, Any] | None) -> Pull:
    return timed_pull(source(server), cursor)


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
        medians = measure(args.mails, args.repeat, lambda: bare(server)[0],
                          lambda cursor: adapter(server, cursor))  # fmt: skip
    figures = mail_figures(args.mails, "bare_exchangelib", medians)
    nochange_ms = medians[2]
    print(f"bare exchangelib loop: {figures['bare_exchangelib_msgs_per_s']} mails/s")
    print(f"crmsync EWS adapter:   {figures['adapter_initial_msgs_per_s']} mails/s "
          f"(ratio {figures['ratio_adapter_over_bare']}; aim <= 1.5)")  # fmt: skip
    print(f"no-change pull:        {nochange_ms:.1f} ms")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
