"""Hostile and broken request bodies: a clear 4xx, never a 500, nothing expanded."""

from __future__ import annotations

import pytest

from tests.carddav_protocol.conftest import BOOK, World

XXE = (
    '<?xml version="1.0"?><!DOCTYPE propfind [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    '<propfind xmlns="DAV:"><prop><displayname>&xxe;</displayname></prop></propfind>'
)
LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">'
        for i in range(1, 10)
    )
    + ']><propfind xmlns="DAV:"><prop><displayname>&lol9;</displayname></prop></propfind>'
)
PARAMETER_ENTITY = (
    '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY % remote SYSTEM "http://127.0.0.1:1/x.dtd">%remote;]>'
    '<propfind xmlns="DAV:"><allprop/></propfind>'
)


@pytest.mark.parametrize(
    "body", [XXE, LAUGHS, PARAMETER_ENTITY], ids=["xxe", "billion-laughs", "parameter-entity"]
)
def test_entities_and_dtds_are_refused(world: World, body: str) -> None:
    for method in ("PROPFIND", "REPORT"):
        response = world.dav().request(method, BOOK, body, Depth="0")
        assert response.status_code == 400
        assert b"DTD" in response.get_data() or b"entit" in response.get_data()
        assert b"root:" not in response.get_data()


@pytest.mark.parametrize(
    "body",
    [
        "<propfind xmlns='DAV:'><prop>",
        "not xml at all",
        "<propfind xmlns='DAV:'><prop><getetag/></prop></propfind><second/>",
        "\xff\xfe<junk>",
        "<D:propfind xmlns:D='DAV:'><D:bogus/></D:propfind>",
        "<wrong-root xmlns='DAV:'/>",
    ],
)
def test_malformed_bodies_get_400_with_a_reason(world: World, body: str) -> None:
    response = world.dav().request("PROPFIND", BOOK, body.encode("latin-1"), Depth="0")
    assert response.status_code == 400
    assert b"<CR:message>" in response.get_data()


def test_report_needs_a_body(world: World) -> None:
    assert world.dav().report(BOOK, b"").status_code == 400


def test_large_bodies_are_refused_before_reading(world: World) -> None:
    body = b"<propfind xmlns='DAV:'><prop>" + b"<getetag/>" * 200_000 + b"</prop></propfind>"
    response = world.dav().request("PROPFIND", BOOK, body, Depth="0")
    assert response.status_code == 413


def test_bad_depth_and_sync_level(world: World) -> None:
    assert world.dav().request("PROPFIND", BOOK, Depth="2").status_code == 400
    body = (
        '<D:sync-collection xmlns:D="DAV:"><D:sync-token/><D:sync-level>7</D:sync-level>'
        "<D:prop><D:getetag/></D:prop></D:sync-collection>"
    )
    assert world.dav().report(BOOK, body, depth="0").status_code == 400
