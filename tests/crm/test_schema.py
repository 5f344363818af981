"""The schema: migrations, and the quick check every command makes."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, inspect, text

from crm import schema
from crm.db import make_engine
from crm.models import Base


def test_head_constant_is_the_newest_migration() -> None:
    assert schema.head_revision() == schema.HEAD


def test_migrated_database_matches_the_models(engine: Engine) -> None:
    """What Alembic created is what the models describe (no forgotten migration)."""
    assert schema.is_current(engine)
    tables = set(inspect(engine).get_table_names()) - {"alembic_version"}
    tables = {t for t in tables if not t.startswith("interactions_fts")}  # SQLite's FTS5
    assert tables == set(Base.metadata.tables)
    for name, table in Base.metadata.tables.items():
        columns = {c["name"] for c in inspect(engine).get_columns(name)}
        columns.discard("search_vector")  # PostgreSQL's generated full-text column
        assert columns == {c.name for c in table.columns}, name


def test_empty_database_is_not_current(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    assert schema.current_revision(engine) is None
    assert not schema.is_current(engine)
    schema.upgrade(engine)
    assert schema.is_current(engine)
    schema.upgrade(engine)  # upgrading a current database changes nothing
    assert schema.is_current(engine)
    engine.dispose()


def test_postgresql_compresses_bodies_with_lz4(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        return  # SQLite stores text as it is
    with engine.connect() as connection:
        methods = dict(
            connection.execute(
                text(
                    "SELECT attname, attcompression FROM pg_attribute "
                    "WHERE attrelid = 'interactions'::regclass AND attname LIKE 'body_%'"
                )
            ).all()
        )
    assert methods == {"body_text": "l", "body_html": "l"}


def test_mail_stays_searchable_across_the_privacy_migration(tmp_path: Path) -> None:
    """0010 adds columns to interactions; on SQLite a copy of the table would drop the
    full-text triggers, and mail stored afterwards would never be found."""
    from alembic import command

    from crm.schema import _config

    engine = make_engine(f"sqlite:///{tmp_path / 'fts.db'}")
    schema.upgrade(engine, "0009")

    def store_and_find(word: str) -> list[int]:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO interactions (kind, direction, occurred_at, subject, body_text,"
                    " body_html, dedupe_key, thread_key, is_bulk, size, defects, created_at,"
                    " created_by, location, status, all_day, is_private) VALUES ('email',"
                    " 'inbound', '2026-03-02 09:30:00', :w, 'text', '', :w, :w, 0, 1, '',"
                    " '2026-03-02 09:30:00', '', '', '', 0, 0)"
                ),
                {"w": word},
            )
            return list(
                connection.scalars(
                    text("SELECT rowid FROM interactions_fts WHERE interactions_fts MATCH :w"),
                    {"w": word},
                )
            )

    assert store_and_find("Seefracht")
    schema.upgrade(engine)
    assert store_and_find("Kranbau")
    config = _config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0009")
    assert store_and_find("Zollamt")
    engine.dispose()
