"""The shared corpus of real-world test data, read in place (never copied into the repo)."""

from __future__ import annotations

import mailbox
import os
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"
ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("CRMSYNC_CORPUS", ROOT.parent / "shared" / "corpus"))


def need(condition: bool, reason: str) -> None:
    """Skip when a peer or the corpus is missing on a developer's machine; fail under CI=true."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"{reason} (mandatory under CI=true)")
    pytest.skip(reason)


def mail_messages() -> list[tuple[str, bytes]]:
    """(name, raw bytes) for every file under mail/; an .mbox gives one entry per message."""
    root = CORPUS / "mail"
    if not root.is_dir():
        return []
    found: list[tuple[str, bytes]] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        name = str(path.relative_to(root))
        if path.suffix == ".mbox":
            box = mailbox.mbox(path, create=False)
            try:
                found += [(f"{name}#{i}", box.get_bytes(key)) for i, key in enumerate(box.keys())]
            finally:
                box.close()
        else:
            found.append((name, path.read_bytes()))
    return found
