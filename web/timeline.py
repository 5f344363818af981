"""The admin's unified timeline, and what every timeline entry links to: the mail body
(a separate, sandboxed document) and its attachments."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, Response, abort, render_template, request, send_file
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import MultiDict

from crm.accounts import list_accounts
from crm.archive import Archive
from crm.models import Attachment, Interaction
from crm.timeline import (
    DIRECTIONS,
    KINDS,
    BadCursorError,
    Customer,
    TimelineFilter,
    TimelinePage,
    timeline_page,
)
from web import db
from web.auth import role_required
from web.filters import settings
from web.safehtml import body_csp, sanitize_mail_html, text_to_html, wrap_document

bp = Blueprint("timeline", __name__)
PAGE_SIZE = 50


class FilterForm:
    """The filter bar's values, read leniently from the query string: a value that makes no
    sense is dropped and named in ``problems``."""

    def __init__(self, args: MultiDict[str, str]) -> None:
        self.problems: list[str] = []
        self.kind = args.get("kind", "") if args.get("kind", "") in KINDS else ""
        self.direction = args.get("direction", "")
        if self.direction not in DIRECTIONS:
            self.direction = ""
        self.since = self._date(args, "since")
        self.until = self._date(args, "until")
        self.account = args.get("account", "")
        self.account_id = int(self.account) if self.account.isdigit() else None
        self.unmatched = args.get("unmatched") == "1"
        self.cursor = args.get("before") or None

    def _date(self, args: MultiDict[str, str], key: str) -> date | None:
        raw = args.get(key, "").strip()
        if not raw:
            return None
        try:
            return date.fromisoformat(raw)
        except ValueError:
            self.problems.append(f"{key}: {raw[:20]!r} is not a date (YYYY-MM-DD)")
            return None

    def to_filter(self) -> TimelineFilter:
        return TimelineFilter(
            kinds=(self.kind,) if self.kind else (),
            direction=self.direction or None,
            since=self.since,
            until=self.until,
            account_id=self.account_id,
            unmatched=self.unmatched,
        )

    @property
    def active(self) -> bool:
        return bool(self.kind or self.direction or self.since or self.until or self.account)


def load_page(form: FilterForm, customer: Customer | None) -> TimelinePage:
    """The page the filter form asks for; a mangled cursor starts from the newest."""
    try:
        return timeline_page(
            db.session(), customer, form.to_filter(), limit=PAGE_SIZE, cursor=form.cursor
        )
    except BadCursorError as exc:
        form.problems.append(str(exc))
        form.cursor = None
        return timeline_page(db.session(), customer, form.to_filter(), limit=PAGE_SIZE)


@bp.route("/timeline")
@role_required("admin")
def everything() -> ResponseReturnValue:
    form = FilterForm(request.args)
    page = load_page(form, None)
    return render_template(
        "timeline.html",
        page=page,
        form=form,
        accounts=list_accounts(db.session()),
        admin_view=True,
    )


@bp.route("/interactions/<int:interaction_id>/body")
def body(interaction_id: int) -> ResponseReturnValue:
    """The body as its own document for ``<iframe sandbox>``: sanitized HTML, or the text
    escaped. Remote images only with ``?images=1``; the CSP enforces it a second time."""
    interaction = db.session().get(Interaction, interaction_id)
    if interaction is None:
        abort(404)
    images = request.args.get("images") == "1"
    if interaction.kind == "meeting" and interaction.is_private:
        html = '<div class="text"><p>A private meeting: its details stay in the calendar.</p></div>'
    elif interaction.body_html:
        html = sanitize_mail_html(interaction.body_html, remote_images=images).html
    else:
        html = f'<div class="text">{text_to_html(interaction.body_text)}</div>'
    response = Response(wrap_document(html), mimetype="text/html")
    response.headers["Content-Security-Policy"] = body_csp(images)
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


@bp.route("/attachments/<int:attachment_id>")
def attachment(attachment_id: int) -> ResponseReturnValue:
    """An attachment from the archive, always as a download (never rendered inline)."""
    found = db.session().get(Attachment, attachment_id)
    if found is None:
        abort(404)
    path = Archive(settings().archive_path).path(found.document_sha256)
    if not path.is_file():
        abort(410, "The file is missing from the document archive.")
    response = send_file(
        path,
        mimetype=found.content_type or "application/octet-stream",
        as_attachment=True,
        download_name=found.filename or f"attachment-{found.id}",
        max_age=0,
    )
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
