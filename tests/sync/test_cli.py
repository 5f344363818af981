"""The crmsync command line end to end: sample data, files adapter, review decisions."""

from __future__ import annotations

import json
import shutil
from email.message import EmailMessage
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from sync.cli import main

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sync" / "sample"


def write_config(tmp_path: Path, db_url: str, accounts: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[database]
url = "{db_url}"
[crm]
internal_domains = ["example.com"]
staff_addresses = ["alice@example.com"]
[archive]
path = "archive"
{accounts}
"""
    )
    return path


def crmsync(config: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--config", str(config), *args], catch_exceptions=False)


@pytest.fixture
def sample(tmp_path: Path, db_url: str) -> Path:
    """The README's demo data in a fresh database, synced once."""
    shutil.copytree(SAMPLE / "mail", tmp_path / "mail")
    config = write_config(
        tmp_path, db_url, '[[accounts]]\nname = "sample"\nkind = "files"\npath = "mail"\n'
    )
    assert crmsync(config, "init").exit_code == 0
    assert crmsync(config, "import", "customers", str(SAMPLE / "customers.csv")).exit_code == 0
    result = crmsync(config, "sync")
    assert result.exit_code == 0, result.output
    return config


def timeline(config: Path, *args: str) -> list[dict]:
    result = crmsync(config, "timeline", "--json", *args)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines()]


def test_sample_mailbox_lands_on_the_right_timelines(sample: Path) -> None:
    entries = timeline(sample, "--customer", "nordwind-logistik.example")
    assert [e["subject"] for e in entries] == [
        "Lieferavis KW 48",
        "Re: Anfrage Rahmenvertrag 2027",
        "Anfrage Rahmenvertrag 2027",
    ]
    reply = entries[1]
    assert reply["direction"] == "outbound"
    assert reply["attachments"] == ["Angebot-2027-Nordwind.pdf"]
    assert {c["name"] for c in reply["customers"]} >= {"Jana Petersen", "Nordwind Logistik GmbH"}
    assert entries[2]["sources"] == 2  # filed in INBOX and in Kunden/Nordwind: one entry
    assert entries[0]["thread"] != entries[1]["thread"] == entries[2]["thread"]
    person = timeline(sample, "--customer", "jana.petersen@nordwind-logistik.example")
    assert len(person) == 2
    assert {p["role"] for p in person[0]["participants"]} == {"from", "to", "cc"}


def test_no_message_id_and_encoded_subject(sample: Path) -> None:
    [entry] = timeline(sample, "--customer", "fjordlys.example")
    assert entry["subject"] == "Innkjøp av reservedeler – tilbud?"
    assert entry["occurred_at"].endswith("+00:00")


def test_second_sync_changes_nothing_and_a_new_mail_is_picked_up(
    sample: Path, tmp_path: Path
) -> None:
    before = timeline(sample, "--limit", "100")
    again = crmsync(sample, "sync")
    assert again.exit_code == 0
    assert timeline(sample, "--limit", "100") == before
    mail = EmailMessage()
    mail["From"] = "Dana Whitfield <dana.whitfield@acme.example>"
    mail["To"] = "alice@example.com"
    mail["Subject"] = "PO 2027-001 confirmed"
    mail["Message-ID"] = "<po-2027-001@acme.example>"
    mail["Date"] = "Tue, 10 Nov 2026 09:00:00 -0500"
    mail.set_content("Confirmed.")
    (tmp_path / "mail" / "new" / "1799999999.M1P1.host").write_bytes(bytes(mail))
    assert crmsync(sample, "sync").exit_code == 0
    acme = timeline(sample, "--customer", "acme.example")
    assert acme[0]["subject"] == "PO 2027-001 confirmed"
    assert acme[0]["occurred_at"] == "2026-11-10T14:00:00+00:00"
    assert len(timeline(sample, "--limit", "100")) == len(before) + 1


def test_review_queue_and_assignment_relinks_history(sample: Path) -> None:
    queue = [json.loads(x) for x in crmsync(sample, "unmatched", "--json").output.splitlines()]
    assert {q["email"] for q in queue} == {"einkauf@kranich-bau.example", "max.muster@gmail.com"}
    # the newsletter is bulk: unmatched, stored, but never queued
    assert "news@shipping-weekly.example" not in {q["email"] for q in queue}
    result = crmsync(sample, "assign", "einkauf@kranich-bau.example", "Acme Corp")
    assert result.exit_code == 0, result.output
    assert "1 stored participant(s) re-linked" in result.output
    subjects = [e["subject"] for e in timeline(sample, "--customer", "acme.example")]
    assert "Anfrage Kranmiete Dezember" in subjects
    ignored = crmsync(sample, "ignore", "@gmail.com")
    assert ignored.exit_code == 0
    assert crmsync(sample, "unmatched", "--json").output == ""


def test_unreadable_mail_is_quarantined_not_lost(sample: Path) -> None:
    rows = [json.loads(x) for x in crmsync(sample, "quarantine", "--json").output.splitlines()]
    assert len(rows) == 1
    assert rows[0]["account"] == "sample" and rows[0]["size"] == 0
    assert rows[0]["reason"]


def test_unknown_customer_and_uninitialised_database(sample: Path, tmp_path: Path) -> None:
    result = crmsync(sample, "timeline", "--customer", "nobody@nowhere.example")
    assert result.exit_code == 1 and "no customer found" in result.output
    other = write_config(
        tmp_path / "x" if (tmp_path / "x").mkdir() is None else tmp_path,
        f"sqlite:///{tmp_path}/x/empty.db",
        "",
    )
    result = crmsync(other, "timeline")
    assert result.exit_code == 1 and "crmsync init" in result.output


def test_check_config_reports_problems_with_keys(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[database]\nuri = "x"\n[[accounts]]\nname = "a"\nkind = "imap"\nport = "x"\n')
    result = crmsync(bad, "check-config")
    assert result.exit_code == 2
    assert "database.uri" in result.output and "accounts[0].port" in result.output


def test_mbox_append_and_rewrite(tmp_path: Path, db_url: str) -> None:
    def message(i: int) -> str:
        return (
            f"From sender@acme.example Mon Nov  2 10:0{i}:00 2026\n"
            f"From: dana.whitfield@acme.example\nTo: alice@example.com\n"
            f"Subject: Mail {i}\nMessage-ID: <mbox{i}@acme.example>\n"
            f"Date: Mon, 2 Nov 2026 10:0{i}:00 +0000\n\nFrom the body of {i}\n>From quoted\n\n"
        )

    mbox = tmp_path / "Inbox.mbox"
    mbox.write_text(message(1) + message(2))
    config = write_config(
        tmp_path, db_url, '[[accounts]]\nname = "tb"\nkind = "files"\npath = "Inbox.mbox"\n'
    )
    crmsync(config, "init")
    crmsync(config, "import", "customers", str(SAMPLE / "customers.csv"))
    assert "│ tb      │   2 │" in crmsync(config, "sync").output
    with mbox.open("a") as handle:
        handle.write(message(3))
    assert "│ tb      │   1 │     0 │" in crmsync(config, "sync").output
    mbox.write_text(message(1) + message(3))  # compacted: a rewritten file is read again
    assert "│ tb      │   0 │     2 │" in crmsync(config, "sync").output
    entries = timeline(config, "--customer", "acme.example")
    assert [e["subject"] for e in entries] == ["Mail 3", "Mail 2", "Mail 1"]


def test_import_customers_from_a_vcard_file(tmp_path: Path, db_url: str) -> None:
    config = write_config(tmp_path, db_url, "")
    assert crmsync(config, "init").exit_code == 0
    cards = tmp_path / "contacts.vcf"
    cards.write_bytes(
        (SAMPLE / "customers.vcf").read_bytes()
        + b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Bob Broken\r\nEMAIL;TYPE=work\r\nEND:VCARD\r\n"
    )

    result = crmsync(config, "import", "customers", str(cards))

    assert result.exit_code == 1
    assert result.stderr == (
        f"{cards}:49: unreadable vCard: not a content line: 'EMAIL;TYPE=work'\n"
    )
    assert result.stdout.startswith("created 4, updated 0, unchanged 0, refused 1;")
