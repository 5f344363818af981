"""Realistic generated mail for tests and benchmarks: deterministic by seed.

The mix follows what a sales mailbox holds: plain-text and text+HTML mail,
replies with References, German and English text with umlauts and encoded
words, now and then a PDF or spreadsheet attachment; 3 to 30 KB each.
"""

from __future__ import annotations

import functools
import random
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime

CUSTOMERS = [
    ("Jana Petersen", "jana.petersen@nordwind-logistik.example"),
    ("Jörg Hinrichs", "joerg.hinrichs@nordwind-logistik.example"),
    ("Dana Whitfield", "dana.whitfield@acme.example"),
    ("Oliver Grant", "oliver.grant@acme-europe.example"),
    ("Ingrid Solberg", "ingrid.solberg@fjordlys.example"),
    ("Einkauf", "einkauf@kranich-bau.example"),
    ("Tobias Beispiel", "tobias.beispiel@gmail.com"),
]
STAFF = [("Alice Berger", "alice@example.com"), ("Bob Weber", "bob@example.com")]
SUBJECTS = [
    "Anfrage Rahmenvertrag {n}",
    "Lieferavis KW {n}",
    "Q{q} purchase order",
    "Rückfrage zur Rechnung {n}",
    "Meeting next week",
    "Angebot Seefracht Hamburg–Oslo",
    "Reklamation Lieferung {n}",
    "Preisliste {n}",
]
WORDS = [
    "Container",
    "Lieferung",
    "Termin",
    "Angebot",
    "Rechnung",
    "Hafen",
    "Zoll",
    "Spedition",
    "Fracht",
    "Übergabe",
    "Gebühr",
    "price",
    "order",
    "shipment",
    "invoice",
    "schedule",
    "freight",
    "quay",
    "customs",
    "delivery",
    "confirmation",
]


def paragraph(rng: random.Random, words: int) -> str:
    text = " ".join(rng.choice(WORDS) for _ in range(words))
    return text[0].upper() + text[1:] + "."


def message(i: int, rng: random.Random, *, start: datetime | None = None) -> bytes:
    """Message number ``i``: unique Message-ID, realistic structure and size."""
    start = start or datetime(2025, 1, 1, tzinfo=UTC)
    inbound = rng.random() < 0.6
    customer, staff = rng.choice(CUSTOMERS), rng.choice(STAFF)
    sender, recipient = (customer, staff) if inbound else (staff, customer)
    msg = EmailMessage()
    msg["From"] = f"{sender[0]} <{sender[1]}>"
    msg["To"] = f"{recipient[0]} <{recipient[1]}>"
    if rng.random() < 0.3:
        msg["Cc"] = ", ".join(f"{n} <{a}>" for n, a in rng.sample(CUSTOMERS + STAFF, 2))
    subject = rng.choice(SUBJECTS).format(n=rng.randint(1, 52), q=rng.randint(1, 4))
    if rng.random() < 0.4:
        subject = "Re: " + subject
        root = f"<thread-{rng.randint(0, max(i // 4, 1))}@mailgen.example>"
        msg["In-Reply-To"] = root
        msg["References"] = root
    msg["Subject"] = subject
    msg["Date"] = format_datetime(start + timedelta(minutes=7 * i))
    msg["Message-ID"] = f"<mailgen-{i}-{rng.getrandbits(32):08x}@mailgen.example>"
    msg["Received"] = f"from mx.example.com by imap.example.com; {format_datetime(start)}"
    body = "\n\n".join(paragraph(rng, rng.randint(20, 120)) for _ in range(rng.randint(2, 12)))
    body += f"\n\n-- \n{sender[0]}\n"
    msg.set_content(body)
    if rng.random() < 0.6:
        html = "".join(f"<p>{p}</p>" for p in body.split("\n\n"))
        msg.add_alternative(
            f"<html><body>{html}<table><tr><td>x</td></tr></table></body></html>", subtype="html"
        )
    if rng.random() < 0.12:
        data = rng.randbytes(rng.randint(2_000, 12_000))
        msg.add_attachment(data, maintype="application", subtype="pdf", filename=f"Angebot-{i}.pdf")
    return bytes(msg)


def messages(count: int, seed: int = 42, *, first: int = 0) -> list[bytes]:
    """``count`` messages numbered from ``first``; the same seed gives the same bytes.

    Beyond :data:`TEMPLATES` messages, the structures repeat with a unique
    Message-ID and Date each (building a message costs ~2 ms; this costs ~2 us).
    """
    templates = _templates(seed, min(count + first, TEMPLATES))
    start = datetime(2025, 1, 1, tzinfo=UTC)
    out = []
    for n in range(first, first + count):
        template = templates[n % len(templates)]
        if n < len(templates):
            out.append(template)
            continue
        head, sep, body = template.partition(b"\n\n")
        lines = []
        for line in head.split(b"\n"):
            if line.startswith(b"Message-ID: "):
                line = f"Message-ID: <mailgen-{n}-{seed}@mailgen.example>".encode()
            elif line.startswith(b"Date: "):
                line = b"Date: " + format_datetime(start + timedelta(minutes=7 * n)).encode()
            lines.append(line)
        out.append(b"\n".join(lines) + sep + body)
    return out


TEMPLATES = 500


@functools.lru_cache(maxsize=8)
def _templates(seed: int, count: int) -> tuple[bytes, ...]:
    """The first ``count`` messages of ``seed`` (kept: a benchmark asks for them per mailbox)."""
    rng = random.Random(seed)
    return tuple(message(i, rng) for i in range(count))
