"""Finding customers: by name, address, organization or domain, and by words of their mail.

One function, :func:`search_customers`, behind which the full-text part uses
what the database has: SQLite's FTS5 table ``interactions_fts`` or PostgreSQL's
GIN index over ``to_tsvector('simple', ...)`` (both made by migration 0003).
Every word of the query must occur (prefix match: "angeb" finds "Angebot").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import column, func, literal, or_, select, table, text, union_all
from sqlalchemy.orm import Session

from crm.models import (
    ContactPoint,
    Interaction,
    Organization,
    OrganizationDomain,
    Participant,
    Person,
)
from crm.visibility import Viewer, visible_to

MAX_WORDS = 8
#: how many of the newest matching interactions the text search looks at
TEXT_HITS = 400
#: PostgreSQL: how many of the newest ids are walked first, then the bitmap windows
WALK = 40_000
BITMAP_WINDOWS = (2**62,)  # one step: a middle window cost more than it saved
#: a query that is an address or a domain names a customer, not words of a mail
_ADDRESS_LIKE = re.compile(r"^[^\s@]*@?[\w-]+(\.[\w-]+)+$")
_WORD = re.compile(r"\w+", re.UNICODE)
_FTS = table("interactions_fts", column("rowid"))


@dataclass(frozen=True)
class CustomerHit:
    """A customer found, and what matched."""

    kind: str  # person | organization
    id: int
    name: str
    detail: str  # a person's organization, an organization's domains
    reason: str  # name | address | domain | organization | mail


@dataclass(frozen=True)
class SearchPage:
    """One page of hits; ``has_more`` says whether a next page exists."""

    hits: list[CustomerHit]
    page: int
    has_more: bool


def search_customers(
    session: Session, query: str, *, viewer: Viewer, page: int = 1, per_page: int = 25
) -> SearchPage:
    """Customers whose name, address, organization or domain contains ``query``, then
    those whose mail (as far as ``viewer`` may see it) contains all its words; an empty
    query lists everyone by name."""
    query = " ".join(query.split())[:200]
    page = max(page, 1)
    want = page * per_page + 1
    if not query:
        found = _everyone(session, (page - 1) * per_page, per_page + 1)
        return SearchPage(found[:per_page], page, len(found) > per_page)
    seen: dict[tuple[str, int], str] = {}
    for kind, reason, ids in _direct_matches(session, query, want):
        for cid in ids:
            seen.setdefault((kind, cid), reason)
    if len(seen) < want and not _ADDRESS_LIKE.match(query):
        for key in _mail_matches(session, query, want, viewer=viewer):
            seen.setdefault(key, "mail")
    keys = list(seen)[(page - 1) * per_page : want]
    hits = _describe(session, keys[:per_page], seen)
    return SearchPage(hits, page, len(keys) > per_page)


def words(query: str) -> list[str]:
    """The words of a query as the full-text index sees them (at most ``MAX_WORDS``)."""
    return _WORD.findall(query.lower())[:MAX_WORDS]


def matching_interactions(
    session: Session, query: str, limit: int = TEXT_HITS, *, viewer: Viewer
) -> list[int]:
    """The ids of the newest interactions (at most ``limit``) that ``viewer`` may see
    containing every word of ``query``; a word of two or more letters also matches as the
    start of a word."""
    terms = words(query)
    if not terms:
        return []
    if session.get_bind().dialect.name == "sqlite":
        return _sqlite_matches(session, terms, limit, viewer)
    return _postgresql_matches(session, terms, limit, viewer)


def _sqlite_matches(session: Session, terms: list[str], limit: int, viewer: Viewer) -> list[int]:
    # FTS5 indexes 2- and 3-letter prefixes (migration 0004); a 1-letter prefix would
    # expand over a large part of the vocabulary, so one letter matches only itself.
    match = " ".join('"' + t + ('"*' if len(t) > 1 else '"') for t in terms)
    statement = (
        select(_FTS.c.rowid)
        .where(text("interactions_fts MATCH :match").bindparams(match=match))
        .order_by(_FTS.c.rowid.desc())
        .limit(limit)
    )
    if not viewer.is_admin:
        statement = statement.join(Interaction, Interaction.id == _FTS.c.rowid).where(
            visible_to(viewer)
        )
    return list(session.scalars(statement))


def _newest_hits(viewer: Viewer, floor: int, tsquery: str, limit: int) -> Any:
    statement = (
        select(Interaction.id)
        .where(
            Interaction.id > floor,
            text("search_vector @@ to_tsquery('simple'::regconfig, :q)").bindparams(q=tsquery),
        )
        .order_by(Interaction.id.desc())
        .limit(limit)
    )
    return statement.where(visible_to(viewer)) if not viewer.is_admin else statement


def _postgresql_matches(
    session: Session, terms: list[str], limit: int, viewer: Viewer
) -> list[int]:
    """Newest first, in two steps (measured on 1M interactions, benchmarks/timeline.py):

    1. the newest ``WALK`` ids, walked backwards: a frequent word fills the page here;
    2. otherwise the GIN index, as a bitmap, over a wider window and then everything:
       cheap for rare and absent words, where a backward walk would read the table.
    """
    tsquery = " & ".join(t + (":*" if len(t) > 1 else "") for t in terms)
    top = session.scalar(select(func.max(Interaction.id))) or 0
    floor = max(top - WALK, 0)
    ids = list(session.scalars(_newest_hits(viewer, floor, tsquery, limit)))
    if len(ids) >= limit or top <= WALK:
        return ids
    # the GIN bitmap, always: not a walk of the primary key, not a scan of the table
    session.execute(text("SET LOCAL enable_indexscan = off"))
    session.execute(text("SET LOCAL enable_seqscan = off"))
    session.execute(text("SET LOCAL work_mem = '32MB'"))  # exact pages: no lossy recheck
    try:
        for window in BITMAP_WINDOWS:
            floor = max(top - window, 0)
            ids = list(session.scalars(_newest_hits(viewer, floor, tsquery, limit)))
            if len(ids) >= limit or floor == 0:
                break
    finally:
        session.execute(text("RESET enable_indexscan"))
        session.execute(text("RESET enable_seqscan"))
        session.execute(text("RESET work_mem"))
    return ids


def _direct_matches(session: Session, query: str, limit: int) -> list[tuple[str, str, list[int]]]:
    like = query.lower()
    people_by_name = (
        select(Person.id)
        .where(Person.display_name.icontains(query, autoescape=True))
        .order_by(Person.display_name)
        .limit(limit)
    )
    orgs_by_name = (
        select(Organization.id)
        .where(Organization.name.icontains(query, autoescape=True))
        .order_by(Organization.name)
        .limit(limit)
    )
    points = (
        select(ContactPoint.person_id, ContactPoint.organization_id)
        .where(ContactPoint.value.icontains(like, autoescape=True))
        .order_by(ContactPoint.value)
        .limit(limit)
    )
    domains = (
        select(OrganizationDomain.organization_id)
        .where(OrganizationDomain.domain.icontains(like.lstrip("@"), autoescape=True))
        .order_by(OrganizationDomain.domain)
        .limit(limit)
    )
    orgs = list(session.scalars(orgs_by_name))
    staff = select(Person.id).where(Person.organization_id.in_(orgs)).limit(limit) if orgs else None
    rows = session.execute(points).all()
    return [
        ("organization", "name", orgs),
        ("person", "name", list(session.scalars(people_by_name))),
        ("person", "address", [p for p, _ in rows if p is not None]),
        ("organization", "address", [o for p, o in rows if p is None and o is not None]),
        ("organization", "domain", list(session.scalars(domains))),
        ("person", "organization", list(session.scalars(staff)) if staff is not None else []),
    ]


def _mail_matches(
    session: Session, query: str, limit: int, *, viewer: Viewer
) -> list[tuple[str, int]]:
    ids = matching_interactions(session, query, viewer=viewer)
    if not ids:
        return []
    rows = session.execute(
        select(Participant.interaction_id, Participant.person_id, Participant.organization_id)
        .where(Participant.interaction_id.in_(ids))
        .where(or_(Participant.person_id.is_not(None), Participant.organization_id.is_not(None)))
        .order_by(Participant.interaction_id.desc())
    ).all()
    found: dict[tuple[str, int], None] = {}
    for _, person_id, org_id in rows:
        if person_id is not None:
            found.setdefault(("person", person_id), None)
        elif org_id is not None:
            found.setdefault(("organization", org_id), None)
        if len(found) >= limit:
            break
    return list(found)


def _everyone(session: Session, offset: int, limit: int) -> list[CustomerHit]:
    both = union_all(
        select(literal("organization").label("kind"), Organization.id, Organization.name),
        select(literal("person").label("kind"), Person.id, Person.display_name.label("name")),
    ).subquery()
    rows = session.execute(
        select(both.c.kind, both.c.id)
        .order_by(func.lower(both.c.name), both.c.id)
        .offset(offset)
        .limit(limit)
    ).all()
    keys = [(kind, cid) for kind, cid in rows]
    return _describe(session, keys, dict.fromkeys(keys, "name"))


def _describe(
    session: Session, keys: list[tuple[str, int]], reasons: dict[tuple[str, int], str]
) -> list[CustomerHit]:
    person_ids = [cid for kind, cid in keys if kind == "person"]
    org_ids = [cid for kind, cid in keys if kind == "organization"]
    people = {p.id: p for p in session.scalars(select(Person).where(Person.id.in_(person_ids)))}
    orgs = {
        o.id: o for o in session.scalars(select(Organization).where(Organization.id.in_(org_ids)))
    }
    hits = []
    for kind, cid in keys:
        if kind == "person" and cid in people:
            person = people[cid]
            detail = person.organization.name if person.organization else ""
            hits.append(CustomerHit(kind, cid, person.display_name, detail, reasons[(kind, cid)]))
        elif kind == "organization" and cid in orgs:
            org = orgs[cid]
            detail = ", ".join(sorted(d.domain for d in org.domains))
            hits.append(CustomerHit(kind, cid, org.name, detail, reasons[(kind, cid)]))
    return hits
