"""Stopping the bot while the alarm clock ticks: it waits for the tick and starts no other."""

from __future__ import annotations

import asyncio

from apscheduler.events import EVENT_SCHEDULER_PAUSED

from tests.harness import Stage


async def test_stopping_pauses_the_clock_then_waits_for_the_running_tick(stage: Stage) -> None:
    """Decision 1: no tick starts once stopping begins, so none is cancelled and logged as error."""
    admin = stage.tg.user("Admin Wang")
    bot = await stage.start_bot(admins=[admin])
    job_queue = bot.app.job_queue
    assert job_queue is not None
    ticks: list[int] = []
    in_tick, release, paused = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def slow_check() -> None:
        ticks.append(len(ticks))
        in_tick.set()
        await release.wait()

    bot.ctx.scheduler.add_sweeper("slow", slow_check)
    job_queue.scheduler.add_listener(lambda _event: paused.set(), EVENT_SCHEDULER_PAUSED)
    await asyncio.wait_for(in_tick.wait(), 10)
    stopping = asyncio.ensure_future(stage.stop_bot(bot))
    await asyncio.wait_for(paused.wait(), 10)
    assert not stopping.done(), "the stop must wait for the running tick"
    release.set()
    await asyncio.wait_for(stopping, 10)
    assert ticks == [0]
    assert not job_queue.scheduler.running
