"""Handling from the card to closure: checklist, updates, level changes, the close, the end.

The card's handling buttons (in any chat) open the checklist or start a guided flow in the
presser's private chat; the flows are declared in bot/handling/flows.py and run by the one
flow adapter (R6 R7 R1 R8 R10 R12).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from telegram import InputFile, LinkPreviewOptions, Message, Update
from telegram.constants import ChatType, ParseMode
from telegram.error import BadRequest, Forbidden
from telegram.ext import Application, CommandHandler

from bot.handling import closing, playbooks, progress, report_doc
from bot.handling import flows as handling_flows
from bot.handling.buttons import HandlingPress, StepTick
from bot.incidents import reports
from bot.platform.commands import CommandSpec, roles
from bot.platform.errors import NotFound, ServiceError
from bot.platform.keyboards import Button, Keyboard
from bot.platform.roles import Role
from handlers.platform import flows
from handlers.platform.common import (
    BotContext,
    answer,
    command_args,
    command_text,
    edit_or_reply,
    markup,
    on_button,
    reply,
)
from messages import handling as texts
from messages.common import error_text
from messages.incidents import START_PRIVATE_ALERT
from messages.render import as_html

if TYPE_CHECKING:
    from storage.models import Incident

HANDLERS = roles(Role.DUTY, Role.TECH_CENTER, Role.LEADER)
# The card's buttons that start a guided flow, by the flow they start.
STARTS = {
    "upd": handling_flows.UPDATE,
    "lvl": handling_flows.RELEVEL,
    "res": handling_flows.CLOSE,
    "over": handling_flows.OVER,
}


def _in_private(update: Update) -> bool:
    return update.effective_chat is not None and update.effective_chat.type == ChatType.PRIVATE


# ---- the card's buttons ----------------------------------------------------------------------


async def card_button(update: Update, context: BotContext, press: HandlingPress) -> None:
    """A handling button on a card: the checklist, or a flow (update, level, resolve, end)."""
    try:
        if press.action == "list":
            await _open_checklist(update, context, press.incident_id)
        else:
            await _start(update, context, STARTS[press.action], press.incident_id)
    except ServiceError as exc:
        await answer(
            update.callback_query, error_text(context.language, exc.key, **exc.params), alert=True
        )


async def _start(update: Update, context: BotContext, kind: str, incident_id: int) -> None:
    """Start a handling flow in the presser's private chat, if they may start it now."""
    ctx = context.app_ctx
    user = update.effective_user
    assert user is not None
    async with ctx.db.transaction() as session:
        state = await handling_flows.begin(
            session=session, ctx=ctx, kind=kind, incident_id=incident_id, user_id=user.id
        )
    await flows.start(update, context, kind, state)


# ---- the checklist (R6) ------------------------------------------------------------------------


def _checklist_view(
    context: BotContext, incident: Incident, checklist: playbooks.Checklist
) -> tuple[Sequence[str], Keyboard]:
    r, language = context.app_ctx.renderer, context.language
    parts = r.render_parts(language, "handling/checklist", incident=incident, checklist=checklist)
    keyboard = [
        [
            Button(
                f"⬜ {item.number}. {texts.step_label(language, item.step)}",
                data=StepTick(
                    incident_id=incident.id, index=item.index, signature=item.step.signature
                ).pack(),
            )
        ]
        for item in checklist.items
        if item.tick is None
    ]
    return parts, keyboard


async def _send_privately(
    context: BotContext, user_id: int, parts: Sequence[str], keyboard: Keyboard
) -> Message:
    """The checklist in the person's private chat (Forbidden: they never started one)."""
    sent: Message | None = None
    for index, part in enumerate(parts):
        sent = await context.bot.send_message(
            chat_id=user_id,
            text=as_html(part),
            parse_mode=ParseMode.HTML,
            reply_markup=markup(keyboard) if index == len(parts) - 1 else None,
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        )
    assert sent is not None
    return sent


async def _show_checklist(
    update: Update,
    context: BotContext,
    incident: Incident,
    checklist: playbooks.Checklist,
    *,
    in_place: bool,
) -> bool:
    """Show the person's one live checklist: edited in place, or sent anew retiring the old.

    False when their private chat cannot be reached.
    """
    ctx = context.app_ctx
    user = update.effective_user
    assert user is not None
    parts, keyboard = _checklist_view(context, incident, checklist)
    live = playbooks.live_view(incident, user.id)
    query = update.callback_query
    pressed = query.message if query is not None else None
    if (
        in_place
        and pressed is not None
        and pressed.chat.id == user.id
        and live in (None, pressed.message_id)
        and len(parts) == 1
    ):
        await edit_or_reply(update, parts[0], keyboard)
        if live is None:
            async with ctx.db.transaction() as session:
                await playbooks.keep_view(
                    session=session,
                    incident_id=incident.id,
                    user_id=user.id,
                    message_id=pressed.message_id,
                )
        return True
    try:
        sent = await _send_privately(context, user.id, parts, keyboard)
    except Forbidden:
        return False
    async with ctx.db.transaction() as session:
        earlier = await playbooks.keep_view(
            session=session, incident_id=incident.id, user_id=user.id, message_id=sent.message_id
        )
    if earlier is not None:
        moved = ctx.renderer.render(context.language, "handling/checklist_moved", incident=incident)
        # Deleted, or too old to edit: then nothing is left there to drift.
        with contextlib.suppress(BadRequest):
            await context.bot.edit_message_text(
                chat_id=user.id, message_id=earlier, text=as_html(moved), parse_mode=ParseMode.HTML
            )
    return True


async def _open_checklist(update: Update, context: BotContext, incident_id: int) -> None:
    ctx = context.app_ctx
    assert update.effective_user is not None
    async with ctx.db.transaction() as session:
        incident, checklist = await playbooks.open_checklist(
            session=session, ctx=ctx, incident_id=incident_id, user_id=update.effective_user.id
        )
    shown = await _show_checklist(update, context, incident, checklist, in_place=False)
    r, language = ctx.renderer, context.language
    if not shown:
        await answer(update.callback_query, r.label(language, START_PRIVATE_ALERT), alert=True)
    elif _in_private(update):
        await answer(update.callback_query)
    else:
        await answer(update.callback_query, r.label(language, texts.SENT_PRIVATELY_ALERT))


async def tick_button(update: Update, context: BotContext, tick: StepTick) -> None:
    """A checklist step's button: tick it, and show the checklist as it now stands."""
    ctx = context.app_ctx
    assert update.effective_user is not None
    language = context.language
    try:
        async with ctx.db.transaction() as session:
            incident, checklist = await playbooks.tick(
                session=session,
                ctx=ctx,
                incident_id=tick.incident_id,
                user_id=update.effective_user.id,
                index=tick.index,
                signature=tick.signature,
            )
    except ServiceError as exc:
        await answer(update.callback_query, error_text(language, exc.key, **exc.params), True)
        return
    await answer(update.callback_query, ctx.renderer.label(language, texts.STEP_TICKED_ALERT))
    await _show_checklist(update, context, incident, checklist, in_place=True)


# ---- progress updates by command (R7) ----------------------------------------------------------


async def update_command(update: Update, context: BotContext) -> None:
    """/update 2026-0001 text: post a progress update (without text: ask for it privately)."""
    ctx = context.app_ctx
    user = update.effective_user
    assert user is not None
    language = context.reply_language(update)
    args = command_args(update)
    if not args:
        await reply(update, error_text(language, "handling.usage_update"))
        return
    text = command_text(update)[len(args[0]) :].strip()
    try:
        async with ctx.db.transaction() as session:
            found = await reports.find(session=session, ref=args[0])
        if found is None:
            raise NotFound("incidents.not_found")
        if not text:
            await _start(update, context, handling_flows.UPDATE, found.id)
            return
        async with ctx.db.transaction() as session:
            incident, count = await progress.post_update(
                session=session, ctx=ctx, incident_id=found.id, user_id=user.id, text=text
            )
    except ServiceError as exc:
        await reply(update, error_text(language, exc.key, **exc.params))
        return
    await reply(
        update,
        ctx.renderer.render(language, "handling/update_posted", incident=incident, count=count),
    )


# ---- the document again (R8) -------------------------------------------------------------------


async def report_doc_command(update: Update, context: BotContext) -> None:
    """/report_doc 2026-0001: the situation report's Word document again."""
    ctx = context.app_ctx
    user, chat = update.effective_user, update.effective_chat
    assert user is not None and chat is not None
    language = context.reply_language(update)
    args = command_args(update)
    if not args:
        await reply(update, error_text(language, "handling.usage_report_doc"))
        return
    try:
        async with ctx.db.transaction() as session:
            incident, content = await closing.document(
                session=session, ctx=ctx, user_id=user.id, ref=args[0], language=language
            )
    except ServiceError as exc:
        await reply(update, error_text(language, exc.key, **exc.params))
        return
    await context.bot.send_document(
        chat_id=chat.id,
        document=InputFile(content, filename=report_doc.filename(incident)),
        caption=ctx.renderer.render(language, "handling/document_caption", incident=incident),
        parse_mode=ParseMode.HTML,
    )


def add_handlers(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Register the card's handling buttons, the checklist's ticks and the commands."""
    app.bot_data["commands"].add(
        CommandSpec("update", texts.CMD_UPDATE, HANDLERS, order=12, group=True),
        CommandSpec("report_doc", texts.CMD_REPORT_DOC, HANDLERS, order=13, group=True),
    )
    app.add_handler(CommandHandler("update", update_command))
    app.add_handler(CommandHandler("report_doc", report_doc_command))
    app.add_handler(on_button(HandlingPress, card_button))
    app.add_handler(on_button(StepTick, tick_button))
