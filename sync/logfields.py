"""Log lines a machine can read: ``key=value`` pairs (logfmt) after a word saying what
happened, e.g. ``run account=alice status=ok new=3 duration_ms=412``.

With ``--log-format json`` (or ``CRMSYNC_LOG_FORMAT=json``) every line is one JSON
object instead, the pairs as its keys. Values are what the code passes: counts,
names, durations, messages; never a password, a token or a mail's content.
"""

from __future__ import annotations

import json
import logging
from typing import Any

_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:/@+")


class Fields:
    """Pairs for a log message: printed as logfmt, kept as a dict for the JSON format."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    def __str__(self) -> str:
        return " ".join(f"{key}={_value(value)}" for key, value in self.values.items())


def fields(**values: Any) -> Fields:
    """``log.info("run %s", fields(account=name, new=3))``."""
    return Fields(values)


def _value(value: Any) -> str:
    text = "" if value is None else str(value)
    if text and set(text) <= _PLAIN:
        return text
    return json.dumps(text, ensure_ascii=False)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, the message's first word as
    ``event`` and the :class:`Fields` among its arguments as keys."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        args = record.args if isinstance(record.args, tuple) else ()
        found = [a for a in args if isinstance(a, Fields)]
        if found:
            out["event"] = str(record.msg).split(" ", 1)[0]
            for item in found:
                out.update({k: v for k, v in item.values.items() if k not in out})
        else:
            out["message"] = record.getMessage()
        if record.exc_info:
            out["error"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)
