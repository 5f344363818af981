"""What the two Exchange adapters (EWS, Graph) share: how a mailbox's folders, calendar and
contacts become collections, and when a calendar's pull window has moved too far.

Collection ids: ``<mailbox>|mail|<folder>``, ``<mailbox>|calendar``, ``<mailbox>|contacts``,
so the same mailbox read through EWS or Graph keeps one shape of cursor key.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from adapters.ical import window_around
from adapters.records import Collection

log = logging.getLogger(__name__)

#: how far a calendar's window may move before the calendar is read afresh
WINDOW_SLACK = timedelta(days=30)


def mailbox_collections(
    mailboxes: Iterable[str], folders: Sequence[str], *, calendar: bool, contacts: bool
) -> list[Collection]:
    """Each mailbox's mail folders, then its calendar and contacts when wanted."""
    out = []
    for mailbox in mailboxes:
        out += [Collection(f"{mailbox}|mail|{f}", f"{mailbox}: {f}") for f in folders]
        if calendar:
            out.append(Collection(f"{mailbox}|calendar", f"{mailbox}: Calendar", "calendar"))
        if contacts:
            out.append(Collection(f"{mailbox}|contacts", f"{mailbox}: Contacts", "contacts"))
    return out


def split_id(collection: Collection) -> tuple[str, str, str]:
    """(mailbox, kind, folder spec) of a collection id (the spec of a calendar is its kind)."""
    mailbox, kind, *rest = collection.id.split("|", 2)
    return mailbox, kind, rest[0] if rest else kind


def calendar_window(
    cursor: dict[str, Any], back: timedelta, ahead: timedelta, *, account: str, name: str
) -> tuple[tuple[datetime, datetime], dict[str, Any]]:
    """The window to read a calendar in now, and the cursor to go on from: none when the
    stored window has moved by more than :data:`WINDOW_SLACK` (read it afresh)."""
    now = datetime.now(UTC)
    window = window_around(now, back, ahead)
    stored = cursor.get("window")
    moved = stored and now - datetime.fromisoformat(stored[0]) - back
    if moved and moved > WINDOW_SLACK:
        log.info("%s: the window moved; reading %s afresh", account, name)
        return window, {}
    return window, cursor


def window_value(window: tuple[datetime, datetime]) -> list[str]:
    """A window as a cursor keeps it."""
    return [window[0].isoformat(), window[1].isoformat()]
