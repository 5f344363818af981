"""``crmsync api-token add | list | revoke`` (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from crm.apitokens import verify
from crm.db import make_engine, make_sessionmaker
from crm.models import AuditEntry, User
from sync.cli import main
from tests.sync.test_cli import write_config


def run(config: Path, *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(main, ["--config", str(config), *args], input=stdin)


@pytest.fixture
def config(tmp_path: Path, db_url: str) -> Path:
    """An initialised database with the users ann (staff) and bob (viewer)."""
    path = write_config(tmp_path, db_url, "")
    assert run(path, "init").exit_code == 0
    for name, role in (("ann", "staff"), ("bob", "viewer")):
        added = run(path, "user", "add", name, "--role", role, "--password-stdin", stdin="x" * 12)
        assert added.exit_code == 0, added.output
    return path


def owner_of(db_url: str, token: str) -> str | None:
    engine = make_engine(db_url)
    try:
        with make_sessionmaker(engine)() as session:
            who = verify(session, token)
            return who.name if who is not None else None
    finally:
        engine.dispose()


def test_add_list_revoke(config: Path, db_url: str) -> None:
    added = run(config, "api-token", "add", "ann", "pbx")
    assert added.exit_code == 0, added.output
    token = added.stdout.strip()
    assert added.stdout == token + "\n" and token.startswith("crm_")
    assert token not in added.stderr
    assert owner_of(db_url, token) == "ann"
    again = run(config, "api-token", "add", "ann", "pbx")
    assert again.exit_code == 1 and "already" in again.output
    assert run(config, "api-token", "add", "bob", "pbx").exit_code == 0
    listed = run(config, "api-token", "list", "ann")
    assert listed.exit_code == 0 and "pbx" in listed.stdout and "bob" not in listed.stdout
    assert token not in listed.stdout
    everyone = run(config, "api-token", "list")
    assert "ann" in everyone.stdout and "bob" in everyone.stdout
    revoked = run(config, "api-token", "revoke", "ann", "pbx")
    assert revoked.exit_code == 0, revoked.output
    assert owner_of(db_url, token) is None
    assert run(config, "api-token", "revoke", "ann", "pbx").exit_code == 1
    assert run(config, "api-token", "add", "nobody", "x").exit_code == 1
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as session:
        made = session.execute(
            select(AuditEntry.actor, AuditEntry.action, AuditEntry.target)
            .where(AuditEntry.action.startswith("api_token."))
            .order_by(AuditEntry.id)
        ).all()
        ann = session.scalar(select(User.id).where(User.name == "ann"))
    engine.dispose()
    assert [(a, t) for _, a, t in made] == [
        ("api_token.create", "ann: pbx"),
        ("api_token.create", "bob: pbx"),
        ("api_token.revoke", f"user {ann}: pbx"),
    ]
    assert all(actor.startswith("cli") for actor, _, _ in made)
