"""The bot token never leaves: not in the log, the database, or a message (R14).

The real bot process is pointed at a server that takes connections and never answers, and at
a closed port. It fails to reach Telegram and says so in its log; the token is nowhere in
that log (tracebacks included), nor in the audit table or the outbox.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from storage.db import Database
from storage.models import AuditEntry, OutboxMessage
from tests.harness import TOKEN
from tests.proc import FAST_POLICY
from tests.support.network import BlackHole, closed_port

pytestmark = [pytest.mark.reliability, pytest.mark.subprocess]
SECRET_HALF = TOKEN.split(":", 1)[1]


def _prepare(workdir: Path) -> Path:
    """A working folder with a policy whose requests time out after a second."""
    workdir.mkdir()
    config = workdir / "config.toml"
    config.write_text(
        FAST_POLICY.replace("request_timeout_seconds = 3", "request_timeout_seconds = 1"),
        encoding="utf-8",
    )
    return config


async def _run_against(base_url: str, database_url: str, workdir: Path) -> str:
    """Run `incident-bot run` until it gives up on Telegram (or 40 s); its whole log."""
    config = _prepare(workdir)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "ADMIN_"))},
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": base_url,
        "DATABASE_URL": database_url,
        "INCIDENT_BOT_CONFIG": str(config),
        "PYTHONUNBUFFERED": "1",
    }
    log_path = workdir / "bot.log"
    with open(log_path, "wb") as log:  # noqa: ASYNC230 (a file for the child to write)
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "app.cli", "run", "--verbose",
            cwd=str(workdir), env=env, stdout=log, stderr=log,
        )  # fmt: skip
        try:
            await asyncio.wait_for(process.wait(), 40)
        except TimeoutError:
            process.kill()
            await process.wait()
    return _read(log_path)


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


async def _nothing_in_the_database(database_url: str) -> None:
    db = Database(database_url)
    try:
        async with db.transaction() as session:
            audit = [
                f"{e.action} {e.target} {e.details}"
                for e in (await session.execute(select(AuditEntry))).scalars()
            ]
            outbox = [
                f"{r.payload} {r.last_error}"
                for r in (await session.execute(select(OutboxMessage))).scalars()
            ]
    finally:
        await db.dispose()
    for text in (*audit, *outbox):
        assert SECRET_HALF not in text


@pytest.mark.parametrize("trouble", ["no answer", "closed port"])
async def test_r14_the_token_is_in_no_log_line_when_telegram_cannot_be_reached(
    trouble: str, database_url: str, tmp_path: Path
) -> None:
    """R14: timeouts and refused connections are logged, with no token (nor half of one)."""
    if trouble == "no answer":
        async with BlackHole() as hole:
            log = await _run_against(f"{hole.url}/bot", database_url, tmp_path / "hole")
            assert hole.connections >= 1
    else:
        port = closed_port()
        log = await _run_against(f"http://127.0.0.1:{port}/bot", database_url, tmp_path / "closed")
    assert "Bot API server" in log, log[-2000:]
    assert TOKEN not in log and SECRET_HALF not in log, log[-2000:]
    await _nothing_in_the_database(database_url)
