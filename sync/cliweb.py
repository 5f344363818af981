"""The commands of the web view: ``user``, ``serve`` and ``run``."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from crm.db import will_write
from crm.models import User
from crm.secrets import generate_key
from crm.users import ROLES, UserError, add_user, list_users, set_email, set_password
from sync import cliworker, output
from sync.clicontext import Context, _user_errors, cli_actor
from sync.config import Config
from sync.configschema import Invalid, split_listen


def register(main: click.Group) -> None:
    """Add these commands to the ``crmsync`` group."""
    main.add_command(user_group)
    main.add_command(serve_cmd)
    main.add_command(run_cmd)


def ensure_key_file(config: Config) -> Path | None:
    """Create the secret key file (mode 0600) unless it exists or the key comes from the
    environment; returns the path when it created one."""
    path = config.secrets.key_file
    if os.environ.get(config.secrets.key_env, "").strip() or path.exists():
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(generate_key() + "\n")
    return path


# -- users ------------------------------------------------------------------------------


@click.group("user")
def user_group() -> None:
    """Users of the web view."""


def _read_password(from_stdin: bool) -> str:
    if from_stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    value: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


@user_group.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), default="staff", show_default=True)
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
@click.option("--email", default="", help="the user's own mail address (mail they log)")
@click.pass_obj
def user_add(obj: Context, name: str, role: str, password_stdin: bool, email: str) -> None:
    """Add a user NAME; the password is asked for (or read from stdin), never an argument."""
    with _user_errors():
        sessions = obj.sessions()
    password = _read_password(password_stdin)
    with sessions.begin() as session:
        will_write(session)
        try:
            user = add_user(session, name, password, role, actor=cli_actor())
            set_email(session, user, email, actor=cli_actor())
        except UserError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"user {name} added with role {role}")


@user_group.command("password")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
@click.pass_obj
def user_password(obj: Context, name: str, password_stdin: bool) -> None:
    """Set a new password for NAME (ends that user's sessions)."""
    with _user_errors():
        sessions = obj.sessions()
    password = _read_password(password_stdin)
    _change_user(
        sessions,
        name,
        lambda session, user: set_password(session, user, password, actor=cli_actor()),
    )
    click.echo(f"password of {name} changed")


@user_group.command("email")
@click.argument("name")
@click.argument("address")
@click.pass_obj
def user_email(obj: Context, name: str, address: str) -> None:
    """Set the mail address of NAME ("" clears it): what they send to the logging mailbox
    is logged as theirs, and their privacy rules apply to it."""
    with _user_errors():
        sessions = obj.sessions()
    _change_user(
        sessions, name, lambda session, user: set_email(session, user, address, actor=cli_actor())
    )
    click.echo(f"mail address of {name}: {address or '(none)'}")


def _change_user(
    sessions: sessionmaker[Session], name: str, change: Callable[[Session, User], None]
) -> None:
    """``change`` the user called ``name`` in one transaction; its refusal as the error."""
    with sessions.begin() as session:
        will_write(session)
        user = session.scalars(select(User).where(User.name == name)).first()
        if user is None:
            raise click.ClickException(f"no user named {name!r}")
        try:
            change(session, user)
        except UserError as exc:
            raise click.ClickException(str(exc)) from None


@user_group.command("list")
@click.pass_obj
def user_list(obj: Context) -> None:
    """The users, their roles and last logins."""
    with _user_errors():
        sessions = obj.sessions()
    with sessions() as session:
        rows = [
            {
                "name": u.name,
                "role": u.role,
                "email": u.email,
                "active": "yes" if u.active else "no",
                "last_login": f"{u.last_login_at:%Y-%m-%d %H:%M}" if u.last_login_at else "never",
            }
            for u in list_users(session)
        ]
    output.table(rows, ["name", "role", "email", "active", "last_login"], "users")


# -- serving ----------------------------------------------------------------------------


def _listen(config: Config, override: str | None) -> tuple[str, int]:
    if override is None:
        return config.web.host, config.web.port
    try:
        return split_listen(override, allow_zero=True)
    except Invalid as exc:
        raise click.BadParameter(str(exc), param_hint="--listen") from None


LISTEN_HELP = "host:port to listen on (default: [web] listen; port 0 picks a free one)"


@click.command("serve")
@click.option("--listen", metavar="HOST:PORT", help=LISTEN_HELP)
@click.pass_obj
def serve_cmd(obj: Context, listen: str | None) -> None:
    """Serve the web view (no scheduled sync: see `crmsync run`)."""
    from sync.webapp import build_app

    with _user_errors():
        sessions = obj.sessions()
        host, port = _listen(obj.config, listen)
        app = build_app(obj.config, sessions)
    _serve(app, host, port)


@click.command("run")
@click.option("--listen", metavar="HOST:PORT", help=LISTEN_HELP)
@click.pass_obj
def run_cmd(obj: Context, listen: str | None) -> None:
    """Serve the web view and run the scheduled sync of every enabled account."""
    from sync.scheduler import Worker
    from sync.webapp import build_app

    with _user_errors():
        sessions = obj.sessions()
        host, port = _listen(obj.config, listen)
        app = build_app(obj.config, sessions)
        worker = Worker(obj.config, sessions)
    cliworker.start(worker)
    try:
        _serve(app, host, port)
    finally:
        click.echo("stopping the scheduler (a running sync finishes its batch) ...", err=True)
        cliworker.finish(worker, obj.config.sync.stop_timeout_seconds)


def _serve(app: Any, host: str, port: int) -> None:
    from sync.webapp import serve

    try:
        serve(app, host, port, _announce)
    except OSError as exc:  # the port is taken, or the address is not this machine's
        raise click.ClickException(
            f"cannot listen on {host}:{port}: {exc.strerror or exc};"
            " choose another with --listen or [web] listen"
        ) from None


def _announce(url: str) -> None:
    click.echo(f"crmsync is serving the web view at {url}  (Ctrl-C stops)", err=False)
    sys.stdout.flush()
