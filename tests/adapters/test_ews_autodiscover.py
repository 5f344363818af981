"""EWS with ``autodiscover = true``, end to end: exchangelib's own Autodiscover client, unmodified,
against the EWS simulator's Autodiscover service (tests/servers/ews_autodiscover.py).

exchangelib builds the Autodiscover URL from the mailbox's domain and always asks port 443
(``https://<domain>/autodiscover/autodiscover.svc``, then ``autodiscover.<domain>``, then
an HTTP redirect, then DNS SRV, and only SRV records for port 443 count). So the mailboxes
here are ``@localhost`` and the simulator serves HTTPS on 127.0.0.1:443 (one test process
at a time: a lock file serialises pytest-xdist's workers). Where port 443 cannot be bound
the tests are skipped, saying so; under ``CI=true`` they fail. exchangelib checks each
host name with a DNS query of its own (dnspython, not ``/etc/hosts``), which a resolver
may answer NXDOMAIN for ``localhost``; the tests point it at a loopback DNS server through
exchangelib's documented ``Autodiscovery.DNS_RESOLVER_ATTRS``. Nothing of exchangelib is
patched. Its Autodiscover cache (kept on disk, per domain and credentials) is cleared before
and after every test.

The EWS endpoint that Autodiscover announces is ``https://127.0.0.1:443/EWS/Exchange.asmx``,
another host than the ``localhost`` that Autodiscover was found at: the CA given as
``ca_file`` must hold for both (as for ``autodiscover.example.com`` and ``mail.example.com``).
"""

from __future__ import annotations

import dataclasses
import fcntl
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import dns.nameserver
import pytest
import requests
from exchangelib import BASIC, Configuration, close_connections
from exchangelib.autodiscover import AutodiscoverProtocol, Autodiscovery, clear_cache
from exchangelib.credentials import Credentials
from exchangelib.errors import UnauthorizedError
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from adapters.base import BatchLimits
from adapters.errors import AuthError, SourceError
from adapters.ews import EwsSource
from adapters.ewsconnect import EwsSettings
from adapters.records import MailRecord
from crm.models import Interaction
from sync.config import Config
from sync.runner import Runner
from tests.adapters.test_ews import PASSWORD, SERVICE, mail
from tests.corpus import need
from tests.servers.ews import EwsServer
from tests.servers.ews_autodiscover import AUTODISCOVER_PATH, LoopbackDns
from tests.sync.helpers import make_config

DOMAIN = "localhost"
ALICE, NOBODY = f"alice@{DOMAIN}", f"nobody@{DOMAIN}"
LOCK = Path(tempfile.gettempdir()) / "crmsync-tests-port-443.lock"


@pytest.fixture
def peer(monkeypatch: pytest.MonkeyPatch) -> Iterator[EwsServer]:
    """The simulator over HTTPS on 127.0.0.1:443 with the service account and Alice's
    mailbox, found by Autodiscover for ``@localhost``."""
    with ExitStack() as stack:
        lock = stack.enter_context(LOCK.open("a"))
        fcntl.flock(lock, fcntl.LOCK_EX)  # one xdist worker at a time on port 443
        try:
            server = stack.enter_context(EwsServer.start(tls=True, port=443))
        except OSError as exc:
            need(False, f"autodiscover asks port 443 only, and 127.0.0.1:443 can't be bound: {exc}")
        dns_server = stack.enter_context(LoopbackDns.start([DOMAIN]))
        nameserver = dns.nameserver.Do53Nameserver("127.0.0.1", dns_server.port)
        monkeypatch.setitem(Autodiscovery.DNS_RESOLVER_ATTRS, "nameservers", [nameserver])
        clear_cache()
        stack.callback(clear_cache)
        stack.callback(close_connections)
        server.add_user(SERVICE, PASSWORD, impersonation=True)
        server.add_mailbox(ALICE, "Alice Autodiscover")
        yield server


def source(server: EwsServer, **kwargs: Any) -> EwsSource:
    settings = EwsSettings(
        url="",
        username=SERVICE,
        password=kwargs.pop("password", PASSWORD),
        auth="basic",
        timeout=10.0,
        ca_file=kwargs.pop("ca_file", str(server.ca_file)),
        autodiscover=True,
    )
    kwargs.setdefault("mailboxes", [ALICE])
    return EwsSource(settings=settings, account="exchange", **kwargs)


def inbox_subjects(src: EwsSource, mailbox: str = ALICE) -> list[str]:
    [collection] = [c for c in src.collections() if c.id == f"{mailbox}|mail|Inbox"]
    batches = src.pull(collection, None, BatchLimits(500, 25_000_000))
    return [r.subject or "" for b in batches for r in b.records if isinstance(r, MailRecord)]


# -- the simulator's Autodiscover service, through exchangelib's client (any port) -------------


def test_the_simulator_answers_get_user_settings(ews: EwsServer) -> None:
    ews.add_user(SERVICE, PASSWORD, impersonation=True)
    ews.add_mailbox("alice@example.com", "Alice Example")
    endpoint = ews.url.replace("/EWS/Exchange.asmx", AUTODISCOVER_PATH)

    def ask(user: str, password: str = PASSWORD) -> Any:
        config = Configuration(
            service_endpoint=endpoint, credentials=Credentials(SERVICE, password), auth_type=BASIC
        )
        return AutodiscoverProtocol(config=config).get_user_settings(user=user)

    found = ask("alice@example.com")
    found.raise_errors()
    assert found.ews_url == ews.url
    assert found.user_settings["internal_ews_url"] == ews.url
    assert found.user_settings["user_display_name"] == "Alice Example"
    assert found.autodiscover_smtp_address == "alice@example.com"
    assert found.version is not None and found.version.api_version == "Exchange2016"
    assert ews.requests[-1].operation == "GetUserSettings"
    assert ews.requests[-1].mailboxes == ["alice@example.com"]

    unknown = ask("nobody@example.com")
    assert (unknown.error_code, unknown.error_message) == (
        "InvalidUser",
        "Invalid user: 'nobody@example.com'",
    )
    with pytest.raises(UnauthorizedError):
        ask("alice@example.com", password="wrong")

    anonymous = requests.post(endpoint, data=b"<x/>", timeout=5)
    assert anonymous.status_code == 401 and "Basic" in anonymous.headers["WWW-Authenticate"]
    broken = requests.post(endpoint, data=b"<x/>", auth=(SERVICE, PASSWORD), timeout=5)
    assert broken.status_code == 500 and b"<s:Fault>" in broken.content


# -- the adapter with autodiscover = true (port 443) --------------------------------------------


def test_autodiscover_finds_the_endpoint_and_the_inbox_arrives(peer: EwsServer) -> None:
    peer.add_message(ALICE, "inbox", mail(1, to=ALICE))
    peer.add_message(ALICE, "inbox", mail(2, to=ALICE))
    assert inbox_subjects(source(peer)) == ["Offer 1", "Offer 2"]
    first = peer.requests[0]
    assert (first.operation, first.mailboxes) == ("GetUserSettings", [ALICE])
    assert "SyncFolderItems" in peer.operations() and "GetItem" in peer.operations()

    peer.clear_log()  # a second pass asks the endpoint found before (exchangelib's cache)
    peer.add_message(ALICE, "inbox", mail(3, to=ALICE))
    assert inbox_subjects(source(peer)) == ["Offer 1", "Offer 2", "Offer 3"]
    assert peer.operations()[0] == "GetUserSettings"


def test_probe_works_with_autodiscover(peer: EwsServer) -> None:
    lines = source(peer, folders=["Inbox"], calendar=True, contacts=False).probe()
    assert lines == [f"{ALICE}: Inbox, Calendar"]


def test_an_unknown_mailbox_is_named_in_the_error(peer: EwsServer) -> None:
    with pytest.raises(SourceError, match=rf"no mailbox {NOBODY} on the server"):
        source(peer, mailboxes=[NOBODY]).probe()
    assert peer.operations() == ["GetUserSettings"]  # nothing was asked of EWS


def test_a_wrong_password_is_an_auth_error(peer: EwsServer) -> None:
    with pytest.raises(AuthError, match="refused the service account's credentials"):
        source(peer, password="wrong").probe()


def test_without_the_ca_file_no_endpoint_is_found(peer: EwsServer) -> None:
    with pytest.raises(SourceError, match=rf"autodiscover protocol failed for email {ALICE}"):
        source(peer, ca_file=None).probe()
    assert peer.requests == []  # the TLS handshake failed: not one request came through


def test_an_autodiscover_account_through_the_runner(
    tmp_path: Path,
    db_url: str,
    sessions: sessionmaker[Session],
    peer: EwsServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    peer.add_message(ALICE, "inbox", mail(1, to=ALICE))
    monkeypatch.setenv("EWS_TEST_PASSWORD", PASSWORD)
    account = {
        "name": "exchange", "kind": "ews", "autodiscover": True, "username": SERVICE,
        "password_env": "EWS_TEST_PASSWORD", "auth": "basic", "ca_file": str(peer.ca_file),
        "mailboxes": ["alice@example.com"], "folders": ["Inbox"], "calendar": False,
        "contacts": False,
    }  # fmt: skip
    config = make_config(tmp_path, db_url, [account])
    # the config accepts only addresses whose domain has a dot, and none of those reaches
    # 127.0.0.1:443 without editing /etc/hosts: the parsed account gets the test's mailbox
    config = _with_mailboxes(config, (ALICE,))
    [result] = Runner(config, sessions).sync_all()
    assert result.error == ""
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Interaction)) == 1
    assert peer.requests[0].operation == "GetUserSettings"


def _with_mailboxes(config: Config, mailboxes: tuple[str, ...]) -> Config:
    [account] = config.accounts
    return dataclasses.replace(
        config, accounts=(dataclasses.replace(account, mailboxes=mailboxes),)
    )
