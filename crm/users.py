"""Users of the web view: roles, argon2 password hashes, and login throttling.

Throttling counts failures per user name and per client address in the
database, so it holds across web processes. After ``FREE_FAILURES`` failures
a key is locked for a time that doubles with each further failure, up to
``MAX_LOCK``; a success clears the user name's count. A locked key is refused
before its password is checked, so guessing costs the attacker time, not us
argon2 work.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm import audit
from crm.models import LoginThrottle, User, utcnow
from crm.normalize import InvalidValueError, email_key, valid_email

ROLES = ("admin", "staff", "viewer")
MIN_PASSWORD_LENGTH = 10
FREE_FAILURES = 5
FIRST_LOCK = timedelta(seconds=30)
MAX_LOCK = timedelta(minutes=15)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
_hasher = PasswordHasher()
# Verifying against this when the user is unknown keeps the answer as slow as for a
# known user, so timing does not tell which names exist.
_DUMMY_HASH = _hasher.hash("not a password of anyone")


def use_hasher(hasher: PasswordHasher) -> None:
    """Hash new passwords with other argon2 parameters (tests use cheap ones; hashes made
    with other parameters still verify and are upgraded at the next login)."""
    global _hasher, _DUMMY_HASH
    _hasher = hasher
    _DUMMY_HASH = hasher.hash("not a password of anyone")


class UserError(ValueError):
    """Raised for a name, role or password that cannot be used; the message says why."""


class ThrottledError(Exception):
    """Raised when too many logins failed for this name or address; ``until`` says when
    the next try is allowed."""

    def __init__(self, until: datetime) -> None:
        super().__init__(f"too many failed logins; try again after {until:%H:%M:%S} UTC")
        self.until = until


@dataclass(frozen=True)
class LoggedIn:
    """Who logged in (what the web view keeps in the session)."""

    id: int
    name: str
    role: str


#: the name of an app password or API token: 1 to 64 printable characters
_CREDENTIAL_NAME = re.compile(r"[^\x00-\x20\x7f][^\x00-\x1f\x7f]{0,63}")
#: how many app passwords, and how many API tokens, one user may have
MAX_CREDENTIALS = 50


def check_credential_name(
    name: str, taken: Sequence[str], user: User, what: str, example: str
) -> str:
    """The stripped ``name`` for a new ``what`` ("app password", "API token") of ``user``
    who has ``taken`` already; :class:`UserError` for an empty, long or taken name, or one
    too many."""
    name = name.strip()
    if not _CREDENTIAL_NAME.fullmatch(name):
        raise UserError(f"name the {what} (1 to 64 characters), such as {example!r}")
    if name in taken:
        raise UserError(f"{user.name} has an {what} named {name!r} already")
    if len(taken) >= MAX_CREDENTIALS:
        raise UserError(f"a user can have at most {MAX_CREDENTIALS} {what}s")
    return name


def check_password_rules(password: str) -> str:
    """The password if it may be used; :class:`UserError` saying why not."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if password.strip() != password:
        raise UserError("a password must not start or end with a space")
    return password


def add_user(
    session: Session, name: str, password: str, role: str, *, actor: str = "system"
) -> User:
    """A new user; :class:`UserError` for a taken or malformed name, an unknown role or a
    weak password."""
    if not _NAME.fullmatch(name):
        raise UserError(
            "a user name is 1 to 64 letters, digits and . _ @ -, starting with a letter or digit"
        )
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    if session.scalars(select(User.id).where(User.name == name)).first() is not None:
        raise UserError(f"a user named {name!r} exists already")
    user = User(name=name, password_hash=_hasher.hash(check_password_rules(password)), role=role)
    session.add(user)
    session.flush()
    audit.record(session, actor, "user.create", name, role=role)
    return user


def set_email(session: Session, user: User, email: str, *, actor: str = "system") -> None:
    """Set the user's own mail address ("" clears it); :class:`UserError` when it is not
    a valid address or another user has it. Mail they send to the logging mailbox is
    theirs, and so are their privacy rules for it."""
    if email:
        try:
            email = email_key(valid_email(email))
        except InvalidValueError as exc:
            raise UserError(f"{email!r} is not a mail address: {exc.reason}") from None
        taken = session.scalar(
            select(User.name).where(func.lower(User.email) == email, User.id != user.id)
        )
        if taken is not None:
            raise UserError(f"{email} is the address of user {taken!r} already")
    if user.email != email:
        audit.record(session, actor, "user.email", user.name, email=email)
    user.email = email
    session.flush()


def set_password(session: Session, user: User, password: str, *, actor: str = "system") -> None:
    """Replace a user's password (the rules apply)."""
    user.password_hash = _hasher.hash(check_password_rules(password))
    user.password_changed_at = utcnow()
    session.flush()
    audit.record(session, actor, "user.password", user.name)


def verify_password(user: User, password: str) -> bool:
    """True when ``password`` is the user's password."""
    try:
        return _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def authenticate(session: Session, name: str, password: str, client: str) -> LoggedIn | None:
    """The user if name and password fit, else None; :class:`ThrottledError` when this name
    or ``client`` address must wait. The caller commits (failures are counted)."""
    keys = throttle_keys(name, client)
    now = utcnow()
    rows = check_throttle(session, keys)
    user = session.scalars(select(User).where(User.name == name, User.active.is_(True))).first()
    if user is None:
        _hasher.verify(_DUMMY_HASH, "not a password of anyone")
        ok = False
    else:
        ok = verify_password(user, password)
    if not ok:
        for key in keys:
            _count_failure(session, rows[key], key, now)
        session.flush()
        return None
    assert user is not None
    if rows[keys[0]] is not None:
        session.delete(rows[keys[0]])
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.last_login_at = now
    session.flush()
    return LoggedIn(user.id, user.name, user.role)


def throttle_keys(name: str, client: str, realm: str = "user") -> list[str]:
    """The throttle keys of a login: the user name (per realm) and the client address."""
    return [f"{realm}:{name.lower()}"[:320], f"ip:{client}"[:320]]


def check_throttle(session: Session, keys: list[str]) -> dict[str, LoginThrottle | None]:
    """The throttle rows of ``keys``; :class:`ThrottledError` while one of them is locked."""
    now = utcnow()
    rows = {k: session.get(LoginThrottle, k) for k in keys}
    locked = [r.locked_until for r in rows.values() if r and r.locked_until]
    locked = [until for until in locked if until > now]
    if locked:
        raise ThrottledError(max(locked))
    return rows


def record_failure(session: Session, keys: list[str]) -> None:
    """Count one failed login against each key (locks a key after too many)."""
    now = utcnow()
    for key in keys:
        _count_failure(session, session.get(LoginThrottle, key), key, now)
    session.flush()


def _count_failure(session: Session, row: LoginThrottle | None, key: str, now: datetime) -> None:
    if row is None:
        row = LoginThrottle(key=key, failures=0)
        session.add(row)
    row.failures += 1
    if row.failures >= FREE_FAILURES:
        lock = FIRST_LOCK * 2 ** (row.failures - FREE_FAILURES)
        row.locked_until = now + min(lock, MAX_LOCK)


def active_user(session: Session, user_id: int) -> LoggedIn | None:
    """The user with this id if it still exists and is active (each request checks)."""
    user = session.get(User, user_id)
    if user is None or not user.active:
        return None
    return LoggedIn(user.id, user.name, user.role)


def list_users(session: Session) -> list[User]:
    """All users, by name."""
    return list(session.scalars(select(User).order_by(User.name)))
