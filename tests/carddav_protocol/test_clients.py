"""What iOS, DAVx5 and Thunderbird send, step by step, and the corpus of DAV request
bodies from other servers' test suites."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
import vobject
from defusedxml.ElementTree import fromstring

from tests.carddav_protocol.clientbodies import CLIENTS, Step
from tests.carddav_protocol.conftest import BOOK, CS, C, D, World, multistatus, sync


def _run(world: World, step: Step, values: dict[str, str]):  # type: ignore[no-untyped-def]
    method, path, depth, headers, body = step
    path = path.format(**values)
    body = body.replace("{token}", values["token"]).replace("{card}", values["card"])
    extra = dict(headers)
    if depth is not None:
        extra["Depth"] = depth
    response = world.dav().request(method, path, body, **extra)
    if path == "/.well-known/carddav":  # a client follows the redirect with the same request
        assert response.status_code == (301 if method in ("GET", "HEAD") else 307)
        response = world.dav().request(method, response.headers["Location"], body, **extra)
    return response


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_a_clients_session_finds_and_loads_the_book(world: World, client: str) -> None:
    values = {
        "principal": "/dav/principals/staff/",
        "home": "/dav/addressbooks/staff/",
        "book": BOOK,
        "card": world.card_path("Jörg Müller"),
        "token": "",
    }
    seen_props: dict[str, ET.Element] = {}
    names: set[str] = set()
    for step in CLIENTS[client]:
        response = _run(world, step, values)
        if step[0] == "OPTIONS":
            assert "addressbook" in response.headers["DAV"]
            continue
        answers = multistatus(response)
        for answer in answers.values():
            seen_props.update(answer.props.get(200, {}))
            data = answer.props.get(200, {}).get(C + "address-data")
            if data is not None:
                names.add(vobject.readOne(data.text).fn.value)
            if step[2] and "Brief" in step[3]:
                assert 404 not in answer.props, "Brief: t leaves out what is not found"
        token = fromstring(response.get_data()).findtext(D + "sync-token")
        if token:
            values["token"] = token
    assert seen_props[D + "current-user-principal"].findtext(D + "href") == values["principal"]
    if client != "thunderbird":  # Thunderbird reads the home set from the well-known answer
        assert seen_props[C + "addressbook-home-set"].findtext(D + "href") == values["home"]
    assert (
        seen_props.get(CS + "getctag") is not None or seen_props.get(D + "sync-token") is not None
    )
    assert "Jörg Müller" in names


def _substitute(text: str, token: str) -> str:
    text = text.replace("%(sync-token)s", token)
    text = text.replace("$addressbookpath1:", BOOK.rstrip("/"))
    return text


def _corpus_files(corpus: Path) -> list[Path]:
    return sorted((corpus / "carddav-requests").glob("*.xml"))


def test_every_corpus_body_gets_a_clear_answer(world: World, corpus: Path) -> None:
    files = _corpus_files(corpus)
    assert len(files) >= 20
    _, token = sync(world.dav())
    targets = [
        "/dav/",
        "/dav/principals/staff/",
        "/dav/addressbooks/staff/",
        BOOK,
        world.card_path("Ann Smith"),
    ]
    expected_400 = {"caldavtester__vpropfinds_4.xml", "caldavtester__vpropfinds_5.xml"}
    for path in files:
        body = _substitute(path.read_text(encoding="utf-8"), token)
        root = fromstring(body.encode())
        method = "PROPFIND" if root.tag == D + "propfind" else "REPORT"
        for target in targets if method == "PROPFIND" else [BOOK]:
            for depth in ("0", "1"):
                response = world.dav().request(method, target, body, Depth=depth)
                code = response.status_code
                if path.name in expected_400:
                    assert code == 400, (path.name, target)
                elif path.name == "davical__2039-REPORT-sync-changed.xml":  # another server's token
                    assert code == 403 and b"valid-sync-token" in response.get_data()
                else:
                    assert code == 207, (path.name, target, depth, response.get_data()[:300])
                    multistatus(response)  # well-formed


def test_corpus_multiget_and_query_answers(world: World, corpus: Path) -> None:
    folder = corpus / "carddav-requests"
    body = _substitute((folder / "caldavtester__vreports_multiget_1.xml").read_text(), "")
    answers = multistatus(world.dav().report(BOOK, body))
    assert len(answers) == 6 and all(a.status == 404 for a in answers.values())
    query = (folder / "caldavtester__vreports_basicquery_1.xml").read_text()
    answers = multistatus(world.dav().report(BOOK, query))
    assert len(answers) == len(world.people) + len(world.orgs)
    for answer in answers.values():
        card = vobject.readOne(answer.prop(C + "address-data").text)
        assert set(card.contents) == {"version", "uid"}
