"""Small helpers every handler uses: the context, the viewer, replies and keyboards."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from telegram import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest
from telegram.ext import Application, CallbackContext, CallbackQueryHandler, ExtBot

from bot.access.users import Person
from bot.platform.buttons import ButtonData
from bot.platform.context import AppContext
from bot.platform.keyboards import Keyboard
from messages.common import STALE_BUTTON as STALE
from messages.i18n import language_from_telegram
from messages.render import as_html

if TYPE_CHECKING:
    from storage.models import Conversation, User

log = logging.getLogger(__name__)


class BotContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """PTB's callback context plus the user record the access gate loaded."""

    def __init__(
        self,
        application: Application[Any, Any, Any, Any, Any, Any],
        chat_id: int | None = None,
        user_id: int | None = None,
    ) -> None:
        super().__init__(application=application, chat_id=chat_id, user_id=user_id)
        self.viewer: User | None = None
        # The sender's conversation as the gate read it (when it read one), for the handler
        # that starts right after it.
        self.gate_conversation: Conversation | None = None
        self.gate_read_conversation = False
        self.language: str = "zh_CN"
        self.chat_language: str = "zh_CN"

    def reply_language(self, update: Update) -> str:
        """What to write in the chat: the user's language in private, the group's in groups."""
        chat = update.effective_chat
        return self.language if chat is None or chat.type == "private" else self.chat_language

    @property
    def app_ctx(self) -> AppContext:
        """The bot's shared services."""
        ctx = self.application.bot_data["ctx"]
        assert isinstance(ctx, AppContext)
        return ctx


def person(update: Update) -> Person:
    """The sender of an update, as the services know people."""
    user = update.effective_user
    assert user is not None
    return Person(
        id=user.id,
        name=user.full_name or user.username or str(user.id),
        username=user.username,
        language_code=user.language_code,
    )


def language_of(update: Update, viewer: User | None) -> str:
    """The language to answer in: the user's saved choice, else their Telegram language."""
    if viewer is not None:
        return viewer.language
    user = update.effective_user
    return language_from_telegram(user.language_code if user else None)


def markup(keyboard: Keyboard | None) -> InlineKeyboardMarkup | None:
    """An inline keyboard for PTB."""
    if not keyboard:
        return None
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(b.text, callback_data=b.data)
                if b.data is not None
                else InlineKeyboardButton(b.text, url=b.url)
                for b in row
            ]
            for row in keyboard
        ]
    )


async def reply(update: Update, text: str, keyboard: Keyboard | None = None) -> Message | None:
    """Answer in the chat the update came from: a rendered template, or plain text escaped."""
    chat = update.effective_chat
    if chat is None:
        return None
    bot = update.get_bot()
    return await bot.send_message(
        chat_id=chat.id,
        text=as_html(text),
        parse_mode=ParseMode.HTML,
        reply_markup=markup(keyboard),
        link_preview_options=LinkPreviewOptions(is_disabled=True),
    )


async def reply_parts(
    update: Update, parts: Sequence[str], keyboard: Keyboard | None = None
) -> None:
    """Answer with several messages (a long text split), the keyboard on the last."""
    for index, part in enumerate(parts):
        await reply(update, part, keyboard if index == len(parts) - 1 else None)


async def edit_or_reply(
    update: Update, text: str, keyboard: Keyboard | None = None
) -> Message | None:
    """Edit the message whose button was pressed, or answer anew when that fails."""
    query = update.callback_query
    if query is not None and query.message is not None:
        try:
            result = await query.edit_message_text(
                text=as_html(text),
                parse_mode=ParseMode.HTML,
                reply_markup=markup(keyboard),
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
            return result if isinstance(result, Message) else None
        except BadRequest as exc:
            if "not modified" in str(exc).lower():
                return None
            log.info("could not edit message, sending a new one: %s", exc)
    return await reply(update, text, keyboard)


# Queries answered lately: Telegram takes one answer per press, so a second is skipped.
_ANSWERED: OrderedDict[str, None] = OrderedDict()
_ANSWERED_KEPT = 10_000


def answered(query: CallbackQuery) -> bool:
    """Whether this press was answered already."""
    return query.id in _ANSWERED


async def answer(query: CallbackQuery | None, text: str | None = None, alert: bool = False) -> None:
    """Answer a button press once (the first answer is the one the person sees)."""
    if query is None or query.id in _ANSWERED:
        return
    _ANSWERED[query.id] = None
    if len(_ANSWERED) > _ANSWERED_KEPT:
        _ANSWERED.popitem(last=False)
    try:
        await query.answer(text=text[:200] if text else None, show_alert=alert)
    except BadRequest as exc:
        log.info("could not answer callback query: %s", exc)


def command_args(update: Update) -> list[str]:
    """Words after the command, as typed."""
    message = update.effective_message
    if message is None or not message.text:
        return []
    return message.text.split()[1:]


def command_text(update: Update) -> str:
    """Everything after the command word, spacing kept."""
    message = update.effective_message
    if message is None or not message.text:
        return ""
    parts = message.text.split(maxsplit=1)
    return parts[1] if len(parts) > 1 else ""


B = TypeVar("B", bound=ButtonData)


def on_button(
    kind: type[B], callback: Callable[[Update, BotContext, B], Awaitable[None]]
) -> CallbackQueryHandler[BotContext, None]:
    """A handler for one kind of button; the callback receives the parsed value."""

    async def handle(update: Update, context: BotContext) -> None:
        query = update.callback_query
        assert query is not None
        value = kind.parse(query.data)
        if value is None:
            # PTB hands a press without data to every pattern handler: refuse it politely.
            await answer(query, context.app_ctx.renderer.label(context.language, STALE), alert=True)
            return
        await callback(update, context, value)

    return CallbackQueryHandler(handle, pattern=kind.matches)
