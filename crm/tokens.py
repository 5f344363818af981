"""The sign-in of delegated accounts, kept encrypted in the database.

A Microsoft Graph account with ``sign_in = "user"`` reads the mailbox of the user who
signed in; msal's token cache (JSON holding the refresh token) is what lets every sync
renew its access token. It is stored in ``account_tokens``, encrypted with the key from
the config (:class:`crm.secrets.SecretBox`), one row per account, and is never logged
nor written in clear. :class:`DbTokenStore` is the ``TokenStore`` the Graph adapter
loads it from and saves the rotated tokens to.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from crm.db import will_write
from crm.models import Account, AccountToken, utcnow
from crm.secrets import SecretBox, SecretKeyError
from crm.syncstate import ensure_account


class DbTokenStore:
    """The token cache of the account called ``account``, encrypted with ``box``.

    With ``box`` None (no key configured), loading or saving raises
    :class:`SecretKeyError` saying ``why``. Saving creates the account's row when the
    account has none yet (a config account signed in before its first sync).
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        box: SecretBox | None,
        account: str,
        *,
        kind: str = "graph",
        owner: str = "",
        why: str = "no key is configured",
    ) -> None:
        self.sessions, self.box, self.account = sessions, box, account
        self.kind, self.owner, self.why = kind, owner, why

    def __repr__(self) -> str:  # never the cache
        return f"DbTokenStore(account={self.account!r})"

    def load(self) -> str | None:
        """The stored cache in clear, or None when nobody has signed in."""
        with self.sessions() as session:
            token = session.scalars(
                select(AccountToken.cache)
                .join(Account, Account.id == AccountToken.account_id)
                .where(Account.name == self.account)
            ).one_or_none()
        if token is None:
            return None
        box = self._box()
        try:
            return box.decrypt(token)
        except SecretKeyError:
            raise SecretKeyError(
                "the stored sign-in does not decrypt with the configured key"
                " (was the key changed?): sign in again"
            ) from None

    def save(self, cache: str) -> None:
        """Keep ``cache`` (encrypted), replacing what was stored."""
        encrypted = self._box().encrypt(cache)
        with self.sessions.begin() as session:
            will_write(session)  # read, then write: take the write lock first (SQLite)
            row = session.scalars(select(Account).where(Account.name == self.account)).first()
            if row is None:
                row = ensure_account(session, self.account, self.kind, self.owner)
            store_token(session, row.id, encrypted)

    def _box(self) -> SecretBox:
        if self.box is None:
            raise SecretKeyError(f"the sign-in cannot be kept encrypted: {self.why}")
        return self.box


def store_token(session: Session, account_id: int, encrypted: bytes) -> None:
    """Store an (already encrypted) token cache for the account."""
    row = session.scalars(
        select(AccountToken).where(AccountToken.account_id == account_id)
    ).one_or_none()
    if row is None:
        session.add(AccountToken(account_id=account_id, cache=encrypted))
    else:
        row.cache, row.updated_at = encrypted, utcnow()
    session.flush()


def signed_in_at(session: Session, account_id: int) -> datetime | None:
    """When the account's sign-in was last stored (renewed), None if it has none."""
    return session.scalars(
        select(AccountToken.updated_at).where(AccountToken.account_id == account_id)
    ).one_or_none()


def forget_token(session: Session, account_id: int) -> bool:
    """Drop the account's sign-in (sign out); True if there was one."""
    done = session.execute(delete(AccountToken).where(AccountToken.account_id == account_id))
    return bool(getattr(done, "rowcount", 0))


def mark_signed_in(session: Session, name: str) -> None:
    """After a new sign-in: the account no longer needs attention, so the scheduler, which
    pauses an account whose login was refused, tries it again."""
    row = session.scalars(select(Account).where(Account.name == name)).first()
    if row is not None:
        row.needs_attention = False
        session.flush()
