"""A merge as a CardDAV client sees it, with vdirsyncer against ``crmsync run`` (SQLite
and PostgreSQL): after merging a duplicate, the next sync updates the kept card (its
UID, now with the addresses of both) and deletes the merged one; nothing else changes.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from crm.db import will_write
from crm.duplicates import find_duplicates, merge
from crm.models import ContactPoint, Organization, Person
from tests.carddav.clients import parse_card, values, vdirsyncer, vdirsyncer_config
from tests.carddav.conftest import DavSite

pytestmark = pytest.mark.slow

KEPT, TWIN_ADDRESS, TWIN_PHONE = "juergen", "j.mueller@privat.example", "+4915112345678"


def snapshot(folder: Path) -> dict[str, tuple[int, int, bytes]]:
    """Each .vcf file by UID: (inode, mtime_ns, content)."""
    found = {}
    for path in folder.glob("*.vcf"):
        stat = path.stat()
        found[path.stem] = (stat.st_ino, stat.st_mtime_ns, path.read_bytes())
    return found


def test_a_merge_updates_one_card_and_deletes_the_other(dav_site: DavSite, tmp_path: Path) -> None:
    site = dav_site
    kept_uid = site.customers.uid(KEPT)
    with site.sessions() as session, session.begin():
        will_write(session)  # the running server may write (render cards) meanwhile
        nordwind = session.scalars(
            select(Organization).where(Organization.name == "Nordwind Logistik GmbH")
        ).one()
        twin = Person(display_name="Müller, Jürgen", organization=nordwind)
        twin.contact_points = [
            ContactPoint(kind="email", value=TWIN_ADDRESS, original=TWIN_ADDRESS),
            ContactPoint(kind="phone", value=TWIN_PHONE, label="mobile"),
        ]
        session.add(twin)
        session.flush()
        twin_id, twin_uid = twin.id, twin.uid
        kept_id = session.scalars(select(Person.id).where(Person.uid == kept_uid)).one()

    config = vdirsyncer_config(tmp_path, site.url, "alice", site.app_passwords["alice"])
    vdirsyncer(config, site.env, "discover")
    vdirsyncer(config, site.env, "sync")
    local = tmp_path / "contacts" / "customers"
    before = snapshot(local)
    assert set(before) == set(site.customers.uids.values()) | {twin_uid}

    with site.sessions() as session:
        found = find_duplicates(session, kind="person")
        assert [c.ids for c in found] == [(kept_id, twin_id)]
    with site.sessions() as session:
        will_write(session)  # as the web view and the command line do: the server writes too
        result = merge(session, "person", kept_id, twin_id, "admin")
        session.commit()
    assert result.merged_uid == twin_uid

    vdirsyncer(config, site.env, "sync")
    after = snapshot(local)
    assert set(after) == set(before) - {twin_uid}  # the merged card is deleted
    assert after[kept_uid][2] != before[kept_uid][2]  # the kept card is updated
    card = parse_card(after[kept_uid][2].decode())
    assert card.uid.value == kept_uid
    assert set(values(card, "email")) == {"juergen.mueller@nordwind-logistik.example", TWIN_ADDRESS}
    assert TWIN_PHONE in values(card, "tel")
    assert card.fn.value == "Jürgen Müller"
    untouched = set(after) - {kept_uid}
    assert {uid: after[uid] for uid in untouched} == {uid: before[uid] for uid in untouched}

    # nothing changed since: nothing written
    vdirsyncer(config, site.env, "sync")
    assert snapshot(local) == after
