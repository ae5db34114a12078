"""The incident card's buttons, /incident and /special_period (R4, R5)."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup
from telegram import Update
from telegram.constants import ChatType
from telegram.error import Forbidden
from telegram.ext import Application, CommandHandler

from bot.incidents import incident_card, lifecycle, reports, routing
from bot.incidents.buttons import IncidentPress
from bot.platform.commands import CommandSpec, roles
from bot.platform.errors import ServiceError
from bot.platform.roles import Role
from handlers.platform.common import (
    BotContext,
    answer,
    command_args,
    on_button,
    reply,
    reply_parts,
)
from messages import incidents as texts
from messages.common import error_text

HANDLERS = roles(Role.DUTY, Role.TECH_CENTER, Role.LEADER)


async def card_button(update: Update, context: BotContext, press: IncidentPress) -> None:
    """Acknowledge, Take charge or Details pressed on a card, in any chat."""
    query = update.callback_query
    assert query is not None and update.effective_user is not None
    ctx = context.app_ctx
    r, language = ctx.renderer, context.language
    if press.action == "info":
        await _details_privately(update, context, press.incident_id)
        return
    service = lifecycle.acknowledge if press.action == "ack" else lifecycle.take_charge
    user_id = update.effective_user.id
    try:
        # A deadlock with a concurrent press or deadline is rolled back whole: run it again.
        await ctx.db.retrying(
            lambda session: service(
                session=session, ctx=ctx, incident_id=press.incident_id, user_id=user_id
            )
        )
    except ServiceError as exc:
        await answer(query, error_text(language, exc.key, **exc.params), alert=True)
        return
    done = texts.ACKNOWLEDGED_ALERT if press.action == "ack" else texts.TAKEN_ALERT
    await answer(query, r.label(language, done))


async def _details_privately(update: Update, context: BotContext, incident_id: int) -> None:
    ctx = context.app_ctx
    query = update.callback_query
    user = update.effective_user
    assert user is not None
    r, language = ctx.renderer, context.language
    async with ctx.db.transaction() as session:
        incident = await reports.get_incident(session=session, incident_id=incident_id)
        if incident is None:
            await answer(query, error_text(language, "incidents.not_found"), alert=True)
            return
        if not await reports.viewable(session=session, ctx=ctx, user_id=user.id, incident=incident):
            await answer(query, error_text(language, "incidents.not_allowed"), alert=True)
            return
        found = await incident_card.details(session=session, ctx=ctx, incident=incident)
        parts = _detail_parts(context, found)
    in_private = (
        update.effective_chat is not None and update.effective_chat.type == ChatType.PRIVATE
    )
    try:
        for part in parts:
            await context.bot.send_message(chat_id=user.id, text=part, parse_mode="HTML")
    except Forbidden:
        await answer(query, r.label(language, texts.START_PRIVATE_ALERT), alert=True)
        return
    await answer(query, None if in_private else r.label(language, texts.DETAILS_SENT_ALERT))


def _detail_parts(context: BotContext, found: incident_card.Details) -> list[Markup]:
    return context.app_ctx.renderer.render_parts(
        context.language,
        "incidents/detail",
        incident=found.incident,
        names=found.names,
        timeline=found.timeline,
        **found.extra,
    )


async def show_command(update: Update, context: BotContext) -> None:
    """/incident 2026-0001: one incident with its timeline."""
    ctx = context.app_ctx
    args = command_args(update)
    user = update.effective_user
    assert user is not None
    if not args:
        await reply(update, error_text(context.reply_language(update), "incidents.usage_incident"))
        return
    async with ctx.db.transaction() as session:
        incident = await reports.find(session=session, ref=args[0])
        if incident is None:
            await reply(update, error_text(context.reply_language(update), "incidents.not_found"))
            return
        if not await reports.viewable(session=session, ctx=ctx, user_id=user.id, incident=incident):
            await reply(update, error_text(context.reply_language(update), "incidents.not_allowed"))
            return
        found = await incident_card.details(session=session, ctx=ctx, incident=incident)
        parts = _detail_parts(context, found)
    await reply_parts(update, parts)


async def special_period_command(update: Update, context: BotContext) -> None:
    """/special_period on|off: leaders add the leadership chat to every level's route."""
    ctx = context.app_ctx
    args = [a.lower() for a in command_args(update)]
    user = update.effective_user
    assert user is not None
    if not args or args[0] not in ("on", "off", "开", "关"):
        async with ctx.db.transaction() as session:
            on = await routing.special_period_on(session=session)
        await reply(
            update,
            ctx.renderer.render(context.reply_language(update), "incidents/special_status", on=on),
        )
        return
    wanted = args[0] in ("on", "开")
    try:
        async with ctx.db.transaction() as session:
            await routing.set_special_period(session=session, ctx=ctx, leader_id=user.id, on=wanted)
    except ServiceError as exc:
        await reply(update, error_text(context.reply_language(update), exc.key, **exc.params))
        return
    await reply(
        update,
        ctx.renderer.render(context.reply_language(update), "incidents/special_status", on=wanted),
    )


def add_handlers(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Register the card buttons and the incident commands."""
    app.bot_data["commands"].add(
        CommandSpec("incident", texts.CMD_INCIDENT, HANDLERS, order=11),
        CommandSpec(
            "special_period", texts.CMD_SPECIAL_PERIOD, roles(Role.LEADER), order=30, group=True
        ),
    )
    app.add_handler(on_button(IncidentPress, card_button))
    app.add_handler(CommandHandler("incident", show_command))
    app.add_handler(CommandHandler("special_period", special_period_command))
