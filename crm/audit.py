"""The audit log: who created, changed, merged or deleted what, and when.

Each entry is written in the transaction of the change it describes, so a change
that rolls back leaves no entry, and one that commits always has one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.models import AuditEntry, utcnow


def record(session: Session, actor: str, action: str, target: str, **details: Any) -> AuditEntry:
    """Note ``actor`` did ``action`` to ``target``; ``details`` become JSON."""
    entry = AuditEntry(
        at=utcnow(),
        actor=actor[:128],
        action=action[:64],
        target=target[:512],
        details=json.dumps(details, ensure_ascii=False, default=str, sort_keys=True),
    )
    session.add(entry)
    return entry


def entries(
    session: Session,
    *,
    actor: str | None = None,
    action: str | None = None,
    target: str | None = None,
    since: datetime | None = None,
    limit: int = 200,
    offset: int = 0,
) -> Sequence[AuditEntry]:
    """The newest entries first, filtered by exact actor, action prefix, target text."""
    query = select(AuditEntry)
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if action:
        query = query.where(AuditEntry.action.startswith(action, autoescape=True))
    if target:
        query = query.where(AuditEntry.target.contains(target, autoescape=True))
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    query = query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    return session.scalars(query.offset(offset).limit(limit)).all()


def details(entry: AuditEntry) -> dict[str, Any]:
    """An entry's details as a dict (empty for none)."""
    return json.loads(entry.details) if entry.details else {}
