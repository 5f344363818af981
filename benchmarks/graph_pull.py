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
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.graph import GraphSource
from adapters.graphauth import GraphAuth, GraphSettings, HttpSession
from benchmarks.mailpull import Pull, make_mail, measure, timed_pull
from benchmarks.mailpull import figures as mail_figures
from tests.servers.graph import GraphServer

MAILBOX, SECRET = "alice@contoso.onmicrosoft.com", "bench-secret"


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


def adapter(server: GraphServer, client_id: str, cursor: dict[str, Any] | None) -> Pull:
    src = GraphSource(
        settings=settings(server, client_id), mailboxes=[MAILBOX], folders=["Inbox"],
        calendar=False, contacts=False, account="bench",
    )  # fmt: skip
    return timed_pull(src, cursor)


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
            raw = make_mail(n, rng, MAILBOX)
            size += len(raw)
            server.add_message(MAILBOX, "inbox", raw)
        print(f"{args.mails} mails in the simulator, {size / args.mails / 1024:.1f} KiB each")
        medians = measure(
            args.mails,
            args.repeat,
            lambda: bare(server, client_id, args.mails)[0],
            lambda cursor: adapter(server, client_id, cursor),
            after_round=server.clear_log,
        )
    figures = mail_figures(args.mails, "bare_get_loop", medians)
    nochange_ms = medians[2]
    print(f"bare loop of GETs:      {figures['bare_get_loop_msgs_per_s']} mails/s")
    print(f"crmsync Graph adapter:  {figures['adapter_initial_msgs_per_s']} mails/s "
          f"(ratio {figures['ratio_adapter_over_bare']}; aim <= 1.5)")  # fmt: skip
    print(f"no-change pull:         {nochange_ms:.1f} ms (a new source: token, folder, delta)")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
