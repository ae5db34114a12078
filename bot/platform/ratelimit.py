"""Pacing for Telegram's limits: never more than the limit in any one-second window."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from collections import deque
from dataclasses import dataclass

# How far behind its plan the pacer may fall and still make the time up: an event loop
# wakes sleepers a millisecond or more late, which at 1,000/s is a message or more each time.
CATCH_UP = 0.05
# How much earlier than planned a send may go, to spare the event loop a sleep of a moment.
EARLY = 0.002
# A send not yet answered is taken to have reached Telegram at most this long after it left.
ARRIVAL_BOUND = 0.25


@dataclass(slots=True)
class Send:
    """One send's moments: let go by the pacer, and answered by Telegram (None: not yet)."""

    released: float
    answered: float | None = None

    def arrived_by(self) -> float:
        """The latest moment the send can have reached Telegram."""
        bound = self.released + ARRIVAL_BOUND
        return bound if self.answered is None else min(self.answered, bound)


class _Waiter:
    """A send waiting for its turn: by priority (higher first), then in arrival order."""

    __slots__ = ("key", "wake")

    def __init__(self, priority: int, seq: int) -> None:
        self.key = (-priority, seq)
        self.wake = asyncio.Event()

    def __lt__(self, other: _Waiter) -> bool:
        return self.key < other.key


class GlobalPacer:
    """Spaces sends evenly at `rate` per second and caps every sliding one-second window.

    Even spacing alone allows `rate + 1` sends in a closed one-second window, and a send can
    be held up between leaving the pacer and reaching Telegram (a busy event loop, the
    network) while later ones are not. So a send may go only a second after the send `rate`
    places before it was answered: that one had surely arrived by then, and this one cannot
    arrive before it leaves, so no one-second window at Telegram holds more than `rate`.

    Sends wait their turn by priority: a reply to someone who just pressed a button goes
    before the next message of a broadcast, whatever the broadcast's queue. Only the first
    waiter sleeps on the clock; the others wait to become first (no thundering herd at
    1,000 sends a second). asyncio has no priority lock, hence this small one.
    """

    def __init__(self, *, rate: float, margin: float = 0.002) -> None:
        self.rate = rate
        self.margin = margin
        self.window = max(int(rate), 1)
        self._interval = 1.0 / rate
        self._sends: deque[Send] = deque(maxlen=self.window)
        self._next = 0.0
        self._paused_until = 0.0
        self._queue: list[_Waiter] = []
        self._seq = itertools.count()

    def pause(self, seconds: float) -> None:
        """Send nothing for a while (after Telegram answered 429)."""
        loop = asyncio.get_running_loop()
        self._paused_until = max(self._paused_until, loop.time() + seconds)
        if self._queue:
            self._queue[0].wake.set()

    @property
    def waiting(self) -> int:
        """How many sends are waiting for their turn."""
        return len(self._queue)

    def _ready_at(self) -> float:
        # A send may go a little before its planned moment (sleeping less than the loop can
        # time costs more than it gains), but never before the window allows.
        ready = max(self._next - EARLY, self._paused_until)
        if len(self._sends) == self.window:
            ready = max(ready, self._sends[0].arrived_by() + 1.0 + self.margin)
        return ready

    async def acquire(self, priority: int = 0) -> Send:
        """Wait for this send's turn; the caller sends, then marks it answered."""
        loop = asyncio.get_running_loop()
        me = _Waiter(priority, next(self._seq))
        heapq.heappush(self._queue, me)
        if self._queue[0] is me and len(self._queue) > 1:
            # Overtook the one that was first: it goes back to waiting for its turn.
            for other in self._queue[1:3]:
                other.wake.set()
        try:
            while True:
                if self._queue[0] is not me:
                    me.wake.clear()
                    await me.wake.wait()
                    continue
                now = loop.time()
                ready = self._ready_at()
                if ready <= now:
                    break
                me.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(me.wake.wait(), ready - now)
        finally:
            if self._queue and self._queue[0] is me:
                heapq.heappop(self._queue)
            else:
                self._queue.remove(me)
                heapq.heapify(self._queue)
            if self._queue:
                self._queue[0].wake.set()
        send = Send(released=now)
        self._sends.append(send)
        # The spacing follows the plan, so a late wake-up is made up for by the next sends
        # (the window bounds the catch-up); after idling it starts afresh.
        self._next = max(self._next, now - CATCH_UP) + self._interval
        return send

    @staticmethod
    def answered(send: Send) -> None:
        """Note that Telegram answered a send (or it failed): it had arrived by now."""
        send.answered = asyncio.get_running_loop().time()


class PerChatLimits:
    """At most one message a second to a private chat, and 20 a minute to a group."""

    def __init__(self, *, private_per_second: float, group_per_minute: float) -> None:
        self.private_interval = 1.0 / private_per_second
        self.group_window = max(int(group_per_minute), 1)
        self._private_next: dict[int, float] = {}
        self._group_log: dict[int, deque[float]] = {}

    async def wait(self, chat_id: int) -> None:
        """Wait until a message to this chat is within its limit, and reserve the slot."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        if chat_id > 0:
            slot = max(now, self._private_next.get(chat_id, 0.0))
            self._private_next[chat_id] = slot + self.private_interval
            if len(self._private_next) > 50_000:
                self._forget(self._private_next, now)
        else:
            log = self._group_log.setdefault(chat_id, deque(maxlen=self.group_window))
            slot = now
            if len(log) == self.group_window:
                slot = max(slot, log[0] + 60.0)
            log.append(slot)
        delay = slot - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)

    @staticmethod
    def _forget(table: dict[int, float], now: float) -> None:
        for key in [k for k, v in table.items() if v < now]:
            del table[key]


# Priorities: someone waiting on a button or a command goes first, then cards people are
# waiting for, then ordinary notifications, then broadcasts to everyone.
INTERACTIVE = 30
URGENT = 20
NORMAL = 10
BULK = 0


@dataclass
class Pacing:
    """The one pacer every Bot API call goes through: the global rate and each chat's."""

    pacer: GlobalPacer
    chats: PerChatLimits

    @classmethod
    def of(cls, *, rate: float, private_per_second: float, group_per_minute: float) -> Pacing:
        """Pacing at the configured limits."""
        return cls(
            GlobalPacer(rate=rate),
            PerChatLimits(private_per_second=private_per_second, group_per_minute=group_per_minute),
        )
