"""``crmsync person export | erase`` on the sample data, with a config file and a real
database (SQLite and PostgreSQL)."""

from __future__ import annotations

import getpass
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from crm import audit
from crm.db import make_engine, make_sessionmaker
from crm.models import Person
from sync.cli import main
from tests.sync.test_cli import SAMPLE, crmsync, timeline, write_config

TOBIAS = "tobias.beispiel@gmail.com"
JANA = "jana.petersen@nordwind-logistik.example"


@pytest.fixture
def sample(tmp_path: Path, db_url: str) -> Path:
    """The README's demo data (customers and mailbox) in a fresh database, synced once."""
    shutil.copytree(SAMPLE / "mail", tmp_path / "mail")
    config = write_config(
        tmp_path, db_url, '[[accounts]]\nname = "sample"\nkind = "files"\npath = "mail"\n'
    )
    assert crmsync(config, "init").exit_code == 0
    assert crmsync(config, "import", "customers", str(SAMPLE / "customers.csv")).exit_code == 0
    result = crmsync(config, "sync")
    assert result.exit_code == 0, result.output
    return config


def run(config: Path, *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(main, ["--config", str(config), *args], input=stdin)


def _db_url(config: Path) -> str:
    for line in config.read_text().splitlines():
        if line.startswith("url = "):
            return line.split('"')[1]
    raise AssertionError("no database url")


def test_export_writes_json_and_attachments(sample: Path, tmp_path: Path) -> None:
    out = tmp_path / "jana"
    result = run(sample, "person", "export", JANA.upper(), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert f"wrote {out / 'person.json'}" in result.output
    data = json.loads((out / "person.json").read_text(encoding="utf-8"))
    assert [p["display_name"] for p in data["people"]] == ["Jana Petersen"]
    assert [i["subject"] for i in data["interactions"]] == [
        "Anfrage Rahmenvertrag 2027",
        "Re: Anfrage Rahmenvertrag 2027",
    ]
    [attachment] = data["interactions"][1]["attachments"]
    assert attachment["filename"] == "Angebot-2027-Nordwind.pdf"
    copied = (out / attachment["file"]).read_bytes()
    assert len(copied) == attachment["size"] and copied.startswith(b"%PDF")
    assert f"wrote {out / attachment['file']}" in result.output


def test_erase_with_yes_removes_the_person_and_writes_the_audit_entry(sample: Path) -> None:
    assert [e["subject"] for e in timeline(sample, "--customer", TOBIAS)] == [
        "Rückruf wegen Beratungsprojekt"
    ]
    result = run(sample, "person", "erase", TOBIAS, "--yes")
    assert result.exit_code == 0, result.output
    assert "person" in result.output and "Tobias Beispiel" in result.output
    assert "Rückruf wegen Beratungsprojekt" in result.output
    assert f"{TOBIAS} erased: 1 people, 1 interactions" in result.output
    gone = crmsync(sample, "timeline", "--customer", TOBIAS)
    assert gone.exit_code == 1 and "no customer found" in gone.output
    subjects = [e["subject"] for e in timeline(sample, "--limit", "100")]
    assert "Rückruf wegen Beratungsprojekt" not in subjects
    assert "Anfrage Rahmenvertrag 2027" in subjects

    engine = make_engine(_db_url(sample))
    try:
        with make_sessionmaker(engine)() as session:
            [entry] = audit.entries(session, action="person.erase")
            assert entry.actor == f"cli:{getpass.getuser()}"
            assert entry.target == TOBIAS
            assert audit.details(entry)["interactions_deleted"] == 1
            assert "Rückruf" not in entry.details
    finally:
        engine.dispose()

    again = run(sample, "person", "erase", TOBIAS, "--yes")
    assert again.exit_code == 1 and f"nothing is stored about {TOBIAS}" in again.output


def test_erase_asks_first_and_n_keeps_everything(sample: Path) -> None:
    result = run(sample, "person", "erase", TOBIAS, stdin="n\n")
    assert result.exit_code == 1
    assert "Erase all of this? [y/N]" in result.output and "Aborted" in result.output
    assert [e["subject"] for e in timeline(sample, "--customer", TOBIAS)] == [
        "Rückruf wegen Beratungsprojekt"
    ]
    engine = make_engine(_db_url(sample))
    try:
        with make_sessionmaker(engine)() as session:
            names = session.scalars(
                select(Person.display_name).where(Person.family_name == "Beispiel")
            )
            assert list(names) == ["Tobias Beispiel"]
            assert audit.entries(session, action="person.erase") == []
    finally:
        engine.dispose()
