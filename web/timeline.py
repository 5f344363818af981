"""The admin's unified timeline, and what every timeline entry links to: the mail body
(a separate, sandboxed document), its attachments, and the buttons that make it private
or visible to everyone again (crm.visibility).

A private interaction answers 404 to those who may not see it, never 403: its existence
stays hidden."""

from __future__ import annotations

from datetime import date
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.datastructures import MultiDict
from wtforms import HiddenField
from wtforms.validators import AnyOf

from crm.accounts import list_accounts
from crm.archive import Archive
from crm.models import Attachment, Interaction
from crm.timeline import (
    DIRECTIONS,
    KINDS,
    BadCursorError,
    Customer,
    TimelineEntry,
    TimelineFilter,
    TimelinePage,
    timeline_page,
)
from crm.visibility import Viewer, can_change, is_visible, set_visibility, visible_to
from web import db
from web.auth import role_required
from web.filters import settings
from web.safehtml import body_csp, sanitize_mail_html, text_to_html, wrap_document

bp = Blueprint("timeline", __name__)
PAGE_SIZE = 50


class VisibilityForm(FlaskForm):
    """The "Make private" / "Make visible to everyone" buttons of a timeline entry."""

    visibility = HiddenField(validators=[AnyOf(["private", "everyone"])])
    thread = HiddenField()
    next = HiddenField()


def current_viewer() -> Viewer:
    """The logged-in user as crm.visibility sees them."""
    return Viewer(user_id=current_user.user_id, is_admin=current_user.role == "admin")


@bp.app_template_global()
def may_change_visibility(entry: TimelineEntry) -> bool:
    """Whether the current user gets the visibility buttons on this entry (never a viewer)."""
    return bool(current_user.may("staff")) and can_change(current_viewer(), entry)


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
            db.session(),
            customer,
            form.to_filter(),
            viewer=current_viewer(),
            limit=PAGE_SIZE,
            cursor=form.cursor,
        )
    except BadCursorError as exc:
        form.problems.append(str(exc))
        form.cursor = None
        return timeline_page(
            db.session(), customer, form.to_filter(), viewer=current_viewer(), limit=PAGE_SIZE
        )


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
    if interaction is None or not is_visible(current_viewer(), interaction):
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
    if found is None or not is_visible(current_viewer(), found.interaction):
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


@bp.route("/interactions/<int:interaction_id>/visibility", methods=["POST"])
@role_required("staff")
def visibility(interaction_id: int) -> ResponseReturnValue:
    """Make an interaction (or its whole thread) private, or visible to everyone again;
    then back to the page the button was on."""
    session = db.session()
    viewer = current_viewer()
    found = session.scalars(
        select(Interaction.id).where(Interaction.id == interaction_id, visible_to(viewer))
    ).first()
    if found is None:
        abort(404)
    form = VisibilityForm()
    if not form.validate_on_submit():
        abort(400, "Choose private or visible to everyone.")
    thread = form.thread.data == "1"
    try:
        changed = set_visibility(
            session, interaction_id, form.visibility.data, viewer, thread=thread
        )
    except PermissionError:
        abort(403)
    session.commit()
    what = "private" if form.visibility.data == "private" else "visible to everyone"
    if thread:
        flash(
            f"{changed} interaction{'s' if changed != 1 else ''} of the thread made {what}.", "info"
        )
    else:
        flash(f"Interaction made {what}.", "info")
    return redirect(_local(form.next.data) or url_for("customers.index"))


def _local(target: str | None) -> str | None:
    """``target`` when it is a path on this site (no open redirect), else None."""
    if not target:
        return None
    parts = urlsplit(target)
    if (
        target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target
        and not parts.scheme
        and not parts.netloc
    ):
        return target
    return None
