"""JSON batching for the Graph simulator (``POST /v1.0/$batch``): up to 20 steps, each
answered as if sent alone (faults, delays and the request log included) and returned as
``{"id", "status", "headers", "body"}``. A JSON body is embedded as JSON, any other
(a ``$value``'s MIME) as base64 text, which is how Graph returns non-JSON content in a
batch."""

from __future__ import annotations

import base64
import json
import urllib.parse
from typing import TYPE_CHECKING, Any

from tests.servers.graph_identity import Token
from tests.servers.graph_routes import JSON_TYPE, GraphError

if TYPE_CHECKING:
    from tests.servers.graph import GraphServer

Answer = tuple[int, dict[str, str], bytes]
MAX_BATCH = 20


class _Headers(dict[str, str]):
    """A batch step's headers, looked up case-insensitively like the real ones."""

    def get(self, name: str, default: Any = None) -> Any:
        return super().get(name.lower(), default)


def run_batch(srv: GraphServer, token: Token, principal: str | None, body: bytes) -> Answer:
    """Answer ``POST /$batch``: each step in order (a step whose ``dependsOn`` failed gets
    424), a non-JSON step body as base64 text."""
    try:
        steps = json.loads(body)["requests"]
        assert isinstance(steps, list) and steps
    except (ValueError, KeyError, TypeError, AssertionError):
        return srv.error_answer(GraphError(400, "BadRequest", "Invalid batch payload."))
    if len(steps) > MAX_BATCH:
        return srv.error_answer(
            GraphError(
                400,
                "BadRequest",
                f"Number of batch request steps exceeds the maximum of {MAX_BATCH}.",
            )
        )
    if len({str(s.get("id")) for s in steps}) != len(steps):
        return srv.error_answer(
            GraphError(400, "BadRequest", "Batch request step ids must be unique.")
        )
    statuses: dict[str, int] = {}
    responses = []
    for step in steps:
        step_id = str(step.get("id"))
        url = urllib.parse.urlsplit(str(step.get("url", "")))
        query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        headers = _Headers({k.lower(): v for k, v in (step.get("headers") or {}).items()})
        failed = [d for d in step.get("dependsOn") or [] if statuses.get(str(d), 599) >= 400]
        if failed or url.scheme:
            why = (
                "An absolute URL is not allowed in a batch step."
                if url.scheme
                else "Failed dependency."
            )
            status = 400 if url.scheme else 424
            code = "BadRequest" if url.scheme else "FailedDependency"
            answer = srv.error_answer(GraphError(status, code, why))
        else:
            path = "/v1.0/" + url.path.lstrip("/")
            method = str(step.get("method", "GET")).upper()
            answer = srv.step(token, principal, method, path, query, headers, step_id)
        statuses[step_id] = answer[0]
        content_type = answer[1].get("Content-Type", "")
        payload: Any = (
            json.loads(answer[2])
            if content_type.startswith("application/json")
            else base64.b64encode(answer[2]).decode()
        )
        responses.append(
            {"id": step_id, "status": answer[0], "headers": answer[1], "body": payload}
        )
    return 200, {"Content-Type": JSON_TYPE}, json.dumps({"responses": responses}).encode()
