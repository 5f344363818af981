"""adapters.mime.parse_mail: over every mail of the shared corpus, and over messages built here."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NoReturn

import pytest

from adapters.errors import ItemError
from adapters.mime import message_id_key, parse_mail
from adapters.records import Address, MailRecord
from tests.corpus import CORPUS, mail_messages, need

# Prepended to corpus files that are MIME fragments without any From, To, Subject or
# Date (parse_mail refuses those), so that their bodies are exercised all the same.
IDENTITY = b"From: corpus@example.com\nSubject: corpus\n"


def corpus_dir() -> Path:
    return CORPUS


def missing_corpus() -> NoReturn:
    need(False, f"mail corpus not found at {CORPUS / 'mail'} (set CRMSYNC_CORPUS)")
    raise AssertionError("unreachable")


CORPUS_MAIL = mail_messages()


def corpus(name: str, *, prepend: bytes = b"") -> MailRecord:
    path = corpus_dir() / "mail" / name
    if not path.is_file():
        missing_corpus()
    return parse_mail(prepend + path.read_bytes(), remote_id=name)


def assert_sane(record: MailRecord, raw: bytes) -> None:
    """What every parsed message must look like, whatever the input."""
    assert isinstance(record, MailRecord)
    assert record.occurred_at.tzinfo is not None
    assert record.occurred_at.utcoffset() == timedelta(0)
    assert record.dedupe_key.startswith(("mid:", "hash:"))
    assert len(record.dedupe_key) > 6
    assert isinstance(record.subject, str)
    assert isinstance(record.text, str)
    assert isinstance(record.html, str)
    for value in (record.subject, record.text, record.html):
        assert "\x00" not in value
        value.encode("utf-8")  # no lone surrogates: every database takes it
    assert "\r\n" not in record.text
    participants = [*record.to, *record.cc, *record.bcc, *record.reply_to]
    if record.sender is not None:
        participants.append(record.sender)
    assert all("@" in address.email for address in participants)
    for attachment in record.attachments:
        assert attachment.filename
        assert "/" not in attachment.filename
        assert "/" in attachment.content_type
        assert isinstance(attachment.data, bytes)
    assert record.size == len(raw)
    assert all(isinstance(defect, str) and defect for defect in record.defects)


def parse_or_refuse(raw: bytes, name: str) -> MailRecord | ItemError:
    """The record, or the ItemError: anything else escaping fails the test."""
    try:
        return parse_mail(raw, remote_id=name)
    except ItemError as error:
        return error


def test_corpus_is_there() -> None:
    if not CORPUS_MAIL:
        missing_corpus()
    assert len(CORPUS_MAIL) >= 100


@pytest.mark.parametrize(("name", "raw"), CORPUS_MAIL, ids=[name for name, _ in CORPUS_MAIL])
def test_corpus_message_parses_or_is_refused_with_a_reason(name: str, raw: bytes) -> None:
    outcome = parse_or_refuse(raw, name)
    if isinstance(outcome, ItemError):
        assert outcome.reason
        assert outcome.remote_id == name
        assert outcome.raw == raw
    else:
        assert_sane(outcome, raw)
    # The MIME structure, whatever the headers: prepending From and Subject must make
    # every file but empty ones readable.
    if raw.strip():
        assert_sane(parse_mail(IDENTITY + raw, remote_id=name), IDENTITY + raw)


# --- corpus files whose content was checked by hand ----------------------------------


def test_encoded_display_name_with_a_comma_is_one_address() -> None:
    record = corpus("flanker__encoded-header.eml")
    assert record.sender == Address("foo.bar@example.com", "Foo, Bar")
    assert record.message_id == "1234567890-1234-4567@example.com"
    assert record.dedupe_key == "mid:1234567890-1234-4567@example.com"


def test_encoded_names_with_comma_sharp_s_and_quotes() -> None:
    record = corpus("spamscope__mail_test_18.eml")
    assert record.sender == Address("comma.name@example.com", "LastßlName, FirstName")
    assert record.to == (Address("tony.stark@example.com", "tony.stark@example.com"),)
    assert record.cc == (
        Address("simple@example.net", ""),
        Address("john.doe@example.com", 'John "Johnny" Doe'),
    )


def test_address_as_display_name_yields_the_real_address() -> None:
    record = corpus("spamscope__mail_test_19.eml")
    assert record.sender == Address("bob@example.com", "alice@example.com")
    assert record.cc == (Address("frank@example.com", "eve@example.com"),)


def test_unknown_body_charset_and_8bit_latin1_header() -> None:
    record = corpus("zbateson__invalid_charset.eml")
    assert "body: unknown charset 'invalid-charset'" in record.defects
    assert record.text.startswith("The Hare and the Tortoise")
    assert record.to == (Address("schmuergen@example.com", "Jürgen Schmürgen"),)


def test_8bit_latin1_from_name() -> None:
    assert corpus("flanker__from-encoding.eml").sender == Address(
        "ingo@blank.pages.de", "Ingo Lütkebohle"
    )


@pytest.mark.parametrize(
    ("name", "subject"),
    [
        ("phpmmp__issue149.eml", "מענה 'אני לא נמצא': Invoice 02722027"),  # iso-8859-8-i
        ("phpmmp__issue116.eml", "ЖД№41 от 28.09.2016"),  # iso-2022-jp with NEC row 13
        (
            "spamscope__mail_test_9.eml",
            "我把镜头拉近些，你们看看这个是什么屄，这种场合自然少不了内射",
        ),
    ],
)
def test_rfc2047_subjects_in_legacy_charsets(name: str, subject: str) -> None:
    assert corpus(name).subject == subject


def test_windows_1250_subject() -> None:
    assert corpus("phpmmp__issue212.eml").subject.startswith("Automatyczna odpowiedź: Piotrze")


def test_enclosed_message_is_an_attachment_not_body_text() -> None:
    record = corpus("cpython__msg_11.eml", prepend=IDENTITY)
    [attachment] = record.attachments
    assert attachment.filename == "An enclosed message.eml"
    assert attachment.content_type == "message/rfc822"
    assert attachment.data.startswith(b"Subject: An enclosed message\n\nHere is the body")
    assert "Here is the body" not in record.text


def test_base64_encoded_enclosed_message_is_decoded() -> None:
    record = corpus("stalwart__rfc_008.eml", prepend=IDENTITY)
    assert record.text == "This is a message with a base64 encoded attached email"
    [attachment] = record.attachments
    assert attachment.filename == "attached_email.eml"
    assert attachment.data.startswith(b'To: "email@example.com" <email@example.com>\r\n')


def test_message_id_without_angle_brackets() -> None:
    record = corpus("zbateson__m4009_bad_msgid.eml")
    assert record.message_id == "12223"
    assert record.dedupe_key == "mid:12223"
    assert record.text == "Test\n"
    assert [(a.filename, a.data) for a in record.attachments] == [("test10Mb.db", b"\0" * 4)]


def test_attachment_names_from_rfc2047_8bit_and_paths() -> None:
    [png] = corpus("phpmmp__issue250.eml").attachments
    assert png.filename == "Kontoutskrift for 1506.14.90466 Bedriftskonto.pdf"
    [yahoo] = corpus("flanker__russian-attachment-yahoo.eml").attachments
    assert yahoo.filename.startswith("Картинка с очень, очень длинным")
    record = corpus("phpmmp__m0124.eml")
    assert [a.filename for a in record.attachments] == ["1234.txt"]
    assert any(defect.startswith("filename: ") for defect in record.defects)


def test_tnef_is_just_an_attachment() -> None:
    record = corpus("zbateson__m4006_tnef_winmail.eml")
    assert [(a.filename, a.content_type) for a in record.attachments] == [
        ("winmail.dat", "application/ms-tnef")
    ]


def test_raw_tnef_payload_is_not_a_mail() -> None:
    path = corpus_dir() / "mail" / "tnef" / "tnefparse__body.winmail.dat"
    if not path.is_file():
        missing_corpus()
    with pytest.raises(ItemError, match="not a mail message"):
        parse_mail(path.read_bytes(), remote_id="x")


def test_date_with_a_comment_before_the_zone() -> None:
    record = corpus("flanker__disposition-notification.eml")  # "00:19:00 (EDT) -0400"
    assert record.occurred_at == datetime(1995, 9, 20, 4, 19, tzinfo=UTC)
    assert not [d for d in record.defects if d.startswith("date")]


def test_mbox_with_unquoted_from_line_in_body() -> None:
    messages = dict(CORPUS_MAIL)
    if "cpython__mailbox_01.mbox#0" not in messages:
        missing_corpus()
    first = parse_mail(messages["cpython__mailbox_01.mbox#0"], remote_id="0")
    assert first.subject == "unquoted From in body; extra info on From line"
    with pytest.raises(ItemError, match="empty"):  # "From time to time" starts a new one
        parse_mail(messages["cpython__mailbox_01.mbox#1"], remote_id="1")


def test_header_lines_that_lost_their_folding_white_space() -> None:
    record = corpus("phpmmp__issue84.eml")
    assert record.subject == "Re: [PHP-DEV] [RFC] Remove PHP 4 Constructors"
    assert record.sender == Address("tyra3l@gmail.com", "Ferenc Kovacs")
    assert record.text.startswith("On Wed, Nov 19, 2014 at 12:11 AM, Levi Morrison")


def test_threading_headers_from_corpus() -> None:
    record = corpus("flanker__multi-received-headers.eml")
    assert record.in_reply_to == "AANLkTinUdYK2NpEiYCKGnCEp_OXKqst_bWNdBVHsfDVh@mail.gmail.com"
    assert record.references[-1] == record.in_reply_to


def test_mailing_list_headers_from_corpus() -> None:
    automation = dict(corpus("cpython__msg_16.eml").automation_headers)
    assert automation["precedence"] == "bulk"
    assert automation["list-id"] == "SoCal-Raves <scr.socal-raves.org>"


# --- messages built here -----------------------------------------------------------------


def mail(head: str, body: str | bytes = "Hello.\n", *, crlf: bool = False) -> bytes:
    data = head.strip("\n").encode("utf-8") + b"\n\n"
    data += body.encode("utf-8") if isinstance(body, str) else body
    return data.replace(b"\n", b"\r\n") if crlf else data


BASIC = """\
From: Alice <alice@example.com>
To: bob@example.org
Subject: Quote
Date: Tue, 05 Mar 2024 10:00:00 +0100
"""


def parse(
    raw: bytes, *, received_at: datetime | None = None, flags: tuple[str, ...] = ()
) -> MailRecord:
    record = parse_mail(raw, remote_id="r1", received_at=received_at, flags=flags)
    assert_sane(record, raw)
    return record


def test_basic_fields() -> None:
    record = parse(mail(BASIC + "Message-ID: <q1@example.com>\n"), flags=("\\Seen",))
    assert record.remote_id == "r1"
    assert record.sender == Address("alice@example.com", "Alice")
    assert record.to == (Address("bob@example.org"),)
    assert record.subject == "Quote"
    assert record.occurred_at == datetime(2024, 3, 5, 9, 0, tzinfo=UTC)
    assert record.text == "Hello.\n"
    assert record.html == ""
    assert record.flags == ("\\Seen",)
    assert record.dedupe_key == "mid:q1@example.com"
    assert record.defects == ()


def test_message_id_key_is_the_same_however_written() -> None:
    assert message_id_key("<a.b@example.com>") == "mid:a.b@example.com"
    assert message_id_key("  a.b@example.com ") == "mid:a.b@example.com"
    assert message_id_key("<a.b@example.com> (added by postmaster)") == "mid:a.b@example.com"
    long_key = message_id_key("<" + "x" * 300 + "@example.com>")
    assert long_key.startswith("mid:sha256:")
    assert len(long_key) < 100
    with pytest.raises(ValueError, match="empty"):
        message_id_key(" <> ")


@pytest.mark.parametrize("value", ["", "   ", "<>"])
def test_empty_message_id_is_none(value: str) -> None:
    record = parse(mail(BASIC + f"Message-ID: {value}\n"))
    assert record.message_id is None
    assert record.dedupe_key.startswith("hash:")


def test_key_without_message_id_ignores_trace_headers_and_line_ends() -> None:
    sent = mail(BASIC + "Cc: Carol <carol@example.com>\n", "Dear Bob,\n\nthe quote.  \n")
    received = mail(
        "Return-Path: <alice@example.com>\n"
        "Received: from mx.example.com by mail.example.org; Tue, 5 Mar 2024 10:00:05 +0100\n"
        "X-Spam-Score: 0.1\n" + BASIC + "Cc: Carol <carol@example.com>\nX-Mailer: Foo 1.0\n",
        "Dear Bob,\n\nthe quote.\n\n",
        crlf=True,
    )
    key = parse(sent).dedupe_key
    assert key.startswith("hash:")
    assert parse(received).dedupe_key == key
    assert parse(mail(BASIC + "Cc: carol@example.com\n", "Dear Bob,\n\nthe quote.\n")) != key
    assert parse(mail(BASIC + "Cc: Carol <carol@example.com>\n", "Dear Rob,\n")).dedupe_key != key
    other_subject = BASIC.replace("Subject: Quote", "Subject: Quote 2")
    assert parse(mail(other_subject + "Cc: Carol <carol@example.com>\n")).dedupe_key != key


def test_key_without_message_id_survives_mbox_from_quoting() -> None:
    original = mail(BASIC, "Hi\nFrom here on, prices rise.\n")
    quoted = mail(BASIC, "Hi\n>From here on, prices rise.\n\n")
    assert parse(original).dedupe_key == parse(quoted).dedupe_key


def test_rfc2047_subject_and_names() -> None:
    raw = mail(
        "From: =?iso-8859-1?q?J=FCrgen_M=FCller?= <j@example.de>\n"
        'To: "=?utf-8?B?w4lsb2RpZQ==?=" <e@example.fr>, =?utf-8?q?Doe=2C_J?= <j@d.example>\n'
        "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\n =?utf-8?b?IGF1cw==?= M=?x?= plain\n"
        "Date: Tue, 05 Mar 2024 10:00:00 +0000\n"
    )
    record = parse(raw)
    assert record.sender == Address("j@example.de", "Jürgen Müller")
    assert record.to == (Address("e@example.fr", "Élodie"), Address("j@d.example", "Doe, J"))
    assert record.subject == "Grüße aus M=?x?= plain"


def test_multibyte_character_split_across_encoded_words() -> None:
    # "ä" is C3 A4 in UTF-8; some encoders cut words between the two bytes.
    record = parse(
        mail(BASIC.replace("Subject: Quote", "Subject: =?utf-8?B?ww==?= =?utf-8?B?pA==?="))
    )
    assert record.subject == "ä"


def test_unknown_charsets_never_raise() -> None:
    raw = mail(
        BASIC.replace("Subject: Quote", "Subject: =?x-foo?q?caf=C3=A9?= and =?utf-8?b?***?=")
        + 'Content-Type: text/plain; charset="x-bar"\n',
        "Grüße".encode(),
    )
    record = parse(raw)
    assert record.subject == "café and"
    assert "subject: unknown charset 'x-foo'" in record.defects
    assert "subject: malformed base64 encoded-word" in record.defects
    assert "body: unknown charset 'x-bar'" in record.defects
    assert record.text == "Grüße"


def test_non_text_codec_names_are_unknown_charsets() -> None:
    raw = mail(BASIC + "Content-Type: text/plain; charset=base64\n", "aGVsbG8=")
    record = parse(raw)
    assert record.text == "aGVsbG8="
    assert "body: unknown charset 'base64'" in record.defects


def test_body_in_declared_charset_that_does_not_fit() -> None:
    raw = mail(BASIC + "Content-Type: text/plain; charset=utf-8\n", "Gr\xfc\xdfe".encode("cp1252"))
    record = parse(raw)
    assert record.text == "Grüße"
    assert "body: not valid utf-8, read as windows-1252" in record.defects


def test_8bit_headers() -> None:
    utf8 = parse(mail(BASIC.replace("Subject: Quote", "Subject: Grüße")))
    assert utf8.subject == "Grüße"
    assert utf8.defects == ()
    raw = mail(BASIC).replace(b"Subject: Quote", "Subject: Grüße".encode("cp1252"))
    latin = parse(raw)
    assert latin.subject == "Grüße"
    assert "subject: not valid utf-8, read as windows-1252" in latin.defects


def test_broken_date_uses_the_delivery_time() -> None:
    received_at = datetime(2024, 3, 6, 8, 30, tzinfo=UTC)
    record = parse(
        mail(BASIC.replace("Tue, 05 Mar 2024 10:00:00 +0100", "yesterday")), received_at=received_at
    )
    assert record.occurred_at == received_at
    assert "date: unreadable 'yesterday'" in record.defects


def test_missing_date_uses_received_header_then_now() -> None:
    no_date = BASIC.replace("Date: Tue, 05 Mar 2024 10:00:00 +0100\n", "")
    traced = parse(mail("Received: from a by b; Wed, 06 Mar 2024 09:00:00 +0000\n" + no_date))
    assert traced.occurred_at == datetime(2024, 3, 6, 9, 0, tzinfo=UTC)
    assert "date: missing" in traced.defects
    before = datetime.now(UTC)
    bare = parse(mail(no_date))
    assert before <= bare.occurred_at <= datetime.now(UTC)
    assert "date: no usable time, used the time of parsing" in bare.defects


def test_naive_received_at_is_utc() -> None:
    no_date = BASIC.replace("Date: Tue, 05 Mar 2024 10:00:00 +0100\n", "")
    record = parse(mail(no_date), received_at=datetime(2024, 1, 2, 3, 4))
    assert record.occurred_at == datetime(2024, 1, 2, 3, 4, tzinfo=UTC)


def test_date_without_zone_and_out_of_range() -> None:
    naive = parse(mail(BASIC.replace("+0100", "")))
    assert naive.occurred_at == datetime(2024, 3, 5, 10, 0, tzinfo=UTC)
    assert "date: no time zone, assumed UTC" in naive.defects
    received_at = datetime(2024, 3, 6, tzinfo=UTC)
    for bad in ("Tue, 05 Mar 1901 10:00:00 +0000", "Tue, 05 Mar 2999 10:00:00 +0000"):
        record = parse(
            mail(BASIC.replace("Tue, 05 Mar 2024 10:00:00 +0100", bad)), received_at=received_at
        )
        assert record.occurred_at == received_at
        assert any(defect.startswith("date: out of range") for defect in record.defects)


HTML = (
    "<html><head><title>T</title><style>p {color: red}</style></head><body>"
    "<p>Dear&nbsp;Bob,</p><p>the quote:<br>10 &euro; &amp; more</p>"
    "<script>alert(1)</script><ul><li>one</li><li>two</li></ul></body></html>"
)


def test_html_only_mail_gets_text_from_the_html() -> None:
    record = parse(mail(BASIC + "Content-Type: text/html; charset=utf-8\n", HTML))
    assert record.html == HTML  # raw: the web layer sanitizes
    assert record.text == "Dear Bob,\n\nthe quote:\n10 € & more\n\n- one\n- two"


def test_alternative_with_related_images_and_an_attachment() -> None:
    body = """\
--mixed
Content-Type: multipart/alternative; boundary="alt"

--alt
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

Gr=FC=DFe,
the quote.
--alt
Content-Type: multipart/related; boundary=rel

--rel
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: base64

PHA+R3LDvMOfZTwvcD4=
--rel
Content-Type: image/png
Content-ID: <logo@x>
Content-Transfer-Encoding: base64

iVBORw0KGgo=
--rel--
--alt--
--mixed
Content-Type: application/pdf
Content-Disposition: attachment; filename*=UTF-8''%E2%82%AC%20rates.pdf
Content-Transfer-Encoding: base64

JVBERi0=
--mixed
Content-Type: text/plain; name*0*=utf-8''Notes%20for; name*1*=%20M%C3%BCller.txt

notes
--mixed--
"""
    raw = mail(BASIC + 'Content-Type: multipart/mixed; boundary="mixed"\n', body, crlf=True)
    record = parse(raw)
    assert record.text == "Grüße,\nthe quote."
    assert record.html == "<p>Grüße</p>"
    assert [(a.filename, a.content_type, a.data) for a in record.attachments] == [
        ("attachment-1.png", "image/png", b"\x89PNG\r\n\x1a\n"),
        ("€ rates.pdf", "application/pdf", b"%PDF-"),
        ("Notes for Müller.txt", "text/plain", b"notes"),
    ]
    assert record.defects == ()


def test_rfc2047_attachment_name_and_broken_base64() -> None:
    body = """\
--b
Content-Type: text/plain

see attached
--b
Content-Type: application/octet-stream; name="=?UTF-8?B?w5xiZXJzaWNodC54bHN4?="
Content-Transfer-Encoding: base64

QUJD!!RA
--b--
"""
    record = parse(mail(BASIC + "Content-Type: multipart/mixed; boundary=b\n", body))
    [attachment] = record.attachments
    assert attachment.filename == "Übersicht.xlsx"
    assert attachment.data.startswith(b"ABC")
    assert "attachment Übersicht.xlsx: broken base64" in record.defects


def test_broken_multiparts_keep_their_text() -> None:
    no_boundary = parse(mail(BASIC + "Content-Type: multipart/mixed\n", "just text\n"))
    assert no_boundary.text == "just text\n"
    assert "NoBoundaryInMultipartDefect" in no_boundary.defects
    unclosed = parse(
        mail(BASIC + "Content-Type: multipart/mixed; boundary=b\n", "--b\n\nfirst\n--b\n\nsecond\n")
    )
    assert unclosed.text == "first\nsecond"
    assert "CloseBoundaryNotFoundDefect" in unclosed.defects


def test_deep_nesting_is_cut_not_crashed() -> None:
    body = "".join(
        f"--b{i}\nContent-Type: multipart/mixed; boundary=b{i + 1}\n\n" for i in range(200)
    )
    raw = mail(BASIC + "Content-Type: multipart/mixed; boundary=b0\n", body + "--b200\n\ndeep\n")
    record = parse(raw)
    assert any("nested deeper" in defect for defect in record.defects)


def test_threading_headers_tolerate_garbage() -> None:
    record = parse(
        mail(
            BASIC + "In-Reply-To: <p1@example.com> (Bob's message of Monday)\n"
            "References: <p0@example.com>\n <p1@example.com> garbage <p0@example.com> <>\n"
        )
    )
    assert record.in_reply_to == "p1@example.com"
    assert record.references == ("p0@example.com", "p1@example.com")
    bare = parse(mail(BASIC + "In-Reply-To: p1@example.com\nReferences: nothing useful here\n"))
    assert bare.in_reply_to == "p1@example.com"
    assert bare.references == ()


def test_automation_headers() -> None:
    raw = mail(
        BASIC + "List-Id: News <news.example.com>\nList-Unsubscribe: <mailto:u@example.com>\n"
        "Auto-Submitted: auto-replied\nPrecedence: bulk\nX-Auto-Response-Suppress: All\n"
        "X-Mailer: Foo\n"
    )
    assert parse(raw).automation_headers == (
        ("list-id", "News <news.example.com>"),
        ("list-unsubscribe", "<mailto:u@example.com>"),
        ("auto-submitted", "auto-replied"),
        ("precedence", "bulk"),
        ("x-auto-response-suppress", "All"),
    )


def test_address_headers_with_groups_and_garbage() -> None:
    record = parse(
        mail(
            "From: <>\nTo: undisclosed-recipients:;\n"
            "Cc: Team: a@example.com, b@example.com;, <<garbage>>, c@example.com (Carol)\n"
            "Bcc: x@example.com, X@example.com\nReply-To: Alice <alice@example.com>\nSubject: s\n"
        )
    )
    assert record.sender is None
    assert record.to == ()
    assert [a.email for a in record.cc] == ["a@example.com", "b@example.com", "c@example.com"]
    assert record.bcc == (Address("x@example.com"),)
    assert record.reply_to == (Address("alice@example.com", "Alice"),)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "empty"),
        (b" \r\n\r\n", "empty"),
        (b"\x78\x9f\x3e\x22binary junk\x00\x01", "no header section"),
        (b"X-Foo: bar\nContent-Type: text/plain\n\nbody\n", "no From, To, Subject or Date"),
    ],
)
def test_unreadable_messages_raise_item_error(raw: bytes, reason: str) -> None:
    with pytest.raises(ItemError, match=reason) as caught:
        parse_mail(raw, remote_id="u7")
    assert caught.value.remote_id == "u7"
    assert caught.value.raw == raw


def test_mangled_messages_never_raise_anything_but_item_error() -> None:
    seed = mail(
        BASIC + 'Content-Type: multipart/mixed; boundary="b"\n',
        "--b\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
        "R3LDvMOfZQ==\n--b\nContent-Type: message/rfc822\n\nSubject: =?utf-8?q?x?=\n\nhi\n--b--\n",
    )
    rng = random.Random(7)
    for _ in range(300):
        raw = bytearray(seed)
        for _ in range(rng.randint(1, 12)):
            pos = rng.randrange(len(raw))
            if rng.random() < 0.5:
                raw[pos] = rng.randrange(256)
            else:
                raw[pos:pos] = rng.choice([b"\n", b"--b", b"=?", b"?=", b"<", b"\xff", b":"])
        outcome = parse_or_refuse(bytes(raw), "m")
        if isinstance(outcome, ItemError):
            assert outcome.reason
        else:
            assert_sane(outcome, bytes(raw))
