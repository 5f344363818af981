"""What the Exchange pull benchmarks share (benchmarks/ews_pull.py, benchmarks/graph_pull.py):
the generated mail, a timed pull of one inbox, and the rounds of bare loop against adapter
with their figures."""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

from adapters.base import BatchLimits, Source

MAILBOX = "alice@example.com"
WORDS = ["Angebot", "Lieferung", "Termin", "Rechnung", "Kran", "Fracht", "Hafen", "bitte"]

#: one pull: (seconds, records, cursor at its end)
Pull = tuple[float, int, dict[str, Any]]


def make_mail(n: int, rng: random.Random, mailbox: str = MAILBOX) -> bytes:
    """Mail ``n`` to ``mailbox``: headers, a text body, every tenth with a small PDF."""
    message = EmailMessage()
    message["From"] = f"Kunde {n} <kunde{n % 500}@customer{n % 97}.example>"
    message["To"] = mailbox
    message["Subject"] = f"Anfrage {n}: " + " ".join(rng.choices(WORDS, k=4))
    message["Message-ID"] = f"<bench-{n}@customer{n % 97}.example>"
    message["Date"] = "Mon, 23 Nov 2026 09:00:00 +0000"
    body = "\n".join(" ".join(rng.choices(WORDS, k=12)) for _ in range(45))
    message.set_content(f"Hallo Alice,\n\n{body}\n\nGruß")
    if n % 10 == 0:
        message.add_attachment(rng.randbytes(1500), maintype="application", subtype="pdf",
                               filename=f"angebot-{n}.pdf")  # fmt: skip
    return bytes(message)


def timed_pull(src: Source, cursor: dict[str, Any] | None) -> Pull:
    """Pull the source's one collection from ``cursor``, consuming every batch."""
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


def measure(
    mails: int,
    repeat: int,
    bare: Callable[[], float],
    adapter: Callable[[dict[str, Any] | None], Pull],
    after_round: Callable[[], None] = lambda: None,
) -> tuple[float, float, float]:
    """Warm both paths, then ``repeat`` rounds of: the bare loop, the adapter's initial
    pull, three no-change pulls. Medians: (bare s, adapter s, no-change ms)."""
    bare()  # warm both paths (imports, connections, the simulator's caches)
    adapter(None)
    bare_times, adapter_times, nochange_times = [], [], []
    for round_ in range(repeat):
        bare_times.append(bare())
        elapsed, records, cursor = adapter(None)
        assert records == mails, records
        adapter_times.append(elapsed)
        for _ in range(3):
            elapsed, records, _ = adapter(cursor)
            assert records == 0
            nochange_times.append(elapsed)
        print(f"round {round_ + 1}: bare {bare_times[-1]:.2f} s, adapter {adapter_times[-1]:.2f} s")
        after_round()
    return (
        statistics.median(bare_times),
        statistics.median(adapter_times),
        statistics.median(nochange_times) * 1000,
    )


def figures(mails: int, bare_name: str, medians: tuple[float, float, float]) -> dict[str, Any]:
    """The figures of :func:`measure` as the last JSON line carries them."""
    bare_s, adapter_s, nochange_ms = medians
    return {
        "mails": mails,
        f"{bare_name}_s": round(bare_s, 3),
        f"{bare_name}_msgs_per_s": round(mails / bare_s),
        "adapter_initial_s": round(adapter_s, 3),
        "adapter_initial_msgs_per_s": round(mails / adapter_s),
        "adapter_nochange_ms": round(nochange_ms, 1),
        "ratio_adapter_over_bare": round(adapter_s / bare_s, 3),
    }
