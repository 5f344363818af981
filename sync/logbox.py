"""The logging mailbox: mail staff BCC or forward to it, turned into what is logged.

- A mail BCC'd to it is the mail itself: logged for its external recipients as the
  staff sender's outbound mail, and stored once with the copy in the sender's Sent
  folder (the same Message-ID).
- A forward is unwrapped to its original: an attached ``message/rfc822`` (read by the
  one MIME parser), or an inline forward as Outlook, Thunderbird, Apple Mail and Gmail
  write it (:mod:`crm.forwards`). The original's sender, recipients, date and subject
  are logged; an inline original has no Message-ID, so it is found again by sender,
  subject and minute (:func:`crm.ingest.fuzzy_key`).
- Only mail from a known staff address is taken, and where the server added
  ``Authentication-Results``, only with a DKIM or SPF pass for the sender's domain.
  Anything else is quarantined with the reason.
- The forward's first line may name a customer (an address or a reference): the
  original is filed to that customer too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from adapters.errors import ItemError
from adapters.mime import parse_mail
from adapters.mimetext import html_to_text
from adapters.records import ItemFailure, MailRecord
from crm.authresults import sender_verdict
from crm.forwards import InlineForward, filing_hint, find_inline_forward
from crm.ingest import FORWARD_KEY, fuzzy_key, storage_key
from crm.matching import MatchPolicy
from crm.normalize import email_key

_ATTACHED = ("message/rfc822", "message/global")
# Forward prefixes of English, German, French, Spanish, Italian, Dutch and Nordic clients.
_FORWARD_SUBJECT = re.compile(r"\s*(fwd?|wg|wtr|tr|rv|i|doorst|vs|vb)\s*:", re.IGNORECASE)


@dataclass
class Unwrapped:
    """What a batch of the logging mailbox brings: originals to store, and refusals."""

    records: list[MailRecord] = field(default_factory=list)
    #: storage key -> the staff address that logged it (whose mail it is)
    senders: dict[str, str] = field(default_factory=dict)
    #: storage key -> the customer the forward's first line named
    filed_to: dict[str, str] = field(default_factory=dict)
    refused: list[ItemFailure] = field(default_factory=list)


def unwrap(
    records: Iterable[MailRecord], *, policy: MatchPolicy, authserv_id: str | None = None
) -> Unwrapped:
    """Sort one batch of the logging mailbox (see the module's text)."""
    out = Unwrapped()
    for record in records:
        problem = _refusal(record, policy.staff_addresses, authserv_id)
        if problem:
            out.refused.append(ItemFailure(record.remote_id, problem, record.raw))
            continue
        try:
            originals, note = _originals(record, policy)
        except ItemError as exc:
            reason = f"logging mailbox: the forwarded message is unreadable: {exc}"
            out.refused.append(ItemFailure(record.remote_id, reason, record.raw))
            continue
        hint = filing_hint(note) if note else None
        assert record.sender is not None  # _refusal checked it
        for original in originals:
            key = storage_key(original.dedupe_key)
            out.records.append(original)
            out.senders[key] = email_key(record.sender.email)
            if hint:
                out.filed_to[key] = hint
    return out


def _refusal(record: MailRecord, staff: frozenset[str], authserv_id: str | None) -> str | None:
    if record.sender is None:
        return "logging mailbox: the mail has no sender"
    sender = email_key(record.sender.email)
    if sender not in staff:
        return f"logging mailbox: {sender} is not a known staff address"
    if record.auth_results:
        domain = sender.rpartition("@")[2]
        verdict = sender_verdict(record.auth_results, domain, authserv_id=authserv_id)
        if verdict.checked and not verdict.passed:
            return f"logging mailbox: {verdict.reason}"
    return None


def is_forward(record: MailRecord, policy: MatchPolicy) -> bool:
    """A forward says so in its subject (Fwd:, FW:, WG: ...) or went to no customer (only
    to colleagues and the logging address). Anything else is a mail BCC'd as it was sent:
    a reply quotes its predecessor just like an Outlook forward does, and is logged as
    the reply."""
    if _FORWARD_SUBJECT.match(record.subject):
        return True
    return all(policy.is_internal(email_key(a.email)) for a in (*record.to, *record.cc))


def _originals(record: MailRecord, policy: MatchPolicy) -> tuple[list[MailRecord], str]:
    """The mails a logged mail stands for, and the forwarder's note above the forward."""
    if not is_forward(record, policy):
        return [record], ""
    attached = [a for a in record.attachments if a.content_type.lower() in _ATTACHED]
    text = record.text or html_to_text(record.html)
    if attached:
        originals = []
        for n, attachment in enumerate(attached, 1):
            original = parse_mail(attachment.data, remote_id=f"{record.remote_id}#{n}")
            originals.append(replace(original, remote_id=record.remote_id, raw=b""))
        return originals, text
    forward = find_inline_forward(text, sent_at=record.occurred_at)
    if forward is not None:
        return [_inline_original(record, forward)], forward.note
    return [record], ""


def _inline_original(record: MailRecord, forward: InlineForward) -> MailRecord:
    when = forward.occurred_at or record.occurred_at
    return replace(
        record,
        dedupe_key=FORWARD_KEY + fuzzy_key(forward.sender.email, forward.subject, when),
        message_id=None,
        subject=forward.subject,
        sender=forward.sender,
        to=forward.to,
        cc=forward.cc,
        bcc=(),
        reply_to=(),
        occurred_at=when,
        in_reply_to=None,
        references=(),
        text=forward.body,
        html="",
        automation_headers=(),
        auth_results=(),
        raw=b"",
    )
