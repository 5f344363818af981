"""The JSON API, version 1 (``/api/v1``), described by ``/api/v1/openapi.json``.

Authenticated only by ``Authorization: Bearer <token>`` (crm.apitokens; a session
cookie counts for nothing here, so no CSRF token is needed either); the token acts with
its user's role: a viewer reads, staff and admins also write. Every answer is JSON,
errors included (``{"error": ...}``; invalid values 422 with ``problems``), except
``/lookup.txt``, which answers a PBX or phone book with the caller's name as plain text.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import wraps
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.exceptions import HTTPException

from crm import apitokens, audit
from crm.customeredit import TEXT_FIELDS, CustomerInput, InvalidValues, save_customer
from crm.customers import add_note, get_organization, get_person, people_of
from crm.followups import create_follow_up
from crm.lookup import Caller, find_caller
from crm.models import (
    ContactPoint,
    FollowUp,
    Organization,
    Person,
    User,
)
from crm.normalize import InvalidValueError
from crm.search import search_customers
from crm.timeline import (
    BadCursorError,
    Customer,
    TimelineEntry,
    get_entry,
    timeline,
    timeline_page,
)
from crm.users import LoggedIn
from crm.visibility import Viewer
from web import db
from web.auth import RANK, public
from web.filters import settings
from web.openapi import document

log = logging.getLogger(__name__)
bp = Blueprint("api", __name__, url_prefix="/api/v1")
PREFIX = "/api/"
MAX_ID = 2**31 - 1
MAX_STRING = 20_000
MAX_LIST = 50
INTERACTION_KINDS = ("note", "call")
View = Callable[..., ResponseReturnValue]
FOLLOW_UP_STATUSES = ("open", "done", "cancelled")
_ID_FIELDS = ("iban", "bic", "vat_id")
PERSON_FIELDS = frozenset(
    {"name", "given_name", "family_name", "organization_id", "emails", "phones"}
    | set(_ID_FIELDS)
    | set(TEXT_FIELDS)
)
ORGANIZATION_FIELDS = frozenset(
    {"name", "owner_id", "emails", "phones"} | set(_ID_FIELDS) | (set(TEXT_FIELDS) - {"title"})
)


@bp.record_once
def _exempt_from_csrf(state: Any) -> None:
    """No cookie authenticates here, so there is nothing for a forged request to use."""
    csrf = state.app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(bp)


class ApiError(Exception):
    """An answer other than success: status, message, and extra JSON fields."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError) -> ResponseReturnValue:
    return error_response(exc.status, exc.message, **exc.extra)


def error_response(status: int, message: str, **extra: Any) -> Response:
    """``{"error": message, ...}`` with ``status``; a 401 names the Bearer scheme."""
    response = jsonify({"error": message, **extra})
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="crmsync api"'
    return response


def is_api_request() -> bool:
    """Whether this request is for the API (its errors are JSON, never a page)."""
    return request.path.startswith(PREFIX)


def http_error(exc: HTTPException) -> Response:
    """A werkzeug error (404, 405, 413, a malformed body) as JSON."""
    response = error_response(exc.code or 500, exc.description or exc.name)
    if exc.code == 405:
        valid = getattr(exc, "valid_methods", None)
        if valid:
            response.headers["Allow"] = ", ".join(valid)
    return response


def server_error() -> Response:
    return error_response(500, "internal error (logged)")


# -- authentication ---------------------------------------------------------------------


def api_view(
    rule: str, *, methods: tuple[str, ...] = ("GET",), role: str = "viewer"
) -> Callable[[View], View]:
    """Register a view under ``rule`` that needs a bearer token of ``role`` or higher."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapped(**kwargs: Any) -> ResponseReturnValue:
            who = _token_user()
            if who is None:
                raise ApiError(401, "a valid API token is required (Authorization: Bearer ...)")
            if RANK.get(who.role, -1) < RANK[role]:
                raise ApiError(403, f"this needs the role {role} or higher")
            g.api_user = who
            return view(**kwargs)

        bp.add_url_rule(rule, view.__name__, public(wrapped), methods=list(methods))
        return wrapped

    return decorate


def _token_user() -> LoggedIn | None:
    """The token's user: ``Bearer <token>``, or HTTP Basic with the token as password (for
    telephone systems and phone books that can only put a user and password in a URL)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "basic" and request.authorization is not None:
        token = request.authorization.password or ""
    elif scheme.lower() != "bearer":
        return None
    if not token.strip():
        return None
    sessions: sessionmaker[Session] = current_app.extensions["crmsync.sessions"]
    with sessions() as session:
        who = apitokens.verify(session, token)
        try:
            session.commit()  # last_used_at, at most once a minute
        except SQLAlchemyError as exc:  # busy: the next request notes the use
            log.info("could not note an API token's use: %s", str(exc).splitlines()[0])
            session.rollback()
    return who


def _me() -> LoggedIn:
    who: LoggedIn = g.api_user
    return who


def _viewer() -> Viewer:
    me = _me()
    return Viewer(user_id=me.id, is_admin=me.role == "admin")


# -- reading requests -------------------------------------------------------------------


def _arg(name: str, default: str = "") -> str:
    """A query parameter, without NUL characters (PostgreSQL refuses them), at most 200."""
    return request.args.get(name, default).replace("\x00", "")[:200]


def _limit(default: int = 25, most: int = 100) -> int:
    raw = request.args.get("limit", "")
    if not raw:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= most:
        raise ApiError(400, f"limit must be a number from 1 to {most}")
    return int(raw)


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ApiError(400, "the request body must be a JSON object")
    return data


def _problem(field: str, value: Any, reason: str) -> dict[str, str]:
    return {"field": field, "value": str(value)[:200], "reason": reason}


def _invalid(problems: list[dict[str, str]]) -> ApiError:
    return ApiError(422, "some values are not valid; nothing was stored", problems=problems)


def _check_keys(data: dict[str, Any], allowed: frozenset[str]) -> list[dict[str, str]]:
    return [_problem(key, key, "unknown field") for key in data if key not in allowed]


def _string(
    data: dict[str, Any], key: str, problems: list[dict[str, str]], default: str = ""
) -> str:
    value = data.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str):
        problems.append(_problem(key, value, "must be a string"))
        return default
    if len(value) > MAX_STRING or "\x00" in value:
        problems.append(_problem(key, value[:20], f"at most {MAX_STRING} characters, no NUL"))
        return default
    return value


def _strings(data: dict[str, Any], key: str, problems: list[dict[str, str]]) -> list[str]:
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_LIST:
        problems.append(_problem(key, value, f"must be a list of at most {MAX_LIST} strings"))
        return []
    out = []
    for item in value:
        if not isinstance(item, str) or len(item) > 320 or "\x00" in item:
            problems.append(_problem(key, item, "each must be a string of at most 320 characters"))
            continue
        out.append(item)
    return out


def _ref(data: dict[str, Any], key: str, problems: list[dict[str, str]]) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        problems.append(_problem(key, value, "must be the id of one (a positive integer)"))
        return None
    return value


def _id(value: int) -> int:
    if not 1 <= value <= MAX_ID:
        raise ApiError(404, "not found")
    return value


def _problems_of(exc: InvalidValues | InvalidValueError) -> list[dict[str, str]]:
    found = exc.problems if isinstance(exc, InvalidValues) else [exc]
    return [_problem(_FIELD_NAMES.get(p.field, p.field), p.value, p.reason) for p in found]


#: crm.normalize's field names as the API names them
_FIELD_NAMES = {
    "IBAN": "iban",
    "BIC": "bic",
    "VAT id": "vat_id",
    "email": "emails",
    "phone": "phones",
    "organization": "organization_id",
    "owner": "owner_id",
    "note": "text",
}


# -- customers --------------------------------------------------------------------------


def _named(obj: User | Organization | Person | None) -> dict[str, Any] | None:
    if obj is None:
        return None
    name = obj.display_name if isinstance(obj, Person) else obj.name
    return {"id": obj.id, "name": name}


def _points(points: list[ContactPoint], kind: str) -> list[dict[str, str]]:
    return [
        {"value": p.value, "original": p.original or p.value, "label": p.label}
        for p in sorted(points, key=lambda p: p.id or 0)
        if p.kind == kind
    ]


def _common(customer: Person | Organization) -> dict[str, Any]:
    return {
        "id": customer.id,
        "iban": customer.iban,
        "bic": customer.bic,
        "vat_id": customer.vat_id,
        "notes": customer.notes,
        "website": customer.website,
        "street": customer.street,
        "locality": customer.locality,
        "region": customer.region,
        "postal_code": customer.postal_code,
        "country": customer.country,
        "emails": _points(customer.contact_points, "email"),
        "phones": _points(customer.contact_points, "phone"),
        "created_at": _iso(customer.created_at),
        "updated_at": _iso(customer.updated_at),
    }


def person_json(person: Person) -> dict[str, Any]:
    org = person.organization
    return {
        "kind": "person",
        "name": person.display_name,
        "given_name": person.given_name,
        "family_name": person.family_name,
        "title": person.title,
        **_common(person),
        "organization": _named(org),
        "owner": _named(org.owner) if org is not None else None,
    }


def organization_json(org: Organization, people: list[Person]) -> dict[str, Any]:
    return {
        "kind": "organization",
        "name": org.name,
        **_common(org),
        "domains": sorted(d.domain for d in org.domains),
        "owner": _named(org.owner),
        "people": [_named(p) for p in people],
    }


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


@api_view("/customers")
def customers() -> ResponseReturnValue:
    kind = _arg("kind")
    if kind not in ("", "person", "organization"):
        raise ApiError(400, "kind must be person or organization")
    limit = _limit()
    cursor = _arg("cursor")
    if cursor and (not cursor.isdigit() or not 1 <= int(cursor) <= 10_000):
        raise ApiError(400, "not a page cursor")
    page = int(cursor) if cursor else 1
    found = search_customers(db.session(), _arg("q"), viewer=_viewer(), page=page, per_page=limit)
    return jsonify(
        {
            "customers": [
                {
                    "kind": hit.kind,
                    "id": hit.id,
                    "name": hit.name,
                    "detail": hit.detail,
                    "reason": hit.reason,
                }
                for hit in found.hits
                if not kind or hit.kind == kind
            ],
            "next_cursor": str(page + 1) if found.has_more else None,
        }
    )


@api_view("/people/<int:person_id>")
def person(person_id: int) -> ResponseReturnValue:
    found = get_person(db.session(), _id(person_id))
    if found is None:
        raise ApiError(404, f"no person {person_id}")
    return jsonify(person_json(found))


@api_view("/organizations/<int:organization_id>")
def organization(organization_id: int) -> ResponseReturnValue:
    session = db.session()
    found = get_organization(session, _id(organization_id))
    if found is None:
        raise ApiError(404, f"no organization {organization_id}")
    return jsonify(organization_json(found, people_of(session, found.id)))


@api_view("/people", methods=("POST",), role="staff")
def create_person() -> ResponseReturnValue:
    return _save("person", None)


@api_view("/organizations", methods=("POST",), role="staff")
def create_organization() -> ResponseReturnValue:
    return _save("organization", None)


@api_view("/people/<int:person_id>", methods=("PATCH",), role="staff")
def update_person(person_id: int) -> ResponseReturnValue:
    return _save("person", _id(person_id))


@api_view("/organizations/<int:organization_id>", methods=("PATCH",), role="staff")
def update_organization(organization_id: int) -> ResponseReturnValue:
    return _save("organization", _id(organization_id))


def _save(kind: str, customer_id: int | None) -> ResponseReturnValue:
    session = db.session()
    data = _body()
    current: Person | Organization | None = None
    if customer_id is not None:
        current = (get_person if kind == "person" else get_organization)(session, customer_id)
        if current is None:
            raise ApiError(404, f"no {kind} {customer_id}")
    entered = _input(kind, data, current)
    try:
        saved = save_customer(
            session,
            entered,
            actor=_me().name,
            default_region=settings().default_region,
            customer_id=customer_id,
        )
    except InvalidValues as exc:
        session.rollback()
        raise _invalid(_problems_of(exc)) from None
    session.commit()
    if isinstance(saved, Person):
        body = person_json(get_person(session, saved.id) or saved)
        location = f"{PREFIX}v1/people/{saved.id}"
    else:
        org = get_organization(session, saved.id) or saved
        body = organization_json(org, people_of(session, saved.id))
        location = f"{PREFIX}v1/organizations/{saved.id}"
    response = jsonify(body)
    if customer_id is None:
        response.status_code = 201
        response.headers["Location"] = location
    return response


def _input(kind: str, data: dict[str, Any], current: Person | Organization | None) -> CustomerInput:
    """What was sent, over what is stored (a PATCH changes only the fields it names)."""
    problems = _check_keys(data, PERSON_FIELDS if kind == "person" else ORGANIZATION_FIELDS)
    base = _stored(kind, current)
    if current is None and "name" not in data:
        problems.append(_problem("name", "", "a customer needs a name"))

    def text(key: str) -> str:
        return _string(data, key, problems, base.get(key, "")) if key in data else base.get(key, "")

    entered = CustomerInput(
        kind=kind,
        name=text("name"),
        given_name=text("given_name"),
        family_name=text("family_name"),
        emails=_strings(data, "emails", problems) if "emails" in data else base["emails"],
        phones=_strings(data, "phones", problems) if "phones" in data else base["phones"],
        texts={k: text(k) for k in TEXT_FIELDS if kind == "person" or k != "title"},
        ids={k: text(k) for k in _ID_FIELDS},
    )
    if kind == "person":
        key = "organization_id"
        entered.organization_id = _ref(data, key, problems) if key in data else base.get(key)
    else:
        entered.owner_id = (
            _ref(data, "owner_id", problems) if "owner_id" in data else base.get("owner_id")
        )
    if problems:
        raise _invalid(problems)
    return entered


def _stored(kind: str, current: Person | Organization | None) -> dict[str, Any]:
    if current is None:
        return {"emails": [], "phones": []}
    values: dict[str, Any] = {k: getattr(current, k, "") for k in (*TEXT_FIELDS, *_ID_FIELDS)}
    values["emails"] = [p.value for p in current.contact_points if p.kind == "email"]
    values["phones"] = [p.value for p in current.contact_points if p.kind == "phone"]
    if isinstance(current, Person):
        values.update(
            name=current.display_name,
            given_name=current.given_name,
            family_name=current.family_name,
            organization_id=current.organization_id,
        )
    else:
        values.update(name=current.name, owner_id=current.owner_id)
    return values


# -- timelines and interactions ---------------------------------------------------------


def entry_json(entry: TimelineEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "kind": entry.kind,
        "direction": entry.direction,
        "occurred_at": _iso(entry.occurred_at),
        "subject": entry.subject,
        "snippet": entry.snippet,
        "visibility": entry.visibility,
        "owner": entry.owner or None,
        "created_by": entry.created_by,
        "customers": [{"kind": c.kind, "id": c.id, "name": c.name} for c in entry.customers],
        "participants": [
            {"role": p["role"], "email": p["email"], "name": p["name"]} for p in entry.participants
        ],
        "attachments": entry.attachments,
    }


def _timeline(customer: Customer) -> ResponseReturnValue:
    try:
        page = timeline_page(
            db.session(),
            customer,
            viewer=_viewer(),
            limit=_limit(50, 200),
            cursor=_arg("cursor") or None,
        )
    except BadCursorError as exc:
        raise ApiError(400, str(exc)) from None
    return jsonify(
        {"entries": [entry_json(e) for e in page.entries], "next_cursor": page.next_cursor}
    )


def _customer(kind: str, customer_id: int) -> Customer:
    session = db.session()
    found = (
        session.get(Person, _id(customer_id))
        if kind == "person"
        else session.get(Organization, _id(customer_id))
    )
    if found is None:
        raise ApiError(404, f"no {kind} {customer_id}")
    name = found.display_name if isinstance(found, Person) else found.name
    return Customer(kind, found.id, name)


@api_view("/people/<int:person_id>/timeline")
def person_timeline(person_id: int) -> ResponseReturnValue:
    return _timeline(_customer("person", person_id))


@api_view("/organizations/<int:organization_id>/timeline")
def organization_timeline(organization_id: int) -> ResponseReturnValue:
    return _timeline(_customer("organization", organization_id))


@api_view("/interactions", methods=("POST",), role="staff")
def create_interaction() -> ResponseReturnValue:
    data = _body()
    allowed = frozenset({"kind", "text", "occurred_at", "person_id", "organization_id"})
    problems = _check_keys(data, allowed)
    kind = _string(data, "kind", problems, "note")
    if kind not in INTERACTION_KINDS:
        problems.append(_problem("kind", kind, "must be note or call"))
    text = _string(data, "text", problems)
    when = _datetime(data, "occurred_at", problems)
    person_id = _ref(data, "person_id", problems)
    org_id = _ref(data, "organization_id", problems)
    if (person_id is None) == (org_id is None) and not any(
        p["field"] in ("person_id", "organization_id") for p in problems
    ):
        problems.append(_problem("person_id", "", "give person_id or organization_id (one)"))
    if problems:
        raise _invalid(problems)
    customer = _customer_or_422(person_id, org_id)
    session = db.session()
    me = _me()
    try:
        added = add_note(session, customer, text, me.name)
    except InvalidValueError as exc:
        session.rollback()
        raise _invalid(_problems_of(exc)) from None
    added.kind = kind
    if kind == "call":
        added.subject = f"Call: {added.subject}"[:120]
    added.owner_id = me.id
    if when is not None:
        added.occurred_at = when
        for participant in added.participants:
            participant.occurred_at = when
    target = f"{customer.kind} {customer.id} {customer.name}"
    audit.record(session, me.name, f"interaction.{kind}", target, interaction=added.id, via="api")
    session.commit()
    entry = get_entry(session, added.id, viewer=_viewer())
    if entry is None:  # cannot be: the writer sees what they wrote
        raise ApiError(500, "the new entry could not be read back")
    return jsonify(entry_json(entry)), 201


def _customer_or_422(person_id: int | None, org_id: int | None) -> Customer:
    session = db.session()
    if person_id is not None:
        person = session.get(Person, person_id)
        if person is None:
            raise _invalid([_problem("person_id", person_id, "no such person")])
        return Customer("person", person.id, person.display_name)
    org = session.get(Organization, org_id)
    if org is None:
        raise _invalid([_problem("organization_id", org_id, "no such organization")])
    return Customer("organization", org.id, org.name)


def _datetime(data: dict[str, Any], key: str, problems: list[dict[str, str]]) -> datetime | None:
    raw = _string(data, key, problems)
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        problems.append(_problem(key, raw, "must be an ISO 8601 date and time"))
        return None
    if value.tzinfo is None:
        problems.append(_problem(key, raw, "needs a time zone (such as Z or +01:00)"))
        return None
    if not 1900 <= value.year <= 2200:
        problems.append(_problem(key, raw, "must be between the years 1900 and 2200"))
        return None
    return value.astimezone(UTC)


# -- caller ID --------------------------------------------------------------------------


def _caller() -> Caller | None:
    raw = _arg("phone")
    if not raw.strip():
        raise ApiError(400, "give the number as ?phone=")
    try:
        return find_caller(db.session(), raw, settings().default_region)
    except InvalidValueError as exc:
        raise ApiError(400, exc.reason, field="phone", value=raw[:64]) from None


@api_view("/lookup")
def lookup() -> ResponseReturnValue:
    found = _caller()
    if found is None:
        raise ApiError(404, "no customer has this number")
    named = found.person or found.organization
    kind = "person" if found.person is not None else "organization"
    if named is None:  # a contact point always has a person or an organization
        raise ApiError(404, "no customer has this number")
    customer = Customer(kind, named.id, named.name)
    recent = timeline(db.session(), customer, viewer=_viewer(), limit=5)
    return jsonify(
        {
            "number": found.number,
            "display_name": found.display_name,
            "person": _pair(found.person),
            "organization": _pair(found.organization),
            "owner": _pair(found.owner),
            "last_interactions": [entry_json(e) for e in recent],
        }
    )


def _pair(named: Any) -> dict[str, Any] | None:
    return {"id": named.id, "name": named.name} if named is not None else None


@api_view("/lookup.txt")
def lookup_text() -> ResponseReturnValue:
    try:
        found = _caller()
    except ApiError:
        found = None
    if found is None:
        return Response("", 404, mimetype="text/plain")
    return Response(found.display_name, 200, mimetype="text/plain")


# -- follow-ups -------------------------------------------------------------------------


def follow_up_json(item: FollowUp, assignee: str) -> dict[str, Any]:
    return {
        "id": item.id,
        "assignee": assignee,
        "due_on": item.due_on.isoformat(),
        "status": item.status,
        "note": item.note,
        "waiting_for_reply": item.waiting_for_reply,
        "person_id": item.person_id,
        "organization_id": item.organization_id,
        "interaction_id": item.interaction_id,
        "created_by": item.created_by,
        "created_at": _iso(item.created_at),
    }


@api_view("/follow-ups")
def follow_ups() -> ResponseReturnValue:
    session = db.session()
    status = _arg("status", "open")
    if status not in (*FOLLOW_UP_STATUSES, "all"):
        raise ApiError(400, "status must be open, done, cancelled or all")
    name = _arg("assignee") or _me().name
    user = session.scalars(select(User).where(User.name == name)).first()
    if user is None:
        raise ApiError(404, f"no user named {name[:64]!r}")
    query = select(FollowUp).where(FollowUp.assignee_id == user.id)
    if status != "all":
        query = query.where(FollowUp.status == status)
    query = query.order_by(FollowUp.due_on, FollowUp.id).limit(_limit(100, 500))
    return jsonify({"follow_ups": [follow_up_json(f, user.name) for f in session.scalars(query)]})


@api_view("/follow-ups", methods=("POST",), role="staff")
def create_follow_up_view() -> ResponseReturnValue:
    data = _body()
    allowed = frozenset(
        {"assignee", "due_on", "note", "person_id", "organization_id", "interaction_id"}
        | {"waiting_for_reply"}
    )
    problems = _check_keys(data, allowed)
    session = db.session()
    me = _me()
    name = _string(data, "assignee", problems) or me.name
    assignee = session.scalars(select(User).where(User.name == name)).first()
    if assignee is None:
        problems.append(_problem("assignee", name, "no such user"))
    due = _string(data, "due_on", problems)
    due_on = None
    try:
        due_on = date.fromisoformat(due)
    except ValueError:
        problems.append(_problem("due_on", due, "must be a date (YYYY-MM-DD)"))
    note = _string(data, "note", problems)
    waiting = data.get("waiting_for_reply", False)
    if not isinstance(waiting, bool):
        problems.append(_problem("waiting_for_reply", waiting, "must be true or false"))
    refs = {k: _ref(data, k, problems) for k in ("person_id", "organization_id", "interaction_id")}
    if problems or assignee is None or due_on is None:
        raise _invalid(problems)
    try:
        created = create_follow_up(
            session,
            assignee_id=assignee.id,
            due_on=due_on,
            actor=me.name,
            note=note,
            waiting_for_reply=bool(waiting),
            person_id=refs["person_id"],
            organization_id=refs["organization_id"],
            interaction_id=refs["interaction_id"],
        )
    except InvalidValueError as exc:
        session.rollback()
        field = _FOLLOW_UP_FIELDS.get(exc.field, exc.field)
        raise _invalid([_problem(field, exc.value, exc.reason)]) from None
    session.commit()
    return jsonify(follow_up_json(created, assignee.name)), 201


#: crm.followups' field names as the API names them
_FOLLOW_UP_FIELDS = {
    "customer": "person_id",
    "person": "person_id",
    "organization": "organization_id",
    "interaction": "interaction_id",
}


# -- the description --------------------------------------------------------------------


@bp.route("/openapi.json")
@public
def openapi() -> ResponseReturnValue:
    return jsonify(document())
