"""A sync killed with SIGKILL mid-way loses nothing and doubles nothing when run again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from crm import schema
from crm.db import make_engine, make_sessionmaker
from crm.models import Interaction, InteractionSource
from tests.mailgen import messages
from tests.servers.dovecot import DovecotServer, ImapUser

TOTAL = 3000


def config_file(tmp_path: Path, name: str, db_url: str, user: ImapUser) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(f"""
[database]
url = "{db_url}"
[crm]
internal_domains = ["example.com"]
[archive]
path = "archive-{name}"
[sync]
batch_max_items = 100
[[accounts]]
name = "alice"
kind = "imap"
host = "{user.host}"
port = {user.port}
security = "none"
username = "{user.name}"
password_env = "CRASH_TEST_PASSWORD"
""")
    return path


def crmsync(config: Path, user: ImapUser, *args: str) -> subprocess.Popen[bytes]:
    """``crmsync`` in a process of its own; what it prints goes to a log beside the config."""
    env = dict(os.environ, CRASH_TEST_PASSWORD=user.password)
    with config.with_suffix(".log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "sync.cli", "--config", str(config), *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def stored(sessions: sessionmaker[Session]) -> tuple[set[str], int]:
    with sessions() as session:
        keys = set(session.scalars(select(Interaction.dedupe_key)))
        sources = session.scalar(select(func.count()).select_from(InteractionSource)) or 0
    return keys, sources


@pytest.mark.slow
def test_sigkill_mid_sync_then_resume(
    dovecot: DovecotServer, imap_user: ImapUser, db_url: str, tmp_path: Path
) -> None:
    dovecot.append(imap_user.name, "INBOX", messages(TOTAL, seed=7))
    config = config_file(tmp_path, "killed", db_url, imap_user)
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)

    victim = crmsync(config, imap_user, "sync")
    deadline = time.monotonic() + 120
    at_kill = 0
    while time.monotonic() < deadline and victim.poll() is None:
        at_kill = len(stored(sessions)[0])
        if at_kill >= 600:
            break
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert victim.returncode == -signal.SIGKILL, "the sync finished before it could be killed"
    assert 0 < at_kill < TOTAL

    resumed = crmsync(config, imap_user, "sync")
    assert resumed.wait(timeout=300) == 0, config.with_suffix(".log").read_text()
    keys, sources = stored(sessions)
    engine.dispose()

    # the reference: the same mailbox synced once, without interruption, into a fresh database
    reference_url = f"sqlite:///{tmp_path / 'reference.db'}"
    reference_engine = make_engine(reference_url)
    schema.upgrade(reference_engine)
    reference = crmsync(
        config_file(tmp_path, "reference", reference_url, imap_user), imap_user, "sync"
    )
    assert reference.wait(timeout=300) == 0
    expected, expected_sources = stored(make_sessionmaker(reference_engine))
    reference_engine.dispose()

    assert len(expected) > TOTAL // 2  # most generated mail has a customer in it
    assert keys == expected  # nothing lost
    assert sources == expected_sources == len(expected)  # nothing doubled
