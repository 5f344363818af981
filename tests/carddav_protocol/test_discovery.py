"""Finding the address book from the server's address, and the properties clients read."""

from __future__ import annotations

from tests.carddav_protocol.conftest import BOOK, CS, PROPFIND_ETAGS, C, D, World, multistatus


def test_well_known_redirects_without_credentials(world: World) -> None:
    # 301 for a browser; 307 for PROPFIND, so that clients keep the method and the body
    for path in ("/.well-known/carddav", "/.well-known/carddav/"):
        for method, status in (("GET", 301), ("PROPFIND", 307), ("REPORT", 307)):
            response = world.client.open(path, method=method)
            assert response.status_code == status
            assert response.headers["Location"] == "/dav/"


def test_the_sites_root_leads_a_dav_client_on(world: World) -> None:
    """A client given just https://crm.example.com/ asks the root itself first."""
    response = world.client.open("/", method="PROPFIND", headers={"Depth": "0"})
    assert response.status_code == 307 and response.headers["Location"] == "/dav/"
    options = world.client.open("/", method="OPTIONS")
    assert "addressbook" in options.headers["DAV"]
    page = world.client.get("/")  # a browser still gets the web view (its login page)
    assert page.status_code in (200, 302) and "DAV" not in page.headers


def test_discovery_from_the_root_to_the_book(world: World) -> None:
    dav = world.dav()
    root = multistatus(
        dav.propfind(
            "/dav/", '<propfind xmlns="DAV:"><prop><current-user-principal/></prop></propfind>'
        )
    )
    principal = root["/dav/"].prop(D + "current-user-principal").findtext(D + "href")
    assert principal == "/dav/principals/staff/"

    body = (
        '<propfind xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav">'
        "<prop><C:addressbook-home-set/><displayname/><resourcetype/></prop></propfind>"
    )
    found = multistatus(dav.propfind(principal, body))[principal]
    home = found.prop(C + "addressbook-home-set").findtext(D + "href")
    assert home == "/dav/addressbooks/staff/"
    assert found.prop(D + "resourcetype").find(D + "principal") is not None

    listing = multistatus(
        dav.propfind(
            home,
            '<propfind xmlns="DAV:"><prop><resourcetype/><displayname/></prop></propfind>',
            depth="1",
        )
    )
    assert set(listing) == {home, BOOK}
    assert listing[BOOK].prop(D + "resourcetype").find(C + "addressbook") is not None
    assert listing[BOOK].prop(D + "displayname").text == "All customers"


def test_book_properties(world: World) -> None:
    body = (
        '<propfind xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"'
        ' xmlns:CS="http://calendarserver.org/ns/" xmlns:X="urn:example:unknown"><prop>'
        "<resourcetype/><displayname/><CS:getctag/><sync-token/><C:supported-address-data/>"
        "<supported-report-set/><current-user-privilege-set/><current-user-principal/>"
        "<C:addressbook-description/><X:color/><getetag/></prop></propfind>"
    )
    answer = multistatus(world.dav().propfind(BOOK, body))[BOOK]
    ctag = answer.prop(CS + "getctag").text
    token = answer.prop(D + "sync-token").text
    assert ctag and token and ctag == token
    versions = {
        e.get("version")
        for e in answer.prop(C + "supported-address-data").findall(C + "address-data-type")
    }
    assert versions == {"3.0", "4.0"}
    reports = {
        child.tag
        for report in answer.prop(D + "supported-report-set").iter(D + "report")
        for child in report
    }
    assert reports == {C + "addressbook-multiget", C + "addressbook-query", D + "sync-collection"}
    privileges = {
        child.tag
        for p in answer.prop(D + "current-user-privilege-set").findall(D + "privilege")
        for child in p
    }
    assert (
        D + "read" in privileges and D + "write" not in privileges and D + "all" not in privileges
    )
    # an unknown property and one a collection does not have: 404 in the multistatus
    assert answer.missing() == {"{urn:example:unknown}color", D + "getetag"}


def test_depth_one_lists_every_card_with_its_etag(world: World) -> None:
    answers = multistatus(world.dav().propfind(BOOK, PROPFIND_ETAGS, depth="1"))
    cards = {h: a for h, a in answers.items() if h != BOOK}
    assert len(cards) == len(world.people) + len(world.orgs)
    assert world.card_path("Jörg Müller") in cards
    for answer in cards.values():
        assert answer.prop(D + "getetag").text.startswith('"')
        assert answer.prop(D + "getcontenttype").text.startswith("text/vcard")


def test_depth_infinity_is_refused_politely(world: World) -> None:
    for depth in ("infinity", None):
        headers = {"Depth": depth} if depth else {}
        response = world.dav().request("PROPFIND", BOOK, PROPFIND_ETAGS, **headers)
        assert response.status_code == 403
        assert b"propfind-finite-depth" in response.get_data()


def test_propname_and_allprop(world: World) -> None:
    dav = world.dav()
    names = multistatus(dav.propfind(BOOK, '<propfind xmlns="DAV:"><propname/></propfind>'))[BOOK]
    offered = set(names.props[200])
    assert {
        D + "sync-token",
        CS + "getctag",
        D + "resourcetype",
        C + "supported-address-data",
    } <= offered
    assert all(len(e) == 0 and not (e.text or "").strip() for e in names.props[200].values())

    card = world.card_path("Ann Smith")
    everything = multistatus(dav.propfind(card, '<propfind xmlns="DAV:"><allprop/></propfind>'))[
        card
    ]
    assert {
        D + "getetag",
        D + "getcontenttype",
        D + "getcontentlength",
        D + "getlastmodified",
    } <= set(everything.props[200])
    assert int(everything.prop(D + "getcontentlength").text or 0) > 100
    # an empty body is allprop (RFC 4918 section 9.1)
    empty = multistatus(dav.propfind(card))[card]
    assert set(empty.props[200]) == set(everything.props[200])

    both = dav.propfind(BOOK, '<propfind xmlns="DAV:"><allprop/><propname/></propfind>')
    assert both.status_code == 400


def test_options_announces_carddav(world: World) -> None:
    response = world.dav().request("OPTIONS", BOOK)
    assert response.status_code == 200
    assert "addressbook" in response.headers["DAV"]
    assert "REPORT" in response.headers["Allow"] and "PUT" not in response.headers["Allow"]
