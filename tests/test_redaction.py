"""Secrets never reach a log line, traceback included (R14)."""

from __future__ import annotations

import io
import logging

from bot.platform.redaction import MASK, redact_logs

TOKEN = "5123456789:AAHsecretHalfOfTheTokenForTests000"


def test_r14_token_and_its_secret_half_are_masked_in_messages_and_tracebacks() -> None:
    """R14: a URL with the token in a message, an argument or a traceback comes out masked."""
    stream = io.StringIO()
    logger = logging.getLogger("tests.redaction")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger.addHandler(handler)
    try:
        redact_logs(TOKEN, "webhook-secret-value", logger=logger)
        logger.warning("GET https://api.telegram.org/bot%s/sendMessage failed", TOKEN)
        logger.warning("half only: %s", TOKEN.split(":")[1])
        try:
            raise RuntimeError(f"Connection timeout to host http://x/bot{TOKEN}/getMe")
        except RuntimeError:
            logger.exception("wrapped")
        logger.info("header was webhook-secret-value")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert TOKEN not in text and TOKEN.split(":")[1] not in text
    assert "webhook-secret-value" not in text
    assert text.count(MASK) >= 4 and "RuntimeError" in text and "Traceback" in text


def test_r14_redacting_twice_keeps_both_secrets() -> None:
    """R14: installing the filter again adds secrets instead of forgetting the first ones."""
    stream = io.StringIO()
    logger = logging.getLogger("tests.redaction.twice")
    logger.propagate = False
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    try:
        redact_logs("first-secret-1234", logger=logger)
        redact_logs("second-secret-5678", logger=logger)
        logger.warning("first-secret-1234 and second-secret-5678")
    finally:
        logger.removeHandler(handler)
    assert stream.getvalue().strip() == f"{MASK} and {MASK}"
