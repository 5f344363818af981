"""Talking to Microsoft Graph: one authenticated JSON GET, one ``$batch``, and the faults.

- **Throttling**: 429, 503 and 504 are waited out and the request repeated: as long as
  ``Retry-After`` says (at most :data:`MAX_WAIT` seconds; a longer wait, or more than
  :data:`MAX_TRIES` in a row, ends the pass with a :class:`TransientError` carrying the
  wait). A batch step throttled on its own is repeated in the next batch.
- **Tokens**: a 401 gets one new token and one more try; a second 401 is an
  :class:`AuthError`. 403 (no permission, or an application access policy that leaves
  the mailbox out) is an :class:`AuthError` (:class:`Forbidden`) in words: the account
  needs an admin.
- **Gone**: 410 (a delta token the server dropped: ``syncStateNotFound``,
  ``resyncRequired``) is :class:`DeltaGone`; the adapter starts that folder over.
- Network failures are retried twice, then a :class:`TransientError`.

No requests exception type leaves this module.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from adapters.errors import AuthError, SourceError, TransientError, network_trouble
from adapters.graphauth import GraphAuth

log = logging.getLogger(__name__)

MAX_TRIES = 6
MAX_WAIT = 120.0
#: Graph's limit of steps in one $batch
BATCH_SIZE = 20
NETWORK_TRIES = 3
BUSY = (429, 503, 504)


class DeltaGone(SourceError):
    """Raised when Graph no longer knows a delta or skip token (410)."""


class NotFound(SourceError):
    """Raised for a 404: a folder, user or item that is not there."""

    def __init__(self, message: str, *, code: str = "", account: str | None = None) -> None:
        super().__init__(message, account=account)
        self.code = code


class Forbidden(AuthError):
    """Raised for a 403: the app lacks a permission, or a policy leaves the mailbox out."""

    def __init__(self, message: str, *, code: str = "", account: str | None = None) -> None:
        super().__init__(message, account=account, hint="")
        self.code = code


@dataclass(frozen=True)
class Step:
    """One answer of a ``$batch``: the status, and the body (JSON or raw bytes)."""

    status: int
    body: Any
    retry_after: float | None = None

    @property
    def error(self) -> str:
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            err = self.body["error"]
            return f"{err.get('code', '')}: {err.get('message', '')}".strip(": ")
        return f"HTTP {self.status}"


class GraphClient:
    """Authenticated requests to one account's Graph endpoint."""

    def __init__(
        self,
        auth: GraphAuth,
        http: requests.Session,
        *,
        account: str = "",
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.auth, self.http, self.account, self.sleep = auth, http, account, sleep
        self.root = auth.settings.endpoint
        self._token: str | None = None

    # -- plain requests ------------------------------------------------------------------------

    def get(
        self,
        url: str,
        *,
        params: dict[str, str] | None = None,
        prefer: str = "",
        headers: dict[str, str] | None = None,
    ) -> Any:
        """The JSON of a GET of ``url`` (a path below the endpoint, or a full link);
        ``headers`` are sent besides the token (``ConsistencyLevel``)."""
        answer = self._send("GET", url, params=params, prefer=prefer, headers=headers)
        try:
            return answer.json()
        except ValueError:
            raise SourceError(
                f"Graph's answer to {_short(url)} is not JSON", account=self.account
            ) from None

    def batch(self, paths: Sequence[str]) -> list[Step]:
        """GET each path (below the endpoint) through ``$batch``, :data:`BATCH_SIZE` per
        request; throttled steps are repeated. The answers are in the order of ``paths``."""
        results: dict[int, Step] = {}
        todo = list(range(len(paths)))
        tries = 0
        while todo:
            retry: list[int] = []
            wait = 0.0
            for start in range(0, len(todo), BATCH_SIZE):
                chunk = todo[start : start + BATCH_SIZE]
                for index, step in zip(
                    chunk, self._batch_once([paths[i] for i in chunk]), strict=True
                ):
                    if step.status in BUSY:
                        retry.append(index)
                        wait = max(wait, step.retry_after or 1.0)
                    else:
                        results[index] = step
            if retry:
                tries += 1
                self._wait_busy(wait, tries, "$batch")
            todo = retry
        return [results[i] for i in range(len(paths))]

    def _batch_once(self, paths: list[str]) -> list[Step]:
        body = {
            "requests": [
                {"id": str(n), "method": "GET", "url": "/" + p.lstrip("/")}
                for n, p in enumerate(paths)
            ]
        }
        try:
            answer = self._send("POST", "$batch", json=body).json()
        except ValueError:
            raise SourceError(
                "Graph's answer to $batch is not JSON", account=self.account
            ) from None
        steps: dict[str, Step] = {}
        for item in answer.get("responses") or ():
            headers = {k.lower(): v for k, v in (item.get("headers") or {}).items()}
            payload = item.get("body")
            kind = headers.get("content-type", "")
            if isinstance(payload, str) and "json" not in kind:
                try:
                    payload = base64.b64decode(payload, validate=True)
                except ValueError:
                    payload = payload.encode("utf-8")
            steps[str(item.get("id"))] = Step(
                int(item.get("status") or 0), payload, _retry_after(headers.get("retry-after"))
            )
        missing = Step(0, {"error": {"code": "missing", "message": "no answer in the batch"}})
        return [steps.get(str(n), missing) for n in range(len(paths))]

    # -- the machinery ---------------------------------------------------------------------------

    def _url(self, url: str) -> str:
        return url if url.startswith(("https://", "http://")) else f"{self.root}/{url.lstrip('/')}"

    def _send(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, str] | None = None,
        json: Any = None,
        prefer: str = "",
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        target = self._url(url)
        busy = network = 0
        refreshed = False
        while True:
            sent = {**(headers or {}), "Authorization": f"Bearer {self._bearer()}"}
            if prefer:
                sent["Prefer"] = prefer
            try:
                answer = self.http.request(method, target, params=params, json=json, headers=sent)
            except requests.RequestException as exc:
                network += 1
                if network >= NETWORK_TRIES:
                    raise TransientError(_network(exc), account=self.account) from None
                self.sleep(min(2.0**network, 10.0))
                continue
            if answer.status_code < 300:
                return answer
            if answer.status_code in BUSY:
                busy += 1
                self._wait_busy(_retry_after(answer.headers.get("Retry-After")), busy, url)
                continue
            if answer.status_code == 401 and not refreshed:  # one new token, one more try
                refreshed = True
                self._token = self.auth.token(fresh=True)
                continue
            raise self._failure(answer, url)

    def _bearer(self) -> str:
        if self._token is None:
            self._token = self.auth.token()
        return self._token

    def _wait_busy(self, wait: float | None, tries: int, what: str) -> None:
        wait = 1.0 if wait is None else max(wait, 0.0)
        if tries >= MAX_TRIES or wait > MAX_WAIT:
            raise TransientError(
                f"Graph is throttling this app ({_short(what)})",
                account=self.account,
                retry_after=wait,
            )
        log.info("%s: Graph asks to wait %.1f s (%s)", self.account, wait, _short(what))
        self.sleep(wait)

    def _failure(self, answer: requests.Response, url: str) -> SourceError:
        status = answer.status_code
        code, message = _error(answer)
        where = _short(url)
        if status == 410:
            return DeltaGone(f"{code or 'gone'}: {message}", account=self.account)
        if status == 401:
            return AuthError(f"Graph refuses the token ({message})", account=self.account, hint="")
        if status == 403:
            if "AccessPolicy" in message or "RAOP" in message:
                said = (
                    f"the app may not read {where}: the application access policy leaves "
                    "this mailbox out (New-ApplicationAccessPolicy)"
                )
            else:
                said = (
                    f"the app lacks the permission for {where}: grant Mail.Read, "
                    "Calendars.Read and Contacts.Read (and admin consent) in Entra ID"
                )
            return Forbidden(f"{said} ({code})", code=code, account=self.account)
        if status == 404:
            if code in (
                "ErrorInvalidUser",
                "Request_ResourceNotFound",
                "MailboxNotEnabledForRESTAPI",
            ):
                return NotFound(
                    f"no such mailbox: {where} ({message})", code=code, account=self.account
                )
            return NotFound(f"not found: {where} ({code})", code=code, account=self.account)
        return SourceError(
            f"Graph answered {status} to {where}: {code} {message}".strip(), account=self.account
        )


def _error(answer: requests.Response) -> tuple[str, str]:
    try:
        err = answer.json().get("error") or {}
    except ValueError:
        return "", answer.text[:200]
    if not isinstance(err, dict):
        return str(err), ""
    return str(err.get("code") or ""), str(err.get("message") or "").splitlines()[0][:300]


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` (a number or an HTTP date)."""
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _short(url: str) -> str:
    """A URL without its host and query, for messages (a skip token says nothing)."""
    path = urlsplit(url).path if "://" in url else url.split("?", 1)[0]
    return path.split("/v1.0/", 1)[-1] if "/v1.0/" in path else path


def _network(exc: BaseException) -> str:
    said = network_trouble(exc)
    if said:
        return said
    if isinstance(exc, requests.Timeout):
        return "Graph did not answer in time"
    text = str(exc)
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"
