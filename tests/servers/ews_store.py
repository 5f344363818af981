"""The state behind the EWS simulator: users, mailboxes, folders, items, change logs.

Every item keeps its XML rendered per field URI (``item:Subject`` → ``<t:Subject>…``),
made once when the item is stored or changed, so answering GetItem or SyncFolderItems
is joining strings. Every change to an item appends ``(seq, item id)`` to its folder's
change log; a sync state is a position in that log (see :meth:`Folder.changes_since`).
"""

from __future__ import annotations

import base64
import bisect
import contextlib
import datetime as dt
import email.parser
import email.policy
import email.utils
import itertools
import uuid
from dataclasses import dataclass, field
from typing import Any

from tests.servers.ews_xml import Shape, el, esc, ews_datetime, mailbox_xml

ITEM_MAGIC = b"\x00crmsync-item\x00"
FOLDER_MAGIC = b"\x00crmsync-folder\x00"

#: distinguished folder id → (display name, folder class, element tag, parent)
WELL_KNOWN = {
    "root": ("Root", None, "Folder", None),
    "msgfolderroot": ("Top of Information Store", "IPF.Note", "Folder", "root"),
    "inbox": ("Inbox", "IPF.Note", "Folder", "msgfolderroot"),
    "sentitems": ("Sent Items", "IPF.Note", "Folder", "msgfolderroot"),
    "deleteditems": ("Deleted Items", "IPF.Note", "Folder", "msgfolderroot"),
    "calendar": ("Calendar", "IPF.Appointment", "CalendarFolder", "msgfolderroot"),
    "contacts": ("Contacts", "IPF.Contact", "ContactsFolder", "msgfolderroot"),
}
FOLDER_TAGS = {"IPF.Appointment": "CalendarFolder", "IPF.Contact": "ContactsFolder"}
ITEM_TAGS = {"message": "Message", "calendar": "CalendarItem", "contact": "Contact"}
SENSITIVITIES = ("Normal", "Personal", "Private", "Confidential")

#: the fields each kind of item answers, in the order of the schema's sequence
ITEM_FIELDS = (
    "item:ParentFolderId",
    "item:ItemClass",
    "item:Subject",
    "item:Sensitivity",
    "item:DateTimeReceived",
    "item:Size",
    "item:Categories",
    "item:Importance",
    "item:DateTimeSent",
    "item:DateTimeCreated",
    "item:HasAttachments",
    "item:LastModifiedTime",
)
KIND_FIELDS = {
    "message": ("message:From", "message:InternetMessageId", "message:IsRead"),
    "calendar": (
        "calendar:UID",
        "calendar:Start",
        "calendar:End",
        "calendar:IsAllDayEvent",
        "calendar:Location",
        "calendar:IsCancelled",
        "calendar:IsRecurring",
        "calendar:CalendarItemType",
    ),
    "contact": (
        "contacts:DisplayName",
        "contacts:GivenName",
        "contacts:CompanyName",
        "contacts:EmailAddress*",
        "contacts:PhysicalAddress*",
        "contacts:PhoneNumber*",
        "contacts:JobTitle",
        "contacts:Surname",
    ),
}
ADDRESS_PARTS = ("Street", "City", "State", "CountryOrRegion", "PostalCode")


def new_id(magic: bytes) -> str:
    """An opaque, base64 id in the style of Exchange's (``AAMkA…``)."""
    return base64.b64encode(magic + uuid.uuid4().bytes).decode()


def id_is_ours(value: str, magic: bytes) -> bool:
    """Whether ``value`` is well-formed (otherwise: ErrorInvalidIdMalformed)."""
    try:
        return base64.b64decode(value, validate=True).startswith(magic)
    except ValueError:
        return False


def change_key(version: int) -> str:
    """A change key that differs for each version of an item or folder."""
    return base64.b64encode(b"CQAAABYAAAA" + version.to_bytes(4, "big")).decode()


@dataclass
class Item:
    """One stored item: its properties, MIME and the XML of each field."""

    id: str
    kind: str
    folder: Folder
    props: dict[str, Any]
    mime: bytes | None
    version: int = 1
    created_seq: int = 0
    content_seq: int = 0
    last_seq: int = 0
    deleted: bool = False
    xml: dict[str, str] = field(default_factory=dict)

    @property
    def changekey(self) -> str:
        return change_key(self.version)

    def id_xml(self) -> str:
        return f'<t:ItemId Id="{self.id}" ChangeKey="{self.changekey}"/>'

    def render(self) -> None:
        """Build the XML of each field from the properties (after every change)."""
        p = self.props
        x: dict[str, str] = {}
        if self.mime is not None:
            encoded = base64.b64encode(self.mime).decode()
            x["item:MimeContent"] = f'<t:MimeContent CharacterSet="UTF-8">{encoded}</t:MimeContent>'
        x["item:ParentFolderId"] = f'<t:ParentFolderId Id="{self.folder.id}" ChangeKey="AQAAAA=="/>'
        x["item:ItemClass"] = el("t:ItemClass", p["item_class"])
        if p.get("subject") is not None:
            x["item:Subject"] = el("t:Subject", p["subject"])
        x["item:Sensitivity"] = el("t:Sensitivity", p.get("sensitivity", "Normal"))
        x["item:DateTimeReceived"] = el("t:DateTimeReceived", p["received"])
        x["item:Size"] = el("t:Size", len(self.mime or b""))
        if p.get("categories"):
            strings = "".join(el("t:String", c) for c in p["categories"])
            x["item:Categories"] = f"<t:Categories>{strings}</t:Categories>"
        x["item:Importance"] = "<t:Importance>Normal</t:Importance>"
        x["item:DateTimeSent"] = el("t:DateTimeSent", p.get("sent", p["received"]))
        x["item:DateTimeCreated"] = el("t:DateTimeCreated", p["received"])
        x["item:HasAttachments"] = "<t:HasAttachments>false</t:HasAttachments>"
        x["item:LastModifiedTime"] = el("t:LastModifiedTime", p["modified"])
        render_kind = {"message": _message_xml, "calendar": _calendar_xml, "contact": _contact_xml}
        render_kind[self.kind](p, x)
        self.xml = x

    def to_xml(self, shape: Shape) -> str:
        """The item as ``t:Message``/``t:CalendarItem``/``t:Contact`` in ``shape``."""
        tag = ITEM_TAGS[self.kind]
        x = self.xml
        parts = [f"<t:{tag}>"]
        if "item:MimeContent" in shape.fields and "item:MimeContent" in x:
            parts.append(x["item:MimeContent"])
        parts.append(self.id_xml())
        for uri in ITEM_FIELDS + KIND_FIELDS[self.kind]:
            if uri in x and shape.wants(uri):
                parts.append(x[uri])
        parts.append(f"</t:{tag}>")
        return "".join(parts)

    def value(self, uri: str) -> Any:
        """A field's value for restrictions (FindItem)."""
        names = {
            "item:Subject": "subject",
            "item:DateTimeReceived": "received",
            "item:ItemClass": "item_class",
            "item:Sensitivity": "sensitivity",
            "message:IsRead": "is_read",
            "calendar:Start": "start",
            "calendar:End": "end",
            "calendar:UID": "uid",
            "contacts:DisplayName": "display_name",
        }
        return self.props.get(names.get(uri, uri))


def _message_xml(p: dict[str, Any], x: dict[str, str]) -> None:
    if p.get("from"):
        name, address = p["from"]
        x["message:From"] = f"<t:From>{mailbox_xml(name or address, address)}</t:From>"
    if p.get("message_id"):
        x["message:InternetMessageId"] = el("t:InternetMessageId", p["message_id"])
    x["message:IsRead"] = el("t:IsRead", bool(p.get("is_read")))


def _calendar_xml(p: dict[str, Any], x: dict[str, str]) -> None:
    x["calendar:UID"] = el("t:UID", p["uid"])
    x["calendar:Start"] = el("t:Start", p["start"])
    x["calendar:End"] = el("t:End", p["end"])
    x["calendar:IsAllDayEvent"] = el("t:IsAllDayEvent", bool(p.get("all_day")))
    if p.get("location"):
        x["calendar:Location"] = el("t:Location", p["location"])
    x["calendar:IsCancelled"] = el("t:IsCancelled", bool(p.get("is_cancelled")))
    x["calendar:IsRecurring"] = el("t:IsRecurring", bool(p.get("is_recurring")))
    x["calendar:CalendarItemType"] = el("t:CalendarItemType", p["calendar_item_type"])


def _contact_xml(p: dict[str, Any], x: dict[str, str]) -> None:
    for uri, key in (
        ("contacts:DisplayName", "display_name"),
        ("contacts:GivenName", "given_name"),
        ("contacts:CompanyName", "company_name"),
        ("contacts:JobTitle", "job_title"),
        ("contacts:Surname", "surname"),
    ):
        if p.get(key):
            x[uri] = el(f"t:{uri.split(':')[1]}", p[key])
    for uri, key, tag in (
        ("contacts:EmailAddress*", "emails", "EmailAddresses"),
        ("contacts:PhoneNumber*", "phones", "PhoneNumbers"),
    ):
        if p.get(key):
            entries = "".join(
                f'<t:Entry Key="{esc(k)}">{esc(v)}</t:Entry>' for k, v in p[key].items()
            )
            x[uri] = f"<t:{tag}>{entries}</t:{tag}>"
    if p.get("addresses"):
        entries = ""
        for key, parts in p["addresses"].items():
            inner = "".join(el(f"t:{n}", parts[n]) for n in ADDRESS_PARTS if parts.get(n))
            entries += f'<t:Entry Key="{esc(key)}">{inner}</t:Entry>'
        x["contacts:PhysicalAddress*"] = f"<t:PhysicalAddresses>{entries}</t:PhysicalAddresses>"


def message_props(mime: bytes) -> dict[str, Any]:
    """Subject, sender, Message-ID and date read from a mail's header."""
    parser = email.parser.BytesHeaderParser(policy=email.policy.compat32)
    headers = parser.parsebytes(mime)
    props: dict[str, Any] = {"subject": headers.get("Subject")}
    sender = email.utils.parseaddr(headers.get("From", ""))
    if sender[1]:
        props["from"] = sender
    if headers.get("Message-ID"):
        props["message_id"] = headers["Message-ID"].strip()
    with contextlib.suppress(TypeError, ValueError):
        props["sent"] = email.utils.parsedate_to_datetime(headers["Date"])
    return props


def calendar_mime(p: dict[str, Any]) -> bytes:
    """The iCalendar object Exchange gives as a calendar item's MimeContent."""
    klass = {"Normal": "PUBLIC", "Personal": "PRIVATE", "Private": "PRIVATE"}.get(
        p.get("sensitivity", "Normal"), "CONFIDENTIAL"
    )

    def stamp(value: dt.datetime) -> str:
        return ews_datetime(value).replace("-", "").replace(":", "")

    lines = [
        "BEGIN:VCALENDAR",
        "METHOD:PUBLISH",
        "PRODID:Microsoft Exchange Server 2010",
        "VERSION:2.0",
        "BEGIN:VEVENT",
        f"UID:{p['uid']}",
        f"SUMMARY;LANGUAGE=en-US:{p.get('subject') or ''}",
        f"DTSTART:{stamp(p['start'])}",
        f"DTEND:{stamp(p['end'])}",
        f"CLASS:{klass}",
        f"DTSTAMP:{stamp(p['modified'])}",
    ]
    if p.get("rrule"):
        lines.append(f"RRULE:{p['rrule']}")
    if p.get("recurrence_id"):
        lines.append(f"RECURRENCE-ID:{stamp(p['recurrence_id'])}")
    if p.get("location"):
        lines.append(f"LOCATION:{p['location']}")
    lines += ["END:VEVENT", "END:VCALENDAR", ""]
    return "\r\n".join(lines).encode()


def contact_mime(p: dict[str, Any]) -> bytes:
    """A vCard 3.0 for a contact (Exchange's MIME conversion of contacts, MS-OXVCARD)."""
    lines = [
        "BEGIN:VCARD",
        "VERSION:3.0",
        f"FN:{p.get('display_name') or ''}",
        f"N:{p.get('surname') or ''};{p.get('given_name') or ''};;;",
    ]
    if p.get("company_name"):
        lines.append(f"ORG:{p['company_name']}")
    if p.get("job_title"):
        lines.append(f"TITLE:{p['job_title']}")
    for address in (p.get("emails") or {}).values():
        lines.append(f"EMAIL;TYPE=INTERNET:{address}")
    phone_types = {"BusinessPhone": "WORK", "HomePhone": "HOME", "MobilePhone": "CELL"}
    for key, number in (p.get("phones") or {}).items():
        lines.append(f"TEL;TYPE={phone_types.get(key, 'VOICE')}:{number}")
    lines += ["END:VCARD", ""]
    return "\r\n".join(lines).encode()


@dataclass
class Folder:
    """A folder of one mailbox with its items and change log."""

    id: str
    mailbox: Mailbox
    name: str
    folder_class: str | None
    distinguished: str | None
    parent: Folder | None
    deleted: bool = False
    items: dict[str, Item] = field(default_factory=dict)
    log_seqs: list[int] = field(default_factory=list)
    log_ids: list[str] = field(default_factory=list)

    @property
    def tag(self) -> str:
        return FOLDER_TAGS.get(self.folder_class or "", "Folder")

    def children(self) -> list[Folder]:
        return [f for f in self.mailbox.folders.values() if f.parent is self and not f.deleted]

    def descendants(self) -> list[Folder]:
        found = []
        for c in self.children():
            found.append(c)
            found += c.descendants()
        return found

    def record(self, seq: int, item: Item) -> None:
        self.log_seqs.append(seq)
        self.log_ids.append(item.id)

    def to_xml(self, shape: Shape) -> str:
        """The folder as ``t:Folder``/``t:CalendarFolder``/``t:ContactsFolder``."""
        parts = [f'<t:{self.tag}><t:FolderId Id="{self.id}" ChangeKey="AQAAABYAAAA="/>']
        if self.parent is not None and shape.wants("folder:ParentFolderId"):
            parts.append(f'<t:ParentFolderId Id="{self.parent.id}" ChangeKey="AQAAAA=="/>')
        if self.folder_class and shape.wants("folder:FolderClass"):
            parts.append(el("t:FolderClass", self.folder_class))
        if shape.wants("folder:DisplayName"):
            parts.append(el("t:DisplayName", self.name))
        if shape.wants("folder:TotalCount"):
            parts.append(el("t:TotalCount", len(self.items)))
        if shape.wants("folder:ChildFolderCount"):
            parts.append(el("t:ChildFolderCount", len(self.children())))
        if shape.wants("folder:EffectiveRights"):
            rights = "".join(
                el(f"t:{r}", True)
                for r in ("CreateAssociated", "CreateContents", "CreateHierarchy", "Delete")
            )
            parts.append(
                f"<t:EffectiveRights>{rights}<t:Modify>true</t:Modify>"
                "<t:Read>true</t:Read></t:EffectiveRights>"
            )
        if shape.wants("folder:UnreadCount"):
            unread = sum(1 for i in self.items.values() if not i.props.get("is_read", True))
            parts.append(el("t:UnreadCount", unread))
        if self.distinguished and "folder:DistinguishedFolderId" in shape.fields:
            parts.append(el("t:DistinguishedFolderId", self.distinguished))
        parts.append(f"</t:{self.tag}>")
        return "".join(parts)

    def value(self, uri: str) -> Any:
        """A field's value for restrictions (FindFolder)."""
        return {
            "folder:DisplayName": self.name,
            "folder:FolderClass": self.folder_class,
            "folder:TotalCount": len(self.items),
            "folder:ChildFolderCount": len(self.children()),
        }.get(uri)

    def changes_since(self, position: int, limit: int) -> tuple[list[tuple[str, Item]], int, bool]:
        """The changes after log position ``position``: (changes, new position, last?).

        An item is reported once, at its latest change: Create if the client has not
        seen it (created after ``position``), Update if its content changed, else
        ReadFlagChange; Delete only for items the client has seen.
        """
        changes: list[tuple[str, Item]] = []
        start = bisect.bisect_right(self.log_seqs, position)
        items = self.mailbox.store.items
        new_position = position
        for index in range(start, len(self.log_seqs)):
            seq = self.log_seqs[index]
            item = items[self.log_ids[index]]
            if item.last_seq != seq or item.folder is not self:
                continue  # an older change of an item changed again since
            if item.deleted:
                kind = "Delete" if item.created_seq <= position else ""
            elif item.created_seq > position:
                kind = "Create"
            else:
                kind = "Update" if item.content_seq > position else "ReadFlagChange"
            if not kind:
                new_position = seq
                continue
            if len(changes) == limit:
                return changes, new_position, False
            changes.append((kind, item))
            new_position = seq
        if self.log_seqs:
            new_position = max(new_position, self.log_seqs[-1])
        return changes, new_position, True


@dataclass
class Mailbox:
    """A mailbox by primary SMTP address, with its folders."""

    address: str
    display_name: str
    store: Store
    folders: dict[str, Folder] = field(default_factory=dict)
    by_name: dict[str, Folder] = field(default_factory=dict)

    def xml(self) -> str:
        return mailbox_xml(self.display_name, self.address)


@dataclass
class User:
    """A login: password, own mailbox and rights."""

    name: str
    password: str
    mailbox: str | None
    impersonation: bool = False
    delegate_of: set[str] = field(default_factory=set)


class Store:
    """All state; the caller holds the server's lock."""

    def __init__(self) -> None:
        self.users: dict[str, User] = {}
        self.mailboxes: dict[str, Mailbox] = {}
        self.groups: dict[str, tuple[str, list[str]]] = {}
        self.items: dict[str, Item] = {}
        self.folders: dict[str, Folder] = {}
        self.hidden: set[str] = set()
        self.seq = itertools.count(1)
        self.epoch = 0

    def mailbox(self, address: str) -> Mailbox | None:
        return self.mailboxes.get(address.lower())

    def add_mailbox(self, address: str, display_name: str) -> Mailbox:
        box = Mailbox(address, display_name, self)
        self.mailboxes[address.lower()] = box
        for name, (title, klass, _tag, parent) in WELL_KNOWN.items():
            parent_folder = box.by_name[parent] if parent else None
            folder = Folder(new_id(FOLDER_MAGIC), box, title, klass, name, parent_folder)
            box.folders[folder.id] = folder
            box.by_name[name] = folder
            self.folders[folder.id] = folder
        return box

    def add_folder(self, box: Mailbox, path: str, folder_class: str) -> Folder:
        """Create every missing folder of ``path`` below the msgfolderroot."""
        folder = box.by_name["msgfolderroot"]
        for part in path.strip("/").split("/"):
            found = [c for c in folder.children() if c.name.lower() == part.lower()]
            if found:
                folder = found[0]
                continue
            folder = Folder(new_id(FOLDER_MAGIC), box, part, folder_class, None, folder)
            box.folders[folder.id] = folder
            self.folders[folder.id] = folder
        return folder

    def find_folder(self, box: Mailbox, path: str) -> Folder:
        """A folder by well-known name (``inbox``) or path (``Inbox/Customers``)."""
        if path.lower() in box.by_name:
            return box.by_name[path.lower()]
        folder = box.by_name["msgfolderroot"]
        for part in path.strip("/").split("/"):
            matches = [c for c in folder.children() if c.name.lower() == part.lower()]
            if not matches:
                raise KeyError(f"no folder {path!r} in {box.address}")
            folder = matches[0]
        return folder

    def put(self, folder: Folder, kind: str, props: dict[str, Any], mime: bytes | None) -> Item:
        seq = next(self.seq)
        item = Item(new_id(ITEM_MAGIC), kind, folder, props, mime, 1, seq, seq, seq)
        item.render()
        folder.items[item.id] = item
        self.items[item.id] = item
        folder.record(seq, item)
        return item

    def touch(self, item: Item, *, content: bool = True) -> None:
        """Record a change of ``item`` (content, or the read flag only)."""
        seq = next(self.seq)
        item.last_seq = seq
        if content:
            item.content_seq = seq
            item.version += 1
            item.props["modified"] = dt.datetime.now(dt.UTC)
        item.render()
        item.folder.record(seq, item)

    def remove(self, item: Item) -> None:
        item.deleted = True
        item.folder.items.pop(item.id, None)
        seq = next(self.seq)
        item.last_seq = seq
        item.folder.record(seq, item)
