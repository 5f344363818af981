"""The daily follow-up digest through a real SMTP server (aiosmtpd on 127.0.0.1), on
SQLite and PostgreSQL: who gets which follow-ups, once a day, never without an address;
and ``crmsync followups list | digest``."""

from __future__ import annotations

import secrets
import socket
import threading
import time
from collections.abc import Iterator
from datetime import date, timedelta
from email import message_from_bytes
from email.message import Message
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope
from aiosmtpd.smtp import Session as SmtpSession
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from crm.followups import create_follow_up
from crm.models import User
from crm.users import add_user
from sync.cli import main
from sync.config import Config, ConfigError, parse_config
from sync.digest import is_due, send_digests
from sync.scheduler import Worker
from tests.crm.helpers import customers

TODAY = date.today()


class Sink:
    """An SMTP server that keeps what it is sent."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: SMTP, session: SmtpSession, envelope: Envelope) -> str:
        raw = envelope.content if isinstance(envelope.content, bytes) else b""
        with self.lock:
            self.messages.append(
                (list(envelope.rcpt_tos), message_from_bytes(raw, policy=default_policy))
            )
        return "250 OK"

    def to(self, address: str) -> list[Message]:
        with self.lock:
            return [m for rcpts, m in self.messages if address in rcpts]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[Sink, int]]:
    sink, port = Sink(), _free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


def config_data(db_url: str, port: int, **smtp: Any) -> dict[str, Any]:
    return {
        "database": {"url": db_url},
        "web": {"public_url": "https://crm.example.com/"},
        "smtp": {
            "enabled": True,
            "host": "127.0.0.1",
            "port": port,
            "security": "none",
            "from_address": "crm@example.com",
            **smtp,
        },
    }


@pytest.fixture
def team(sessions: sessionmaker[Session]) -> dict[str, int]:
    with sessions.begin() as session:
        ids = customers(session)
        for name, email in (
            ("anna", "anna@example.com"),
            ("ben", "ben@example.com"),
            ("nomail", ""),
        ):
            user = add_user(session, name, secrets.token_urlsafe(16), "staff")
            user.email = email
            session.flush()
            ids[name] = user.id

        def make(who: str, days: int, customer: str, note: str = "", **kw: Any) -> None:
            key = "organization_id" if customer == "nordwind" else "person_id"
            f = create_follow_up(
                session,
                assignee_id=ids[who],
                due_on=TODAY,
                actor="anna",
                note=note,
                **{key: ids[customer]},
                **kw,
            )
            f.due_on = TODAY + timedelta(days=days)

        make("anna", -3, "greta", "Angebot nachfassen", waiting_for_reply=True)
        make("anna", 0, "nordwind", "Rahmenvertrag besprechen")
        make("anna", 4, "jan", "later, not in the digest")
        make("ben", 0, "jan", "Rückruf")
        make("nomail", 0, "jan", "no address")
    return ids


def test_digest_once_a_day_to_the_assignee(
    sessions: sessionmaker[Session], team: dict[str, int], smtp: tuple[Sink, int], db_url: str
) -> None:
    sink, port = smtp
    config = parse_config(config_data(db_url, port), base_dir=Path("."))
    report = send_digests(config, sessions, today=TODAY)
    assert sorted(report.sent) == ["anna", "ben"]
    assert report.no_address == ["nomail"]
    [anna] = sink.to("anna@example.com")
    assert anna["From"] == "crm@example.com"
    assert anna["Subject"] == "Follow-ups: 1 overdue, 1 due today"
    assert anna["Auto-Submitted"] == "auto-generated"
    body = anna.get_content()
    assert "Greta Hansen (waiting for a reply)" in body
    assert "Angebot nachfassen" in body and "Rahmenvertrag besprechen" in body
    assert f"https://crm.example.com/people/{team['greta']}" in body
    assert f"https://crm.example.com/organizations/{team['nordwind']}" in body
    assert "later, not in the digest" not in body and "Rückruf" not in body
    assert body.index("Overdue:") < body.index("Greta") < body.index("Due today:")
    [ben] = sink.to("ben@example.com")
    assert "Rückruf" in ben.get_content() and ben["Subject"] == "Follow-ups: 1 due today"
    assert len(sink.messages) == 2

    again = send_digests(config, sessions, today=TODAY)  # a second worker, the same day
    assert again.sent == [] and sorted(again.already) == ["anna", "ben"]
    assert len(sink.messages) == 2
    with sessions() as session:
        days = {n: d for n, d in session.execute(select(User.name, User.last_digest_on))}
    assert days["anna"] == days["ben"] == TODAY and days["nomail"] is None

    tomorrow = send_digests(config, sessions, today=TODAY + timedelta(days=1))
    assert sorted(tomorrow.sent) == ["anna", "ben"]
    assert len(sink.messages) == 4


def test_two_workers_race_for_one_digest(
    sessions: sessionmaker[Session], team: dict[str, int], smtp: tuple[Sink, int], db_url: str
) -> None:
    sink, port = smtp
    config = parse_config(config_data(db_url, port), base_dir=Path("."))
    reports = []

    def run() -> None:
        reports.append(send_digests(config, sessions, today=TODAY, user_id=team["anna"]))

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(len(r.sent) for r in reports) == 1
    assert len(sink.to("anna@example.com")) == 1


def test_unreachable_server_gives_the_claim_back(
    sessions: sessionmaker[Session], team: dict[str, int], smtp: tuple[Sink, int], db_url: str
) -> None:
    sink, port = smtp
    dead = parse_config(config_data(db_url, _free_port()), base_dir=Path("."))
    report = send_digests(dead, sessions, today=TODAY, user_id=team["anna"])
    assert report.failed == ["anna"] and report.sent == []
    live = parse_config(config_data(db_url, port), base_dir=Path("."))
    assert send_digests(live, sessions, today=TODAY, user_id=team["anna"]).sent == ["anna"]
    assert len(sink.to("anna@example.com")) == 1


def test_smtp_config_is_checked(db_url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(
            config_data(
                db_url,
                25,
                host="mail.example.com",
                digest_time="7 am",
                username="crm",
                password="x",
            )
            | {"web": {"public_url": "crm.example.com"}},
            base_dir=Path("."),
        )
    found = "\n".join(caught.value.problems)
    assert 'smtp.security: "none" sends mail and password unencrypted' in found
    assert 'smtp.digest_time: expected a time of day "HH:MM"' in found
    assert "smtp.password: a password is never written in the config file" in found
    assert "smtp: no password source" in found
    assert "web.public_url: expected an address" in found
    plain = parse_config({"database": {"url": db_url}}, base_dir=Path("."))
    assert plain.smtp.enabled is False and plain.smtp.port == 587
    assert plain.web.public_url is None
    ssl = parse_config({"smtp": {"security": "ssl", "digest_time": "18:30"}}, base_dir=Path("."))
    assert ssl.smtp.port == 465 and ssl.smtp.digest_time.hour == 18


def test_is_due(db_url: str) -> None:
    config: Config = parse_config({"smtp": {"digest_time": "00:00"}}, base_dir=Path("."))
    assert is_due(config)


def test_cli_list_and_digest(
    sessions: sessionmaker[Session],
    team: dict[str, int],
    smtp: tuple[Sink, int],
    db_url: str,
    tmp_path: Path,
) -> None:
    sink, port = smtp
    path = tmp_path / "config.toml"
    path.write_text(
        f'[database]\nurl = "{db_url}"\n[web]\npublic_url = "https://crm.example.com"\n'
        f'[smtp]\nenabled = true\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
        'from_address = "crm@example.com"\n',
        encoding="utf-8",
    )

    def crmsync(*args: str) -> Any:
        return CliRunner().invoke(main, ["--config", str(path), *args], catch_exceptions=False)

    listed = crmsync("followups", "list", "--user", "anna")
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert [line.split("\t")[2] for line in lines] == ["overdue", "today", "upcoming"]
    assert "Greta Hansen" in lines[0] and "waiting" in lines[0]
    everyone = crmsync("followups", "list").output.splitlines()
    assert len(everyone) == 5
    assert crmsync("followups", "list", "--user", "nobody").exit_code == 1

    sent = crmsync("followups", "digest", "--user", "ben")
    assert sent.exit_code == 0 and "sent to: ben" in sent.output
    assert "already sent today to: ben" in crmsync("followups", "digest", "--user", "ben").output
    assert "sent to: ben" in crmsync("followups", "digest", "--user", "ben", "--again").output
    assert len(sink.to("ben@example.com")) == 2 and sink.to("anna@example.com") == []


def test_the_worker_sends_the_digest_when_it_is_due(
    sessions: sessionmaker[Session], team: dict[str, int], smtp: tuple[Sink, int], db_url: str
) -> None:
    sink, port = smtp
    config = parse_config(config_data(db_url, port, digest_time="00:00"), base_dir=Path("."))
    worker = Worker(config, sessions, poll_seconds=0.2, first_delay=0.5)
    worker.start()
    try:
        deadline = time.monotonic() + 20
        while len(sink.messages) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        worker.shutdown(wait=True)
    assert sorted(r[0] for r, _ in sink.messages) == ["anna@example.com", "ben@example.com"]
