"""The document archive: attachments stored once on disk, by the SHA-256 of their bytes."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


class Archive:
    """A content-addressed file store: ``root/ab/cd/abcd...`` (the full SHA-256).

    Writing is idempotent and atomic (a temporary file renamed into place), so a
    crash leaves either the whole file or none; a file written for a batch whose
    transaction then rolled back is harmless and reused by the retry.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        """Where the document with this digest lives."""
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, data: bytes) -> str:
        """Store ``data`` (unless already there) and return its SHA-256."""
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if target.exists():
            return digest
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest

    def read(self, sha256: str) -> bytes:
        """The bytes of a stored document."""
        return self.path(sha256).read_bytes()

    def remove(self, sha256: str) -> None:
        """Delete a document's file (gone already is fine): call it after the commit that
        removed the last row referring to it, so a rollback never loses a file."""
        self.path(sha256).unlink(missing_ok=True)
