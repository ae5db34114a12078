"""/warn, /warnings and /lift, and a red warning's Approve and Reject (R9).

Composing and lifting are flows declared in `bot/warnings/flows.py`; the flow adapter runs
them. This module only starts them and answers the approval card's buttons.
"""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import Application, CommandHandler

from bot.access.permissions import has_any_role
from bot.platform.commands import CommandSpec, roles
from bot.platform.errors import ServiceError
from bot.platform.roles import Role
from bot.warnings import early_warning
from bot.warnings.buttons import WarningDecision
from bot.warnings.early_warning import WarningDraft
from bot.warnings.flows import KIND, LIFT_KIND, LiftDraft
from handlers.platform import flows
from handlers.platform.common import BotContext, answer, command_args, on_button, reply
from messages import warnings as texts
from messages.common import error_text

COMPOSERS = roles(Role.TECH_CENTER, Role.LEADER)


def _in_private(update: Update) -> bool:
    chat = update.effective_chat
    return chat is not None and chat.type == ChatType.PRIVATE


async def warn_command(update: Update, context: BotContext) -> None:
    """/warn: start composing an early warning (tech center and leaders, private chat)."""
    ctx = context.app_ctx
    language = context.reply_language(update)
    if not _in_private(update):
        await reply(update, error_text(language, "warnings.private_only"))
        return
    assert update.effective_user is not None
    try:
        async with ctx.db.transaction() as session:
            sender = await early_warning.require_composer(
                session=session, user_id=update.effective_user.id
            )
    except ServiceError as exc:
        await reply(update, error_text(language, exc.key, **exc.params))
        return
    draft = WarningDraft(sender=sender.name, sender_role=early_warning.role_used(sender).value)
    await flows.start(update, context, KIND, draft)


async def decide(update: Update, context: BotContext, decision: WarningDecision) -> None:
    """Approve or Reject pressed on a red warning's card."""
    ctx = context.app_ctx
    query = update.callback_query
    user = update.effective_user
    assert query is not None and user is not None
    r, language = ctx.renderer, context.language
    approve = decision.decision == "ok"
    try:
        async with ctx.db.transaction() as session:
            await early_warning.decide(
                session=session,
                ctx=ctx,
                warning_id=decision.warning_id,
                leader_id=user.id,
                approve=approve,
            )
    except ServiceError as exc:
        await answer(query, error_text(language, exc.key, **exc.params), alert=True)
        return
    await answer(
        query, r.label(language, texts.APPROVED_ALERT if approve else texts.REJECTED_ALERT)
    )


async def warnings_command(update: Update, context: BotContext) -> None:
    """/warnings: the warnings in force, with delivery figures for those who publish them."""
    ctx = context.app_ctx
    language = context.reply_language(update)
    async with ctx.db.transaction() as session:
        items = await early_warning.active(session=session)
    parts = ctx.renderer.render_parts(
        language,
        "warnings/list",
        items=items,
        now=ctx.now(),
        figures=has_any_role(context.viewer, COMPOSERS),
    )
    for part in parts:
        await reply(update, part)


async def lift_command(update: Update, context: BotContext) -> None:
    """/lift <number>: ask for a closing note, then lift the warning."""
    ctx = context.app_ctx
    language = context.reply_language(update)
    if not _in_private(update):
        await reply(update, error_text(language, "warnings.private_only"))
        return
    assert update.effective_user is not None
    args = command_args(update)
    raw = args[0].lstrip("#") if args else ""
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        await reply(update, error_text(language, "warnings.usage_lift"))
        return
    try:
        async with ctx.db.transaction() as session:
            warning = await early_warning.lift_target(
                session=session, warning_id=int(raw), user_id=update.effective_user.id
            )
    except ServiceError as exc:
        await reply(update, error_text(language, exc.key, **exc.params))
        return
    draft = LiftDraft(warning_id=warning.id, level=warning.level, title=warning.title)
    await flows.start(update, context, LIFT_KIND, draft)


def add_handlers(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Register the warning commands and the approval card's buttons."""
    app.bot_data["commands"].add(
        CommandSpec("warn", texts.CMD_WARN, COMPOSERS, order=20),
        CommandSpec("warnings", texts.CMD_WARNINGS, order=21, group=True),
        CommandSpec("lift", texts.CMD_LIFT, COMPOSERS, order=22),
    )
    app.add_handler(CommandHandler("warn", warn_command))
    app.add_handler(CommandHandler("warnings", warnings_command))
    app.add_handler(CommandHandler("lift", lift_command))
    app.add_handler(on_button(WarningDecision, decide))
