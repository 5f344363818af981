"""Data-subject requests from the command line: ``crmsync person export | erase``."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click

from crm.archive import Archive
from crm.db import will_write
from crm.normalize import email_key
from crm.subjects import PlanChangedError, erase_plan, erase_subject, export_subject
from sync.clicontext import Context, _user_errors, cli_actor


def register(main: click.Group) -> None:
    """Add the ``person`` group to ``crmsync``."""
    main.add_command(person)


@click.group()
def person() -> None:
    """Requests of a data subject: export (access) and erasure of one e-mail address."""


@person.command("export")
@click.argument("email")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="directory to write (default ./export-EMAIL-DATE/)",
)
@click.pass_obj
def export(obj: Context, email: str, out_dir: Path | None) -> None:
    """Write everything stored about EMAIL: person.json and the attached files."""
    with _user_errors():
        sessions = obj.sessions()
        archive = Archive(obj.config.archive.path)
    key = email_key(email)
    target = out_dir or Path(f"export-{key}-{date.today().isoformat()}")
    with sessions.begin() as session:
        summary = export_subject(session, archive, key, target, actor=cli_actor())
    click.echo(f"wrote {summary.json_path}")
    for relative in summary.files:
        click.echo(f"wrote {target / relative}")
    for relative in summary.missing:
        click.echo(f"missing from the archive, not copied: {relative}", err=True)
    counts = summary.counts
    click.echo(
        f"{counts['people']} people, {counts['interactions']} interactions, "
        f"{counts['attachments']} attachments, {counts['review_items']} review items, "
        f"{counts['quarantine_items']} quarantined items"
    )


@person.command("erase")
@click.argument("email")
@click.option("--yes", is_flag=True, help="do not ask for confirmation")
@click.pass_obj
def erase(obj: Context, email: str, yes: bool) -> None:
    """Delete everything stored about EMAIL (the plan is shown and confirmed first)."""
    with _user_errors():
        sessions = obj.sessions()
        archive = Archive(obj.config.archive.path)
    key = email_key(email)
    with sessions() as session:
        plan = erase_plan(session, key)
    if plan.is_empty:
        raise click.ClickException(f"nothing is stored about {key}")
    counts = plan.counts
    click.echo(f"Erasing {key} deletes:")
    for person_id, name in plan.people:
        click.echo(f"  person {person_id}: {name}")
    click.echo(f"  {counts['interactions_deleted']} interactions:")
    for item in plan.deleted:
        click.echo(f"    {item.occurred_at:%Y-%m-%d %H:%M} {item.subject or '(no subject)'}")
    click.echo(
        f"  the address from {counts['interactions_changed']} interactions with other "
        "customers (kept):"
    )
    for item in plan.kept:
        click.echo(f"    {item.occurred_at:%Y-%m-%d %H:%M} {item.subject or '(no subject)'}")
    click.echo(
        f"  {counts['attachments_deleted']} attachments "
        f"({counts['documents_deleted']} archived files), "
        f"{counts['review_items']} review items, "
        f"{counts['quarantine_items']} quarantined items"
    )
    if not yes:
        click.confirm("Erase all of this?", abort=True)
    with sessions() as session:
        will_write(session)
        try:
            summary = erase_subject(session, archive, plan, cli_actor())
        except PlanChangedError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(
        f"{key} erased: {summary.counts['people']} people, "
        f"{summary.counts['interactions_deleted']} interactions, "
        f"{len(summary.files_removed)} archived files"
    )
