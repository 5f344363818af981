"""Who may see an interaction: everyone with access to the customer, or, when its
``visibility`` is "private", only its owner (``owner_id``) and admins.

Every query that lists, counts or reads interactions (crm.timeline, crm.search, the
body and attachment routes) takes a :class:`Viewer` and applies :func:`visible_to`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import ColumnElement, or_, select, true
from sqlalchemy.orm import Session

from crm import audit
from crm.models import Interaction, User

VISIBILITIES = ("everyone", "private")


@dataclass(frozen=True)
class Viewer:
    """Who is looking: a user (by id) and whether they are an admin."""

    user_id: int | None
    is_admin: bool

    @classmethod
    def everyone(cls) -> Viewer:
        """Sees everything: admin pages and the command line."""
        return cls(user_id=None, is_admin=True)


class _HasVisibility(Protocol):
    @property
    def visibility(self) -> str: ...

    @property
    def owner_id(self) -> int | None: ...


def visible_to(viewer: Viewer) -> ColumnElement[bool]:
    """The SQL condition on :class:`Interaction` for what ``viewer`` may see."""
    if viewer.is_admin:
        return true()
    public = Interaction.visibility != "private"
    if viewer.user_id is None:
        return public
    return or_(public, Interaction.owner_id == viewer.user_id)


def is_visible(viewer: Viewer, interaction: _HasVisibility) -> bool:
    """:func:`visible_to` for one loaded interaction (or timeline entry)."""
    return (
        viewer.is_admin
        or interaction.visibility != "private"
        or (viewer.user_id is not None and interaction.owner_id == viewer.user_id)
    )


def may_set(viewer: Viewer, interaction: _HasVisibility, visibility: str) -> bool:
    """Whether ``viewer`` may give ``interaction`` this visibility: private what they own
    or what has no owner yet; public again only its owner or an admin."""
    if visibility not in VISIBILITIES:
        return False
    if visibility == interaction.visibility:
        return is_visible(viewer, interaction)  # nothing to change
    owns = viewer.user_id is not None and interaction.owner_id == viewer.user_id
    if visibility == "private":
        return viewer.user_id is not None and (owns or interaction.owner_id is None)
    return owns or viewer.is_admin


def can_change(viewer: Viewer, interaction: _HasVisibility) -> bool:
    """Whether ``viewer`` may switch the interaction's visibility to the other value."""
    other = "everyone" if interaction.visibility == "private" else "private"
    return may_set(viewer, interaction, other)


def set_visibility(
    session: Session,
    interaction_id: int,
    visibility: str,
    viewer: Viewer,
    *,
    thread: bool = False,
    actor: str | None = None,
) -> int:
    """Give an interaction (with ``thread``: every interaction of its thread that the
    viewer can see) this visibility; how many changed. Marking private makes the viewer
    the owner of what had none. :class:`PermissionError` when the viewer may not change
    one of them (then nothing changes), :class:`LookupError` when the viewer cannot see
    the interaction, :class:`ValueError` for an unknown visibility."""
    if visibility not in VISIBILITIES:
        raise ValueError(f"visibility must be one of {', '.join(VISIBILITIES)}")
    found = session.scalars(
        select(Interaction).where(Interaction.id == interaction_id, visible_to(viewer))
    ).first()
    if found is None:
        raise LookupError(f"no interaction {interaction_id}")
    targets = [found]
    if thread:
        targets = list(
            session.scalars(
                select(Interaction)
                .where(Interaction.thread_key == found.thread_key, visible_to(viewer))
                .order_by(Interaction.id)
            )
        )
    changing = [i for i in targets if i.visibility != visibility]
    refused = [i.id for i in changing if not may_set(viewer, i, visibility)]
    if refused:
        raise PermissionError(
            f"you may not make interaction {refused[0]} "
            + ("private" if visibility == "private" else "visible to everyone")
        )
    for interaction in changing:
        interaction.visibility = visibility
        if visibility == "private" and interaction.owner_id is None:
            interaction.owner_id = viewer.user_id
    audit.record(
        session,
        actor or _actor(session, viewer),
        "interaction.visibility",
        f"interaction {interaction_id}",
        visibility=visibility,
        thread=thread,
        changed=[i.id for i in changing],
    )
    session.flush()
    return len(changing)


def _actor(session: Session, viewer: Viewer) -> str:
    if viewer.user_id is not None:
        name = session.scalar(select(User.name).where(User.id == viewer.user_id))
        if name:
            return name
    return "system"
