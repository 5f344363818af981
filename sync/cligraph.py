"""The command that signs a user in to a Microsoft Graph account: ``crmsync graph-login``."""

from __future__ import annotations

import click

from adapters.errors import SourceError
from sync.clicontext import Context, _user_errors
from sync.config import ConfigError


def register(main: click.Group) -> None:
    """Add ``graph-login`` to the ``crmsync`` group."""
    main.add_command(graph_login)


@click.command("graph-login")
@click.argument("account")
@click.pass_obj
def graph_login(obj: Context, account: str) -> None:
    """Sign in the user of ACCOUNT (kind "graph", sign_in = "user") with a device code.

    Shows Microsoft's instruction (a page to open in any browser and a code to enter)
    and waits until the user has signed in there. The sign-in is stored encrypted in
    the database; every sync renews it by itself until it expires or is revoked.
    """
    from sync.graphlogin import device_login  # msal is loaded only for this command

    with _user_errors():
        sessions = obj.sessions()
        config = obj.config
    try:
        user = device_login(config, sessions, account, lambda text: click.echo(text, err=True))
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    except SourceError as exc:
        raise click.ClickException(f"{account}: sign-in failed: {exc.message}") from None
    shown = f" as {user}" if user else ""
    click.echo(f"{account}: signed in{shown}; the next sync reads this mailbox")
