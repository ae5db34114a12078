"""Deadlines as rows; PTB's JobQueue is only the alarm clock that checks them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
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


# A timer's handler that fails is tried again after this long, doubling to the longest.
RETRY_FIRST_SECONDS = 5.0
RETRY_LONGEST_SECONDS = 600.0
# After this many failures in a row, whoever watches the bot is told (it keeps trying).
FAILURES_BEFORE_TELLING = 5

# Locks what a timer is about (an incident, a warning, a round) before the timer itself, so
# every path takes the same order (the thing first, then its timers) and none can deadlock.
OwnerLock = Callable[[AsyncSession, int], Awaitable[Any]]
# Names what a timer is about, for logs and for the admins ("escalation of 2026-0001").
Describer = Callable[[AsyncSession, Timer], Awaitable[str]]
# Told once when a timer keeps failing: (what, failures).
FailingHook = Callable[[str, int], Awaitable[None]]


@dataclass(frozen=True)
class _Kind:
    handler: TimerHandler
    owner: OwnerLock | None
    describe: Describer | None


class Scheduler:
    """Fires due timers through their kind's handler, and runs periodic sweeps.

    A handler that raises does not end its deadline: the timer is put back, due again after
    a growing wait, and the failure is logged with what it was about; after
    `FAILURES_BEFORE_TELLING` failures in a row the `on_failing` hook tells the admins.
    """

    def __init__(
        self, *, db: Database, clock: Clock, on_failing: FailingHook | None = None
    ) -> None:
        self.db = db
        self.clock = clock
        self.on_failing = on_failing
        self._kinds: dict[str, _Kind] = {}
        self._sweepers: list[tuple[str, Sweeper]] = []
        self._lock = asyncio.Lock()
        self.fired = 0
        self.failures = 0

    def register(
        self,
        kind: str,
        handler: TimerHandler,
        *,
        owner: OwnerLock | None = None,
        describe: Describer | None = None,
    ) -> None:
        """Handle timers of a kind; the handler runs inside the timer's transaction.

        `owner` locks the row the timer is about before the timer is taken.
        """
        self._kinds[kind] = _Kind(handler, owner, describe)

    def add_sweeper(self, name: str, sweeper: Sweeper) -> None:
        """Run a check on every tick (it opens its own transactions)."""
        self._sweepers.append((name, sweeper))

    @property
    def kinds(self) -> frozenset[str]:
        """The kinds of timer something handles."""
        return frozenset(self._kinds)

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
                count += fired
            for name, sweeper in self._sweepers:
                try:
                    await sweeper()
                except Exception:
                    log.exception("periodic check %s failed", name)
            self.fired += count
            return count

    async def _fire_one(self) -> int | None:
        """Fire the next due timer: 1 if it fired, 0 if it was taken meanwhile, None if none."""
        now = self.clock.now()
        candidate_id: int | None = None
        try:
            async with self.db.transaction() as session:
                candidate = await q.next_due_timer(session=session, now=now)
                if candidate is None:
                    return None
                candidate_id = candidate.id
                kind = self._kinds.get(candidate.kind)
                if kind is not None and kind.owner is not None:
                    await kind.owner(session, candidate.ref_id)
                timer = await q.take_timer(session=session, timer_id=candidate.id, now=now)
                if timer is None:
                    return 0  # cancelled or fired while we locked its owner
                if kind is None:
                    log.error("no handler for timer kind %r (timer %s)", timer.kind, timer.id)
                    return 1
                await kind.handler(session, timer)
                return 1
        except Exception as exc:
            if candidate_id is None:
                log.exception("looking for due timers failed")
                return None
            await self._failed(candidate_id, exc)
            return 0

    async def _failed(self, timer_id: int, exc: Exception) -> None:
        """Put a failed timer back, due again after a growing wait; tell someone if it persists."""
        self.failures += 1
        now = self.clock.now()
        async with self.db.transaction() as session:
            timer = await session.get(Timer, timer_id)
            if timer is None:
                return
            failures = int((timer.payload or {}).get("failures", 0)) + 1
            wait = min(RETRY_FIRST_SECONDS * 2 ** (failures - 1), RETRY_LONGEST_SECONDS)
            await q.defer_timer(
                session=session,
                timer_id=timer_id,
                due_at=now + timedelta(seconds=wait),
                failures=failures,
                error=f"{exc.__class__.__name__}: {exc}"[:500],
            )
            kind = self._kinds.get(timer.kind)
            what = f"{timer.kind} #{timer.ref_id}"
            if kind is not None and kind.describe is not None:
                try:
                    what = await kind.describe(session, timer)
                except Exception:  # naming it must not hide the failure itself
                    log.warning("could not describe timer %s", timer_id, exc_info=True)
        if failures < FAILURES_BEFORE_TELLING:
            log.warning(
                "deadline %s failed (%d in a row), trying again in %.0fs: %r",
                what,
                failures,
                wait,
                exc,
            )
            return
        log.error("deadline %s keeps failing (%d in a row)", what, failures, exc_info=exc)
        if failures == FAILURES_BEFORE_TELLING and self.on_failing is not None:
            try:
                await self.on_failing(what, failures)
            except Exception:
                log.exception("could not tell anyone that deadline %s keeps failing", what)

    async def job(self, _context: Any = None) -> None:
        """The JobQueue callback."""
        await self.tick()
