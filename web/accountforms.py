"""The forms of the account admin page, one per account kind.

Each form turns its fields into the settings an account of its kind has in the
config file (:meth:`settings`, stored as JSON in ``Account.settings``) and back
(:meth:`fill`). The password is never part of the settings: it is stored
encrypted in ``Account.secret``, and a ``files`` account has none.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any, ClassVar

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp

from crm.models import Account

#: a DNS name, an IPv4 address, or an IPv6 address (brackets optional)
HOSTNAME = (
    r"^(?=.{1,253}$)[A-Za-z0-9][A-Za-z0-9-]{0,62}(\.[A-Za-z0-9][A-Za-z0-9-]{0,62})*\.?$"
    r"|^\[?[0-9A-Fa-f:.]+\]?$"
)
URL = r"^https?://[^\s/?#]+(/\S*)?$"
HTTPS = r"^https://[^\s/?#]+(/\S*)?$"
_DAYS = re.compile(r"^(\d+)d$")


class AccountForm(FlaskForm):
    """What every account has: a name, an owner, how often it syncs, whether it does."""

    #: the account kind this form edits, and how the page names it
    kind: ClassVar[str] = ""
    title: ClassVar[str] = ""
    #: whether the account logs in with a password
    has_password: ClassVar[bool] = True
    #: what "test connection" lists: one, many
    collections: ClassVar[tuple[str, str]] = ("folder", "folders")

    name = StringField(
        "Name",
        validators=[
            DataRequired(),
            Regexp(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$", message="letters, digits, . _ @ -"),
        ],
    )
    owner = StringField("Owner (staff member)", validators=[Optional(), Length(max=128)])
    interval_minutes = IntegerField(
        "Sync every (minutes)", default=5, validators=[NumberRange(1, 1440)]
    )
    enabled = BooleanField("Enabled", default=True)

    def needs_password(self) -> bool:
        """Whether the account cannot work without a password (or client secret)."""
        return self.has_password

    def settings(self) -> dict[str, Any]:
        """The settings as stored in ``Account.settings`` (no password)."""
        raise NotImplementedError

    def fill_settings(self, settings: dict[str, Any]) -> None:
        """Show stored settings in the fields."""
        raise NotImplementedError

    def fill(self, account: Account, default_interval: float) -> None:
        """The form showing a stored account (the password stays empty)."""
        self.name.data, self.owner.data = account.name, account.owner
        self.fill_settings(account.settings if isinstance(account.settings, dict) else {})
        interval = account.interval_seconds or default_interval
        self.interval_minutes.data = max(1, round(interval / 60))
        self.enabled.data = account.enabled


def _lines(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def _days(value: Any, default: int = 365) -> int:
    """Days from a stored duration such as ``"365d"`` (what the form writes)."""
    found = _DAYS.match(value) if isinstance(value, str) else None
    return int(found[1]) if found else default


def _since_field() -> DateField:
    return DateField("Only mail received on or after", validators=[Optional()])


def _role_field() -> SelectField:
    return SelectField(
        "Role",
        choices=[
            ("mailbox", "a staff member's mailbox"),
            ("logging", "the logging mailbox (staff BCC or forward mail to it)"),
        ],
        default="mailbox",
    )


def _authserv_field() -> StringField:
    return StringField(
        "Trust Authentication-Results of (server name)", validators=[Optional(), Length(max=255)]
    )


def _role(form: Any) -> dict[str, Any]:
    """``role`` (and the logging mailbox's ``authserv_id``) for the settings."""
    out: dict[str, Any] = {"role": form.role.data or "mailbox"}
    if out["role"] == "logging" and (form.authserv_id.data or "").strip():
        out["authserv_id"] = form.authserv_id.data.strip()
    return out


def _fill_role(form: Any, settings: dict[str, Any]) -> None:
    form.role.data = settings.get("role", "mailbox")
    form.authserv_id.data = settings.get("authserv_id", "")


def _since(form: Any) -> dict[str, Any]:
    """``since`` for the settings, when the form's date is set."""
    return {"since": form.since.data.isoformat()} if form.since.data else {}


def _fill_since(form: Any, settings: dict[str, Any]) -> None:
    value = settings.get("since")
    try:
        form.since.data = date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        form.since.data = None


class ImapForm(AccountForm):
    kind, title = "imap", "an IMAP account"

    host = StringField(
        "IMAP server", validators=[DataRequired(), Regexp(HOSTNAME, message="not a host name")]
    )
    port = IntegerField("Port", validators=[Optional(), NumberRange(1, 65535)])
    security = SelectField(
        "Security",
        choices=[
            ("ssl", "SSL/TLS (993)"),
            ("starttls", "STARTTLS (143)"),
            ("none", "none (143, test servers only)"),
        ],
    )
    username = StringField("User name", validators=[DataRequired(), Length(max=320)])
    password = PasswordField("Password", validators=[Length(max=1024)])
    folders = TextAreaField(
        "Folders (one per line; \\Sent = the sent folder)", default="INBOX\n\\Sent"
    )
    tls_verify = BooleanField("Verify the server's certificate", default=True)
    since = _since_field()
    role = _role_field()
    authserv_id = _authserv_field()
    idle = BooleanField("Watch the INBOX (IMAP IDLE): new mail within seconds", default=False)

    def settings(self) -> dict[str, Any]:
        security = self.security.data
        return {
            "host": self.host.data.strip().strip("[]"),
            "port": self.port.data or (993 if security == "ssl" else 143),
            "security": security,
            "username": self.username.data.strip(),
            "folders": _lines(self.folders.data) or ["INBOX"],
            "tls_verify": bool(self.tls_verify.data),
            "idle": bool(self.idle.data),
            **_since(self),
            **_role(self),
        }

    def fill_settings(self, settings: dict[str, Any]) -> None:
        _fill_since(self, settings)
        _fill_role(self, settings)
        self.idle.data = settings.get("idle", False)
        self.host.data, self.port.data = settings.get("host", ""), settings.get("port")
        self.security.data = settings.get("security", "ssl")
        self.username.data = settings.get("username", "")
        self.folders.data = "\n".join(settings.get("folders", ["INBOX"]))
        self.tls_verify.data = settings.get("tls_verify", True)


class _DavForm(AccountForm):
    url = StringField(
        "Server URL",
        validators=[DataRequired(), Length(max=2048), Regexp(URL, message="not an http(s) URL")],
    )
    username = StringField("User name", validators=[DataRequired(), Length(max=320)])
    password = PasswordField("Password", validators=[Length(max=1024)])
    tls_verify = BooleanField("Verify the server's certificate", default=True)


class CalDavForm(_DavForm):
    kind, title = "caldav", "a CalDAV calendar account"
    collections = ("calendar", "calendars")

    calendars = TextAreaField("Calendars (one per line; empty: every calendar)")
    past_days = IntegerField(
        "Expand recurring meetings back (days)", default=365, validators=[NumberRange(0, 3650)]
    )
    future_days = IntegerField("and ahead (days)", default=365, validators=[NumberRange(0, 3650)])

    def settings(self) -> dict[str, Any]:
        return {
            "url": self.url.data.strip(),
            "username": self.username.data.strip(),
            "calendars": _lines(self.calendars.data),
            "past": f"{self.past_days.data}d",
            "future": f"{self.future_days.data}d",
            "tls_verify": bool(self.tls_verify.data),
        }

    def fill_settings(self, settings: dict[str, Any]) -> None:
        self.url.data, self.username.data = settings.get("url", ""), settings.get("username", "")
        self.calendars.data = "\n".join(settings.get("calendars", []))
        self.past_days.data = _days(settings.get("past"))
        self.future_days.data = _days(settings.get("future"))
        self.tls_verify.data = settings.get("tls_verify", True)


class CardDavForm(_DavForm):
    kind, title = "carddav", "a CardDAV address book account"
    collections = ("address book", "address books")

    books = TextAreaField("Address books (one per line; empty: every address book)")
    policy = SelectField(
        "Contacts policy",
        choices=[
            ("enrich", "enrich: add phone numbers and addresses to known customers"),
            ("import", "import: also create the people and organizations"),
        ],
    )

    def settings(self) -> dict[str, Any]:
        return {
            "url": self.url.data.strip(),
            "username": self.username.data.strip(),
            "books": _lines(self.books.data),
            "policy": self.policy.data,
            "tls_verify": bool(self.tls_verify.data),
        }

    def fill_settings(self, settings: dict[str, Any]) -> None:
        self.url.data, self.username.data = settings.get("url", ""), settings.get("username", "")
        self.books.data = "\n".join(settings.get("books", []))
        self.policy.data = settings.get("policy", "enrich")
        self.tls_verify.data = settings.get("tls_verify", True)


class FilesForm(AccountForm):
    kind, title = "files", "a folder of files"
    collections = ("collection", "collections")
    has_password = False

    path = StringField(
        "Folder or file on the server", validators=[DataRequired(), Length(max=4096)]
    )
    format = SelectField(
        "Format",
        choices=[
            ("auto", "find out"),
            ("maildir", "Maildir"),
            ("mbox", "one mbox file"),
            ("mboxes", "a folder of mbox files (Thunderbird)"),
            ("ics", "a folder of .ics files"),
            ("vcf", "a folder of .vcf files"),
            ("vdir", "a vdir (vdirsyncer)"),
        ],
    )
    past_days = IntegerField(
        "Expand recurring meetings back (days)", default=365, validators=[NumberRange(0, 3650)]
    )
    future_days = IntegerField("and ahead (days)", default=365, validators=[NumberRange(0, 3650)])
    since = _since_field()
    role = _role_field()
    authserv_id = _authserv_field()

    def settings(self) -> dict[str, Any]:
        return {
            **_since(self),
            **_role(self),
            "path": self.path.data.strip(),
            "format": self.format.data,
            "past": f"{self.past_days.data}d",
            "future": f"{self.future_days.data}d",
        }

    def fill_settings(self, settings: dict[str, Any]) -> None:
        _fill_since(self, settings)
        _fill_role(self, settings)
        self.path.data, self.format.data = settings.get("path", ""), settings.get("format", "auto")
        self.past_days.data = _days(settings.get("past"))
        self.future_days.data = _days(settings.get("future"))


class _ExchangeForm(AccountForm):
    """What an Exchange account reads, alike for EWS and Graph (config: EXCHANGE_READS)."""

    mailboxes = TextAreaField("Staff mailboxes (one address per line)")
    groups = TextAreaField("Distribution groups whose members are read (one per line)")
    folders = TextAreaField("Mail folders (one per line)", default="Inbox\nSent Items")
    calendar = BooleanField("Read the calendars", default=True)
    contacts = BooleanField("Read the contacts", default=True)
    policy = SelectField("Contacts policy", choices=CardDavForm.policy.kwargs["choices"])
    since = _since_field()
    role = _role_field()
    authserv_id = _authserv_field()

    def _reads(self) -> dict[str, Any]:
        return {
            "mailboxes": _lines(self.mailboxes.data),
            "groups": _lines(self.groups.data),
            "folders": _lines(self.folders.data) or ["Inbox"],
            "calendar": bool(self.calendar.data),
            "contacts": bool(self.contacts.data),
            "policy": self.policy.data,
            **_since(self),
            **_role(self),
        }

    def _fill_reads(self, settings: dict[str, Any]) -> None:
        _fill_since(self, settings)
        _fill_role(self, settings)
        self.mailboxes.data = "\n".join(settings.get("mailboxes", []))
        self.groups.data = "\n".join(settings.get("groups", []))
        self.folders.data = "\n".join(settings.get("folders", ["Inbox", "Sent Items"]))
        self.calendar.data = settings.get("calendar", True)
        self.contacts.data = settings.get("contacts", True)
        self.policy.data = settings.get("policy", "enrich")


class EwsForm(_ExchangeForm):
    kind, title = "ews", "an Exchange Server account (EWS)"
    collections = ("mailbox", "mailboxes")

    url = StringField(
        "EWS endpoint",
        validators=[Optional(), Length(max=2048), Regexp(URL, message="not an http(s) URL")],
    )
    autodiscover = BooleanField("Find the endpoint by autodiscover", default=False)
    username = StringField("Service account", validators=[DataRequired(), Length(max=320)])
    password = PasswordField("Password", validators=[Length(max=1024)])
    auth = SelectField("Authentication", choices=[("ntlm", "NTLM"), ("basic", "Basic")])
    access = SelectField(
        "Access to the mailboxes",
        choices=[
            ("impersonation", "impersonation (ApplicationImpersonation role)"),
            ("delegate", "delegate (full access to each mailbox)"),
        ],
    )
    version = StringField(
        "Exchange version", default="auto", validators=[DataRequired(), Length(max=32)]
    )
    tls_verify = BooleanField("Verify the server's certificate", default=True)

    def settings(self) -> dict[str, Any]:
        return {
            "url": (self.url.data or "").strip() or None,
            "autodiscover": bool(self.autodiscover.data),
            "username": self.username.data.strip(),
            "auth": self.auth.data,
            "access": self.access.data,
            "version": self.version.data.strip(),
            "tls_verify": bool(self.tls_verify.data),
            **self._reads(),
        }

    def fill_settings(self, settings: dict[str, Any]) -> None:
        self._fill_reads(settings)
        self.url.data = settings.get("url") or ""
        self.autodiscover.data = settings.get("autodiscover", False)
        self.username.data = settings.get("username", "")
        self.auth.data, self.access.data = settings.get("auth"), settings.get("access")
        self.version.data = settings.get("version", "auto")
        self.tls_verify.data = settings.get("tls_verify", True)


class GraphForm(_ExchangeForm):
    """Exchange Online through Microsoft Graph. The client secret is the stored password;
    a certificate is for accounts in the config file (``certificate_file``)."""

    kind, title = "graph", "an Exchange Online account (Microsoft Graph)"
    collections = ("folder", "folders")

    tenant = StringField(
        "Tenant (directory id or domain)",
        validators=[
            DataRequired(),
            Length(max=253),
            Regexp(r"^[^\s/]+$", message="no spaces or /"),
        ],
    )
    client_id = StringField("Application (client) id", validators=[DataRequired(), Length(max=128)])
    sign_in = SelectField(
        "Sign-in",
        choices=[
            ("app", "app-only: the app reads the staff mailboxes listed below"),
            ("user", "as one user: that user's own mailbox"),
        ],
    )
    password = PasswordField("Client secret", validators=[Length(max=1024)])
    cloud = SelectField(
        "Cloud",
        choices=[
            ("global", "Microsoft 365 (global)"),
            ("usgov", "US Government (GCC High)"),
            ("usgov-dod", "US Government (DoD)"),
            ("china", "China (21Vianet)"),
        ],
    )
    login_url = StringField(
        "Login endpoint",
        validators=[Optional(), Length(max=2048), Regexp(HTTPS, message="not an https URL")],
    )
    graph_url = StringField(
        "Graph endpoint",
        validators=[Optional(), Length(max=2048), Regexp(HTTPS, message="not an https URL")],
    )
    private_categories = TextAreaField(
        "Private categories (one per line)", default="Private\nPrivat"
    )

    def needs_password(self) -> bool:
        return self.sign_in.data == "app"

    def settings(self) -> dict[str, Any]:
        endpoints = {
            key: value.strip()
            for key, value in (
                ("login_url", self.login_url.data),
                ("graph_url", self.graph_url.data),
            )
            if value and value.strip()
        }
        return {
            "tenant": self.tenant.data.strip(),
            "client_id": self.client_id.data.strip(),
            "sign_in": self.sign_in.data,
            "cloud": self.cloud.data,
            **endpoints,
            "private_categories": _lines(self.private_categories.data),
            **self._reads(),
        }

    def fill_settings(self, settings: dict[str, Any]) -> None:
        self.tenant.data = settings.get("tenant", "")
        self.client_id.data = settings.get("client_id", "")
        self.sign_in.data = settings.get("sign_in", "app")
        self.cloud.data = settings.get("cloud", "global")
        self.login_url.data = settings.get("login_url") or ""
        self.graph_url.data = settings.get("graph_url") or ""
        self._fill_reads(settings)
        self.private_categories.data = "\n".join(
            settings.get("private_categories", ["Private", "Privat"])
        )


FORMS: dict[str, type[AccountForm]] = {
    form.kind: form for form in (ImapForm, EwsForm, GraphForm, CalDavForm, CardDavForm, FilesForm)
}
