"""The daily follow-up digest: one plain-text mail per user with open follow-ups that are
overdue or due today, sent through ``[smtp]``.

At most one a day per user, however many workers run: before sending, the user's
``last_digest_on`` is moved to today by one UPDATE that only succeeds while it is
older (:func:`crm.followups.claim_digest`), so exactly one worker wins. A mail that
could not be sent gives the claim back, and the next try sends it. Users without an
e-mail address are skipped (and logged).
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass, field
from datetime import date, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from crm.followups import FollowUpItem, claim_digest, due_by_user, release_digest
from crm.models import User
from sync.config import Config, ConfigError, SmtpConfig

log = logging.getLogger(__name__)


@dataclass
class DigestReport:
    """Who got a digest, who was skipped and why."""

    sent: list[str] = field(default_factory=list)
    no_address: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def is_due(config: Config, now: datetime | None = None) -> bool:
    """Whether today's digest time (server local time) has come."""
    local = (now or datetime.now().astimezone()).astimezone()
    return local.time() >= config.smtp.digest_time


def compose(
    user_name: str,
    address: str,
    items: list[FollowUpItem],
    *,
    today: date,
    sender: str,
    public_url: str | None,
) -> EmailMessage:
    """The digest mail of one user."""
    overdue = [i for i in items if i.due_on < today]
    due_today = [i for i in items if i.due_on == today]
    counts = []
    if overdue:
        counts.append(f"{len(overdue)} overdue")
    if due_today:
        counts.append(f"{len(due_today)} due today")
    lines = [f"Hello {user_name},", "", "these follow-ups are waiting for you:", ""]
    for title, group in (("Overdue", overdue), ("Due today", due_today)):
        if not group:
            continue
        lines += [f"{title}:", ""]
        for item in group:
            waiting = " (waiting for a reply)" if item.waiting_for_reply else ""
            lines.append(f"- {item.due_on.isoformat()}  {item.customer_name}{waiting}")
            if item.note:
                lines += [f"  {line}" for line in item.note.splitlines()[:5]]
            if public_url:
                lines.append(f"  {public_url}{item.customer_path}")
        lines.append("")
    if public_url:
        lines += [f"All your follow-ups: {public_url}/follow-ups", ""]
    lines += ["-- ", "crmsync"]
    message = EmailMessage()
    message["From"] = sender
    message["To"] = address
    message["Subject"] = f"Follow-ups: {', '.join(counts)}"
    message["Date"] = format_datetime(datetime.now().astimezone())
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message["Auto-Submitted"] = "auto-generated"  # never logged as a customer mail
    message.set_content("\n".join(lines))
    return message


def send_digests(
    config: Config,
    sessions: sessionmaker[Session],
    *,
    today: date | None = None,
    user_id: int | None = None,
    again: bool = False,
) -> DigestReport:
    """Mail each user (or only ``user_id``) their follow-ups overdue or due ``today``, if
    not mailed today already (``again``: even then)."""
    today = today or date.today()
    report = DigestReport()
    with sessions() as session:
        due = due_by_user(session, today, user_id)
        users = {
            u.id: (u.name, u.email.strip(), u.last_digest_on)
            for u in session.scalars(select(User).where(User.id.in_(list(due)), User.active))
        }
    smtp: smtplib.SMTP | None = None
    try:
        for uid, items in sorted(due.items()):
            if uid not in users:
                continue
            name, address, previous = users[uid]
            if not address:
                log.warning("follow-up digest: user %s has no e-mail address; skipped", name)
                report.no_address.append(name)
                continue
            with sessions.begin() as session:
                if again:
                    _reset(session, uid)
                claimed = claim_digest(session, uid, today)
            if not claimed:
                report.already.append(name)
                continue
            message = compose(
                name, address, items, today=today, sender=config.smtp.from_address,
                public_url=config.web.public_url,
            )  # fmt: skip
            try:
                smtp = smtp or _connect(config.smtp)
                smtp.send_message(message)
            except (smtplib.SMTPException, OSError, ConfigError) as exc:
                log.error("follow-up digest to %s (%s) not sent: %s", name, address, exc)
                with sessions.begin() as session:
                    release_digest(session, uid, today, previous)
                report.failed.append(name)
                if smtp is not None:
                    _quit(smtp)
                smtp = None
                continue
            log.info("follow-up digest sent to %s (%d follow-ups)", name, len(items))
            report.sent.append(name)
    finally:
        if smtp is not None:
            _quit(smtp)
    return report


def _reset(session: Session, user_id: int) -> None:
    session.execute(update(User).where(User.id == user_id).values(last_digest_on=None))


def _connect(settings: SmtpConfig) -> smtplib.SMTP:
    context = ssl.create_default_context()
    timeout = settings.timeout_seconds
    smtp: smtplib.SMTP
    if settings.security == "ssl":
        smtp = smtplib.SMTP_SSL(settings.host, settings.port, timeout=timeout, context=context)
    else:
        smtp = smtplib.SMTP(settings.host, settings.port, timeout=timeout)
        if settings.security == "starttls":
            smtp.starttls(context=context)
    if settings.username:
        smtp.login(settings.username, settings.password())
    return smtp


def _quit(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()
