"""Tokens for the JSON API (``Authorization: Bearer crm_...``): named, shown once, revocable.

A token is ``crm_`` followed by 32 random bytes in url-safe base64 (256 bits): the
prefix lets secret scanners and people recognise it. Guessing cannot find one, so only
its SHA-256 is stored, and checking it is one indexed lookup of the digest (the
comparison happens inside the database's unique index on ``token_hash``: no timing
difference reveals a prefix of a stored token, as only the digest of the guess is
compared). ``last_used_at`` is written at most once a minute per token.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm import audit
from crm.models import ApiToken, User, utcnow
from crm.users import LoggedIn, check_credential_name

PREFIX = "crm_"
#: last_used_at is written at most this often
USE_RESOLUTION = timedelta(minutes=1)


def digest(token: str) -> str:
    """The SHA-256 hex digest under which a token is stored."""
    return hashlib.sha256(token.strip().encode()).hexdigest()


def create(session: Session, user: User, name: str, *, actor: str = "system") -> str:
    """A new API token of ``user`` named ``name``: the only time the token exists.
    :class:`UserError` for an empty, long or taken name."""
    taken = session.scalars(select(ApiToken.name).where(ApiToken.user_id == user.id)).all()
    name = check_credential_name(name, taken, user, "API token", "pbx")
    token = PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, name=name, token_hash=digest(token)))
    session.flush()
    audit.record(session, actor, "api_token.create", f"{user.name}: {name}")
    return token


def list_for(session: Session, user_id: int | None = None) -> list[tuple[ApiToken, str]]:
    """API tokens (names and dates; the tokens are not kept) with their user's name, of
    one user or of everyone, newest first."""
    query = select(ApiToken, User.name).join(User, User.id == ApiToken.user_id)
    if user_id is not None:
        query = query.where(ApiToken.user_id == user_id)
    query = query.order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
    return [(token, name) for token, name in session.execute(query)]


def revoke(session: Session, user_id: int, name: str, *, actor: str = "system") -> bool:
    """Delete the user's API token named ``name``; False when there is none."""
    row = session.scalars(
        select(ApiToken).where(ApiToken.user_id == user_id, ApiToken.name == name)
    ).first()
    if row is None:
        return False
    session.delete(row)
    session.flush()
    audit.record(session, actor, "api_token.revoke", f"user {user_id}: {name}")
    return True


def verify(session: Session, token: str) -> LoggedIn | None:
    """The active user whose token this is; None for an unknown, revoked or malformed
    token or an inactive user. Notes the use (at most once a minute: flushes a write,
    which the caller commits)."""
    token = token.strip()
    if not token.startswith(PREFIX) or len(token) > 200:
        return None
    row = session.execute(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == digest(token))
    ).first()
    if row is None:
        return None
    found, user = row
    if not user.active:
        return None
    now = utcnow()
    if found.last_used_at is None or now - found.last_used_at >= USE_RESOLUTION:
        found.last_used_at = now
        session.flush()
    return LoggedIn(user.id, user.name, user.role)
