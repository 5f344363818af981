"""Opening the adapter that serves an account's ``kind``."""

from __future__ import annotations

from datetime import timedelta

from adapters.base import Source
from adapters.errors import AuthError
from sync.config import AccountConfig, ConfigError, SyncConfig


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
            tls_verify=_verify(account),
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
            mailboxes=account.mailboxes,
            groups=account.groups,
            folders=account.folders,
            calendar=account.calendar,
            contacts=account.contacts,
            private_categories=account.private_categories,
            window_back=timedelta(seconds=account.past),
            window_ahead=timedelta(seconds=account.future),
            account=account.name,
        )
    raise ConfigError([f"accounts.{account.name}.kind: {account.kind!r} is not supported yet"])


def _password(account: AccountConfig) -> str:
    try:
        return account.password()
    except ConfigError as exc:
        raise AuthError(str(exc), account=account.name) from None


def _verify(account: AccountConfig) -> bool | str:
    """The caldav library's ``ssl_verify_cert``: off, on, or the CA file to trust."""
    if not account.tls_verify:
        return False
    return str(account.ca_file) if account.ca_file else True
