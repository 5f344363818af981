"""GET with conditions, refused writes, authentication and rights."""

from __future__ import annotations

import pytest
import vobject
from sqlalchemy import select

from crm import addressbooks, apppasswords
from crm.models import User
from crm.users import FREE_FAILURES
from tests.carddav_protocol.conftest import BOOK, PROPFIND_ETAGS, World, multistatus


def test_get_a_card_with_etag_conditions(world: World) -> None:
    dav = world.dav()
    path = world.card_path("Jörg Müller")
    response = dav.request("GET", path)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/vcard")
    etag = response.headers["ETag"]
    assert vobject.readOne(response.get_data(as_text=True)).fn.value == "Jörg Müller"
    assert dav.request("GET", path, **{"If-None-Match": etag}).status_code == 304
    assert dav.request("GET", path, **{"If-None-Match": '"other"'}).status_code == 200
    assert dav.request("GET", path, **{"If-Match": '"other"'}).status_code == 412
    assert dav.request("GET", path, **{"If-Match": etag}).status_code == 200
    v4 = dav.request("GET", path, Accept="text/vcard; version=4.0")
    assert vobject.readOne(v4.get_data(as_text=True)).version.value == "4.0"
    head = dav.request("HEAD", path)
    assert head.status_code == 200 and head.get_data() == b""
    assert head.headers["ETag"] == etag
    assert dav.request("GET", f"{BOOK}nobody.vcf").status_code == 404


def test_get_on_the_book_downloads_every_card(world: World) -> None:
    response = world.dav().request("GET", BOOK)
    assert response.status_code == 200
    cards = list(vobject.readComponents(response.get_data(as_text=True)))
    assert len(cards) == len(world.people) + len(world.orgs)


@pytest.mark.parametrize("method", ["PUT", "DELETE", "MKCOL", "PROPPATCH", "MOVE", "COPY"])
def test_writes_are_refused_with_a_reason(world: World, method: str) -> None:
    path = world.card_path("Ann Smith") if method in ("PUT", "DELETE", "MOVE", "COPY") else BOOK
    response = world.dav().request(
        method, path, b"BEGIN:VCARD\r\nEND:VCARD\r\n", Destination=BOOK + "x.vcf"
    )
    assert response.status_code == 403
    assert b"read-only" in response.get_data()
    assert b"need-privileges" in response.get_data()
    # nothing changed
    assert world.dav().request("GET", world.card_path("Ann Smith")).status_code == 200


def test_other_methods_are_not_allowed(world: World) -> None:
    response = world.dav().request("LOCK", BOOK)
    assert response.status_code == 405
    assert "PROPFIND" in response.headers["Allow"]


def test_no_credentials_wrong_password_and_web_password(world: World) -> None:
    anonymous = world.client.open(BOOK, method="PROPFIND", headers={"Depth": "0"})
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Basic ")
    assert world.dav(password="wrong-password").propfind(BOOK).status_code == 401
    # the web password is not an app password
    assert world.dav(password="staff-web-password").propfind(BOOK).status_code == 401
    # another user's app password with this user's name
    assert world.dav("staff", world.passwords["other"]).propfind(BOOK).status_code == 401
    # an app password typed without its dashes or in upper case still works
    typed = world.passwords["staff"].replace("-", "").upper()
    assert world.dav(password=typed).propfind(BOOK).status_code == 207


def test_nobody_reads_another_users_home(world: World) -> None:
    dav = world.dav("other")
    for path in (
        BOOK,
        "/dav/addressbooks/staff/",
        "/dav/principals/staff/",
        world.card_path("Ann Smith"),
    ):
        assert dav.propfind(path).status_code == 403, path
    assert dav.request("GET", world.card_path("Ann Smith")).status_code == 403
    answers = multistatus(dav.propfind("/dav/addressbooks/", depth="1"))
    assert set(answers) == {"/dav/addressbooks/", "/dav/addressbooks/other/"}


def test_roles_decide_the_books(world: World) -> None:
    with world.sessions.begin() as session:
        addressbooks.add_book(session, "vip", "VIP customers", "category", "VIP", ["admin"])
    viewer = world.dav("viewer")
    home = multistatus(viewer.propfind("/dav/addressbooks/viewer/", depth="1"))
    assert set(home) == {"/dav/addressbooks/viewer/"}
    assert viewer.propfind("/dav/addressbooks/viewer/customers/").status_code == 403
    staff_home = multistatus(world.dav().propfind("/dav/addressbooks/staff/", depth="1"))
    assert "/dav/addressbooks/staff/vip/" not in staff_home
    assert world.dav().propfind("/dav/addressbooks/staff/vip/").status_code == 403
    admin = world.dav("admin")
    vip = multistatus(admin.propfind("/dav/addressbooks/admin/vip/", PROPFIND_ETAGS, depth="1"))
    cards = {h for h in vip if h.endswith(".vcf")}
    assert cards == {f"/dav/addressbooks/admin/vip/{world.uid('Bob Jones')}.vcf"}
    assert admin.propfind("/dav/addressbooks/admin/nothing/").status_code == 404


def test_revoked_app_password_stops_working(world: World) -> None:
    assert world.dav().propfind(BOOK).status_code == 207
    with world.sessions.begin() as session:
        staff = session.scalars(select(User).where(User.name == "staff")).one()
        assert apppasswords.revoke(session, staff.id, "phone")
    assert world.dav().propfind(BOOK).status_code == 401


def test_a_stale_password_retried_is_not_a_guess(world: World) -> None:
    """A phone polling with a revoked app password does not lock the office out."""
    stale = world.dav(password="revoked-app-password")
    for _ in range(FREE_FAILURES * 3):
        assert stale.propfind(BOOK).status_code == 401
    assert world.dav("admin").propfind("/dav/addressbooks/admin/").status_code == 207


def test_a_success_clears_the_failures(world: World) -> None:
    for i in range(FREE_FAILURES - 1):
        assert world.dav(password=f"guess-{i}").propfind(BOOK).status_code == 401
    with world.sessions() as session:
        assert apppasswords.login_state(session, "staff", "-")[1]
    assert world.dav().propfind(BOOK).status_code == 207
    with world.sessions() as session:  # the name's count starts afresh (the address's stays)
        assert not apppasswords.login_state(session, "staff", "-")[1]


def test_failed_logins_are_throttled(world: World) -> None:
    for i in range(FREE_FAILURES):
        assert world.dav(password=f"guess-{i}").propfind(BOOK).status_code == 401
    wrong = world.dav(password="one-more-guess")
    throttled = wrong.propfind(BOOK)
    assert throttled.status_code == 429 and throttled.headers["Retry-After"]
    # while locked, even the right password waits (a guesser learns nothing)
    assert world.dav().propfind(BOOK).status_code == 429
    # the client address is locked too, so guessing other names from it waits as well
    assert world.dav("admin").propfind("/dav/addressbooks/admin/").status_code == 429


def test_using_an_app_password_is_recorded(world: World) -> None:
    world.dav().propfind(BOOK)
    with world.sessions() as session:
        staff = session.scalars(select(User).where(User.name == "staff")).one()
        [row] = apppasswords.list_for(session, staff.id)
        assert row.last_used_at is not None
