"""``crmsync worker`` processes as an admin starts them, for the tests and the benchmark:
a config file with IMAP accounts on a real Dovecot, and the processes themselves."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from crm.secrets import generate_key
from tests.servers.crmsync_web import crmsync_command
from tests.servers.dovecot import DovecotServer

#: every test mailbox's password, read by the accounts from this variable
PASSWORD_ENV = "CRMSYNC_TEST_IMAP_PASSWORD"
PASSWORD = "worker-test-pw"


def write_config(
    root: Path,
    db_url: str,
    dovecot: DovecotServer,
    users: Sequence[str],
    *,
    interval: str = "1h",
    sync: str = "",
    spread: str = "0s",
) -> Path:
    """A config file with one IMAP account per Dovecot user (named like the user)."""
    key_file = root / "secret.key"
    if not key_file.exists():
        key_file.write_text(generate_key() + "\n")
    accounts = "".join(
        f"""
[[accounts]]
name = "{user}"
kind = "imap"
host = "127.0.0.1"
port = {dovecot.port}
security = "none"
username = "{user}"
password_env = "{PASSWORD_ENV}"
folders = ["INBOX"]
interval = "{interval}"
"""
        for user in users
    )
    path = root / "config.toml"
    path.write_text(
        f"""[database]
url = {json.dumps(db_url)}

[crm]
internal_domains = ["example.com"]

[archive]
path = "{root / "archive"}"

[secrets]
key_file = "{key_file}"
key_env = "CRMSYNC_TEST_NO_SUCH_KEY"

[sync]
start_spread = "{spread}"
{sync}
{accounts}"""
    )
    return path


@dataclass
class WorkerProcess:
    """One ``crmsync -v worker``; its output goes to ``log``."""

    config: Path
    log: Path
    process: subprocess.Popen[bytes] = field(init=False)

    def __post_init__(self) -> None:
        env = {**os.environ, PASSWORD_ENV: PASSWORD}
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [*crmsync_command(), "--config", str(self.config), "-v", "worker"],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_running(self, timeout: float = 30.0) -> str:
        """The worker's name ("host:pid") once it says it runs."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.text().splitlines():
                if line.startswith("crmsync worker ") and " is running" in line:
                    return line.split()[2]
            if self.process.poll() is not None:
                raise AssertionError(
                    f"the worker exited ({self.process.returncode}):\n{self.text()}"
                )
            time.sleep(0.05)
        raise AssertionError(f"the worker did not start within {timeout} s:\n{self.text()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int:
        """Send ``sig`` and wait for the exit; its code."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout)


def add_users(dovecot: DovecotServer, prefix: str, count: int) -> list[str]:
    """``count`` fresh Dovecot users, all with :data:`PASSWORD`."""
    users = [f"{prefix}{n:03d}" for n in range(count)]
    for user in users:
        dovecot.add_user(user, PASSWORD)
    return users
