"""A fast generator of a realistic CRM history for benchmarks (SQLite and PostgreSQL).

:func:`generate` migrates a fresh database with ``crm.schema.upgrade`` and fills it:
customers (a fifth organizations with 1-3 domains each and their people, the rest
people of their own, many on free-mail domains), their contact points, two
accounts (``imap`` and ``files``), and an interaction history of ten years, mail
denser in later years: threads of 1-5 mails with one customer, 2-4 participants
each (linked by address or domain as crm.ingest would link them; ~5% of external
addresses unmatched, which also fill the review queue), one or two sources per
mail, some attachments, and notes. Bodies come from a Zipf-ranked vocabulary of
German and English business words and a long tail of made-up words
(benchmarks/timelinewords.py), so full-text search sees realistic term
frequencies. Customers' activity is heavy-tailed: the busiest organization has
a few percent of all mail. The same seed gives the same data.

It loads fast and leaves the exact schema of the migrations behind: secondary
indexes (and SQLite's FTS5 triggers) are dropped first and recreated from their
own stored DDL afterwards, the FTS5 index is built with 'rebuild'; SQLite loads
with Core executemany, foreign keys off and no journal; PostgreSQL with COPY and
``session_replication_role = replica`` (no FK triggers). Then ANALYZE (PostgreSQL:
VACUUM ANALYZE). ``python benchmarks/timelinedata.py --help`` makes one database.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import hashlib
import importlib.util
import itertools
import math
import multiprocessing
import multiprocessing.queues
import os
import random
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for _path in (ROOT, Path(__file__).resolve().parent):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import psycopg  # noqa: E402
import timelinewords as words  # noqa: E402
from psycopg import sql  # noqa: E402
from sqlalchemy import Connection, Engine, insert  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from crm import schema  # noqa: E402
from crm.db import make_engine  # noqa: E402
from crm.models import Base  # noqa: E402

CHUNK = 10_000  # interactions per executemany / COPY round
COMMIT_EVERY = 200_000  # interactions per transaction
YEARS = 10
INTERNAL_DOMAIN = "bench-firm.example"
STAFF = 24
INFO_BOXES = ("info", "office", "einkauf", "sales", "kontakt")
#: mails per thread: 1 (40%) to 5 (7%)
THREAD_SIZES = (1,) * 40 + (2,) * 25 + (3,) * 17 + (4,) * 11 + (5,) * 7
BIG_TABLES = (
    "organizations",
    "organization_domains",
    "people",
    "contact_points",
    "interactions",
    "participants",
    "interaction_sources",
    "attachments",
    "documents",
    "review_items",
)
Row = tuple[Any, ...]
Progress = Callable[[str], None]


# --- text ----------------------------------------------------------------------------


class Text:
    """Subjects and bodies drawn from a Zipf-ranked vocabulary.

    A pool of a few million words is drawn once (``random.choices`` per word is
    too slow for 100 million words); a body is a few slices of it at random
    offsets. Each word keeps its Zipf frequency overall.
    """

    POOL = 4_000_000

    def __init__(self, rng: random.Random, seed: int, pool: int = POOL) -> None:
        self.rng = rng
        self.vocabulary = vocabulary(seed)
        weights = list(
            itertools.accumulate(1 / (rank + 2.7) for rank in range(len(self.vocabulary)))
        )
        self.pool = rng.choices(self.vocabulary, cum_weights=weights, k=pool)
        self.business = words.BUSINESS_WORDS

    def words(self, count: int) -> str:
        """``count`` consecutive words from a random place in the pool."""
        start = self.rng.randrange(len(self.pool) - count)
        return " ".join(self.pool[start : start + count])

    def body(self, chars: int) -> str:
        """Paragraphs of about ``chars`` characters in all."""
        total = max(chars // 7, 8)
        parts = self.rng.randint(1, 4)
        size = max(total // parts, 4)
        paragraphs = []
        for _ in range(parts):
            text = self.words(size)
            paragraphs.append(text[:1].upper() + text[1:] + ".")
        return "\n\n".join(paragraphs)

    def subject(self) -> str:
        """A subject line: two business words, a number now and then."""
        first, second = self.rng.sample(self.business, 2)
        number = f" {self.rng.randint(1000, 99999)}" if self.rng.random() < 0.5 else ""
        return f"{first.capitalize()} {second}{number}"


def vocabulary(seed: int) -> list[str]:
    """The words of a generated history, most frequent first (the same for the same seed)."""
    return words.vocabulary(random.Random(seed))


# --- customers -----------------------------------------------------------------------


@dataclass
class Contact:
    """An external address as a participant row shows it, resolved as ingest would."""

    email: str
    name: str
    person_id: int | None
    organization_id: int | None
    reason: str | None  # address | domain | None (unmatched)


@dataclass
class Org:
    """An organization: its domains, people (by weight) and an info@ address."""

    id: int
    name: str
    domains: list[str]
    people: list[int] = field(default_factory=list)
    people_weights: list[float] = field(default_factory=list)
    info: str | None = None


@dataclass
class PersonRec:
    """A person: name, organization and e-mail addresses (first one: the main one)."""

    id: int
    given: str
    family: str
    organization_id: int | None
    emails: list[str]

    @property
    def name(self) -> str:
        return f"{self.given} {self.family}"


class Customers:
    """The customers in memory, with heavy-tailed activity weights, and their rows."""

    def __init__(self, rng: random.Random, count: int) -> None:
        self.rng = rng
        self.taken: set[str] = set()
        org_count = max(count // 5, 1)
        self.orgs = [self._org(i + 1) for i in range(org_count)]
        self.people: list[PersonRec] = []
        self._people(count - org_count)
        self.org_cum = _cumulative(len(self.orgs), alpha=1.1, shift=5)
        self.loners = [p.id for p in self.people if p.organization_id is None]
        self.loner_cum = _cumulative(len(self.loners), alpha=0.9, shift=10)
        self.unmatched = self._unmatched(max(count // 25, 20))
        self.staff = [self._staff(i) for i in range(STAFF)]

    # building

    def _unique(self, candidate: str) -> str:
        value, n = candidate, 1
        while value in self.taken:
            n += 1
            local, _, domain = candidate.partition("@")
            value = f"{local}{n}@{domain}" if domain else f"{candidate}{n}"
        self.taken.add(value)
        return value

    def _org(self, org_id: int) -> Org:
        rng = self.rng
        first, trade = rng.choice(words.ORG_WORDS), rng.choice(words.ORG_TRADES)
        name = f"{first} {trade} {rng.choice(words.LEGAL_FORMS)}"
        slug = _slug(f"{first}-{trade}")
        domains = [self._unique(f"{slug}.{rng.choice(words.TLDS)}")]
        for _ in range(rng.choices((0, 1, 2), weights=(70, 22, 8))[0]):
            domains.append(self._unique(f"{_slug(first)}.{rng.choice(words.TLDS)}"))
        org = Org(org_id, name, domains)
        if rng.random() < 0.4:
            org.info = self._unique(f"{rng.choice(INFO_BOXES)}@{domains[0]}")
        return org

    def _people(self, count: int) -> None:
        rng = self.rng
        at_orgs = count * 3 // 4
        # people per organization: heavy-tailed too (a few have dozens)
        cum = _cumulative(len(self.orgs), alpha=0.6, shift=5)
        for n in range(count):
            org = self.orgs[_pick(rng, cum)] if n < at_orgs else None
            self._person(org)
        for org in self.orgs:
            org.people_weights = list(
                itertools.accumulate(rng.paretovariate(1.2) for _ in org.people)
            )

    def _person(self, org: Org | None) -> None:
        rng = self.rng
        given, family = rng.choice(words.GIVEN_NAMES), rng.choice(words.FAMILY_NAMES)
        if org is not None:
            domain = rng.choice(org.domains)
        elif rng.random() < 0.8:
            domain = rng.choice(words.FREE_MAIL)
        else:
            domain = f"{_slug(family)}-{rng.randint(1, 999)}.{rng.choice(words.TLDS)}"
        local = rng.choice(
            (f"{given}.{family}", f"{given[0]}.{family}", f"{family}", f"{given}{family}")
        )
        emails = [self._unique(f"{_slug(local, dots=True)}@{domain}")]
        if rng.random() < 0.15:
            emails.append(self._unique(f"{_slug(given)}@{rng.choice(words.FREE_MAIL)}"))
        person = PersonRec(len(self.people) + 1, given, family, org.id if org else None, emails)
        self.people.append(person)
        if org is not None:
            org.people.append(person.id)

    def _unmatched(self, count: int) -> list[tuple[str, str]]:
        rng = self.rng
        out = []
        for _ in range(count):
            given, family = rng.choice(words.GIVEN_NAMES), rng.choice(words.FAMILY_NAMES)
            if rng.random() < 0.5:
                domain = rng.choice(words.FREE_MAIL)
            else:
                domain = f"{_slug(rng.choice(words.ORG_WORDS))}-{rng.randint(1, 99999)}.com"
            email = self._unique(f"{_slug(given + '.' + family, dots=True)}@{domain}")
            out.append((email, f"{given} {family}"))
        return out

    def _staff(self, n: int) -> tuple[str, str]:
        given, family = self.rng.choice(words.GIVEN_NAMES), self.rng.choice(words.FAMILY_NAMES)
        return f"{_slug(given)}.{_slug(family)}{n}@{INTERNAL_DOMAIN}", f"{given} {family}"

    # choosing counterparts

    def org_contacts(self) -> list[Contact]:
        """One or two contacts at an organization picked by activity weight."""
        rng = self.rng
        org = self.orgs[_pick(rng, self.org_cum)]
        contacts = []
        for _ in range(1 if rng.random() < 0.7 else 2):
            r = rng.random()
            if org.people and r < 0.8:
                person = self.people[org.people[_pick(rng, org.people_weights)] - 1]
                contacts.append(self.address_contact(person))
            elif org.info and r < 0.9:
                contacts.append(Contact(org.info, org.name, None, org.id, "address"))
            else:
                given, family = rng.choice(words.GIVEN_NAMES), rng.choice(words.FAMILY_NAMES)
                email = f"{_slug(given)}.{_slug(family)}@{rng.choice(org.domains)}"
                contacts.append(Contact(email, f"{given} {family}", None, org.id, "domain"))
        return _distinct(contacts)

    def loner_contact(self) -> Contact:
        """A person of no organization, picked by activity weight."""
        person = self.people[self.loners[_pick(self.rng, self.loner_cum)] - 1]
        return self.address_contact(person)

    def address_contact(self, person: PersonRec) -> Contact:
        email = person.emails[0] if len(person.emails) == 1 else self.rng.choice(person.emails)
        return Contact(email, person.name, person.id, person.organization_id, "address")

    def three_staff(self) -> list[tuple[str, str]]:
        """Three different staff members (cheaper than ``random.sample``)."""
        n, first = len(self.staff), self.rng.randrange(len(self.staff))
        step = self.rng.randrange(1, n // 2)
        return [self.staff[(first + k * step) % n] for k in range(3)]

    def unmatched_contact(self) -> Contact:
        email, name = self.rng.choice(self.unmatched)
        return Contact(email, name, None, None, None)

    # rows

    def organization_rows(self, now: datetime) -> Iterator[Row]:
        for org in self.orgs:
            yield (org.id, org.name, "", None, now, now)

    def domain_rows(self) -> Iterator[Row]:
        ids = itertools.count(1)
        for org in self.orgs:
            for domain in org.domains:
                yield (next(ids), org.id, domain)

    def people_rows(self, now: datetime) -> Iterator[Row]:
        rng = self.rng
        for p in self.people:
            title = rng.choice(words.TITLES) if rng.random() < 0.3 else ""
            yield (p.id, p.organization_id, p.name, p.given, p.family, title, "", None, now, now)

    def contact_point_rows(self) -> Iterator[Row]:
        rng, ids = self.rng, itertools.count(1)
        for org in self.orgs:
            if org.info:
                yield (next(ids), None, org.id, "email", org.info, "work", org.info)
            if rng.random() < 0.6:
                yield (next(ids), None, org.id, "phone", _phone(rng), "work", "")
        for p in self.people:
            for n, email in enumerate(p.emails):
                yield (next(ids), p.id, None, "email", email, "work" if n == 0 else "home", email)
            if rng.random() < 0.5:
                yield (next(ids), p.id, None, "phone", _phone(rng), "mobile", "")


def _cumulative(count: int, *, alpha: float, shift: float) -> list[float]:
    """Cumulative Zipf-Mandelbrot weights ``1 / (rank + shift) ** alpha``."""
    return list(itertools.accumulate(1 / (i + shift) ** alpha for i in range(count)))


def _pick(rng: random.Random, cumulative: Sequence[float]) -> int:
    """An index drawn by cumulative weights."""
    return min(bisect.bisect(cumulative, rng.random() * cumulative[-1]), len(cumulative) - 1)


def _distinct(contacts: list[Contact]) -> list[Contact]:
    return list({c.email: c for c in contacts}.values())


_SLUG = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "&": "-", " ": "-"})


def _slug(text: str, *, dots: bool = False) -> str:
    """Lower-case ASCII for addresses and domains (umlauts spelt out)."""
    text = text.lower().translate(_SLUG)
    allowed = "abcdefghijklmnopqrstuvwxyz0123456789-" + ("." if dots else "")
    return "".join(c for c in text if c in allowed).strip("-.") or "x"


def _phone(rng: random.Random) -> str:
    return f"+49{rng.randint(30, 9999)}{rng.randint(100000, 9999999)}"


# --- the history -----------------------------------------------------------------------


def _columns(text: str) -> tuple[str, ...]:
    return tuple(text.split())


INTERACTION_COLUMNS = _columns(
    "id kind direction occurred_at subject body_text body_html dedupe_key message_id"
    " thread_key is_bulk size defects created_at created_by"
)
PARTICIPANT_COLUMNS = _columns(
    "id interaction_id role email name is_internal person_id organization_id match_reason"
    " occurred_at"
)
SOURCE_COLUMNS = _columns("id interaction_id account_id collection remote_id first_seen_at")
ATTACHMENT_COLUMNS = _columns("id interaction_id document_sha256 filename content_type size")
DOCUMENT_COLUMNS = _columns("sha256 size created_at")
ORGANIZATION_COLUMNS = _columns("id name notes external_id created_at updated_at")
DOMAIN_COLUMNS = _columns("id organization_id domain")
PEOPLE_COLUMNS = _columns(
    "id organization_id display_name given_name family_name title notes external_id"
    " created_at updated_at"
)
CONTACT_POINT_COLUMNS = _columns("id person_id organization_id kind value label original")
REVIEW_COLUMNS = _columns(
    "id email name status interaction_count first_seen_at last_seen_at resolved_at"
)


@dataclass
class Chunk:
    """The rows of one round of interactions, table by table."""

    interactions: list[Row] = field(default_factory=list)
    participants: list[Row] = field(default_factory=list)
    sources: list[Row] = field(default_factory=list)
    attachments: list[Row] = field(default_factory=list)
    documents: list[Row] = field(default_factory=list)


@dataclass
class Sighting:
    """How often an unmatched address was seen: a review item."""

    name: str
    count: int
    first: datetime
    last: datetime


class History:
    """Conversations with customers over ``YEARS`` years, as rows, ``CHUNK`` at a time."""

    def __init__(self, rng: random.Random, people: Customers, text: Text, end: datetime) -> None:
        self.rng, self.people, self.text = rng, people, text
        self.end = end
        self.start = end - timedelta(days=365 * YEARS)
        self.installed = end - timedelta(days=365 * 2)  # when crmsync first synced
        self.ids = {name: itertools.count(1) for name in ("i", "p", "s", "a")}
        self.uids = {"INBOX": itertools.count(1), "Sent": itertools.count(1)}
        self.sightings: dict[str, Sighting] = {}

    def chunks(self, total: int) -> Iterator[Chunk]:
        """All ``total`` interactions, ids in (mostly) chronological order."""
        chunk, made = Chunk(), 0
        for start in self._conversation_starts(total):
            made += self._conversation(chunk, start, total - made)
            if len(chunk.interactions) >= CHUNK:
                yield chunk
                chunk = Chunk()
            if made >= total:
                break
        if chunk.interactions:
            yield chunk

    def _conversation_starts(self, total: int) -> Iterator[datetime]:
        """Start times, sorted, three times as dense at the end as at the start; 8% out of
        order (an old archive imported late)."""
        rng, span = self.rng, (self.end - self.start).total_seconds()
        count = int(total / 2.1) + 1000
        fractions = sorted(rng.random() for _ in range(count))
        for u in itertools.chain(fractions, iter(rng.random, None)):
            u = rng.random() if rng.random() < 0.08 else u
            x = (math.sqrt(1 + 8 * u) - 1) / 2  # density 1 + 2x on [0, 1]
            yield self.start + timedelta(seconds=x * span * 0.999)

    def _conversation(self, chunk: Chunk, start: datetime, room: int) -> int:
        rng = self.rng
        r = rng.random()
        if r < 0.05:
            self._note(chunk, start)
            return 1
        if r < 0.08:
            contacts: list[Contact] = []  # staff among themselves
        elif r < 0.76:
            contacts = self.people.org_contacts()
        elif r < 0.97:
            contacts = [self.people.loner_contact()]
        else:
            contacts = [self.people.unmatched_contact()]
        size = min(rng.choice(THREAD_SIZES), room)
        self._thread(chunk, start, contacts, size)
        return size

    def _thread(self, chunk: Chunk, start: datetime, contacts: list[Contact], size: int) -> None:
        rng = self.rng
        staff = self.people.three_staff()
        subject = self.text.subject()
        inbound = bool(contacts) and rng.random() < 0.55
        root, when = None, start
        for n in range(size):
            extra = [self.people.unmatched_contact()] if rng.random() < 0.02 else []
            subj = subject if n == 0 else rng.choice(("Re: ", "AW: ", "RE: ")) + subject
            mid = self._mail(chunk, when, subj, root, inbound, contacts + extra, staff)
            root = root or mid
            when = min(when + timedelta(hours=rng.expovariate(1 / 20)), self.end)
            inbound = not inbound if contacts else False

    def _mail(
        self,
        chunk: Chunk,
        when: datetime,
        subject: str,
        root: str | None,
        inbound: bool,
        contacts: list[Contact],
        staff: list[tuple[str, str]],
    ) -> str:
        """One mail of a thread; its Message-ID."""
        rng = self.rng
        iid = next(self.ids["i"])
        host = _domain(contacts[0].email) if inbound else INTERNAL_DOMAIN
        mid = f"{rng.getrandbits(48):012x}.{iid}@{host}"
        direction = "inbound" if inbound else "outbound" if contacts else "internal"
        sender = contacts[0].name if inbound else staff[0][1]
        addressee = staff[0][1] if inbound or not contacts else contacts[0].name
        body = f"Hallo {addressee.split()[0]},\n\n" + self.text.body(_body_length(rng))
        body += f"\n\nMit freundlichen Grüßen\n{sender}"
        html = _html(body) if rng.random() < 0.35 else ""
        bulk = inbound and rng.random() < 0.02
        created = max(when, self.installed) + timedelta(seconds=rng.randint(5, 900))
        chunk.interactions.append(
            (iid, "email", direction, when, subject, body, html, "mid:" + mid, f"<{mid}>",
             root or mid, bulk, len(body) * 4 // 3 + len(html) + 1500, "", created, "")
        )  # fmt: skip
        for role, who in self._roles(inbound, contacts, staff):
            chunk.participants.append(self._participant(iid, role, who, when, bulk))
        self._sources(chunk, iid, inbound, when, created)
        if rng.random() < 0.06:
            self._attachment(chunk, iid, created)
        return mid

    def _roles(
        self, inbound: bool, contacts: list[Contact], staff: list[tuple[str, str]]
    ) -> list[tuple[str, Contact | tuple[str, str]]]:
        """(role, who) of a mail's 2-4 participants; staff as (address, name)."""
        ours = staff[: 1 if self.rng.random() < 0.65 else 2]
        if not contacts:  # among staff
            ours = staff[: 2 if self.rng.random() < 0.7 else 3]
            return [("from", ours[0]), ("to", ours[1]), *(("cc", s) for s in ours[2:])]
        first, others = (contacts[0], ours[0]), [*contacts[1:], *ours[1:]]
        sender, addressee = first if inbound else first[::-1]
        rows = [("from", sender), ("to", addressee), *(("cc", c) for c in others)]
        return rows[:4]

    def _participant(
        self, iid: int, role: str, who: Contact | tuple[str, str], when: datetime, bulk: bool
    ) -> Row:
        pid = next(self.ids["p"])
        if isinstance(who, tuple):  # staff
            return (pid, iid, role, who[0], who[1], True, None, None, None, when)
        if who.reason is None and not bulk:
            self._sighted(who, when)
        return (pid, iid, role, who.email, who.name, False,
                who.person_id, who.organization_id, who.reason, when)  # fmt: skip

    def _sighted(self, who: Contact, when: datetime) -> None:
        seen = self.sightings.get(who.email)
        if seen is None:
            self.sightings[who.email] = Sighting(who.name, 1, when, when)
            return
        seen.count += 1
        seen.first, seen.last = min(seen.first, when), max(seen.last, when)

    def _sources(
        self, chunk: Chunk, iid: int, inbound: bool, when: datetime, created: datetime
    ) -> None:
        folder = "INBOX" if inbound else "Sent"
        uid = next(self.uids[folder])
        chunk.sources.append((next(self.ids["s"]), iid, 1, folder, f"1700000000:{uid}", created))
        if self.rng.random() < 0.1:
            path = f"Archiv/{when.year}"
            chunk.sources.append((next(self.ids["s"]), iid, 2, path, f"{path}/{iid}.eml", created))

    def _attachment(self, chunk: Chunk, iid: int, created: datetime) -> None:
        digest = hashlib.sha256(f"attachment-{iid}".encode()).hexdigest()
        size = self.rng.randint(20_000, 2_000_000)
        name = f"{self.rng.choice(('Angebot', 'Rechnung', 'Lieferschein', 'Offer'))}-{iid}.pdf"
        chunk.documents.append((digest, size, created))
        chunk.attachments.append((next(self.ids["a"]), iid, digest, name, "application/pdf", size))

    def _note(self, chunk: Chunk, when: datetime) -> None:
        rng = self.rng
        iid = next(self.ids["i"])
        if rng.random() < 0.6:
            contact = self.people.org_contacts()[0]
        else:
            contact = self.people.loner_contact()
        person_id = contact.person_id
        org_id = None if person_id is not None else contact.organization_id
        body = self.text.body(rng.randint(60, 600))
        key = f"note:{rng.getrandbits(122):031x}"
        author = rng.choice(self.people.staff)[0].split("@")[0]
        chunk.interactions.append(
            (iid, "note", "internal", when, body.splitlines()[0][:120], body, "", key, None,
             key, False, 0, "", when, author)
        )  # fmt: skip
        chunk.participants.append(
            (next(self.ids["p"]), iid, "about", "", "", False, person_id, org_id, "note", when)
        )

    def review_rows(self) -> Iterator[Row]:
        """The review queue: every unmatched address seen in mail that is not bulk."""
        for n, (email, seen) in enumerate(sorted(self.sightings.items()), start=1):
            ignored = self.rng.random() < 0.1
            status = "ignored" if ignored else "open"
            resolved = seen.last if ignored else None
            yield (n, email, seen.name, status, seen.count, seen.first, seen.last, resolved)


def _body_length(rng: random.Random) -> int:
    """200 to 1500 characters, short mail more often than long."""
    return 200 + int(1300 * rng.random() ** 1.6)


def _html(body: str) -> str:
    paragraphs = "".join(f"<p>{p}</p>" for p in body.split("\n\n"))
    return f'<html><body><div dir="ltr">{paragraphs}</div></body></html>'


def _domain(email: str) -> str:
    return email.rpartition("@")[2] or INTERNAL_DOMAIN


# --- loading ---------------------------------------------------------------------------


class Loader:
    """Writes rows into one database: Core executemany (SQLite) or COPY (PostgreSQL)."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.postgresql = connection.dialect.name == "postgresql"
        self.counts: dict[str, int] = {}

    def load(self, table: str, columns: Sequence[str], rows: Sequence[Row]) -> None:
        """Insert ``rows`` (tuples in ``columns`` order) into ``table``."""
        if not rows:
            return
        self.counts[table] = self.counts.get(table, 0) + len(rows)
        if self.postgresql:
            self._copy(table, columns, rows)
            return
        target = Base.metadata.tables[table]
        self.connection.execute(insert(target), [dict(zip(columns, r, strict=True)) for r in rows])

    def _copy(self, table: str, columns: Sequence[str], rows: Sequence[Row]) -> None:
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
        )
        cursor = self.connection.connection.driver_connection.cursor()
        with cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)


def _migration_0003() -> ModuleType:
    """crm/migrations/versions/0003_web_view.py (its FTS statements are used here)."""
    path = ROOT / "crm" / "migrations" / "versions" / "0003_web_view.py"
    spec = importlib.util.spec_from_file_location("crm_migration_0003", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def secondary_indexes(connection: Connection) -> list[tuple[str, str]]:
    """(name, DDL) of every non-unique index on the big tables, as the database has it."""
    if connection.dialect.name == "postgresql":
        rows = connection.exec_driver_sql(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()"
            " AND tablename = ANY(%(tables)s) AND indexdef NOT LIKE 'CREATE UNIQUE%%'"
            " ORDER BY indexname",
            {"tables": list(BIG_TABLES)},
        )
    else:
        marks = ", ".join("?" for _ in BIG_TABLES)
        rows = connection.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            f" AND tbl_name IN ({marks}) AND sql NOT LIKE 'CREATE UNIQUE%' ORDER BY name",
            BIG_TABLES,
        )
    return [(name, ddl) for name, ddl in rows]


class LoadSession:
    """One loading connection: what is switched off for the load and back on after."""

    def __init__(self, connection: Connection, progress: Progress) -> None:
        self.connection = connection
        self.progress = progress
        self.postgresql = connection.dialect.name == "postgresql"
        self.indexes: list[tuple[str, str]] = []
        self.fts = None if self.postgresql else _migration_0003()

    def prepare(self) -> None:
        """Fast settings; secondary indexes and FTS triggers dropped."""
        c = self.connection
        if self.postgresql:
            c.exec_driver_sql("SET session_replication_role = replica")
            c.exec_driver_sql("SET maintenance_work_mem = '1GB'")
            c.exec_driver_sql("SET max_parallel_maintenance_workers = 2")
        else:
            raw = c.connection.driver_connection  # before any BEGIN: pragmas apply
            for pragma in ("foreign_keys=OFF", "journal_mode=OFF", "synchronous=OFF"):
                raw.execute(f"PRAGMA {pragma}")
            raw.execute("PRAGMA cache_size=-2000000")
            for statement in self.fts.SQLITE_FTS_DROP[:3]:  # the triggers, not the table
                c.exec_driver_sql(statement)
        self.indexes = secondary_indexes(c)
        for name, _ in self.indexes:
            c.exec_driver_sql(f'DROP INDEX "{name}"')
        c.commit()

    def finish(self) -> dict[str, float]:
        """Indexes, FTS, sequences back; settings restored. Seconds per step."""
        c, timings = self.connection, {}
        start = time.perf_counter()
        for name, ddl in self.indexes:
            t = time.perf_counter()
            c.exec_driver_sql(ddl)
            self.progress(f"  index {name}: {time.perf_counter() - t:.1f} s")
        timings["indexes_s"] = time.perf_counter() - start
        if self.postgresql:
            self._sequences()
            c.exec_driver_sql("RESET session_replication_role")
        else:
            start = time.perf_counter()
            c.exec_driver_sql("INSERT INTO interactions_fts(interactions_fts) VALUES('rebuild')")
            for statement in self.fts.SQLITE_FTS[2:]:  # the triggers, as the migration has them
                c.exec_driver_sql(statement)
            timings["fts_s"] = time.perf_counter() - start
            self.progress(f"  FTS5 rebuild: {timings['fts_s']:.1f} s")
        c.commit()
        if not self.postgresql:
            raw = c.connection.driver_connection
            for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
                raw.execute(f"PRAGMA {pragma}")
        return timings

    def _sequences(self) -> None:
        for table in BIG_TABLES:
            if table == "documents":
                continue
            self.connection.exec_driver_sql(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                f" COALESCE((SELECT max(id) FROM {table}), 0) + 1, false)"
            )


def analyze(engine: Engine) -> float:
    """ANALYZE (SQLite) or VACUUM ANALYZE (PostgreSQL); seconds taken.

    SQLite's ANALYZE is committed explicitly: crm.db begins every transaction itself,
    so a connection in AUTOCOMMIT mode would still roll it back when closed.
    """
    start = time.perf_counter()
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.exec_driver_sql("VACUUM ANALYZE")
    else:
        with engine.connect() as c:
            c.exec_driver_sql("ANALYZE")
            c.commit()
    return time.perf_counter() - start


# --- the whole generation --------------------------------------------------------------


@dataclass
class GenerateStats:
    """What :func:`generate` made and how long each part took."""

    customers: int
    interactions: int
    rows: dict[str, int]
    seconds: dict[str, float]

    @property
    def total_s(self) -> float:
        return sum(self.seconds.values())

    @property
    def interactions_per_s(self) -> float:
        return self.interactions / self.total_s if self.total_s else 0.0

    @property
    def rows_per_s(self) -> float:
        return sum(self.rows.values()) / self.total_s if self.total_s else 0.0


def generate(
    engine: Engine,
    customers: int = 100_000,
    interactions: int = 1_000_000,
    seed: int = 20261123,
    *,
    end: datetime | None = None,
    progress: Progress = print,
) -> GenerateStats:
    """Migrate the empty database behind ``engine`` and fill it (see the module doc).

    ``end``: the newest mail (default: now); the history covers ``YEARS`` years before.
    The rows are made in a child process (:func:`produced`) while this one stores them.
    """
    if customers < 10 or interactions < 1:
        raise ValueError("need at least 10 customers and 1 interaction")
    end = end or datetime.now(UTC).replace(microsecond=0)
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    schema.upgrade(engine)
    seconds["migrate_s"] = time.perf_counter() - start
    with engine.connect() as connection:
        session = LoadSession(connection, progress)
        session.prepare()
        loader = Loader(connection)
        start = time.perf_counter()
        _insert_accounts(connection)
        _load(loader, produced(customers, interactions, seed, end), progress)
        seconds["rows_s"] = time.perf_counter() - start
        seconds.update(session.finish())
    seconds["analyze_s"] = analyze(engine)
    return GenerateStats(customers, interactions, loader.counts, seconds)


Batch = tuple[str, tuple[str, ...], list[Row]]


def batches(customers: int, interactions: int, seed: int, end: datetime) -> Iterator[Batch]:
    """Every generated row, as (table, columns, rows) in the order they can be stored."""
    rng = random.Random(seed)
    people = Customers(rng, customers)
    yield from _chunked("organizations", ORGANIZATION_COLUMNS, people.organization_rows(end))
    yield from _chunked("organization_domains", DOMAIN_COLUMNS, people.domain_rows())
    yield from _chunked("people", PEOPLE_COLUMNS, people.people_rows(end))
    yield from _chunked("contact_points", CONTACT_POINT_COLUMNS, people.contact_point_rows())
    text = Text(rng, seed, pool=min(max(interactions * 40, 400_000), Text.POOL))
    history = History(rng, people, text, end)
    for chunk in history.chunks(interactions):
        yield "interactions", INTERACTION_COLUMNS, chunk.interactions
        yield "participants", PARTICIPANT_COLUMNS, chunk.participants
        yield "interaction_sources", SOURCE_COLUMNS, chunk.sources
        yield "documents", DOCUMENT_COLUMNS, chunk.documents
        yield "attachments", ATTACHMENT_COLUMNS, chunk.attachments
    yield from _chunked("review_items", REVIEW_COLUMNS, history.review_rows())


def _chunked(table: str, columns: tuple[str, ...], rows: Iterator[Row]) -> Iterator[Batch]:
    while batch := list(itertools.islice(rows, CHUNK)):
        yield table, columns, batch


def produced(customers: int, interactions: int, seed: int, end: datetime) -> Iterator[Batch]:
    """:func:`batches`, made in a forked child process: generating the rows (Python) and
    storing them (the database) then use both cores."""
    context = multiprocessing.get_context("fork")
    queue: multiprocessing.queues.Queue[Batch | str | None] = context.Queue(maxsize=10)
    child = context.Process(
        target=_produce, args=(queue, customers, interactions, seed, end), daemon=True
    )
    child.start()
    try:
        while (item := queue.get()) is not None:
            if isinstance(item, str):
                raise RuntimeError(f"the generator failed:\n{item}")
            yield item
        child.join()
    finally:
        if child.is_alive():
            child.terminate()
            child.join()


def _produce(
    queue: multiprocessing.queues.Queue[Batch | str | None],
    customers: int,
    interactions: int,
    seed: int,
    end: datetime,
) -> None:
    """The child process: every batch into ``queue``, then None (or a traceback)."""
    try:
        for batch in batches(customers, interactions, seed, end):
            queue.put(batch)
        queue.put(None)
    except BaseException:
        queue.put(traceback.format_exc())
        raise


def _insert_accounts(connection: Connection) -> None:
    connection.execute(
        insert(Base.metadata.tables["accounts"]),
        [
            {"id": 1, "name": "Bench IMAP", "kind": "imap", "owner": "alice"},
            {"id": 2, "name": "Bench archive", "kind": "files", "owner": "alice"},
        ],
    )


def _load(loader: Loader, source: Iterator[Batch], progress: Progress) -> None:
    """Store every batch; commit every ``COMMIT_EVERY`` interactions and at the end."""
    done, start = 0, time.perf_counter()
    for table, columns, rows in source:
        loader.load(table, columns, rows)
        if table != "interactions":
            continue
        before, done = done, done + len(rows)
        if done // COMMIT_EVERY != before // COMMIT_EVERY:
            loader.connection.commit()
            rate = done / (time.perf_counter() - start)
            progress(f"  {done:,} interactions, {rate:,.0f}/s")
    loader.connection.commit()


# --- databases to generate into --------------------------------------------------------


DEFAULT_PG = "postgresql://postgres@127.0.0.1/test"


def libpq(url: str) -> str:
    """A SQLAlchemy URL as libpq takes it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def sqlalchemy_pg(url: str, database: str) -> str:
    """``url`` pointing at ``database``, with SQLAlchemy's psycopg (3) driver."""
    parsed = make_url(url).set(drivername="postgresql+psycopg", database=database)
    return parsed.render_as_string(hide_password=False)


def postgres_problem(admin_url: str) -> str | None:
    """Why PostgreSQL at ``admin_url`` cannot be used, or None."""
    try:
        with psycopg.connect(libpq(admin_url), connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except (psycopg.Error, ValueError) as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return None


@contextlib.contextmanager
def postgres_database(admin_url: str, name: str, *, keep: bool = False) -> Iterator[str]:
    """A fresh database ``name`` next to ``admin_url``'s (SQLAlchemy URL); dropped after
    unless ``keep``."""
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    with psycopg.connect(libpq(admin_url), autocommit=True, connect_timeout=5) as conn:
        conn.execute(drop)
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield sqlalchemy_pg(admin_url, name)
    finally:
        if not keep:
            with psycopg.connect(libpq(admin_url), autocommit=True, connect_timeout=5) as conn:
                conn.execute(drop)


@contextlib.contextmanager
def sqlite_database(path: Path, *, keep: bool = False) -> Iterator[str]:
    """A fresh SQLite file at ``path`` (URL); removed after unless ``keep``."""
    suffixes = ("", "-wal", "-shm", "-journal")
    for suffix in suffixes:
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    try:
        yield f"sqlite:///{path}"
    finally:
        if not keep:
            for suffix in suffixes:
                Path(f"{path}{suffix}").unlink(missing_ok=True)


def report(label: str, stats: GenerateStats, progress: Progress = print) -> None:
    """Print what was generated and how fast."""
    parts = ", ".join(f"{k[:-2]} {v:.1f}" for k, v in stats.seconds.items())
    progress(
        f"[{label}] generated {stats.customers:,} customers, {stats.interactions:,}"
        f" interactions ({sum(stats.rows.values()):,} rows) in {stats.total_s:.1f} s:"
        f" {stats.interactions_per_s:,.0f} interactions/s, {stats.rows_per_s:,.0f} rows/s"
        f" ({parts} s)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--workdir", type=Path, default=None, help="where the SQLite file goes")
    parser.add_argument("--pg-url", default=os.environ.get("CRMSYNC_TEST_PG", DEFAULT_PG))
    parser.add_argument("--keep", action="store_true", help="keep the database, print its URL")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.gettempdir())
    name = f"crmsync_bench_{os.getpid()}"
    with contextlib.ExitStack() as stack:
        if args.db == "sqlite":
            url = stack.enter_context(sqlite_database(workdir / f"{name}.db", keep=args.keep))
        else:
            url = stack.enter_context(postgres_database(args.pg_url, name, keep=args.keep))
        engine = make_engine(url)
        stack.callback(engine.dispose)
        stats = generate(engine, args.customers, args.interactions, args.seed)
        report(args.db, stats)
        if args.keep:
            print(f"kept: {url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
