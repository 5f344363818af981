"""Running the real clients: config files for vdirsyncer and khard, and a runner that
fails with the whole story (command, exit status, stdout, stderr)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

import vobject

VENV_BIN = Path(sys.executable).parent
TIMEOUT = 120


def tool(name: str) -> str:
    """The console script ``name`` installed beside this interpreter."""
    path = VENV_BIN / name
    assert path.exists(), f"{name} is not installed in {VENV_BIN} (pip install -e '.[test]')"
    return str(path)


def client_env(home: Path) -> dict[str, str]:
    """The environment for a client: no HTTP proxy between it and loopback (aiohttp and
    niquests honour *_proxy variables), its own config and data directories, UTF-8."""
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    home.mkdir(parents=True, exist_ok=True)
    env.update(
        {
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "LC_ALL": "C.UTF-8",
            "LANG": "C.UTF-8",
            "PYTHONIOENCODING": "utf-8",
        }
    )
    return env


def run(
    args: Sequence[str],
    env: dict[str, str],
    *,
    stdin: str = "",
    expect_ok: bool = True,
    timeout: float = TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """Run a client; with ``expect_ok`` an AssertionError that shows everything it said
    when it fails (or the opposite when ``expect_ok`` is False)."""
    try:
        result = subprocess.run(
            list(args),
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(
            f"{' '.join(args)} did not finish within {timeout} s\n"
            f"--- stdout ---\n{_text(exc.stdout)}\n--- stderr ---\n{_text(exc.stderr)}"
        ) from None
    if (result.returncode == 0) != expect_ok:
        raise AssertionError(describe(result, "failed" if expect_ok else "succeeded unexpectedly"))
    return result


def describe(result: subprocess.CompletedProcess[str], what: str = "") -> str:
    return (
        f"{' '.join(map(str, result.args))} {what} (exit status {result.returncode})\n"
        f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
    )


def _text(value: str | bytes | None) -> str:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return value or ""


# -- vdirsyncer -----------------------------------------------------------------------


def vdirsyncer_config(
    root: Path, url: str, username: str, password: str, *, local: Path | None = None
) -> Path:
    """A vdirsyncer config that syncs every address book found at ``url`` (discovered,
    ``collections = ["from a"]``) into ``local`` (default ``root/contacts``), one .vcf
    file a card. Values are written as TOML-compatible JSON strings."""
    local = local or root / "contacts"
    config = root / "vdirsyncer.conf"
    config.write_text(
        textwrap.dedent(
            f"""\
            [general]
            status_path = {_q(root / "vdirsyncer-status")}

            [pair crm]
            a = "crm_remote"
            b = "crm_local"
            collections = ["from a"]

            [storage crm_remote]
            type = "carddav"
            url = {_q(url)}
            username = {_q(username)}
            password = {_q(password)}

            [storage crm_local]
            type = "filesystem"
            path = {_q(local)}
            fileext = ".vcf"
            """
        ),
        encoding="utf-8",
    )
    return config


def _q(value: object) -> str:
    text = str(value)
    assert '"' not in text and "\\" not in text, text
    return f'"{text}"'


def vdirsyncer(config: Path, env: dict[str, str], *args: str) -> str:
    """``vdirsyncer -c CONFIG ARGS`` (prompts answered "y"); its stdout and stderr."""
    result = run([tool("vdirsyncer"), "-c", str(config), *args], env, stdin="y\n" * 10)
    return result.stdout + result.stderr


# -- khard ----------------------------------------------------------------------------


def khard_config(root: Path, addressbook: Path) -> Path:
    config = root / "khard.conf"
    config.write_text(
        textwrap.dedent(
            f"""\
            [addressbooks]
            [[crm]]
            path = {addressbook}

            [general]
            default_action = list
            editor = /bin/true
            merge_editor = /bin/true

            [contact table]
            display = formatted_name
            show_uids = yes

            [vcard]
            skip_unparsable = no
            """
        ),
        encoding="utf-8",
    )
    return config


def khard(config: Path, env: dict[str, str], *args: str) -> str:
    return run([tool("khard"), "-c", str(config), *args], env).stdout


# -- cards ----------------------------------------------------------------------------


def parse_card(text: str) -> vobject.base.Component:
    card = vobject.readOne(text)
    assert card.name == "VCARD", text
    return card


def values(card: vobject.base.Component, name: str) -> list[str]:
    """The values of every ``name`` line of a parsed card (``email``, ``tel``, ...)."""
    return [line.value for line in card.contents.get(name, [])]
