"""Handling from the card to closure: checklist, updates, level changes, the close, the end.

Buttons on a card (in any chat) open a short guided conversation in the presser's private
chat; each step is saved before it is answered (R6 R7 R1 R8 R10 R12).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from telegram import InputFile, LinkPreviewOptions, Update
from telegram.constants import ChatType, ParseMode
from telegram.error import Forbidden
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from bot.handling import closing, playbooks, progress, report_doc
from bot.handling.closing import CloseDraft
from bot.incidents import reports
from bot.platform import conversations
from bot.platform.commands import CommandSpec, roles
from bot.platform.errors import Invalid, NotFound, ServiceError
from bot.platform.keyboards import Button, Keyboard, chunked
from bot.platform.roles import Level, Role
from bot.platform.timeparse import parse_when
from handlers.platform.common import (
    BotContext,
    answer,
    command_args,
    command_text,
    edit_or_reply,
    markup,
    reply,
    reply_parts,
)
from handlers.platform.flow import router
from messages import common
from messages import handling as texts
from messages.common import error_text, level_label
from messages.incidents import START_PRIVATE_ALERT
from messages.render import as_html

if TYPE_CHECKING:
    from storage.models import Conversation, Incident

UPDATE, RELEVEL, CLOSE, OVER = "update", "relevel", "close", "over"
KINDS = (UPDATE, RELEVEL, CLOSE, OVER)
CLOSE_STEPS = ("consequences", "process", "result", "ended", "recommendations", "review")
HANDLERS = roles(Role.DUTY, Role.TECH_CENTER, Role.LEADER)


class _StaleButton(Exception):
    pass


# ---- helpers ---------------------------------------------------------------------------------


async def _incident(context: BotContext, incident_id: int) -> Incident:
    async with context.app_ctx.db.transaction() as session:
        incident = await reports.get_incident(session=session, incident_id=incident_id)
    if incident is None:
        raise NotFound("incidents.not_found")
    return incident


async def _tell(
    update: Update, context: BotContext, parts: Sequence[str], keyboard: Keyboard | None = None
) -> bool:
    """Write to the user's private chat (wherever they pressed); False if they never started one."""
    user = update.effective_user
    assert user is not None
    try:
        for index, part in enumerate(parts):
            await context.bot.send_message(
                chat_id=user.id,
                text=as_html(part),
                parse_mode=ParseMode.HTML,
                reply_markup=markup(keyboard) if index == len(parts) - 1 else None,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
    except Forbidden:
        return False
    return True


def _in_private(update: Update) -> bool:
    return update.effective_chat is not None and update.effective_chat.type == ChatType.PRIVATE


async def _opened(update: Update, context: BotContext, sent: bool) -> None:
    """Answer the card's button once the private message is out (or could not be sent)."""
    r, language = context.app_ctx.renderer, context.language
    if update.callback_query is None:
        if not sent or not _in_private(update):
            note = texts.SENT_PRIVATELY_ALERT if sent else START_PRIVATE_ALERT
            await reply(update, r.label(context.reply_language(update), note))
    elif not sent:
        await answer(update.callback_query, r.label(language, START_PRIVATE_ALERT), alert=True)
    elif _in_private(update):
        await answer(update.callback_query)
    else:
        await answer(update.callback_query, r.label(language, texts.SENT_PRIVATELY_ALERT))


async def _save(
    context: BotContext, user_id: int, kind: str, step: str, data: dict[str, Any]
) -> None:
    ctx = context.app_ctx
    async with ctx.db.transaction() as session:
        await conversations.save(
            session=session, ctx=ctx, user_id=user_id, kind=kind, step=step, data=data
        )


async def _end(context: BotContext, user_id: int) -> None:
    async with context.app_ctx.db.transaction() as session:
        await conversations.end(session=session, user_id=user_id)


async def _flow(context: BotContext, user_id: int, incident_id: int) -> Conversation:
    """The user's handling conversation about this incident, or a stale button."""
    async with context.app_ctx.db.transaction() as session:
        convo = await conversations.current(session=session, user_id=user_id)
    if convo is None or convo.kind not in KINDS or convo.data.get("incident_id") != incident_id:
        raise _StaleButton
    return convo


def _nav(context: BotContext, incident_id: int, back_to: str | None = None) -> list[Button]:
    r, language = context.app_ctx.renderer, context.language
    buttons = []
    if back_to is not None:
        buttons.append(
            Button(r.label(language, common.BACK), data=f"hf:back:{incident_id}:{back_to}")
        )
    buttons.append(Button(r.label(language, common.CANCEL), data=f"hf:cancel:{incident_id}"))
    return buttons


# ---- the card's buttons ----------------------------------------------------------------------


async def card_button(update: Update, context: BotContext) -> None:
    """A handling button on a card: checklist, tick, update, change level, resolve, declare over."""
    query = update.callback_query
    assert query is not None and query.data is not None
    r, language = context.app_ctx.renderer, context.language
    starters = {
        "list": _open_checklist,
        "upd": _start_update,
        "lvl": _start_relevel,
        "res": _start_close,
        "over": _start_over,
    }
    parts = query.data.split(":")
    try:
        action, incident_id = parts[1], int(parts[2])
        step = (int(parts[3]), parts[4]) if action == "tick" else None
        if action != "tick" and action not in starters:
            raise ValueError(action)
    except (IndexError, ValueError):
        await answer(query, r.label(language, common.STALE_BUTTON), alert=True)
        return
    try:
        if step is not None:
            await _tick(update, context, incident_id, *step)
        else:
            await starters[action](update, context, incident_id)
    except ServiceError as exc:
        await answer(query, error_text(language, exc.key, **exc.params), alert=True)


def _checklist_view(
    context: BotContext, incident: Incident, checklist: playbooks.Checklist
) -> tuple[Sequence[str], Keyboard]:
    r, language = context.app_ctx.renderer, context.language
    parts = r.render_parts(language, "handling/checklist", incident=incident, checklist=checklist)
    keyboard = [
        [
            Button(
                texts.open_step_button(language, item.number, item.step),
                data=f"hd:tick:{incident.id}:{item.index}:{item.step.signature}",
            )
        ]
        for item in checklist.items
        if item.tick is None
    ]
    return parts, keyboard


async def _open_checklist(update: Update, context: BotContext, incident_id: int) -> None:
    ctx = context.app_ctx
    assert update.effective_user is not None
    async with ctx.db.transaction() as session:
        incident, checklist = await playbooks.open_checklist(
            session=session, ctx=ctx, incident_id=incident_id, user_id=update.effective_user.id
        )
    parts, keyboard = _checklist_view(context, incident, checklist)
    await _opened(update, context, await _tell(update, context, parts, keyboard))


async def _tick(
    update: Update, context: BotContext, incident_id: int, index: int, signature: str
) -> None:
    ctx = context.app_ctx
    assert update.effective_user is not None
    async with ctx.db.transaction() as session:
        incident, checklist = await playbooks.tick(
            session=session,
            ctx=ctx,
            incident_id=incident_id,
            user_id=update.effective_user.id,
            index=index,
            signature=signature,
        )
    await answer(
        update.callback_query, ctx.renderer.label(context.language, texts.STEP_TICKED_ALERT)
    )
    parts, keyboard = _checklist_view(context, incident, checklist)
    if _in_private(update) and len(parts) == 1:
        await edit_or_reply(update, parts[0], keyboard)
    else:
        await _tell(update, context, parts, keyboard)


# ---- progress updates (R7) -------------------------------------------------------------------


async def _start_update(update: Update, context: BotContext, incident_id: int) -> None:
    ctx = context.app_ctx
    user = update.effective_user
    assert user is not None
    async with ctx.db.transaction() as session:
        incident = await progress.may_update(
            session=session, incident_id=incident_id, user_id=user.id
        )
    await _save(context, user.id, UPDATE, "text", {"incident_id": incident.id})
    text = ctx.renderer.render(context.language, "handling/update_prompt", incident=incident)
    sent = await _tell(update, context, [text], [_nav(context, incident.id)])
    if not sent:
        await _end(context, user.id)
    await _opened(update, context, sent)


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
            await _start_update(update, context, found.id)
            return
        await _post(update, context, found.id, text, language)
    except ServiceError as exc:
        await reply(update, error_text(language, exc.key, **exc.params))


async def _post(
    update: Update, context: BotContext, incident_id: int, text: str, language: str
) -> None:
    ctx = context.app_ctx
    assert update.effective_user is not None
    async with ctx.db.transaction() as session:
        incident, count = await progress.post_update(
            session=session,
            ctx=ctx,
            incident_id=incident_id,
            user_id=update.effective_user.id,
            text=text,
        )
        await conversations.end(session=session, user_id=update.effective_user.id)
    await reply(
        update,
        ctx.renderer.render(language, "handling/update_posted", incident=incident, count=count),
    )


async def on_update_message(update: Update, context: BotContext, convo: Conversation) -> None:
    """The text of a progress update."""
    message = update.effective_message
    assert message is not None
    try:
        if not message.text:
            raise Invalid("handling.bad_update", length=0)
        await _post(update, context, int(convo.data["incident_id"]), message.text, context.language)
    except ServiceError as exc:
        await reply(update, error_text(context.language, exc.key, **exc.params))


# ---- re-levelling (R1) -----------------------------------------------------------------------


async def _start_relevel(update: Update, context: BotContext, incident_id: int) -> None:
    ctx = context.app_ctx
    user = update.effective_user
    assert user is not None
    async with ctx.db.transaction() as session:
        incident = await progress.may_relevel(
            session=session, ctx=ctx, incident_id=incident_id, user_id=user.id
        )
    await _save(context, user.id, RELEVEL, "level", {"incident_id": incident.id})
    language = context.language
    text = ctx.renderer.render(language, "handling/relevel_level", incident=incident)
    levels = [
        Button(level_label(language, lv.value), data=f"hf:lv:{incident.id}:{lv.value}")
        for lv in Level
        if lv.value != incident.level
    ]
    sent = await _tell(update, context, [text], [levels, _nav(context, incident.id)])
    if not sent:
        await _end(context, user.id)
    await _opened(update, context, sent)


async def on_relevel_message(update: Update, context: BotContext, convo: Conversation) -> None:
    """The reason for a level change (the level itself is chosen with a button)."""
    message = update.effective_message
    ctx = context.app_ctx
    assert message is not None and update.effective_user is not None
    language = context.language
    try:
        if convo.step != "reason":
            raise Invalid("report.want_button")
        async with ctx.db.transaction() as session:
            done = await progress.relevel(
                session=session,
                ctx=ctx,
                incident_id=int(convo.data["incident_id"]),
                user_id=update.effective_user.id,
                level=str(convo.data["level"]),
                reason=message.text or "",
            )
            await conversations.end(session=session, user_id=update.effective_user.id)
    except ServiceError as exc:
        await reply(update, error_text(language, exc.key, **exc.params))
        return
    added = [texts.route_target(language, d.target, d.name) for d in done.added]
    missing = [texts.route_target(language, m) for m in done.missing]
    await reply(
        update,
        ctx.renderer.render(
            language,
            "handling/relevel_done",
            incident=done.incident,
            added=added,
            missing=missing,
        ),
    )


# ---- the guided close and the situation report (R8) ------------------------------------------


def _draft(convo: Conversation) -> CloseDraft:
    return CloseDraft.from_data(convo.data)


async def _start_close(update: Update, context: BotContext, incident_id: int) -> None:
    ctx = context.app_ctx
    user = update.effective_user
    assert user is not None
    async with ctx.db.transaction() as session:
        incident = await closing.may_resolve(
            session=session, ctx=ctx, incident_id=incident_id, user_id=user.id
        )
        suggested = await closing.process_draft(session=session, ctx=ctx, incident=incident)
    draft = CloseDraft(incident_id=incident.id, suggested_process=suggested)
    await _save(context, user.id, CLOSE, "consequences", draft.to_data())
    parts, keyboard = _close_prompt(context, incident, "consequences", draft)
    sent = await _tell(update, context, parts, keyboard)
    if not sent:
        await _end(context, user.id)
    await _opened(update, context, sent)


def _close_prompt(
    context: BotContext, incident: Incident, step: str, draft: CloseDraft
) -> tuple[Sequence[str], Keyboard]:
    r, language = context.app_ctx.renderer, context.language
    label = r.label
    if step == "review":
        edits = [
            Button(
                label(language, texts.EDIT_FIELD, field=texts.close_field_label(language, f)),
                data=f"hf:edit:{incident.id}:{f}",
            )
            for f in CLOSE_STEPS[:-1]
        ]
        keyboard = [
            [Button(label(language, texts.SUBMIT), data=f"hf:submit:{incident.id}")],
            *chunked(edits, 2),
            _nav(context, incident.id),
        ]
        parts = r.render_parts(language, "handling/close_review", incident=incident, draft=draft)
        return parts, keyboard
    index = CLOSE_STEPS.index(step)
    keyboard = []
    if step == "process":
        keyboard.append([Button(label(language, texts.KEEP_TEXT), data=f"hf:keep:{incident.id}")])
    elif step == "ended":
        keyboard.append([Button(label(language, texts.END_NOW), data=f"hf:now:{incident.id}")])
    keyboard.append(_nav(context, incident.id, CLOSE_STEPS[index - 1] if index else None))
    parts = r.render_parts(
        language,
        "handling/close_step",
        incident=incident,
        field=step,
        number=index + 1,
        process=draft.process or draft.suggested_process,
    )
    return parts, keyboard


async def _close_go(
    update: Update, context: BotContext, incident: Incident, step: str, draft: CloseDraft
) -> None:
    """Save the close at a step, then ask that step's question."""
    assert update.effective_user is not None
    await _save(context, update.effective_user.id, CLOSE, step, draft.to_data())
    parts, keyboard = _close_prompt(context, incident, step, draft)
    await reply_parts(update, parts, keyboard)


def _after(step: str, draft: CloseDraft) -> str:
    if draft.editing or step == "recommendations":
        return "review"
    return CLOSE_STEPS[CLOSE_STEPS.index(step) + 1]


async def on_close_message(update: Update, context: BotContext, convo: Conversation) -> None:
    """A typed answer at the current step of the close."""
    message = update.effective_message
    ctx = context.app_ctx
    assert message is not None
    draft = _draft(convo)
    step = convo.step
    text = (message.text or "").strip()
    try:
        incident = await _incident(context, draft.incident_id)
        if step == "review":
            raise Invalid("report.want_button")
        if step == "ended":
            ended = parse_when(text, now=ctx.now(), tz=ctx.policy.tz)
            draft.ended_at = closing.check_end(ctx, incident, ended).isoformat()
        else:
            setattr(draft, step, closing.check_text(step, text))
    except ServiceError as exc:
        # Say what is expected and stay at this step.
        await reply(update, error_text(context.language, exc.key, **exc.params))
        return
    following = _after(step, draft)
    draft.editing = draft.editing and following != "review"
    await _close_go(update, context, incident, following, draft)


async def _close_button(
    update: Update, context: BotContext, action: str, incident_id: int, arg: str | None
) -> None:
    ctx = context.app_ctx
    query = update.callback_query
    assert update.effective_user is not None
    convo = await _flow(context, update.effective_user.id, incident_id)
    if convo.kind != CLOSE:
        raise _StaleButton
    draft, step = _draft(convo), convo.step
    incident = await _incident(context, incident_id)
    expected = {"keep": "process", "now": "ended", "submit": "review", "edit": "review"}
    if action in expected and expected[action] != step:
        raise _StaleButton
    if action == "back":
        if step not in CLOSE_STEPS[1:] or arg != CLOSE_STEPS[CLOSE_STEPS.index(step) - 1]:
            raise _StaleButton
        draft.editing = False
        await answer(query)
        await _close_go(update, context, incident, arg, draft)
        return
    if action == "edit":
        if arg not in CLOSE_STEPS[:-1]:
            raise _StaleButton
        draft.editing = True
        await answer(query)
        await _close_go(update, context, incident, arg, draft)
        return
    if action == "submit":
        await _submit_close(update, context, draft)
        return
    if action not in ("keep", "now"):
        raise _StaleButton
    if action == "keep":
        draft.process = closing.check_text("process", draft.suggested_process)
        value = ctx.renderer.label(context.language, texts.KEPT_PROCESS)
    else:
        draft.ended_at = ctx.now().isoformat()
        value = ctx.renderer.format_datetime(ctx.now())
    await answer(query)
    recap = ctx.renderer.render(
        context.language, "handling/close_recap", incident=incident, field=step, value=value
    )
    await edit_or_reply(update, recap)
    following = _after(step, draft)
    draft.editing = draft.editing and following != "review"
    await _close_go(update, context, incident, following, draft)


async def _submit_close(update: Update, context: BotContext, draft: CloseDraft) -> None:
    ctx = context.app_ctx
    user = update.effective_user
    assert user is not None
    language = context.language
    async with ctx.db.transaction() as session:
        done = await closing.resolve(session=session, ctx=ctx, user_id=user.id, draft=draft)
        await conversations.end(session=session, user_id=user.id)
    await answer(update.callback_query)
    review, _ = _close_prompt(context, done.incident, "review", draft)
    await edit_or_reply(update, review[-1])
    await reply(
        update,
        ctx.renderer.render(
            language, "handling/resolved_done", incident=done.incident, count=len(done.chat_ids)
        ),
    )
    if user.id not in done.chat_ids:
        await _send_document(update, context, done.incident.number, language)


# ---- the end of the emergency (R10) ----------------------------------------------------------


async def _start_over(update: Update, context: BotContext, incident_id: int) -> None:
    ctx = context.app_ctx
    user = update.effective_user
    assert user is not None
    async with ctx.db.transaction() as session:
        incident = await closing.may_declare_over(
            session=session, incident_id=incident_id, user_id=user.id
        )
    await _save(context, user.id, OVER, "note", {"incident_id": incident.id})
    text = ctx.renderer.render(context.language, "handling/over_prompt", incident=incident)
    keyboard = [
        [
            Button(
                ctx.renderer.label(context.language, texts.DECLARE_NOW), data=f"hf:go:{incident.id}"
            )
        ],
        _nav(context, incident.id),
    ]
    sent = await _tell(update, context, [text], keyboard)
    if not sent:
        await _end(context, user.id)
    await _opened(update, context, sent)


async def _declare(update: Update, context: BotContext, incident_id: int, note: str) -> None:
    ctx = context.app_ctx
    user = update.effective_user
    assert user is not None
    async with ctx.db.transaction() as session:
        incident, count = await closing.declare_over(
            session=session, ctx=ctx, incident_id=incident_id, user_id=user.id, note=note
        )
        await conversations.end(session=session, user_id=user.id)
    text = ctx.renderer.render(
        context.language, "handling/over_done", incident=incident, count=count
    )
    if update.callback_query is not None:
        await answer(update.callback_query)
        await edit_or_reply(update, text)
    else:
        await reply(update, text)


async def on_over_message(update: Update, context: BotContext, convo: Conversation) -> None:
    """The expert group's confirmation, noted as the emergency is declared over."""
    message = update.effective_message
    assert message is not None
    try:
        if not message.text:
            raise Invalid("handling.bad_text", limit=closing.NOTE_LIMIT)
        await _declare(update, context, int(convo.data["incident_id"]), message.text)
    except ServiceError as exc:
        await reply(update, error_text(context.language, exc.key, **exc.params))


# ---- buttons inside the private conversations ------------------------------------------------


async def flow_button(update: Update, context: BotContext) -> None:
    """A button of a handling conversation: level, keep, now, back, edit, submit, go, cancel."""
    query = update.callback_query
    assert query is not None and query.data is not None and update.effective_user is not None
    ctx = context.app_ctx
    r, language = ctx.renderer, context.language
    parts = query.data.split(":")
    try:
        action, incident_id = parts[1], int(parts[2])
    except (IndexError, ValueError):
        await answer(query, r.label(language, common.STALE_BUTTON), alert=True)
        return
    arg = parts[3] if len(parts) > 3 else None
    try:
        if action == "cancel":
            convo = await _flow(context, update.effective_user.id, incident_id)
            await _end(context, update.effective_user.id)
            incident = await _incident(context, incident_id)
            await answer(query)
            await edit_or_reply(
                update,
                r.render(language, "handling/flow_cancelled", incident=incident, kind=convo.kind),
            )
        elif action == "lv":
            convo = await _flow(context, update.effective_user.id, incident_id)
            if (
                convo.kind != RELEVEL
                or convo.step != "level"
                or arg not in Level.__members__.values()
            ):
                raise _StaleButton
            incident = await _incident(context, incident_id)
            await _save(
                context,
                update.effective_user.id,
                RELEVEL,
                "reason",
                {"incident_id": incident_id, "level": arg},
            )
            await answer(query)
            await edit_or_reply(
                update,
                r.render(language, "handling/relevel_reason", incident=incident, level=arg),
                [_nav(context, incident_id)],
            )
        elif action == "go":
            convo = await _flow(context, update.effective_user.id, incident_id)
            if convo.kind != OVER:
                raise _StaleButton
            await _declare(update, context, incident_id, "")
        else:
            await _close_button(update, context, action, incident_id, arg)
    except _StaleButton:
        await answer(query, r.label(language, common.STALE_BUTTON), alert=True)
    except ServiceError as exc:
        await answer(query, error_text(language, exc.key, **exc.params), alert=True)


# ---- the document again, and drills (R8 R12) -------------------------------------------------


async def _send_document(update: Update, context: BotContext, ref: str, language: str) -> None:
    ctx = context.app_ctx
    user = update.effective_user
    chat = update.effective_chat
    assert user is not None and chat is not None
    async with ctx.db.transaction() as session:
        incident, content = await closing.document(
            session=session, ctx=ctx, user_id=user.id, ref=ref, language=language
        )
    await context.bot.send_document(
        chat_id=chat.id,
        document=InputFile(content, filename=report_doc.filename(incident)),
        caption=ctx.renderer.render(language, "handling/document_caption", incident=incident),
        parse_mode=ParseMode.HTML,
    )


async def report_doc_command(update: Update, context: BotContext) -> None:
    """/report_doc 2026-0001: the situation report's Word document again."""
    language = context.reply_language(update)
    args = command_args(update)
    if not args:
        await reply(update, error_text(language, "handling.usage_report_doc"))
        return
    try:
        await _send_document(update, context, args[0], language)
    except ServiceError as exc:
        await reply(update, error_text(language, exc.key, **exc.params))


def add_handlers(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Register the card's handling buttons, the conversations and their commands."""
    app.bot_data["commands"].add(
        CommandSpec("update", texts.CMD_UPDATE, HANDLERS, order=12, group=True),
        CommandSpec("report_doc", texts.CMD_REPORT_DOC, HANDLERS, order=13, group=True),
    )
    app.add_handler(CommandHandler("update", update_command))
    app.add_handler(CommandHandler("report_doc", report_doc_command))
    app.add_handler(CallbackQueryHandler(card_button, pattern=r"^hd:"))
    app.add_handler(CallbackQueryHandler(flow_button, pattern=r"^hf:"))
    flows = router(app)
    flows.register(UPDATE, on_update_message)
    flows.register(RELEVEL, on_relevel_message)
    flows.register(CLOSE, on_close_message)
    flows.register(OVER, on_over_message)
