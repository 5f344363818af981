"""App passwords: one per CardDAV client of a user, named, shown once, revocable.

A user never types their web password into a phone. They create an app password on
their profile page (or with ``crmsync user app-password NAME``), give it to one
client, and revoke it when the phone is lost.

An app password is 24 characters from a 31-letter alphabet without look-alikes
(about 119 random bits), shown in groups of four. Guessing cannot find one, so it is
stored as a SHA-256 digest: checking it costs a hash and one indexed lookup on each
DAV request, where argon2 (right for passwords people choose) would cost a tenth of a
second of CPU on every request of every sync. Failures are still throttled, per user
name and per client address, like web logins.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from crm import audit
from crm.models import AppPassword, LoginThrottle, User, utcnow
from crm.users import (
    MAX_CREDENTIALS,
    LoggedIn,
    check_credential_name,
    record_failure,
    throttle_keys,
)

ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
LENGTH = 24
MAX_PER_USER = MAX_CREDENTIALS
#: last_used_at is written at most this often (a write per request would be a write per card)
USE_RESOLUTION = timedelta(minutes=10)


def _digest(password: str) -> str:
    normalized = re.sub(r"[\s-]", "", password).lower()
    return hashlib.sha256(normalized.encode()).hexdigest()


def create(session: Session, user: User, name: str, *, actor: str = "system") -> str:
    """A new app password of ``user`` named ``name`` (such as "iPhone"); the only time
    the password itself exists. :class:`UserError` for an empty, long or taken name."""
    taken = session.scalars(select(AppPassword.name).where(AppPassword.user_id == user.id)).all()
    name = check_credential_name(name, taken, user, "app password", "iPhone")
    raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    password = "-".join(raw[i : i + 4] for i in range(0, LENGTH, 4))
    session.add(AppPassword(user_id=user.id, name=name, digest=_digest(password)))
    session.flush()
    audit.record(session, actor, "app_password.create", f"{user.name}: {name}")
    return password


def list_for(session: Session, user_id: int) -> list[AppPassword]:
    """A user's app passwords (names and dates; the passwords are not kept), newest first."""
    return list(
        session.scalars(
            select(AppPassword)
            .where(AppPassword.user_id == user_id)
            .order_by(AppPassword.created_at.desc(), AppPassword.id.desc())
        )
    )


def revoke(session: Session, user_id: int, name: str, *, actor: str = "system") -> bool:
    """Delete the user's app password named ``name``; False when there is none."""
    row = session.scalars(
        select(AppPassword).where(AppPassword.user_id == user_id, AppPassword.name == name)
    ).first()
    if row is None:
        return False
    session.delete(row)
    session.flush()
    audit.record(session, actor, "app_password.revoke", f"user {user_id}: {name}")
    return True


def verify(session: Session, name: str, password: str) -> tuple[LoggedIn, AppPassword] | None:
    """The active user whose app password this is, with the password's row; None when the
    name and password do not fit. Reads only (see :func:`authenticate` for throttling)."""
    row = session.execute(
        select(AppPassword, User)
        .join(User, User.id == AppPassword.user_id)
        .where(AppPassword.digest == _digest(password))
    ).first()
    if row is None:
        return None
    app, user = row
    if user.name != name or not user.active:
        return None
    return LoggedIn(user.id, user.name, user.role), app


def login_state(session: Session, name: str, client: str) -> tuple[bool, bool]:
    """(locked, counted) in one query: whether this name or address must wait, and
    whether failed logins of the name are counted (a success then clears them)."""
    keys = throttle_keys(name, client, "dav")
    now = utcnow()
    locked = counted = False
    for row in session.scalars(select(LoginThrottle).where(LoginThrottle.key.in_(keys))):
        locked |= row.locked_until is not None and row.locked_until > now
        counted |= row.key == keys[0]
    return locked, counted


def clear_failures(session: Session, name: str) -> None:
    """Forget the failed logins of this user name after a successful one."""
    row = session.get(LoginThrottle, throttle_keys(name, "-", "dav")[0])
    if row is not None:
        session.delete(row)
        session.flush()


def record_failed(session: Session, name: str, client: str, password: str) -> bool:
    """Count a failed app-password login (call in a writing transaction, then commit);
    False when it was not counted.

    The same wrong password for the same name counts once: a phone that keeps syncing
    with a revoked app password (and clients retry every 401) is not a guesser, and
    counting each of its tries would soon lock everyone behind the office's address
    out. A marker row in the throttle table, keyed by name and a hash of the password,
    remembers the ones seen (:func:`forget_markers` prunes them).
    """
    marker = f"dav-seen:{name.lower()}:{_digest(password)[:24]}"[:320]
    if session.get(LoginThrottle, marker) is not None:
        return False
    session.add(LoginThrottle(key=marker, failures=0))
    record_failure(session, throttle_keys(name, client, "dav"))
    return True


def forget_markers(session: Session, older_than: timedelta) -> int:
    """Delete the markers of wrong passwords seen before ``older_than`` ago."""
    result = session.execute(
        delete(LoginThrottle).where(
            LoginThrottle.key.startswith("dav-seen:"),
            LoginThrottle.updated_at < utcnow() - older_than,
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


def note_use(session: Session, app_id: int) -> bool:
    """Record that an app password was used, at most every few minutes; True when the
    caller must commit a write."""
    row = session.get(AppPassword, app_id)
    now = utcnow()
    if row is None or (row.last_used_at is not None and now - row.last_used_at < USE_RESOLUTION):
        return False
    row.last_used_at = now
    session.flush()
    return True
