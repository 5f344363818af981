"""The source interface every adapter implements.

Vocabulary (after vdirsyncer's ``Storage``):

- a **source** is one account's remote store (an IMAP mailbox, a folder of
  Maildirs), opened from the account's settings and credentials;
- a **collection** is one mail folder, calendar or address book in it;
- a **cursor** is a small JSON-able dict that only the adapter that made it
  understands (IMAP: UIDVALIDITY, last UID, HIGHESTMODSEQ);
- a **batch** is a bounded slice of records and the cursor that follows it.

Only :meth:`Source.collections` and :meth:`Source.pull` are abstract.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ClassVar, Self

from adapters.records import Batch, Collection


def requests_verify(tls_verify: bool, ca_file: str | None) -> bool | str:
    """requests' (and the caldav library's) ``verify``: off, on (the system's CAs), or
    the CA file to trust."""
    if not tls_verify:
        return False
    return ca_file or True


@dataclass(frozen=True, slots=True)
class BatchLimits:
    """How big one batch may get: bounded by count and by bytes, so memory stays
    flat on a 100,000-message mailbox."""

    max_items: int = 500
    max_bytes: int = 25 * 1024 * 1024


class Source(abc.ABC):
    """One account's remote store.

    Pulling never changes the remote store (IMAP fetches with ``BODY.PEEK[]``,
    so nothing is marked read). Errors are raised as the kinds in
    :mod:`adapters.errors`; one unreadable item is reported in
    :attr:`Batch.failures` and the batch goes on.
    """

    #: the ``kind`` of an account in the config that this source serves
    kind: ClassVar[str]
    #: every source is read-only for now: crmsync never writes to staff mailboxes
    read_only: ClassVar[bool] = True

    @abc.abstractmethod
    def collections(self) -> list[Collection]:
        """The collections this account is configured to pull, resolved on the server."""

    @abc.abstractmethod
    def pull(
        self, collection: Collection, cursor: dict[str, Any] | None, limits: BatchLimits
    ) -> Iterator[Batch]:
        """Yield what changed in ``collection`` since ``cursor`` (everything if None).

        Each batch carries the cursor to store once its records are stored. An
        unchanged collection yields nothing, at the cost of one round trip.
        Raises :class:`adapters.errors.InvalidCursorError` when ``cursor`` is no
        longer valid on the server.
        """

    def estimate(self, collection: Collection, cursor: dict[str, Any] | None) -> int | None:
        """How many items a pull of ``collection`` from ``cursor`` would fetch, found out
        without fetching them (what ``crmsync sync --dry-run`` shows); None when the server
        cannot say cheaply. A cursor the server no longer accepts counts as None (the
        whole collection, as sync would read it again). Changes nothing."""
        return None

    def probe(self) -> list[str]:
        """Log in and name every collection the account offers (not only the configured
        ones): what "test connection" shows. Raises like :meth:`collections`."""
        return [c.name for c in self.collections()]

    def staff_addresses(self) -> list[str]:
        """Addresses of the staff mailboxes this source reads that the config does not name
        (an Exchange distribution group's members), known after :meth:`collections`."""
        return []

    def close(self) -> None:  # noqa: B027 - sources without a connection need nothing
        """Release the connection."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
