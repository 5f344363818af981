"""The Microsoft Graph simulator's mailbox store: users, mail folders, calendars, contact
folders and contacts, rendered as Graph v1.0 JSON (messages: :mod:`tests.servers.graph_mail`,
events: :mod:`tests.servers.graph_calendar`).

Every item carries a ``changeKey`` that changes with each update; delta queries
(:mod:`tests.servers.graph_delta`) compare snapshots of ``{id: changeKey}``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from tests.servers.graph_calendar import Event, iso_utc
from tests.servers.graph_mail import Message, new_change_key, new_id

WELL_KNOWN_FOLDERS = {
    "inbox": "Inbox",
    "sentitems": "Sent Items",
    "deleteditems": "Deleted Items",
    "drafts": "Drafts",
    "archive": "Archive",
    "junkemail": "Junk Email",
    "outbox": "Outbox",
    "conversationhistory": "Conversation History",
}


# PidTagSensitivity (0x0036) as the Sensitivity header and Graph's event enum name it
@dataclass
class Folder:
    """A mail or contact folder."""

    id: str
    display_name: str
    parent_id: str
    well_known: str | None = None
    is_hidden: bool = False
    items: dict[str, Any] = field(default_factory=dict)  # id -> Message / Contact
    child_ids: list[str] = field(default_factory=list)

    def json(self, store: Mailbox) -> dict[str, Any]:
        return {
            "id": self.id,
            "displayName": self.display_name,
            "parentFolderId": self.parent_id,
            "childFolderCount": len(self.child_ids),
            "unreadItemCount": sum(
                1 for m in self.items.values() if isinstance(m, Message) and not m.is_read
            ),
            "totalItemCount": len(self.items),
            "isHidden": self.is_hidden,
        }


@dataclass
class Contact:
    """A contact; ``props`` holds the Graph property names (givenName, emailAddresses...)."""

    id: str
    folder_id: str
    props: dict[str, Any]
    created: dt.datetime
    modified: dt.datetime
    change_key: str = field(default_factory=new_change_key)

    def json(self) -> dict[str, Any]:
        p = self.props
        empty_address: dict[str, Any] = {}
        return {
            "@odata.etag": f'W/"{self.change_key}"',
            "id": self.id,
            "createdDateTime": iso_utc(self.created),
            "lastModifiedDateTime": iso_utc(self.modified),
            "changeKey": self.change_key,
            "categories": list(p.get("categories", [])),
            "parentFolderId": self.folder_id,
            "birthday": p.get("birthday"),
            "fileAs": p.get("fileAs", ""),
            "displayName": p.get("displayName", ""),
            "givenName": p.get("givenName"),
            "initials": p.get("initials"),
            "middleName": p.get("middleName"),
            "nickName": p.get("nickName"),
            "surname": p.get("surname"),
            "title": p.get("title"),
            "generation": None,
            "imAddresses": list(p.get("imAddresses", [])),
            "jobTitle": p.get("jobTitle"),
            "companyName": p.get("companyName"),
            "department": p.get("department"),
            "officeLocation": p.get("officeLocation"),
            "profession": p.get("profession"),
            "businessHomePage": p.get("businessHomePage"),
            "assistantName": None,
            "manager": None,
            "homePhones": list(p.get("homePhones", [])),
            "mobilePhone": p.get("mobilePhone"),
            "businessPhones": list(p.get("businessPhones", [])),
            "spouseName": None,
            "personalNotes": p.get("personalNotes", ""),
            "children": [],
            "emailAddresses": [dict(e) for e in p.get("emailAddresses", [])],
            "homeAddress": dict(p.get("homeAddress", empty_address)),
            "businessAddress": dict(p.get("businessAddress", empty_address)),
            "otherAddress": dict(p.get("otherAddress", empty_address)),
        }


@dataclass
class Calendar:
    id: str
    name: str
    is_default: bool
    events: dict[str, Event] = field(default_factory=dict)

    def json(self, owner: Mailbox) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "color": "auto",
            "isDefaultCalendar": self.is_default,
            "changeKey": self.id[-16:],
            "canShare": True,
            "canViewPrivateItems": True,
            "canEdit": True,
            "owner": {"name": owner.display_name, "address": owner.mail},
        }


@dataclass
class Mailbox:
    """A user and everything in their mailbox."""

    id: str
    upn: str
    mail: str
    display_name: str
    time_zone: str = "UTC"
    folders: dict[str, Folder] = field(default_factory=dict)
    well_known: dict[str, str] = field(default_factory=dict)
    messages: dict[str, Message] = field(default_factory=dict)
    calendars: dict[str, Calendar] = field(default_factory=dict)
    contact_folders: dict[str, Folder] = field(default_factory=dict)
    contacts: dict[str, Contact] = field(default_factory=dict)

    def json(self) -> dict[str, Any]:
        given, _, surname = self.display_name.partition(" ")
        return {
            "businessPhones": [],
            "displayName": self.display_name,
            "givenName": given or None,
            "jobTitle": None,
            "mail": self.mail,
            "mobilePhone": None,
            "officeLocation": None,
            "preferredLanguage": "en-US",
            "surname": surname or None,
            "userPrincipalName": self.upn,
            "id": self.id,
        }

    def folder(self, key: str) -> Folder | None:
        """A mail folder by id or well-known name (case-insensitive, as Graph allows)."""
        folder = self.folders.get(key)
        if folder is None:
            folder_id = self.well_known.get(key.lower())
            folder = self.folders.get(folder_id) if folder_id else None
        return folder

    def calendar(self, key: str | None) -> Calendar | None:
        if key is None or key.lower() == "calendar":
            return next((c for c in self.calendars.values() if c.is_default), None)
        return self.calendars.get(key)

    def contact_folder(self, key: str | None) -> Folder | None:
        if key is None or key.lower() == "contacts":
            return next((f for f in self.contact_folders.values() if f.well_known), None)
        return self.contact_folders.get(key)

    def event(self, event_id: str) -> Event | None:
        for calendar in self.calendars.values():
            event = calendar.events.get(event_id)
            if event is not None:
                return event
        return None


def make_mailbox(upn: str, display_name: str, mail: str | None, time_zone: str) -> Mailbox:
    """A mailbox with the well-known mail folders, a calendar and a contacts folder."""
    box = Mailbox(str(uuid.uuid4()), upn, mail or upn, display_name, time_zone)
    root = new_id("AAMkAR")
    box.well_known["msgfolderroot"] = root
    box.folders[root] = Folder(root, "Top of Information Store", new_id("AAMkAX"))
    for name, display in WELL_KNOWN_FOLDERS.items():
        add_folder(box, root, display, well_known=name)
    cal = Calendar(new_id("AAMkAC"), "Calendar", True)
    box.calendars[cal.id] = cal
    contacts = Folder(new_id("AAMkAF"), "Contacts", root, well_known="contacts")
    box.contact_folders[contacts.id] = contacts
    return box


def add_folder(box: Mailbox, parent_id: str, name: str, well_known: str | None = None) -> Folder:
    folder = Folder(new_id(), name, parent_id, well_known)
    box.folders[folder.id] = folder
    box.folders[parent_id].child_ids.append(folder.id)
    if well_known:
        box.well_known[well_known] = folder.id
    return folder
