"""Follow-ups from the command line: ``crmsync followups list | digest``."""

from __future__ import annotations

from datetime import date

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.followups import follow_ups_for
from crm.models import FollowUp, User
from sync.clicontext import Context, _user_errors
from sync.digest import send_digests


def register(main: click.Group) -> None:
    """Add the ``followups`` group to ``crmsync``."""
    main.add_command(followups)


@click.group()
def followups() -> None:
    """Follow-ups (Wiedervorlage): the open ones, and the daily digest mail."""


@followups.command("list")
@click.option("--user", "user_name", help="only this user's (default: everyone's)")
@click.pass_obj
def list_follow_ups(obj: Context, user_name: str | None) -> None:
    """The open follow-ups, one a line: due day, state, assignee, customer, note."""
    with _user_errors():
        sessions = obj.sessions()
    today = date.today()
    with sessions() as session:
        if user_name:
            user_ids = [_user_id(session, user_name)]
        else:
            user_ids = list(
                session.scalars(
                    select(FollowUp.assignee_id).where(FollowUp.status == "open").distinct()
                )
            )
        for user_id in sorted(user_ids):
            agenda = follow_ups_for(session, user_id, today=today)
            for state, items in (
                ("overdue", agenda.overdue), ("today", agenda.today), ("upcoming", agenda.upcoming),
            ):  # fmt: skip
                for item in items:
                    waiting = "waiting" if item.waiting_for_reply else ""
                    note = " ".join(item.note.split())[:60]
                    click.echo(
                        f"{item.id}\t{item.due_on.isoformat()}\t{state}\t{item.assignee}\t"
                        f"{item.customer_name}\t{waiting}\t{note}"
                    )


@followups.command("digest")
@click.option("--user", "user_name", help="only this user's digest")
@click.option("--again", is_flag=True, help="send even to users mailed today already")
@click.pass_obj
def digest(obj: Context, user_name: str | None, again: bool) -> None:
    """Mail the follow-up digests now (each user's once a day unless --again)."""
    with _user_errors():
        sessions = obj.sessions()
        config = obj.config
        if not config.smtp.from_address:
            raise click.ClickException("set [smtp] from_address (and host) in the config first")
    user_id = None
    if user_name:
        with sessions() as session:
            user_id = _user_id(session, user_name)
    report = send_digests(config, sessions, user_id=user_id, again=again)
    for label, names in (
        ("sent to", report.sent), ("already sent today to", report.already),
        ("no e-mail address for", report.no_address), ("could not send to", report.failed),
    ):  # fmt: skip
        if names:
            click.echo(f"{label}: {', '.join(names)}")
    if not (report.sent or report.already or report.no_address or report.failed):
        click.echo("nothing overdue or due today")
    if report.failed:
        raise SystemExit(1)


def _user_id(session: Session, name: str) -> int:
    found = session.scalar(select(User.id).where(User.name == name))
    if found is None:
        raise click.ClickException(f"there is no user {name!r}")
    return found
