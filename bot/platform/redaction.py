"""Secrets never reach a log: every formatted log line has the bot's token and secrets cut out.

The token is part of every Bot API URL (`…/bot<TOKEN>/sendMessage`), and a library's error
text or a traceback can carry such a URL. The transport raises errors without URLs; this is
the net under it: a formatter wrapper on every handler of the root logger, so a record is
cleaned after it is formatted, traceback included, whichever library logged it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

MASK = "<redacted>"


class Redacting(logging.Formatter):
    """Formats with the wrapped formatter, then replaces every secret with a mask."""

    def __init__(self, inner: logging.Formatter, secrets: Iterable[str]) -> None:
        super().__init__()
        self.inner = inner
        self.secrets = sorted({s for s in secrets if s and len(s) >= 8}, key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        """The line as the wrapped formatter writes it, with no secret in it."""
        return redact(self.inner.format(record), self.secrets)


def redact(text: str, secrets: Iterable[str]) -> str:
    """The text with every secret (and a bot token's secret half) masked."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
        # A token is "<bot id>:<secret>"; the secret half alone is a secret too.
        _, colon, half = secret.partition(":")
        if colon and len(half) >= 8 and half in text:
            text = text.replace(half, MASK)
    return text


def redact_logs(*secrets: str, logger: logging.Logger | None = None) -> None:
    """Clean every line the logger's handlers write (the root logger's by default)."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        current = handler.formatter or logging.Formatter()
        hidden = secrets
        if isinstance(current, Redacting):
            hidden = (*current.secrets, *secrets)
            current = current.inner
        handler.setFormatter(Redacting(current, hidden))
