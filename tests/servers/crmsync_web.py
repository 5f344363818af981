"""``crmsync run`` as a user starts it: a real process on a free loopback port, with its
own config, SQLite database, key file, the sample customers and mailbox, and an admin.

The fixture ``crmsync_web`` yields a :class:`RunningCrmsync`; the process is stopped
with SIGTERM (as a service manager would) at the end of the test.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "sync" / "sample"
ADMIN_PASSWORD = "admin-password-e2e"
_URL = re.compile(r"serving the web view at (http://\S+)")


@dataclass
class RunningCrmsync:
    """A running ``crmsync run`` and how to reach it."""

    url: str
    config: Path
    process: subprocess.Popen[str]
    log: Path

    def command(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run another ``crmsync`` command against the same config."""
        return subprocess.run(
            [*crmsync_command(), "--config", str(self.config), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def crmsync_command() -> list[str]:
    """The installed ``crmsync`` console script next to this interpreter."""
    script = Path(sys.executable).with_name("crmsync")
    return [str(script)] if script.exists() else [sys.executable, "-m", "sync.cli"]


def write_config(root: Path) -> Path:
    config = root / "config.toml"
    config.write_text(
        textwrap.dedent(
            f"""\
            [database]
            url = "sqlite:///{root / "crmsync.db"}"

            [crm]
            internal_domains = ["example.com"]
            staff_addresses = ["alice@example.com", "bob@example.com"]

            [archive]
            path = "{root / "archive"}"

            [secrets]
            key_file = "{root / "secret.key"}"

            [[accounts]]
            name = "sample-mail"
            kind = "files"
            path = "{SAMPLE / "mail"}"
            format = "maildir"
            interval = "1h"
            """
        )
    )
    return config


def _check(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="session")
def crmsync_web_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Set up once per test process, through the commands a user types: init, import,
    sync, user add. Each test then starts ``crmsync run`` on a copy."""
    root = tmp_path_factory.mktemp("crmsync-web-template")
    base = [*crmsync_command(), "--config", str(write_config(root))]

    def run(*args: str, stdin: str | None = None) -> None:
        _check(
            subprocess.run(
                [*base, *args],
                input=stdin,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
        )

    run("init")
    run("import", "customers", str(SAMPLE / "customers.csv"))
    run("sync")
    run("user", "add", "admin", "--role", "admin", "--password-stdin", stdin=ADMIN_PASSWORD + "\n")
    with sqlite3.connect(root / "crmsync.db") as db:  # everything into the main file
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return root


@pytest.fixture
def crmsync_web(tmp_path: Path, crmsync_web_template: Path) -> Iterator[RunningCrmsync]:
    """``crmsync run`` with the sample data, serving on a free loopback port."""
    shutil.copy(crmsync_web_template / "crmsync.db", tmp_path / "crmsync.db")
    shutil.copy(crmsync_web_template / "secret.key", tmp_path / "secret.key")
    shutil.copytree(crmsync_web_template / "archive", tmp_path / "archive")
    config = write_config(tmp_path)
    server = start_run(config, tmp_path / "crmsync.log")
    try:
        yield server
    finally:
        stop_run(server)


def start_run(
    config: Path, log: Path, env: dict[str, str] | None = None, timeout: float = 30
) -> RunningCrmsync:
    """``crmsync run`` on ``config``, listening on a free loopback port (stderr to ``log``)."""
    with log.open("w") as out:
        process = subprocess.Popen(
            [*crmsync_command(), "--config", str(config), "-v", "run", "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE,
            stderr=out,
            text=True,
            env={**(os.environ if env is None else env), "PYTHONUNBUFFERED": "1"},
        )
    url = _wait_for_url(process, log, timeout)
    return RunningCrmsync(url=url, config=config, process=process, log=log)


def stop_run(server: RunningCrmsync) -> None:
    """Stop it as a service manager would (SIGTERM), killing it after 20 s."""
    process = server.process
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stdout:
        process.stdout.close()


def _wait_for_url(process: subprocess.Popen[str], log: Path, timeout: float = 30) -> str:
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if found := _URL.search(line):
            return found[1]
        if not line and process.poll() is not None:
            break
    process.kill()
    process.wait()
    raise AssertionError(f"crmsync run did not start:\n{log.read_text(errors='replace')}")
