"""The EWS operations the simulator answers, one function each.

Each takes the request :class:`Context` and the operation element (``m:GetItem`` …)
and returns the ``m:{Op}Response`` body. A problem with the whole request raises
:class:`tests.servers.ews_xml.RequestError` (a SOAP fault); a problem with one folder or
item becomes that entry's own error response message, as Exchange does.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element

from tests.servers.ews_store import (
    FOLDER_MAGIC,
    ITEM_MAGIC,
    Folder,
    Item,
    Mailbox,
    Store,
    User,
    id_is_ours,
)
from tests.servers.ews_xml import (
    RequestError,
    Shape,
    attr,
    error,
    m,
    mailbox_xml,
    matches,
    need,
    operation_response,
    parse_datetime,
    schema_error,
    success,
    t,
)

NOT_FOUND = "The specified object was not found in the store."
NO_ACCESS = "Access is denied. Check credentials and try again."
MALFORMED = "Id is malformed."


@dataclass
class Context:
    """Who is asking: the logged-in user and the mailbox acted as (own or impersonated)."""

    store: Store
    user: User
    principal: Mailbox | None
    delegate_of: set[str] = field(default_factory=set)
    #: mailboxes the request addressed (for the request log)
    addressed: list[str] = field(default_factory=list)

    def may_open(self, box: Mailbox) -> bool:
        own = self.principal is not None and self.principal is box
        return own or box.address.lower() in self.delegate_of


class EntryError(Exception):
    """An error for one entry of a request (its own response message)."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(text)
        self.code = code
        self.text = text


def resolve_folder(ctx: Context, elem: Element) -> Folder:
    """The folder a ``t:FolderId`` or ``t:DistinguishedFolderId`` names."""
    store = ctx.store
    if elem.tag == t("DistinguishedFolderId"):
        name = elem.get("Id") or ""
        if not re.fullmatch(r"[a-z]+", name):
            raise schema_error(f"The 'Id' attribute value '{name}' is invalid.")
        mailbox = elem.find(t("Mailbox"))
        if mailbox is not None:
            address = need(mailbox, t("EmailAddress")).text or ""
            ctx.addressed.append(address)
            box = store.mailbox(address)
            if box is None:
                raise EntryError(
                    "ErrorNonExistentMailbox",
                    f"No mailbox with such guid or smtp address: {address}",
                )
        elif ctx.principal is None:
            raise EntryError(
                "ErrorMissingEmailAddress",
                "When making a request as an account that does not have a mailbox, you must "
                "specify the mailbox primary SMTP address for any distinguished folders.",
            )
        else:
            box = ctx.principal
        if not ctx.may_open(box):
            raise EntryError("ErrorAccessDenied", NO_ACCESS)
        if name not in box.by_name:
            raise EntryError("ErrorFolderNotFound", "The specified folder could not be found.")
        return box.by_name[name]
    if elem.tag == t("FolderId"):
        folder_id = elem.get("Id") or ""
        if not id_is_ours(folder_id, FOLDER_MAGIC):
            raise EntryError("ErrorInvalidIdMalformed", MALFORMED)
        folder = store.folders.get(folder_id)
        if folder is None or folder.deleted:
            raise EntryError("ErrorFolderNotFound", "The specified folder could not be found.")
        ctx.addressed.append(folder.mailbox.address)
        if not ctx.may_open(folder.mailbox):
            raise EntryError("ErrorAccessDenied", NO_ACCESS)
        return folder
    raise schema_error(f"The element '{elem.tag}' is not a folder id.")


def folder_list(op: Element, tag: str) -> list[Element]:
    ids = need(op, m(tag))
    if not len(ids):
        raise schema_error(f"The element '{tag}' has incomplete content.")
    return list(ids)


def get_folder(ctx: Context, op: Element) -> str:
    shape = Shape(need(op, m("FolderShape")))
    messages = []
    for elem in folder_list(op, "FolderIds"):
        try:
            folder = resolve_folder(ctx, elem)
        except EntryError as e:
            messages.append(error("GetFolder", e.code, e.text))
            continue
        messages.append(success("GetFolder", f"<m:Folders>{folder.to_xml(shape)}</m:Folders>"))
    return operation_response("GetFolder", messages)


def _page(op: Element, view_tag: str) -> tuple[int, int | None]:
    view = op.find(m(view_tag))
    if view is None:
        return 0, None
    offset = int(view.get("Offset") or 0)
    limit = view.get("MaxEntriesReturned")
    if view.get("BasePoint", "Beginning") != "Beginning":
        raise RequestError("ErrorInvalidArgument", "Only BasePoint=Beginning is simulated.")
    return offset, int(limit) if limit else None


def _root_folder(entries: list[str], offset: int, total: int, tag: str, paged: bool) -> str:
    end = offset + len(entries)
    last = "true" if end >= total else "false"
    paging = f' IndexedPagingOffset="{end}"' if paged else ""
    return (
        f'<m:RootFolder{paging} TotalItemsInView="{total}" IncludesLastItemInRange="{last}">'
        f"<t:{tag}>{''.join(entries)}</t:{tag}></m:RootFolder>"
    )


def find_folder(ctx: Context, op: Element) -> str:
    traversal = op.get("Traversal")
    if traversal not in ("Shallow", "Deep", "SoftDeleted"):
        raise schema_error(f"The 'Traversal' attribute value '{traversal}' is invalid.")
    shape = Shape(need(op, m("FolderShape")))
    offset, limit = _page(op, "IndexedPageFolderView")
    restriction = op.find(m("Restriction"))
    messages = []
    for elem in folder_list(op, "ParentFolderIds"):
        try:
            parent = resolve_folder(ctx, elem)
        except EntryError as e:
            messages.append(error("FindFolder", e.code, e.text))
            continue
        found = parent.descendants() if traversal == "Deep" else parent.children()
        if traversal == "SoftDeleted":
            found = []
        if restriction is not None:
            found = [f for f in found if matches(restriction[0], f.value)]
        page = found[offset : offset + limit if limit else None]
        entries = [f.to_xml(shape) for f in page]
        messages.append(
            success("FindFolder", _root_folder(entries, offset, len(found), "Folders", True))
        )
    return operation_response("FindFolder", messages)


def _sort_key(uri: str) -> Callable[[Item], tuple[bool, object]]:
    def key(item: Item) -> tuple[bool, object]:
        value = item.value(uri)
        return (value is None, value if value is not None else "")

    return key


def find_item(ctx: Context, op: Element) -> str:
    if op.get("Traversal") not in ("Shallow", "SoftDeleted", "Associated"):
        raise RequestError("ErrorInvalidOperation", "Only Shallow item traversal is simulated.")
    shape = Shape(need(op, m("ItemShape")))
    calendar = op.find(m("CalendarView"))
    offset, limit = _page(op, "IndexedPageItemView")
    restriction = op.find(m("Restriction"))
    if op.find(m("QueryString")) is not None:
        raise RequestError("ErrorInvalidOperation", "QueryString searches are not simulated.")
    messages = []
    for elem in folder_list(op, "ParentFolderIds"):
        try:
            folder = resolve_folder(ctx, elem)
        except EntryError as e:
            messages.append(error("FindItem", e.code, e.text))
            continue
        items = [] if op.get("Traversal") != "Shallow" else list(folder.items.values())
        items.sort(key=_sort_key("item:DateTimeReceived"), reverse=True)
        order = op.find(m("SortOrder"))
        for order_elem in reversed(list(order) if order is not None else []):
            uri = order_elem[0].get("FieldURI") or ""
            descending = order_elem.get("Order") == "Descending"
            items.sort(key=_sort_key(uri), reverse=descending)
        if restriction is not None:
            items = [i for i in items if matches(restriction[0], i.value)]
        if calendar is not None:
            start = parse_datetime(calendar.get("StartDate") or "")
            end = parse_datetime(calendar.get("EndDate") or "")
            items = [i for i in items if i.kind == "calendar"]
            items = [i for i in items if i.props["start"] < end and i.props["end"] > start]
            limit = int(calendar.get("MaxEntriesReturned") or 0) or None
        page = items[offset : offset + limit if limit else None]
        entries = [i.to_xml(shape) for i in page]
        body = _root_folder(entries, offset, len(items), "Items", calendar is None)
        messages.append(success("FindItem", body))
    return operation_response("FindItem", messages)


def _lookup_item(ctx: Context, elem: Element) -> Item:
    item_id = elem.get("Id") or ""
    if elem.tag != t("ItemId") or not id_is_ours(item_id, ITEM_MAGIC):
        raise EntryError("ErrorInvalidIdMalformed", MALFORMED)
    item = ctx.store.items.get(item_id)
    if item is None or item.deleted or item_id in ctx.store.hidden or item.folder.deleted:
        raise EntryError("ErrorItemNotFound", NOT_FOUND)
    ctx.addressed.append(item.folder.mailbox.address)
    if not ctx.may_open(item.folder.mailbox):
        raise EntryError("ErrorAccessDenied", NO_ACCESS)
    return item


def get_item(ctx: Context, op: Element) -> str:
    shape = Shape(need(op, m("ItemShape")))
    messages = []
    for elem in folder_list(op, "ItemIds"):
        try:
            item = _lookup_item(ctx, elem)
        except EntryError as e:
            messages.append(error("GetItem", e.code, e.text))
            continue
        messages.append(success("GetItem", f"<m:Items>{item.to_xml(shape)}</m:Items>"))
    return operation_response("GetItem", messages)


def encode_state(store: Store, folder: Folder, position: int) -> str:
    raw = json.dumps({"f": folder.id, "e": store.epoch, "p": position}, separators=(",", ":"))
    return base64.b64encode(raw.encode()).decode()


def decode_state(store: Store, folder: Folder, state: str) -> int:
    """The log position in a sync state; ErrorInvalidSyncStateData if it is not ours."""
    try:
        data = json.loads(base64.b64decode(state, validate=True))
        if data["f"] == folder.id and data["e"] == store.epoch:
            return int(data["p"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        pass
    raise EntryError(
        "ErrorInvalidSyncStateData", "Synchronization state data is corrupt or invalid."
    )


def sync_folder_items(ctx: Context, op: Element) -> str:
    shape = Shape(need(op, m("ItemShape")))
    sync_folder = need(op, m("SyncFolderId"))
    if len(sync_folder) != 1:
        raise schema_error("The element 'SyncFolderId' has invalid content.")
    max_changes_text = need(op, m("MaxChangesReturned")).text or ""
    if not max_changes_text.isdigit() or not 1 <= int(max_changes_text) <= 512:
        raise schema_error(f"The 'MaxChangesReturned' value '{max_changes_text}' is invalid.")
    scope = op.find(m("SyncScope"))
    if scope is not None and scope.text not in ("NormalItems", "NormalAndAssociatedItems"):
        raise schema_error(f"The 'SyncScope' value '{scope.text}' is invalid.")
    state_elem = op.find(m("SyncState"))
    empty = "<m:SyncState/><m:IncludesLastItemInRange>true</m:IncludesLastItemInRange>"
    try:
        folder = resolve_folder(ctx, sync_folder[0])
        state = (state_elem.text or "").strip() if state_elem is not None else ""
        position = decode_state(ctx.store, folder, state) if state else 0
    except EntryError as e:
        return operation_response(
            "SyncFolderItems", [error("SyncFolderItems", e.code, e.text, empty)]
        )
    changes, new_position, last = folder.changes_since(position, int(max_changes_text))
    parts = []
    for kind, item in changes:
        if kind == "Delete":
            parts.append(f"<t:Delete>{item.id_xml()}</t:Delete>")
        elif kind == "ReadFlagChange":
            is_read = "true" if item.props.get("is_read") else "false"
            parts.append(
                f"<t:ReadFlagChange>{item.id_xml()}<t:IsRead>{is_read}</t:IsRead></t:ReadFlagChange>"
            )
        else:
            parts.append(f"<t:{kind}>{item.to_xml(shape)}</t:{kind}>")
    body = (
        f"<m:SyncState>{encode_state(ctx.store, folder, new_position)}</m:SyncState>"
        f"<m:IncludesLastItemInRange>{'true' if last else 'false'}</m:IncludesLastItemInRange>"
        f"<m:Changes>{''.join(parts)}</m:Changes>"
    )
    return operation_response("SyncFolderItems", [success("SyncFolderItems", body)])


def expand_dl(ctx: Context, op: Element) -> str:
    mailbox = need(op, m("Mailbox"))
    address = (need(mailbox, t("EmailAddress")).text or "").strip()
    group = ctx.store.groups.get(address.lower())
    if group is None:
        text = "No results were found."
        return operation_response(
            "ExpandDL", [error("ExpandDL", "ErrorNameResolutionNoResults", text)]
        )
    members = []
    for member in group[1]:
        box = ctx.store.mailbox(member)
        sub = ctx.store.groups.get(member.lower())
        if box is not None:
            members.append(box.xml())
        elif sub is not None:
            members.append(mailbox_xml(sub[0], member, "PublicDL"))
        else:
            members.append(mailbox_xml(member, member, "Contact"))
    n = len(members)
    body = (
        f'<m:DLExpansion IndexedPagingOffset="{n}" TotalItemsInView="{n}" '
        f'IncludesLastItemInRange="true">{"".join(members)}</m:DLExpansion>'
    )
    return operation_response("ExpandDL", [success("ExpandDL", body)])


def resolve_names(ctx: Context, op: Element) -> str:
    full = (op.get("ReturnFullContactData") or "false").lower() == "true"
    entry = need(op, m("UnresolvedEntry")).text or ""
    needle = entry.strip().lower().removeprefix("smtp:")
    store = ctx.store
    found = [b for b in store.mailboxes.values() if b.address.lower() == needle]
    if not found:
        found = [b for b in store.mailboxes.values() if needle in b.display_name.lower()]
    resolutions = []
    for box in found:
        contact = ""
        if full:
            contact = (
                f"<t:Contact><t:DisplayName>{box.display_name}</t:DisplayName><t:EmailAddresses>"
                f'<t:Entry Key="EmailAddress1">SMTP:{box.address}</t:Entry>'
                "</t:EmailAddresses><t:ContactSource>ActiveDirectory</t:ContactSource></t:Contact>"
            )
        resolutions.append(f"<t:Resolution>{box.xml()}{contact}</t:Resolution>")
    for address, (name, _members) in store.groups.items():
        if needle in (address, name.lower()):
            resolutions.append(
                f"<t:Resolution>{mailbox_xml(name, address, 'PublicDL')}</t:Resolution>"
            )
    if not resolutions:
        message = error("ResolveNames", "ErrorNameResolutionNoResults", "No results were found.")
        return operation_response("ResolveNames", [message])
    n = len(resolutions)
    body = (
        f'<m:ResolutionSet TotalItemsInView="{n}" IncludesLastItemInRange="true">'
        f"{''.join(resolutions)}</m:ResolutionSet>"
    )
    if n > 1:
        message = error(
            "ResolveNames",
            "ErrorNameResolutionMultipleResults",
            "Multiple results were found.",
            body,
            warning=True,
        )
    else:
        message = success("ResolveNames", body)
    return operation_response("ResolveNames", [message])


def convert_id(ctx: Context, op: Element) -> str:
    destination = op.get("DestinationFormat")
    if destination not in ("EwsLegacyId", "EwsId", "EntryId", "HexEntryId", "StoreId", "OwaId"):
        raise schema_error(f"The 'DestinationFormat' value '{destination}' is invalid.")
    messages = []
    for source in folder_list(op, "SourceIds"):
        source_id = source.get("Id") or ""
        ours = id_is_ours(source_id, ITEM_MAGIC) or id_is_ours(source_id, FOLDER_MAGIC)
        if not ours:
            messages.append(error("ConvertId", "ErrorInvalidIdMalformed", MALFORMED))
            continue
        messages.append(
            success(
                "ConvertId",
                f'<m:AlternateId xsi:type="t:AlternateIdType" Format={attr(destination)} '
                f"Id={attr(source_id)} Mailbox={attr(source.get('Mailbox') or '')}/>",
            )
        )
    return operation_response("ConvertId", messages)


OPERATIONS: dict[str, Callable[[Context, Element], str]] = {
    "GetFolder": get_folder,
    "FindFolder": find_folder,
    "FindItem": find_item,
    "GetItem": get_item,
    "SyncFolderItems": sync_folder_items,
    "ExpandDL": expand_dl,
    "ResolveNames": resolve_names,
    "ConvertId": convert_id,
}
