"""Duplicate customers: finding likely pairs, merging a pair, dismissing a pair.

Detection
---------
:func:`find_duplicates` proposes pairs of people and pairs of organizations with the
evidence for each (a list of reasons) and a score between 0 and 1. It never compares
all pairs: customers are grouped into *blocks* that share a key, and only the members
of one block are compared:

- people: the same phone number (E.164), the same e-mail address once written the same
  way (``+tags`` dropped, dots of Gmail ignored), the same normalized name, and, inside
  one organization, a shared name token (then the names are compared with difflib);
- organizations: the same phone number, the same normalized name (legal forms such as
  GmbH, AG, Ltd or Inc left out), a shared domain (an organization domain, the host of
  the web site, or the domain of its people's addresses; never a free-mail domain), and
  a shared name token (compared with difflib).

Names are normalized by :func:`name_key`: case folded, accents dropped (``unicodedata``),
punctuation gone, titles (Dr., Prof., Herr, Frau, Mr., Ms., ...) and, for
organizations, legal forms dropped; the tokens are sorted, so that "Petersen, Jana" and
"Jana Petersen" have one key. Two people with the same first name in different
organizations are never a pair by name: names are compared inside one organization, or
as a whole (the full key) when one of the two has no organization.

Pairs in ``duplicate_dismissals`` and pairs already merged (``customer_merges``) are
never proposed.

Merging
-------
:func:`merge` makes two records one: see its docstring. It goes through the ORM so that
:mod:`crm.changes` sees it: the kept card is changed, the merged one leaves a tombstone.

Before creating
---------------
:func:`likely_existing` (people) and :func:`likely_existing_organization` are the checks
the imports and the contact sources make before they create a customer.
"""

from __future__ import annotations

import difflib
import json
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any, Literal
from urllib.parse import urlsplit

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from crm import audit
from crm.changes import next_value
from crm.matching import MatchPolicy
from crm.models import (
    ContactPoint,
    CustomerFieldSource,
    CustomerMerge,
    DuplicateDismissal,
    FollowUp,
    MatchRule,
    Organization,
    OrganizationDomain,
    Participant,
    Person,
)
from crm.normalize import domain_of, email_key

Kind = Literal["person", "organization"]
KINDS: tuple[Kind, ...] = ("person", "organization")
DEFAULT_LIMIT = 200
#: a block larger than this (a switchboard number shared by a whole company, a very
#: common name token) is too weak to compare all its pairs
MAX_BLOCK = 60
#: difflib ratio of two sorted-token names from which they count as similar
SIMILAR = 0.85

TITLES = frozenset(
    {"dr", "prof", "professor", "herr", "frau", "hr", "fr", "mr", "mrs", "ms", "miss", "mx"}
    | {"dipl", "ing", "med", "rer", "nat", "phil", "jur", "mag", "sir", "dame", "madame"}
    | {"monsieur", "mme", "mlle", "sr", "sra", "jr", "jun", "sen", "phd", "mba", "msc", "bsc"}
)
LEGAL_FORMS = frozenset(
    {"gmbh", "mbh", "ag", "kg", "kgaa", "ohg", "gbr", "ug", "ev", "eg", "se", "co", "und"}
    | {"haftungsbeschrankt", "ltd", "limited", "inc", "incorporated", "llc", "llp", "plc"}
    | {"corp", "corporation", "company", "sa", "sarl", "sas", "bv", "nv", "ab", "as", "asa"}
    | {"oy", "oyj", "spa", "srl", "aps", "kft", "sro", "zoo", "sp", "pty", "the"}
)
_FOLD = str.maketrans({"ß": "ss", "æ": "ae", "ø": "o", "œ": "oe", "ł": "l", "đ": "d", "þ": "th"})
_DOTTED = re.compile(r"\b(e\.\s?v|e\.\s?g|s\.\s?a|b\.\s?v|n\.\s?v|u\.\s?g|s\.\s?r\.\s?o)\.?", re.I)
_NOT_WORD = re.compile(r"[\W_]+")
_GMAIL = frozenset({"gmail.com", "googlemail.com"})


# -- names -------------------------------------------------------------------------------


def fold(text: str) -> str:
    """Lower case without accents: ``Jürgen Groß`` -> ``jurgen gross``."""
    text = text.casefold().translate(_FOLD)
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def name_tokens(name: str, kind: Kind = "person") -> list[str]:
    """The significant words of a name, folded, sorted (titles, legal forms left out)."""
    if kind == "organization":
        name = _DOTTED.sub(lambda m: m[0].replace(".", "").replace(" ", ""), name)
    words = [w for w in _NOT_WORD.split(fold(name)) if w]
    drop = TITLES if kind == "person" else LEGAL_FORMS
    kept = [w for w in words if w not in drop]
    return sorted(kept or words)


def name_key(name: str, kind: Kind = "person") -> str:
    """The key two spellings of one name share: "Petersen, Jana" == "Dr. Jana Petersen"."""
    return " ".join(name_tokens(name, kind))


def similarity(a: str, b: str) -> float:
    """difflib's ratio of two name keys (sorted tokens): 1.0 is the same name."""
    if not a or not b:
        return 0.0
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def names_agree(a: str, b: str, kind: Kind = "person") -> bool:
    """Whether two names can be one customer's: the same key, similar keys, or one's
    words all in the other ("Jana" and "Jana Petersen"); an empty name agrees."""
    ka, kb = name_key(a, kind), name_key(b, kind)
    if not ka or not kb or ka == kb:
        return True
    ta, tb = set(ka.split()), set(kb.split())
    return ta <= tb or tb <= ta or similarity(ka, kb) >= SIMILAR


def canonical_email(address: str) -> str:
    """An address as its mailbox: ``+tag`` dropped, Gmail's dots ignored."""
    local, _, domain = email_key(address).rpartition("@")
    local = local.split("+", 1)[0]
    if domain in _GMAIL:
        local, domain = local.replace(".", ""), "gmail.com"
    return f"{local}@{domain}"


def website_domain(url: str) -> str:
    """The host of a web address without ``www.``: ``https://www.nordwind.de/`` is
    ``nordwind.de``."""
    url = url.strip().lower()
    if not url:
        return ""
    host = urlsplit(url if "//" in url else "//" + url).hostname or ""
    return host.removeprefix("www.").rstrip(".")


# -- detection ---------------------------------------------------------------------------


@dataclass
class Side:
    """One record of a candidate pair, as the review page shows it."""

    id: int
    name: str
    organization: str = ""
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    domains: list[str] = field(default_factory=list)


@dataclass
class Candidate:
    """A likely duplicate pair (``a.id < b.id``), why, and how likely (0..1)."""

    kind: Kind
    a: Side
    b: Side
    reasons: list[str]
    score: float

    @property
    def ids(self) -> tuple[int, int]:
        return self.a.id, self.b.id

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "score": round(self.score, 2),
            "reasons": self.reasons,
            "a": vars(self.a),
            "b": vars(self.b),
        }


class _Pairs:
    """Evidence collected per pair: reasons and the score they add up to."""

    def __init__(self, excluded: set[tuple[int, int]]) -> None:
        self.excluded = excluded
        self.found: dict[tuple[int, int], tuple[list[str], float]] = {}

    def add(self, a: int, b: int, reason: str, weight: float) -> None:
        pair = (min(a, b), max(a, b))
        if a == b or pair in self.excluded:
            return
        reasons, score = self.found.get(pair, ([], 0.0))
        if reason not in reasons:
            reasons.append(reason)
            score = 1 - (1 - score) * (1 - weight)  # independent evidence adds up
        self.found[pair] = (reasons, score)

    def block(self, members: Iterable[int], reason: str, weight: float) -> None:
        ids = sorted(set(members))
        if 1 < len(ids) <= MAX_BLOCK:
            for a, b in combinations(ids, 2):
                self.add(a, b, reason, weight)


def _excluded(session: Session, kind: Kind) -> set[tuple[int, int]]:
    pairs = {
        (first, second)
        for first, second in session.execute(
            select(DuplicateDismissal.first_id, DuplicateDismissal.second_id).where(
                DuplicateDismissal.kind == kind
            )
        )
    }
    for kept, merged in session.execute(
        select(CustomerMerge.kept_id, CustomerMerge.merged_id).where(CustomerMerge.kind == kind)
    ):
        pairs.add((min(kept, merged), max(kept, merged)))
    return pairs


def _points(session: Session, column: Any) -> dict[int, list[tuple[str, str]]]:
    found: dict[int, list[tuple[str, str]]] = defaultdict(list)
    rows = session.execute(
        select(column, ContactPoint.kind, ContactPoint.value)
        .where(column.is_not(None))
        .order_by(ContactPoint.id)
    )
    for owner, kind, value in rows:
        found[owner].append((kind, value))
    return found


def find_duplicates(
    session: Session,
    *,
    kind: Kind | None = None,
    limit: int = DEFAULT_LIMIT,
    policy: MatchPolicy | None = None,
) -> list[Candidate]:
    """Likely duplicate pairs, the most likely first (see the module docstring).

    ``policy`` says which domains are free mail (never evidence); the default knows the
    maintained list of free-mail domains.
    """
    policy = policy or MatchPolicy()
    found: list[Candidate] = []
    if kind in (None, "person"):
        found += _people_pairs(session)
    if kind in (None, "organization"):
        found += _organization_pairs(session, policy)
    found.sort(key=lambda c: (-c.score, c.kind, c.a.name.casefold(), c.a.id, c.b.id))
    return found[:limit]


def _people_pairs(session: Session) -> list[Candidate]:
    people = session.execute(
        select(
            Person.id,
            Person.display_name,
            Person.given_name,
            Person.family_name,
            Person.organization_id,
        )
    ).all()
    org_names: dict[int, str] = {
        org_id: name for org_id, name in session.execute(select(Organization.id, Organization.name))
    }
    points = _points(session, ContactPoint.person_id)
    pairs = _Pairs(_excluded(session, "person"))
    names: dict[int, str] = {}
    keys: dict[int, str] = {}
    by_phone: dict[str, list[int]] = defaultdict(list)
    by_mailbox: dict[str, list[tuple[int, str]]] = defaultdict(list)
    by_key: dict[str, list[int]] = defaultdict(list)
    by_org_token: dict[tuple[int, str], list[int]] = defaultdict(list)
    for pid, display, given, family, org_id in people:
        name = display or f"{given} {family}".strip()
        names[pid] = name
        keys[pid] = key = name_key(name)
        if key:
            by_key[key].append(pid)
        if org_id is not None:
            for token in set(key.split()):
                if len(token) >= 2:
                    by_org_token[(org_id, token)].append(pid)
        for point_kind, value in points.get(pid, ()):
            if point_kind == "phone":
                by_phone[value].append(pid)
            else:
                by_mailbox[canonical_email(value)].append((pid, value))
    org_of = {pid: org_id for pid, _, _, _, org_id in people}
    for number, ids in by_phone.items():
        pairs.block(ids, f"same phone {number}", 0.6)
    for _, held in by_mailbox.items():
        if len(held) > 1:
            addresses = " / ".join(sorted({value for _, value in held}))
            pairs.block([pid for pid, _ in held], f"same e-mail address {addresses}", 0.9)
    for ids in by_key.values():
        if len(ids) < 2 or len(ids) > MAX_BLOCK:
            continue
        for a, b in combinations(sorted(ids), 2):
            oa, ob = org_of[a], org_of[b]
            shown = f"'{names[a]}' / '{names[b]}'" if names[a] != names[b] else f"'{names[a]}'"
            if oa is not None and oa == ob:
                same = "same name" if names[a] == names[b] else "similar names"
                pairs.add(a, b, f"{same} in {org_names.get(oa, '?')}: {shown}", 0.9)
            elif oa is None or ob is None:
                pairs.add(a, b, f"same name {shown}, one without organization", 0.5)
    for (org_id, _), ids in by_org_token.items():
        if len(ids) < 2 or len(ids) > MAX_BLOCK:
            continue
        for a, b in combinations(sorted(ids), 2):
            if keys[a] == keys[b]:
                continue  # counted above
            ratio = similarity(keys[a], keys[b])
            if ratio >= SIMILAR:
                reason = (
                    f"similar names in {org_names.get(org_id, '?')}: '{names[a]}' / '{names[b]}'"
                )
                pairs.add(a, b, reason, 0.4 + 0.5 * (ratio - SIMILAR) / (1 - SIMILAR))

    def side(pid: int) -> Side:
        org_id = org_of[pid]
        held = points.get(pid, [])
        return Side(
            pid,
            names[pid],
            org_names.get(org_id, "") if org_id is not None else "",
            emails=[v for k, v in held if k == "email"],
            phones=[v for k, v in held if k == "phone"],
        )

    return [
        Candidate("person", side(a), side(b), reasons, score)
        for (a, b), (reasons, score) in pairs.found.items()
    ]


def _organization_pairs(session: Session, policy: MatchPolicy) -> list[Candidate]:
    orgs = session.execute(select(Organization.id, Organization.name, Organization.website)).all()
    points = _points(session, ContactPoint.organization_id)
    pairs = _Pairs(_excluded(session, "organization"))
    own_domains: dict[int, list[str]] = defaultdict(list)
    for org_id, domain in session.execute(
        select(OrganizationDomain.organization_id, OrganizationDomain.domain).order_by(
            OrganizationDomain.id
        )
    ):
        own_domains[org_id].append(domain)
    # where each organization's domains come from: its own, its web site, its people
    sources: dict[str, dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
    for org_id, domains in own_domains.items():
        for domain in domains:
            sources[domain][org_id].add("organization domain")
    names: dict[int, str] = {}
    keys: dict[int, str] = {}
    by_key: dict[str, list[int]] = defaultdict(list)
    by_token: dict[str, list[int]] = defaultdict(list)
    by_phone: dict[str, list[int]] = defaultdict(list)
    for org_id, name, website in orgs:
        names[org_id] = name
        keys[org_id] = key = name_key(name, "organization")
        if key:
            by_key[key].append(org_id)
            for token in set(key.split()):
                if len(token) >= 3:
                    by_token[token].append(org_id)
        host = website_domain(website or "")
        if host and not policy.is_free_mail(host):
            sources[host][org_id].add("web site")
        for point_kind, value in points.get(org_id, ()):
            if point_kind == "phone":
                by_phone[value].append(org_id)
            else:
                domain = domain_of(value)
                if domain and not policy.is_free_mail(domain):
                    sources[domain][org_id].add("addresses")
    people_mail = session.execute(
        select(Person.organization_id, ContactPoint.value)
        .join(ContactPoint, ContactPoint.person_id == Person.id)
        .where(Person.organization_id.is_not(None), ContactPoint.kind == "email")
    )
    for person_org, address in people_mail:
        domain = domain_of(address)
        if person_org is not None and domain and not policy.is_free_mail(domain):
            sources[domain][person_org].add("their people's addresses")
    for number, ids in by_phone.items():
        pairs.block(ids, f"same phone {number}", 0.6)
    for domain, held in sources.items():
        if len(held) < 2 or len(held) > MAX_BLOCK:
            continue
        for a, b in combinations(sorted(held), 2):
            why = sorted(held[a] | held[b])
            weight = 0.9 if "organization domain" in held[a] | held[b] else 0.7
            pairs.add(a, b, f"same domain {domain}: {' / '.join(why)}", weight)
    for ids in by_key.values():
        if len(ids) > 1:
            shown = " / ".join(f"'{names[i]}'" for i in sorted(ids)[:2])
            pairs.block(ids, f"same name {shown}", 0.8)
    for _, ids in by_token.items():
        if len(ids) < 2 or len(ids) > MAX_BLOCK:
            continue
        for a, b in combinations(sorted(ids), 2):
            if keys[a] == keys[b]:
                continue
            ratio = similarity(keys[a], keys[b])
            if ratio >= SIMILAR:
                reason = f"similar names '{names[a]}' / '{names[b]}'"
                pairs.add(a, b, reason, 0.4 + 0.4 * (ratio - SIMILAR) / (1 - SIMILAR))

    def side(org_id: int) -> Side:
        held = points.get(org_id, [])
        return Side(
            org_id,
            names[org_id],
            emails=[v for k, v in held if k == "email"],
            phones=[v for k, v in held if k == "phone"],
            domains=own_domains.get(org_id, []),
        )

    return [
        Candidate("organization", side(a), side(b), reasons, score)
        for (a, b), (reasons, score) in pairs.found.items()
    ]


# -- before creating ---------------------------------------------------------------------


@dataclass(frozen=True)
class Existing:
    """A stored customer a new record most likely is, and why."""

    customer: Person | Organization
    reason: str


def existing_person(
    session: Session,
    *,
    name: str,
    emails: Sequence[str] = (),
    phones: Sequence[str] = (),
    organization: Organization | str | None = None,
    external_id: str = "",
) -> Existing | None:
    """The stored person a new one most likely is, with the reason; None if nobody.

    ``emails`` and ``phones`` are normalized (lower-case, E.164). In order: the owner of
    one of the addresses; the one person who has one of the numbers, if the names agree
    (:func:`names_agree`: a switchboard number of a colleague is not enough); the one
    person of the same organization whose name has the same key. A person with another
    ``external_id`` than the record's is a different record of its source: never found.
    """

    def eligible(person: Person) -> bool:
        return not external_id or person.external_id in (None, external_id)

    if emails:
        for point in session.scalars(
            select(ContactPoint).where(
                ContactPoint.kind == "email",
                ContactPoint.value.in_([email_key(e) for e in emails]),
                ContactPoint.person_id.is_not(None),
            )
        ):
            if point.person is not None and eligible(point.person):
                return Existing(point.person, f"same e-mail address {point.value}")
    if phones:
        holders: dict[int, tuple[Person, str]] = {}
        for point in session.scalars(
            select(ContactPoint).where(
                ContactPoint.kind == "phone",
                ContactPoint.value.in_(list(phones)),
                ContactPoint.person_id.is_not(None),
            )
        ):
            if point.person is not None:
                holders.setdefault(point.person.id, (point.person, point.value))
        fitting = [
            (p, number)
            for p, number in holders.values()
            if eligible(p) and names_agree(p.display_name, name)
        ]
        if len(fitting) == 1:
            person, number = fitting[0]
            return Existing(person, f"same phone {number}")
    org = _organization(session, organization)
    key = name_key(name)
    if org is not None and key:
        rows = session.execute(
            select(Person.id, Person.display_name, Person.given_name, Person.family_name).where(
                Person.organization_id == org.id
            )
        )
        ids = [
            pid
            for pid, display, given, family in rows
            if name_key(display or f"{given} {family}") == key
        ]
        same = [
            p for p in (session.get(Person, pid) for pid in ids) if p is not None and eligible(p)
        ]
        if len(same) == 1:
            return Existing(same[0], f"same name in {org.name}: '{same[0].display_name}'")
    return None


def _organization(session: Session, organization: Organization | str | None) -> Organization | None:
    if organization is None or isinstance(organization, Organization):
        return organization
    if not organization.strip():
        return None
    found = existing_organization(session, name=organization)
    return (
        found.customer if found is not None and isinstance(found.customer, Organization) else None
    )


def likely_existing(
    session: Session,
    *,
    name: str,
    emails: Sequence[str] = (),
    phones: Sequence[str] = (),
    organization: Organization | str | None = None,
) -> Person | None:
    """The stored person a new one most likely is (:func:`existing_person`), or None."""
    found = existing_person(
        session, name=name, emails=emails, phones=phones, organization=organization
    )
    return found.customer if found is not None and isinstance(found.customer, Person) else None


def existing_organization(
    session: Session,
    *,
    name: str,
    domains: Sequence[str] = (),
    website: str = "",
    phones: Sequence[str] = (),
    external_id: str = "",
) -> Existing | None:
    """The stored organization a new one most likely is, with the reason; None if none.

    In order: the owner of one of the ``domains`` (or of the web site's domain); the one
    organization whose name has the same key (legal forms left out: "Nordwind Logistik"
    is "Nordwind Logistik GmbH"); the one organization with one of the ``phones``.
    """

    def eligible(org: Organization) -> bool:
        return not external_id or org.external_id in (None, external_id)

    wanted = [d.lower() for d in domains]
    host = website_domain(website)
    if host:
        wanted.append(host)
    if wanted:
        for owned in session.scalars(
            select(OrganizationDomain).where(OrganizationDomain.domain.in_(wanted))
        ):
            if eligible(owned.organization):
                return Existing(owned.organization, f"same domain {owned.domain}")
    key = name_key(name, "organization")
    if key:
        # a prefilter: every word of the key is in the name (a piece of it, at least);
        # the key decides
        lowered = func.lower(Organization.name)
        query = select(Organization).where(
            *(or_(*(lowered.contains(p) for p in _pieces(word))) for word in key.split())
        )
        same = [
            o
            for o in session.scalars(query)
            if name_key(o.name, "organization") == key and eligible(o)
        ]
        if len(same) == 1:
            return Existing(same[0], f"same name '{same[0].name}'")
    if phones:
        holders = {
            p.organization.id: (p.organization, p.value)
            for p in session.scalars(
                select(ContactPoint).where(
                    ContactPoint.kind == "phone",
                    ContactPoint.value.in_(list(phones)),
                    ContactPoint.organization_id.is_not(None),
                )
            )
            if p.organization is not None and eligible(p.organization)
        }
        if len(holders) == 1:
            org, number = next(iter(holders.values()))
            return Existing(org, f"same phone {number}")
    return None


def _pieces(word: str, size: int = 3, most: int = 6) -> list[str]:
    """Short pieces of a name key's word that a stored spelling of the word contains
    whatever its accents and case: SQLite's lower() knows ASCII letters only, and
    "orsted" is not in "ørsted", but "ste" is."""
    if len(word) <= size:
        return [word]
    pieces = list(dict.fromkeys(word[i : i + size] for i in range(len(word) - size + 1)))
    if len(pieces) > most:
        step = len(pieces) / most
        pieces = [pieces[int(i * step)] for i in range(most)]
    return pieces


def likely_existing_organization(
    session: Session,
    *,
    name: str,
    domains: Sequence[str] = (),
    website: str = "",
    phones: Sequence[str] = (),
) -> Organization | None:
    """The stored organization a new one most likely is, or None."""
    found = existing_organization(
        session, name=name, domains=domains, website=website, phones=phones
    )
    if found is None or not isinstance(found.customer, Organization):
        return None
    return found.customer


# -- merging -----------------------------------------------------------------------------


class MergeError(ValueError):
    """Raised when two records cannot be merged (unknown, the same, wrong kind)."""


@dataclass
class MergeResult:
    """What a merge did: the kept record, the merged one's UID and name, what moved."""

    kind: Kind
    kept_id: int
    kept_name: str
    merged_id: int
    merged_uid: str
    merged_name: str
    details: dict[str, Any]

    def summary(self) -> str:
        """One line for a flash message or the command line."""
        d = self.details
        parts = [
            f"{len(d['emails'])} e-mail address(es)",
            f"{len(d['phones'])} phone number(s)",
            f"{len(d['categories'])} categor(ies)",
            f"{d['participants']} timeline link(s)",
            f"{d['follow_ups']} follow-up(s)",
            f"{d['field_sources']} field source(s)",
        ]
        if self.kind == "organization":
            parts += [f"{len(d['domains'])} domain(s)", f"{len(d['people'])} people"]
        if d["filled"]:
            parts.append("filled: " + ", ".join(d["filled"]))
        return (
            f"'{self.merged_name}' merged into '{self.kept_name}': moved " + ", ".join(parts) + "."
        )


PERSON_FIELDS = ("given_name", "family_name", "title", "website", "iban", "bic", "vat_id")
ORGANIZATION_FIELDS = ("website", "iban", "bic", "vat_id")
ADDRESS = ("street", "locality", "region", "postal_code", "country")


def _load(session: Session, kind: Kind, record_id: int) -> Person | Organization:
    found: Person | Organization | None = (
        session.get(Person, record_id) if kind == "person" else session.get(Organization, record_id)
    )
    if found is None:
        raise MergeError(f"no {kind} {record_id}")
    return found


def _name(record: Person | Organization) -> str:
    return record.display_name if isinstance(record, Person) else record.name


def merge(session: Session, kind: str, keep_id: int, merge_id: int, actor: str) -> MergeResult:
    """Merge record ``merge_id`` into ``keep_id`` (both people or both organizations).

    Moves every e-mail address and phone number (a number the kept record has already
    is kept once), category (once, case-insensitive), organization domain, person (an
    organization's people), timeline link (participants), follow-up, field source
    (``customer_field_sources``) and match rule; fills the kept record's empty fields
    from the merged one (never overwriting; the postal address as a whole; notes are
    appended); takes the merged ``external_id`` if the kept record has none (else it is
    noted in the details); records a :class:`CustomerMerge` and an audit entry
    ``person.merge`` / ``organization.merge``; deletes the merged record through the ORM
    (a tombstone for its card) and changes the kept card. The caller commits.
    """
    if kind not in KINDS:
        raise MergeError(f"kind {kind!r}: expected person or organization")
    if keep_id == merge_id:
        raise MergeError("a record cannot be merged into itself")
    typed: Kind = "person" if kind == "person" else "organization"
    keep, gone = _load(session, typed, keep_id), _load(session, typed, merge_id)
    details: dict[str, Any] = {
        "emails": [],
        "phones": [],
        "phones_already_there": [],
        "categories": [],
        "domains": [],
        "people": [],
        "filled": [],
    }
    owner_column = "person" if typed == "person" else "organization"
    have_phones = {p.value for p in keep.contact_points if p.kind == "phone"}
    for point in list(gone.contact_points):
        if point.kind == "phone" and point.value in have_phones:
            details["phones_already_there"].append(point.value)
            gone.contact_points.remove(point)  # delete-orphan: deleted
            continue
        setattr(point, owner_column, keep)
        details["emails" if point.kind == "email" else "phones"].append(point.value)
        have_phones.add(point.value)
    have_categories = {c.name.casefold() for c in keep.categories}
    for category in list(gone.categories):
        if category.name.casefold() in have_categories:
            gone.categories.remove(category)
            continue
        setattr(category, owner_column, keep)
        have_categories.add(category.name.casefold())
        details["categories"].append(category.name)
    if isinstance(keep, Organization) and isinstance(gone, Organization):
        for domain in list(gone.domains):
            domain.organization = keep
            details["domains"].append(domain.domain)
        for person in session.scalars(
            select(Person).where(Person.organization_id == gone.id).order_by(Person.id)
        ):
            person.organization = keep
            details["people"].append(person.id)
    details["filled"] = _fill(keep, gone)
    # rows the ORM does not hold as collections: moved with UPDATEs
    model_column = {
        "participants": (Participant, f"{owner_column}_id"),
        "follow_ups": (FollowUp, f"{owner_column}_id"),
        "field_sources": (CustomerFieldSource, f"{owner_column}_id"),
        "match_rules": (MatchRule, f"{owner_column}_id"),
    }
    session.flush()
    for name, (model, column) in model_column.items():
        result = session.execute(
            update(model)
            .where(getattr(model, column) == gone.id)
            .values({column: keep.id})
            .execution_options(synchronize_session="fetch")
        )
        details[name] = int(getattr(result, "rowcount", 0) or 0)
    if gone.external_id:
        if keep.external_id:
            details["merged_external_id"] = gone.external_id
        else:
            value, gone.external_id = gone.external_id, None
            session.flush()  # free the unique value first
            keep.external_id = value
            details["external_id_taken"] = value
    merged_uid, merged_name = gone.uid, _name(gone)
    session.add(
        CustomerMerge(
            kind=typed,
            kept_id=keep.id,
            merged_id=gone.id,
            merged_uid=merged_uid,
            merged_name=merged_name[:255],
            merged_by=actor[:128],
            details=json.dumps(details, ensure_ascii=False, sort_keys=True),
        )
    )
    audit.record(
        session,
        actor,
        f"{typed}.merge",
        f"{typed}:{keep.id} {_name(keep)}",
        merged_id=gone.id,
        merged_uid=merged_uid,
        merged_name=merged_name,
        **details,
    )
    # dismissals of the merged record mean nothing any more
    session.execute(
        delete(DuplicateDismissal).where(
            DuplicateDismissal.kind == typed,
            or_(DuplicateDismissal.first_id == gone.id, DuplicateDismissal.second_id == gone.id),
        )
    )
    session.delete(gone)
    session.flush()  # the tombstone of the merged card (crm.changes)
    keep.card_seq = next_value(session)  # the kept card changed, whatever moved
    session.flush()
    return MergeResult(typed, keep.id, _name(keep), merge_id, merged_uid, merged_name, details)


def _fill(keep: Person | Organization, gone: Person | Organization) -> list[str]:
    """Fill the kept record's empty fields from the merged one; the names of those filled."""
    filled = []
    names = PERSON_FIELDS if isinstance(keep, Person) else ORGANIZATION_FIELDS
    for name in names:
        value = getattr(gone, name)
        if value and not getattr(keep, name):
            setattr(keep, name, value)
            filled.append(name)
    if not any(getattr(keep, a) for a in ADDRESS) and any(getattr(gone, a) for a in ADDRESS):
        for name in ADDRESS:
            setattr(keep, name, getattr(gone, name))
        filled.append("address")
    if (
        isinstance(keep, Person)
        and isinstance(gone, Person)
        and keep.organization_id is None
        and gone.organization_id is not None
    ):
        keep.organization_id = gone.organization_id
        filled.append("organization")
    if (
        isinstance(keep, Organization)
        and isinstance(gone, Organization)
        and keep.owner_id is None
        and gone.owner_id is not None
    ):
        keep.owner_id = gone.owner_id
        filled.append("owner")
    if gone.notes and gone.notes not in keep.notes:
        if keep.notes:
            keep.notes = f"{keep.notes}\n\n[merged from {_name(gone)}]\n{gone.notes}"
            filled.append("notes (appended)")
        else:
            keep.notes = gone.notes
            filled.append("notes")
    return filled


# -- dismissing --------------------------------------------------------------------------


def dismiss(session: Session, kind: str, a_id: int, b_id: int, actor: str) -> DuplicateDismissal:
    """Note that two records are different customers: the pair is never proposed again."""
    if kind not in KINDS:
        raise MergeError(f"kind {kind!r}: expected person or organization")
    if a_id == b_id:
        raise MergeError("a record is not a duplicate of itself")
    typed: Kind = "person" if kind == "person" else "organization"
    first, second = sorted((a_id, b_id))
    _load(session, typed, first), _load(session, typed, second)
    existing = session.scalars(
        select(DuplicateDismissal).filter_by(kind=typed, first_id=first, second_id=second)
    ).first()
    if existing is not None:
        return existing
    row = DuplicateDismissal(kind=typed, first_id=first, second_id=second, dismissed_by=actor[:128])
    session.add(row)
    audit.record(
        session, actor, f"{typed}.not_duplicate", f"{typed}:{first}", first=first, second=second
    )
    session.flush()
    return row
