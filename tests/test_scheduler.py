"""Deadlines cannot silently die: a failing timer is tried again, and someone is told (R5)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.platform import scheduler
from bot.platform.clock import ManualClock
from bot.platform.scheduler import FAILURES_BEFORE_TELLING, Scheduler
from storage import platform as q
from storage.db import Database
from storage.models import Timer

START = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)


async def test_r5_a_failing_timer_is_retried_with_backoff_until_it_fires(db: Database) -> None:
    """R5: a handler that fails twice is put back each time, due later, then fires once."""
    clock = ManualClock(START)
    fired: list[int] = []
    attempts = 0

    async def flaky(session: AsyncSession, timer: Timer) -> None:
        nonlocal attempts
        attempts += 1
        if attempts <= 2:
            raise RuntimeError("database is locked")
        fired.append(timer.ref_id)

    clock_scheduler = Scheduler(db=db, clock=clock)
    clock_scheduler.register("probe", flaky)
    async with db.transaction() as session:
        await scheduler.schedule(session=session, kind="probe", ref_id=7, due_at=START, now=START)
    assert await clock_scheduler.tick() == 0  # failed: put back
    assert await clock_scheduler.tick() == 0  # not due yet: it waits its backoff
    assert attempts == 1
    clock.advance(timedelta(seconds=scheduler.RETRY_FIRST_SECONDS))
    await clock_scheduler.tick()  # fails again, waits twice as long
    clock.advance(timedelta(seconds=scheduler.RETRY_FIRST_SECONDS))
    assert await clock_scheduler.tick() == 0 and attempts == 2
    clock.advance(timedelta(seconds=scheduler.RETRY_FIRST_SECONDS))
    assert await clock_scheduler.tick() == 1
    assert fired == [7] and attempts == 3
    async with db.transaction() as session:
        left = await q.pending_timers(session=session, kind="probe")
    assert list(left) == []


async def test_r5_a_timer_that_keeps_failing_is_told_once_and_kept(db: Database) -> None:
    """R5: after the configured failures the admins' hook is called once; the timer stays."""
    clock = ManualClock(START)
    told: list[tuple[str, int]] = []

    async def broken(session: AsyncSession, timer: Timer) -> None:
        raise RuntimeError("still broken")

    async def describe(session: AsyncSession, timer: Timer) -> str:
        return f"probe of thing {timer.ref_id}"

    async def tell(what: str, failures: int) -> None:
        told.append((what, failures))

    ticker = Scheduler(db=db, clock=clock, on_failing=tell)
    ticker.register("probe", broken, describe=describe)
    async with db.transaction() as session:
        await scheduler.schedule(session=session, kind="probe", ref_id=9, due_at=START, now=START)
    for _ in range(FAILURES_BEFORE_TELLING + 2):
        await ticker.tick()
        clock.advance(timedelta(seconds=scheduler.RETRY_LONGEST_SECONDS))
    assert told == [("probe of thing 9", FAILURES_BEFORE_TELLING)]
    async with db.transaction() as session:
        left = list(await q.pending_timers(session=session, kind="probe"))
    assert len(left) == 1 and left[0].payload["failures"] == FAILURES_BEFORE_TELLING + 2
