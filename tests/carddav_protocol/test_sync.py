"""sync-collection (RFC 6578), getctag, and ETags across changes."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from crm.changes import prune_tombstones
from crm.models import CardTombstone, ContactPoint, Organization, Person
from tests.carddav_protocol.conftest import (
    BOOK,
    CS,
    D,
    World,
    error_condition,
    etags,
    multistatus,
    sync,
    sync_body,
)

CTAG = '<propfind xmlns="DAV:" xmlns:CS="http://calendarserver.org/ns/"><prop><CS:getctag/></prop></propfind>'


def _ctag(world: World) -> str:
    return multistatus(world.dav().propfind(BOOK, CTAG))[BOOK].prop(CS + "getctag").text or ""


def test_sync_reports_exactly_the_changes(world: World) -> None:
    dav = world.dav()
    first, token = sync(dav)
    assert len(etags(first)) == len(world.people) + len(world.orgs)
    ctag = _ctag(world)

    unchanged, same = sync(dav, token)
    assert unchanged == {} and same == token
    assert _ctag(world) == ctag

    ann_path, bob_path = world.card_path("Ann Smith"), world.card_path("Bob Jones")
    with world.sessions.begin() as session:
        ann = session.get(Person, world.people["Ann Smith"].id)
        assert ann is not None
        ann.title = "Head of Purchasing"
        session.delete(session.get(Person, world.people["Bob Jones"].id))
    changed, token2 = sync(dav, token)
    assert set(changed) == {ann_path, bob_path}
    assert changed[bob_path].status == 404
    assert etags(changed)[ann_path] != etags(first)[ann_path]
    assert token2 != token and _ctag(world) != ctag

    # the changed card's new text, in the same request
    with_data, _ = sync(dav, token, "<D:getetag/><C:address-data/>")
    assert "Head of Purchasing" in (
        with_data[ann_path].prop("{urn:ietf:params:xml:ns:carddav}address-data").text or ""
    )

    # an old token still works (continuity): the same changes again
    again, _ = sync(dav, token)
    assert set(again) == set(changed)
    assert sync(dav, token2)[0] == {}


def test_organization_rename_changes_its_peoples_cards(world: World) -> None:
    dav = world.dav()
    _first, token = sync(dav)
    with world.sessions.begin() as session:
        acme = session.get(Organization, world.orgs["ACME"].id)
        assert acme is not None
        acme.name = "ACME Holding"
    changed, _ = sync(dav, token)
    assert set(changed) == {world.card_path("ACME"), world.card_path("Ann Smith")}


def test_etag_changes_exactly_when_content_does(world: World) -> None:
    dav = world.dav()
    path = world.card_path("Jörg Müller")
    before = dav.request("GET", path).headers["ETag"]
    with world.sessions.begin() as session:
        joerg = session.get(Person, world.people["Jörg Müller"].id)
        assert joerg is not None
        joerg.display_name = "Jörg Müller"  # the same value
        joerg.external_id = "erp-17"  # not on the card
    assert dav.request("GET", path).headers["ETag"] == before
    with world.sessions.begin() as session:
        session.add(
            ContactPoint(
                person_id=world.people["Jörg Müller"].id, kind="email", value="j2@x.example"
            )
        )
    after = dav.request("GET", path).headers["ETag"]
    assert after != before
    assert dav.request("GET", world.card_path("Ann Smith")).headers["ETag"] != after


def test_bad_tokens_are_refused_with_valid_sync_token(world: World) -> None:
    dav = world.dav()
    _, token = sync(dav)
    for bad in (
        "garbage",
        token + "9",
        token.replace("/customers/", "/other/"),
        "https://crmsync.org/ns/sync/customers/999999",
    ):
        response = dav.report(BOOK, sync_body(bad), depth="0")
        assert response.status_code == 403, bad
        assert D + "valid-sync-token" in error_condition(response)


def test_an_expired_token_is_refused(world: World) -> None:
    dav = world.dav()
    _, token = sync(dav)
    with world.sessions.begin() as session:
        session.delete(session.get(Person, world.people["Bob Jones"].id))
    sync(dav, token)
    with world.sessions.begin() as session:
        for row in session.scalars(select(CardTombstone)):
            row.deleted_at -= timedelta(days=365)
    with world.sessions.begin() as session:
        assert prune_tombstones(session, timedelta(days=90)) == 1
    response = dav.report(BOOK, sync_body(token), depth="0")
    assert response.status_code == 403
    assert D + "valid-sync-token" in error_condition(response)
    fresh, _ = sync(dav)  # starting over works
    assert world.card_path("Bob Jones") not in fresh
