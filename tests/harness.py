"""The real bot, in-process, talking over HTTP to the emulator: the journey tests' stage."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update

from app.build import (
    AnyApplication,
    build_application,
    build_context,
    on_start,
    on_stop,
)
from app.webhook import WebhookServer, open_webhook
from bot.platform.clock import ShiftedClock
from bot.platform.config import Policy, Settings
from bot.platform.context import AppContext
from emulator.core import Emulator, FloodLimits
from emulator.models import User as EmulatorUser
from emulator.server import EmulatorServer
from emulator.testing import TelegramWorld, UserHandle
from storage import access as access_q
from storage.db import Database

TOKEN = "5123456789:AAHtestTokenForIncidentBotJourneys0"
BOT_USERNAME = "incident_test_bot"
# The stage's emulator refuses sends over the flood limits of the policy the bot runs with,
# as Telegram refuses sends over its own: the bot's pacer and "Telegram" agree on the numbers,
# so a 429 means the bot sent something its pacer did not pace.
# INCIDENT_BOT_TEST_FLOOD_LIMITS=0 switches them off (to compare a failure without them).
STAGE_FLOOD_LIMITS = os.environ.get("INCIDENT_BOT_TEST_FLOOD_LIMITS", "1") != "0"


def fast_policy(**overrides: Any) -> Policy:
    """The default policy with limits and ticks that keep tests quick."""
    data: dict[str, Any] = {
        "scheduler_tick_seconds": 0.05,
        "delivery": {
            "messages_per_second": 500,
            "private_chat_per_second": 200,
            "group_per_minute": 100000,
            "workers": 8,
            "request_timeout_seconds": 3,
        },
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return Policy.model_validate(data)


def flood_limits(policy: Policy) -> FloodLimits:
    """The emulator's flood limits at the numbers the bot's pacer keeps to under `policy`."""
    delivery = policy.delivery
    return FloodLimits(
        per_second=delivery.messages_per_second,
        per_chat_per_second=delivery.private_chat_per_second,
        per_group_per_minute=delivery.group_per_minute,
        paid_per_second=delivery.paid_messages_per_second,
    )


@dataclass
class Bot:
    """A running bot and the handles a test needs."""

    ctx: AppContext
    app: AnyApplication
    clock: ShiftedClock
    webhook: WebhookServer | None = None

    async def tick(self) -> None:
        """Fire everything due now (the alarm clock does this by itself, too)."""
        await self.ctx.scheduler.tick()

    async def advance(self, **delta: float) -> None:
        """Move the bot's clock forward and fire what became due."""
        self.clock.advance(timedelta(**delta))
        await self.tick()

    async def drain(self) -> None:
        """Wait until every queued notification has been delivered."""
        assert self.ctx.dispatcher is not None
        await self.ctx.dispatcher.drain()


@dataclass
class Stage:
    """The emulator, its world of users and groups, and the bots started on it."""

    emulator: Emulator
    server: EmulatorServer
    tg: TelegramWorld
    database_url: str
    tmp_path: Path
    bots: list[Bot] = field(default_factory=list)
    flood_limits: bool = STAGE_FLOOD_LIMITS
    _probe: UserHandle | None = None

    async def settle(self) -> None:
        """Wait until the bot has handled every update sent so far.

        Updates from different chats are handled at once, and the bot confirms an update to
        Telegram only once it and every update before it has been handled. So once a probe's
        message is confirmed, everything sent before it was handled.
        """
        if self._probe is None:
            self._probe = self.tg.user("Probe", lang="en")
        await self._probe.send("ping")
        probe_update = self.tg.bot.next_update_id - 1
        await self.wait_confirmed(probe_update)

    async def wait_confirmed(self, update_id: int, timeout: float = 10) -> None:  # noqa: ASYNC109
        """Wait until the bot has confirmed an update (asked for the ones after it)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        pending = self.tg.bot.updates
        while pending and pending[0]["update_id"] <= update_id:
            signal = self.tg.bot.update_signal
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"the bot did not confirm update {update_id} in {timeout}s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(signal.wait(), remaining)

    def settings(self, admins: list[UserHandle], config: Path | None = None) -> Settings:
        """Settings pointing a bot at this emulator and this test's database."""
        return Settings(
            telegram_bot_token=SecretStr(TOKEN),
            telegram_api_base_url=self.server.base_url,
            database_url=self.database_url,
            admin_ids=[a.id for a in admins],
            incident_bot_config=config or self.tmp_path / "absent.toml",
        )

    async def start_bot(
        self,
        *,
        admins: list[UserHandle],
        policy: Policy | None = None,
        webhook_port: int | None = None,
        clock: ShiftedClock | None = None,
    ) -> Bot:
        """Build the real application and start it polling the emulator (or on a webhook)."""
        clock = clock or ShiftedClock()
        policy = policy or fast_policy()
        self.match_limits(policy)
        settings = self.settings(admins)
        if webhook_port is not None:
            settings = settings.model_copy(
                update={
                    "webhook_url": f"http://127.0.0.1:{webhook_port}",
                    "webhook_listen": "127.0.0.1",
                    "webhook_port": webhook_port,
                }
            )
        ctx = build_context(settings, policy, clock=clock, db=Database(self.database_url))
        app = build_application(ctx)
        await app.initialize()
        await on_start(app)
        await app.start()
        assert app.updater is not None
        webhook = None
        if webhook_port is not None:
            webhook = await open_webhook(app)
        else:
            await app.updater.start_polling(
                poll_interval=0, timeout=5, allowed_updates=Update.ALL_TYPES
            )
        bot = Bot(ctx=ctx, app=app, clock=clock, webhook=webhook)
        self.bots.append(bot)
        return bot

    def match_limits(self, policy: Policy) -> None:
        """Make the emulator's flood limits those of the policy a bot starts with."""
        if not self.flood_limits:
            return
        wanted = flood_limits(policy)
        current = self.emulator.limits
        if current is None or current.to_dict() != wanted.to_dict():
            self.emulator.limits = wanted

    async def stop_bot(self, bot: Bot) -> None:
        """Stop polling, finish deliveries, close the database."""
        app = bot.app
        if bot.webhook is not None:
            await bot.webhook.stop()
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        # Remove the alarm clock first: a tick the JobQueue started while stopping would be
        # cancelled before it runs, and APScheduler logs that as an error.
        if app.job_queue is not None:
            for job in app.job_queue.jobs():
                job.schedule_removal()
        if app.running:
            await app.stop()
        await on_stop(app)
        await app.shutdown()
        await bot.ctx.db.dispose()
        self.bots.remove(bot)


async def open_stage(
    database_url: str, tmp_path: Path, *, limits: bool = STAGE_FLOOD_LIMITS
) -> AsyncIterator[Stage]:
    """An emulator on a free port, yielded as a stage; everything stops afterwards.

    With `limits` the emulator refuses sends over the flood limits of `fast_policy()` (and of
    the policy each bot starts with); without, it answers every send however fast.
    """
    emulator = Emulator(
        bot_username=BOT_USERNAME, limits=flood_limits(fast_policy()) if limits else None
    )
    server = EmulatorServer(emulator, host="127.0.0.1", port=0)
    await server.start()
    tg = TelegramWorld(emulator, TOKEN, bot_username=BOT_USERNAME)
    stage = Stage(
        emulator=emulator,
        server=server,
        tg=tg,
        database_url=database_url,
        tmp_path=tmp_path,
        flood_limits=limits,
    )
    try:
        yield stage
    finally:
        for bot in list(stage.bots):
            await stage.stop_bot(bot)
        await server.stop()


# Refusals a correct bot still meets: editing to identical content, or a group that moved.
HARMLESS_REFUSALS = ("message is not modified", "upgraded to a supergroup")
# A bot killed while handling an update gets it again after the restart; if it had answered
# the button press already, Telegram refuses the second answer, and the bot shrugs it off.
REDELIVERY_REFUSALS = ("query is too old",)


def bad_requests(emulator: Emulator, *, redelivered: bool = False) -> list[str]:
    """Requests the emulator refused as malformed (400), which a correct bot never makes."""
    harmless = HARMLESS_REFUSALS + (REDELIVERY_REFUSALS if redelivered else ())
    found = []
    for record in emulator.log.records:
        if record.outcome != "error" or record.status != 400:
            continue
        if any(text in (record.error or "") for text in harmless):
            continue
        found.append(f"{record.method}: {record.error}")
    return found


def flood_refusals(emulator: Emulator) -> list[str]:
    """Sends the emulator refused for going over a flood limit (not injected 429 faults)."""
    return [
        f"{record.method} to {record.chat_id}: {record.error}"
        for record in emulator.log.records
        if record.outcome == "error" and record.status == 429
    ]


async def enrol(
    session: AsyncSession,
    emulator: Emulator,
    people: list[EmulatorUser],
    *,
    roles: list[str],
) -> None:
    """Approved users who have started the bot, written straight to the database (no chat)."""
    now = datetime.now(UTC)
    for person in people:
        emulator.private_chat(person).started = True
        user = await access_q.add_user(
            session=session,
            user_id=person.id,
            name=person.full_name,
            username=None,
            language="zh_CN" if (person.language_code or "").startswith("zh") else "en",
            status="active",
            now=now,
        )
        await access_q.set_roles(session=session, user=user, roles=roles)
