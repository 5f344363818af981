"""addressbook-multiget and addressbook-query."""

from __future__ import annotations

import vobject

from tests.carddav_protocol.conftest import BOOK, C, D, World, error_condition, multistatus

NS = 'xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"'


def _multiget(hrefs: list[str], address_data: str = "<C:address-data/>") -> str:
    items = "".join(f"<D:href>{h}</D:href>" for h in hrefs)
    return (
        f"<C:addressbook-multiget {NS}><D:prop><D:getetag/>{address_data}</D:prop>"
        f"{items}</C:addressbook-multiget>"
    )


def test_multiget_returns_cards_and_404_for_unknown_ones(world: World) -> None:
    joerg = world.card_path("Jörg Müller")
    unknown = f"{BOOK}no-such-card.vcf"
    outside = "/dav/addressbooks/other/customers/x.vcf"
    answers = multistatus(world.dav().report(BOOK, _multiget([joerg, unknown, outside])))
    assert answers[unknown].status == 404 and answers[outside].status == 404
    text = answers[joerg].prop(C + "address-data").text or ""
    assert "\r\n" in text, "CRLF line ends survive the XML"
    card = vobject.readOne(text)
    assert card.version.value == "3.0"
    assert card.fn.value == "Jörg Müller"
    assert card.org.value == ["Kölner Wasser GmbH"]
    assert answers[joerg].prop(D + "getetag").text


def test_multiget_in_vcard_4_and_partial_data(world: World) -> None:
    joerg = world.card_path("Jörg Müller")
    answers = multistatus(
        world.dav().report(
            BOOK, _multiget([joerg], '<C:address-data content-type="text/vcard" version="4.0"/>')
        )
    )
    card = vobject.readOne(answers[joerg].prop(C + "address-data").text)
    assert card.version.value == "4.0"
    assert card.tel.value == "tel:+4922155501"

    partial = '<C:address-data><C:prop name="EMAIL"/></C:address-data>'
    answers = multistatus(world.dav().report(BOOK, _multiget([joerg], partial)))
    card = vobject.readOne(answers[joerg].prop(C + "address-data").text)
    assert set(card.contents) == {"version", "uid", "email"}

    unsupported = '<C:address-data content-type="application/vcard+json" version="4.0"/>'
    response = world.dav().report(BOOK, _multiget([joerg], unsupported))
    assert response.status_code == 403
    assert C + "supported-address-data-conversion" in error_condition(response)


def _query(filters: str, test: str = "anyof", limit: str = "") -> str:
    return (
        f"<C:addressbook-query {NS}><D:prop><D:getetag/></D:prop>"
        f'<C:filter test="{test}">{filters}</C:filter>{limit}</C:addressbook-query>'
    )


def _match(name: str, text: str, match_type: str = "contains", **attrs: str) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{v}"' for k, v in attrs.items())
    return (
        f'<C:prop-filter name="{name}"><C:text-match match-type="{match_type}"{extra}>'
        f"{text}</C:text-match></C:prop-filter>"
    )


def _found(world: World, body: str) -> set[str]:
    answers = multistatus(world.dav().report(BOOK, body))
    return {h for h, a in answers.items() if a.status is None}


def test_query_by_name_address_and_phone(world: World) -> None:
    joerg, ann = world.card_path("Jörg Müller"), world.card_path("Ann Smith")
    assert _found(world, _query(_match("FN", "MÜLLER"))) == {joerg}, "unicode case-insensitive"
    assert _found(world, _query(_match("EMAIL", "ann@acme.example", "equals"))) == {ann}
    assert _found(world, _query(_match("EMAIL", "@koeln.", "contains"))) == {joerg}
    assert _found(world, _query(_match("TEL", "+49221", "starts-with"))) == {joerg}
    assert _found(world, _query(_match("FN", "Smith", "ends-with"))) == {ann}
    both = _match("FN", "Ann") + _match("EMAIL", "koeln")
    assert _found(world, _query(both)) == {joerg, ann}
    assert _found(world, _query(both, test="allof")) == set()
    # negated, and a property that is not there
    not_ann = _found(world, _query(_match("FN", "Ann", negate_condition="yes")))
    assert ann not in not_ann and joerg in not_ann
    no_email = _found(
        world, _query('<C:prop-filter name="EMAIL"><C:is-not-defined/></C:prop-filter>')
    )
    assert world.card_path("Bob Jones") in no_email and joerg not in no_email
    # exact octets
    assert _found(world, _query(_match("FN", "müller", collation="i;octet"))) == set()


def test_query_limit_and_unknown_collation(world: World) -> None:
    body = _query(
        '<C:prop-filter name="FN"/>', limit="<C:limit><C:nresults>2</C:nresults></C:limit>"
    )
    answers = multistatus(world.dav().report(BOOK, body))
    assert len([a for a in answers.values() if a.status is None]) == 2
    assert answers[BOOK].status == 507

    response = world.dav().report(BOOK, _query(_match("FN", "x", collation="i;klingon")))
    assert response.status_code == 403
    assert C + "supported-collation" in error_condition(response)


def test_unknown_report_is_refused(world: World) -> None:
    response = world.dav().report(BOOK, '<D:expand-property xmlns:D="DAV:"/>')
    assert response.status_code == 403
    assert D + "supported-report" in error_condition(response)
