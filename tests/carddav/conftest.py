"""A running ``crmsync run`` serving the CardDAV export on SQLite and on PostgreSQL.

``dav_site`` stores the customers of :mod:`tests.carddav.customers`, three users with
an app password each (alice and bob are staff, vera is a viewer and so gets no address
book), and starts ``crmsync run`` on the same database on a free loopback port, as a
user would. The test keeps a session on that database: what it changes through the
ORM, the server's next DAV request sees (cards are rendered lazily).
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy.orm import Session, sessionmaker

from crm import apppasswords
from crm.secrets import generate_key
from crm.users import add_user, use_hasher
from tests.carddav.clients import client_env
from tests.carddav.customers import Customers, add_customers
from tests.servers.crmsync_web import RunningCrmsync, start_run, stop_run

# Argon2 with production parameters costs ~0.1 s a hash; these tests need only a few.
use_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))

USERS = {"alice": "staff", "bob": "staff", "vera": "viewer"}
START_TIMEOUT = 60


@dataclass
class DavSite:
    """The running server, its database, and who may log in to it."""

    server: RunningCrmsync
    sessions: sessionmaker[Session]
    customers: Customers
    app_passwords: dict[str, str]
    env: dict[str, str]  # for client processes

    @property
    def url(self) -> str:
        """The bare server URL, ``http://127.0.0.1:PORT/``."""
        return self.server.url.rstrip("/") + "/"

    def book_path(self, user: str = "alice", book: str = "customers") -> str:
        return f"/dav/addressbooks/{user}/{book}/"

    def card_path(self, key: str, user: str = "alice") -> str:
        return f"{self.book_path(user)}{self.customers.uid(key)}.vcf"


def _write_config(root: Path, db_url: str) -> Path:
    key_file = root / "secret.key"
    key_file.write_text(generate_key() + "\n")
    key_file.chmod(0o600)
    config = root / "config.toml"
    config.write_text(
        textwrap.dedent(
            f"""\
            [database]
            url = "{db_url}"

            [crm]
            internal_domains = ["example.com"]

            [archive]
            path = "{root / "archive"}"

            [secrets]
            key_file = "{key_file}"
            """
        )
    )
    return config


@pytest.fixture
def dav_site(db_url: str, sessions: sessionmaker[Session], tmp_path: Path) -> Iterator[DavSite]:
    """``crmsync run`` on a fresh database (SQLite, then PostgreSQL) with the test
    customers, users alice and bob (staff) and vera (viewer), one app password each."""
    with sessions.begin() as session:
        passwords = {}
        for name, role in USERS.items():
            user = add_user(session, name, f"web-password-of-{name}", role)
            passwords[name] = apppasswords.create(session, user, "real clients")
        customers = add_customers(session)
    root = tmp_path / "server"
    root.mkdir()
    env = client_env(tmp_path / "home")
    server = start_run(_write_config(root, db_url), root / "crmsync.log", env, START_TIMEOUT)
    try:
        yield DavSite(server, sessions, customers, passwords, env)
    finally:
        stop_run(server)
        print(f"--- log of crmsync run ---\n{server.log_text()}")  # shown when a test fails
