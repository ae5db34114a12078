"""Builds the telegram.ext.Application: handlers, start-up work, the outbox and the alarm clock."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from typing import Any

from telegram import Bot
from telegram.error import TelegramError
from telegram.ext import Application, ContextTypes

from app.updates import ChatOrdered, ConfirmHandled, HandledUpdates, Progress
from bot.access import chats, contacts
from bot.access import feature as access
from bot.handling import feature as handling
from bot.incidents import feature as incidents
from bot.patrols import feature as patrols
from bot.platform import conversations
from bot.platform.clock import Clock, OffsetFileClock, SystemClock
from bot.platform.commands import CommandRegistry
from bot.platform.config import Policy, Settings
from bot.platform.context import AppContext
from bot.platform.features import Features
from bot.platform.outbox import Dispatcher
from bot.platform.ratelimit import INTERACTIVE, Pacing
from bot.platform.roles import Role, UserStatus
from bot.platform.scheduler import Scheduler
from bot.platform.transport import AiohttpRequest, PacedRequest
from bot.records import feature as records
from bot.warnings import feature as warnings
from handlers import handling as handling_handlers
from handlers import patrols as patrol_handlers
from handlers import records as records_handlers
from handlers import warnings as warning_handlers
from handlers.access import chats as chat_handlers
from handlers.access import contacts as contact_handlers
from handlers.access import users as access_handlers
from handlers.incidents import card as card_handlers
from handlers.incidents import report as report_handlers
from handlers.platform import errors, fallback, flows
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


class _Application(Application[Any, Any, Any, Any, Any, Any]):
    """PTB's Application, with an alarm clock that takes no new tick once stopping begins."""

    async def stop(self) -> None:
        """Pause the scheduler job, then stop as PTB does (it waits for a running tick)."""
        # Otherwise a tick can start between JobQueue.stop() waiting for the running jobs and
        # shutting APScheduler down, which cancels it and logs the cancellation as an error.
        if self.job_queue is not None and self.job_queue.scheduler.running:
            self.job_queue.scheduler.pause()
        await super().stop()


Install = Callable[[Features[AppContext], AppContext], None]

# Every feature and what it contributes to the others and to the scheduler, installed in this
# order (the order of the card's buttons and lines). Each is `bot/<concept>/feature.py`.
FEATURES: dict[str, Install] = {
    "access": access.install,
    "incidents": incidents.install,
    "handling": handling.install,
    "patrols": patrols.install,
    "warnings": warnings.install,
    "records": records.install,
}


def build_context(
    settings: Settings,
    policy: Policy,
    *,
    clock: Clock | None = None,
    db: Database | None = None,
    features: Collection[str] | None = None,
) -> AppContext:
    """Create the shared services (nothing connects yet), with every feature or those named."""
    chosen = list(FEATURES) if features is None else [*features]
    unknown = sorted(set(chosen) - set(FEATURES))
    if unknown:
        raise ValueError(f"unknown features: {', '.join(unknown)}")
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
        scheduler=Scheduler(
            db=database, clock=clock, on_failing=lambda what, n: _deadline_failing(ctx, what, n)
        ),
        pacing=Pacing.of(
            rate=policy.delivery.global_rate,
            private_per_second=policy.delivery.private_chat_per_second,
            group_per_minute=policy.delivery.group_per_minute,
        ),
    )
    ctx.scheduler.add_sweeper("conversations", lambda: conversations.sweep(ctx))
    for name, install in FEATURES.items():
        if name in chosen:
            install(ctx.features, ctx)
            ctx.features.installed.append(name)
    return ctx


async def _deadline_failing(ctx: AppContext, what: str, failures: int) -> None:
    async with ctx.db.transaction() as session:
        await chats.tell_admins(
            session=session, ctx=ctx, template="platform/deadline_failing", what=what, n=failures
        )


def build_application(ctx: AppContext) -> AnyApplication:
    """The PTB application wired to the shared services."""
    timeout = ctx.policy.delivery.request_timeout_seconds
    polling = ctx.settings.webhook_url is None
    updates = HandledUpdates(wait_in_put=not polling)
    progress = Progress()
    app = (
        Application.builder()
        .application_class(_Application)
        .token(ctx.settings.token)
        .base_url(ctx.settings.telegram_api_base_url)
        .base_file_url(ctx.settings.file_base_url)
        .context_types(ContextTypes(context=BotContext))
        .update_queue(updates)
        .concurrent_updates(ChatOrdered(UPDATES_AT_ONCE, progress))
        # Every call the handlers make waits its turn in the pacer the outbox uses, ahead
        # of broadcasts, and 429s are waited out there (bot/platform/transport.py).
        .request(PacedRequest(_client(ctx), ctx.pacing, priority=INTERACTIVE))
        .get_updates_request(
            ConfirmHandled(
                AiohttpRequest(
                    connection_pool_size=1,
                    read_timeout=timeout,
                    write_timeout=timeout,
                    connect_timeout=timeout,
                ),
                progress,
            )
        )
        .post_init(on_start)
        .post_stop(on_stop)
        .build()
    )
    app.bot_data["ctx"] = ctx
    add_handlers(app)
    return app


# Every concept's handlers, in the order they are tried; the flows' typed answers and the
# catch-alls come after all of them.
HANDLERS = (
    access_handlers,
    chat_handlers,
    contact_handlers,
    report_handlers,
    card_handlers,
    handling_handlers,
    patrol_handlers,
    warning_handlers,
    records_handlers,
)


def add_handlers(app: AnyApplication) -> None:
    """Register every handler: the access gate first, the catch-alls last."""
    app.bot_data.setdefault("commands", CommandRegistry())
    for concept in HANDLERS:
        concept.add_handlers(app)
    flows.add_handlers(app)
    fallback.add_handlers(app)
    app.add_error_handler(errors.on_error)


def _client(ctx: AppContext) -> AiohttpRequest:
    timeout = ctx.policy.delivery.request_timeout_seconds
    return AiohttpRequest(
        read_timeout=timeout,
        write_timeout=timeout,
        connect_timeout=timeout,
        media_write_timeout=max(timeout, 30),
    )


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
    # The outbox paces its own sends (each row at its priority) in the same pacer, so it
    # talks to Telegram through a client of its own that does not pace again.
    outbox_bot = Bot(
        ctx.settings.token,
        base_url=ctx.settings.telegram_api_base_url,
        base_file_url=ctx.settings.file_base_url,
        request=_client(ctx),
    )
    await outbox_bot.initialize()
    dispatcher = Dispatcher(
        store=store,
        db=ctx.db,
        bot=outbox_bot,
        pacing=ctx.pacing,
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
        await ctx.dispatcher.bot.shutdown()
        if ctx.dispatcher.store is not ctx.db:
            await ctx.dispatcher.store.dispose()
