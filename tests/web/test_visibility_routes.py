"""A private mail in the web view: hidden from another staff user on every route that
shows, counts, finds or serves interactions (404 where it is asked for by id), shown to
its owner and to admins; the buttons that change it. SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from crm import audit
from crm.models import Interaction, User
from crm.users import add_user
from tests.web.conftest import Browser, _logged_in
from tests.web.data import populate

OFFER = "Angebot Seefracht"
STAFF2_PASSWORD = "staff2-pass-123"


def text(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def world(app: Flask, sessions: sessionmaker[Session], tmp_path: Path) -> dict[str, int]:
    """The web data; the offer (with its PDF) is private and belongs to "staff"; a second
    staff user, "staff2"."""
    ids = populate(sessions, tmp_path / "archive")
    with sessions.begin() as session:
        add_user(session, "staff2", STAFF2_PASSWORD, "staff")
        users = dict(session.execute(select(User.name, User.id)).tuples().all())
        offer = session.scalars(
            select(Interaction).where(Interaction.subject.like(OFFER + "%"))
        ).one()
        offer.visibility, offer.owner_id = "private", users["staff"]
        ids.update(
            offer=offer.id,
            attachment=offer.attachments[0].id,
            ask=session.scalars(
                select(Interaction.id).where(Interaction.subject == "Anfrage Rahmenvertrag")
            ).one(),
            **{f"user_{name}": uid for name, uid in users.items()},
        )
    return ids


@pytest.fixture
def staff2(app: Flask, world) -> Browser:
    browser = Browser(app.test_client())
    assert browser.login("staff2", STAFF2_PASSWORD).status_code == 302
    browser.get("/customers")
    return browser


def _pages(ids: dict[str, int]) -> list[str]:
    return [f"/people/{ids['greta']}", f"/organizations/{ids['nordwind']}"]


def test_another_staff_user_sees_it_nowhere(staff2: Browser, world) -> None:
    for url in _pages(world):
        page = text(staff2.get(url))
        assert "Anfrage Rahmenvertrag" in page, url  # the public mail is there
        assert OFFER not in page and "Angebot.pdf" not in page, url
        assert f'id="i{world["offer"]}"' not in page, url
        assert "Private —" not in page, url
    # the month chart counts only what may be seen: Greta's two mails of March, less one
    assert "<title>2026-03: 1</title>" in text(staff2.get(f"/people/{world['greta']}"))
    # words of the private mail find nothing (Greta is found by name still)
    assert "No customer matches" in text(staff2.get("/customers?q=Seefracht"))
    assert "Greta Hansen" in text(staff2.get("/customers?q=Greta"))
    # asked for by id: as if it did not exist
    assert staff2.get(f"/interactions/{world['offer']}/body").status_code == 404
    assert staff2.get(f"/interactions/{world['offer']}/body?images=1").status_code == 404
    assert staff2.get(f"/attachments/{world['attachment']}").status_code == 404
    assert staff2.get(f"/interactions/{world['ask']}/body").status_code == 200
    # the unified timeline is for admins: staff never reach it
    assert staff2.get("/timeline").status_code == 403
    # older pages of the timeline do not bring it back either
    page = text(staff2.get(f"/people/{world['greta']}?kind=email"))
    assert OFFER not in page


@pytest.mark.parametrize("who", ["staff", "admin"])
def test_the_owner_and_admins_see_it_everywhere(app: Flask, world, who) -> None:
    browser = _logged_in(app, who)
    for url in _pages(world):
        page = text(browser.get(url))
        assert OFFER in page and "Angebot.pdf" in page, url
        assert "🔒" in page and "Private — visible to staff and admins" in page, url
    assert "<title>2026-03: 2</title>" in text(browser.get(f"/people/{world['greta']}"))
    found = text(browser.get("/customers?q=Seefracht"))
    assert "Greta Hansen" in found
    body = browser.get(f"/interactions/{world['offer']}/body")
    assert body.status_code == 200 and "anbei" in text(body)
    download = browser.get(f"/attachments/{world['attachment']}")
    assert download.status_code == 200 and download.data.startswith(b"%PDF")
    if who == "admin":
        assert OFFER in text(browser.get("/timeline"))


def test_buttons_show_for_who_may_use_them(app: Flask, world, staff2: Browser) -> None:
    owner = text(_logged_in(app, "staff").get(f"/people/{world['greta']}"))
    admin = text(_logged_in(app, "admin").get(f"/people/{world['greta']}"))
    viewer = text(_logged_in(app, "viewer").get(f"/people/{world['greta']}"))
    other = text(staff2.get(f"/people/{world['greta']}"))
    assert "Make visible to everyone" in owner and "Make visible to everyone" in admin
    assert "Make private" in owner and "Make private" in other  # the unowned public mail
    assert "Make thread private" in owner  # ask and offer are one thread...
    assert "Make thread private" not in other  # ...but the offer is not there for staff2
    assert "Make private" in admin  # an admin may take an unowned mail private too
    assert "Make private" not in viewer and "Make visible to everyone" not in viewer
    assert "Make visible to everyone" not in other
    # the visibility column of the lock mark, for the browser test and for CSS
    assert f'data-id="{world["offer"]}" data-visibility="private"' in owner


def test_the_owner_makes_it_public_again_and_lands_where_she_was(
    app: Flask, world, staff2: Browser, sessions
) -> None:
    owner = _logged_in(app, "staff")
    back = f"/people/{world['greta']}?kind=email#i{world['offer']}"
    response = owner.post(
        f"/interactions/{world['offer']}/visibility", {"visibility": "everyone", "next": back}
    )
    assert response.status_code == 302 and response.headers["Location"] == back
    assert OFFER in text(staff2.get(f"/people/{world['greta']}"))
    assert staff2.get(f"/attachments/{world['attachment']}").status_code == 200
    with sessions() as session:
        [entry] = audit.entries(session, action="interaction.visibility")
        assert entry.actor == "staff" and audit.details(entry)["visibility"] == "everyone"


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/x", "javascript:alert(1)", "/\\evil"]
)
def test_the_redirect_stays_on_this_site(app: Flask, world, target) -> None:
    owner = _logged_in(app, "staff")
    response = owner.post(
        f"/interactions/{world['ask']}/visibility", {"visibility": "private", "next": target}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/customers"


def test_marking_a_thread_private_takes_the_unowned_mail_too(
    app: Flask, world, staff2: Browser, sessions
) -> None:
    owner = _logged_in(app, "staff")
    response = owner.post(
        f"/interactions/{world['ask']}/visibility",
        {"visibility": "private", "thread": "1", "next": f"/people/{world['greta']}"},
    )
    assert response.status_code == 302
    page = text(staff2.get(f"/people/{world['greta']}"))
    assert "Anfrage Rahmenvertrag" not in page and OFFER not in page
    with sessions() as session:
        ask = session.get_one(Interaction, world["ask"])
        assert (ask.visibility, ask.owner_id) == ("private", world["user_staff"])


def test_changing_it_needs_a_csrf_token(app: Flask, world, sessions) -> None:
    owner = _logged_in(app, "staff")
    response = owner.client.post(
        f"/interactions/{world['offer']}/visibility", data={"visibility": "everyone"}
    )
    assert response.status_code == 400
    assert "The CSRF token is missing" in text(response)
    with sessions() as session:
        assert session.get_one(Interaction, world["offer"]).visibility == "private"


def test_others_may_not_change_it(app: Flask, world, staff2: Browser, sessions) -> None:
    url = f"/interactions/{world['offer']}/visibility"
    # another staff user: it does not exist for them
    assert staff2.post(url, {"visibility": "everyone"}).status_code == 404
    # a viewer reads only
    viewer = _logged_in(app, "viewer")
    assert viewer.post(url, {"visibility": "everyone"}).status_code == 403
    assert (
        viewer.post(
            f"/interactions/{world['ask']}/visibility", {"visibility": "private"}
        ).status_code
        == 403
    )
    # a mail that is public but owned by "staff": staff2 may not make it private
    with sessions.begin() as session:
        session.get_one(Interaction, world["ask"]).owner_id = world["user_staff"]
    answer = staff2.post(f"/interactions/{world['ask']}/visibility", {"visibility": "private"})
    assert answer.status_code == 403
    # nonsense is refused
    owner = _logged_in(app, "staff")
    assert owner.post(url, {"visibility": "hidden"}).status_code == 400
    assert (
        owner.post("/interactions/999999/visibility", {"visibility": "private"}).status_code == 404
    )
    with sessions() as session:
        assert session.get_one(Interaction, world["offer"]).visibility == "private"
        assert session.get_one(Interaction, world["ask"]).visibility == "everyone"
