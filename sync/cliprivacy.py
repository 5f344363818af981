"""Privacy rules from the command line: ``crmsync privacy list | add | remove``."""

from __future__ import annotations

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.archive import Archive
from crm.models import PrivacyRule, User
from crm.normalize import InvalidValueError
from crm.privacy import KINDS, add_rule, impact, remove_rule, rules_of
from sync.clicontext import Context, _user_errors, cli_actor


def register(main: click.Group) -> None:
    """Add the ``privacy`` group to ``crmsync``."""
    main.add_command(privacy)


@click.group()
def privacy() -> None:
    """Mail that is never logged: folders, labels, addresses and domains."""


@privacy.command("list")
@click.option("--user", "user_name", help="that user's rules (default: the admin-wide ones)")
@click.pass_obj
def list_rules(obj: Context, user_name: str | None) -> None:
    """The rules, one a line: id, kind, value, who added it."""
    with _user_errors():
        sessions = obj.sessions()
    with sessions() as session:
        user_id = _user_id(session, user_name)
        for rule in rules_of(session, user_id):
            click.echo(f"{rule.id}\t{rule.kind}\t{rule.value}\t{rule.created_by}")


@privacy.command("add")
@click.argument("kind", type=click.Choice(KINDS))
@click.argument("value")
@click.option("--user", "user_name", help="a user's rule (folders and labels need one)")
@click.option("--yes", is_flag=True, help="do not ask before removing stored mail")
@click.pass_obj
def add(obj: Context, kind: str, value: str, user_name: str | None, yes: bool) -> None:
    """Never log mail by KIND VALUE; what was logged before is removed (asked first)."""
    with _user_errors():
        sessions = obj.sessions()
        archive = Archive(obj.config.archive.path)
    actor = cli_actor()
    with sessions() as session:
        user_id = _user_id(session, user_name)
        try:
            counted = impact(session, kind, value, user_id)
        except InvalidValueError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(
        f"{counted.interactions} stored entries would be removed"
        + (f", {counted.sources} mailbox copies forgotten" if counted.sources else "")
    )
    if counted.interactions and not yes:
        click.confirm("Remove them and add the rule?", abort=True)
    with sessions.begin() as session:
        try:
            rule, done = add_rule(session, kind=kind, value=value, user_id=user_id, actor=actor)
        except InvalidValueError as exc:
            raise click.ClickException(str(exc)) from None
    for digest in done.files:  # after the commit: a rollback never loses a file
        archive.remove(digest)
    click.echo(
        f"rule {rule.id} added: {done.interactions} entries and {len(done.files)} "
        "archived files removed"
    )


@privacy.command("remove")
@click.argument("rule_id", type=int)
@click.pass_obj
def remove(obj: Context, rule_id: int) -> None:
    """Drop rule RULE_ID: new mail it names is logged again."""
    with _user_errors():
        sessions = obj.sessions()
    with sessions.begin() as session:
        rule = session.get(PrivacyRule, rule_id)
        if rule is None:
            raise click.ClickException(f"there is no rule {rule_id}")
        remove_rule(session, rule, cli_actor())
    click.echo(f"rule {rule_id} removed")


def _user_id(session: Session, name: str | None) -> int | None:
    if not name:
        return None
    found = session.scalar(select(User.id).where(User.name == name))
    if found is None:
        raise click.ClickException(f"there is no user {name!r}")
    return found
