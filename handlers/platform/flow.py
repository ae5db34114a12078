"""Routes private messages to the user's active guided conversation, if any."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import Application, CommandHandler, MessageHandler, filters

from bot.platform import conversations
from bot.platform.flows import FlowPress, FlowResume
from handlers.platform import flows
from handlers.platform.common import BotContext, answer, on_button, reply
from handlers.platform.fallback import not_understood
from messages.conversations import kind_label

if TYPE_CHECKING:
    from storage.models import Conversation

FlowStep = Callable[[Update, BotContext, "Conversation"], Awaitable[None]]
CancelHook = Callable[[Update, BotContext, "Conversation"], Awaitable[None]]


class FlowRouter:
    """Which handler takes a typed answer for each conversation kind."""

    def __init__(self) -> None:
        self.on_message: dict[str, FlowStep] = {}
        self.on_cancel: dict[str, CancelHook] = {}
        self.on_repeat: dict[str, FlowStep] = {}

    def register(
        self,
        kind: str,
        on_message: FlowStep,
        on_cancel: CancelHook | None = None,
        on_repeat: FlowStep | None = None,
    ) -> None:
        """Send a kind's typed answers (text, photos, files) to `on_message`.

        `on_repeat` asks the current step's question again (the bot died before asking it).
        """
        self.on_message[kind] = on_message
        if on_cancel is not None:
            self.on_cancel[kind] = on_cancel
        if on_repeat is not None:
            self.on_repeat[kind] = on_repeat


def router(app: Application[Any, Any, Any, Any, Any, Any]) -> FlowRouter:
    """The application's flow router."""
    found = app.bot_data.get("flows")
    assert isinstance(found, FlowRouter)
    return found


async def load(context: BotContext, user_id: int) -> Conversation | None:
    """The user's conversation, read fresh."""
    ctx = context.app_ctx
    async with ctx.db.transaction() as session:
        return await conversations.current(session=session, user_id=user_id)


async def private_message(update: Update, context: BotContext) -> None:
    """Hand a typed answer to the conversation waiting for it."""
    user = update.effective_user
    assert user is not None
    if await flows.on_message(update, context):
        return
    convo = await load(context, user.id)
    handler = router(context.application).on_message.get(convo.kind) if convo else None
    if convo is None or handler is None:
        await not_understood(update, context)
        return
    await handler(update, context, convo)
    ctx = context.app_ctx
    async with ctx.db.transaction() as session:
        await conversations.mark_handled(
            session=session, user_id=user.id, update_id=update.update_id
        )


async def ask_again(update: Update, context: BotContext, convo: Conversation) -> None:
    """An update handled before a crash came again: answer it, and ask the current question."""
    ctx = context.app_ctx
    chat = update.effective_chat
    if ctx.flows.get(convo.kind) is not None:
        if chat is not None and chat.type == ChatType.PRIVATE:
            await flows.ask_again(update, context)
        elif update.callback_query is not None:
            await answer(update.callback_query)
        return
    if update.callback_query is not None:
        await answer(update.callback_query)
    if chat is None or chat.type != ChatType.PRIVATE:
        return
    repeat = router(context.application).on_repeat.get(convo.kind)
    if repeat is not None:
        await repeat(update, context, convo)
        return
    await reply(
        update,
        ctx.renderer.render(
            context.language,
            "conversations/reminder",
            kind=convo.kind,
            step=convo.step,
            minutes=int(ctx.policy.drafts.expire_after_minutes),
        ),
    )


async def cancel(update: Update, context: BotContext) -> None:
    """/cancel: drop the conversation in progress."""
    ctx = context.app_ctx
    user = update.effective_user
    assert user is not None
    if await flows.on_cancel(update, context):
        return
    convo = await load(context, user.id)
    if convo is not None:
        hook = router(context.application).on_cancel.get(convo.kind)
        if hook is not None:
            await hook(update, context, convo)
        async with ctx.db.transaction() as session:
            await conversations.end(session=session, user_id=user.id)
    await reply(
        update,
        ctx.renderer.render(
            context.language,
            "conversations/cancelled",
            what=kind_label(context.language, convo.kind) if convo else None,
        ),
    )


def add_handlers(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Register /cancel and the conversation router (after every command handler)."""
    private = filters.ChatType.PRIVATE
    app.add_handler(CommandHandler("cancel", cancel, filters=private))
    app.add_handler(on_button(FlowPress, flows.on_press))
    app.add_handler(on_button(FlowResume, flows.on_resume))
    answers = private & (filters.TEXT | filters.PHOTO | filters.Document.ALL) & ~filters.COMMAND
    app.add_handler(MessageHandler(answers, private_message))
