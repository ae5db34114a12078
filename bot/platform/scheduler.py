"""Deadlines as rows; PTB's JobQueue is only the alarm clock that checks them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.platform.clock import Clock
from storage import platform as q
from storage.db import Database
from storage.models import Timer

log = logging.getLogger(__name__)

TimerHandler = Callable[[AsyncSession, Timer], Awaitable[None]]
Sweeper = Callable[[], Awaitable[None]]


async def schedule(
    *,
    session: AsyncSession,
    kind: str,
    ref_id: int,
    due_at: datetime,
    now: datetime,
    payload: dict[str, Any] | None = None,
) -> Timer:
    """Store a deadline for the scheduler to fire."""
    return await q.add_timer(
        session=session, kind=kind, ref_id=ref_id, due_at=due_at, now=now, payload=payload
    )


async def cancel(*, session: AsyncSession, kind: str, ref_id: int) -> int:
    """Cancel the pending deadlines of a kind for one thing."""
    return await q.cancel_timers(session=session, kind=kind, ref_id=ref_id)


class Scheduler:
    """Fires due timers through their kind's handler, and runs periodic sweeps."""

    def __init__(self, *, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        self._handlers: dict[str, TimerHandler] = {}
        self._sweepers: list[tuple[str, Sweeper]] = []
        self._lock = asyncio.Lock()
        self.fired = 0

    def register(self, kind: str, handler: TimerHandler) -> None:
        """Handle timers of a kind; the handler runs inside the timer's transaction."""
        self._handlers[kind] = handler

    def add_sweeper(self, name: str, sweeper: Sweeper) -> None:
        """Run a check on every tick (it opens its own transactions)."""
        self._sweepers.append((name, sweeper))

    @property
    def kinds(self) -> frozenset[str]:
        """The kinds of timer something handles."""
        return frozenset(self._handlers)

    @property
    def sweeper_names(self) -> tuple[str, ...]:
        """The periodic checks run on every tick, in order."""
        return tuple(name for name, _ in self._sweepers)

    async def tick(self) -> int:
        """Fire everything due now; returns how many timers fired."""
        async with self._lock:
            count = 0
            while True:
                fired = await self._fire_one()
                if fired is None:
                    break
                count += 1
            for name, sweeper in self._sweepers:
                try:
                    await sweeper()
                except Exception:
                    log.exception("periodic check %s failed", name)
            self.fired += count
            return count

    async def _fire_one(self) -> Timer | None:
        timer_id: int | None = None
        try:
            async with self.db.transaction() as session:
                timer = await q.claim_due_timer(session=session, now=self.clock.now())
                if timer is None:
                    return None
                timer_id = timer.id
                handler = self._handlers.get(timer.kind)
                if handler is None:
                    log.error("no handler for timer kind %r (timer %s)", timer.kind, timer.id)
                    return timer
                await handler(session, timer)
                return timer
        except Exception:
            log.exception("timer %s failed; marking it fired so it does not loop", timer_id)
            if timer_id is None:
                return None
            async with self.db.transaction() as session:
                failed = await session.get(Timer, timer_id)
                if failed is not None:
                    failed.fired_at = self.clock.now()
                    failed.payload = {**(failed.payload or {}), "error": True}
            return failed

    async def job(self, _context: Any = None) -> None:
        """The JobQueue callback."""
        await self.tick()
