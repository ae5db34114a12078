"""Edited messages do not act: an edit is not a new command or a new answer.

python-telegram-bot's command and message handlers also take edited messages, so editing an
old `/update 2026-0001 …` would post the update again and editing an earlier answer would
become the answer to the current step. This handler runs before them and takes every edit:
at a step of a guided flow the person is told that edits are not read and is asked the
question again; anywhere else the edit is ignored.
"""

from __future__ import annotations

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ApplicationHandlerStop, MessageHandler, filters

from handlers.platform import flows
from handlers.platform.common import BotContext, reply
from messages import conversations as texts

# After the access gate (which loads the sender), before every feature's handlers.
GROUP = -1


async def on_edit(update: Update, context: BotContext) -> None:
    """Tell someone in a flow that edits are not read, and ask the step again; else ignore."""
    chat = update.effective_chat
    if (
        chat is not None
        and chat.type == ChatType.PRIVATE
        and context.gate_conversation is not None
        and context.app_ctx.flows.get(context.gate_conversation.kind) is not None
    ):
        await reply(update, context.app_ctx.renderer.label(context.language, texts.EDITS_NOT_READ))
        await flows.ask_again(update, context)
    raise ApplicationHandlerStop


def handler() -> MessageHandler[BotContext, None]:
    """The handler for every edited message or channel post."""
    return MessageHandler(filters.UpdateType.EDITED, on_edit)
