"""The global pacer keeps every one-second window at the limit and still reaches it (R9)."""

from __future__ import annotations

import asyncio

from bot.ratelimit import GlobalPacer


def _busiest_second(times: list[float]) -> int:
    ordered = sorted(times)
    best = start = 0
    for end, moment in enumerate(ordered):
        while moment - ordered[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


async def test_r9_pacer_never_exceeds_the_limit_in_any_second_and_nearly_reaches_it() -> None:
    """R9: 250 senders at once against 100/s: no window over 100, and close to 100/s overall."""
    pacer = GlobalPacer(rate=100)
    loop = asyncio.get_running_loop()
    released: list[float] = []

    async def send() -> None:
        await pacer.acquire()
        released.append(loop.time())

    await asyncio.gather(*(send() for _ in range(250)))
    assert _busiest_second(released) <= 100
    achieved = (len(released) - 1) / (max(released) - min(released))
    assert achieved >= 0.9 * 100, achieved


async def test_r9_pacer_waits_out_a_pause_after_429() -> None:
    """R9: after Telegram's retry_after nothing is let go before the pause ends."""
    pacer = GlobalPacer(rate=1000)
    loop = asyncio.get_running_loop()
    pacer.pause(0.2)
    paused_at = loop.time()
    await pacer.acquire()
    assert loop.time() - paused_at >= 0.19
