"""Privacy rules in the web view: a user's own, the admin-wide list, the count shown
before confirming, and who may remove what. SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from crm.models import AuditEntry, Interaction, PrivacyRule, User
from tests.crm.helpers import customers, ingest, mail
from tests.web.conftest import Browser


def _mail(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    with sessions.begin() as session:
        customers(session)
    with sessions() as session:
        ingest(
            session,
            [
                mail("jan.kowalski@gmail.com", ["alice@example.com"], message_id="1@t"),
                mail("x@doctor.example.org", ["alice@example.com"], message_id="2@t"),
                mail("greta.hansen@nordwind-logistik.de", ["a@example.com"], message_id="3@t"),
            ],
            tmp_path,
        )


def count(sessions: sessionmaker[Session], model: type) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_admin_sees_the_count_before_a_never_log_domain_removes_mail(
    admin: Browser, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    _mail(sessions, tmp_path)
    admin.get("/privacy")
    step = admin.post("/privacy", {"scope": "everyone", "kind": "domain", "value": "Gmail.com"})
    page = step.get_data(as_text=True)
    assert step.status_code == 200
    assert "<strong>1</strong>" in page and "gmail.com" in page
    assert count(sessions, Interaction) == 3  # nothing removed before confirming
    assert count(sessions, PrivacyRule) == 0
    stale = admin.post(
        "/privacy", {"scope": "everyone", "kind": "domain", "value": "gmail.com", "expected": "5"}
    )
    assert stale.status_code == 409 and count(sessions, Interaction) == 3
    done = admin.post(
        "/privacy", {"scope": "everyone", "kind": "domain", "value": "gmail.com", "expected": "1"}
    )
    assert done.status_code == 302
    assert count(sessions, Interaction) == 2
    with sessions() as session:
        rule = session.scalars(select(PrivacyRule)).one()
        assert (rule.user_id, rule.kind, rule.value, rule.created_by) == (
            None,
            "domain",
            "gmail.com",
            "admin",
        )
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action.startswith("privacy_rule."))
        ).one()
        assert (entry.actor, entry.action, entry.target) == (
            "admin",
            "privacy_rule.add",
            "domain gmail.com",
        )
    listed = admin.get("/privacy").get_data(as_text=True)
    assert 'data-rule="domain:gmail.com"' in listed and "1 stored entries removed" in listed


def test_staff_rules_are_their_own_and_admin_wide_ones_are_refused(
    staff: Browser, admin: Browser, sessions: sessionmaker[Session]
) -> None:
    assert (
        staff.post(
            "/privacy",
            {"scope": "everyone", "kind": "domain", "value": "x.example", "expected": "0"},
        ).status_code
        == 403
    )
    added = staff.post(
        "/privacy", {"scope": "mine", "kind": "folder", "value": "Private", "expected": "0"}
    )
    assert added.status_code == 302
    with sessions() as session:
        rule = session.scalars(select(PrivacyRule)).one()
        staff_id = session.scalar(select(User.id).where(User.name == "staff"))
        assert (rule.user_id, rule.kind, rule.value) == (staff_id, "folder", "Private")
    # the admin sees only the admin-wide list, and cannot remove another user's rule
    assert 'data-rule="folder:Private"' not in admin.get("/privacy").get_data(as_text=True)
    assert admin.post("/privacy/remove", {"rule": rule.id}).status_code == 404
    assert count(sessions, PrivacyRule) == 1
    assert staff.post("/privacy/remove", {"rule": rule.id}).status_code == 302
    assert count(sessions, PrivacyRule) == 0


def test_bad_values_and_missing_csrf_are_refused(
    staff: Browser, sessions: sessionmaker[Session]
) -> None:
    bad = staff.post("/privacy", {"scope": "mine", "kind": "address", "value": "not-an-address"})
    assert bad.status_code == 400 and "not a mail address" in bad.get_data(as_text=True)
    forged = staff.client.post(
        "/privacy", data={"scope": "mine", "kind": "label", "value": "x", "expected": "0"}
    )
    assert forged.status_code == 400
    assert count(sessions, PrivacyRule) == 0


def test_viewers_may_not_add_rules(viewer: Browser, sessions: sessionmaker[Session]) -> None:
    page = viewer.get("/privacy").get_data(as_text=True)
    assert 'id="add-my-rule"' not in page and 'id="add-admin-rule"' not in page
    refused = viewer.post("/privacy", {"scope": "mine", "kind": "label", "value": "x"})
    assert refused.status_code == 403
    assert count(sessions, PrivacyRule) == 0
