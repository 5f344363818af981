"""The OpenAPI 3.1 description of the JSON API (web.api), served at /api/v1/openapi.json.

Written by hand as Python data; tests/web/test_openapi.py validates it and lets
schemathesis call every operation against it.
"""

from __future__ import annotations

from typing import Any

from crm.customeredit import TEXT_FIELDS

MAX_ID = 2**31 - 1


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"oneOf": [schema, {"type": "null"}]}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


_STRING = {"type": "string"}
_ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
_TIME = {"type": "string", "format": "date-time"}
_COMMON_ERRORS = {
    "401": {"$ref": "#/components/responses/Unauthorized"},
}
_WRITE_ERRORS = {
    **_COMMON_ERRORS,
    "400": _error("the body is not a JSON object"),
    "403": _error("the token's user may only read"),
    "415": _error("the body is not JSON"),
    "422": {"$ref": "#/components/responses/Invalid"},
}


def _path_id(name: str, what: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": f"the {what}'s id",
        "schema": _ID,
    }


def _query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or _STRING,
    }


def _limit(default: int, most: int) -> dict[str, Any]:
    schema = {"type": "integer", "minimum": 1, "maximum": most, "default": default}
    return _query("limit", f"entries per page (default {default})", schema)


_CURSOR = _query("cursor", "next_cursor of the previous page")
_PHONE = {
    "name": "phone",
    "in": "query",
    "required": True,
    "description": 'the number as the PBX sends it: "+49 40 1234567", "0049...", '
    '"040 1234567" (national, in the configured default region), "+49 (0)40-123 45 67"',
    "schema": {"type": "string", "minLength": 1, "maxLength": 64},
}


def _customer_fields(kind: str, required: bool) -> dict[str, Any]:
    texts = {k: {"type": "string", "maxLength": n} for k, n in TEXT_FIELDS.items()}
    if kind == "organization":
        texts.pop("title")
    properties: dict[str, Any] = {
        "name": {"type": "string", "minLength": 1, "maxLength": 255},
        "emails": {
            "type": "array",
            "maxItems": 50,
            "items": {"type": "string", "maxLength": 320},
            "description": "e-mail addresses; replaces the stored ones",
        },
        "phones": {
            "type": "array",
            "maxItems": 50,
            "items": {"type": "string", "maxLength": 320},
            "description": "phone numbers, stored in E.164; replaces the stored ones",
        },
        "iban": {"type": "string", "maxLength": 64, "description": "checked, stored compact"},
        "bic": {"type": "string", "maxLength": 64},
        "vat_id": {"type": "string", "maxLength": 64, "description": "with country prefix"},
        **texts,
    }
    if kind == "person":
        properties.update(
            given_name={"type": "string", "maxLength": 255},
            family_name={"type": "string", "maxLength": 255},
            organization_id=_nullable(_ID),
        )
    else:
        properties["owner_id"] = _nullable(_ID)
    schema: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
    }
    if required:
        schema["required"] = ["name"]
    return schema


def _customer_out(kind: str) -> dict[str, Any]:
    texts = {k: _STRING for k in TEXT_FIELDS if kind == "person" or k != "title"}
    properties: dict[str, Any] = {
        "kind": {"const": kind},
        "id": _ID,
        "name": _STRING,
        "iban": _STRING,
        "bic": _STRING,
        "vat_id": _STRING,
        **texts,
        "emails": {"type": "array", "items": _ref("ContactPoint")},
        "phones": {"type": "array", "items": _ref("ContactPoint")},
        "created_at": _nullable(_TIME),
        "updated_at": _nullable(_TIME),
        "owner": _nullable(_ref("Named")),
    }
    if kind == "person":
        properties.update(
            given_name=_STRING, family_name=_STRING, organization=_nullable(_ref("Named"))
        )
    else:
        properties.update(
            domains={"type": "array", "items": _STRING},
            people={"type": "array", "items": _ref("Named")},
        )
    return {"type": "object", "required": list(properties), "properties": properties}


_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": _STRING,
            "problems": {"type": "array", "items": _ref("Problem")},
            "field": _STRING,
            "value": _STRING,
        },
    },
    "Problem": {
        "type": "object",
        "required": ["field", "value", "reason"],
        "properties": {"field": _STRING, "value": _STRING, "reason": _STRING},
    },
    "Named": {
        "type": "object",
        "required": ["id", "name"],
        "properties": {"id": _ID, "name": _STRING},
    },
    "ContactPoint": {
        "type": "object",
        "required": ["value", "original", "label"],
        "properties": {
            "value": {"type": "string", "description": "normalized: lower-case address, E.164"},
            "original": {"type": "string", "description": "as it was written"},
            "label": _STRING,
        },
    },
    "Person": _customer_out("person"),
    "Organization": _customer_out("organization"),
    "PersonInput": _customer_fields("person", required=True),
    "PersonPatch": _customer_fields("person", required=False),
    "OrganizationInput": _customer_fields("organization", required=True),
    "OrganizationPatch": _customer_fields("organization", required=False),
    "CustomerHit": {
        "type": "object",
        "required": ["kind", "id", "name", "detail", "reason"],
        "properties": {
            "kind": {"enum": ["person", "organization"]},
            "id": _ID,
            "name": _STRING,
            "detail": {"type": "string", "description": "organization, or domains"},
            "reason": {"enum": ["name", "address", "domain", "organization", "mail"]},
        },
    },
    "CustomerPage": {
        "type": "object",
        "required": ["customers", "next_cursor"],
        "properties": {
            "customers": {"type": "array", "items": _ref("CustomerHit")},
            "next_cursor": _nullable(_STRING),
        },
    },
    "TimelineEntry": {
        "type": "object",
        "required": [
            "id",
            "kind",
            "direction",
            "occurred_at",
            "subject",
            "snippet",
            "visibility",
            "owner",
            "created_by",
            "customers",
            "participants",
            "attachments",
        ],
        "properties": {
            "id": {"type": "integer"},
            "kind": {"type": "string", "description": "email, meeting, note or call"},
            "direction": {"enum": ["inbound", "outbound", "internal"]},
            "occurred_at": _TIME,
            "subject": _STRING,
            "snippet": _STRING,
            "visibility": {"enum": ["everyone", "private"]},
            "owner": _nullable(_STRING),
            "created_by": _STRING,
            "customers": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["kind", "id", "name"],
                    "properties": {
                        "kind": {"enum": ["person", "organization"]},
                        "id": {"type": "integer"},
                        "name": _STRING,
                    },
                },
            },
            "participants": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["role", "email", "name"],
                    "properties": {"role": _STRING, "email": _STRING, "name": _STRING},
                },
            },
            "attachments": {"type": "array", "items": _STRING},
        },
    },
    "TimelinePage": {
        "type": "object",
        "required": ["entries", "next_cursor"],
        "properties": {
            "entries": {"type": "array", "items": _ref("TimelineEntry")},
            "next_cursor": _nullable(_STRING),
        },
    },
    "InteractionInput": {
        "type": "object",
        "additionalProperties": False,
        "required": ["text"],
        "description": "give person_id or organization_id",
        "properties": {
            "kind": {"enum": ["note", "call"], "default": "note"},
            "text": {"type": "string", "minLength": 1, "maxLength": 20000},
            "occurred_at": {
                "type": "string",
                "format": "date-time",
                "description": "default: now",
            },
            "person_id": _ID,
            "organization_id": _ID,
        },
    },
    "Lookup": {
        "type": "object",
        "required": [
            "number",
            "display_name",
            "person",
            "organization",
            "owner",
            "last_interactions",
        ],
        "properties": {
            "number": {"type": "string", "description": "E.164"},
            "display_name": {
                "type": "string",
                "examples": ["Jana Petersen (Nordwind Logistik GmbH)"],
            },
            "person": _nullable(_ref("Named")),
            "organization": _nullable(_ref("Named")),
            "owner": _nullable(_ref("Named")),
            "last_interactions": {
                "type": "array",
                "maxItems": 5,
                "items": _ref("TimelineEntry"),
            },
        },
    },
    "FollowUp": {
        "type": "object",
        "required": [
            "id",
            "assignee",
            "due_on",
            "status",
            "note",
            "waiting_for_reply",
            "person_id",
            "organization_id",
            "interaction_id",
            "created_by",
            "created_at",
        ],
        "properties": {
            "id": {"type": "integer"},
            "assignee": _STRING,
            "due_on": {"type": "string", "format": "date"},
            "status": {"enum": ["open", "done", "cancelled"]},
            "note": _STRING,
            "waiting_for_reply": {"type": "boolean"},
            "person_id": _nullable({"type": "integer"}),
            "organization_id": _nullable({"type": "integer"}),
            "interaction_id": _nullable({"type": "integer"}),
            "created_by": _STRING,
            "created_at": _nullable(_TIME),
        },
    },
    "FollowUpList": {
        "type": "object",
        "required": ["follow_ups"],
        "properties": {"follow_ups": {"type": "array", "items": _ref("FollowUp")}},
    },
    "FollowUpInput": {
        "type": "object",
        "additionalProperties": False,
        "required": ["due_on"],
        "description": "give person_id or organization_id",
        "properties": {
            "assignee": {"type": "string", "description": "a user name; default: yourself"},
            "due_on": {"type": "string", "format": "date"},
            "note": {"type": "string", "maxLength": 4000},
            "waiting_for_reply": {"type": "boolean", "default": False},
            "person_id": _ID,
            "organization_id": _ID,
            "interaction_id": _ID,
        },
    },
}


def _body(name: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(name)}}}


def _read(summary: str, schema: str, params: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    responses = {"200": _json(_ref(schema), summary), **_COMMON_ERRORS, **extra}
    return {"summary": summary, "parameters": params, "responses": responses}


def _not_found(what: str) -> dict[str, Any]:
    return {"404": _error(f"no such {what}")}


_BAD_QUERY = {"400": _error("a parameter is not valid")}


def _paths() -> dict[str, Any]:
    person_id = _path_id("person_id", "person")
    org_id = _path_id("organization_id", "organization")
    return {
        "/customers": {
            "get": _read(
                "Find customers by name, address, organization, domain or words of their mail",
                "CustomerPage",
                [
                    _query("q", "what to look for (empty: everyone by name)"),
                    _query(
                        "kind",
                        "only people or only organizations (filters the page)",
                        {"enum": ["person", "organization"]},
                    ),
                    _limit(25, 100),
                    _query("cursor", "next_cursor of the previous page", {"type": "string"}),
                ],
                **_BAD_QUERY,
            )
            | {"operationId": "searchCustomers"}
        },
        "/people": {
            "post": {
                "operationId": "createPerson",
                "summary": "Create a person; every value is checked, nothing is stored when one "
                "is wrong",
                "requestBody": _body("PersonInput"),
                "responses": {"201": _json(_ref("Person"), "created"), **_WRITE_ERRORS},
            }
        },
        "/people/{person_id}": {
            "get": _read("A person's master data", "Person", [person_id], **_not_found("person"))
            | {"operationId": "getPerson"},
            "patch": {
                "operationId": "updatePerson",
                "summary": "Change the fields given (emails and phones replace the stored ones)",
                "parameters": [person_id],
                "requestBody": _body("PersonPatch"),
                "responses": {
                    "200": _json(_ref("Person"), "changed"),
                    **_WRITE_ERRORS,
                    **_not_found("person"),
                },
            },
        },
        "/people/{person_id}/timeline": {
            "get": _read(
                "A person's timeline, newest first, as far as the token's user may see it",
                "TimelinePage",
                [person_id, _limit(50, 200), _CURSOR],
                **_not_found("person"),
                **_BAD_QUERY,
            )
            | {"operationId": "personTimeline"}
        },
        "/organizations": {
            "post": {
                "operationId": "createOrganization",
                "summary": "Create an organization; every value is checked",
                "requestBody": _body("OrganizationInput"),
                "responses": {"201": _json(_ref("Organization"), "created"), **_WRITE_ERRORS},
            }
        },
        "/organizations/{organization_id}": {
            "get": _read(
                "An organization's master data and people",
                "Organization",
                [org_id],
                **_not_found("organization"),
            )
            | {"operationId": "getOrganization"},
            "patch": {
                "operationId": "updateOrganization",
                "summary": "Change the fields given",
                "parameters": [org_id],
                "requestBody": _body("OrganizationPatch"),
                "responses": {
                    "200": _json(_ref("Organization"), "changed"),
                    **_WRITE_ERRORS,
                    **_not_found("organization"),
                },
            },
        },
        "/organizations/{organization_id}/timeline": {
            "get": _read(
                "An organization's timeline (with its people's), newest first",
                "TimelinePage",
                [org_id, _limit(50, 200), _CURSOR],
                **_not_found("organization"),
                **_BAD_QUERY,
            )
            | {"operationId": "organizationTimeline"}
        },
        "/interactions": {
            "post": {
                "operationId": "createInteraction",
                "summary": "Add a note or a call to a customer's timeline (owner: the token's "
                "user; audited)",
                "requestBody": _body("InteractionInput"),
                "responses": {"201": _json(_ref("TimelineEntry"), "added"), **_WRITE_ERRORS},
            }
        },
        "/follow-ups": {
            "get": _read(
                "Follow-ups of a user, by due day",
                "FollowUpList",
                [
                    _query("assignee", "a user name (default: the token's user)"),
                    _query(
                        "status",
                        "default open",
                        {"enum": ["open", "done", "cancelled", "all"], "default": "open"},
                    ),
                    _limit(100, 500),
                ],
                **_not_found("user"),
                **_BAD_QUERY,
            )
            | {"operationId": "listFollowUps"},
            "post": {
                "operationId": "createFollowUp",
                "summary": "Create a follow-up (Wiedervorlage)",
                "requestBody": _body("FollowUpInput"),
                "responses": {"201": _json(_ref("FollowUp"), "created"), **_WRITE_ERRORS},
            },
        },
        "/lookup": {
            "get": _read(
                "Caller ID: the customer a phone number belongs to, with the five newest "
                "entries the token's user may see",
                "Lookup",
                [_PHONE],
                **_not_found("number"),
                **{"400": _error("not a phone number")},
            )
            | {"operationId": "lookupNumber"}
        },
        "/lookup.txt": {
            "get": {
                "operationId": "lookupNumberText",
                "summary": "Caller ID for PBXs and phone books: the display name as plain text",
                "description": (
                    "Takes the token as a Bearer token or, for systems that can only put a user"
                    " and password in a URL, as the password of HTTP Basic authentication"
                    " (any user name); so do all operations."
                ),
                "parameters": [_PHONE],
                "responses": {
                    "200": {
                        "description": '"Jana Petersen (Nordwind Logistik GmbH)"',
                        "content": {"text/plain": {"schema": _STRING}},
                    },
                    "404": {
                        "description": "nobody has this number (or it is none): empty",
                        "content": {"text/plain": {"schema": {"type": "string", "maxLength": 0}}},
                    },
                    **_COMMON_ERRORS,
                },
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document (no token needed)",
                "security": [],
                "responses": {
                    "200": {
                        "description": "OpenAPI 3.1",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
    }


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of /api/v1."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "crmsync API",
            "version": "1",
            "description": "Customers, timelines, notes, follow-ups and caller ID. "
            "Create a token with `crmsync api-token add USER NAME`; it acts with USER's "
            "role (a viewer's token reads only). Every error is JSON: "
            '`{"error": "..."}`, with `problems` for values that are not valid (422).',
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "paths": _paths(),
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "an API token (crm_...) from `crmsync api-token add`",
                }
            },
            "responses": {
                "Unauthorized": {
                    "description": "no token, or one that is wrong or revoked",
                    "headers": {
                        "WWW-Authenticate": {"schema": {"type": "string"}, "required": True}
                    },
                    "content": {"application/json": {"schema": _ref("Error")}},
                },
                "Invalid": _json(
                    _ref("Error"),
                    "some values are not valid: `problems` lists each {field, value, reason}",
                ),
            },
            "schemas": _SCHEMAS,
        },
    }
