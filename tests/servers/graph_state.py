"""The Graph simulator's Python API for tests: app registrations, tokens and consent,
users' mail, calendars and contacts (every change lands in the next delta round), and
distribution groups.

Mixed into :class:`tests.servers.graph.GraphServer`; ``user`` arguments take a user's id
or userPrincipalName, ``folder`` arguments a folder id or a well-known name (``inbox``).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tests.servers.graph_groups import Group, new_group
from tests.servers.graph_identity import DEFAULT_ROLES, DEFAULT_SCOPES, App
from tests.servers.graph_mail import Message, message_sensitivity, new_change_key, new_id, now_utc
from tests.servers.graph_state_pim import PimState
from tests.servers.graph_store import Folder, Mailbox, add_folder, make_mailbox

if TYPE_CHECKING:
    from tests.servers.graph_identity import Identity


def make_certificate(name: str = "crmsync graph app") -> tuple[str, str]:
    """A new RSA key and self-signed certificate for an app: (key PEM, certificate PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return key_pem, cert.public_bytes(serialization.Encoding.PEM).decode()


class GraphState(PimState):
    """State and the test API (see the module docstring)."""

    identity: Identity

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.mailboxes: dict[str, Mailbox] = {}  # id -> mailbox
        self._owner: dict[str, Mailbox] = {}  # message, event or contact id -> mailbox
        self.groups: dict[str, Group] = {}  # id -> group
        #: directory objects in one page of /groups and members (Graph's default: 100)
        self.directory_page_size = 100

    # -- apps, tokens, consent ------------------------------------------------------------------

    def add_app(
        self,
        client_id: str | None = None,
        *,
        secret: str | None = None,
        certificate: str | None = None,
        roles: tuple[str, ...] = DEFAULT_ROLES,
        delegated_scopes: tuple[str, ...] = DEFAULT_SCOPES,
        redirect_uris: tuple[str, ...] = (),
        public_client: bool = False,
        display_name: str = "crmsync",
    ) -> str:
        """Register an app (secret and/or certificate PEM); returns its client id."""
        client_id = client_id or str(uuid.uuid4())
        certs = [x509.load_pem_x509_certificate(certificate.encode())] if certificate else []
        app = App(
            client_id,
            display_name,
            secret,
            certs,
            set(roles),
            set(delegated_scopes),
            set(redirect_uris),
            public_client,
        )
        with self.lock:
            self.identity.apps[client_id] = app
        return client_id

    def restrict_app(self, client_id: str, *users: str | None) -> None:
        """Application access policy: the app-only token reads only these mailboxes
        (``restrict_app(cid, None)`` lifts the restriction)."""
        with self.lock:
            app = self.identity.apps[client_id]
            app.mailboxes = None if users == (None,) else {self.user_id(u) for u in users if u}

    def issue_token(
        self, client_id: str, user: str | None = None, scopes: tuple[str, ...] | None = None
    ) -> str:
        """An access token without the token endpoint: app-only, or delegated for ``user``."""
        with self.lock:
            app = self.identity.apps[client_id]
            if user is None:
                return self.identity.issue_access(app, None, frozenset(app.roles), frozenset())
            granted = frozenset(scopes or app.delegated_scopes)
            return self.identity.issue_access(app, self.user_id(user), frozenset(), granted)

    def expire_access_tokens(self, token: str | None = None) -> None:
        """Make one access token (or every one issued so far) fail with 401."""
        with self.lock:
            for value, record in self.identity.tokens.items():
                if token is None or value == token:
                    record.expires_at = time.time() - 1

    def revoke_access_tokens(self, user: str | None = None) -> None:
        """Revoke the access tokens of ``user`` (every token when None): 401 from now on."""
        with self.lock:
            user_id = self.user_id(user) if user else None
            for record in self.identity.tokens.values():
                if user_id is None or record.user_id == user_id:
                    record.revoked = True

    def expire_refresh_tokens(self, user: str | None = None) -> None:
        """Refresh tokens of ``user`` (all when None) fail with AADSTS700082."""
        self._grants(user, lambda g: setattr(g, "expires_at", time.time() - 1))

    def revoke_refresh_tokens(self, user: str) -> None:
        """Revoke a user's refresh tokens (as "revoke sessions" does): AADSTS50173."""
        self._grants(user, lambda g: setattr(g, "revoked", True))

    def _grants(self, user: str | None, change: Any) -> None:
        with self.lock:
            user_id = self.user_id(user) if user else None
            for key, grant in self.identity.grants.items():
                if key.startswith("refresh:") and user_id in (None, grant.user_id):
                    change(grant)

    def revoke_consent(self, client_id: str, user: str | None = None) -> None:
        """Withdraw consent for one user (or the admin consent): AADSTS65001 afterwards."""
        with self.lock:
            app = self.identity.apps[client_id]
            if user is None:
                app.admin_consent = False
            else:
                app.no_consent.add(self.user_id(user))

    def grant_consent(self, client_id: str, user: str | None = None) -> None:
        with self.lock:
            app = self.identity.apps[client_id]
            if user is None:
                app.admin_consent = True
            else:
                app.no_consent.discard(self.user_id(user))

    def sign_in(self, user: str | None) -> None:
        """The user the authorize endpoint signs in (as if they typed their password)."""
        with self.lock:
            self.identity.signed_in = self.user_id(user) if user else None

    def issue_auth_code(
        self,
        client_id: str,
        user: str,
        redirect_uri: str,
        scope: str = "openid profile offline_access Mail.Read",
        code_challenge: str = "",
    ) -> str:
        """An authorization code, as the authorize endpoint would redirect with it."""
        with self.lock:
            return self.identity.issue_auth_code(
                client_id, self.user_id(user), redirect_uri, scope, code_challenge=code_challenge
            )

    def approve_device_code(self, user_code: str, user: str) -> None:
        """The user entered ``user_code`` and signed in: the next poll gets tokens."""
        with self.lock:
            self._device(user_code).user_id = self.user_id(user)

    def decline_device_code(self, user_code: str) -> None:
        with self.lock:
            self._device(user_code).declined = True

    def _device(self, user_code: str) -> Any:
        for key, grant in self.identity.grants.items():
            if key.startswith("device:") and grant.user_code == user_code:
                return grant
        raise KeyError(f"no pending device code {user_code!r}")

    # -- users and mail -------------------------------------------------------------------------

    def add_user(
        self,
        upn: str,
        display_name: str | None = None,
        *,
        mail: str | None = None,
        time_zone: str = "W. Europe Standard Time",
    ) -> str:
        """A user with a mailbox (well-known folders, a calendar, contacts); returns the id."""
        name = display_name or upn.split("@")[0].replace(".", " ").title()
        box = make_mailbox(upn, name, mail, time_zone)
        with self.lock:
            self.mailboxes[box.id] = box
        return box.id

    def add_group(self, mail: str, *members: str, display_name: str | None = None) -> str:
        """A distribution group whose ``members`` are users (id or UPN) and groups (id or
        address, added before); returns its id."""
        with self.lock:
            group = new_group(mail, display_name)
            group.members = [self._member_id(m) for m in members]
            self.groups[group.id] = group
            return group.id

    def add_group_member(self, group: str, member: str) -> None:
        with self.lock:
            self.groups[self._group(group).id].members.append(self._member_id(member))

    def _group(self, key: str) -> Group:
        found = self.groups.get(key) or next(
            (g for g in self.groups.values() if g.mail.lower() == key.lower()), None
        )
        if found is None:
            raise KeyError(f"no group {key!r}")
        return found

    def _member_id(self, key: str) -> str:
        box = self.mailbox_or_none(key)
        return box.id if box is not None else self._group(key).id

    def mailbox_or_none(self, key: str) -> Mailbox | None:
        """A mailbox by user id or userPrincipalName (case-insensitive)."""
        box = self.mailboxes.get(key)
        if box is None:
            low = key.lower()
            box = next((b for b in self.mailboxes.values() if b.upn.lower() == low), None)
        return box

    def mailbox(self, user: str) -> Mailbox:
        box = self.mailbox_or_none(user)
        if box is None:
            raise KeyError(f"no user {user!r}")
        return box

    def user_id(self, user: str) -> str:
        return self.mailbox(user).id

    def add_folder(
        self, user: str, name: str, parent: str = "msgfolderroot", *, hidden: bool = False
    ) -> str:
        """A mail folder below ``parent``; returns its id."""
        with self.lock:
            box = self.mailbox(user)
            folder = add_folder(box, self._folder(box, parent).id, name)
            folder.is_hidden = hidden
            return folder.id

    def folder_id(self, user: str, folder: str) -> str:
        with self.lock:
            return self._folder(self.mailbox(user), folder).id

    def _folder(self, box: Mailbox, key: str) -> Folder:
        folder = box.folder(key)
        if folder is None:
            raise KeyError(f"no folder {key!r}")
        return folder

    def add_message(
        self,
        user: str,
        folder: str,
        mime: bytes,
        *,
        received: dt.datetime | None = None,
        categories: tuple[str, ...] = (),
        is_read: bool = False,
        sensitivity: int | None = None,
    ) -> str:
        """A mail from raw MIME; properties come from its headers (``Sensitivity:`` gives
        PidTagSensitivity unless ``sensitivity`` says otherwise). Returns its id."""
        now = now_utc()
        if sensitivity is None:
            sensitivity = message_sensitivity(mime)
        with self.lock:
            box = self.mailbox(user)
            target = self._folder(box, folder)
            message = Message(
                new_id(),
                target.id,
                mime,
                received or now,
                list(categories),
                is_read,
                sensitivity,
                now,
                now,
            )
            box.messages[message.id] = target.items[message.id] = message
            self._owner[message.id] = box
            return message.id

    def update_message(
        self,
        message_id: str,
        *,
        mime: bytes | None = None,
        categories: tuple[str, ...] | None = None,
        is_read: bool | None = None,
        sensitivity: int | None = None,
    ) -> str:
        """Change a mail (a new changeKey); returns the changeKey."""
        with self.lock:
            message = self._owner[message_id].messages[message_id]
            if mime is not None:
                message.raw = mime
                for cached in ("headers", "_content", "body_preview"):
                    message.__dict__.pop(cached, None)
            if categories is not None:
                message.categories = list(categories)
            if is_read is not None:
                message.is_read = is_read
            if sensitivity is not None:
                message.sensitivity = sensitivity
            message.change_key, message.modified = new_change_key(), now_utc()
            return message.change_key

    def move_message(self, message_id: str, folder: str) -> None:
        """Move a mail: the old folder's delta reports it removed, the new one's new."""
        with self.lock:
            box = self._owner[message_id]
            message = box.messages[message_id]
            del box.folders[message.folder_id].items[message_id]
            target = self._folder(box, folder)
            message.folder_id = target.id
            target.items[message_id] = message
            message.change_key, message.modified = new_change_key(), now_utc()

    def delete_message(self, message_id: str) -> None:
        with self.lock:
            box = self._owner.pop(message_id)
            message = box.messages.pop(message_id)
            del box.folders[message.folder_id].items[message_id]
