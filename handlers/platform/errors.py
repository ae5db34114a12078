"""The last line: log an unexpected error, then tell the user something went wrong."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from handlers.platform.common import answer, answered
from messages import common
from messages.i18n import gettext_for

log = logging.getLogger(__name__)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log first, then answer the user if there is someone to answer."""
    log.error("unhandled error while handling an update", exc_info=context.error)
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    language = getattr(context, "language", "zh_CN")
    text = gettext_for(language, common.UNKNOWN_ERROR)
    try:
        if update.callback_query is not None and not answered(update.callback_query):
            await answer(update.callback_query, text, alert=True)
        else:
            await context.bot.send_message(chat_id=update.effective_chat.id, text=text)
    except TelegramError:
        log.warning("could not tell the user about the error", exc_info=True)
