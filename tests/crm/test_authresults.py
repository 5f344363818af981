"""The receiving server's Authentication-Results, read for the sender's domain: the header
shapes Gmail, Microsoft 365 and rspamd/Dovecot really write, alignment, authserv-id,
and headers that cannot be read."""

from __future__ import annotations

import pytest

from crm.authresults import AuthVerdict, sender_verdict

GMAIL = (
    "mx.google.com;\r\n       dkim=pass header.i=@example.com header.s=s1 header.b=abc;\r\n"
    "       spf=pass (google.com: domain of x@example.com designates 1.2.3.4 as permitted"
    " sender) smtp.mailfrom=x@example.com;\r\n"
    "       dmarc=pass (p=NONE sp=NONE dis=NONE) header.from=example.com"
)
MICROSOFT = (
    "spf=pass (sender IP is 1.2.3.4) smtp.mailfrom=example.com; dkim=pass (signature was"
    " verified) header.d=example.com;dmarc=pass action=none header.from=example.com;"
    "compauth=pass reason=100"
)
RSPAMD = (
    "mail.example.net; dkim=none; spf=softfail (mail.example.net: 203.0.113.5 is neither"
    " permitted nor denied by domain of x@example.org) smtp.mailfrom=x@example.org"
)


def test_gmail_dkim_pass():
    assert sender_verdict([GMAIL], "example.com") == AuthVerdict(
        True, True, "DKIM pass for example.com"
    )


def test_microsoft_without_authserv_id():
    verdict = sender_verdict([MICROSOFT], "Example.COM.")
    assert verdict.checked and verdict.passed


def test_softfail_is_no_pass():
    assert sender_verdict([RSPAMD], "example.org") == AuthVerdict(
        True, False, "no DKIM or SPF pass for example.org (dkim=none, spf=softfail)"
    )


def test_pass_for_another_domain_is_no_pass():
    verdict = sender_verdict([GMAIL], "nordwind-logistik.example")
    assert verdict.checked and not verdict.passed
    assert verdict.reason == (
        "no DKIM or SPF pass for nordwind-logistik.example (dkim=pass for example.com,"
        " spf=pass for example.com, dmarc=pass for example.com)"
    )


@pytest.mark.parametrize(
    ("header", "domain", "passed"),
    [
        ("mx.example.net; dkim=pass header.d=mail.example.com", "example.com", True),
        ("mx.example.net; dkim=pass header.d=example.com", "news.example.com", True),
        ("mx.example.net; dkim=pass header.i=jana@sub.example.com", "example.com", True),
        ("mx.example.net; dkim=pass header.d=badexample.com", "example.com", False),
        ("mx.example.net; dkim=pass header.d=com", "example.com", False),
        ("mx.example.net; spf=pass smtp.mailfrom=bounce@mail.example.com", "example.com", True),
        ("mx.example.net; spf=pass smtp.helo=mail.example.com", "example.com", False),
        ("mx.example.net; dmarc=pass header.from=example.com", "example.com", True),
        ("mx.example.net; dmarc=pass header.from=mail.example.com", "example.com", False),
        ("mx.example.net; dkim=fail header.d=example.com; spf=fail", "example.com", False),
        ('mx.example.net; dkim = pass header.d = "example.com"', "example.com", True),
        (
            "mx.example.net 1; dkim/1=pass (good (nested) sig) header.d=example.com",
            "example.com",
            True,
        ),
        (
            "mx.example.net; dkim=pass (header.d=example.com) header.d=evil.example",
            "example.com",
            False,
        ),
    ],
)
def test_alignment(header, domain, passed):
    verdict = sender_verdict([header], domain)
    assert verdict.checked
    assert verdict.passed is passed


def test_only_the_topmost_header_counts():
    forged = "mx.google.com; dkim=pass header.d=example.com"
    verdict = sender_verdict([RSPAMD, forged], "example.org")
    assert not verdict.passed
    assert not sender_verdict([RSPAMD, forged], "example.com").passed


def test_authserv_id_selects_the_headers():
    forged = "mx.evil.example; dkim=pass header.d=example.org"
    ours = "mail.example.net; spf=pass smtp.mailfrom=x@example.org"
    assert not sender_verdict(
        [forged, RSPAMD], "example.org", authserv_id="mail.example.net"
    ).passed
    verdict = sender_verdict([forged, RSPAMD, ours], "example.org", authserv_id="MAIL.example.net")
    assert verdict == AuthVerdict(True, True, "SPF pass for example.org")
    absent = sender_verdict([GMAIL], "example.com", authserv_id="mail.example.net")
    assert absent == AuthVerdict(
        False, False, "no usable Authentication-Results header from mail.example.net"
    )


@pytest.mark.parametrize(
    "headers",
    [
        [],
        [""],
        ["mx.example.net; none"],
        ['garbage ;;; ((( "unterminated'],
        ["mx.example.net; ===; pass"],
        ["x" * 100_000],
    ],
)
def test_absent_or_malformed(headers):
    verdict = sender_verdict(headers, "example.com")
    assert not verdict.checked and not verdict.passed
