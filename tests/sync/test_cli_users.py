"""``crmsync init`` (the key file) and ``crmsync user``: users of the web view."""

from __future__ import annotations

import stat
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from crm.db import make_engine, make_sessionmaker
from crm.models import User
from crm.secrets import SecretBox
from crm.users import verify_password
from sync.cli import main
from tests.sync.test_cli import write_config


def run(config: Path, *args: str, stdin: str | None = None):
    return CliRunner().invoke(main, ["--config", str(config), *args], input=stdin)


def test_init_creates_a_private_key_file_once(tmp_path: Path, db_url: str, monkeypatch) -> None:
    monkeypatch.delenv("CRMSYNC_SECRET_KEY", raising=False)
    config = write_config(tmp_path, db_url, "")
    result = run(config, "init")
    assert result.exit_code == 0, result.output
    key_file = tmp_path / "var" / "secret.key"
    assert f"created the secret key file {key_file}" in result.output
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text().strip()
    SecretBox(key)  # a usable key
    assert "created the secret key" not in run(config, "init").output
    assert key_file.read_text().strip() == key  # never replaced: stored passwords need it


def test_user_add_reads_the_password_from_stdin(tmp_path: Path, db_url: str) -> None:
    config = write_config(tmp_path, db_url, "")
    assert run(config, "init").exit_code == 0
    result = run(
        config,
        "user",
        "add",
        "ann",
        "--role",
        "admin",
        "--password-stdin",
        stdin="long-enough-pw\n",
    )
    assert result.exit_code == 0, result.output
    assert "long-enough-pw" not in result.output
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as session:
        user = session.scalars(select(User).where(User.name == "ann")).one()
        assert user.role == "admin" and verify_password(user, "long-enough-pw")
        assert "long-enough-pw" not in user.password_hash
    engine.dispose()
    listed = run(config, "user", "list")
    assert "ann" in listed.output and "admin" in listed.output and "never" in listed.output


def test_user_add_refuses_weak_passwords_taken_names_and_unknown_roles(tmp_path, db_url) -> None:
    config = write_config(tmp_path, db_url, "")
    assert run(config, "init").exit_code == 0
    weak = run(config, "user", "add", "bob", "--password-stdin", stdin="short\n")
    assert weak.exit_code == 1 and "at least 10 characters" in weak.output
    assert (
        run(config, "user", "add", "bob", "--password-stdin", stdin="long-enough-pw\n").exit_code
        == 0
    )
    taken = run(config, "user", "add", "bob", "--password-stdin", stdin="long-enough-pw\n")
    assert taken.exit_code == 1 and "exists already" in taken.output
    role = run(config, "user", "add", "eve", "--role", "root", "--password-stdin", stdin="x" * 12)
    assert role.exit_code == 2 and "'root' is not one of" in role.output


def test_user_password_changes_it(tmp_path: Path, db_url: str) -> None:
    config = write_config(tmp_path, db_url, "")
    assert run(config, "init").exit_code == 0
    run(config, "user", "add", "cy", "--password-stdin", stdin="first-password\n")
    result = run(config, "user", "password", "cy", "--password-stdin", stdin="second-password\n")
    assert result.exit_code == 0, result.output
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as session:
        user = session.scalars(select(User).where(User.name == "cy")).one()
        assert verify_password(user, "second-password")
        assert not verify_password(user, "first-password")
    engine.dispose()
    missing = run(
        config, "user", "password", "nobody", "--password-stdin", stdin="second-password\n"
    )
    assert missing.exit_code == 1 and "no user named 'nobody'" in missing.output
