"""``crmsync sync --dry-run``: how much a sync would fetch, counted without fetching it.

Each enabled account's source is opened and its collections listed; for each, the
source's :meth:`adapters.base.Source.estimate` counts what a pull from the stored
cursor would fetch (None: the server cannot say cheaply). The database is only read:
no account row, cursor, run or interaction is written, and the remote stores are
not changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from adapters.errors import SourceError, describe
from crm.models import Account
from crm.syncstate import load_cursor
from sync import output
from sync.config import AccountConfig, Config, ConfigError
from sync.runner import pick_account
from sync.sources import open_source
from sync.stored import all_accounts


@dataclass(frozen=True)
class CollectionEstimate:
    """What a pull of one collection would fetch; ``items`` None when unknown."""

    name: str
    items: int | None


@dataclass
class AccountEstimate:
    """One account's collections, or why it could not be counted."""

    account: str
    collections: list[CollectionEstimate] = field(default_factory=list)
    error: str | None = None

    @property
    def known(self) -> int:
        """The sum over the collections that could be counted."""
        return sum(c.items for c in self.collections if c.items is not None)

    @property
    def unknown(self) -> int:
        """How many collections could not be counted."""
        return sum(1 for c in self.collections if c.items is None)


def estimate_all(
    config: Config, sessions: sessionmaker[Session], only: str | None = None
) -> list[AccountEstimate]:
    """Every enabled account (or just ``only``, enabled or not), from the config file and
    the web view; :class:`ConfigError` for an unknown ``only``."""
    accounts = all_accounts(config, sessions)
    if only:
        return [estimate_account(config, sessions, pick_account(accounts, only))]
    return [estimate_account(config, sessions, a) for a in accounts if a.enabled]


def estimate_account(
    config: Config, sessions: sessionmaker[Session], account: AccountConfig
) -> AccountEstimate:
    """One account's estimate; a source that fails is the estimate's ``error``."""
    result = AccountEstimate(account.name)
    try:
        with open_source(account, config.sync) as source, sessions() as session:
            account_id = session.scalars(
                select(Account.id).where(Account.name == account.name)
            ).one_or_none()
            for collection in source.collections():
                cursor = None
                if account_id is not None:
                    cursor = load_cursor(session, account_id, collection.id)
                items = source.estimate(collection, cursor)
                result.collections.append(CollectionEstimate(collection.name, items))
            session.rollback()  # nothing to keep: only read
    except SourceError as exc:
        result.error = describe(exc)
    except ConfigError as exc:
        result.error = str(exc)
    return result


def report(estimates: list[AccountEstimate]) -> None:
    """A table: per account and collection what would be fetched, the account's total,
    and the total over all accounts."""
    rows: list[dict[str, str]] = []
    for estimate in estimates:
        for collection in estimate.collections:
            items = "unknown" if collection.items is None else str(collection.items)
            rows.append(
                {"account": estimate.account, "collection": collection.name, "to fetch": items}
            )
        if estimate.error is not None:
            rows.append(
                {
                    "account": estimate.account,
                    "collection": "-",
                    "to fetch": f"failed: {estimate.error}",
                }
            )
        else:
            rows.append(
                {
                    "account": estimate.account,
                    "collection": "(total)",
                    "to fetch": _total(estimate.known, estimate.unknown),
                }
            )
    output.table(rows, ["account", "collection", "to fetch"], "dry run: items a sync would fetch")
    known = sum(e.known for e in estimates)
    unknown = sum(e.unknown for e in estimates)
    failed = sum(1 for e in estimates if e.error is not None)
    line = f"total: {_total(known, unknown)} item(s) to fetch; nothing was stored"
    output.console.print(line + (f"; {failed} account(s) failed" if failed else ""))


def _total(known: int, unknown: int) -> str:
    return f"{known} + {unknown} unknown" if unknown else str(known)
