"""``crmsync duplicates list | merge`` on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from crm.db import make_engine, make_sessionmaker
from crm.models import ContactPoint, CustomerMerge, Organization, Person
from sync.cli import main
from tests.sync.test_cli import crmsync, write_config


def test_list_and_merge(tmp_path: Path, db_url: str) -> None:
    config = write_config(tmp_path, db_url, "")
    assert crmsync(config, "init").exit_code == 0
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    with sessions.begin() as session:
        nordwind = Organization(name="Nordwind Logistik GmbH")
        jana = Person(display_name="Jana Petersen", organization=nordwind)
        jana.contact_points = [ContactPoint(kind="email", value="jana@nordwind.de")]
        twin = Person(display_name="Petersen, Jana", organization=nordwind)
        twin.contact_points = [ContactPoint(kind="email", value="jana@petersen-privat.de")]
        session.add_all([jana, twin])
        session.flush()
        ids = (jana.id, twin.id)
    try:
        listed = crmsync(config, "duplicates", "list", "--json")
        assert listed.exit_code == 0, listed.output
        pairs = json.loads(listed.output)
        assert [(p["kind"], p["a"]["id"], p["b"]["id"]) for p in pairs] == [("person", *ids)]
        assert pairs[0]["reasons"] == [
            "similar names in Nordwind Logistik GmbH: 'Jana Petersen' / 'Petersen, Jana'"
        ]
        text = crmsync(config, "duplicates", "list").output
        assert "person" in text and "  - similar names in Nordwind Logistik GmbH" in text

        merged = crmsync(config, "duplicates", "merge", "person", str(ids[0]), str(ids[1]))
        assert merged.exit_code == 0, merged.output
        assert "'Petersen, Jana' merged into 'Jana Petersen'" in merged.output
        with sessions() as session:
            assert session.get(Person, ids[1]) is None
            row = session.scalars(select(CustomerMerge)).one()
            assert row.merged_by.startswith("cli:")
            kept = session.get(Person, ids[0])
            assert kept is not None
            assert {p.value for p in kept.contact_points} == {
                "jana@nordwind.de",
                "jana@petersen-privat.de",
            }
        assert crmsync(config, "duplicates", "list").output.strip() == "no likely duplicates"
        again = CliRunner().invoke(
            main, ["--config", str(config), "duplicates", "merge", "person", "1", "1"]
        )
        assert again.exit_code != 0 and "cannot be merged into itself" in again.output
    finally:
        engine.dispose()
