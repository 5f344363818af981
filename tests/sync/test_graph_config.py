"""The ``graph`` account kind: its keys in the config file and in the web view, and the
settings the Graph adapter is opened with (sync/configgraph.py, sync/sources.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from textwrap import dedent

import pytest

from adapters.errors import AuthError
from crm.models import Account
from sync.config import AccountConfig, ConfigError, SyncConfig, load_config
from sync.sources import graph_settings, token_store
from sync.stored import SETTINGS, account_from_settings, settings_values
from tests.servers.graph_state import make_certificate

APP = """
[[accounts]]
name = "online"
kind = "graph"
tenant = "contoso.onmicrosoft.com"
client_id = "11111111-2222-3333-4444-555555555555"
"""


def load(tmp_path: Path, text: str) -> AccountConfig:
    path = tmp_path / "config.toml"
    path.write_text(dedent(text), encoding="utf-8")
    [account] = load_config(path).accounts
    return account


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    return caught.value.problems


def test_an_app_only_account_with_its_defaults(tmp_path: Path) -> None:
    account = load(
        tmp_path,
        APP + 'client_secret_env = "GRAPH_SECRET"\nmailboxes = ["alice@example.com"]\n',
    )
    assert (account.kind, account.sign_in, account.cloud) == ("graph", "app", "global")
    assert account.tenant == "contoso.onmicrosoft.com"
    assert account.mailboxes == ("alice@example.com",)
    assert account.folders == ("Inbox", "Sent Items")
    assert account.private_categories == ("Private", "Privat")
    assert account.calendar and account.contacts and account.policy == "enrich"
    assert account.past == account.future == 365 * 86400
    assert account.login_url is None and account.graph_url is None


def test_app_only_needs_a_credential_and_mailboxes(tmp_path: Path) -> None:
    found = problems(tmp_path, APP)
    assert found == [
        'accounts[0].mailboxes: required with sign_in = "app": list the staff mailboxes to'
        " read (user principal names or addresses), or the distribution groups whose"
        " members' mailboxes are read (groups)",
        'accounts[0]: sign_in = "app" needs a credential: set client_secret_env or'
        " client_secret_command (the client secret's value), or certificate_file (the PEM"
        " file with the private key and the certificate registered for the app)",
    ]


def test_app_only_reads_the_members_of_groups(tmp_path: Path) -> None:
    secret = 'client_secret_env = "GRAPH_SECRET"\n'
    account = load(tmp_path, APP + secret + 'groups = ["Sales@Corp.example"]\n')
    assert (account.mailboxes, account.groups) == ((), ("sales@corp.example",))
    both = APP + secret + 'mailboxes = ["a@corp.example"]\ngroups = ["sales@corp.example"]\n'
    assert load(tmp_path, both).groups == ("sales@corp.example",)
    [wrong] = problems(tmp_path, APP + secret + 'groups = ["sales"]\n')
    assert wrong.startswith('accounts[0].groups[0]: string "sales" is not a valid e-mail address')
    delegated = APP + 'sign_in = "user"\ngroups = ["sales@corp.example"]\n'
    assert problems(tmp_path, delegated) == [
        'accounts[0].groups: only with sign_in = "app"; with sign_in = "user" the signed-in'
        " user's own mailbox is read"
    ]


def test_one_credential_only(tmp_path: Path) -> None:
    (tmp_path / "app.pem").write_text("x")
    both = APP + 'mailboxes = ["a@example.com"]\nclient_secret_env = "S"\n'
    assert problems(tmp_path, both + 'client_secret_command = ["pass", "x"]\n') == [
        "accounts[0]: set only one of client_secret_env and client_secret_command"
    ]
    assert problems(tmp_path, both + 'certificate_file = "app.pem"\n') == [
        "accounts[0]: set a client secret or certificate_file, not both"
    ]
    assert problems(tmp_path, both + 'certificate_password_env = "P"\n') == [
        "accounts[0].certificate_password_env: only with certificate_file"
    ]


def test_the_certificate_file_is_relative_to_the_config_and_must_exist(tmp_path: Path) -> None:
    text = APP + 'mailboxes = ["a@example.com"]\ncertificate_file = "keys/app.pem"\n'
    assert problems(tmp_path, text) == [
        f"accounts[0].certificate_file: {tmp_path / 'keys' / 'app.pem'} does not exist"
    ]
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "app.pem").write_text("x")
    assert load(tmp_path, text).certificate_file == tmp_path / "keys" / "app.pem"


def test_a_user_account_needs_no_credential_and_reads_one_mailbox(tmp_path: Path) -> None:
    account = load(tmp_path, APP + 'sign_in = "user"\n')
    assert account.sign_in == "user" and account.mailboxes == ()
    assert account.client_secret() == ""
    found = problems(
        tmp_path, APP + 'sign_in = "user"\nmailboxes = ["a@example.com", "b@example.com"]\n'
    )
    assert found == [
        'accounts[0].mailboxes: with sign_in = "user" the signed-in user\'s own mailbox is'
        " read: leave mailboxes out, or list that one address"
    ]


def test_keys_are_checked(tmp_path: Path) -> None:
    text = """
    [[accounts]]
    name = "online"
    kind = "graph"
    tenant = "contoso.example/x"
    sign_in = "admin"
    cloud = "germany"
    login_url = "http://login.example.com"
    graph_url = "ftp://graph.example.com"
    client_secret = "literal"
    host = "outlook.office365.com"
    """
    assert problems(tmp_path, text) == [
        "accounts[0].client_secret: a client secret is never written in the config file; set"
        " client_secret_env to the name of an environment variable that holds it, or"
        " client_secret_command to a command that prints it",
        'accounts[0].host: only for accounts of kind "imap"; this one is "graph"',
        "accounts[0].client_id: required",
        'accounts[0].sign_in: expected one of "app", "user", got string "admin"',
        'accounts[0].cloud: expected one of "global", "usgov", "usgov-dod", "china", got'
        ' string "germany"',
        'accounts[0].login_url: expected an https:// address, got string "http://login.example.com"',
        'accounts[0].graph_url: expected an https:// address, got string "ftp://graph.example.com"',
        "accounts[0].tenant: expected the directory (tenant) id or a verified domain such as"
        ' "contoso.onmicrosoft.com", got string "contoso.example/x"',
    ]


def test_the_client_secret_is_fetched_when_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = APP + 'mailboxes = ["a@example.com"]\n'
    account = load(tmp_path, base + 'client_secret_env = "GRAPH_SECRET"\n')
    monkeypatch.delenv("GRAPH_SECRET", raising=False)
    with pytest.raises(ConfigError, match="GRAPH_SECRET is not set"):
        account.client_secret()
    with pytest.raises(AuthError, match="GRAPH_SECRET is not set"):
        graph_settings(account, SyncConfig())
    monkeypatch.setenv("GRAPH_SECRET", "s3cret")
    settings = graph_settings(account, SyncConfig(timeout_seconds=7))
    assert (settings.client_secret, settings.timeout, settings.delegated) == ("s3cret", 7, False)
    assert settings.authority == "https://login.microsoftonline.com/contoso.onmicrosoft.com"
    command = [sys.executable, "-c", "print('from-command')"]
    account = load(tmp_path, base + f"client_secret_command = {json.dumps(command)}\n")
    assert account.client_secret() == "from-command"
    assert "from-command" not in repr(account)
    failing = [sys.executable, "-c", "raise SystemExit(3)"]
    account = load(tmp_path, base + f"client_secret_command = {json.dumps(failing)}\n")
    with pytest.raises(ConfigError, match=r"client_secret_command .* exited with status 3"):
        account.client_secret()


def test_the_certificate_is_read_when_the_account_opens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key, cert = make_certificate()
    (tmp_path / "app.pem").write_text(key + cert)
    text = APP + 'mailboxes = ["a@example.com"]\ncertificate_file = "app.pem"\ncloud = "usgov"\n'
    account = load(tmp_path, text)
    settings = graph_settings(account, SyncConfig())
    assert settings.certificate == key + cert and settings.client_secret == ""
    assert settings.endpoint == "https://graph.microsoft.us/v1.0"
    (tmp_path / "app.pem").unlink()
    with pytest.raises(AuthError, match="cannot read the certificate file"):
        graph_settings(account, SyncConfig())
    assert token_store(account) is None  # app-only keeps no sign-in


def test_web_settings_take_the_config_keys_less_secrets_and_files() -> None:
    assert "tenant" in SETTINGS["graph"] and "sign_in" in SETTINGS["graph"]
    for key in ("client_secret_env", "client_secret_command", "certificate_file", "ca_file"):
        assert key not in SETTINGS["graph"]
    problems: list[str] = []
    values = settings_values(
        "graph",
        {"tenant": "t.example", "client_id": "c", "sign_in": "user", "certificate_file": "/x"},
        (),
        problems,
    )
    assert problems == ["settings.certificate_file: not a setting of graph accounts"]
    assert values["sign_in"] == "user" and values["folders"] == ("Inbox", "Sent Items")


def test_a_stored_app_only_account_needs_its_client_secret() -> None:
    settings = {"tenant": "t.example", "client_id": "c", "mailboxes": ["a@example.com"]}
    row = Account(name="online", kind="graph", owner="", settings=settings, secret=None)
    row.enabled, row.interval_seconds = True, None
    account = account_from_settings(row, None, "no key")
    assert account.problems == ("no client secret stored; enter it in the web view",)
    row.settings = {**settings, "sign_in": "user", "mailboxes": []}
    account = account_from_settings(row, None, "no key")
    assert account.problems == () and account.secret is None and account.client_secret() == ""
