"""Building blocks of the Graph simulator's identity platform: app registrations,
tokens and grants, the identity platform's error, scope names, and the verification of
client assertions (RFC 7523 JWTs, RS256/PS256/ES256) against a registered certificate."""

from __future__ import annotations

import base64
import json
import secrets
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

GRAPH = "https://graph.microsoft.com"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
OIDC_SCOPES = {"openid", "profile", "offline_access", "email"}
DEFAULT_ROLES = ("Mail.Read", "Calendars.Read", "Contacts.Read", "User.Read.All")
DEFAULT_SCOPES = ("User.Read", "Mail.Read", "Calendars.Read", "Contacts.Read")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def fake_jwt(claims: dict[str, Any]) -> str:
    """A JWT-shaped string (RS256 header, random signature): what clients decode, not verify."""
    header = {"typ": "JWT", "alg": "RS256", "kid": "graph-simulator"}
    parts = [json.dumps(header).encode(), json.dumps(claims).encode(), secrets.token_bytes(64)]
    return ".".join(b64url(p) for p in parts)


@dataclass
class App:
    """An app registration and its service principal's grants in the tenant."""

    client_id: str
    display_name: str
    secret: str | None
    certificates: list[x509.Certificate]
    roles: set[str]
    delegated_scopes: set[str]
    redirect_uris: set[str]
    public_client: bool
    mailboxes: set[str] | None = None  # application access policy: user ids, None = all
    admin_consent: bool = True
    no_consent: set[str] = field(default_factory=set)  # user ids whose consent was revoked

    def consented(self, user_id: str, scopes: set[str]) -> bool:
        return (
            self.admin_consent
            and user_id not in self.no_consent
            and scopes <= self.delegated_scopes
        )


@dataclass
class Token:
    """An access token as the resource server sees it."""

    value: str
    client_id: str
    user_id: str | None
    roles: frozenset[str]
    scopes: frozenset[str]
    expires_at: float
    revoked: bool = False


@dataclass
class Grant:
    """A refresh token, device code or authorization code."""

    value: str
    client_id: str
    user_id: str | None
    scopes: frozenset[str]
    expires_at: float
    revoked: bool = False
    user_code: str = ""
    declined: bool = False
    redirect_uri: str = ""
    challenge: str = ""
    nonce: str = ""


class IdentityError(Exception):
    """An identity platform error answer."""

    def __init__(self, status: int, error: str, code: int, description: str) -> None:
        super().__init__(f"{error}: AADSTS{code}: {description}")
        self.status, self.error, self.code, self.description = status, error, code, description


GRAPH_LOGIN = "https://login.microsoftonline.com"


def _short(scope: str) -> str:
    """``https://graph.microsoft.com/Mail.Read`` -> ``Mail.Read``."""
    for prefix in (GRAPH + "/", GRAPH_APP_ID + "/"):
        if scope.lower().startswith(prefix):
            return scope[len(prefix) :]
    return scope


def _thumbprint_matches(cert: x509.Certificate, header: dict[str, Any]) -> bool:
    if header.get("x5t#S256"):
        return b64url(cert.fingerprint(hashes.SHA256())) == header["x5t#S256"].rstrip("=")
    return b64url(cert.fingerprint(hashes.SHA1())) == str(header.get("x5t")).rstrip("=")  # noqa: S303


def _verify(cert: x509.Certificate, alg: str, data: bytes, signature: bytes) -> None:
    key = cert.public_key()
    if alg in ("RS256", "PS256") and isinstance(key, rsa.RSAPublicKey):
        pad: padding.AsymmetricPadding = padding.PKCS1v15()
        if alg == "PS256":
            pad = padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.AUTO)
        key.verify(signature, data, pad, hashes.SHA256())
    elif alg == "ES256" and isinstance(key, ec.EllipticCurvePublicKey):
        r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        key.verify(encode_dss_signature(r, s), data, ec.ECDSA(hashes.SHA256()))
    else:
        raise ValueError(f"unsupported client assertion algorithm {alg!r}")


def check_assertion(app: App, assertion: str, base: str, tenant_ok: Callable[[str], bool]) -> None:
    """Verify a client assertion (RFC 7523) as the token endpoint does; raise IdentityError."""
    try:
        head_b64, body_b64, sig_b64 = assertion.split(".")
        header, claims = json.loads(unb64url(head_b64)), json.loads(unb64url(body_b64))
        signature = unb64url(sig_b64)
    except ValueError as exc:
        raise IdentityError(
            401, "invalid_client", 50027, "JWT token is invalid or malformed."
        ) from exc
    cert = next((c for c in app.certificates if _thumbprint_matches(c, header)), None)
    if cert is None:
        raise IdentityError(
            401,
            "invalid_client",
            700027,
            "The certificate with "
            "identifier used to sign the client assertion is not "
            "registered on application.",
        )
    try:
        _verify(cert, header.get("alg", ""), f"{head_b64}.{body_b64}".encode(), signature)
    except (InvalidSignature, ValueError) as exc:
        raise IdentityError(
            401, "invalid_client", 700027, "Client assertion failed signature validation."
        ) from exc
    now = time.time()
    if claims.get("exp", 0) < now - 300 or claims.get("nbf", 0) > now + 300:
        raise IdentityError(
            401,
            "invalid_client",
            700024,
            "Client assertion is not within its valid time range.",
        )
    if claims.get("iss") != app.client_id or claims.get("sub") != app.client_id:
        raise IdentityError(
            401,
            "invalid_client",
            700021,
            "Client assertion application identifier doesn't match 'client_id' parameter.",
        )
    aud = urllib.parse.urlsplit(str(claims.get("aud", "")))
    tenant = aud.path.strip("/").split("/")[0] if aud.path else ""
    audience_ok = f"{aud.scheme}://{aud.netloc}" == base and tenant_ok(tenant)
    if not audience_ok or not aud.path.endswith("/oauth2/v2.0/token"):
        raise IdentityError(
            401,
            "invalid_client",
            700212,
            "No matching federated "
            "identity record found for presented assertion audience "
            f"'{claims.get('aud')}'.",
        )
