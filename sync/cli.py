"""The ``crmsync`` command line."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select

from adapters.vcard import read_vcards
from crm import audit, schema
from crm.importing import guess_format, import_customers
from crm.models import Account, QuarantineItem
from crm.normalize import InvalidValueError
from crm.review import apply_to_backlog, assign_address, ignore, open_items
from crm.timeline import UnknownCustomerError, find_customer, timeline
from crm.vcardimport import import_contacts
from crm.visibility import Viewer
from sync import (
    cliapi,
    clicarddav,
    cliduplicates,
    clifollowups,
    cligraph,
    cliperson,
    cliprivacy,
    cliweb,
    cliworker,
    dryrun,
    output,
)
from sync.clicontext import Context, _user_errors, cli_actor
from sync.logfields import JsonFormatter
from sync.runner import Runner, match_policy


@click.group()
@click.option(
    "--config",
    "config_path",
    metavar="FILE",
    help="config file (else $CRMSYNC_CONFIG, else ./config.toml)",
)
@click.option("-v", "--verbose", is_flag=True, help="log what happens")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    envvar="CRMSYNC_LOG_FORMAT",
    default="text",
    show_default=True,
    help="json: one object per log line (else $CRMSYNC_LOG_FORMAT)",
)
@click.pass_context
def main(ctx: click.Context, config_path: str | None, verbose: bool, log_format: str) -> None:
    """crmsync: every customer mail on the right customer's timeline, exactly once."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if log_format == "json":
        for handler in logging.getLogger().handlers:
            handler.setFormatter(JsonFormatter())
    # APScheduler reports every poll of the database at INFO; waitress every request queue
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    ctx.obj = Context(config_path)
    ctx.call_on_close(ctx.obj.close)


@main.command()
@click.pass_obj
def init(obj: Context) -> None:
    """Create the database (or upgrade it to this version's schema) and the secret key file."""
    with _user_errors():
        obj.sessions(migrate=True)
        obj.config.archive.path.mkdir(parents=True, exist_ok=True)
        created = cliweb.ensure_key_file(obj.config)
    click.echo(f"database ready at revision {schema.HEAD}")
    if created:
        click.echo(f"created the secret key file {created} (back it up with the database)")


@main.command("check-config")
@click.pass_obj
def check_config(obj: Context) -> None:
    """Validate the config file; print every problem with its key."""
    with _user_errors():
        config = obj.config
    click.echo(f"{config.path}: OK ({len(config.accounts)} account(s))")


@main.group("import")
def import_group() -> None:
    """Import data into the CRM."""


@import_group.command("customers")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "vcard"]), help="default: from the file name"
)
@click.pass_obj
def import_customers_cmd(obj: Context, file: Path, fmt: str | None) -> None:
    """Import people and organizations from a CSV or vCard FILE (exit 1 if rows were refused)."""
    raw = file.read_bytes()
    with _user_errors():
        sessions = obj.sessions()
        region = obj.config.crm.default_region
        with sessions.begin() as session:
            if (fmt or guess_format(file, raw)) == "vcard":
                cards = read_vcards(raw, file.name)  # the one vCard parser, as for CardDAV
                report = import_contacts(
                    session, cards, default_region=region, source_name=file.name
                )
            else:
                report = import_customers(session, file, default_region=region)
            relinked = apply_to_backlog(session, match_policy(obj.config))
            audit.record(
                session,
                cli_actor(),
                "customers.import",
                file.name,
                created=report.created,
                updated=report.updated,
                refused=len(report.problems),
                merged=len(report.merged),
            )
    for problem in report.problems:
        click.echo(f"{file}:{problem.line}: {problem.message}", err=True)
    for merged in report.merged:  # a likely duplicate: the row enriched a stored customer
        click.echo(f"{file}:{merged.line}: {merged.message}")
    click.echo(
        f"created {report.created}, updated {report.updated}, unchanged {report.unchanged}, "
        f"refused {len(report.problems)}; {relinked.participants} stored mail participant(s) "
        "now linked to a customer"
    )
    if report.problems:
        sys.exit(1)


@main.command("sync")
@click.option("--account", help="only this account")
@click.option("--dry-run", is_flag=True, help="count what would be fetched; store nothing")
@click.pass_obj
def sync_cmd(obj: Context, account: str | None, dry_run: bool) -> None:
    """One pass over all enabled accounts (exit 1 if one failed)."""
    if dry_run:
        with _user_errors():
            estimates = dryrun.estimate_all(obj.config, obj.sessions(), account)
        dryrun.report(estimates)
        if any(e.error is not None for e in estimates):
            sys.exit(1)
        return
    with _user_errors():
        sessions = obj.sessions()
        with output.progress() as listener:
            results = Runner(obj.config, sessions, on_batch=listener).sync_all(account)
    output.summary(results)
    if any(not r.ok for r in results):
        sys.exit(1)


@main.command("timeline")
@click.option(
    "--customer",
    metavar="EMAIL-OR-DOMAIN",
    help="a person's address, or an organization's domain or name",
)
@click.option("--limit", default=50, show_default=True, help="how many entries")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per line")
@click.pass_obj
def timeline_cmd(obj: Context, customer: str | None, limit: int, as_json: bool) -> None:
    """The interaction history, newest first."""
    with _user_errors():
        sessions = obj.sessions()
    with sessions() as session:
        try:
            who = find_customer(session, customer) if customer else None
        except UnknownCustomerError as exc:
            raise click.ClickException(str(exc)) from None
        entries = timeline(session, who, viewer=Viewer.everyone(), limit=limit)
    if as_json:
        for entry in entries:
            click.echo(json.dumps(output.entry_json(entry), ensure_ascii=False))
    else:
        output.timeline_table(entries, who.name if who else "all customers")


@main.command("unmatched")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per line")
@click.option("--limit", default=200, show_default=True)
@click.pass_obj
def unmatched_cmd(obj: Context, as_json: bool, limit: int) -> None:
    """The review queue: external addresses no customer matched."""
    with _user_errors():
        sessions = obj.sessions()
    with sessions() as session:
        items = open_items(session, limit)
    rows = [output.review_json(i) for i in items]
    _emit(rows, as_json, ["email", "name", "count", "first_seen", "last_seen"], "review queue")


@main.command("assign")
@click.argument("address")
@click.argument("customer")
@click.pass_obj
def assign_cmd(obj: Context, address: str, customer: str) -> None:
    """Assign an unmatched ADDRESS to a CUSTOMER (a person's address, an organization's domain
    or name); mail already stored is re-linked."""
    with _user_errors():
        sessions = obj.sessions()
        policy = match_policy(obj.config)
    with sessions.begin() as session:
        try:
            who = find_customer(session, customer)
            kwargs = {"person_id": who.id} if who.kind == "person" else {"organization_id": who.id}
            done = assign_address(session, address, policy, actor=cli_actor(), **kwargs)
        except (UnknownCustomerError, InvalidValueError) as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"{address} -> {who.name}: {done.participants} stored participant(s) re-linked")


@main.command("ignore")
@click.argument("pattern")
@click.pass_obj
def ignore_cmd(obj: Context, pattern: str) -> None:
    """Never queue an address (or a whole @domain) for review again."""
    with _user_errors():
        sessions = obj.sessions()
        policy = match_policy(obj.config)
    with sessions.begin() as session:
        try:
            done = ignore(session, pattern, policy, actor=cli_actor())
        except InvalidValueError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"ignoring {pattern}: {done.review_items_closed} queue entr(y/ies) closed")


@main.command("quarantine")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per line")
@click.pass_obj
def quarantine_cmd(obj: Context, as_json: bool) -> None:
    """Items that could not be read, with the reason."""
    with _user_errors():
        sessions = obj.sessions()
    with sessions() as session:
        rows = session.execute(
            select(QuarantineItem, Account.name).join(Account).order_by(QuarantineItem.id)
        ).all()
        out = [output.quarantine_json(item, name) for item, name in rows]
    _emit(out, as_json, ["account", "collection", "remote_id", "reason", "size"], "quarantine")


def _emit(rows: list[dict[str, Any]], as_json: bool, columns: list[str], title: str) -> None:
    if as_json:
        for row in rows:
            click.echo(json.dumps(row, ensure_ascii=False))
    else:
        output.table(rows, columns, title)


cliweb.register(main)
clicarddav.register(main)
cligraph.register(main)
cliworker.register(main)
cliperson.register(main)
cliprivacy.register(main)
cliapi.register(main)
clifollowups.register(main)
cliduplicates.register(main)

if __name__ == "__main__":  # python -m sync.cli
    main()
