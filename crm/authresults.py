"""Whether a mail's sender was authenticated, from its Authentication-Results (RFC 8601).

The logging mailbox files a mail under the customer whose address is in From. A
From is easy to forge, so before an unknown mail creates anything, the receiving
server's verdict is read: a DKIM signature or an SPF pass for a domain aligned
with the sender's, or a DMARC pass for it.

Only the header the receiving server added counts: the topmost one, or those with
the server's own authserv-id when it is configured. Headers further down were
written by servers (or senders) we do not trust, and a forger can add any.

The parser is written here, not taken from the ``authres`` package: that package
rejects Microsoft 365's headers, which carry no authserv-id. It reads the RFC 8601
shape leniently: comments are dropped (nested, with quoted pairs), values may be
quoted, unknown methods and properties are skipped, and a header that cannot be
read is "not usable", never an exception.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["AuthVerdict", "sender_verdict"]

#: Headers longer than this are not read (a real one is well under 4 kB).
_MAX_HEADER = 64 * 1024
# RFC 8601 allows folding whitespace around "=" ("dkim = pass"): joined up before splitting.
_EQUALS = re.compile(r"[ ]*=[ ]*")


@dataclass(frozen=True)
class AuthVerdict:
    """The receiving server's verdict on a sender domain, as a sentence for the review page."""

    checked: bool  # False when no Authentication-Results header was usable
    passed: bool
    reason: str


@dataclass(frozen=True)
class _Result:
    """One ``method=result`` of a header with its ``ptype.property=value`` pairs."""

    method: str
    result: str
    properties: dict[str, str]


@dataclass(frozen=True)
class _Header:
    authserv_id: str  # "" when the server wrote none (Microsoft 365)
    results: tuple[_Result, ...]


def sender_verdict(
    headers: Sequence[str], sender_domain: str, *, authserv_id: str | None = None
) -> AuthVerdict:
    """The verdict for ``sender_domain`` from the values of the Authentication-Results headers.

    ``headers`` are topmost first. Without ``authserv_id`` only the first one is read;
    with it, all those whose authserv-id equals it (case-insensitive), in case the
    server added one per check. A pass is ``dkim=pass`` with ``header.d`` (or the
    domain of ``header.i``) aligned with the sender domain, ``spf=pass`` with the
    ``smtp.mailfrom`` domain aligned (``smtp.helo`` is not the sender), or
    ``dmarc=pass`` with ``header.from`` equal to it. Aligned is DMARC's relaxed
    alignment, simplified: equal, or one a subdomain of the other.
    """
    domain = _domain(sender_domain)
    candidates = list(headers[:1]) if authserv_id is None else list(headers)
    parsed: list[_Header] = []
    for value in candidates:
        header = _parse_header(value)
        if header is None:
            continue
        if authserv_id is not None and header.authserv_id.lower() != authserv_id.lower():
            continue
        parsed.append(header)
    if not parsed:
        where = f" from {authserv_id}" if authserv_id else ""
        return AuthVerdict(False, False, f"no usable Authentication-Results header{where}")
    if not domain:
        return AuthVerdict(True, False, "no sender domain to check")

    results = [result for header in parsed for result in header.results]
    for result in results:
        method = _passing_method(result, domain)
        if method is not None:
            return AuthVerdict(True, True, f"{method} pass for {domain}")
    seen = [_describe(result) for result in results if result.method in ("dkim", "spf", "dmarc")]
    detail = f" ({', '.join(seen)})" if seen else ""
    return AuthVerdict(True, False, f"no DKIM or SPF pass for {domain}{detail}")


def _passing_method(result: _Result, domain: str) -> str | None:
    """ "DKIM", "SPF" or "DMARC" when ``result`` is a pass aligned with ``domain``."""
    if result.result != "pass":
        return None
    props = result.properties
    if result.method == "dkim":
        signer = _domain(props.get("header.d", "")) or _domain(props.get("header.i", ""))
        return "DKIM" if _aligned(signer, domain) else None
    if result.method == "spf":
        # smtp.helo names the sending host, not the sender: it never counts
        return "SPF" if _aligned(_domain(props.get("smtp.mailfrom", "")), domain) else None
    if result.method == "dmarc":
        return "DMARC" if _domain(props.get("header.from", "")) == domain else None
    return None


def _describe(result: _Result) -> str:
    """``spf=softfail``; a pass for another domain says which: ``dkim=pass for other.example``."""
    text = f"{result.method}={result.result}"
    if result.result == "pass":
        key = {"dkim": "header.d", "spf": "smtp.mailfrom", "dmarc": "header.from"}[result.method]
        other = _domain(result.properties.get(key, ""))
        if not other and result.method == "dkim":
            other = _domain(result.properties.get("header.i", ""))
        if other:
            text += f" for {other}"
    return text


def _domain(value: str) -> str:
    """The domain of an address, ``@domain`` or domain, lower-case without a final dot."""
    value = value.strip().strip("<>").strip()
    if "@" in value:
        value = value.rsplit("@", 1)[1]
    return value.rstrip(".").lower()


def _aligned(signer: str, domain: str) -> bool:
    """Relaxed alignment: the same domain, or one a subdomain of the other.

    A bare top-level domain (``com``) aligns with nothing: a signature for it would
    otherwise vouch for every domain below it.
    """
    if not signer or not domain or "." not in signer or "." not in domain:
        return False
    return signer == domain or signer.endswith("." + domain) or domain.endswith("." + signer)


def _parse_header(value: str) -> _Header | None:
    """One header value, or None when it holds no ``method=result`` at all."""
    if len(value) > _MAX_HEADER:
        return None
    text = _EQUALS.sub("=", _without_comments(" ".join(value.split())))
    if text.lower().startswith("authentication-results:"):
        text = text.split(":", 1)[1]
    parts = [part.strip() for part in _split_unquoted(text, ";")]
    if not parts or not parts[0]:
        return None
    first = parts[0].split()
    authserv_id = ""
    if "=" not in first[0]:
        # authserv-id [version]; Microsoft writes none and starts with a result
        authserv_id = first[0].lower()
        parts = parts[1:]
    results: list[_Result] = []
    for part in parts:
        result = _parse_result(part)
        if result is not None:
            results.append(result)
    if not results:
        # "mx.example.com; none" says that nothing was checked: not usable either
        return None
    return _Header(authserv_id, tuple(results))


def _parse_result(part: str) -> _Result | None:
    """``method[/version]=result ptype.property=value ...``; None when not of that shape."""
    tokens = _split_unquoted(part, " ")
    tokens = [token for token in tokens if token]
    if not tokens:
        return None
    method, equals, result = tokens[0].partition("=")
    method = method.split("/", 1)[0].strip().lower()
    result = _unquote(result).lower()
    if not equals or not method or not result or not method.replace("-", "").isalnum():
        return None
    properties: dict[str, str] = {}
    for token in tokens[1:]:
        name, equals, prop_value = token.partition("=")
        name = name.strip().lower()
        if not equals or "." not in name:
            continue  # reason=..., action=none and the like
        properties.setdefault(name, _unquote(prop_value))
    return _Result(method, result, properties)


def _without_comments(text: str) -> str:
    """``text`` without its (possibly nested) parenthesised comments, quoted strings kept."""
    out: list[str] = []
    depth = 0
    quoted = False
    escaped = False
    for char in text:
        if escaped:
            escaped = False
            if depth == 0:
                out.append(char)
            continue
        if char == "\\" and (quoted or depth):
            escaped = True
            if depth == 0:
                out.append(char)
            continue
        if quoted:
            out.append(char)
            if char == '"':
                quoted = False
            continue
        if char == "(":
            depth += 1
            continue
        if char == ")" and depth:
            depth -= 1
            if depth == 0:
                out.append(" ")
            continue
        if depth:
            continue
        if char == '"':
            quoted = True
        out.append(char)
    return "".join(out)


def _split_unquoted(text: str, separator: str) -> list[str]:
    """``text`` cut at ``separator`` outside double quotes."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return value
