"""What the bot says when nothing else understood the update."""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, MessageHandler, filters

from handlers.platform.common import BotContext, answer, reply
from messages import common
from messages import fallback as texts


async def stale_button(update: Update, context: BotContext) -> None:
    """A button nobody handles any more (an old message, or forged data)."""
    r = context.app_ctx.renderer
    await answer(update.callback_query, r.label(context.language, common.STALE_BUTTON), True)


async def not_understood(update: Update, context: BotContext) -> None:
    """A private message outside any conversation."""
    r = context.app_ctx.renderer
    await reply(update, r.label(context.language, texts.NOT_UNDERSTOOD))


def add_handlers(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Register the catch-alls; they must be added after every feature's handlers."""
    app.add_handler(CallbackQueryHandler(stale_button))
    app.add_handler(MessageHandler(filters.ChatType.PRIVATE & filters.COMMAND, not_understood))
