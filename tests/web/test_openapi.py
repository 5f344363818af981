"""The API's OpenAPI document is valid, and the API keeps to it: schemathesis calls every
operation with generated data (SQLite) and checks for server errors and answers that
differ from the document."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from schemathesis import checks

from crm import apitokens
from crm.db import make_engine, make_sessionmaker
from crm.models import ContactPoint, Organization, Person
from crm.users import add_user
from tests.web.conftest import make_app
from web.openapi import document

#: the statuses each operation answered (printed with -s, for the curious)
SEEN: dict[str, set[int]] = {}
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]


@pytest.fixture
def api_app(sqlite_template: Path, tmp_path: Path) -> Iterator[Flask]:
    """The web app on a fresh SQLite database with an admin, a customer and a token."""
    path = tmp_path / "crm.db"
    shutil.copy(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    sessions = make_sessionmaker(engine)
    with sessions.begin() as session:
        admin = add_user(session, "admin", "admin-pass-123", "admin")
        org = Organization(name="Nordwind Logistik GmbH", owner=admin)
        jana = Person(display_name="Jana Petersen", organization=org)
        jana.contact_points.append(ContactPoint(kind="phone", value="+49401234567"))
        session.add_all([org, jana])
        session.flush()
        token = apitokens.create(session, admin, "schemathesis")
    app = make_app(sessions, tmp_path / "archive")
    app.config["API_TOKEN"] = token
    yield app
    engine.dispose()


def test_the_document_is_valid_openapi(api_app: Flask) -> None:
    loaded = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", api_app)
    loaded.validate()  # against the OpenAPI 3.1 meta-schema
    document = api_app.test_client().get("/api/v1/openapi.json").json
    assert document["openapi"] == "3.1.0"
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    operations = {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in ("get", "post", "patch", "put", "delete")
    }
    served = {
        (method, rule.rule.removeprefix("/api/v1").replace("<int:", "{").replace(">", "}"))
        for rule in api_app.url_map.iter_rules()
        if rule.endpoint.startswith("api.")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert operations == served
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert operation["responses"], (method, path)
            for parameter in operation.get("parameters", []):
                assert parameter.get("schema"), (method, path, parameter["name"])


def test_the_document_needs_no_token(api_app: Flask) -> None:
    assert api_app.test_client().get("/api/v1/openapi.json").status_code == 200


# the document as the app serves it (web.openapi); the calls go to ``api_app`` (pytest 9
# cannot run schemathesis' lazy fixture-loaded schemas: Function has no ``_nodeid``)
schema = schemathesis.openapi.from_dict(document())


@schema.parametrize()
@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_keeps_to_the_document(case: Any, api_app: Flask) -> None:
    headers = {"Authorization": f"Bearer {api_app.config['API_TOKEN']}"}
    response = case.call_and_validate(app=api_app, headers=headers, checks=CHECKS)
    if "Authorization" in response.request.headers:
        assert response.status_code not in (401, 403), "the admin's token is valid"
    elif case.operation.path != "/openapi.json":  # a call left without it on purpose
        assert response.status_code == 401
    SEEN.setdefault(f"{case.method} {case.path}", set()).add(response.status_code)


def teardown_module() -> None:
    for operation, statuses in sorted(SEEN.items()):
        print(operation, sorted(statuses))
