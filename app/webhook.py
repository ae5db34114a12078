"""Updates by webhook: an HTTP endpoint that reads nothing before the secret is checked.

python-telegram-bot's webhook server compares the secret header with `!=` and answers 403;
it is also tornado, a second HTTP stack beside the aiohttp the bot already uses. This small
aiohttp server checks Telegram's `X-Telegram-Bot-Api-Secret-Token` in constant time before
the body is read, answers 401 without it, and hands the update to the application, whose
update queue answers Telegram only once the update has been handled (app/updates.py).

The secret is its own setting (WEBHOOK_SECRET), not derived from the bot token, so either can
be rotated alone; when it is not set, one is generated and kept in the database.
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.ext import Application

from bot.platform.redaction import redact_logs
from storage import access as access_q

log = logging.getLogger(__name__)
HEADER = "X-Telegram-Bot-Api-Secret-Token"
PATH = "/telegram/webhook"
SECRET_FLAG = "webhook_secret"
# Telegram's updates are small; anything this big is not one.
MAX_BODY = 1024 * 1024


async def stored_secret(*, session: AsyncSession, now: Any) -> str:
    """The webhook secret kept in the database, made up the first time it is needed."""
    flag = await access_q.get_flag(session=session, key=SECRET_FLAG)
    if flag is not None and isinstance(flag.value.get("secret"), str):
        return str(flag.value["secret"])
    # Telegram allows 1-256 characters of A-Z, a-z, 0-9, _ and -.
    secret = secrets.token_urlsafe(48)
    await access_q.set_flag(
        session=session, key=SECRET_FLAG, value={"secret": secret}, now=now, by=None
    )
    return secret


@dataclass
class WebhookServer:
    """Takes Telegram's webhook calls on one path and queues their updates."""

    app: Application[Any, Any, Any, Any, Any, Any]
    listen: str
    port: int
    secret: str
    path: str = PATH

    def __post_init__(self) -> None:
        self._runner: web.AppRunner | None = None
        self.refused = 0

    async def start(self) -> None:
        """Listen."""
        server = web.Application(client_max_size=MAX_BODY)
        server.router.add_post(self.path, self._take)
        self._runner = web.AppRunner(server, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.listen, self.port).start()

    async def stop(self) -> None:
        """Stop listening (updates being handled finish first: their callers wait)."""
        if self._runner is not None:
            await self._runner.cleanup()

    async def _take(self, request: web.Request) -> web.Response:
        supplied = request.headers.get(HEADER, "")
        if not hmac.compare_digest(supplied.encode(), self.secret.encode()):
            self.refused += 1
            return web.Response(status=401, text="the secret token is missing or wrong")
        try:
            data = json.loads(await request.read())
            update = Update.de_json(data, self.app.bot)
        except web.HTTPRequestEntityTooLarge:
            return web.Response(status=413, text="too large for an update")
        except (ValueError, TypeError, KeyError):
            return web.Response(status=400, text="not an update")
        if update is None:
            return web.Response(status=400, text="not an update")
        await self.app.update_queue.put(update)
        return web.Response(status=200)


async def open_webhook(app: Application[Any, Any, Any, Any, Any, Any]) -> WebhookServer:
    """Listen for Telegram's calls and tell Telegram where to make them, with the secret."""
    ctx = app.bot_data["ctx"]
    settings = ctx.settings
    assert settings.webhook_url is not None
    if settings.webhook_secret is not None:
        secret = settings.webhook_secret.get_secret_value()
    else:
        async with ctx.db.transaction() as session:
            secret = await stored_secret(session=session, now=ctx.now())
    redact_logs(secret)
    server = WebhookServer(app, settings.webhook_listen, settings.webhook_port, secret)
    await server.start()
    await app.bot.set_webhook(
        url=settings.webhook_url.rstrip("/") + PATH,
        secret_token=secret,
        allowed_updates=Update.ALL_TYPES,
    )
    return server
