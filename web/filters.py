"""Jinja helpers: times (UTC in the markup, the browser's zone on screen), sizes, ages."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from flask import Flask, current_app, request, url_for
from flask_login import current_user
from markupsafe import Markup

from web.settings import WebSettings


def init_app(app: Flask) -> None:
    """Register the filters and the globals every template uses."""
    app.add_template_filter(when)
    app.add_template_filter(age)
    app.add_template_filter(size)
    app.add_template_global(page_url)
    app.context_processor(lambda: {"me": current_user})


def settings() -> WebSettings:
    """The settings of the running app."""
    found: WebSettings = current_app.extensions["crmsync.settings"]
    return found


def when(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> Markup:
    """A ``<time>`` element: UTC text that static/app.js turns into the reader's time."""
    if value is None:
        return Markup("—")
    utc = value.astimezone(UTC)
    return Markup('<time datetime="{iso}">{text} UTC</time>').format(
        iso=utc.isoformat(timespec="seconds"), text=utc.strftime(fmt)
    )


def age(value: datetime | None, now: datetime | None = None) -> str:
    """How long ago, in words: "3 min ago", "2 h ago", "5 days ago"."""
    if value is None:
        return "never"
    seconds = ((now or datetime.now(UTC)) - value).total_seconds()
    if seconds < 0:
        return "in " + _span(-seconds)
    return _span(seconds) + " ago"


def _span(seconds: float) -> str:
    for unit, length in (("day", 86400), ("h", 3600), ("min", 60)):
        if seconds >= length:
            count = int(seconds // length)
            return f"{count} {unit}{'s' if unit == 'day' and count != 1 else ''}"
    return f"{int(seconds)} s"


def size(value: int) -> str:
    """Bytes in words: 980 B, 12 kB, 3.4 MB."""
    if value < 1000:
        return f"{value} B"
    if value < 1_000_000:
        return f"{value / 1000:.0f} kB"
    return f"{value / 1_000_000:.1f} MB"


def page_number(raw: str | None, last: int = 10_000) -> int:
    """A ``?page=`` value as a page number from 1 (anything else is page 1)."""
    return int(raw) if raw and raw.isdigit() and 0 < int(raw) <= last else 1


def customer_url(kind: str, customer_id: int) -> str:
    """The page of a person or an organization."""
    if kind == "person":
        return url_for("customers.person", person_id=customer_id)
    return url_for("customers.organization", organization_id=customer_id)


def page_url(**changes: Any) -> str:
    """This page's URL with some query parameters changed (None removes one)."""
    args = request.args.to_dict()
    for key, value in changes.items():
        if value is None or value == "":
            args.pop(key, None)
        else:
            args[key] = str(value)
    query = urlencode(args)
    return request.path + ("?" + query if query else "")
