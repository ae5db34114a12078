"""A patrol round that falls due while the bot is dead is sent at start-up, marked late (R11)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from storage.db import Database
from storage.models import PatrolRound
from tests.harness import Stage
from tests.journeys.cast import open_office
from tests.proc import FAST_POLICY, BotProcess

pytestmark = [pytest.mark.reliability, pytest.mark.subprocess]
TZ = ZoneInfo("Asia/Shanghai")


def _policy(people: dict[str, Any], due: str) -> str:
    return FAST_POLICY + (
        '[[contacts]]\nposition = "tech_lead"\nname = "Lead Zhou"\n'
        f"telegram_id = {people['tech_lead'].id}\n"
        f'[duty]\nofficers = [{people["duty"].id}]\nshift = "week"\n'
        "[patrols]\ngrace_minutes = 30\n"
        '[[patrols.kinds]]\nkey = "daily"\nname = "Daily check"\n'
        f'checklist = ["Firewall and IDS alerts"]\ntimes = ["{due}"]\ndays = "all"\n'
    )


async def _eventually(check: Callable[[], Any], within: float = 10.0) -> None:
    """Wait for another process to reach a state (it has no event to wait on from here)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"{check.__name__} did not become true within {within}s")
        await asyncio.sleep(0.05)


async def test_round_due_while_the_bot_was_killed_is_sent_late_after_restart(
    stage: Stage, processes: Callable[..., BotProcess], database_url: str
) -> None:
    """R11: kill -9 before a round is due, restart after: the round still comes, marked LATE."""
    due = (datetime.now(TZ) + timedelta(minutes=10)).replace(second=0, microsecond=0)
    holder: dict[str, BotProcess] = {}

    async def starter(admins: list[Any], people: dict[str, Any]) -> BotProcess:
        process = processes(
            stage,
            admin_ids=[a.id for a in admins],
            policy_toml=_policy(people, due.strftime("%H:%M")),
        )
        await process.start()
        holder["p"] = process
        return process

    office = await open_office(stage, starter=starter)
    process = holder["p"]
    db = Database(database_url)
    try:

        async def planned() -> bool:
            async with db.transaction() as session:
                found = await session.scalar(
                    select(PatrolRound).where(PatrolRound.due_at == due.astimezone(UTC))
                )
            return found is not None and found.sent_at is None

        await _eventually(planned)
        process.kill9()
        await process.wait_dead()
        await process.advance(minutes=15)
        await process.start()

        reminder = await office.duty.wait_for("Patrol: Daily check", timeout=15)
        assert "LATE" in reminder.text
        assert due.strftime("%Y-%m-%d %H:%M") in reminder.text
        async with db.transaction() as session:
            row = await session.scalar(
                select(PatrolRound).where(PatrolRound.due_at == due.astimezone(UTC))
            )
        assert row is not None and row.late and row.sent_at is not None
        assert row.sent_at - row.due_at >= timedelta(minutes=4)
        await reminder.press("✅ All normal")
        await reminder.wait_until("Answered “all normal” by Duty Wu")
    finally:
        await db.dispose()
