"""The web view in-process: the app on a fresh database (SQLite and PostgreSQL), users of
every role, and a client that logs in and sends CSRF tokens like a browser does."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.test import TestResponse

from crm.matching import MatchPolicy
from crm.secrets import SecretBox, generate_key
from crm.users import add_user, use_hasher
from web.app import create_app
from web.settings import ConnectionTester, WebSettings

# Argon2 with production parameters costs ~0.1 s a hash; the tests log in hundreds of times.
use_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))

PASSWORDS = {"admin": "admin-pass-123", "staff": "staff-pass-123", "viewer": "viewer-pass-123"}
POLICY = MatchPolicy(internal_domains=frozenset({"example.com"}))
_TOKEN = re.compile(r'name="csrf-token" content="([^"]+)"')


def make_app(
    sessions: sessionmaker[Session], archive: Path, tester: ConnectionTester | None = None
) -> Flask:
    settings = WebSettings(
        secret_key=b"k" * 32,
        secret_box=SecretBox(generate_key()),
        archive_path=archive,
        match_policy=POLICY,
        test_connection=tester,
    )
    app = create_app(settings, sessions)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def app(sessions: sessionmaker[Session], tmp_path: Path) -> Flask:
    """The web view with CSRF checks on, and one user per role."""
    with sessions.begin() as session:
        for role, password in PASSWORDS.items():
            add_user(session, role, password, role)
    return make_app(sessions, tmp_path / "archive")


@dataclass
class Browser:
    """A test client that keeps the CSRF token of the last page, as a browser's forms do."""

    client: FlaskClient
    token: str = ""

    def get(self, url: str, **kwargs: Any) -> TestResponse:
        response = self.client.get(url, **kwargs)
        found = _TOKEN.search(response.get_data(as_text=True))
        response.close()  # a file download holds the file open until closed
        if found:
            self.token = found[1]
        return response

    def post(self, url: str, data: dict[str, Any] | None = None, **kwargs: Any) -> TestResponse:
        if not self.token:
            self.get("/login")
        form = {"csrf_token": self.token, **(data or {})}
        return self.client.post(url, data=form, **kwargs)

    def login(self, name: str, password: str | None = None) -> TestResponse:
        self.get("/login")
        return self.post("/login", {"name": name, "password": password or PASSWORDS[name]})


@pytest.fixture
def anonymous(app: Flask) -> Iterator[Browser]:
    with app.test_client() as client:
        yield Browser(client)


def _logged_in(app: Flask, role: str) -> Browser:
    browser = Browser(app.test_client())
    response = browser.login(role)
    assert response.status_code == 302, response.get_data(as_text=True)
    browser.get("/customers")
    return browser


@pytest.fixture
def admin(app: Flask) -> Browser:
    return _logged_in(app, "admin")


@pytest.fixture
def staff(app: Flask) -> Browser:
    return _logged_in(app, "staff")


@pytest.fixture
def viewer(app: Flask) -> Browser:
    return _logged_in(app, "viewer")
