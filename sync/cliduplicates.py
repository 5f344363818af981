"""Duplicate customers from the command line: ``crmsync duplicates list | merge``."""

from __future__ import annotations

import json

import click

from crm.db import will_write
from crm.duplicates import KINDS, MergeError, find_duplicates, merge
from sync.clicontext import Context, _user_errors, cli_actor
from sync.runner import match_policy


def register(main: click.Group) -> None:
    """Add the ``duplicates`` group to ``crmsync``."""
    main.add_command(duplicates)


@click.group()
def duplicates() -> None:
    """Likely duplicate customers: list them, merge a pair."""


@duplicates.command("list")
@click.option("--kind", type=click.Choice(KINDS), help="people or organizations only")
@click.option("--limit", type=click.IntRange(min=1), default=200, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="one JSON array of pairs")
@click.pass_obj
def list_cmd(obj: Context, kind: str | None, limit: int, as_json: bool) -> None:
    """The likely duplicate pairs, the most likely first, with their evidence."""
    with _user_errors():
        sessions = obj.sessions()
        policy = match_policy(obj.config)
    with sessions() as session:
        found = find_duplicates(
            session,
            kind="person" if kind == "person" else "organization" if kind else None,
            limit=limit,
            policy=policy,
        )
    if as_json:
        click.echo(json.dumps([c.as_dict() for c in found], ensure_ascii=False, indent=2))
        return
    if not found:
        click.echo("no likely duplicates")
    for c in found:
        click.echo(f"{c.kind} {c.a.id} {c.a.name!r} / {c.b.id} {c.b.name!r} (score {c.score:.2f})")
        for reason in c.reasons:
            click.echo(f"  - {reason}")


@duplicates.command("merge")
@click.argument("kind", type=click.Choice(KINDS))
@click.argument("keep_id", type=int)
@click.argument("merge_id", type=int)
@click.pass_obj
def merge_cmd(obj: Context, kind: str, keep_id: int, merge_id: int) -> None:
    """Merge record MERGE_ID into KEEP_ID (KIND: person or organization)."""
    with _user_errors():
        sessions = obj.sessions()
    with sessions() as session:
        will_write(session)
        try:
            done = merge(session, kind, keep_id, merge_id, cli_actor())
        except MergeError as exc:
            raise click.ClickException(str(exc)) from None
        session.commit()
    click.echo(done.summary())
