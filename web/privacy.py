"""Privacy rules in the web view: each user's own (folders, labels, addresses, domains
of the mail they do not want logged) and, for admins, the admin-wide never-log list.

Adding a rule is two steps: the first POST shows how many stored entries the rule
would remove (it applies to the past too), the second, carrying that count, adds it.
A count that changed in between is shown again rather than acted on.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, make_response, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, SelectField, StringField
from wtforms.validators import AnyOf, DataRequired, Length, Optional

from crm.archive import Archive
from crm.models import PrivacyRule
from crm.normalize import InvalidValueError
from crm.privacy import (
    GLOBAL_KINDS,
    KINDS,
    add_rule,
    impact,
    normalized,
    remove_rule,
    rules_of,
)
from web import db
from web.filters import settings

bp = Blueprint("privacy", __name__, url_prefix="/privacy")

KIND_LABELS = {
    "folder": "Folder (and its subfolders)",
    "label": "Label, keyword or category",
    "address": "Mail address",
    "domain": "Domain (and its subdomains)",
}


class RuleForm(FlaskForm):
    kind = SelectField("Never log mail by", choices=list(KIND_LABELS.items()))
    value = StringField("Value", validators=[DataRequired(), Length(max=512)])
    scope = HiddenField(default="mine", validators=[AnyOf(["mine", "everyone"])])
    #: the count the user confirmed (the second step)
    expected = IntegerField(validators=[Optional()])


class RemoveForm(FlaskForm):
    rule = IntegerField(validators=[DataRequired()])


@bp.route("")
def show() -> ResponseReturnValue:
    return _page(RuleForm(formdata=None), RuleForm(formdata=None, scope="everyone"))


@bp.route("", methods=["POST"])
def add() -> ResponseReturnValue:
    if not current_user.may("staff"):
        abort(403)
    form = RuleForm()
    everyone = form.scope.data == "everyone"
    if everyone and not current_user.may("admin"):
        abort(403)
    if not form.validate_on_submit():
        return _form_error(form, everyone)
    user_id = None if everyone else current_user.user_id
    session = db.session()
    try:
        if everyone and form.kind.data not in GLOBAL_KINDS:
            raise InvalidValueError(
                form.kind.data, form.value.data, "admin-wide rules name addresses or domains"
            )
        form.value.data = normalized(form.kind.data, form.value.data)
        counted = impact(session, form.kind.data, form.value.data, user_id)
        if form.expected.data is None or form.expected.data != counted.interactions:
            page = render_template(
                "privacy_confirm.html", form=form, counted=counted, everyone=everyone,
                kind_label=KIND_LABELS[form.kind.data],
            )  # fmt: skip
            return make_response(page, 200 if form.expected.data is None else 409)
        rule, done = add_rule(
            session,
            kind=form.kind.data,
            value=form.value.data,
            user_id=user_id,
            actor=current_user.name,
        )
    except InvalidValueError as exc:
        session.rollback()
        form.value.errors = [exc.reason]
        return _form_error(form, everyone)
    session.commit()
    archive = Archive(settings().archive_path)
    for digest in done.files:  # only now: a rollback must never lose a file
        archive.remove(digest)
    flash(
        f"Rule added: mail by {rule.kind} “{rule.value}” is not logged; "
        f"{done.interactions} stored entries removed."
    )
    return redirect(url_for("privacy.show"))


@bp.route("/remove", methods=["POST"])
def remove() -> ResponseReturnValue:
    if not current_user.may("staff"):
        abort(403)
    form = RemoveForm()
    if not form.validate_on_submit():
        abort(400)
    session = db.session()
    rule = session.get(PrivacyRule, form.rule.data)
    mine = rule is not None and rule.user_id == current_user.user_id
    admin_wide = rule is not None and rule.user_id is None and current_user.may("admin")
    if rule is None or not (mine or admin_wide):
        abort(404)
    remove_rule(session, rule, current_user.name)
    session.commit()
    flash(f"Rule removed: new mail by {rule.kind} “{rule.value}” is logged again.")
    return redirect(url_for("privacy.show"))


def _form_error(form: RuleForm, everyone: bool) -> ResponseReturnValue:
    blank = RuleForm(formdata=None)
    if everyone:
        return _page(blank, form, status=400)
    return _page(form, RuleForm(formdata=None, scope="everyone"), status=400)


def _page(mine: RuleForm, everyone: RuleForm, status: int = 200, **extra: Any) -> Any:
    session = db.session()
    everyone.kind.choices = [(k, KIND_LABELS[k]) for k in GLOBAL_KINDS]
    page = render_template(
        "privacy.html",
        form=mine,
        admin_form=everyone,
        remove_form=RemoveForm(formdata=None),
        rules=rules_of(session, current_user.user_id),
        admin_rules=rules_of(session, None),
        kinds=KINDS,
        kind_labels=KIND_LABELS,
        **extra,
    )
    return make_response(page, status)
