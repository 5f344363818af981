"""Delta queries and paging for the Microsoft Graph simulator.

A delta round starts from nothing (the first call) or from a ``$deltatoken``. The
simulator then takes the view as it is now (``{id: changeKey}`` of the folder's
messages, the contacts, or the calendar instances in the window), lists what is new or
changed since the token's snapshot and what has gone (``@removed``, reason ``deleted``),
and serves that list in pages: every page but the last has an ``@odata.nextLink`` with
an opaque ``$skiptoken`` (the same link always gives the same page, so a client may
retry one after a 429), the last has an ``@odata.deltaLink`` whose ``$deltatoken``
remembers the view as it was when the round began. Changes made while a client pages
are therefore reported in the next round, as Graph does.

:meth:`DeltaEngine.invalidate` makes every token issued so far answer 410 Gone with
``syncStateNotFound`` (or another code, e.g. ``resyncRequired``).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Render = Callable[[str], dict[str, Any] | None]  # id -> JSON, None when it is gone


@dataclass
class Round:
    """One delta round being paged through."""

    kind: str  # message, event, contact
    scope: tuple[Any, ...]  # what the view covers (user, folder or calendar, window)
    options: dict[str, Any]  # $select, $expand, time zone... as given on the first call
    pending: list[tuple[str, bool]]  # (id, removed)
    final: dict[str, str]  # the view when the round began
    page_size: int
    epoch: int


@dataclass
class DeltaToken:
    kind: str
    scope: tuple[Any, ...]
    options: dict[str, Any]
    snapshot: dict[str, str]
    epoch: int


class GoneError(Exception):
    """A skip or delta token that is unknown or was invalidated (410 Gone)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass
class DeltaEngine:
    """The tokens handed out; thread-safe."""

    epoch: int = 0
    gone_code: str = "syncStateNotFound"
    skips: dict[str, tuple[Round, int]] = field(default_factory=dict)
    deltas: dict[str, DeltaToken] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def invalidate(self, code: str = "syncStateNotFound") -> None:
        with self.lock:
            self.epoch += 1
            self.gone_code = code
            self.skips.clear()
            self.deltas.clear()

    def start(
        self,
        kind: str,
        scope: tuple[Any, ...],
        options: dict[str, Any],
        view: dict[str, str],
        page_size: int,
        since: str | None,
    ) -> Round:
        """Begin a round: from nothing, or from the snapshot of delta token ``since``."""
        old: dict[str, str] = {}
        if since is not None:
            token = self.deltas.get(since)
            if token is None or token.epoch != self.epoch or token.kind != kind:
                raise GoneError(self.gone_code)
            old = token.snapshot
        pending = [(i, False) for i, key in view.items() if old.get(i) != key]
        pending += [(i, True) for i in old if i not in view]
        return Round(kind, scope, options, pending, dict(view), page_size, self.epoch)

    def resume(self, skiptoken: str) -> tuple[Round, int]:
        with self.lock:
            found = self.skips.get(skiptoken)
            if found is None or found[0].epoch != self.epoch:
                raise GoneError(self.gone_code)
            return found

    def page(
        self,
        rnd: Round,
        pos: int,
        render: Render,
        page_size: int | None,
        link: str,
        odata_type: str,
    ) -> dict[str, Any]:
        """The JSON of the page at ``pos``, with its nextLink or deltaLink (``link`` + '?')."""
        size = max(1, page_size or rnd.page_size)
        values: list[dict[str, Any]] = []
        for item_id, removed in rnd.pending[pos : pos + size]:
            data = None if removed else render(item_id)
            if data is None:
                data = {"@odata.type": odata_type, "id": item_id, "@removed": {"reason": "deleted"}}
            values.append(data)
        body: dict[str, Any] = {"value": values}
        with self.lock:
            if pos + size < len(rnd.pending):
                token = secrets.token_urlsafe(24)
                self.skips[token] = (rnd, pos + size)
                body["@odata.nextLink"] = f"{link}?$skiptoken={token}"
            else:
                token = secrets.token_urlsafe(24)
                self.deltas[token] = DeltaToken(
                    rnd.kind, rnd.scope, rnd.options, rnd.final, rnd.epoch
                )
                body["@odata.deltaLink"] = f"{link}?$deltatoken={token}"
        return body

    def since(self, deltatoken: str) -> DeltaToken:
        with self.lock:
            token = self.deltas.get(deltatoken)
            if token is None or token.epoch != self.epoch:
                raise GoneError(self.gone_code)
            return token
