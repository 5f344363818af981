"""Inline forwards as Outlook, Thunderbird, Apple Mail and Gmail write them, in English and
German: the original's sender, recipients, date and subject, the forwarder's note and the
customer it names, from real-shaped raw mails (tests/fixtures/forwards/)."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path
from typing import cast

import pytest

from adapters.records import Address
from crm.forwards import InlineForward, filing_hint, find_inline_forward

FIXTURES = Path(__file__).parent.parent / "fixtures" / "forwards"
JANA = "jana.petersen@nordwind-logistik.example"
GRETA = Address("greta.hansen@nordwind-logistik.example", "Greta Hansen")
JAN = Address("jan.kowalski@gmail.com", "Jan Kowalski")
ALICE = Address("alice@example.com", "Alice Example")
BOB = Address("bob@example.com", "Bob Example")
CET = timezone(timedelta(hours=1))
SENT = datetime(2026, 3, 3, 10, 15, tzinfo=CET)


def _read(name: str) -> tuple[str, datetime]:
    """The text/plain part and the Date of a fixture, read as the MIME parser would."""
    message = cast(
        EmailMessage,
        email.message_from_bytes((FIXTURES / name).read_bytes(), policy=email.policy.default),
    )
    body = message.get_body(("plain",))
    assert body is not None
    return body.get_content(), message["Date"].datetime


def _forward(name: str) -> InlineForward:
    text, sent_at = _read(name)
    found = find_inline_forward(text, sent_at=sent_at)
    assert found is not None, name
    return found


# name, sender name, to, cc, occurred_at (UTC), subject, body start, note start, filing hint
CASES = [
    (
        "outlook_en.eml",
        "Jana Petersen",
        (Address("alice@example.com", "Example, Alice"),),
        (GRETA, JAN),
        datetime(2026, 3, 2, 8, 30, tzinfo=UTC),
        "Delivery schedule week 11",
        "Hello Alice,\n\nplease find below the delivery schedule",
        "jan.kowalski@gmail.com\n\nFYI - Jana copied Jan",
        "jan.kowalski@gmail.com",
    ),
    (
        "outlook_de.eml",
        "Petersen, Jana",
        (
            Address("alice@example.com", "Example, Alice"),
            Address("bob@example.com", "Example, Bob"),
        ),
        (Address("greta.hansen@nordwind-logistik.example", "Hansen, Greta"),),
        datetime(2026, 3, 2, 8, 30, tzinfo=UTC),
        "Lieferung KW 11 – Änderung",
        "Hallo Frau Example,\n\ndie Lieferung für KW 11",
        "#1042\n\nHallo Bob,",
        "#1042",
    ),
    (
        # Bob forwards from New York: Outlook's zone-less 9:30 AM is his local time
        "outlook_new_en.eml",
        "Jana Petersen",
        (ALICE, BOB),
        (GRETA,),
        datetime(2026, 3, 2, 14, 30, tzinfo=UTC),
        "Pallet count for the Hamburg delivery",
        "Hi Bob,\n\nthe pallet count for Hamburg is 14",
        "Hi team, forwarding for the record.",
        None,
    ),
    (
        "thunderbird_en.eml",
        "Jana Petersen",
        (ALICE,),
        (GRETA,),
        datetime(2026, 3, 2, 8, 30, 12, tzinfo=UTC),
        "Quote 2026-118: warehouse space Q2",
        "Dear Alice,\n\nattached is our quote 2026-118",
        "#1042\n\nForwarding the quote",
        "#1042",
    ),
    (
        "thunderbird_de.eml",
        "Jana Petersen",
        (ALICE, BOB, JAN),
        (GRETA,),
        datetime(2026, 3, 2, 15, 45, tzinfo=UTC),
        "AW: Angebot 2026-118",
        "Hallo zusammen,\n\nwir nehmen das Angebot an.",
        "Zur Ablage.",
        None,
    ),
    (
        "apple_en.eml",
        "Jana Petersen",
        (ALICE,),
        (GRETA, JAN),
        datetime(2026, 3, 2, 8, 30, tzinfo=UTC),
        "Invoice 2026-0311",
        "Dear Alice,\n\nplease find our invoice 2026-0311 attached.",
        "jan.kowalski@gmail.com\nJan asked for this",
        "jan.kowalski@gmail.com",
    ),
    (
        "apple_de.eml",
        "Jana Petersen",
        (BOB,),
        (GRETA,),
        datetime(2026, 3, 2, 8, 30, tzinfo=UTC),
        "Reklamation Lieferung 2026-0288",
        "Sehr geehrter Herr Example,\n\nbei der Lieferung 2026-0288",
        "Kunde: #1042",
        "Kunde: #1042",
    ),
    (
        "gmail_en.eml",
        "Jana Petersen",
        (ALICE, BOB, JAN),
        (GRETA,),
        datetime(2026, 3, 2, 8, 30, tzinfo=UTC),
        "Customs documents for shipment 7731",
        "Hi Alice,\n\nthe customs documents for shipment 7731",
        "#1042",
        "#1042",
    ),
    (
        "gmail_de.eml",
        "Jana Petersen",
        (BOB,),
        (GRETA, JAN),
        datetime(2026, 3, 2, 8, 30, tzinfo=UTC),
        "Termin Lagerbesichtigung",
        "Hallo Bob,\n\npasst Ihnen Donnerstag",
        "jan.kowalski@gmail.com",
        "jan.kowalski@gmail.com",
    ),
]


@pytest.mark.parametrize(
    ("name", "sender_name", "to", "cc", "occurred_at", "subject", "body", "note", "hint"),
    CASES,
    ids=[case[0] for case in CASES],
)
def test_fixture(name, sender_name, to, cc, occurred_at, subject, body, note, hint):
    found = _forward(name)
    assert found.sender == Address(JANA, sender_name)
    assert found.to == to
    assert found.cc == cc
    assert found.occurred_at == occurred_at
    assert found.occurred_at is not None and found.occurred_at.tzinfo == UTC
    assert found.subject == subject
    assert found.body.startswith(body)
    assert found.note.startswith(note)
    assert filing_hint(found.note) == hint


def test_every_fixture_is_tested():
    assert {path.name for path in FIXTURES.glob("*.eml")} == {case[0] for case in CASES}


def test_body_ends_with_the_original_and_quote_markers_are_removed():
    found = _forward("apple_en.eml")
    assert found.body.endswith("Kind regards,\nJana")
    assert ">" not in found.body
    assert _forward("thunderbird_en.eml").body.endswith("Am Hafen 12, 20457 Hamburg")


def test_crlf_nbsp_quotes_and_bold_markers():
    text = (
        "ref: ACME\r\n\r\n> ________________________________\r\n"
        "> *Von:*\u00a0Kowalski, Jan [mailto:Jan.Kowalski@gmail.com]\r\n"
        "> *Gesendet:*\u00a0Freitag, 27. Februar 2026 17:05\r\n"
        "> *An:*\u00a0Alice Example <alice@example.com>; Bob Example <bob@example.com>;\r\n"
        ">  Greta Hansen <greta.hansen@nordwind-logistik.example>\r\n"
        "> *Betreff:*\u00a0Rückruf\r\n> \r\n> Bitte rufen Sie mich an.\r\n"
    )
    found = find_inline_forward(text, sent_at=SENT)
    assert found is not None
    assert found.sender == Address("Jan.Kowalski@gmail.com", "Kowalski, Jan")
    assert found.to == (ALICE, BOB, GRETA)
    assert found.cc == ()
    assert found.occurred_at == datetime(2026, 2, 27, 16, 5, tzinfo=UTC)
    assert found.subject == "Rückruf"
    assert found.body == "Bitte rufen Sie mich an."
    assert filing_hint(found.note) == "ref: ACME"


def test_outlook_block_without_separator():
    text = (
        "Zur Info\n\nFrom: Jana Petersen <jana.petersen@nordwind-logistik.example>\n"
        "Sent: Monday, March 2, 2026 9:30 AM\nTo: Alice Example <alice@example.com>\n"
        "Subject: Delivery\n\nHello"
    )
    found = find_inline_forward(text, sent_at=SENT)
    assert found is not None
    assert found.occurred_at == datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
    assert (found.subject, found.body, found.note) == ("Delivery", "Hello", "Zur Info")


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("Mon, 2 Mar 2026 09:30:12 -0800 (PST)", datetime(2026, 3, 2, 17, 30, 12, tzinfo=UTC)),
        ("2 March 2026 at 09:30:00 PST", datetime(2026, 3, 2, 17, 30, tzinfo=UTC)),
        ("March 2, 2026 at 9:30:00 AM GMT+1", datetime(2026, 3, 2, 8, 30, tzinfo=UTC)),
        ("Sonntag, 29. März 2026 10:00 MESZ", datetime(2026, 3, 29, 8, 0, tzinfo=UTC)),
        ("2. März 2026 um 09:30:00 GMT", datetime(2026, 3, 2, 9, 30, tzinfo=UTC)),
        ("02.03.2026 09:30", datetime(2026, 3, 2, 8, 30, tzinfo=UTC)),
        ("sometime last week", None),
        ("2026", None),
        ("", None),
    ],
)
def test_dates(written, expected):
    text = f"-------- Forwarded Message --------\nFrom: a@b.example\nDate: {written}\n\nx"
    found = find_inline_forward(text, sent_at=SENT)
    assert found is not None
    assert found.occurred_at == expected


@pytest.mark.parametrize(
    "text",
    [
        # a reply quoting the customer, in Gmail's and Thunderbird's words
        "Thanks, will do.\n\nOn Mon, Mar 2, 2026 at 9:30 AM Jana Petersen <\n"
        "jana.petersen@nordwind-logistik.example> wrote:\n> From: someone\n> Hello",
        "Danke!\n\nAm 02.03.26 um 09:30 schrieb Jana Petersen:\n"
        "> ---------- Weitergeleitete Nachricht ---------\n> Von: x@y.example\n> Hi",
        # a mail that only talks about forwarding
        "I forwarded your message to accounting.\nFrom: the team at example.com\n",
        "Forwarded message below is missing, sorry.\n---------- Forwarded message ---------\n\n",
        # a marker with a header block that names no sender address
        "-----Original Message-----\nFrom: Petersen, Jana\nSent: Monday\nSubject: x\n\nbody",
        "",
        "\x00\x01garbage\ufffd" * 50,
        "-------- Forwarded Message --------",
    ],
)
def test_not_a_forward(text):
    assert find_inline_forward(text, sent_at=SENT) is None


def test_hostile_input_is_read_in_linear_time():
    big = "x" * 5_000_000 + "\n" + "Forwarded message? no.\n"
    assert find_inline_forward(big, sent_at=SENT) is None
    lines = "".join(
        f"-----Original Message-----\nTo: a{i}@example.com,\nCc: {'>' * 50} From:\n"
        for i in range(10_000)
    )
    assert find_inline_forward(lines, sent_at=SENT) is None
    pairs = "From: x@y.example\nSent: Monday, March 2, 2026 9:30 AM\n" * 5_000
    assert find_inline_forward(pairs, sent_at=SENT) is None
    wrapped = (
        "---------- Forwarded message ---------\nFrom: j@x.example\nTo: a,\n" + "b,\n" * 10_000
    )
    found = find_inline_forward(wrapped, sent_at=SENT)
    assert found is not None and found.sender.email == "j@x.example"


@pytest.mark.parametrize(
    ("note", "hint"),
    [
        ("jan.kowalski@gmail.com", "jan.kowalski@gmail.com"),
        ("Bitte bei <Jan.Kowalski@GMAIL.com> ablegen\nDanke", "jan.kowalski@gmail.com"),
        ("\n  #1042  \nsee below", "#1042"),
        ("K-1234", "K-1234"),
        ("ref: ACME", "ref: ACME"),
        ("FYI, see below", None),
        ("Hi Bob,\njan.kowalski@gmail.com", None),
        ("", None),
    ],
)
def test_filing_hint(note, hint):
    assert filing_hint(note) == hint
