"""/report and /drill: start the guided report (its steps are declared in bot/incidents)."""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import Application, CommandHandler

from bot.handling.actions import DRILL_ROLES, may_start_drill
from bot.incidents.model import Draft
from bot.platform.commands import CommandSpec, roles
from bot.platform.errors import ServiceError
from handlers.platform import flows
from handlers.platform.common import BotContext, answer, reply
from messages import handling as handling_texts
from messages import report as texts
from messages.common import error_text


async def begin(update: Update, context: BotContext, draft: Draft) -> None:
    """Start a report (or a drill) in the sender's private chat, offering to resume one open."""
    chat = update.effective_chat
    if chat is None or chat.type != ChatType.PRIVATE:
        await answer(update.callback_query)
        await reply(update, error_text(context.reply_language(update), "report.private_only"))
        return
    await flows.start(update, context, "drill" if draft.is_drill else "report", draft)


async def start_command(update: Update, context: BotContext) -> None:
    """/report, or the Report button: start, or offer to resume an unfinished report."""
    await begin(update, context, Draft())


async def drill_command(update: Update, context: BotContext) -> None:
    """/drill: start a report that is a drill, marked as one everywhere it goes."""
    language = context.reply_language(update)
    try:
        may_start_drill(context.viewer)
    except ServiceError as exc:
        await reply(update, error_text(language, exc.key, **exc.params))
        return
    await begin(update, context, Draft(is_drill=True))


def add_handlers(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Register /report and /drill."""
    app.bot_data["commands"].add(
        CommandSpec("report", texts.CMD_REPORT, order=2),
        CommandSpec("cancel", texts.CMD_CANCEL, order=3),
        CommandSpec("drill", handling_texts.CMD_DRILL, roles(*DRILL_ROLES), order=20),
    )
    app.add_handler(CommandHandler("report", start_command))
    app.add_handler(CommandHandler("drill", drill_command))
