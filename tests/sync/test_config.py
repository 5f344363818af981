"""Loading and validating the TOML configuration (sync/config.py)."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path
from textwrap import dedent

import pytest

from sync.config import (
    ACCOUNT,
    ARCHIVE,
    CRM,
    DATABASE,
    KINDS,
    SYNC,
    WEB,
    Config,
    ConfigError,
    CrmConfig,
    SecretsConfig,
    SyncConfig,
    WebConfig,
    find_config_path,
    load_config,
    parse_config,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config.example.toml"

IMAP = """
[[accounts]]
name = "alice-mail"
kind = "imap"
host = "mail.example.com"
username = "alice@example.com"
password_env = "ALICE_MAIL_PASSWORD"
"""


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(dedent(text), encoding="utf-8")
    return path


def load(tmp_path: Path, text: str) -> Config:
    return load_config(write(tmp_path, text))


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    return caught.value.problems


def account_with(tmp_path: Path, *lines: str) -> Config:
    return load(tmp_path, IMAP + "\n".join(lines))


# -- finding and reading the file -------------------------------------------------------


def test_explicit_path_wins_over_environment_and_default(monkeypatch):
    monkeypatch.setenv("CRMSYNC_CONFIG", "/etc/crmsync/from-env.toml")
    assert find_config_path("given.toml") == Path("given.toml")


def test_environment_wins_over_default(monkeypatch):
    monkeypatch.setenv("CRMSYNC_CONFIG", "/etc/crmsync/from-env.toml")
    assert find_config_path(None) == Path("/etc/crmsync/from-env.toml")


def test_default_is_config_toml_in_the_working_directory(monkeypatch):
    monkeypatch.delenv("CRMSYNC_CONFIG", raising=False)
    assert find_config_path(None) == Path("config.toml")


def test_missing_file_says_how_to_get_one(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "absent.toml")
    assert str(caught.value) == (
        f"no config file at {tmp_path / 'absent.toml'} (set --config or CRMSYNC_CONFIG,"
        " or copy config.example.toml)"
    )


def test_toml_syntax_error_names_file_line_and_column(tmp_path):
    path = write(tmp_path, '[web]\nlisten = "127.0.0.1:8080"\nbehind_proxy = \n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    (problem,) = caught.value.problems
    assert problem.startswith(f"{path}, line 3, column 16: TOML syntax error: ")


def test_toml_syntax_error_at_the_end_names_the_last_line(tmp_path):
    path = write(tmp_path, "[web]\n[accounts")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    (problem,) = caught.value.problems
    assert problem.startswith(f"{path}, line 2, column 10 (the end): TOML syntax error: ")


def test_empty_file_is_all_defaults(tmp_path):
    config = load(tmp_path, "")
    assert config.path == tmp_path / "config.toml"
    assert config.database.url == f"sqlite:///{tmp_path}/var/crmsync.db"
    assert config.archive.path == tmp_path / "var" / "archive"
    assert config.crm == CrmConfig(default_region="DE", internal_domains=())
    assert config.web == WebConfig(
        listen="127.0.0.1:8080", behind_proxy=False, file_roots=(tmp_path / "var" / "import",)
    )
    assert config.secrets == SecretsConfig(tmp_path / "var" / "secret.key", "CRMSYNC_SECRET_KEY")
    assert config.sync == SyncConfig(
        batch_max_items=500, batch_max_bytes=25_000_000, timeout_seconds=60.0
    )
    assert config.accounts == ()


def test_parse_config_takes_relative_paths_from_base_dir(tmp_path):
    config = parse_config({"archive": {"path": "files"}}, base_dir=tmp_path)
    assert config.archive.path == tmp_path / "files"
    assert config.path is None


# -- problems, with their keys ----------------------------------------------------------


def test_unknown_key_suggests_the_known_one(tmp_path):
    assert problems(tmp_path, '[database]\nuri = "sqlite:///x.db"\n') == [
        'database.uri: unknown key (did you mean "url"?)'
    ]


def test_unknown_section_suggests_the_known_one(tmp_path):
    assert problems(tmp_path, '[[account]]\nname = "x"\n') == [
        'account: unknown key (did you mean "accounts"?)'
    ]


def test_wrong_type_names_key_expected_and_given(tmp_path):
    text = IMAP + IMAP.replace("alice-mail", "bob-mail") + 'port = "abc"\n'
    assert problems(tmp_path, text) == ['accounts[1].port: expected an integer, got string "abc"']


def test_every_problem_is_reported_not_only_the_first(tmp_path):
    found = problems(
        tmp_path,
        """
        [crm]
        default_region = "XX"
        staff_addresses = ["alice@example.com", "not an address"]

        [sync]
        batch_max_items = 0
        timeout = 30

        [[accounts]]
        name = "bad name"
        kind = "imap"
        host = "mail.example.com"
        port = 99999
        """,
    )
    assert [problem.split(":")[0] for problem in found] == [
        "crm.staff_addresses[1]",
        "crm.default_region",
        "sync.batch_max_items",
        "sync.timeout",
        "accounts[0].name",
        "accounts[0].port",
        "accounts[0].username",
        "accounts[0]",
    ]
    assert str(ConfigError(found)) == "\n".join(found)


def test_problem_messages_read_well(tmp_path):
    found = problems(
        tmp_path,
        """
        [crm]
        default_region = "XX"
        internal_domains = "example.com"
        free_mail_domains = ["ok.example", "not a domain"]

        [web]
        listen = "localhost"

        [sync]
        batch_max_bytes = "lots"
        interval = "5m"
        """,
    )
    by_key = dict(problem.split(": ", 1) for problem in found)
    assert by_key == {
        "crm.internal_domains": 'expected an array of domain names, got string "example.com"',
        "crm.default_region": 'string "XX" is not a region phonenumbers knows;'
        ' use a two-letter country code such as "DE", "AT" or "US"',
        "crm.free_mail_domains[1]": by_key["crm.free_mail_domains[1]"],
        "web.listen": 'expected "host:port" such as "127.0.0.1:8080", got string "localhost"',
        "sync.batch_max_bytes": 'expected a size such as "25MB", "512KB", "1GiB"'
        ' or a number of bytes, got string "lots"',
        "sync.interval": "unknown key",
    }
    assert by_key["crm.free_mail_domains[1]"].startswith(
        'string "not a domain" is not a valid domain name: '
    )


def test_a_section_that_is_not_a_table(tmp_path):
    assert problems(tmp_path, 'web = "127.0.0.1:80"\n') == [
        'web: expected a table, got string "127.0.0.1:80"'
    ]


def test_accounts_must_be_an_array_of_tables(tmp_path):
    assert problems(tmp_path, '[accounts]\nname = "x"\n') == [
        "accounts: expected an array of tables ([[accounts]] sections), got a table"
    ]


# -- [database] -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///var/crm.db", "sqlite:///{dir}/var/crm.db"),
        ("sqlite:///../shared/crm.db?timeout=5", "sqlite:///{parent}/shared/crm.db?timeout=5"),
        ("sqlite:////srv/crm/crm.db", "sqlite:////srv/crm/crm.db"),
        ("sqlite:///:memory:", "sqlite:///:memory:"),
        ("postgresql://crm@db.example.com/crm", "postgresql+psycopg://crm@db.example.com/crm"),
        ("postgresql+psycopg://crm@db/crm", "postgresql+psycopg://crm@db/crm"),
    ],
)
def test_database_url(tmp_path, url, expected):
    config = load(tmp_path, f'[database]\nurl = "{url}"\n')
    assert config.database.url == expected.format(dir=tmp_path, parent=tmp_path.parent)


def test_database_url_must_be_sqlite_or_postgresql(tmp_path):
    assert problems(tmp_path, '[database]\nurl = "mysql://crm@db/crm"\n') == [
        'database.url: crmsync works with SQLite and PostgreSQL, not "mysql"'
    ]


def test_database_password_is_not_in_the_repr(tmp_path):
    config = load(tmp_path, '[database]\nurl = "postgresql://crm:hunter2@db/crm"\n')
    assert config.database.url == "postgresql+psycopg://crm:hunter2@db/crm"
    assert "hunter2" not in repr(config)


# -- [crm], [web], [sync] ---------------------------------------------------------------


def test_crm_lists_are_lower_cased(tmp_path):
    config = load(
        tmp_path,
        """
        [crm]
        internal_domains = ["Example.COM", "@example.de"]
        staff_addresses = ["Alice@Example.com"]
        free_mail_domains = ["Mail.Example-ISP.de"]
        not_free_mail_domains = ["facebook.com"]
        default_region = "at"
        log_internal_mail = true
        """,
    )
    assert config.crm == CrmConfig(
        internal_domains=("example.com", "example.de"),
        staff_addresses=("alice@example.com",),
        default_region="AT",
        log_internal_mail=True,
        free_mail_domains=("mail.example-isp.de",),
        not_free_mail_domains=("facebook.com",),
    )


def test_literal_secret_key_is_refused(tmp_path):
    assert problems(tmp_path, '[secrets]\nkey = "abc"\n') == [
        "secrets.key: the key is never written in the config file; set key_file to a file"
        " that holds it (crmsync init creates one) or key_env to an environment variable"
    ]


def test_web_listen(tmp_path):
    config = load(tmp_path, '[web]\nlisten = "[::1]:9000"\nbehind_proxy = true\n')
    assert (config.web.host, config.web.port, config.web.behind_proxy) == ("::1", 9000, True)


def test_secret_keys_from_the_environment_before_the_file(tmp_path, monkeypatch):
    config = load(tmp_path, '[secrets]\nkey_file = "keys/k"\nkey_env = "CRM_KEY"\n')
    monkeypatch.delenv("CRM_KEY", raising=False)
    with pytest.raises(ConfigError, match=r"keys/k does not exist and CRM_KEY is not set"):
        config.secrets.keys()
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "k").write_text("new-key\nold-key\n")
    assert config.secrets.keys() == ["new-key", "old-key"]
    monkeypatch.setenv("CRM_KEY", "env-key, older")
    assert config.secrets.keys() == ["env-key", "older"]


@pytest.mark.parametrize(
    ("written", "size"),
    [("1000", 1000), ('"512KB"', 512_000), ('"25MB"', 25_000_000), ('"1GiB"', 2**30)],
)
def test_batch_max_bytes(tmp_path, written, size):
    config = load(tmp_path, f"[sync]\nbatch_max_bytes = {written}\n")
    assert config.sync.batch_max_bytes == size


def test_sync_timeout_is_a_duration(tmp_path):
    assert load(tmp_path, '[sync]\ntimeout = "2m"\n').sync.timeout_seconds == 120


# -- [[accounts]] -----------------------------------------------------------------------


def test_imap_account_defaults(tmp_path):
    (account,) = load(tmp_path, IMAP).accounts
    assert (account.name, account.kind, account.host) == ("alice-mail", "imap", "mail.example.com")
    assert (account.port, account.security, account.tls_verify) == (993, "ssl", True)
    assert account.folders == ("INBOX", "\\Sent")
    assert (account.enabled, account.interval_seconds, account.owner) == (True, 300.0, None)
    assert account.password_env == "ALICE_MAIL_PASSWORD"


def test_starttls_defaults_to_port_143(tmp_path):
    (account,) = account_with(tmp_path, 'security = "starttls"').accounts
    assert account.port == 143


@pytest.mark.parametrize(
    ("interval", "seconds"), [("30s", 30), ("5m", 300), ("1h", 3600), ("1h30m", 5400)]
)
def test_interval(tmp_path, interval, seconds):
    (account,) = account_with(tmp_path, f'interval = "{interval}"').accounts
    assert account.interval_seconds == seconds


def test_interval_has_a_minimum(tmp_path):
    assert problems(tmp_path, IMAP + 'interval = "5s"') == [
        'accounts[0].interval: must be at least 10s, got "5s"'
    ]


def test_account_looked_up_by_name(tmp_path):
    config = load(tmp_path, IMAP)
    assert config.account("alice-mail").host == "mail.example.com"
    with pytest.raises(ConfigError, match='no account named "bob"; known: alice-mail'):
        config.account("bob")


def test_kind_is_required_and_checked(tmp_path):
    found = problems(
        tmp_path,
        """
        [[accounts]]
        name = "a"
        [[accounts]]
        name = "c"
        kind = "pop3"
        """,
    )
    kinds = '"imap", "ews", "graph", "caldav", "carddav" or "files"'
    assert found == [
        f"accounts[0].kind: required ({kinds})",
        f'accounts[1].kind: expected {kinds}, got string "pop3"',
    ]


def test_an_ews_account_needs_an_endpoint_and_mailboxes(tmp_path):
    found = problems(
        tmp_path,
        """
        [[accounts]]
        name = "exchange"
        kind = "ews"
        username = 'EXAMPLE\\svc-crm'
        password_env = "EWS_PASSWORD"
        url = "http://mail.example.com/EWS/Exchange.asmx"
        version = "2007"
        [[accounts]]
        name = "nowhere"
        kind = "ews"
        username = "svc"
        password_env = "EWS_PASSWORD"
        mailboxes = ["alice@example.com", "not an address"]
        """,
    )
    assert found == [
        'accounts[0].url: "http" sends the password unencrypted, so it is allowed only to this'
        " machine (localhost, 127.0.0.1, ::1), not mail.example.com; use https",
        "accounts[0]: list the staff mailboxes to read (mailboxes, or groups)",
        'accounts[0].version: expected "auto", "2013", "2016", "2019", "se" or a build such as'
        ' "15.1.2507", got string "2007"',
        'accounts[1].mailboxes[1]: string "not an address" is not a valid e-mail address:'
        " An email address must have an @-sign.",
        "accounts[1].url: required (the EWS endpoint, e.g."
        ' "https://mail.example.com/EWS/Exchange.asmx"), or set autodiscover = true',
    ]


def test_an_ews_account_with_its_defaults(tmp_path):
    config = load(
        tmp_path,
        """
        [[accounts]]
        name = "exchange"
        kind = "ews"
        url = "https://mail.example.com/EWS/Exchange.asmx"
        username = "svc-crm@example.com"
        password_env = "EWS_PASSWORD"
        groups = ["staff@example.com"]
        """,
    )
    [account] = config.accounts
    assert (account.auth, account.access, account.version) == ("ntlm", "impersonation", "auto")
    assert account.folders == ("Inbox", "Sent Items")
    assert (account.mailboxes, account.groups) == ((), ("staff@example.com",))
    assert (account.calendar, account.contacts, account.policy) == (True, True, "enrich")
    assert account.private_categories == ("Private", "Privat")
    assert account.tls_verify and account.ca_file is None


def test_account_names_are_unique_and_plain(tmp_path):
    text = IMAP + IMAP + IMAP.replace('"alice-mail"', '"alice mail"')
    assert problems(tmp_path, text) == [
        'accounts[1].name: "alice-mail" is already the name of accounts[0]',
        "accounts[2].name: string \"alice mail\" may hold only letters, digits, '.', '_' and '-'",
    ]


def test_key_of_another_kind_is_named(tmp_path):
    assert problems(tmp_path, IMAP + 'path = "mail"') == [
        'accounts[0].path: only for accounts of kind "files"; this one is "imap"'
    ]


def test_literal_password_is_refused(tmp_path):
    text = IMAP.replace('password_env = "ALICE_MAIL_PASSWORD"', 'password = "hunter2"')
    found = problems(tmp_path, text)
    assert found == [
        "accounts[0].password: a password is never written in the config file;"
        " set password_env to the name of an environment variable that holds it,"
        " or password_command to a command that prints it",
        "accounts[0]: no password source: set password_env or password_command",
    ]
    assert "hunter2" not in "\n".join(found)


def test_exactly_one_password_source(tmp_path):
    assert problems(tmp_path, IMAP + 'password_command = "pass show alice"') == [
        "accounts[0]: set only one of password_env and password_command"
    ]


def test_a_password_mistaken_for_a_variable_name_is_not_echoed(tmp_path):
    text = IMAP.replace('"ALICE_MAIL_PASSWORD"', '"hunter2!"')
    (problem,) = problems(tmp_path, text)
    assert problem.startswith("accounts[0].password_env: not an environment variable name")
    assert "hunter2" not in problem


def test_security_none_refused_for_a_remote_host(tmp_path):
    assert problems(tmp_path, IMAP + 'security = "none"') == [
        'accounts[0].security: "none" sends the password unencrypted, so it is allowed only'
        ' for a loopback host (localhost, 127.0.0.1, ::1), not "mail.example.com";'
        ' use "ssl" or "starttls"'
    ]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_security_none_accepted_on_loopback(tmp_path, host):
    text = IMAP.replace('"mail.example.com"', f'"{host}"') + 'security = "none"'
    (account,) = load(tmp_path, text).accounts
    assert (account.security, account.port) == ("none", 143)


def test_ca_file_resolved_against_config_dir_and_must_exist(tmp_path):
    assert problems(tmp_path, IMAP + 'ca_file = "certs/ca.pem"') == [
        f"accounts[0].ca_file: {tmp_path}/certs/ca.pem does not exist"
    ]
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    (account,) = account_with(tmp_path, 'ca_file = "certs/ca.pem"').accounts
    assert account.ca_file == tmp_path / "certs" / "ca.pem"


def test_files_account_path_resolved_against_config_dir(tmp_path):
    (tmp_path / "mail" / "cur").mkdir(parents=True)
    config_dir = tmp_path / "etc"
    config_dir.mkdir()
    config = load_config(
        write(config_dir, '[[accounts]]\nname = "m"\nkind = "files"\npath = "../mail"\n')
    )
    (account,) = config.accounts
    assert (account.path, account.format) == (tmp_path / "mail", "auto")


def test_files_account_path_must_exist(tmp_path):
    text = '[[accounts]]\nname = "m"\nkind = "files"\npath = "mail"\nformat = "mbx"\n'
    assert problems(tmp_path, text) == [
        'accounts[0].format: expected one of "auto", "maildir", "mbox", "mboxes", "ics",'
        ' "vcf", "vdir", got string "mbx"',
        f"accounts[0].path: {tmp_path}/mail does not exist",
    ]


def test_files_account_needs_a_path(tmp_path):
    assert problems(tmp_path, '[[accounts]]\nname = "m"\nkind = "files"\n') == [
        "accounts[0].path: required"
    ]


# -- passwords, fetched when used -------------------------------------------------------


def test_password_from_environment(tmp_path, monkeypatch):
    (account,) = load(tmp_path, IMAP).accounts
    monkeypatch.setenv("ALICE_MAIL_PASSWORD", "s3cret")
    assert account.password() == "s3cret"


@pytest.mark.parametrize("value", [None, ""])
def test_password_environment_unset_or_empty(tmp_path, monkeypatch, value):
    (account,) = load(tmp_path, IMAP).accounts
    if value is None:
        monkeypatch.delenv("ALICE_MAIL_PASSWORD", raising=False)
    else:
        monkeypatch.setenv("ALICE_MAIL_PASSWORD", value)
    with pytest.raises(ConfigError) as caught:
        account.password()
    assert str(caught.value) == (
        'account "alice-mail": the environment variable ALICE_MAIL_PASSWORD is not set or empty'
    )


def password_command(tmp_path: Path, script: str) -> str:
    """An account whose password_command runs ``script`` with this Python."""
    command = f"password_command = [{str(sys.executable)!r}, '-c', {script!r}]"
    text = IMAP.replace('password_env = "ALICE_MAIL_PASSWORD"', command)
    (account,) = load(tmp_path, text).accounts
    return account.password()


def test_password_from_command_first_line_stripped(tmp_path):
    assert password_command(tmp_path, "print('  s3cret  '); print('second line')") == "s3cret"


def test_password_command_as_a_string_is_split(tmp_path):
    text = IMAP.replace(
        'password_env = "ALICE_MAIL_PASSWORD"', "password_command = \"printf 's3cret\\n'\""
    )
    (account,) = load(tmp_path, text).accounts
    assert account.password_command == ("printf", "s3cret\n")
    assert account.password() == "s3cret"


def test_password_command_failure_names_command_and_status_not_output(tmp_path):
    script = "import sys; print('s3cret'); print('s3cret-err', file=sys.stderr); sys.exit(3)"
    with pytest.raises(ConfigError) as caught:
        password_command(tmp_path, script)
    message = str(caught.value)
    assert (
        message == f'account "alice-mail": password_command "{sys.executable}" exited with status 3'
    )
    assert "s3cret" not in message


def test_password_command_not_found(tmp_path):
    text = IMAP.replace(
        'password_env = "ALICE_MAIL_PASSWORD"', 'password_command = ["no-such-command-xyz", "a"]'
    )
    (account,) = load(tmp_path, text).accounts
    with pytest.raises(ConfigError, match='"no-such-command-xyz": command not found'):
        account.password()


def test_password_command_printing_nothing(tmp_path):
    with pytest.raises(ConfigError, match="printed nothing on its first line"):
        password_command(tmp_path, "print()")


def test_repr_holds_no_secret(tmp_path):
    text = IMAP.replace(
        'password_env = "ALICE_MAIL_PASSWORD"', 'password_command = ["echo", "hunter2"]'
    )
    assert "hunter2" not in repr(load(tmp_path, text))


# -- the example file -------------------------------------------------------------------


def test_example_loads_cleanly(tmp_path, monkeypatch):
    shutil.copy(EXAMPLE, tmp_path / "config.toml")
    (tmp_path / "sync" / "sample" / "mail").mkdir(parents=True)
    monkeypatch.setenv("ALICE_MAIL_PASSWORD", "s3cret")
    config = load_config(tmp_path / "config.toml")
    names = [account.name for account in config.accounts]
    assert names == ["alice-mail", "sample-mail", "alice-calendar", "alice-contacts", "exchange"]
    assert config.account("alice-mail").password() == "s3cret"
    calendar = config.account("alice-calendar")
    assert calendar.url == "https://cloud.example.com/remote.php/dav/"
    assert calendar.folders == () and calendar.past == calendar.future == 365 * 86400
    contacts = config.account("alice-contacts")
    assert (contacts.kind, contacts.folders, contacts.policy) == ("carddav", (), "enrich")
    assert config.account("sample-mail").path == tmp_path / "sync" / "sample" / "mail"
    exchange = config.account("exchange")
    assert (exchange.kind, exchange.username) == ("ews", "EXAMPLE\\svc-crmsync")
    assert exchange.mailboxes == ("alice@example.com", "bob@example.com")


def test_caldav_accounts_are_checked(tmp_path):
    found = problems(
        tmp_path,
        """
        [[accounts]]
        name = "a"
        kind = "caldav"
        url = "http://cloud.example.com/dav/"
        username = "alice"
        [[accounts]]
        name = "b"
        kind = "caldav"
        url = "ftp://x"
        username = "alice"
        password_env = "X"
        host = "mail.example.com"
        """,
    )
    assert found == [
        'accounts[0].url: "http" sends the password unencrypted, so it is allowed only to this'
        " machine (localhost, 127.0.0.1, ::1), not cloud.example.com; use https",
        "accounts[0]: no password source: set password_env or password_command",
        'accounts[1].host: only for accounts of kind "imap"; this one is "caldav"',
        'accounts[1].url: expected an https:// address, got string "ftp://x"',
    ]


def test_example_in_the_repository_loads(monkeypatch):
    if not (ROOT / "sync" / "sample" / "mail").is_dir():
        pytest.skip("sync/sample/mail is not there yet")
    monkeypatch.setenv("ALICE_MAIL_PASSWORD", "s3cret")
    assert load_config(EXAMPLE).account("sample-mail").path == ROOT / "sync" / "sample" / "mail"


def test_example_documents_every_key():
    text = EXAMPLE.read_text(encoding="utf-8")
    written = set(re.findall(r"^#?\s*([a-z_]+)\s*(?:=|\s{2,})", text, re.MULTILINE))
    schemas = [DATABASE, CRM, ARCHIVE, WEB, SYNC, ACCOUNT, *KINDS.values()]
    keys = {key for schema in schemas for key in schema} | {"kind"}
    assert keys - written == set()


CARDDAV = """
[[accounts]]
name = "alice-contacts"
kind = "carddav"
url = "https://dav.example.com/"
username = "alice"
password_env = "ALICE_PW"
"""


def test_carddav_account_books_and_policy(tmp_path):
    account = load(tmp_path, CARDDAV + 'books = ["Contacts"]\npolicy = "import"\n').accounts[0]
    assert (account.kind, account.folders, account.policy) == ("carddav", ("Contacts",), "import")
    assert load(tmp_path, CARDDAV).accounts[0].policy == "enrich"
    found = problems(tmp_path, CARDDAV + 'policy = "merge"\ncalendars = ["Work"]\n')
    assert any(p.startswith("accounts[0].policy: expected one of") for p in found), found
    assert any("calendars" in p and 'only for accounts of kind "caldav"' in p for p in found)


# -- since and idle (issue 9, big mailboxes) --------------------------------------------


def test_since_is_a_day_as_toml_date_or_string(tmp_path):
    import datetime as dt

    assert account_with(tmp_path, "since = 2024-01-01").accounts[0].since == dt.date(2024, 1, 1)
    assert account_with(tmp_path, 'since = "2024-01-01"').accounts[0].since == dt.date(2024, 1, 1)
    assert load(tmp_path, IMAP).accounts[0].since is None


@pytest.mark.parametrize("value", ['"2024/01/01"', '"01.01.2024"', '"2024-13-01"', "2024", "true"])
def test_a_bad_since_names_the_key_and_the_form(tmp_path, value):
    [problem] = problems(tmp_path, IMAP + f"since = {value}\n")
    assert problem.startswith('accounts[0].since: expected a date "YYYY-MM-DD"'), problem


def test_since_only_where_mail_is_pulled(tmp_path):
    caldav = (
        '[[accounts]]\nname = "cal"\nkind = "caldav"\nurl = "https://dav.example.com/"\n'
        'username = "a"\npassword_env = "PW"\nsince = "2024-01-01"\n'
    )
    assert problems(tmp_path, caldav) == [
        'accounts[0].since: only for mail accounts of kind "imap", "ews", "graph" or "files";'
        ' this one is "caldav"'
    ]
    (tmp_path / "cards").mkdir()
    files = '[[accounts]]\nname = "f"\nkind = "files"\npath = "cards"\nformat = "vcf"\n'
    assert problems(tmp_path, files + 'since = "2024-01-01"\n') == [
        'accounts[0].since: only for mail (format "maildir", "mbox" or "mboxes"), not format "vcf"'
    ]


def test_idle_is_for_imap_accounts(tmp_path):
    assert load(tmp_path, IMAP).accounts[0].idle is False
    assert account_with(tmp_path, "idle = true").accounts[0].idle is True
    [problem] = problems(tmp_path, IMAP + 'idle = "yes"\n')
    assert problem == 'accounts[0].idle: expected true or false, got string "yes"'
    (tmp_path / "mail").mkdir()
    files = '[[accounts]]\nname = "f"\nkind = "files"\npath = "mail"\nidle = true\n'
    assert problems(tmp_path, files) == [
        'accounts[0].idle: only for accounts of kind "imap"; this one is "files"'
    ]
