"""Request sequences of real CardDAV clients, written for these tests from their
public documentation, source and bug reports (the bodies are ours; no capture is
copied):

- Apple iOS / macOS Contacts: sabre.io's "iOS" and "OS X Address Book" client notes,
  nextcloud/contacts#399 (iOS 12 accountsd: PROPFIND /.well-known/carddav, OPTIONS on
  the principal, PROPFIND of the home), Kozea/Radicale#47 ("Brief: t", Depth 0).
- DAVx5: the property sets of bitfireAT/davx5's DavResourceFinder and
  ContactsSyncManager (dav4jvm property names), owncloud/core#20184.
- Thunderbird's built-in CardDAV (CardDAVUtils.detectAddressBooks,
  CardDAVDirectory.fetchAllFromServer / updateAllFromServerV2), owncloud/contacts#478.

Each step is (method, path template, Depth, extra headers, body); ``{principal}``,
``{home}``, ``{book}``, ``{card}`` and ``{token}`` are filled in as a client would from
the previous answers.
"""

from __future__ import annotations

Step = tuple[str, str, str | None, dict[str, str], str]

IOS: list[Step] = [
    (
        "PROPFIND",
        "/.well-known/carddav",
        "0",
        {},
        '<?xml version="1.0" encoding="UTF-8"?><A:propfind xmlns:A="DAV:"><A:prop>'
        "<A:current-user-principal/><A:principal-URL/><A:resourcetype/></A:prop></A:propfind>",
    ),
    ("OPTIONS", "{principal}", None, {}, ""),
    (
        "PROPFIND",
        "{principal}",
        "0",
        {"Brief": "t", "Prefer": "return=minimal"},
        '<?xml version="1.0" encoding="UTF-8"?><A:propfind xmlns:A="DAV:"'
        ' xmlns:B="urn:ietf:params:xml:ns:carddav" xmlns:C="http://calendarserver.org/ns/">'
        "<A:prop><B:addressbook-home-set/><B:directory-gateway/><A:displayname/>"
        "<C:email-address-set/><A:principal-collection-set/><A:principal-URL/>"
        "<A:resource-id/><A:supported-report-set/></A:prop></A:propfind>",
    ),
    (
        "PROPFIND",
        "{home}",
        "1",
        {"Brief": "t"},
        '<?xml version="1.0" encoding="UTF-8"?><A:propfind xmlns:A="DAV:"'
        ' xmlns:B="http://calendarserver.org/ns/" xmlns:C="urn:ietf:params:xml:ns:carddav">'
        "<A:prop><A:current-user-privilege-set/><A:displayname/><B:getctag/>"
        "<C:max-image-size/><C:max-resource-size/><B:me-card/><A:owner/>"
        "<B:push-transports/><B:pushkey/><A:quota-available-bytes/><A:quota-used-bytes/>"
        "<A:resource-id/><A:resourcetype/><A:supported-report-set/><A:sync-token/>"
        "</A:prop></A:propfind>",
    ),
    (
        "REPORT",
        "{book}",
        "0",
        {},
        '<?xml version="1.0" encoding="UTF-8"?><A:sync-collection xmlns:A="DAV:">'
        "<A:sync-token>{token}</A:sync-token><A:sync-level>1</A:sync-level>"
        "<A:prop><A:getetag/><A:getcontenttype/></A:prop></A:sync-collection>",
    ),
    (
        "REPORT",
        "{book}",
        "0",
        {},
        '<?xml version="1.0" encoding="UTF-8"?><B:addressbook-multiget xmlns:A="DAV:"'
        ' xmlns:B="urn:ietf:params:xml:ns:carddav"><A:prop><A:getetag/><B:address-data/>'
        "</A:prop><A:href>{card}</A:href></B:addressbook-multiget>",
    ),
]

DAVX5: list[Step] = [
    (
        "PROPFIND",
        "/.well-known/carddav",
        "0",
        {},
        '<?xml version="1.0" encoding="UTF-8" ?><propfind xmlns="DAV:"'
        ' xmlns:CARD="urn:ietf:params:xml:ns:carddav"><prop><resourcetype/><displayname/>'
        "<CARD:addressbook-description/><current-user-principal/></prop></propfind>",
    ),
    (
        "PROPFIND",
        "{principal}",
        "0",
        {},
        '<?xml version="1.0" encoding="UTF-8" ?><propfind xmlns="DAV:"'
        ' xmlns:CARD="urn:ietf:params:xml:ns:carddav"><prop><CARD:addressbook-home-set/>'
        "<group-membership/></prop></propfind>",
    ),
    (
        "PROPFIND",
        "{home}",
        "1",
        {},
        '<?xml version="1.0" encoding="UTF-8" ?><propfind xmlns="DAV:"'
        ' xmlns:CARD="urn:ietf:params:xml:ns:carddav"><prop><resourcetype/><displayname/>'
        "<owner/><current-user-privilege-set/><CARD:addressbook-description/>"
        "<CARD:supported-address-data/></prop></propfind>",
    ),
    (
        "PROPFIND",
        "{book}",
        "0",
        {},
        '<?xml version="1.0" encoding="UTF-8" ?><propfind xmlns="DAV:"'
        ' xmlns:CARD="urn:ietf:params:xml:ns:carddav" xmlns:CS="http://calendarserver.org/ns/">'
        "<prop><CARD:supported-address-data/><supported-report-set/><CS:getctag/>"
        "<sync-token/></prop></propfind>",
    ),
    (
        "REPORT",
        "{book}",
        "0",
        {},
        '<?xml version="1.0" encoding="UTF-8" ?><sync-collection xmlns="DAV:">'
        "<sync-token>{token}</sync-token><sync-level>1</sync-level>"
        "<prop><getetag/></prop></sync-collection>",
    ),
    (
        "REPORT",
        "{book}",
        None,
        {},
        '<?xml version="1.0" encoding="UTF-8" ?><CARD:addressbook-multiget xmlns="DAV:"'
        ' xmlns:CARD="urn:ietf:params:xml:ns:carddav"><prop><getcontenttype/><getetag/>'
        '<CARD:address-data content-type="text/vcard" version="4.0"/></prop>'
        "<href>{card}</href></CARD:addressbook-multiget>",
    ),
]

THUNDERBIRD: list[Step] = [
    (
        "PROPFIND",
        "/.well-known/carddav",
        "0",
        {},
        '<propfind xmlns="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav"><prop>'
        "<resourcetype/><displayname/><current-user-privilege-set/>"
        "<card:addressbook-home-set/><current-user-principal/></prop></propfind>",
    ),
    (
        "PROPFIND",
        "{home}",
        "1",
        {},
        '<propfind xmlns="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav"><prop>'
        "<resourcetype/><displayname/><current-user-privilege-set/></prop></propfind>",
    ),
    (
        "PROPFIND",
        "{book}",
        "1",
        {},
        '<propfind xmlns="DAV:" xmlns:cs="http://calendarserver.org/ns/"><prop>'
        "<resourcetype/><getetag/><cs:getctag/></prop></propfind>",
    ),
    (
        "REPORT",
        "{book}",
        "1",
        {},
        '<card:addressbook-multiget xmlns="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav">'
        "<prop><getetag/><card:address-data/></prop><href>{card}</href>"
        "</card:addressbook-multiget>",
    ),
    (
        "REPORT",
        "{book}",
        "1",
        {},
        '<sync-collection xmlns="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav">'
        "<sync-token>{token}</sync-token><sync-level>1</sync-level>"
        "<prop><getetag/><card:address-data/></prop></sync-collection>",
    ),
]

CLIENTS = {"ios": IOS, "davx5": DAVX5, "thunderbird": THUNDERBIRD}
