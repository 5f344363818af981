"""Encrypting the passwords of accounts added in the web view.

The key never lives in the database: it comes from the config (a key file that
``crmsync init`` creates, or an environment variable). Fernet (AES-128-CBC with
HMAC-SHA256, from ``cryptography``) authenticates what it encrypts, so a
wrong key or a tampered value is an error, never garbage. Several keys may be
given (newest first) so a key can be rotated: old values still decrypt, new
ones use the first key.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class SecretKeyError(ValueError):
    """Raised when a key is malformed or a stored secret does not decrypt with it."""


def generate_key() -> str:
    """A new random key, as the text that goes into a key file."""
    return Fernet.generate_key().decode("ascii")


class SecretBox:
    """Encrypts and decrypts account passwords with the configured key(s)."""

    def __init__(self, keys: str | Sequence[str]) -> None:
        keys = [keys] if isinstance(keys, str) else list(keys)
        if not keys:
            raise SecretKeyError("no key given")
        try:
            self._fernet = MultiFernet([Fernet(k.strip().encode("ascii")) for k in keys])
        except (ValueError, UnicodeEncodeError) as exc:
            raise SecretKeyError(
                "a key must be 32 url-safe base64-encoded bytes (crmsync init makes one)"
            ) from exc
        self._first = keys[0].strip().encode("ascii")

    def encrypt(self, secret: str) -> bytes:
        """The secret, encrypted with the newest key."""
        return self._fernet.encrypt(secret.encode("utf-8"))

    def decrypt(self, token: bytes) -> str:
        """The secret back; :class:`SecretKeyError` when no key fits or it was altered."""
        try:
            return self._fernet.decrypt(token).decode("utf-8")
        except InvalidToken:
            raise SecretKeyError(
                "a stored password does not decrypt with the configured key"
                " (was the key changed? enter the password again)"
            ) from None

    def derive(self, purpose: str) -> bytes:
        """A separate key for another use (signing web sessions), derived from the newest
        key so one key file serves both."""
        return hmac.new(self._first, b"crmsync:" + purpose.encode(), hashlib.sha256).digest()
