"""SOAP and EWS XML building blocks for the EWS simulator (:mod:`tests.servers.ews`).

Responses are built from string templates with XML escaping (no DOM), because a
benchmark syncs ten thousand mails through the simulator and the server must not be
the bottleneck. Requests are parsed with ``defusedxml``; the helpers here read the
few shapes EWS requests share (folder ids, item ids, shapes, restrictions).

Element names and shapes follow Microsoft's EWS reference: a response is
``<m:{Op}Response><m:ResponseMessages><m:{Op}ResponseMessage ResponseClass=...>``
with ``m:ResponseCode`` (and ``m:MessageText``, ``m:DescriptiveLinkKey`` on errors);
SOAP faults carry ``e:ResponseCode``, ``e:Message`` and ``t:MessageXml`` in ``detail``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape, quoteattr

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
MNS = "http://schemas.microsoft.com/exchange/services/2006/messages"
TNS = "http://schemas.microsoft.com/exchange/services/2006/types"
ENS = "http://schemas.microsoft.com/exchange/services/2006/errors"
XSI_XSD = (
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xmlns:xsd="http://www.w3.org/2001/XMLSchema"'
)

#: RequestServerVersion values the schema knows, oldest first
API_VERSIONS = (
    "Exchange2007",
    "Exchange2007_SP1",
    "Exchange2010",
    "Exchange2010_SP1",
    "Exchange2010_SP2",
    "Exchange2013",
    "Exchange2013_SP1",
    "Exchange2015",
    "Exchange2015_SP1",
    "Exchange2016",
    "V2015_10_05",
    "V2016_01_06",
    "V2016_04_13",
    "V2016_07_13",
    "V2016_10_10",
    "V2017_01_07",
    "V2017_04_14",
    "V2017_07_11",
    "Exchange2019",
)


def m(tag: str) -> str:
    """The Clark name of an element in the messages namespace."""
    return f"{{{MNS}}}{tag}"


def t(tag: str) -> str:
    """The Clark name of an element in the types namespace."""
    return f"{{{TNS}}}{tag}"


def esc(value: object) -> str:
    """Text content, escaped."""
    return escape(str(value))


def attr(value: object) -> str:
    """An attribute value, quoted and escaped."""
    return quoteattr(str(value))


def el(tag: str, value: object) -> str:
    """``<tag>value</tag>`` with the value escaped; booleans as ``true``/``false``."""
    if isinstance(value, bool):
        value = "true" if value else "false"
    elif isinstance(value, dt.datetime):
        value = ews_datetime(value)
    return f"<{tag}>{esc(value)}</{tag}>"


def ews_datetime(value: dt.datetime) -> str:
    """An xs:dateTime in UTC as Exchange writes it (``2024-05-01T08:00:00Z``)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_datetime(text: str) -> dt.datetime:
    """An xs:dateTime from a request (``Z`` or an offset; naive means UTC)."""
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def envelope(body: str, version: tuple[int, int, int, int], api_version: str) -> bytes:
    """A whole SOAP response with the ``ServerVersionInfo`` header."""
    major, minor, build, revision = version
    header = (
        f'<h:ServerVersionInfo MajorVersion="{major}" MinorVersion="{minor}" '
        f'MajorBuildNumber="{build}" MinorBuildNumber="{revision}" Version={attr(api_version)} '
        f'xmlns:h="{TNS}" xmlns="{TNS}" {XSI_XSD}/>'
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<s:Envelope xmlns:s="{SOAP}"><s:Header>{header}</s:Header>'
        f"<s:Body {XSI_XSD}>{body}</s:Body></s:Envelope>"
    ).encode()


def fault(
    code: str, message: str, values: dict[str, str] | None = None, *, server_fault: bool = False
) -> bytes:
    """A SOAP 1.1 fault as Exchange sends it (with HTTP 500), EWS code in ``detail``."""
    prefix_code = "s:Server" if server_fault else f"a:{code}"
    xml_values = "".join(
        f"<t:Value Name={attr(name)}>{esc(value)}</t:Value>"
        for name, value in (values or {}).items()
    )
    message_xml = f'<t:MessageXml xmlns:t="{TNS}">{xml_values}</t:MessageXml>' if values else ""
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<s:Envelope xmlns:s="{SOAP}"><s:Body><s:Fault>'
        f'<faultcode xmlns:a="{TNS}">{prefix_code}</faultcode>'
        f'<faultstring xml:lang="en-US">{esc(message)}</faultstring>'
        f'<detail><e:ResponseCode xmlns:e="{ENS}">{esc(code)}</e:ResponseCode>'
        f'<e:Message xmlns:e="{ENS}">{esc(message)}</e:Message>{message_xml}</detail>'
        "</s:Fault></s:Body></s:Envelope>"
    ).encode()


def operation_response(operation: str, messages: Iterable[str]) -> str:
    """``<m:{operation}Response>`` around its response messages."""
    return (
        f'<m:{operation}Response xmlns:m="{MNS}" xmlns:t="{TNS}"><m:ResponseMessages>'
        + "".join(messages)
        + f"</m:ResponseMessages></m:{operation}Response>"
    )


def success(operation: str, content: str) -> str:
    """One successful response message."""
    return (
        f'<m:{operation}ResponseMessage ResponseClass="Success">'
        f"<m:ResponseCode>NoError</m:ResponseCode>{content}</m:{operation}ResponseMessage>"
    )


def error(operation: str, code: str, text: str, extra: str = "", *, warning: bool = False) -> str:
    """One error (or warning) response message; ``extra`` follows DescriptiveLinkKey."""
    response_class = "Warning" if warning else "Error"
    return (
        f'<m:{operation}ResponseMessage ResponseClass="{response_class}">'
        f"<m:MessageText>{esc(text)}</m:MessageText><m:ResponseCode>{esc(code)}</m:ResponseCode>"
        f"<m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>{extra}</m:{operation}ResponseMessage>"
    )


def mailbox_xml(
    name: str, address: str, mailbox_type: str = "Mailbox", tag: str = "t:Mailbox"
) -> str:
    """A ``t:Mailbox`` (EmailAddressType) element."""
    return (
        f"<{tag}>{el('t:Name', name)}{el('t:EmailAddress', address)}"
        f"<t:RoutingType>SMTP</t:RoutingType>{el('t:MailboxType', mailbox_type)}</{tag}>"
    )


class RequestError(Exception):
    """A request the simulator rejects as Exchange would: a SOAP fault with this code."""

    def __init__(self, code: str, message: str, values: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.values = values


def schema_error(violation: str) -> RequestError:
    """``ErrorSchemaValidation``, what Exchange answers to a request that breaks Messages.xsd."""
    return RequestError(
        "ErrorSchemaValidation",
        "The request failed schema validation.",
        {"LineNumber": "1", "LinePosition": "1", "Violation": violation},
    )


def child(parent: Element, tag: str, *, required: bool = True) -> Element | None:
    """The child ``tag`` of ``parent``; a schema error if required and missing."""
    found = parent.find(tag)
    if found is None and required:
        local = tag.rsplit("}", 1)[-1]
        raise schema_error(f"The element '{parent.tag}' is missing its child element '{local}'.")
    return found


def need(parent: Element, tag: str) -> Element:
    """The required child ``tag`` of ``parent``."""
    found = child(parent, tag)
    assert found is not None
    return found


class Shape:
    """An ``ItemShape`` or ``FolderShape``: the base shape and the field URIs asked for."""

    def __init__(self, elem: Element) -> None:
        base = need(elem, t("BaseShape")).text or ""
        if base not in ("IdOnly", "Default", "AllProperties"):
            raise schema_error(f"The 'BaseShape' value '{base}' is invalid.")
        self.base = base
        self.fields: set[str] = set()
        mime = elem.find(t("IncludeMimeContent"))
        if mime is not None and (mime.text or "").strip().lower() == "true":
            self.fields.add("item:MimeContent")
        props = elem.find(t("AdditionalProperties"))
        for prop in props if props is not None else ():
            uri = prop.get("FieldURI")
            if uri is None:
                continue  # ExtendedFieldURI: no extended properties are stored
            if prop.tag == t("IndexedFieldURI"):
                self.fields.add(uri.split(":", 2)[0] + ":" + uri.split(":", 2)[1] + "*")
            else:
                self.fields.add(uri)

    def wants(self, uri: str) -> bool:
        """Whether the field is asked for (AllProperties asks for all but MimeContent)."""
        if uri in self.fields:
            return True
        return self.base != "IdOnly" and uri != "item:MimeContent"


Getter = Callable[[str], Any]


def _compare(op: str, left: Any, right: str) -> bool:
    if left is None:
        return op == "IsNotEqualTo"
    if isinstance(left, bool):
        value: Any = right.lower() == "true"
    elif isinstance(left, int):
        value = int(right)
    elif isinstance(left, dt.datetime):
        value = parse_datetime(right)
    else:
        left, value = str(left).lower(), right.lower()
    return {
        "IsEqualTo": left == value,
        "IsNotEqualTo": left != value,
        "IsGreaterThan": left > value,
        "IsGreaterThanOrEqualTo": left >= value,
        "IsLessThan": left < value,
        "IsLessThanOrEqualTo": left <= value,
    }[op]


def matches(expr: Element, get: Getter) -> bool:
    """Evaluate a restriction expression (``t:IsEqualTo`` etc.) against one object."""
    op = expr.tag.rsplit("}", 1)[-1]
    if op in ("And", "Or"):
        results = (matches(sub, get) for sub in expr)
        return all(results) if op == "And" else any(results)
    if op == "Not":
        return not matches(expr[0], get)
    path = expr[0]
    uri = path.get("FieldURI") or ""
    if op == "Exists":
        return get(uri) is not None
    if op == "Contains":
        constant = need(expr, t("Constant")).get("Value") or ""
        value = get(uri)
        return value is not None and constant.lower() in str(value).lower()
    if op.startswith("Is"):
        constant_elem = need(expr, t("FieldURIOrConstant"))
        constant = need(constant_elem, t("Constant")).get("Value") or ""
        return _compare(op, get(uri), constant)
    raise RequestError("ErrorUnsupportedQueryFilter", f"The restriction '{op}' is not supported.")
