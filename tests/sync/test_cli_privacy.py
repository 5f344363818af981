"""``crmsync privacy`` and ``crmsync user email`` end to end, on SQLite and PostgreSQL."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

from click.testing import CliRunner, Result
from sqlalchemy import select

from crm.db import make_engine, make_sessionmaker
from crm.models import AuditEntry, Interaction, PrivacyRule, User
from sync.cli import main
from tests.sync.helpers import maildir
from tests.sync.test_cli import write_config


def crmsync(config: Path, *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(main, ["--config", str(config), *args], input=stdin)


def message(sender: str, subject: str) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, "alice@example.com", subject
    msg["Date"] = "Mon, 02 Mar 2026 09:30:00 +0100"
    msg["Message-ID"] = f"<{subject.replace(' ', '.')}@test>"
    msg.set_content("Hallo Alice")
    return msg.as_bytes()


def subjects(db_url: str) -> list[str]:
    engine = make_engine(db_url)
    try:
        with make_sessionmaker(engine)() as session:
            return sorted(session.scalars(select(Interaction.subject)))
    finally:
        engine.dispose()


def test_a_never_log_domain_from_the_command_line(tmp_path: Path, db_url: str) -> None:
    maildir(
        tmp_path / "mail",
        {"INBOX": [message("jan@gmail.com", "Privat"), message("greta@nordwind.de", "Angebot")]},
    )
    config = write_config(
        tmp_path, db_url, '[[accounts]]\nname = "box"\nkind = "files"\npath = "mail"\n'
    )
    assert crmsync(config, "init").exit_code == 0
    assert crmsync(config, "sync").exit_code == 0
    assert subjects(db_url) == ["Angebot", "Privat"]

    declined = crmsync(config, "privacy", "add", "domain", "gmail.com", stdin="n\n")
    assert declined.exit_code == 1 and "1 stored entries would be removed" in declined.output
    assert subjects(db_url) == ["Angebot", "Privat"]

    added = crmsync(config, "privacy", "add", "domain", "gmail.com", stdin="y\n")
    assert added.exit_code == 0, added.output
    assert subjects(db_url) == ["Angebot"]
    listed = crmsync(config, "privacy", "list")
    assert "\tdomain\tgmail.com\tcli:" in listed.output
    refused = crmsync(config, "privacy", "add", "folder", "Private")
    assert refused.exit_code == 1 and "name the user" in refused.output

    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as session:
        rule = session.scalars(select(PrivacyRule)).one()
        audit = session.scalars(select(AuditEntry)).one()
    engine.dispose()
    assert audit.action == "privacy_rule.add" and audit.actor.startswith("cli:")
    assert crmsync(config, "privacy", "remove", str(rule.id)).exit_code == 0
    assert crmsync(config, "privacy", "list").output == ""


def test_user_email_is_validated_and_unique(tmp_path: Path, db_url: str) -> None:
    config = write_config(tmp_path, db_url, "")
    assert crmsync(config, "init").exit_code == 0
    for name in ("alice", "bob"):
        added = crmsync(config, "user", "add", name, "--password-stdin", stdin="a-long-password\n")
        assert added.exit_code == 0, added.output
    assert crmsync(config, "user", "email", "alice", "Alice@Example.com").exit_code == 0
    taken = crmsync(config, "user", "email", "bob", "alice@example.com")
    assert taken.exit_code == 1 and "of user 'alice' already" in taken.output
    bad = crmsync(config, "user", "email", "bob", "not an address")
    assert bad.exit_code == 1 and "is not a mail address" in bad.output
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as session:
        emails = dict(session.execute(select(User.name, User.email)).all())
    engine.dispose()
    assert emails == {"alice": "alice@example.com", "bob": ""}
