"""Builds the telegram.ext.Application: handlers, start-up work, the outbox and the alarm clock."""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import logging
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram._utils.types import ODVInput
from telegram.error import TelegramError
from telegram.ext import Application, BaseUpdateProcessor, ContextTypes
from telegram.request import BaseRequest, RequestData

from app import services
from bot.access import chats, contacts
from bot.access import flows as access_flows
from bot.incidents import report_flow
from bot.patrols import flows as patrol_flows
from bot.platform.clock import Clock, OffsetFileClock, SystemClock
from bot.platform.config import Policy, Settings
from bot.platform.context import AppContext
from bot.platform.outbox import Dispatcher
from bot.platform.roles import Role, UserStatus
from bot.platform.scheduler import Scheduler
from bot.platform.transport import AiohttpRequest
from handlers import add_handlers
from handlers.platform.common import BotContext
from handlers.platform.menus import set_default_commands
from messages.render import Renderer
from storage import access as access_q
from storage.db import Database

log = logging.getLogger(__name__)

AnyApplication = Application[Any, Any, Any, Any, Any, Any]
# Updates from different chats handled at once: while one waits on Telegram or the
# database, another runs.
UPDATES_AT_ONCE = 32


class HandledUpdates(asyncio.Queue[object]):
    """The update queue, which lets Telegram's copy of an update go only once it is handled.

    PTB's poller confirms updates to Telegram with the next getUpdates offset as soon as it
    has queued them; a crash then loses whatever was queued or being handled. When polling,
    `ConfirmHandled` holds that next getUpdates back until every queued update has been
    handled; for a webhook, `put` (and so the answer to Telegram) waits instead.
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
    """The poller's connection, whose next getUpdates waits until the last batch is handled."""

    def __init__(self, inner: BaseRequest, updates: HandledUpdates) -> None:
        self._inner = inner
        self._updates = updates

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
        """Wait until every update taken so far is handled, then ask (and so confirm them)."""
        await self._updates.join()
        return await self._inner.do_request(
            url, method, request_data, read_timeout, write_timeout, connect_timeout, pool_timeout
        )


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

    def __init__(self, at_once: int) -> None:
        # PTB hands updates over concurrently only when this is above 1; the bound is ours.
        super().__init__(max_concurrent_updates=1024)
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
            for key in keys:
                if self._last.get(key) is mine:
                    del self._last[key]

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to tear down."""


class _Application(Application[Any, Any, Any, Any, Any, Any]):
    """PTB's Application, with an alarm clock that takes no new tick once stopping begins."""

    async def stop(self) -> None:
        """Pause the scheduler job, then stop as PTB does (it waits for a running tick)."""
        # Otherwise a tick can start between JobQueue.stop() waiting for the running jobs and
        # shutting APScheduler down, which cancels it and logs the cancellation as an error.
        if self.job_queue is not None and self.job_queue.scheduler.running:
            self.job_queue.scheduler.pause()
        await super().stop()


def build_context(
    settings: Settings,
    policy: Policy,
    *,
    clock: Clock | None = None,
    db: Database | None = None,
) -> AppContext:
    """Create the shared services (nothing connects yet)."""
    if clock is None:
        offset_file = settings.incident_bot_clock_offset_file
        clock = OffsetFileClock(offset_file) if offset_file else SystemClock()
    database = db or Database(settings.database_url)
    ctx = AppContext(
        settings=settings,
        policy=policy,
        db=database,
        renderer=Renderer(timezone=policy.timezone),
        clock=clock,
        scheduler=Scheduler(db=database, clock=clock),
    )
    for flow in (report_flow.REPORT, report_flow.DRILL):
        ctx.flows.add(flow)
    ctx.flows.add(access_flows.CONTACT_ADD)
    ctx.flows.add(access_flows.CONTACT_EDIT)
    ctx.flows.add(patrol_flows.PATROL_NOTE)
    services.register(ctx)
    return ctx


def webhook_parameters(settings: Settings) -> dict[str, Any]:
    """Where the webhook listens and what Telegram is told: a secret path and header token."""
    token = settings.token
    secret = hashlib.sha256(("secret:" + token).encode()).hexdigest()[:32]
    path = hashlib.sha256(("path:" + token).encode()).hexdigest()[:24]
    assert settings.webhook_url is not None
    return {
        "listen": settings.webhook_listen,
        "port": settings.webhook_port,
        "url_path": path,
        "webhook_url": settings.webhook_url.rstrip("/") + "/" + path,
        "secret_token": secret,
    }


def build_application(ctx: AppContext) -> AnyApplication:
    """The PTB application wired to the shared services."""
    timeout = ctx.policy.delivery.request_timeout_seconds
    polling = ctx.settings.webhook_url is None
    updates = HandledUpdates(wait_in_put=not polling)
    app = (
        Application.builder()
        .application_class(_Application)
        .token(ctx.settings.token)
        .base_url(ctx.settings.telegram_api_base_url)
        .base_file_url(ctx.settings.file_base_url)
        .context_types(ContextTypes(context=BotContext))
        .update_queue(updates)
        .concurrent_updates(ChatOrdered(UPDATES_AT_ONCE))
        .request(
            AiohttpRequest(
                read_timeout=timeout,
                write_timeout=timeout,
                connect_timeout=timeout,
                media_write_timeout=max(timeout, 30),
            )
        )
        .get_updates_request(
            ConfirmHandled(
                AiohttpRequest(
                    connection_pool_size=1,
                    read_timeout=timeout,
                    write_timeout=timeout,
                    connect_timeout=timeout,
                ),
                updates,
            )
        )
        .post_init(on_start)
        .post_stop(on_stop)
        .build()
    )
    app.bot_data["ctx"] = ctx
    add_handlers(app)
    return app


async def on_start(app: AnyApplication) -> None:
    """Start-up: bootstrap admins and contacts, start the outbox, re-arm the alarm clock."""
    ctx: AppContext = app.bot_data["ctx"]
    ctx.bot_username = app.bot.username
    async with ctx.db.transaction() as session:
        await contacts.seed_from_policy(session=session, ctx=ctx)
        for admin_id in ctx.settings.admin_ids:
            user = await access_q.get_user(session=session, user_id=admin_id)
            if user is not None and Role.ADMIN not in user.role_names:
                await access_q.set_roles(
                    session=session, user=user, roles=[*user.role_names, Role.ADMIN]
                )
            if user is not None:
                user.status = UserStatus.ACTIVE
    # On SQLite the bot's statements run inline on the event loop (storage/db.py); the outbox's
    # stream of claims and outcomes goes through aiosqlite's thread instead, so that at a
    # paid broadcast's rate its SQL runs beside the sending rather than between the sends.
    store = Database(ctx.db.url, inline_sqlite=False) if ctx.db.is_sqlite else None
    dispatcher = Dispatcher(
        store=store,
        db=ctx.db,
        bot=app.bot,
        clock=ctx.clock,
        policy=ctx.policy.delivery,
        on_chat_problem=lambda chat_id, reason: _chat_problem(ctx, chat_id, reason),
        on_migrate=lambda session, old, new, now: chats.follow_migration(
            session=session, old_chat_id=old, new_chat_id=new, now=now
        ),
    )
    ctx.dispatcher = dispatcher
    await dispatcher.start()
    assert app.job_queue is not None
    app.job_queue.run_repeating(
        ctx.scheduler.job,
        interval=ctx.policy.scheduler_tick_seconds,
        first=0.05,
        name="scheduler",
        job_kwargs={"misfire_grace_time": None, "coalesce": True},
    )
    try:
        await set_default_commands(app)
    except TelegramError as exc:
        log.warning("could not set the command menus: %s", exc)
    log.info("incident-bot started as @%s", ctx.bot_username)


async def _chat_problem(ctx: AppContext, chat_id: int, reason: str) -> None:
    async with ctx.db.transaction() as session:
        chat = await access_q.get_chat(session=session, chat_id=chat_id)
        if chat is not None and chat.purpose:
            await chats.tell_admins(
                session=session, ctx=ctx, template="chats/bot_removed", chat=chat
            )


async def on_stop(app: AnyApplication) -> None:
    """Finish in-flight deliveries and write their outcomes."""
    ctx: AppContext = app.bot_data["ctx"]
    if ctx.dispatcher is not None:
        await ctx.dispatcher.stop()
        if ctx.dispatcher.store is not ctx.db:
            await ctx.dispatcher.store.dispose()
