"""Signing a user in to a delegated Microsoft Graph account (``sign_in = "user"``).

Two ways, both ending with msal's token cache (it holds the refresh token) handed to
the account's :class:`~adapters.graphauth.TokenStore`, which keeps it encrypted:

- the **device code** flow (:func:`device_code`, ``crmsync graph-login``): the user
  opens Microsoft's device login page anywhere and types the code shown; needs "Allow
  public client flows" on the app registration and no client secret here;
- the **authorization code** flow with PKCE (:func:`begin` and :func:`finish`, the
  account's page in the web view): the browser goes to the authority and comes back to
  a redirect URI registered for the app.

Errors are :class:`~adapters.errors.AuthError` (or ``TransientError``) in words, from
:func:`adapters.graphauth.refusal`. Each sign-in starts from an empty cache, so the
store holds exactly one user's tokens.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import msal
import requests

from adapters.errors import AuthError, SourceError, TransientError
from adapters.graphauth import (
    GraphSettings,
    HttpSession,
    TokenStore,
    client_app,
    credential,
    refusal,
)

#: what msal keeps in a flow that the callback does not need back (the long URL)
_NOT_KEPT = ("auth_uri",)
_AADSTS = re.compile(r"AADSTS(\d+)")


def device_code(settings: GraphSettings, store: TokenStore, show: Callable[[str], None]) -> str:
    """Sign in with the device code flow: ``show`` gets Microsoft's instruction (the
    page to open and the code to enter); blocks, polling, until the user has signed in
    or the code expired. Stores the tokens; returns the signed-in user's name."""
    if not settings.delegated:
        raise AuthError('signing in is for accounts with sign_in = "user"', hint="")
    if _has_credential(settings):
        raise AuthError(
            "the device code sign-in needs a public client, but this account has a client"
            ' secret or certificate: remove it (and turn on "Allow public client flows" for'
            " the app), or sign in on the account's page in the web view",
            hint="",
        )
    cache = msal.SerializableTokenCache()
    with HttpSession(settings.verify, settings.timeout) as http:
        app = _app(settings, http, cache)
        flow = _call(lambda: app.initiate_device_flow(scopes=settings.scopes()))
        if "user_code" not in flow:
            raise refusal(flow, delegated=True)
        show(str(flow["message"]))
        result = _call(lambda: app.acquire_token_by_device_flow(flow))
    return _keep(result, cache, store)


def begin(settings: GraphSettings, redirect_uri: str) -> dict[str, Any]:
    """Start the authorization code flow (PKCE): the flow to keep until the browser
    comes back (in the web session); its ``auth_uri`` is where to send the browser."""
    if not settings.delegated:
        raise AuthError('signing in is for accounts with sign_in = "user"', hint="")
    with HttpSession(settings.verify, settings.timeout) as http:
        app = _app(settings, http, None)
        with warnings.catch_warnings():
            # msal advises response_mode=form_post; a cross-site POST back would carry
            # neither the session cookie (SameSite=Lax) nor a CSRF token: query it is.
            warnings.filterwarnings("ignore", message=".*form_post", category=UserWarning)
            flow: dict[str, Any] = _call(
                lambda: app.initiate_auth_code_flow(settings.scopes(), redirect_uri=redirect_uri)
            )
    return flow


def kept(flow: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a flow from :func:`begin` to keep for :func:`finish` (small enough for
    a session cookie)."""
    return {k: v for k, v in flow.items() if k not in _NOT_KEPT}


def finish(
    settings: GraphSettings,
    store: TokenStore,
    flow: Mapping[str, Any],
    params: Mapping[str, str],
) -> str:
    """Complete the flow with the redirect's query ``params``: the tokens are stored,
    the signed-in user's name returned. A refusal (consent missing, the user cancelled,
    a stale or foreign answer) is an :class:`AuthError` in words."""
    answer = dict(params)
    if "error" in answer:
        raise refusal(_with_codes(answer), delegated=True)
    cache = msal.SerializableTokenCache()
    with HttpSession(settings.verify, settings.timeout) as http:
        app = _app(settings, http, cache)
        try:
            result = _call(
                lambda: app.acquire_token_by_auth_code_flow(
                    dict(flow), answer, scopes=settings.scopes()
                )
            )
        except ValueError:  # msal: the state does not match, or the flow is incomplete
            raise AuthError(
                "this answer from Microsoft does not belong to the sign-in started here"
                " (started twice, or in another browser): start the sign-in again",
                hint="",
            ) from None
    return _keep(result, cache, store)


def _app(settings: GraphSettings, http: requests.Session, cache: Any) -> Any:
    return _call(lambda: client_app(settings, http, cache))


def _call(work: Callable[[], Any]) -> Any:
    try:
        return work()
    except requests.RequestException as exc:
        raise TransientError(f"the login endpoint did not answer: {exc}") from None


def _has_credential(settings: GraphSettings) -> bool:
    try:
        return credential(settings) is not None
    except SourceError:
        return True


def _keep(
    result: dict[str, Any] | None, cache: msal.SerializableTokenCache, store: TokenStore
) -> str:
    """Store the cache of a successful sign-in; the user's name."""
    if not result or "access_token" not in result:
        raise refusal(_with_codes(result or {}), delegated=True)
    if "refresh_token" not in result:
        raise AuthError(
            "Microsoft gave no refresh token: the app must be granted offline_access", hint=""
        )
    store.save(cache.serialize())
    claims = result.get("id_token_claims") or {}
    return str(claims.get("preferred_username") or claims.get("name") or "")


def _with_codes(answer: dict[str, Any]) -> dict[str, Any]:
    """``error_codes`` from the AADSTS number in the description when the answer (a
    redirect's query) has none, so :func:`refusal` can say it in words."""
    if answer.get("error_codes"):
        return answer
    found = _AADSTS.search(str(answer.get("error_description") or ""))
    return {**answer, "error_codes": [int(found[1])]} if found else answer
