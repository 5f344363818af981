"""Opening the adapter that serves an account's ``kind``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from adapters.base import Source, requests_verify
from adapters.errors import AuthError
from sync.config import AccountConfig, ConfigError, SyncConfig

if TYPE_CHECKING:
    from adapters.graphauth import GraphSettings, TokenStore

T = TypeVar("T")


def open_source(account: AccountConfig, settings: SyncConfig) -> Source:
    """The source for ``account``; a password that cannot be had, or stored settings that
    do not hold, are an :class:`AuthError` (the account needs an admin)."""
    if account.problems:
        where = f'account "{account.name}"'
        raise AuthError(f"{where}: " + "; ".join(account.problems), account=account.name)
    if account.kind == "files":
        from adapters.files import FilesSource

        assert account.path is not None  # validated at load
        return FilesSource(
            path=account.path,
            format=account.format,
            account=account.name,
            window_back=timedelta(seconds=account.past),
            window_ahead=timedelta(seconds=account.future),
            since=account.since,
        )
    if account.kind == "imap":
        from adapters.imap import ImapSource

        return ImapSource(
            host=account.host or "",
            port=account.port or 993,
            security=account.security,
            username=account.username or "",
            password=_password(account),
            folders=account.folders,
            tls_verify=account.tls_verify,
            ca_file=str(account.ca_file) if account.ca_file else None,
            timeout=settings.timeout_seconds,
            account=account.name,
            since=account.since,
        )
    if account.kind == "caldav":
        from adapters.caldav import CalDavSource

        return CalDavSource(
            url=account.url or "",
            username=account.username or "",
            password=_password(account),
            calendars=account.folders,
            timeout=settings.timeout_seconds,
            window_back=timedelta(seconds=account.past),
            window_ahead=timedelta(seconds=account.future),
            tls_verify=requests_verify(
                account.tls_verify, str(account.ca_file) if account.ca_file else None
            ),
            account=account.name,
        )
    if account.kind == "carddav":
        from adapters.carddav import CardDavSource

        return CardDavSource(
            url=account.url or "",
            username=account.username or "",
            password=_password(account),
            books=account.folders,
            tls_verify=account.tls_verify,
            ca_file=str(account.ca_file) if account.ca_file else None,
            timeout=settings.timeout_seconds,
            account=account.name,
        )
    if account.kind == "ews":
        from adapters.ews import EwsSource
        from adapters.ewsconnect import EwsSettings

        return EwsSource(
            settings=EwsSettings(
                url=account.url or "",
                username=account.username or "",
                password=_password(account),
                auth=account.auth,
                access=account.access,
                version=account.version,
                tls_verify=account.tls_verify,
                ca_file=str(account.ca_file) if account.ca_file else None,
                timeout=settings.timeout_seconds,
                autodiscover=account.autodiscover,
            ),
            **_exchange_reads(account),
        )
    if account.kind == "graph":
        from adapters.graph import GraphSource

        return GraphSource(
            settings=graph_settings(account, settings),
            store=token_store(account),
            **_exchange_reads(account),
        )
    raise ConfigError([f"accounts.{account.name}.kind: {account.kind!r} is not supported yet"])


def _exchange_reads(account: AccountConfig) -> dict[str, Any]:
    """What an Exchange account reads, alike for EWS and Graph (config: EXCHANGE_READS)."""
    return {
        "mailboxes": account.mailboxes,
        "groups": account.groups,
        "folders": account.folders,
        "calendar": account.calendar,
        "contacts": account.contacts,
        "private_categories": account.private_categories,
        "window_back": timedelta(seconds=account.past),
        "window_ahead": timedelta(seconds=account.future),
        "account": account.name,
        "since": account.since,
    }


def graph_settings(account: AccountConfig, settings: SyncConfig) -> GraphSettings:
    """How a graph account reaches Graph and signs in, its client secret and certificate
    read now; one that cannot be read is an :class:`AuthError`."""
    from adapters.graphauth import GraphSettings

    certificate = password = ""
    if account.certificate_file is not None:
        try:
            certificate = account.certificate_file.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise AuthError(
                f'account "{account.name}": cannot read the certificate file'
                f" {account.certificate_file}: {getattr(exc, 'strerror', None) or exc}",
                account=account.name,
            ) from None
        password = _secret(account, account.certificate_password)
    return GraphSettings(
        tenant=account.tenant or "",
        client_id=account.client_id or "",
        sign_in=account.sign_in,
        client_secret="" if certificate else _secret(account, account.client_secret),
        certificate=certificate,
        certificate_password=password,
        cloud=account.cloud,
        login_url=account.login_url or "",
        graph_url=account.graph_url or "",
        tls_verify=account.tls_verify,
        ca_file=str(account.ca_file) if account.ca_file else None,
        timeout=settings.timeout_seconds,
    )


def token_store(account: AccountConfig) -> TokenStore | None:
    """Where a delegated graph account's sign-in is kept; a key that is missing or does
    not fit is an :class:`AuthError` when the store is used."""
    if account.sign_in != "user" or account.token_store is None:
        return None
    return _GuardedStore(account.token_store, account.name)


class _GuardedStore:
    """A token store whose key problems are the account's :class:`AuthError`."""

    def __init__(self, store: TokenStore, account: str) -> None:
        self.store, self.account = store, account

    def load(self) -> str | None:
        return self._guard(self.store.load)

    def save(self, cache: str) -> None:
        self._guard(lambda: self.store.save(cache))

    def _guard(self, work: Callable[[], T]) -> T:
        from crm.secrets import SecretKeyError

        try:
            return work()
        except SecretKeyError as exc:  # its message never holds the key nor the cache
            raise AuthError(f'account "{self.account}": {exc}', account=self.account) from None


def _secret(account: AccountConfig, fetch: Callable[[], str]) -> str:
    try:
        return fetch()
    except ConfigError as exc:
        raise AuthError(str(exc), account=account.name) from None


def _password(account: AccountConfig) -> str:
    return _secret(account, account.password)
