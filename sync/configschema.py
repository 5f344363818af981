"""The building blocks of config validation: value checks and the table reader.

A *check* takes the raw TOML value of one key and returns it converted, or
raises :class:`Invalid` saying what is wrong (without the key: the reader adds
it). :func:`read_table` runs a table's checks and collects every problem.
"""

from __future__ import annotations

import contextlib
import difflib
import ipaddress
import json
import re
import shlex
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import phonenumbers

from crm.normalize import InvalidValueError, valid_domain, valid_email

Check = Callable[[Any], Any]


class Invalid(ValueError):
    """Raised by a check; ``errors`` are (sub-path, message) pairs, e.g. ``("[2]", "...")``."""

    def __init__(self, message: str = "", *, errors: list[tuple[str, str]] | None = None) -> None:
        self.errors = errors if errors is not None else [("", message)]
        super().__init__("; ".join(text for _, text in self.errors))


REQUIRED: Any = object()


@dataclass(frozen=True)
class Key:
    """One key of a table: its check and its default (a raw TOML value, checked too)."""

    check: Check
    default: Any = REQUIRED


Schema = Mapping[str, Key]


def join(where: str, key: str) -> str:
    """The key path of ``key`` inside the table at ``where``."""
    return f"{where}.{key}" if where else key


def describe(value: Any) -> str:
    """A value as a person reads it in a message: ``string "abc"``, ``integer 5``."""
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int):
        return f"integer {value}"
    if isinstance(value, float):
        return f"float {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 60 else value[:57] + "..."
        return f"string {json.dumps(shown, ensure_ascii=False)}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return f"a {type(value).__name__}"


def read_table(
    data: Mapping[str, Any], schema: Schema, where: str, problems: list[str]
) -> dict[str, Any]:
    """Every key of ``schema`` read from ``data``: converted, defaulted, ``None`` where invalid.

    Problems go to ``problems`` with their key path. Keys not in ``schema`` are
    left to :func:`report_unknown`.
    """
    values: dict[str, Any] = {}
    for key, spec in schema.items():
        if key not in data and spec.default is REQUIRED:
            problems.append(f"{join(where, key)}: required")
            values[key] = None
            continue
        raw = data.get(key, spec.default)
        try:
            values[key] = None if raw is None else spec.check(raw)
        except Invalid as exc:
            problems.extend(f"{join(where, key)}{at}: {text}" for at, text in exc.errors)
            values[key] = None
    return values


def check_table(
    data: Mapping[str, Any],
    schema: Schema,
    where: str,
    problems: list[str],
    explain: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """:func:`read_table` after :func:`report_unknown`: the whole of a simple table."""
    report_unknown(data, schema, where, problems, explain)
    return read_table(data, schema, where, problems)


def is_table(data: Any, where: str, problems: list[str]) -> bool:
    """True for a TOML table; else the problem is reported."""
    if isinstance(data, dict):
        return True
    problems.append(f"{where}: expected a table, got {describe(data)}")
    return False


def report_unknown(
    data: Mapping[str, Any],
    known: Iterable[str],
    where: str,
    problems: list[str],
    explain: Mapping[str, str] | None = None,
) -> None:
    """Report each key of ``data`` not in ``known``; ``explain`` has messages for some."""
    known = list(known)
    for key in data:
        if key in known:
            continue
        if explain and key in explain:
            problems.append(f"{join(where, key)}: {explain[key]}")
            continue
        close = difflib.get_close_matches(key, known, n=1)
        hint = f' (did you mean "{close[0]}"?)' if close else ""
        problems.append(f"{join(where, key)}: unknown key{hint}")


# -- checks ---------------------------------------------------------------------------


def text(value: Any) -> str:
    """A non-empty string, stripped."""
    if not isinstance(value, str):
        raise Invalid(f"expected a string, got {describe(value)}")
    if not value.strip():
        raise Invalid("must not be empty")
    return value.strip()


def boolean(value: Any) -> bool:
    """``true`` or ``false``."""
    if not isinstance(value, bool):
        raise Invalid(f"expected true or false, got {describe(value)}")
    return value


def integer(low: int, high: int) -> Check:
    """A check for an integer from ``low`` to ``high``."""

    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid(f"expected an integer, got {describe(value)}")
        if not low <= value <= high:
            raise Invalid(f"must be between {low} and {high}, got {value}")
        return value

    return check


def choice(*options: str) -> Check:
    """A check for one of ``options``."""

    def check(value: Any) -> str:
        if value not in options:
            listed = ", ".join(f'"{option}"' for option in options)
            raise Invalid(f"expected one of {listed}, got {describe(value)}")
        return str(value)

    return check


def array_of(item: Check, what: str, *, non_empty: bool = False) -> Check:
    """A check for an array whose items pass ``item``; returns a tuple."""

    def check(value: Any) -> tuple[Any, ...]:
        if not isinstance(value, list):
            raise Invalid(f"expected an array of {what}, got {describe(value)}")
        if non_empty and not value:
            raise Invalid(f"must list at least one of {what}")
        items: list[Any] = []
        errors: list[tuple[str, str]] = []
        for index, raw in enumerate(value):
            try:
                items.append(item(raw))
            except Invalid as exc:
                errors.extend((f"[{index}]{at}", message) for at, message in exc.errors)
        if errors:
            raise Invalid(errors=errors)
        return tuple(items)

    return check


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([dhms])")
_DURATION = re.compile(rf"(?:{_DURATION_PART.pattern}\s*)+")
_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def duration(minimum: float) -> Check:
    """A check for a duration such as ``"30s"``, ``"5m"``, ``"1h30m"``; returns seconds."""

    def check(value: Any) -> float:
        shape = 'a duration such as "30s", "5m", "1h30m"'
        if not isinstance(value, str) or not _DURATION.fullmatch(value.strip().lower()):
            raise Invalid(f"expected {shape}, got {describe(value)}")
        parts = _DURATION_PART.findall(value.lower())
        seconds = sum(float(number) * _SECONDS[unit] for number, unit in parts)
        if seconds < minimum:
            raise Invalid(f"must be at least {minimum:g}s, got {json.dumps(value)}")
        return seconds

    return check


def day(value: Any) -> date:
    """A calendar day: a TOML date (``2024-01-01``) or a string ``"YYYY-MM-DD"``."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
                return date.fromisoformat(value.strip())
    raise Invalid(f'expected a date "YYYY-MM-DD" such as "2024-01-01", got {describe(value)}')


_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*(b|kb|mb|gb|kib|mib|gib)?")
_BYTES = {
    None: 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9,
    "kib": 2**10, "mib": 2**20, "gib": 2**30,
}  # fmt: skip


def size(value: Any) -> int:
    """A size in bytes: an integer, or a string such as ``"25MB"``, ``"512KB"``, ``"1GiB"``."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        found = _SIZE.fullmatch(value.strip().lower()) if isinstance(value, str) else None
        if not found:
            shape = 'a size such as "25MB", "512KB", "1GiB" or a number of bytes'
            raise Invalid(f"expected {shape}, got {describe(value)}")
        number = int(float(found[1]) * _BYTES[found[2]])
    if number < 1:
        raise Invalid(f"must be at least 1 byte, got {describe(value)}")
    return number


_HOSTNAME = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*\.?", re.I)


def hostname(value: Any) -> str:
    """A host name or an IP address (IPv6 without brackets)."""
    host = text(value)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not _HOSTNAME.fullmatch(host):
            raise Invalid(f"not a host name or IP address: {describe(value)}") from None
    return host


def split_listen(listen: str, *, allow_zero: bool = False) -> tuple[str, int]:
    """``"127.0.0.1:8080"`` or ``"[::1]:8080"`` as (host, port); :class:`Invalid` if neither.
    With ``allow_zero``, port 0 (any free port) is accepted."""
    shape = f'expected "host:port" such as "127.0.0.1:8080", got {describe(listen)}'
    host, sep, port = listen.rpartition(":")
    lowest = 0 if allow_zero else 1
    if not sep or not host or not port.isdigit() or not lowest <= int(port) <= 65535:
        raise Invalid(shape)
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise Invalid(f"{shape} (write an IPv6 address in brackets: [::1]:8080)")
    hostname(host)
    return host, int(port)


def listen(value: Any) -> str:
    """A ``host:port`` to listen on."""
    address = text(value)
    split_listen(address)
    return address


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses; no DNS is asked."""
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def env_name(value: Any) -> str:
    """The name of an environment variable.

    The value is never echoed: a person who wrote the secret itself here must
    not find it again in a log.
    """
    name = text(value)
    if not _ENV_NAME.fullmatch(name):
        raise Invalid(
            "not an environment variable name (letters, digits and _); put the secret"
            " in the environment and write the variable's name here"
        )
    return name


def command(value: Any) -> tuple[str, ...]:
    """A command: an array of strings, or one string split like a shell would (no shell runs)."""
    if isinstance(value, str):
        try:
            words = shlex.split(value)
        except ValueError as exc:
            raise Invalid(f"cannot split into words: {exc}") from None
    elif isinstance(value, list) and all(isinstance(word, str) for word in value):
        words = list(value)
    else:
        raise Invalid(f"expected an array of strings or a string, got {describe(value)}")
    if not words or not words[0]:
        raise Invalid("must name a command")
    return tuple(words)


_ACCOUNT_NAME = re.compile(r"[A-Za-z0-9._-]+")


def account_name(value: Any) -> str:
    """An account name: letters, digits, ``.``, ``_`` and ``-``."""
    name = text(value)
    if not _ACCOUNT_NAME.fullmatch(name):
        raise Invalid(f"{describe(value)} may hold only letters, digits, '.', '_' and '-'")
    return name


def domain(value: Any) -> str:
    """A mail domain, lower-cased (``@example.com`` is taken as ``example.com``)."""
    try:
        return valid_domain(text(value))
    except InvalidValueError as exc:
        raise Invalid(f"{describe(value)} is not a valid domain name: {exc.reason}") from None


def email(value: Any) -> str:
    """An e-mail address (syntax only, no DNS), lower-cased."""
    try:
        return valid_email(text(value))
    except InvalidValueError as exc:
        raise Invalid(f"{describe(value)} is not a valid e-mail address: {exc.reason}") from None


def region(value: Any) -> str:
    """A region ``phonenumbers`` knows (ISO 3166 alpha-2, such as ``DE``), upper-cased."""
    code = text(value).upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise Invalid(
            f"{describe(value)} is not a region phonenumbers knows;"
            ' use a two-letter country code such as "DE", "AT" or "US"'
        )
    return code
