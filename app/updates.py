"""How updates come in: taken from Telegram, handled at once across chats, confirmed when done.

Telegram keeps an update until a later getUpdates call's `offset` confirms it, so an update is
confirmed only once it has been handled: a crash loses nothing, and updates taken but not yet
handled come again after a restart (guided flows recognise them). Polling does not wait for
slow updates: the next getUpdates goes out while earlier ones are still being handled (one
sender's flood does not hold up everyone else's), its `offset` is the oldest update not yet
handled, and updates Telegram sends again because they are not confirmed yet are dropped
before python-telegram-bot sees them twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram._utils.types import ODVInput
from telegram.ext import BaseUpdateProcessor
from telegram.request import BaseRequest, RequestData
from telegram.request._requestparameter import RequestParameter

# How long the next getUpdates waits for the updates already taken to be handled before it
# goes anyway: long enough that a quiet bot confirms everything at once, short enough that a
# slow or flooding sender holds up nobody else.
QUIET_WAIT = 0.2
# While updates are being handled, a long poll asks for at most this many seconds, so the
# ones handled meanwhile are confirmed soon after.
SHORT_POLL = 1


class Progress:
    """Which updates were taken from Telegram and which of them are handled."""

    def __init__(self) -> None:
        self._taken: set[int] = set()
        self._highest = 0
        self._quiet = asyncio.Event()
        self._quiet.set()

    def take(self, update_ids: list[int]) -> list[int]:
        """Note updates just received; returns those not taken before (the rest come again)."""
        fresh = [i for i in update_ids if i > self._highest]
        if fresh:
            self._highest = max(fresh)
            self._taken.update(fresh)
            self._quiet.clear()
        return fresh

    def done(self, update_id: int) -> None:
        """An update has been handled."""
        self._taken.discard(update_id)
        if not self._taken:
            self._quiet.set()

    @property
    def pending(self) -> int:
        """Updates taken and not yet handled."""
        return len(self._taken)

    def offset(self) -> int | None:
        """What getUpdates may confirm: everything before the oldest update not yet handled."""
        if self._taken:
            return min(self._taken)
        return self._highest + 1 if self._highest else None

    async def quiet(self, within: float) -> None:
        """Wait until every update taken is handled, or `within` seconds, whichever is first."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._quiet.wait(), within)


def _rewritten(original: RequestData | None, **values: int) -> RequestData:
    """The same getUpdates request with some parameters replaced (RequestData is final)."""
    kept = [p for p in (original._parameters if original else []) if p.name not in values]
    return RequestData([*kept, *(RequestParameter.from_input(k, v) for k, v in values.items())])


class HandledUpdates(asyncio.Queue[object]):
    """The update queue, which lets Telegram's copy of an update go only once it is handled.

    PTB's poller confirms updates to Telegram with the next getUpdates offset as soon as it
    has queued them; a crash then loses whatever was queued or being handled. When polling,
    `ConfirmHandled` confirms only what `Progress` says is handled; for a webhook, `put` (and
    so the answer to Telegram) waits until the update is handled instead.
    """

    def __init__(self, *, wait_in_put: bool = True) -> None:
        super().__init__()
        self.wait_in_put = wait_in_put

    async def put(self, item: object) -> None:
        """Queue an update; for a webhook, wait until it (and all before it) is handled."""
        await super().put(item)
        if self.wait_in_put:
            await self.join()


class ConfirmHandled(BaseRequest):
    """The poller's connection: it confirms only handled updates and drops ones taken before."""

    def __init__(self, inner: BaseRequest, progress: Progress) -> None:
        self._inner = inner
        self._progress = progress
        self._polling: asyncio.Task[Any] | None = None

    @property
    def read_timeout(self) -> float | None:
        """The wrapped connection's read timeout."""
        return self._inner.read_timeout

    async def initialize(self) -> None:
        """Open the wrapped connection."""
        await self._inner.initialize()

    async def shutdown(self) -> None:
        """Close the wrapped connection."""
        await self._inner.shutdown()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Ask for updates, confirming only those handled; pass on only new ones."""
        timeouts = (read_timeout, write_timeout, connect_timeout, pool_timeout)
        if not url.endswith("/getUpdates"):
            return await self._inner.do_request(url, method, request_data, *timeouts)
        # Polls come one after another; one still under way was given up by PTB when it began
        # stopping (its last call confirms what was handled): end the old one, whose answer
        # nobody reads, so it frees the connection and fails nowhere.
        previous, self._polling = self._polling, asyncio.current_task()
        if previous is not None and previous is not self._polling and not previous.done():
            previous.cancel()
        await self._progress.quiet(QUIET_WAIT)
        offset = self._progress.offset()
        values = {"offset": offset} if offset is not None else {}
        if self._progress.pending:
            # Some are still being handled: come back soon to confirm them, not in a minute.
            values["timeout"] = SHORT_POLL
        data = _rewritten(request_data, **values) if values else request_data
        status, body = await self._inner.do_request(url, method, data, *timeouts)
        if status != 200:
            return status, body
        try:
            answer = json.loads(body)
            updates = answer["result"]
            fresh = set(self._progress.take([int(u["update_id"]) for u in updates]))
        except (ValueError, KeyError, TypeError):
            return status, body  # python-telegram-bot reports a malformed answer itself
        if len(fresh) == len(updates):
            return status, body
        answer["result"] = [u for u in updates if int(u["update_id"]) in fresh]
        return status, json.dumps(answer).encode()


def _order_keys(update: object) -> list[tuple[str, int]]:
    """What an update must keep its order within: its chat and its sender."""
    if not isinstance(update, Update):
        return []
    keys = []
    if update.effective_chat is not None:
        keys.append(("chat", update.effective_chat.id))
    if update.effective_user is not None:
        keys.append(("user", update.effective_user.id))
    return keys


class ChatOrdered(BaseUpdateProcessor):
    """Handles updates from different chats and people at once, each one's in arrival order.

    A person's conversation spans chats (a card's button in a group opens one in private),
    so an update waits for every earlier update from its chat or its sender.
    """

    def __init__(self, at_once: int, progress: Progress | None = None) -> None:
        # PTB hands updates over concurrently only when this is above 1; the bound is ours.
        super().__init__(max_concurrent_updates=1024)
        self._progress = progress
        self._slots = asyncio.Semaphore(at_once)
        self._last: dict[tuple[str, int], asyncio.Future[None]] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Wait for the chat's and sender's earlier updates, then handle this one."""
        # PTB starts a task per update in the order it took them, and with its semaphore far
        # above a getUpdates batch this runs without a pause up to the first await: each
        # update joins its chains in arrival order.
        keys = _order_keys(update)
        earlier = {id(f): f for f in (self._last.get(k) for k in keys) if f is not None}
        mine: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        for key in keys:
            self._last[key] = mine
        try:
            for future in earlier.values():
                await future
            async with self._slots:
                await coroutine
        finally:
            if inspect.iscoroutine(coroutine) and (
                inspect.getcoroutinestate(coroutine) == inspect.CORO_CREATED
            ):
                coroutine.close()
            mine.set_result(None)
            if self._progress is not None and isinstance(update, Update):
                self._progress.done(update.update_id)
            for key in keys:
                if self._last.get(key) is mine:
                    del self._last[key]

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to tear down."""
