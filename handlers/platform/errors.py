"""The last line: log an unexpected error, then tell the person something went wrong.

A Bot API call that failed on the network after the pacer's retries is not a bug of ours:
it is logged as a warning, and the person is not sent another message through the same
failing network (the one they waited for may even have arrived). Anything else is logged
as an error with its traceback and answered in the person's own language.
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import NetworkError, TelegramError
from telegram.ext import ContextTypes

from bot.access import users
from bot.platform.context import AppContext
from handlers.platform.common import answer, answered
from messages import common
from messages.i18n import gettext_for, language_from_telegram

log = logging.getLogger(__name__)


async def _language(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str:
    """The person's language: their saved choice, else their Telegram language."""
    user = update.effective_user
    if user is None:
        return "zh_CN"
    chat = update.effective_chat
    if chat is not None and chat.type != "private":
        return "zh_CN"
    ctx = context.application.bot_data.get("ctx")
    if isinstance(ctx, AppContext):
        try:
            async with ctx.db.transaction() as session:
                saved = await users.language_of(session=session, user_id=user.id)
            if saved is not None:
                return saved
        except Exception:  # the database may be what failed: fall back to Telegram's hint
            log.warning("could not read the language of user %s", user.id, exc_info=True)
    return language_from_telegram(user.language_code)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log first, then answer the person if there is someone to answer."""
    error = context.error
    if isinstance(error, NetworkError):
        log.warning("a Bot API call failed while handling an update: %s", error)
        if isinstance(update, Update) and update.callback_query is not None:
            await answer(update.callback_query)
        return
    log.error("unhandled error while handling an update", exc_info=error)
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    text = gettext_for(await _language(update, context), common.UNKNOWN_ERROR)
    try:
        if update.callback_query is not None and not answered(update.callback_query):
            await answer(update.callback_query, text, alert=True)
        else:
            await context.bot.send_message(chat_id=update.effective_chat.id, text=text)
    except TelegramError:
        log.warning("could not tell the person about the error", exc_info=True)
