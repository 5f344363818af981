"""What the CLI prints: rich tables and progress on a terminal, JSON lines for scripts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from crm.models import QuarantineItem, ReviewItem
from crm.timeline import TimelineEntry

if TYPE_CHECKING:
    from sync.runner import AccountResult, BatchListener

console = Console()
errors = Console(stderr=True)


@contextmanager
def progress() -> Iterator[BatchListener | None]:
    """A live count per account and folder on a terminal; nothing when piped."""
    if not errors.is_terminal:
        yield None
        return
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=errors, transient=True) as bar:
        tasks: dict[tuple[str, str], Any] = {}
        totals: dict[tuple[str, str], int] = {}

        def on_batch(account: str, collection: str, step: AccountResult) -> None:
            key = (account, collection)
            if key not in tasks:
                tasks[key] = bar.add_task("")
                totals[key] = 0
            totals[key] += step.ingest.new + step.ingest.known + step.quarantined
            bar.update(tasks[key], description=f"{account} {collection}: {totals[key]} messages")

        yield on_batch


def summary(results: list[AccountResult]) -> None:
    """One line per account: new, already known, quarantined, unmatched, or its error."""
    table = Table(title="sync", title_justify="left")
    for column in ("account", "new", "known", "skipped", "quarantined", "unmatched", "status"):
        table.add_column(column, justify="right" if column not in ("account", "status") else "left")
    for r in results:
        status = "[green]ok[/]" if r.ok else f"[red]{r.error}[/]"
        table.add_row(
            r.account,
            str(r.ingest.new),
            str(r.ingest.known),
            str(r.ingest.skipped),
            str(r.quarantined),
            str(r.ingest.unmatched),
            status,
        )
    console.print(table)


def entry_json(entry: TimelineEntry) -> dict[str, Any]:
    """A timeline entry as one JSON object."""
    return {
        "id": entry.id,
        "kind": entry.kind,
        "direction": entry.direction,
        "occurred_at": entry.occurred_at.isoformat(),
        "subject": entry.subject,
        "participants": entry.participants,
        "customers": [{"kind": c.kind, "id": c.id, "name": c.name} for c in entry.customers],
        "attachments": entry.attachments,
        "sources": entry.sources,
        "thread": entry.thread_key,
        "bulk": entry.is_bulk,
    }


def timeline_table(entries: list[TimelineEntry], title: str) -> None:
    """The timeline as a table: when, direction, subject, who, which customers."""
    table = Table(title=f"timeline: {title}", title_justify="left")
    for column in ("when (UTC)", "dir", "subject", "from", "customers"):
        table.add_column(column, overflow="fold")
    arrows = {"inbound": "←", "outbound": "→", "internal": "·"}
    for e in entries:
        sender = next((p["email"] for p in e.participants if p["role"] == "from"), "")
        table.add_row(
            e.occurred_at.strftime("%Y-%m-%d %H:%M"),
            arrows.get(e.direction, e.direction),
            e.subject + (f"  📎{len(e.attachments)}" if e.attachments else ""),
            sender,
            ", ".join(c.name for c in e.customers) or "[yellow]unmatched[/]",
        )
    console.print(table)
    if not entries:
        console.print("no interactions yet")


def review_json(item: ReviewItem) -> dict[str, Any]:
    return {
        "email": item.email,
        "name": item.name,
        "count": item.interaction_count,
        "first_seen": item.first_seen_at.isoformat(),
        "last_seen": item.last_seen_at.isoformat(),
    }


def quarantine_json(item: QuarantineItem, account: str) -> dict[str, Any]:
    return {
        "id": item.id,
        "account": account,
        "collection": item.collection,
        "remote_id": item.remote_id,
        "reason": item.reason,
        "size": len(item.raw),
        "created_at": item.created_at.isoformat(),
    }


def table(rows: list[dict[str, Any]], columns: list[str], title: str) -> None:
    """Rows as a table with the given columns."""
    out = Table(title=title, title_justify="left")
    for column in columns:
        out.add_column(column, overflow="fold")
    for row in rows:
        out.add_row(*(str(row.get(c, "")) for c in columns))
    console.print(out)
    if not rows:
        console.print(f"{title}: empty")
