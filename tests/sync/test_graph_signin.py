"""Delegated Microsoft Graph accounts: the encrypted token store (crm/tokens.py), the device
code sign-in through ``crmsync graph-login`` against the Graph simulator, and a sign-in
that expired making the account need attention (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from adapters.errors import AuthError
from adapters.graphauth import GraphAuth, HttpSession
from crm.models import Account, AccountToken
from crm.secrets import SecretBox, SecretKeyError, generate_key
from crm.tokens import DbTokenStore, forget_token, signed_in_at
from sync.cli import main
from sync.config import AccountConfig, Config, load_config
from sync.runner import Runner
from sync.sources import graph_settings, token_store
from sync.stored import all_accounts
from tests.servers.graph import GraphServer

ALICE = "alice@contoso.example"
NAME = "alice-online"


def write_config(
    tmp_path: Path, db_url: str, graph: GraphServer, client_id: str, more: str = ""
) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[database]
url = "{db_url}"
[crm]
internal_domains = ["example.com"]
[archive]
path = "archive"
[secrets]
key_file = "secret.key"
key_env = "CRMSYNC_TEST_NO_SUCH_KEY"

[[accounts]]
name = "{NAME}"
kind = "graph"
owner = "alice"
tenant = "{graph.tenant_id}"
client_id = "{client_id}"
sign_in = "user"
login_url = "{graph.base_url}"
graph_url = "{graph.graph_url}"
ca_file = "{graph.ca_file}"
{more}
"""
    )
    return path


def crmsync(config: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--config", str(config), *args], catch_exceptions=False)


def approve_when_asked(graph: GraphServer, user: str) -> threading.Thread:
    """Approve the first device code the simulator hands out (as the user at the browser)."""

    def approve() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            codes = [g.user_code for g in list(graph.identity.grants.values()) if g.user_code]
            if codes:
                graph.approve_device_code(codes[0], user)
                return
            time.sleep(0.05)

    thread = threading.Thread(target=approve, daemon=True)
    thread.start()
    return thread


def accounts(config: Config, sessions: sessionmaker[Session]) -> dict[str, AccountConfig]:
    return {a.name: a for a in all_accounts(config, sessions)}


@pytest.fixture
def signed_in(tmp_path: Path, db_url: str, graph: GraphServer) -> tuple[Path, GraphServer]:
    """A config whose delegated account was signed in with ``crmsync graph-login``."""
    graph.add_user(ALICE, "Alice Staff")
    graph.identity.device_interval = 1  # msal polls every `interval` seconds
    client_id = graph.add_app(public_client=True)
    config = write_config(tmp_path, db_url, graph, client_id)
    assert crmsync(config, "init").exit_code == 0
    approver = approve_when_asked(graph, ALICE)
    result = crmsync(config, "graph-login", NAME)
    approver.join()
    assert result.exit_code == 0, result.output
    assert "enter the code" in result.stderr
    assert f"{NAME}: signed in as {ALICE}" in result.stdout
    return config, graph


# -- the token store ------------------------------------------------------------------


def test_the_token_store_round_trip_is_encrypted(sessions: sessionmaker[Session]) -> None:
    box = SecretBox(generate_key())
    store = DbTokenStore(sessions, box, "bob-online", owner="bob")
    assert store.load() is None
    cache = json.dumps({"RefreshToken": {"k": {"secret": "1.AXYZ-refresh-token-value"}}})
    store.save(cache)  # the account has no row yet: one is made
    assert store.load() == cache
    store.save(cache.replace("XYZ", "ABC"))
    assert store.load() == cache.replace("XYZ", "ABC")
    with sessions() as session:
        [row] = session.scalars(select(AccountToken)).all()
        account = session.get_one(Account, row.account_id)
        assert (account.name, account.kind, account.owner) == ("bob-online", "graph", "bob")
        assert b"refresh-token" not in row.cache and b"RefreshToken" not in row.cache
        assert signed_in_at(session, account.id) is not None
    assert "refresh" not in repr(store)
    with pytest.raises(SecretKeyError, match="does not decrypt with the configured key"):
        DbTokenStore(sessions, SecretBox(generate_key()), "bob-online").load()
    no_key = DbTokenStore(sessions, None, "bob-online", why="no key file at /x")
    with pytest.raises(SecretKeyError, match="cannot be kept encrypted: no key file at /x"):
        no_key.load()
    with pytest.raises(SecretKeyError, match="no key file at /x"):
        no_key.save(cache)
    with sessions.begin() as session:
        assert forget_token(session, account.id)
    assert store.load() is None


def test_the_tokens_go_with_their_account(sessions: sessionmaker[Session]) -> None:
    store = DbTokenStore(sessions, SecretBox(generate_key()), "carol-online")
    store.save("{}")
    with sessions.begin() as session:
        session.delete(session.scalars(select(Account)).one())
    with sessions() as session:
        assert session.scalars(select(AccountToken)).all() == []


# -- signing in with a device code ------------------------------------------------------


def test_graph_login_stores_the_sign_in_encrypted(
    signed_in: tuple[Path, GraphServer], db_url: str, sessions: sessionmaker[Session]
) -> None:
    path, graph = signed_in
    config = load_config(path)
    account = accounts(config, sessions)[NAME]
    store = token_store(account)
    assert store is not None
    cache = json.loads(store.load() or "{}")
    refresh = [t["secret"] for t in cache["RefreshToken"].values()]
    assert refresh and all(refresh)
    with sessions() as session:
        raw = session.scalars(select(AccountToken.cache)).one()
    assert all(token.encode() not in raw for token in refresh)
    assert b"RefreshToken" not in raw and ALICE.encode() not in raw
    # every sync signs in silently from the stored cache
    settings = graph_settings(account, config.sync)
    with HttpSession(settings.verify, settings.timeout) as http:
        auth = GraphAuth(settings, http, store=store, account=NAME)
        assert auth.token() and auth.token(fresh=True)
        assert auth.signed_in_as() == ALICE
    assert graph.requests[-1].path.endswith("/oauth2/v2.0/token")


def test_graph_login_explains_what_it_cannot_do(
    tmp_path: Path, db_url: str, graph: GraphServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    client_id = graph.add_app(secret="s3cret")
    monkeypatch.setenv("GRAPH_SECRET", "s3cret")
    config = write_config(tmp_path, db_url, graph, client_id, 'client_secret_env = "GRAPH_SECRET"')
    assert crmsync(config, "init").exit_code == 0
    result = crmsync(config, "graph-login", NAME)
    assert result.exit_code == 1
    assert "the device code sign-in needs a public client" in result.stderr
    result = crmsync(config, "graph-login", "nobody")
    assert result.exit_code == 1 and 'no account named "nobody"' in result.stderr


def test_a_declined_sign_in_is_said_in_words(
    tmp_path: Path, db_url: str, graph: GraphServer
) -> None:
    graph.identity.device_interval = 1
    client_id = graph.add_app(public_client=True)
    config = write_config(tmp_path, db_url, graph, client_id)
    assert crmsync(config, "init").exit_code == 0

    def decline() -> None:
        for _ in range(400):
            codes = [g.user_code for g in list(graph.identity.grants.values()) if g.user_code]
            if codes:
                graph.decline_device_code(codes[0])
                return
            time.sleep(0.05)

    thread = threading.Thread(target=decline, daemon=True)
    thread.start()
    result = crmsync(config, "graph-login", NAME)
    thread.join()
    assert result.exit_code == 1
    assert f"{NAME}: sign-in failed:" in result.stderr and "declined" in result.stderr


# -- an expired sign-in -----------------------------------------------------------------


def test_an_expired_sign_in_needs_attention(
    tmp_path: Path, db_url: str, sessions: sessionmaker[Session]
) -> None:
    # access tokens shorter than msal's five minutes of headroom: every use refreshes
    with GraphServer.start(token_lifetime=60) as graph:
        graph.add_user(ALICE, "Alice Staff")
        graph.identity.device_interval = 1
        client_id = graph.add_app(public_client=True)
        path = write_config(tmp_path, db_url, graph, client_id)
        assert crmsync(path, "init").exit_code == 0
        approver = approve_when_asked(graph, ALICE)
        assert crmsync(path, "graph-login", NAME).exit_code == 0
        approver.join()
        config = load_config(path)
        account = accounts(config, sessions)[NAME]
        settings = graph_settings(account, config.sync)
        graph.expire_refresh_tokens(ALICE)
        with HttpSession(settings.verify, settings.timeout) as http:
            auth = GraphAuth(settings, http, store=token_store(account), account=NAME)
            with pytest.raises(AuthError, match="the sign-in has expired: sign in again"):
                auth.token()
        [result] = Runner(config, sessions).sync_all()
        assert result.auth_failed and "sign in again" in result.error
        assert _row(sessions).needs_attention and "sign in again" in _row(sessions).last_error
        approver = approve_when_asked(graph, ALICE)  # signing in again resumes the account
        assert crmsync(path, "graph-login", NAME).exit_code == 0
        approver.join()
        assert not _row(sessions).needs_attention


def _row(sessions: sessionmaker[Session]) -> Account:
    with sessions() as session:
        return session.scalars(select(Account).where(Account.name == NAME)).one()
