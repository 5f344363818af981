"""Every change path writes an audit entry naming who did it: the web view (the logged-in
user) and the command line (``cli:<login>``). SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from crm.db import make_engine, make_sessionmaker
from crm.models import AuditEntry, ReviewItem
from sync.cli import main
from tests.sync.test_cli import write_config
from tests.web.conftest import Browser
from tests.web.data import populate


def entries(sessions: sessionmaker[Session]) -> list[tuple[str, str, str]]:
    with sessions() as session:
        rows = session.execute(
            select(AuditEntry.actor, AuditEntry.action, AuditEntry.target).order_by(AuditEntry.id)
        )
        return [tuple(row) for row in rows]


def test_web_changes_are_audited_with_the_user(
    admin: Browser, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    ids = populate(sessions, tmp_path / "archive")
    with sessions() as session:
        item = session.scalars(select(ReviewItem)).first()
        assert item is not None
    before = len(entries(sessions))
    admin.get("/customers")
    steps = [
        (f"/people/{ids['greta']}/notes", {"text": "Rückruf wegen Preisliste"}),
        (f"/review/{item.id}/ignore", {"scope": "address"}),
        ("/admin/address-books", {"slug": "vip", "kind": "category", "value": "VIP",
                                  "roles": "staff"}),
        ("/admin/address-books/vip/delete", {}),
        ("/profile/app-passwords", {"name": "iPhone"}),
        ("/profile/app-passwords/revoke", {"name": "iPhone"}),
    ]  # fmt: skip
    for url, form in steps:
        answer = admin.post(url, form)
        assert answer.status_code in (200, 302), (url, answer.status_code)
    made = entries(sessions)[before:]
    assert [(actor, action) for actor, action, _ in made] == [
        ("admin", "note.create"),
        ("admin", "review.ignore"),
        ("admin", "addressbook.create"),
        ("admin", "addressbook.delete"),
        ("admin", "app_password.create"),
        ("admin", "app_password.revoke"),
    ]
    assert made[0][2] == f"person {ids['greta']}" and made[1][2] == item.email
    admin.get("/admin/audit")
    page = admin.get("/admin/audit?action=addressbook").get_data(as_text=True)
    assert "addressbook.create" in page and "note.create" not in page


def test_command_line_changes_are_audited_as_cli(tmp_path: Path, db_url: str) -> None:
    config = write_config(tmp_path, db_url, "")

    def crmsync(*args: str, stdin: str | None = None) -> None:
        result = CliRunner().invoke(main, ["--config", str(config), *args], input=stdin)
        assert result.exit_code == 0, result.output

    crmsync("init")
    crmsync("user", "add", "ann", "--password-stdin", "--email", "ann@example.com",
            stdin="a-long-password\n")  # fmt: skip
    crmsync("user", "password", "ann", "--password-stdin", stdin="another-password\n")
    crmsync("addressbook", "add", "vip", "--category", "VIP")
    crmsync("ignore", "@spam.example")
    customers = tmp_path / "customers.csv"
    customers.write_text("type,name,vat_id\norganization,Nordwind Logistik GmbH,DE136695976\n")
    crmsync("import", "customers", str(customers))
    engine = make_engine(db_url)
    found = entries(make_sessionmaker(engine))
    engine.dispose()
    assert [action for _, action, _ in found] == [
        "user.create",
        "user.email",
        "user.password",
        "addressbook.create",
        "review.ignore",
        "customers.import",
    ]
    assert all(actor.startswith("cli") for actor, _, _ in found)
