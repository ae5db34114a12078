"""The outbox: notifications written with the change that caused them, and their dispatcher.

Services call `enqueue_*` inside their transaction; the `Dispatcher` delivers rows at
Telegram's limits, retries what can be retried, and records what happened to each row.
This is the only module that sends notifications to Telegram.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import math
import warnings
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Bot, InlineKeyboardMarkup, InputFile, LinkPreviewOptions, Message
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from bot.platform.clock import Clock
from bot.platform.config import DeliveryPolicy
from bot.platform.keyboards import Keyboard, keyboard_to_dict
from bot.platform.ratelimit import BULK, NORMAL, URGENT, Pacing
from messages.render import as_html
from storage import access as access_q
from storage import platform as q
from storage.db import Database
from storage.models import OutboxMessage

log = logging.getLogger(__name__)


SEND_MESSAGE = "send_message"
EDIT_TEXT = "edit_message_text"
EDIT_MARKUP = "edit_message_reply_markup"
SEND_DOCUMENT = "send_document"
SEND_PHOTO = "send_photo"
SEND_MEDIA_GROUP = "send_media_group"

# Final statuses of a row besides "sent".
BLOCKED = "blocked"
UNREACHABLE = "unreachable"
FAILED = "failed"
SKIPPED = "skipped"

SESSION_FLAG = "outbox_added"
# Requests in flight must cover the round trips of this long at the global rate, or the
# round trip rather than the limit sets the pace (15 at 30/s; 256 at a paid 1,000/s).
ROUND_TRIP_ALLOWANCE = 0.5
# The bot's connection pool (bot/transport.py): more in flight would only wait for a socket.
MAX_IN_FLIGHT = 256


def _mark(session: AsyncSession) -> None:
    session.info[SESSION_FLAG] = True


async def _enqueue(
    session: AsyncSession,
    *,
    chat_id: int,
    method: str,
    payload: dict[str, Any],
    now: datetime,
    ref: str | None,
    priority: int,
    **extra: Any,
) -> OutboxMessage:
    """Write one outbox row in the caller's transaction and wake the dispatcher on commit."""
    _mark(session)
    return await q.add_outbox(
        session=session,
        created_at=now,
        not_before=now,
        chat_id=chat_id,
        method=method,
        payload=payload,
        ref=ref,
        priority=priority,
        **extra,
    )


def _html_or_none(text: str | None) -> str | None:
    return as_html(text) if text is not None else None


async def enqueue_message(
    *,
    session: AsyncSession,
    chat_id: int,
    text: str,
    now: datetime,
    keyboard: Keyboard | None = None,
    ref: str | None = None,
    priority: int = NORMAL,
    batch_id: int | None = None,
) -> OutboxMessage:
    """Queue a text message (Telegram HTML)."""
    return await _enqueue(
        session,
        chat_id=chat_id,
        method=SEND_MESSAGE,
        payload={"text": as_html(text), "reply_markup": keyboard_to_dict(keyboard)},
        now=now,
        ref=ref,
        priority=priority,
        batch_id=batch_id,
    )


def message_row(
    *,
    chat_id: int,
    text: str,
    now: datetime,
    keyboard: Keyboard | None = None,
    ref: str | None = None,
    priority: int = BULK,
    batch_id: int | None = None,
    status: str = q.PENDING,
) -> dict[str, Any]:
    """One row for `enqueue_many`, as plain values (a final `status` records it unsent)."""
    return {
        "created_at": now,
        "not_before": now,
        "chat_id": chat_id,
        "method": SEND_MESSAGE,
        "payload": {"text": as_html(text), "reply_markup": keyboard_to_dict(keyboard)},
        "ref": ref,
        "priority": priority,
        "batch_id": batch_id,
        "status": status,
        "attempts": 0,
        "possible_duplicate": False,
    }


async def enqueue_many(*, session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Queue many messages in one statement (a broadcast), built with `message_row`."""
    _mark(session)
    await q.add_outbox_many(session=session, rows=rows)


def mark_queued(session: AsyncSession) -> None:
    """Wake the dispatcher when this transaction commits: rows were queued in bulk elsewhere."""
    _mark(session)


async def new_batch_id(*, session: AsyncSession) -> int:
    """A fresh id to tie the rows of one broadcast together."""
    return await q.next_batch_id(session=session)


@dataclass(frozen=True)
class BatchCounts:
    """Where the rows of one broadcast stand."""

    total: int
    sent: int
    blocked: int
    failed: int
    skipped: int
    pending: int
    duplicates: int

    @property
    def done(self) -> bool:
        """Whether nothing is left to send."""
        return self.pending == 0

    @property
    def finished(self) -> int:
        """Rows with a final outcome."""
        return self.total - self.pending


async def batch_counts(*, session: AsyncSession, batch_id: int) -> BatchCounts:
    """Delivered, blocked, failed and waiting rows of a broadcast, and possible duplicates."""
    counts = await q.outbox_status_counts(session=session, batch_id=batch_id)
    return BatchCounts(
        total=sum(counts.values()),
        sent=counts.get(q.SENT, 0),
        blocked=counts.get(BLOCKED, 0),
        failed=counts.get(FAILED, 0) + counts.get(UNREACHABLE, 0),
        skipped=counts.get(SKIPPED, 0),
        pending=counts.get(q.PENDING, 0) + counts.get(q.IN_FLIGHT, 0),
        duplicates=await q.outbox_duplicate_count(session=session, batch_id=batch_id),
    )


async def skip_pending(*, session: AsyncSession, batch_id: int, reason: str) -> int:
    """Withdraw a broadcast's rows not yet handed to the dispatcher."""
    return await q.skip_pending_batch(session=session, batch_id=batch_id, reason=reason)


async def batch_has_chat(*, session: AsyncSession, batch_id: int, chat_id: int) -> bool:
    """Whether a broadcast already holds a message to a chat."""
    return await q.batch_has_chat(session=session, batch_id=batch_id, chat_id=chat_id)


async def enqueue_document(
    *,
    session: AsyncSession,
    chat_id: int,
    filename: str,
    content: bytes,
    now: datetime,
    caption: str | None = None,
    ref: str | None = None,
    priority: int = NORMAL,
) -> OutboxMessage:
    """Queue a document upload with an optional HTML caption."""
    payload = {
        "filename": filename,
        "content_b64": base64.b64encode(content).decode("ascii"),
        "caption": _html_or_none(caption),
    }
    return await _enqueue(
        session,
        chat_id=chat_id,
        method=SEND_DOCUMENT,
        payload=payload,
        now=now,
        ref=ref,
        priority=priority,
    )


async def enqueue_photo(
    *,
    session: AsyncSession,
    chat_id: int,
    now: datetime,
    file_id: str | None = None,
    content: bytes | None = None,
    caption: str | None = None,
    ref: str | None = None,
    priority: int = NORMAL,
) -> OutboxMessage:
    """Queue a photo, by an existing file id or by upload."""
    payload: dict[str, Any] = {"caption": _html_or_none(caption)}
    if file_id is not None:
        payload["file_id"] = file_id
    elif content is not None:
        payload["content_b64"] = base64.b64encode(content).decode("ascii")
    else:
        raise ValueError("a photo needs a file_id or content")
    return await _enqueue(
        session,
        chat_id=chat_id,
        method=SEND_PHOTO,
        payload=payload,
        now=now,
        ref=ref,
        priority=priority,
    )


async def enqueue_media_group(
    *,
    session: AsyncSession,
    chat_id: int,
    items: list[dict[str, str]],
    now: datetime,
    ref: str | None = None,
    priority: int = NORMAL,
) -> OutboxMessage:
    """Queue an album of up to 10 photos or documents given by file id."""
    return await _enqueue(
        session,
        chat_id=chat_id,
        method=SEND_MEDIA_GROUP,
        payload={"items": items[:10]},
        now=now,
        ref=ref,
        priority=priority,
    )


async def enqueue_edit(
    *,
    session: AsyncSession,
    original: OutboxMessage,
    text: str | None,
    now: datetime,
    keyboard: Keyboard | None = None,
    priority: int = URGENT,
) -> OutboxMessage:
    """Queue an in-place edit of a message the outbox sent (or will send)."""
    return await _enqueue(
        session,
        chat_id=original.chat_id,
        method=EDIT_TEXT if text is not None else EDIT_MARKUP,
        payload={"text": _html_or_none(text), "reply_markup": keyboard_to_dict(keyboard)},
        now=now,
        ref=original.ref,
        priority=priority,
        edit_of=original.id,
    )


async def edit_copies(
    *,
    session: AsyncSession,
    ref: str,
    now: datetime,
    build: Callable[[OutboxMessage], tuple[str, Keyboard | None]],
) -> int:
    """Edit every copy of a referenced message in place; `build` gives each copy's content."""
    count = 0
    for copy in await q.sent_copies(session=session, ref=ref):
        if copy.method != SEND_MESSAGE or copy.status in (BLOCKED, UNREACHABLE, FAILED):
            continue
        text, keyboard = build(copy)
        await enqueue_edit(session=session, original=copy, text=text, keyboard=keyboard, now=now)
        count += 1
    return count


async def copies(*, session: AsyncSession, ref: str) -> list[OutboxMessage]:
    """Every original (non-edit) row carrying a reference."""
    return list(await q.sent_copies(session=session, ref=ref))


def _retry_after(exc: RetryAfter) -> float:
    """Seconds to wait; PTB gives an int or, opted in or in later versions, a timedelta."""
    with warnings.catch_warnings():
        # Reading the int form warns about the coming timedelta form; both are handled here.
        warnings.simplefilter("ignore", DeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


# A group became a supergroup: move what names the old id (session, old id, new id, now).
MigrationHook = Callable[[AsyncSession, int, int, datetime], Awaitable[object]]


@dataclass
class _Outcome:
    row_id: int
    status: str
    message_id: int | None = None
    error: str | None = None
    retry_at: datetime | None = None
    count_attempt: bool = True
    possible_duplicate: bool = False
    chat_id: int | None = None


@dataclass
class DeliveryStats:
    """Counters since start, for logs and benchmarks."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    blocked: int = 0
    rate_limited: int = 0
    by_status: dict[str, int] = field(default_factory=dict)


class Dispatcher:
    """Delivers outbox rows at Telegram's limits and records each outcome."""

    def __init__(
        self,
        *,
        db: Database,
        bot: Bot,
        clock: Clock,
        policy: DeliveryPolicy,
        on_chat_problem: Callable[[int, str], Any] | None = None,
        on_migrate: MigrationHook | None = None,
        store: Database | None = None,
        pacing: Pacing | None = None,
    ) -> None:
        self.db = db
        # Where the dispatcher's own reads and writes go (default: db); see bot/app.py.
        self.store = store or db
        self.bot = bot
        self.clock = clock
        self.policy = policy
        # The pacer every Bot API call of the bot goes through (replies too): see app/build.py.
        self.pacing = pacing or Pacing.of(
            rate=policy.global_rate,
            private_per_second=policy.private_chat_per_second,
            group_per_minute=policy.group_per_minute,
        )
        self.pacer = self.pacing.pacer
        self.chat_limits = self.pacing.chats
        self.stats = DeliveryStats()
        self.on_chat_problem = on_chat_problem
        self.on_migrate = on_migrate
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._queues: dict[int, deque[OutboxMessage]] = {}
        self._chat_tasks: dict[int, asyncio.Task[None]] = {}
        self._local = 0
        self.in_flight = max(
            policy.workers, min(MAX_IN_FLIGHT, math.ceil(self.pacer.rate * ROUND_TRIP_ALLOWANCE))
        )
        self._slots = asyncio.Semaphore(self.in_flight)
        self._outcomes: list[_Outcome] = []
        self._flushed = asyncio.Event()
        self._flush_now = asyncio.Event()
        self._sent_ids: dict[int, int] = {}
        self.released_on_start = 0
        db.add_commit_listener(self._on_commit)

    def _on_commit(self, info: dict[str, Any]) -> None:
        if info.get(SESSION_FLAG):
            self.wake()

    @property
    def capacity(self) -> int:
        """How many rows to hold in memory at once: about half a second of sending."""
        # Not more: an urgent row claimed now waits behind every row already held.
        return max(self.policy.workers * 2, int(self.pacer.rate / 2), 16)

    def wake(self) -> None:
        """Look for due rows now."""
        self._wake.set()

    async def start(self) -> None:
        """Recover rows a crash left in flight, then start delivering."""
        async with self.store.transaction() as session:
            self.released_on_start = await q.release_in_flight(session=session)
        if self.released_on_start:
            log.warning(
                "%d outbox rows were in flight at the last stop; resending (may duplicate)",
                self.released_on_start,
            )
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="outbox-dispatcher")
        self._flusher = asyncio.create_task(self._flush_loop(), name="outbox-flusher")

    async def stop(self) -> None:
        """Stop taking rows, finish what is being sent, write every outcome."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
        tasks = list(self._chat_tasks.values())
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._flusher is not None:
            self._flush_now.set()
            await self._flusher
        await self._flush()

    async def drain(self, within: float = 10.0) -> None:
        """Wait until nothing due is left to send (tests and shutdown)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while loop.time() < deadline:
            async with self.store.transaction() as session:
                due = await q.next_outbox_due(session=session)
            busy = self._local or self._outcomes
            if not busy and (due is None or due > self.clock.now()):
                return
            self.wake()
            await asyncio.sleep(0.02)
        raise TimeoutError("outbox did not drain")

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                claimed = await self._claim()
            except Exception:
                log.exception("claiming outbox rows failed")
                claimed = 0
            if claimed and self._local < self.capacity // 2:
                continue
            timeout = await self._idle_timeout()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    async def _idle_timeout(self) -> float:
        try:
            async with self.store.transaction() as session:
                due = await q.next_outbox_due(session=session)
        except Exception:
            log.exception("reading the next outbox deadline failed")
            return 1.0
        if due is None:
            return 5.0
        wait = (due - self.clock.now()).total_seconds()
        return min(max(wait, 0.01), 1.0)

    async def _claim(self) -> int:
        room = self.capacity - self._local
        if room <= 0:
            return 0
        async with self.store.transaction() as session:
            rows = await q.claim_due_outbox(session=session, now=self.clock.now(), limit=room)
        for row in rows:
            self._local += 1
            self._queues.setdefault(row.chat_id, deque()).append(row)
            if row.chat_id not in self._chat_tasks:
                self._chat_tasks[row.chat_id] = asyncio.create_task(self._drain_chat(row.chat_id))
        return len(rows)

    async def _drain_chat(self, chat_id: int) -> None:
        queue = self._queues[chat_id]
        try:
            while queue:
                row = queue[0]
                try:
                    await self._deliver(row)
                except Exception as exc:  # a bug must not stop the queue
                    log.exception("delivering outbox row %s failed", row.id)
                    self._record(_Outcome(row.id, FAILED, error=repr(exc)))
                queue.popleft()
                self._local -= 1
        finally:
            self._chat_tasks.pop(chat_id, None)
            if not queue:
                self._queues.pop(chat_id, None)
            if self._local < self.capacity // 2:
                self.wake()

    async def _deliver(self, row: OutboxMessage) -> None:
        if row.edit_of is not None:
            target = await self._edit_target(row)
            if target is None:
                return
        else:
            target = None
        await self.chat_limits.wait(row.chat_id)
        # The pacer first: sends waiting for their turn must not hold the slots of requests
        # in flight. A slot is free at once unless round trips outgrow ROUND_TRIP_ALLOWANCE.
        send = await self.pacer.acquire(row.priority)
        try:
            async with self._slots:
                outcome = await self._send(row, target)
        finally:
            self.pacer.answered(send)
        self._record(outcome)

    async def _edit_target(self, row: OutboxMessage) -> int | None:
        assert row.edit_of is not None
        message_id = self._sent_ids.get(row.edit_of)
        async with self.store.transaction() as session:
            if await q.newer_pending_edit(session=session, edit_of=row.edit_of, after_id=row.id):
                self._record(_Outcome(row.id, SKIPPED, error="superseded by a later edit"))
                return None
            if message_id is None:
                original = await q.get_outbox(session=session, outbox_id=row.edit_of)
                if original is None or original.status in (BLOCKED, UNREACHABLE, FAILED, SKIPPED):
                    self._record(_Outcome(row.id, SKIPPED, error="original was not delivered"))
                    return None
                message_id = original.message_id
                if original.chat_id != row.chat_id:
                    row.chat_id = original.chat_id
        if message_id is None:
            # The original is still queued; try again once it has gone out.
            retry = self.clock.now() + timedelta(seconds=0.5)
            self._record(
                _Outcome(
                    row.id,
                    q.PENDING,
                    retry_at=retry,
                    error="waiting for the original",
                    count_attempt=False,
                )
            )
            return None
        return message_id

    async def _send(self, row: OutboxMessage, target: int | None) -> _Outcome:
        try:
            message = await self._call(row, target)
        except RetryAfter as exc:
            now = self.clock.now()
            wait = _retry_after(exc)
            self.pacer.pause(wait)
            self.stats.rate_limited += 1
            return _Outcome(
                row.id,
                q.PENDING,
                retry_at=now + timedelta(seconds=wait),
                error=str(exc),
                count_attempt=False,
            )
        except ChatMigrated as exc:
            if exc.new_chat_id == row.chat_id:
                # Told to go where it already went: following again would loop.
                return _Outcome(row.id, FAILED, error=f"migrated to itself: {exc}")
            await self._migrate(row.chat_id, exc.new_chat_id)
            # Followed once, and counted: a chat that keeps answering "migrated" ends failed.
            return _Outcome(
                row.id,
                q.PENDING,
                retry_at=self.clock.now(),
                error=str(exc),
                chat_id=exc.new_chat_id,
            )
        except Forbidden as exc:
            return await self._forbidden(row, exc)
        except BadRequest as exc:
            return await self._bad_request(row, exc)
        except TimedOut as exc:
            # The request may have reached Telegram: a retry can duplicate it.
            return self._retry(row, exc, possible_duplicate=True)
        except NetworkError as exc:
            return self._retry(row, exc)
        except TelegramError as exc:
            return self._retry(row, exc)
        message_id = message.message_id if isinstance(message, Message) else target
        if row.edit_of is None and row.ref and message_id is not None:
            self._sent_ids[row.id] = message_id
            if len(self._sent_ids) > 10_000:
                self._sent_ids.pop(next(iter(self._sent_ids)))
        return _Outcome(row.id, q.SENT, message_id=message_id)

    def _retry(
        self, row: OutboxMessage, exc: Exception, possible_duplicate: bool = False
    ) -> _Outcome:
        attempts = row.attempts + 1
        if attempts >= self.policy.max_attempts:
            return _Outcome(row.id, FAILED, error=f"gave up after {attempts} attempts: {exc}")
        delay = min(2 ** (attempts - 1), self.policy.longest_retry_wait_seconds)
        self.stats.retried += 1
        return _Outcome(
            row.id,
            q.PENDING,
            retry_at=self.clock.now() + timedelta(seconds=delay),
            error=str(exc),
            possible_duplicate=possible_duplicate,
        )

    async def _forbidden(self, row: OutboxMessage, exc: Forbidden) -> _Outcome:
        text = str(exc).lower()
        if row.chat_id > 0:
            if "blocked" in text or "deactivated" in text:
                async with self.store.transaction() as session:
                    await access_q.set_blocked(session=session, user_id=row.chat_id, blocked=True)
                return _Outcome(row.id, BLOCKED, error=str(exc))
            return _Outcome(row.id, UNREACHABLE, error=str(exc))
        await self._chat_gone(row.chat_id, str(exc))
        return _Outcome(row.id, UNREACHABLE, error=str(exc))

    async def _bad_request(self, row: OutboxMessage, exc: BadRequest) -> _Outcome:
        text = str(exc).lower()
        if "not modified" in text:
            return _Outcome(row.id, q.SENT, message_id=None, error=None)
        if "chat not found" in text:
            if row.chat_id < 0:
                await self._chat_gone(row.chat_id, str(exc))
            return _Outcome(row.id, UNREACHABLE, error=str(exc))
        if "message to edit not found" in text or "message can't be edited" in text:
            return _Outcome(row.id, SKIPPED, error=str(exc))
        log.error("Telegram refused outbox row %s (%s): %s", row.id, row.method, exc)
        return _Outcome(row.id, FAILED, error=str(exc))

    async def _chat_gone(self, chat_id: int, reason: str) -> None:
        async with self.store.transaction() as session:
            chat = await access_q.get_chat(session=session, chat_id=chat_id)
            if chat is not None:
                chat.bot_removed = True
        if self.on_chat_problem is not None:
            result = self.on_chat_problem(chat_id, reason)
            if asyncio.iscoroutine(result):
                await result

    async def _migrate(self, old_chat_id: int, new_chat_id: int) -> None:
        if self.on_migrate is not None:
            async with self.store.transaction() as session:
                await self.on_migrate(session, old_chat_id, new_chat_id, self.clock.now())
        queue = self._queues.get(old_chat_id)
        if queue:
            for row in queue:
                row.chat_id = new_chat_id

    async def _call(self, row: OutboxMessage, target: int | None) -> Message | bool | Any:
        payload = row.payload or {}
        markup_data = payload.get("reply_markup")
        markup = InlineKeyboardMarkup.de_json(markup_data, self.bot) if markup_data else None
        timeout = self.policy.request_timeout_seconds
        common: dict[str, Any] = {
            "read_timeout": timeout,
            "write_timeout": timeout,
            "connect_timeout": timeout,
        }
        if row.method == SEND_MESSAGE:
            return await self.bot.send_message(
                chat_id=row.chat_id,
                text=payload["text"],
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
                **common,
            )
        if row.method == EDIT_TEXT:
            return await self.bot.edit_message_text(
                chat_id=row.chat_id,
                message_id=target,
                text=payload["text"],
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
                **common,
            )
        if row.method == EDIT_MARKUP:
            return await self.bot.edit_message_reply_markup(
                chat_id=row.chat_id, message_id=target, reply_markup=markup, **common
            )
        if row.method == SEND_DOCUMENT:
            content = base64.b64decode(payload["content_b64"])
            return await self.bot.send_document(
                chat_id=row.chat_id,
                document=InputFile(content, filename=payload["filename"]),
                caption=payload.get("caption"),
                parse_mode=ParseMode.HTML,
                **common,
            )
        if row.method == SEND_PHOTO:
            photo: str | InputFile
            if payload.get("file_id"):
                photo = payload["file_id"]
            else:
                photo = InputFile(base64.b64decode(payload["content_b64"]), filename="image.png")
            return await self.bot.send_photo(
                chat_id=row.chat_id,
                photo=photo,
                caption=payload.get("caption"),
                parse_mode=ParseMode.HTML,
                **common,
            )
        if row.method == SEND_MEDIA_GROUP:
            from telegram import InputMediaDocument, InputMediaPhoto

            media: list[InputMediaPhoto | InputMediaDocument] = [
                InputMediaPhoto(
                    item["file_id"], caption=item.get("caption"), parse_mode=ParseMode.HTML
                )
                if item.get("type") == "photo"
                else InputMediaDocument(
                    item["file_id"], caption=item.get("caption"), parse_mode=ParseMode.HTML
                )
                for item in payload.get("items", [])
            ]
            messages = await self.bot.send_media_group(chat_id=row.chat_id, media=media, **common)
            return messages[0] if messages else True
        raise ValueError(f"unknown outbox method {row.method!r}")

    def _record(self, outcome: _Outcome) -> None:
        key = outcome.status
        self.stats.by_status[key] = self.stats.by_status.get(key, 0) + 1
        if outcome.status == q.SENT:
            self.stats.sent += 1
        elif outcome.status == BLOCKED:
            self.stats.blocked += 1
        elif outcome.status in (FAILED, UNREACHABLE):
            self.stats.failed += 1
        self._outcomes.append(outcome)
        if len(self._outcomes) >= 200 or outcome.status != q.SENT:
            self._flush_now.set()

    async def _flush_loop(self) -> None:
        # Stopped by the flag, not by cancel(): on Python 3.11 wait_for can swallow a cancel.
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._flush_now.wait(), 0.05)
            self._flush_now.clear()
            if self._outcomes:
                try:
                    await self._flush()
                except Exception:
                    log.exception("writing outbox outcomes failed; will retry")
                    await asyncio.sleep(0.5)

    async def _flush(self) -> None:
        """Write the outcomes gathered so far in one transaction."""
        if not self._outcomes:
            return
        batch, self._outcomes = self._outcomes, []
        final = [o for o in batch if o.status != q.PENDING]
        try:
            async with self.store.transaction() as session:
                # One statement for all final outcomes: a broadcast finishes hundreds a second.
                await q.finish_outbox_many(
                    session=session,
                    now=self.clock.now(),
                    outcomes=[(o.row_id, o.status, o.message_id, o.error) for o in final],
                )
                for outcome in batch:
                    if outcome.status == q.PENDING:
                        await self._write(session, outcome)
        except Exception:
            self._outcomes[:0] = batch
            raise
        if any(o.status == q.PENDING for o in batch):
            self.wake()

    async def _write(self, session: AsyncSession, outcome: _Outcome) -> None:
        await q.retry_outbox(
            session=session,
            outbox_id=outcome.row_id,
            not_before=outcome.retry_at or self.clock.now(),
            error=outcome.error or "",
            count_attempt=outcome.count_attempt,
            possible_duplicate=outcome.possible_duplicate,
            chat_id=outcome.chat_id,
        )


def chunk_rows(rows: Iterable[dict[str, Any]], size: int = 1000) -> Iterable[list[dict[str, Any]]]:
    """Split a long list of rows into insert-sized batches."""
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
