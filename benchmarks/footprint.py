"""Footprint: resident memory with a loaded database, start-up time, and a big broadcast's enqueue.

References in the same run: a bare python-telegram-bot echo bot (memory, start-up) against the
same emulator, and a plain SQLAlchemy Core insert of the same number of outbox rows.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import func, insert, select

from app.build import build_context
from benchmarks.common import TOKEN, emit, fresh_database, running_emulator
from bot.platform.config import Policy, Settings
from bot.platform.outbox import BULK
from bot.warnings import early_warning
from emulator.core import Emulator
from emulator.server import EmulatorServer
from emulator.testing import TelegramWorld, UserHandle
from storage.db import Database
from storage.models import Incident, OutboxMessage, User, UserRole
from tests.harness import BOT_USERNAME
from tests.proc import BotProcess
from tests.records_seed import bulk_incidents

USERS = 10_000
INCIDENTS = 10_000
RECIPIENTS = 100_000
# The reporter bulk-seeded incidents name (tests/records_seed.py).
REPORTER_ID = 1
GOALS = {"rss_mb": 150.0, "startup_seconds": 2.0, "enqueue_seconds": 5.0}
POLICY = "scheduler_tick_seconds = 1\n"


def _memory(pid: int) -> dict[str, float]:
    """Resident memory now and at its peak, in MB, from /proc."""
    figures: dict[str, float] = {}
    with open(f"/proc/{pid}/status", encoding="utf-8") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                figures[key] = round(int(value.split()[0]) / 1024, 1)
    return {"rss_mb": figures["VmRSS"], "peak_rss_mb": figures["VmHWM"]}


async def _seed_users(
    database_url: str, count: int, *, first_id: int, role: str, now: datetime
) -> None:
    """Active users with one role, in a few statements."""
    db = Database(database_url)
    try:
        for start in range(0, count, 20_000):
            ids = range(first_id + start, first_id + min(start + 20_000, count))
            async with db.transaction() as session:
                await session.execute(
                    insert(User),
                    [
                        {
                            "id": i,
                            "name": f"Person {i}",
                            "language": "zh_CN" if i % 2 else "en",
                            "status": "active",
                            "created_at": now,
                            "approved_at": now,
                        }
                        for i in ids
                    ],
                )
                await session.execute(insert(UserRole), [{"user_id": i, "role": role} for i in ids])
    finally:
        await db.dispose()


async def _add_admin(database_url: str, admin: UserHandle, now: datetime) -> None:
    from storage import access as access_q

    db = Database(database_url)
    try:
        async with db.transaction() as session:
            user = await access_q.add_user(
                session=session,
                user_id=admin.id,
                name=admin.name,
                username=None,
                language="en",
                status="active",
                now=now,
            )
            await access_q.set_roles(session=session, user=user, roles=["admin", "leader"])
    finally:
        await db.dispose()


async def _seed_records(database_url: str) -> None:
    """Ten thousand users and ten thousand incidents."""
    now = datetime.now(UTC)
    await _seed_users(database_url, 1, first_id=REPORTER_ID, role="staff", now=now)
    await _seed_users(database_url, USERS - 1, first_id=1_000_000, role="staff", now=now)
    db = Database(database_url)
    try:
        async with db.transaction() as session:
            await bulk_incidents(session, count=INCIDENTS, year=now.year)
        async with db.transaction() as session:
            counts = (
                await session.scalar(select(func.count()).select_from(User)),
                await session.scalar(select(func.count()).select_from(Incident)),
            )
        assert counts == (USERS, INCIDENTS), counts
    finally:
        await db.dispose()


def _first_poll(emulator: Emulator, mark: int) -> float | None:
    """When the first getUpdates after `mark` reached the emulator."""
    for record in emulator.log.since(mark):
        if record.method.lower() == "getupdates":
            return record.received_monotonic
    return None


async def _until_polling(
    emulator: Emulator, mark: int, process: asyncio.subprocess.Process | subprocess.Popen[bytes]
) -> float:
    while True:
        moment = _first_poll(emulator, mark)
        if moment is not None:
            return moment
        if process.returncode is not None:
            raise RuntimeError("the process ended before polling")
        # Another process is coming up: nothing here to wait on but time.
        await asyncio.sleep(0.01)


async def bot_footprint() -> dict[str, Any]:
    """The real bot on a database of 10,000 users and 10,000 incidents."""
    async with fresh_database("footprint") as url, running_emulator() as (emulator, server):
        tg = TelegramWorld(emulator, TOKEN, bot_username=BOT_USERNAME)
        admin = tg.user("Admin Wang", lang="en")
        await _seed_records(url)
        await _add_admin(url, admin, datetime.now(UTC))
        with tempfile.TemporaryDirectory(prefix="bench-footprint-") as folder:
            process = BotProcess(
                emulator=emulator,
                server=server,
                database_url=url,
                workdir=Path(folder),
                admin_ids=[admin.id],
                policy_toml=POLICY,
            )
            mark = emulator.log.records[-1].seq if emulator.log.records else 0
            spawned = time.monotonic()
            await process.start()
            assert process.process is not None
            polled = _first_poll(emulator, mark)
            assert polled is not None
            startup = polled - spawned
            started_memory = _memory(process.process.pid)
            try:
                await admin.send("/incidents")
                await admin.wait_for("Open incidents", timeout=60)
                listed = _memory(process.process.pid)
                await admin.send("/stats")
                await admin.wait_for("Incidents", timeout=60)
                await admin.wait_for(lambda m: m.photo is not None, timeout=60)
                memory = _memory(process.process.pid)
            finally:
                await process.stop()
            errors = process.logged_errors()
    return {
        "users": USERS,
        "incidents": INCIDENTS,
        "startup_to_first_getupdates_seconds": round(startup, 3),
        "after": "an admin's /incidents, then /stats with its chart",
        **memory,
        "rss_mb_after_start": started_memory["rss_mb"],
        "rss_mb_after_incidents": listed["rss_mb"],
        "bot_logged_errors": len(errors),
    }


# Run with `python -c`, so that the reference imports nothing of this project.
ECHO_BOT = """
import os
from telegram.ext import Application, MessageHandler, filters

async def echo(update, context):
    await update.effective_message.reply_text(update.effective_message.text)

app = (
    Application.builder()
    .token(os.environ["TELEGRAM_BOT_TOKEN"])
    .base_url(os.environ["TELEGRAM_API_BASE_URL"])
    .build()
)
app.add_handler(MessageHandler(filters.TEXT, echo))
app.run_polling(poll_interval=0, timeout=5)
"""


async def echo_footprint(emulator: Emulator, server: EmulatorServer) -> dict[str, Any]:
    """Start-up time and memory of the bare echo bot against the same emulator."""
    tg = TelegramWorld(emulator, TOKEN, bot_username=BOT_USERNAME)
    user = tg.user("Echo Li", lang="en")
    env = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": server.base_url,
        "PYTHONUNBUFFERED": "1",
    }
    mark = emulator.log.records[-1].seq if emulator.log.records else 0
    spawned = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        ECHO_BOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        polled = await asyncio.wait_for(_until_polling(emulator, mark, process), 60)
        await user.send("echo me")
        await user.wait_for("echo me", timeout=30)
        memory = _memory(process.pid)
    finally:
        process.terminate()
        await process.wait()
    return {
        "what": "a bare python-telegram-bot Application echoing text, polling the same emulator",
        "startup_to_first_getupdates_seconds": round(polled - spawned, 3),
        **memory,
    }


async def enqueue_figures() -> dict[str, Any]:
    """The warnings service queuing a broadcast to 100,000 people, and a plain bulk insert."""
    async with fresh_database("enqueue") as url:
        now = datetime.now(UTC)
        await _seed_users(url, RECIPIENTS, first_id=1_000_000, role="staff", now=now)
        sender_id = 10
        await _seed_users(url, 1, first_id=sender_id, role="tech_center", now=now)
        with tempfile.TemporaryDirectory(prefix="bench-enqueue-") as folder:
            settings = Settings(
                telegram_bot_token=SecretStr(TOKEN),
                telegram_api_base_url="http://127.0.0.1:9/bot",
                database_url=url,
                admin_ids=[],
                incident_bot_config=Path(folder) / "absent.toml",
            )
            ctx = build_context(settings, Policy(), db=Database(url))
            draft = early_warning.WarningDraft(
                level="yellow",
                title="Ransomware in e-mail attachments",
                what="Attachments named invoice.zip carry ransomware.",
                defence="Do not open them; report to the tech center.",
                everyone=True,
            )
            try:
                started = time.perf_counter()
                async with ctx.db.transaction() as session:
                    await early_warning.submit(
                        session=session, ctx=ctx, sender_id=sender_id, draft=draft
                    )
                service = time.perf_counter() - started
                async with ctx.db.transaction() as session:
                    queued = await session.scalar(select(func.count()).select_from(OutboxMessage))
                    sample = await session.scalar(
                        select(OutboxMessage).where(OutboxMessage.chat_id == 1_000_000)
                    )
                    assert sample is not None
                    payload = dict(sample.payload)
                rows = [
                    {
                        "created_at": now,
                        "not_before": now,
                        "chat_id": 1_000_000 + i,
                        "method": sample.method,
                        "payload": payload,
                        "priority": BULK,
                        "batch_id": 2,
                        "status": "pending",
                        "attempts": 0,
                        "possible_duplicate": False,
                    }
                    for i in range(RECIPIENTS)
                ]
            finally:
                await ctx.db.dispose()
    # The reference writes into an empty outbox too, as the service did.
    async with fresh_database("enqueue_reference") as url:
        db = Database(url)
        try:
            started = time.perf_counter()
            async with db.transaction() as session:
                await session.execute(insert(OutboxMessage), rows)
            plain = time.perf_counter() - started
        finally:
            await db.dispose()
    return {
        "recipients": RECIPIENTS,
        "outbox_rows_written": queued,
        "service_seconds": round(service, 3),
        "reference": {
            "what": "SQLAlchemy Core insert of 100,000 equivalent outbox rows, in one transaction",
            "seconds": round(plain, 3),
        },
        "service_over_reference": round(service / plain, 2),
    }


async def main() -> None:
    """Every figure, each beside its goal and its reference."""
    bot = await bot_footprint()
    async with running_emulator() as (emulator, server):
        echo = await echo_footprint(emulator, server)
    enqueue = await enqueue_figures()
    emit(
        "footprint",
        {
            "goals": {
                "rss_mb": f"<= {GOALS['rss_mb']:.0f}",
                "startup_seconds": f"<= {GOALS['startup_seconds']:.0f}",
                "enqueue_seconds": f"<= {GOALS['enqueue_seconds']:.0f}",
            },
            "memory_and_startup": bot,
            "reference_echo_bot": echo,
            "bot_over_echo_bot": {
                "rss": round(bot["rss_mb"] / echo["rss_mb"], 2),
                "startup": round(
                    bot["startup_to_first_getupdates_seconds"]
                    / echo["startup_to_first_getupdates_seconds"],
                    2,
                ),
            },
            "enqueue_100000": enqueue,
            "meets_goal": {
                "rss": bot["rss_mb"] <= GOALS["rss_mb"],
                "startup": bot["startup_to_first_getupdates_seconds"] <= GOALS["startup_seconds"],
                "enqueue": enqueue["service_seconds"] <= GOALS["enqueue_seconds"],
            },
        },
    )


if __name__ == "__main__":
    asyncio.run(main())
