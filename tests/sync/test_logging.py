"""What ``crmsync -v`` logs: lines a machine can read, never a secret."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from tests.mailgen import messages
from tests.servers.crmsync_web import crmsync_command
from tests.servers.dovecot import DovecotServer
from tests.sync.workers import PASSWORD, PASSWORD_ENV, add_users, write_config


def test_json_log_lines_carry_account_folder_counts_and_duration_and_no_password(
    tmp_path: Path, db_url: str, dovecot: DovecotServer
) -> None:
    [user] = add_users(dovecot, f"l{time.monotonic_ns() % 10**6}x", 1)
    dovecot.append(user, "INBOX", messages(4, seed=990))
    config = write_config(tmp_path, db_url, dovecot, [user])
    done = subprocess.run(
        [*crmsync_command(), "--config", str(config), "--log-format", "json", "-v", "sync"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, PASSWORD_ENV: PASSWORD},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert lines, done.stderr
    [folder] = [line for line in lines if line.get("event") == "collection"]
    assert (folder["account"], folder["collection"], folder["new"]) == (user, "INBOX", 4)
    assert isinstance(folder["duration_ms"], int)
    [run] = [line for line in lines if line.get("event") == "run"]
    assert (run["account"], run["status"], run["new"], run["trigger"]) == (user, "ok", 4, "manual")
    assert PASSWORD not in done.stderr + done.stdout
