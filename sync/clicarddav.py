"""The commands of the CardDAV export: ``user app-password`` and ``addressbook``."""

from __future__ import annotations

from datetime import UTC, datetime

import click
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from crm import apppasswords
from crm.addressbooks import ALL_ROLES, add_book, all_books, delete_book
from crm.db import will_write
from crm.models import AppPassword, User
from crm.users import ROLES, UserError
from sync import output
from sync.clicontext import Context, _user_errors, cli_actor
from sync.cliweb import user_group
from sync.config import Config


def register(main: click.Group) -> None:
    """Add these commands to the ``crmsync`` group (``app-password`` under ``user``)."""
    user_group.add_command(app_password_cmd)
    main.add_command(addressbook_group)


# -- app passwords ----------------------------------------------------------------------


@click.command("app-password")
@click.argument("name")
@click.option("--label", metavar="LABEL", help="name of the new app password (the device)")
@click.option("--list", "show_list", is_flag=True, help="list NAME's app passwords instead")
@click.option("--revoke", metavar="LABEL", help="revoke NAME's app password LABEL instead")
@click.pass_obj
def app_password_cmd(
    obj: Context, name: str, label: str | None, show_list: bool, revoke: str | None
) -> None:
    """Create an app password for user NAME (a phone's or Thunderbird's CardDAV login).

    The password alone goes to standard output, once; how to use it goes to standard
    error, so `PW=$(crmsync user app-password alice --label iPhone)` captures just it.
    """
    if sum((label is not None, show_list, revoke is not None)) > 1:
        raise click.UsageError("--label, --list and --revoke go one at a time")
    with _user_errors():
        sessions = obj.sessions()
    if show_list:
        _list_app_passwords(sessions, name)
    elif revoke is not None:
        _revoke_app_password(sessions, name, revoke)
    else:
        label, password = _create_app_password(sessions, name, label)
        click.echo(password)
        click.echo(_hint(obj.config, name, label), err=True)


def _list_app_passwords(sessions: sessionmaker[Session], name: str) -> None:
    with sessions() as session:
        rows = [_row(p) for p in apppasswords.list_for(session, _user(session, name).id)]
    output.table(rows, ["label", "created", "last_used"], f"app passwords of {name}")


def _revoke_app_password(sessions: sessionmaker[Session], name: str, label: str) -> None:
    with sessions.begin() as session:
        will_write(session)  # SQLite: take the write lock first, beside a running server
        if not apppasswords.revoke(session, _user(session, name).id, label, actor=cli_actor()):
            raise click.ClickException(f"{name} has no app password named {label!r}")
    click.echo(f"app password {label!r} of {name} revoked")


def _create_app_password(
    sessions: sessionmaker[Session], name: str, label: str | None
) -> tuple[str, str]:
    """The label used and the new password."""
    with sessions.begin() as session:
        will_write(session)
        user = _user(session, name)
        label = label if label is not None else _free_label(session, user.id)
        try:
            return label.strip(), apppasswords.create(session, user, label, actor=cli_actor())
        except UserError as exc:
            raise click.ClickException(str(exc)) from None


def _user(session: Session, name: str) -> User:
    user = session.scalars(select(User).where(User.name == name)).first()
    if user is None:
        raise click.ClickException(f"no user named {name!r}")
    return user


def _free_label(session: Session, user_id: int) -> str:
    """A label such as cli-2026-11-23, or cli-2026-11-23-2 and so on when that is taken."""
    taken = {p.name for p in apppasswords.list_for(session, user_id)}
    base = f"cli-{datetime.now(UTC):%Y-%m-%d}"
    return next(
        label
        for label in (base, *(f"{base}-{n}" for n in range(2, apppasswords.MAX_PER_USER + 2)))
        if label not in taken
    )


def _when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC" if value is not None else "never"


def _row(password: AppPassword) -> dict[str, str]:
    return {
        "label": password.name,
        "created": _when(password.created_at),
        "last_used": _when(password.last_used_at),
    }


def _hint(config: Config, name: str, label: str) -> str:
    host = config.web.host
    # listening on every address: the URL has the machine's own name
    if host in ("0.0.0.0", "::"):  # noqa: S104
        host = "THIS-MACHINE"
    shown = f"[{host}]" if ":" in host else host
    return (
        f"app password {label!r} of {name} (shown only this once). In the phone's or"
        f" Thunderbird's CardDAV account enter: server = the web view's address"
        f" (here http://{shown}:{config.web.port}/, or the HTTPS address of your proxy),"
        f" user name = {name}, password = the line above."
    )


# -- address books ----------------------------------------------------------------------


@click.group("addressbook")
def addressbook_group() -> None:
    """Address books of the CardDAV export ("All customers" is built in)."""


@addressbook_group.command("list")
@click.pass_obj
def addressbook_list(obj: Context) -> None:
    """Every address book, with what it holds and who may read it."""
    with _user_errors():
        sessions = obj.sessions()
    with sessions() as session:
        rows = [
            {"slug": b.slug, "name": b.name, "holds": b.description, "roles": ",".join(b.roles)}
            for b in all_books(session)
        ]
    output.table(rows, ["slug", "name", "holds", "roles"], "address books")


@addressbook_group.command("add")
@click.argument("slug")
@click.option("--owner", metavar="USER", help="the customers this user looks after")
@click.option("--category", metavar="NAME", help="the customers in this category")
@click.option("--name", "display_name", default="", help="what phones show (default: SLUG)")
@click.option(
    "--role",
    "roles",
    type=click.Choice(ROLES),
    multiple=True,
    help=f"a role that may read it (repeat; default: {', '.join(ALL_ROLES)})",
)
@click.pass_obj
def addressbook_add(
    obj: Context,
    slug: str,
    owner: str | None,
    category: str | None,
    display_name: str,
    roles: tuple[str, ...],
) -> None:
    """Add an address book SLUG holding the customers of one --owner or one --category."""
    if (owner is None) == (category is None):
        raise click.UsageError("give either --owner USER or --category NAME")
    kind, value = ("owner", owner) if owner is not None else ("category", category)
    with _user_errors():
        sessions = obj.sessions()
    with sessions.begin() as session:
        will_write(session)
        try:
            book = add_book(
                session,
                slug,
                display_name,
                kind,
                value or "",
                list(roles or ALL_ROLES),
                actor=cli_actor(),
            )
        except UserError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"address book {book.slug} added: {book.description}, for {', '.join(book.roles)}")


@addressbook_group.command("delete")
@click.argument("slug")
@click.pass_obj
def addressbook_delete(obj: Context, slug: str) -> None:
    """Delete the address book SLUG (the customers in it stay)."""
    with _user_errors():
        sessions = obj.sessions()
    with sessions.begin() as session:
        will_write(session)
        if not delete_book(session, slug, actor=cli_actor()):
            raise click.ClickException(f"no configured address book named {slug!r}")
    click.echo(f"address book {slug} deleted")
