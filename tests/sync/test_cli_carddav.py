"""``crmsync user app-password`` and ``crmsync addressbook`` (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from crm.apppasswords import verify
from crm.db import make_engine, make_sessionmaker
from sync.cli import main
from tests.sync.test_cli import write_config

PASSWORD = re.compile(r"[a-z0-9]{4}(-[a-z0-9]{4}){5}")


def run(config: Path, *args: str, stdin: str | None = None):
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


def verifies(db_url: str, name: str, password: str) -> bool:
    engine = make_engine(db_url)
    try:
        with make_sessionmaker(engine)() as session:
            return verify(session, name, password) is not None
    finally:
        engine.dispose()


def test_app_password_goes_alone_to_stdout_once(config: Path, db_url: str) -> None:
    result = run(config, "user", "app-password", "ann", "--label", "iPhone")
    assert result.exit_code == 0, result.output
    password = result.stdout.strip()
    assert result.stdout == password + "\n"  # one line: scripts capture it as it is
    assert PASSWORD.fullmatch(password)
    assert "'iPhone' of ann (shown only this once)" in result.stderr
    assert "http://127.0.0.1:8080/" in result.stderr and "user name = ann" in result.stderr
    assert password not in result.stderr
    assert verifies(db_url, "ann", password)
    assert not verifies(db_url, "bob", password)
    listed = run(config, "user", "app-password", "ann", "--list")
    assert listed.exit_code == 0
    assert "iPhone" in listed.stdout and "never" in listed.stdout
    assert password not in listed.stdout


def test_the_label_defaults_to_a_dated_one(config: Path, db_url: str) -> None:
    today = f"cli-{datetime.now(UTC):%Y-%m-%d}"
    first = run(config, "user", "app-password", "ann")
    second = run(config, "user", "app-password", "ann")
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    assert f"'{today}' of ann" in first.stderr and f"'{today}-2' of ann" in second.stderr
    assert first.stdout != second.stdout
    assert verifies(db_url, "ann", first.stdout.strip())
    assert verifies(db_url, "ann", second.stdout.strip())


def test_revoke_removes_only_that_app_password(config: Path, db_url: str) -> None:
    phone = run(config, "user", "app-password", "ann", "--label", "iPhone").stdout.strip()
    laptop = run(config, "user", "app-password", "ann", "--label", "Laptop").stdout.strip()
    result = run(config, "user", "app-password", "ann", "--revoke", "iPhone")
    assert result.exit_code == 0, result.output
    assert result.stdout == "app password 'iPhone' of ann revoked\n"
    assert not verifies(db_url, "ann", phone) and verifies(db_url, "ann", laptop)
    listed = run(config, "user", "app-password", "ann", "--list").stdout
    assert "Laptop" in listed and "iPhone" not in listed
    again = run(config, "user", "app-password", "ann", "--revoke", "iPhone")
    assert again.exit_code == 1
    assert again.stderr == "Error: ann has no app password named 'iPhone'\n"
    # bob cannot revoke ann's
    others = run(config, "user", "app-password", "bob", "--revoke", "Laptop")
    assert others.exit_code == 1 and verifies(db_url, "ann", laptop)


def test_a_wrong_user_name_is_a_one_line_error(config: Path) -> None:
    for extra in ((), ("--list",), ("--revoke", "x"), ("--label", "iPhone")):
        result = run(config, "user", "app-password", "nobody", *extra)
        assert result.exit_code == 1, extra
        assert result.stdout == ""
        assert result.stderr == "Error: no user named 'nobody'\n"


def test_a_taken_or_empty_label_is_refused(config: Path) -> None:
    assert run(config, "user", "app-password", "ann", "--label", "iPhone").exit_code == 0
    taken = run(config, "user", "app-password", "ann", "--label", "iPhone")
    assert taken.exit_code == 1 and taken.stdout == ""
    assert "ann has an app password named 'iPhone' already" in taken.stderr
    empty = run(config, "user", "app-password", "ann", "--label", " ")
    assert empty.exit_code == 1 and "name the app password" in empty.stderr


def test_options_go_one_at_a_time(config: Path) -> None:
    result = run(config, "user", "app-password", "ann", "--list", "--revoke", "x")
    assert result.exit_code == 2 and "one at a time" in result.stderr


def test_addressbook_add_list_delete(config: Path) -> None:
    listed = run(config, "addressbook", "list")
    assert listed.exit_code == 0 and "customers" in listed.stdout
    added = run(config, "addressbook", "add", "anns", "--owner", "ann", "--name", "Ann's")
    assert added.exit_code == 0, added.output
    assert (
        added.stdout == "address book anns added: Customers looked after by ann, for admin, staff\n"
    )
    vip = run(
        config,
        "addressbook",
        "add",
        "vip",
        "--category",
        "VIP",
        "--role",
        "viewer",
        "--role",
        "staff",
    )
    assert vip.exit_code == 0, vip.output
    assert "for viewer, staff" in vip.stdout
    listed = run(config, "addressbook", "list").stdout
    assert "anns" in listed and "Ann's" in listed and "vip" in listed
    deleted = run(config, "addressbook", "delete", "anns")
    assert deleted.exit_code == 0 and deleted.stdout == "address book anns deleted\n"
    assert "anns" not in run(config, "addressbook", "list").stdout


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("add", "x", "--owner", "nobody"), 1, "Error: there is no user named 'nobody'\n"),
        (("add", "Bad Slug", "--category", "VIP"), 1, "lower-case letters, digits and dashes"),
        (("add", "x"), 2, "give either --owner USER or --category NAME"),
        (("add", "x", "--owner", "ann", "--category", "VIP"), 2, "give either --owner"),
        (("add", "x", "--category", "VIP", "--role", "root"), 2, "'root' is not one of"),
        (("delete", "customers"), 1, "Error: no configured address book named 'customers'\n"),
    ],
)
def test_addressbook_refuses_bad_input(config: Path, args, code, message) -> None:
    result = run(config, "addressbook", *args)
    assert result.exit_code == code, result.output
    assert message in result.stderr
