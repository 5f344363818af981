"""The keys of a ``graph`` account (Exchange Online through Microsoft Graph) and their rules.

Kept apart from :mod:`sync.config`, which imports the table and the checks from here.
Nothing in here reads a secret: ``client_secret_env`` / ``client_secret_command`` name
where the client secret comes from, ``certificate_file`` where the certificate is, and
:mod:`sync.sources` reads them when the account connects.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from sync import configschema as s
from sync.configschema import Key

#: the national clouds (adapters.graphauth.CLOUDS has their endpoints)
CLOUDS = ("global", "usgov", "usgov-dod", "china")
#: where an app-only account's credential comes from, in the config file
CREDENTIAL_KEYS = ("client_secret_env", "client_secret_command", "certificate_file")
#: the keys that name a secret or a file on the server: not settings of the web view
FILE_ONLY_KEYS = (*CREDENTIAL_KEYS, "certificate_password_env")

#: what an Exchange account reads, through EWS or Graph alike
EXCHANGE_READS = {
    "mailboxes": Key(s.array_of(s.email, "e-mail addresses"), []),
    "folders": Key(s.array_of(s.text, "folder names or paths"), ["Inbox", "Sent Items"]),
    "calendar": Key(s.boolean, True),
    "contacts": Key(s.boolean, True),
    "policy": Key(s.choice("enrich", "import"), "enrich"),
    "private_categories": Key(s.array_of(s.text, "category names"), ["Private", "Privat"]),
    "past": Key(s.duration(0), "365d"),
    "future": Key(s.duration(0), "365d"),
    "tls_verify": Key(s.boolean, True),
    "ca_file": Key(s.text, None),
}
GRAPH = {
    "tenant": Key(s.text),
    "client_id": Key(s.text),
    "sign_in": Key(s.choice("app", "user"), "app"),
    "client_secret_env": Key(s.env_name, None),
    "client_secret_command": Key(s.command, None),
    "certificate_file": Key(s.text, None),
    "certificate_password_env": Key(s.env_name, None),
    "cloud": Key(s.choice(*CLOUDS), "global"),
    "login_url": Key(s.text, None),
    "graph_url": Key(s.text, None),
    # app-only: the distribution groups whose members' mailboxes are read too
    "groups": Key(s.array_of(s.email, "e-mail addresses"), []),
    "since": Key(s.day, None),
    **EXCHANGE_READS,
}

# Keys a person may write a secret into, and what to write instead.
SECRET_KEYS = {
    "client_secret": "a client secret is never written in the config file; set"
    " client_secret_env to the name of an environment variable that holds it, or"
    " client_secret_command to a command that prints it",
    "certificate_password": "the certificate's password is never written in the config"
    " file; set certificate_password_env to the name of an environment variable that holds it",
}


def check_graph(values: dict[str, Any], where: str, problems: list[str]) -> None:
    """The rules between a graph account's keys (config file and web view alike)."""
    for key in ("login_url", "graph_url"):
        if values.get(key) is not None:
            _check_https(values[key], f"{where}.{key}", problems)
    tenant = values.get("tenant")
    if tenant is not None and ("/" in tenant or " " in tenant):
        problems.append(
            f"{where}.tenant: expected the directory (tenant) id or a verified domain such as"
            f' "contoso.onmicrosoft.com", got {s.describe(tenant)}'
        )
    mailboxes, groups = values.get("mailboxes"), values.get("groups")
    if values.get("sign_in") == "user":
        if mailboxes is not None and len(mailboxes) > 1:
            problems.append(
                f'{where}.mailboxes: with sign_in = "user" the signed-in user\'s own mailbox'
                " is read: leave mailboxes out, or list that one address"
            )
        if groups:
            problems.append(
                f'{where}.groups: only with sign_in = "app"; with sign_in = "user" the'
                " signed-in user's own mailbox is read"
            )
    elif values.get("sign_in") == "app" and mailboxes == () and groups == ():
        problems.append(
            f'{where}.mailboxes: required with sign_in = "app": list the staff mailboxes to'
            " read (user principal names or addresses), or the distribution groups whose"
            " members' mailboxes are read (groups)"
        )


def check_credential(data: Mapping[str, Any], where: str, problems: list[str]) -> None:
    """A graph account of the config file: where its credential comes from.

    App-only needs a client secret or a certificate (one of them); a delegated account
    needs neither (a client secret makes it a confidential client, for the web view's
    sign-in with a "Web" redirect URI)."""
    given = [key for key in CREDENTIAL_KEYS if key in data]
    secrets = [key for key in given if key != "certificate_file"]
    if len(secrets) > 1:
        problems.append(f"{where}: set only one of client_secret_env and client_secret_command")
    elif len(given) > 1:
        problems.append(f"{where}: set a client secret or certificate_file, not both")
    if not given and data.get("sign_in", "app") == "app":
        problems.append(
            f'{where}: sign_in = "app" needs a credential: set client_secret_env or'
            " client_secret_command (the client secret's value), or certificate_file (the"
            " PEM file with the private key and the certificate registered for the app)"
        )
    if "certificate_password_env" in data and "certificate_file" not in data:
        problems.append(f"{where}.certificate_password_env: only with certificate_file")


def _check_https(url: str, key: str, problems: list[str]) -> None:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        problems.append(f"{key}: expected an https:// address, got {s.describe(url)}")
