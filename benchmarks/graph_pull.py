"""Graph pull: crmsync's Graph adapter against a bare loop of HTTP GETs, in one run.

Puts N mails (default 10,000, about 5 KB each: headers, a text body and, for every
tenth, a small attachment) into one mailbox's inbox in the Graph simulator
(tests/servers/graph.py: HTTPS on loopback, an app with a client secret, tokens from
its token endpoint through msal). Then, alternating, ``--repeat`` times (default 1):

- ``bare``: the reference the issue names. A token from msal, the inbox's message ids
  listed (``GET .../mailFolders/inbox/messages?$select=id&$top=1000``, following
  ``@odata.nextLink``), then one ``GET .../messages/{id}/$value`` per mail on one
  keep-alive ``requests`` session: every MIME content, read and nothing more.
- ``adapter``: ``GraphSource.pull()`` of the inbox from no cursor, every batch consumed:
  the messages delta query page by page (200 a page, with categories, received time and
  the sensitivity property), each page's MIME contents through ``$batch`` (20 a round
  trip), each mail parsed into a MailRecord by the shared MIME parser. Nothing is
  written to a database (that is the runner's part, benchmarks/imap_ingest.py).
- ``adapter_nochange``: the same pull from the delta link the last one stored, nothing
  having changed (one request).

Prints mails per second for both and the ratio adapter/bare time (aim, issue 8: within
1.5x). Wall times; medians. The simulator runs in this process (one GIL): its JSON and
TLS work is part of both figures alike. The last line is one JSON object.

    .venv/bin/python benchmarks/graph_pull.py [--mails N] [--repeat K]
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

from adapters.base import BatchLimits
from adapters.graph import GraphSource
from adapters.graphauth import GraphAuth, GraphSettings, HttpSession
from tests.servers.graph import GraphServer

MAILBOX, SECRET = "alice@contoso.onmicrosoft.com", "bench-secret"
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


def settings(server: GraphServer, client_id: str) -> GraphSettings:
    return GraphSettings(
        tenant=server.tenant_id, client_id=client_id, client_secret=SECRET,
        login_url=server.base_url, graph_url=server.graph_url, ca_file=str(server.ca_file),
    )  # fmt: skip


def bare(server: GraphServer, client_id: str, expected: int) -> tuple[float, int]:
    config = settings(server, client_id)
    with HttpSession(config.verify, 60.0) as http:
        start = time.perf_counter()
        token = GraphAuth(config, http).token()
        http.headers["Authorization"] = f"Bearer {token}"
        base = f"{server.graph_url}/users/{MAILBOX}"
        url: str | None = f"{base}/mailFolders/inbox/messages?$select=id&$top=1000"
        ids: list[str] = []
        while url:
            page = http.get(url).json()
            ids += [m["id"] for m in page["value"]]
            url = page.get("@odata.nextLink")
        total = 0
        for message_id in ids:
            answer = http.get(f"{base}/messages/{message_id}/$value")
            answer.raise_for_status()
            total += len(answer.content)
        elapsed = time.perf_counter() - start
    assert len(ids) == expected, (len(ids), expected)
    return elapsed, total


def adapter(
    server: GraphServer, client_id: str, cursor: dict[str, Any] | None
) -> tuple[float, int, dict[str, Any]]:
    src = GraphSource(
        settings=settings(server, client_id), mailboxes=[MAILBOX], folders=["Inbox"],
        calendar=False, contacts=False, account="bench",
    )  # fmt: skip
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mails", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(7)
    with GraphServer.start() as server:
        server.add_user(MAILBOX)
        client_id = server.add_app(secret=SECRET)
        size = 0
        for n in range(args.mails):
            raw = make_mail(n, rng)
            size += len(raw)
            server.add_message(MAILBOX, "inbox", raw)
        print(f"{args.mails} mails in the simulator, {size / args.mails / 1024:.1f} KiB each")
        bare(server, client_id, args.mails)  # warm both paths (imports, connections)
        adapter(server, client_id, None)
        bare_times, adapter_times, nochange_times = [], [], []
        for round_ in range(args.repeat):
            elapsed, _ = bare(server, client_id, args.mails)
            bare_times.append(elapsed)
            elapsed, records, cursor = adapter(server, client_id, None)
            assert records == args.mails, records
            adapter_times.append(elapsed)
            for _ in range(3):
                elapsed, records, _ = adapter(server, client_id, cursor)
                assert records == 0
                nochange_times.append(elapsed)
            took = f"bare {bare_times[-1]:.2f} s, adapter {adapter_times[-1]:.2f} s"
            print(f"round {round_ + 1}: {took}")
            server.clear_log()
    bare_s, adapter_s = statistics.median(bare_times), statistics.median(adapter_times)
    nochange_ms = statistics.median(nochange_times) * 1000
    figures = {
        "mails": args.mails,
        "bare_get_loop_s": round(bare_s, 3),
        "bare_get_loop_msgs_per_s": round(args.mails / bare_s),
        "adapter_initial_s": round(adapter_s, 3),
        "adapter_initial_msgs_per_s": round(args.mails / adapter_s),
        "adapter_nochange_ms": round(nochange_ms, 1),
        "ratio_adapter_over_bare": round(adapter_s / bare_s, 3),
    }
    print(f"bare loop of GETs:      {figures['bare_get_loop_msgs_per_s']} mails/s")
    print(f"crmsync Graph adapter:  {figures['adapter_initial_msgs_per_s']} mails/s "
          f"(ratio {figures['ratio_adapter_over_bare']}; aim <= 1.5)")  # fmt: skip
    print(f"no-change pull:         {nochange_ms:.1f} ms (a new source: token, folder, delta)")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
