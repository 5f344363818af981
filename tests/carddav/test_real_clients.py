"""The CardDAV export with real clients, on SQLite and on PostgreSQL (issue 5).

- vdirsyncer finds the address book from nothing but the server's bare URL (RFC 6764
  ``/.well-known/carddav``, then current-user-principal, then addressbook-home-set),
  syncs it into a folder of .vcf files, and after one customer is changed and one
  deleted the next sync fetches that one card and removes that one file, nothing else;
- khard reads that folder and finds customers by e-mail address;
- the caldav library's DAV client discovers the principal, the home and the book with
  its own PROPFINDs;
- rights as a client meets them: a wrong password or the web password is refused with
  401, a viewer finds no address book, and nobody reads another user's home.

Where a test counts requests, the client talks to the server through a recording proxy
(tests/carddav/proxy.py), so the test sees what reached the server and what it answered:
which discovery steps, how many cards a sync fetched.
"""

from __future__ import annotations

from pathlib import Path

import caldav
import pytest
from caldav.elements import dav
from caldav.elements.base import BaseElement
from caldav.lib import error as caldav_error
from sqlalchemy import select

from crm.models import ContactPoint, Person
from tests.carddav.clients import (
    describe,
    khard,
    khard_config,
    parse_card,
    run,
    tool,
    values,
    vdirsyncer,
    vdirsyncer_config,
)
from tests.carddav.conftest import DavSite
from tests.carddav.customers import ALL, ORGANIZATIONS, Spec
from tests.carddav.proxy import Exchange, recording

pytestmark = pytest.mark.slow

MULTIGET = "{urn:ietf:params:xml:ns:carddav}addressbook-multiget"
SPECS = {spec.key: spec for spec in ALL}
ORG_NAMES = {spec.key: spec.name for spec in ORGANIZATIONS}
CHANGED, DELETED = "renee", "tobias"
NEW_NAME, NEW_PHONE = "Renée O'Connor-Łęcka", "+353871112233"


class AddressbookHomeSet(BaseElement):
    """CARDDAV:addressbook-home-set (RFC 6352 section 7.1.1); caldav knows CalDAV's only."""

    tag = "{urn:ietf:params:xml:ns:carddav}addressbook-home-set"


class GetCTag(BaseElement):
    tag = "{http://calendarserver.org/ns/}getctag"


# -- helpers ----------------------------------------------------------------------------


def snapshot(folder: Path) -> dict[str, tuple[int, int, bytes]]:
    """Each .vcf file by UID: (inode, mtime_ns, content)."""
    found = {}
    for path in folder.glob("*.vcf"):
        stat = path.stat()
        found[path.stem] = (stat.st_ino, stat.st_mtime_ns, path.read_bytes())
    return found


def assert_card_is(
    text: str, spec: Spec, uid: str, *, name: str = "", phones: tuple[str, ...] = ()
) -> None:
    """The card says what the customer is: UID, FN, N, ORG, EMAIL, TEL, NOTE, CATEGORIES
    (parsed back by vobject, so escaping and folding must be right), folded lines."""
    card = parse_card(text)
    context = f"card of {spec.key}:\n{text}"
    assert card.uid.value == uid, context
    assert card.fn.value == (name or spec.name), context
    assert sorted(values(card, "email")) == sorted(spec.emails), context
    assert sorted(values(card, "tel")) == sorted(phones or spec.phones), context
    if spec.note:
        assert card.note.value == spec.note, context
    if spec.categories:
        assert sorted(card.categories.value) == sorted(spec.categories), context
    if spec.is_org:
        assert card.org.value == [spec.name], context
    elif spec.org:
        assert card.org.value == [ORG_NAMES[spec.org]], context
    else:
        assert "org" not in card.contents, context
    if not spec.is_org and not name:
        assert (card.n.value.family, card.n.value.given) == (spec.family, spec.given), context
    assert all(len(line.encode()) <= 75 for line in text.splitlines()), f"unfolded: {context}"


def multigets(exchanges: list[Exchange]) -> list[Exchange]:
    return [e for e in exchanges if e.report == MULTIGET]


def story(exchanges: list[Exchange]) -> str:
    return "requests the server received:\n" + "\n".join(e.line() for e in exchanges)


def first_sync(site: DavSite, root: Path, url: str) -> Path:
    """Discover and sync alice's books from the bare ``url``; the local book's folder."""
    config = vdirsyncer_config(root, url, "alice", site.app_passwords["alice"])
    said = vdirsyncer(config, site.env, "discover")
    assert '"customers" ("All customers")' in said, said
    assert 'collections = ["customers"]' in said, said
    vdirsyncer(config, site.env, "sync")
    return root / "contacts" / "customers"


def change_and_delete(site: DavSite) -> None:
    """Rename one customer and give them a new phone number; delete another. Through the
    ORM, in one transaction, as the web view or an import would."""
    with site.sessions.begin() as session:
        renee = session.scalars(select(Person).where(Person.uid == site.customers.uid(CHANGED)))
        person = renee.one()
        person.display_name = NEW_NAME
        person.family_name = "O'Connor-Łęcka"
        person.contact_points.append(
            ContactPoint(kind="phone", value=NEW_PHONE, label="work", original=NEW_PHONE)
        )
        gone = session.scalars(select(Person).where(Person.uid == site.customers.uid(DELETED)))
        session.delete(gone.one())


# -- vdirsyncer -------------------------------------------------------------------------


def test_vdirsyncer_discovers_from_the_bare_url_and_fetches_only_what_changed(
    dav_site: DavSite, tmp_path: Path
) -> None:
    site = dav_site
    with recording(site.url) as proxy:
        config = vdirsyncer_config(tmp_path, proxy.url, "alice", site.app_passwords["alice"])
        said = vdirsyncer(config, site.env, "discover")
        assert '"customers" ("All customers")' in said, said
        discovery = proxy.taken()
        # the path RFC 6764 and RFC 6352 describe, from nothing but the bare URL
        # vdirsyncer asks the URL it was given first, then /.well-known/carddav; either
        # redirects to the DAV tree (307 for PROPFIND: the method and body are kept)
        redirected = [e for e in discovery if e.path in ("/", "/.well-known/carddav")]
        assert redirected, story(discovery)
        assert redirected[0].status == 307, story(discovery)
        assert redirected[0].response_headers["location"] in ("/dav/", f"{proxy.url}dav/")
        answered = {(e.method, e.path, e.status) for e in discovery}
        for step in (
            ("PROPFIND", "/dav/", 207),  # current-user-principal
            ("PROPFIND", "/dav/principals/alice/", 207),  # addressbook-home-set
            ("PROPFIND", "/dav/addressbooks/alice/", 207),  # the books in the home
        ):
            assert step in answered, story(discovery)
        assert not [e for e in discovery if e.status >= 500], story(discovery)

        vdirsyncer(config, site.env, "sync")
        full = proxy.taken()
        local = tmp_path / "contacts" / "customers"
        before = snapshot(local)
        assert set(before) == set(site.customers.uids.values())
        for key, spec in SPECS.items():
            uid = site.customers.uid(key)
            assert_card_is(before[uid][2].decode(), spec, uid)
        fetched = [h for e in multigets(full) for h in e.hrefs]
        assert sorted(fetched) == sorted(site.card_path(k) for k in SPECS), story(full)
        assert sum(e.cards_sent() for e in full) == len(SPECS), story(full)

        change_and_delete(site)
        vdirsyncer(config, site.env, "sync")
        incremental = proxy.taken()
        after = snapshot(local)

        # on the server: one multiget of the one changed card, the only card sent; no writes
        gets = multigets(incremental)
        assert len(gets) == 1, story(incremental)
        assert gets[0].hrefs == [site.card_path(CHANGED)], gets[0].body.decode()
        assert gets[0].answered_hrefs() == [site.card_path(CHANGED)]
        assert sum(e.cards_sent() for e in incremental) == 1, story(incremental)
        assert {e.method for e in incremental} <= {"PROPFIND", "REPORT"}, story(incremental)

        # in the folder: that card changed, the deleted one is gone, the rest untouched
        changed, deleted = site.customers.uid(CHANGED), site.customers.uid(DELETED)
        assert set(after) == set(before) - {deleted}
        assert after[changed][2] != before[changed][2]
        assert_card_is(
            after[changed][2].decode(),
            SPECS[CHANGED],
            changed,
            name=NEW_NAME,
            phones=(*SPECS[CHANGED].phones, NEW_PHONE),
        )
        untouched = set(after) - {changed}
        assert {uid: after[uid] for uid in untouched} == {uid: before[uid] for uid in untouched}

        # nothing changed since: nothing fetched, nothing written
        vdirsyncer(config, site.env, "sync")
        idle = proxy.taken()
        assert not multigets(idle) and not sum(e.cards_sent() for e in idle), story(idle)
        assert snapshot(local) == after


# -- khard ------------------------------------------------------------------------------


def test_khard_finds_customers_by_email_in_the_synced_folder(
    dav_site: DavSite, tmp_path: Path
) -> None:
    local = first_sync(dav_site, tmp_path, dav_site.url)
    assert len(list(local.glob("*.vcf"))) == len(ALL)
    config = khard_config(tmp_path, local)
    env = dav_site.env

    found = khard(config, env, "email", "zolkiewski.example")
    assert "Łukasz Żółkiewski" in found and "lukasz@zolkiewski.example" in found, found
    found = khard(config, env, "email", "msp-steuer")
    for name in (
        "Müller, Schmidt & Partner; Steuerberater",
        "Doe, John Jr.",
        "Dr. Eva Schmidt; Partnerin",
    ):
        assert name in found, found
    assert "Jürgen" not in found, found

    # every card is readable by khard (it would refuse an unparsable one), names intact
    listing = khard(config, env, "list")
    for spec in ALL:
        assert spec.name in listing, f"{spec.name} missing in:\n{listing}"
    shown = khard(config, env, "show", "--format", "pretty", "juergen.mueller@")
    assert "Geschäftsführer" in shown and "+4917612345678" in shown, shown


# -- the caldav library -----------------------------------------------------------------


@pytest.mark.parametrize("start", ["", "dav/", ".well-known/carddav"])
def test_caldav_client_discovers_principal_home_and_address_book(
    dav_site: DavSite, start: str
) -> None:
    site = dav_site
    # caldav PROPFINDs the URL it is given (no RFC 6764 lookup of its own): the site's
    # root and the well-known address redirect there with 307, which keeps the body
    with caldav.DAVClient(
        url=site.url + start, username="alice", password=site.app_passwords["alice"]
    ) as client:
        principal = client.principal()  # PROPFIND current-user-principal
        assert principal.url.path == "/dav/principals/alice/"

        home_href = principal.get_property(AddressbookHomeSet())
        assert home_href == "/dav/addressbooks/alice/"

        home = caldav.DAVObject(client=client, url=principal.url.join(home_href))
        books = home.children()  # PROPFIND Depth: 1, displayname and resourcetype
        by_path = {url.path: (types, name) for url, types, name in books}
        assert list(by_path) == ["/dav/addressbooks/alice/customers/"], books
        types, name = by_path["/dav/addressbooks/alice/customers/"]
        assert "{urn:ietf:params:xml:ns:carddav}addressbook" in types
        assert "{DAV:}collection" in types
        assert name == "All customers"

        book = caldav.DAVObject(client=client, url=home.url.join("customers/"))
        props = book.get_properties([dav.DisplayName(), dav.SyncToken(), GetCTag()])
        assert props[dav.DisplayName.tag] == "All customers"
        assert props[dav.SyncToken.tag] and props[GetCTag.tag] == props[dav.SyncToken.tag]
        cards = book.children()
        assert sorted(url.path for url, _, _ in cards) == sorted(site.card_path(k) for k in SPECS)


# -- rights -----------------------------------------------------------------------------


def test_vdirsyncer_with_a_wrong_app_password_gets_401(dav_site: DavSite, tmp_path: Path) -> None:
    site = dav_site
    with recording(site.url) as proxy:
        config = vdirsyncer_config(tmp_path, proxy.url, "alice", "abcd-efgh-jkmn-pqrs-tuvw-xyz2")
        result = run(
            [tool("vdirsyncer"), "-c", str(config), "discover"],
            site.env,
            stdin="y\n",
            expect_ok=False,
        )
        exchanges = proxy.taken()
    assert "401" in result.stderr, describe(result)
    refused = [e for e in exchanges if e.status == 401]
    assert refused, story(exchanges)
    assert all(e.response_headers["www-authenticate"].startswith("Basic") for e in refused)
    assert not [e for e in exchanges if e.status == 207], story(exchanges)
    assert not list(tmp_path.rglob("*.vcf"))


def test_caldav_client_with_a_wrong_or_the_web_password_gets_401(dav_site: DavSite) -> None:
    site = dav_site
    # a wrong app password, and the user's web password, which is not for DAV clients
    for password in ("abcd-efgh-jkmn-pqrs-tuvw-xyz2", "web-password-of-bob"):
        with caldav.DAVClient(url=site.url + "dav/", username="bob", password=password) as c:
            with pytest.raises(caldav_error.AuthorizationError) as refused:
                c.principal()
            assert refused.value.status == 401, refused.value

    # two failures are below the throttle's limit: the right app password still works
    with caldav.DAVClient(
        url=site.url + "dav/", username="bob", password=site.app_passwords["bob"]
    ) as client:
        assert client.principal().url.path == "/dav/principals/bob/"


def test_a_viewer_finds_no_book_and_nobody_reads_another_users_home(
    dav_site: DavSite, tmp_path: Path
) -> None:
    site = dav_site
    # vera is a viewer: her home is there, but no address book in it
    config = vdirsyncer_config(tmp_path, site.url, "vera", site.app_passwords["vera"])
    said = vdirsyncer(config, site.env, "discover")
    assert "collections = []" in said, said
    vdirsyncer(config, site.env, "sync")
    assert not list(tmp_path.rglob("*.vcf"))

    with caldav.DAVClient(
        url=site.url + "dav/", username="vera", password=site.app_passwords["vera"]
    ) as client:
        principal = client.principal()
        home_href = principal.get_property(AddressbookHomeSet())
        assert home_href == "/dav/addressbooks/vera/"
        assert caldav.DAVObject(client=client, url=principal.url.join(home_href)).children() == []
        for path in ("/dav/addressbooks/vera/customers/", "/dav/addressbooks/alice/customers/"):
            with pytest.raises(caldav_error.AuthorizationError) as refused:
                caldav.DAVObject(client=client, url=client.url.join(path)).children()
            assert refused.value.status == 403, refused.value

    # bob is staff: his own book, but not alice's principal, home or book
    with caldav.DAVClient(
        url=site.url + "dav/", username="bob", password=site.app_passwords["bob"]
    ) as client:
        for path in (
            "/dav/principals/alice/",
            "/dav/addressbooks/alice/",
            "/dav/addressbooks/alice/customers/",
        ):
            with pytest.raises(caldav_error.AuthorizationError) as refused:
                caldav.DAVObject(client=client, url=client.url.join(path)).children()
            assert refused.value.status == 403, refused.value
        own = caldav.DAVObject(client=client, url=client.url.join("/dav/addressbooks/bob/"))
        assert [url.path for url, _, _ in own.children()] == ["/dav/addressbooks/bob/customers/"]
