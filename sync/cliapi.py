"""Tokens of the JSON API: ``crmsync api-token add | list | revoke``."""

from __future__ import annotations

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm import apitokens
from crm.db import will_write
from crm.models import User
from crm.users import UserError
from sync import output
from sync.clicontext import Context, _user_errors, cli_actor


def register(main: click.Group) -> None:
    """Add the ``api-token`` group to ``crmsync``."""
    main.add_command(api_token)


@click.group("api-token")
def api_token() -> None:
    """Tokens for the JSON API (/api/v1, Authorization: Bearer TOKEN)."""


@api_token.command("add")
@click.argument("user")
@click.argument("name")
@click.pass_obj
def add(obj: Context, user: str, name: str) -> None:
    """Create token NAME for USER; the token alone goes to standard output, once.

    It acts with USER's role: a viewer's token reads only."""
    with _user_errors():
        sessions = obj.sessions()
    with sessions.begin() as session:
        will_write(session)
        try:
            token = apitokens.create(session, _user(session, user), name, actor=cli_actor())
        except UserError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(token)
    click.echo(
        f"API token {name!r} of {user}: send it as 'Authorization: Bearer <token>'; "
        "it is not shown again",
        err=True,
    )


@api_token.command("list")
@click.argument("user", required=False)
@click.pass_obj
def list_tokens(obj: Context, user: str | None) -> None:
    """The API tokens of USER (default: everyone's): names and dates, never the tokens."""
    with _user_errors():
        sessions = obj.sessions()
    with sessions() as session:
        user_id = _user(session, user).id if user else None
        rows = [
            {
                "user": owner,
                "name": token.name,
                "created": f"{token.created_at:%Y-%m-%d %H:%M}",
                "last_used": f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "",
            }
            for token, owner in apitokens.list_for(session, user_id)
        ]
    output.table(rows, ["user", "name", "created", "last_used"], "API tokens")


@api_token.command("revoke")
@click.argument("user")
@click.argument("name")
@click.pass_obj
def revoke(obj: Context, user: str, name: str) -> None:
    """Revoke USER's API token NAME: it stops working at once."""
    with _user_errors():
        sessions = obj.sessions()
    with sessions.begin() as session:
        will_write(session)
        if not apitokens.revoke(session, _user(session, user).id, name, actor=cli_actor()):
            raise click.ClickException(f"{user} has no API token named {name!r}")
    click.echo(f"API token {name!r} of {user} revoked")


def _user(session: Session, name: str) -> User:
    found = session.scalars(select(User).where(User.name == name)).first()
    if found is None:
        raise click.ClickException(f"no user named {name!r}")
    return found
