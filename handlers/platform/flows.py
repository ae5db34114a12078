"""The one handler adapter for every guided flow: Telegram in, the engine's outcomes out.

The engine (`bot/platform/flows.py`) decides; this module renders what it decided and sends
it. A flow's prompts always go to the person's private chat (a flow can start from a card's
button in a group). Answering a step folds its prompt into one line ("✔️ Where: Portal"), so a
phone never shows a wall of live buttons; a refused answer is told why, with the step's
buttons again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

from markupsafe import Markup
from telegram import InputFile, LinkPreviewOptions, Message, Update
from telegram.constants import ChatType, ParseMode
from telegram.error import BadRequest, Forbidden
from telegram.ext import Application, CommandHandler, MessageHandler, filters

from bot.platform.errors import ServiceError
from bot.platform.flows import (
    Answer,
    FileRef,
    FlowPress,
    FlowResume,
    Fold,
    Outcome,
    current,
    mark_handled,
    remember_prompt,
)
from bot.platform.keyboards import Button, Keyboard, chunked
from handlers.platform.common import BotContext, answer, markup, on_button, reply
from handlers.platform.fallback import not_understood
from messages import common
from messages import conversations as texts
from messages.common import error_text
from messages.render import as_html

log = logging.getLogger(__name__)


# ---- rendering ---------------------------------------------------------------------------------


def _text(value: Any, language: str) -> str:
    return value(language) if callable(value) else str(value)


def keyboard(context: BotContext, outcome: Outcome, language: str) -> Keyboard:
    """The buttons of the outcome's step: its options, Skip/Done, review, Back and Cancel."""
    step, flow = outcome.step, outcome.flow
    assert step is not None and flow is not None
    label = context.app_ctx.renderer.label
    env = context.app_ctx.env()
    state, run = outcome.state, outcome.run

    def press(text: str, action: str, value: str | None = None) -> Button:
        data = FlowPress(run=run, step=step.name, action=action, value=value)  # type: ignore[arg-type]
        return Button(text, data=data.pack())

    rows: Keyboard = []
    if step.options is not None:
        options: list[Button] = []
        for option in step.options(state, env):
            button = press(option.label(language), "pick", option.value)
            if option.wide:
                rows.extend(chunked(options, step.columns))
                rows.append([button])
                options = []
            else:
                options.append(button)
        rows.extend(chunked(options, step.columns))
    if step.skip is not None:
        rows.append([press(label(language, common.SKIP), "skip")])
    if step.done is not None:
        rows.append([press(label(language, common.DONE), "done")])
    if step.review:
        submit = step.submit(language) if step.submit else label(language, common.CONFIRM)
        rows.append([press(submit, "submit")])
        edits = [
            press(
                label(language, common.EDIT_FIELD, field=flow.step(name).label(language)),
                "edit",
                name,
            )
            for name in step.edits
        ]
        rows.extend(chunked(edits, 2))
    nav = []
    if step.back and outcome.can_back:
        nav.append(press(label(language, common.BACK), "back"))
    if step.cancel:
        nav.append(press(label(language, common.CANCEL), "cancel"))
    if nav:
        rows.append(nav)
    return rows


def _values(outcome: Outcome) -> dict[str, Any]:
    """What a step's templates receive: the state as `draft`, the step, and the flow's view."""
    step, flow = outcome.step, outcome.flow
    assert step is not None and flow is not None
    return {
        "draft": outcome.state,
        "step": step.name,
        "number": flow.number(step),
        "editing": outcome.editing,
        **outcome.view,
    }


def question(context: BotContext, outcome: Outcome, language: str) -> list[Markup]:
    """The step's question, rendered (split into parts when long)."""
    assert outcome.step is not None
    return context.app_ctx.renderer.render_parts(
        language, outcome.step.question, **_values(outcome)
    )


def intro(context: BotContext, outcome: Outcome, language: str) -> list[Markup]:
    """The step's introduction, sent before its question (none for most steps)."""
    assert outcome.step is not None
    if outcome.step.intro is None:
        return []
    return context.app_ctx.renderer.render_parts(language, outcome.step.intro, **_values(outcome))


def folded(context: BotContext, outcome: Outcome, fold: Fold, language: str) -> str:
    """One line standing for an answered (or left, or cancelled) prompt."""
    mark = outcome.flow.mark_for(outcome.state) if outcome.flow is not None else None
    return context.app_ctx.renderer.render(
        language,
        "conversations/folded",
        fold=fold.mark,
        field=fold.label(language),
        answer=_text(fold.answer, language) if fold.answer is not None else None,
        what=outcome.flow.name(language) if outcome.flow is not None else None,
        mark=mark(language) if mark is not None else None,
    )


# ---- sending -----------------------------------------------------------------------------------


async def _send(
    context: BotContext, user_id: int, parts: Sequence[str], rows: Keyboard | None
) -> Message | None:
    """Write to the person's private chat; the keyboard goes on the last part."""
    sent: Message | None = None
    for index, part in enumerate(parts):
        sent = await context.bot.send_message(
            chat_id=user_id,
            text=as_html(part),
            parse_mode=ParseMode.HTML,
            reply_markup=markup(rows) if index == len(parts) - 1 else None,
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        )
    return sent


async def _edit(
    context: BotContext, user_id: int, message_id: int, text: str | None, rows: Keyboard | None
) -> None:
    """Change a prompt in place (its text and buttons, or only take its buttons off)."""
    try:
        if text is None:
            await context.bot.edit_message_reply_markup(
                chat_id=user_id, message_id=message_id, reply_markup=markup(rows)
            )
        else:
            await context.bot.edit_message_text(
                chat_id=user_id,
                message_id=message_id,
                text=as_html(text),
                parse_mode=ParseMode.HTML,
                reply_markup=markup(rows),
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
    except BadRequest as exc:
        # Not modified, or too old to edit: the prompt stays as it is, which is harmless.
        log.info("could not change prompt %s: %s", message_id, exc)


async def _fold(context: BotContext, user_id: int, outcome: Outcome, language: str) -> None:
    fold = outcome.fold
    if fold is None or fold.message_id is None:
        return
    if fold.answer is None and fold.mark == "done":
        await _edit(context, user_id, fold.message_id, None, None)
        return
    await _edit(context, user_id, fold.message_id, folded(context, outcome, fold, language), None)


async def _ask(context: BotContext, user_id: int, outcome: Outcome, language: str) -> None:
    """Send the step's question with its buttons, and remember it as the live prompt."""
    before = intro(context, outcome, language)
    if before:
        await _send(context, user_id, before, None)
    sent = await _send(
        context, user_id, question(context, outcome, language), keyboard(context, outcome, language)
    )
    if sent is not None:
        async with context.app_ctx.db.transaction() as session:
            await remember_prompt(
                session=session, user_id=user_id, run=outcome.run, message_id=sent.message_id
            )


async def _say_with_buttons(
    context: BotContext, user_id: int, outcome: Outcome, text: str, language: str
) -> None:
    """Say something at the step and give its buttons again, on this new message."""
    async with context.app_ctx.db.transaction() as session:
        convo = await current(session=session, user_id=user_id)
        previous = convo.prompt_message_id if convo is not None else None
    sent = await _send(context, user_id, [text], keyboard(context, outcome, language))
    if sent is None:
        return
    async with context.app_ctx.db.transaction() as session:
        await remember_prompt(
            session=session, user_id=user_id, run=outcome.run, message_id=sent.message_id
        )
    if previous is not None and previous != sent.message_id:
        await _edit(context, user_id, previous, None, None)


async def show(
    update: Update, context: BotContext, outcome: Outcome, *, answer_query: bool = True
) -> None:
    """Render an outcome of the engine for the person who pressed or typed."""
    user = update.effective_user
    assert user is not None
    query = update.callback_query if answer_query else None
    language = context.language
    r = context.app_ctx.renderer
    kind = outcome.kind
    if kind == "stale":
        await answer(query, r.label(language, common.STALE_BUTTON), alert=True)
        return
    if kind == "rejected":
        assert outcome.error is not None
        reason = error_text(language, outcome.error.key, **outcome.error.params)
        if query is not None:
            await answer(query, reason, alert=True)
            return
        text = r.render(
            language,
            "conversations/rejected",
            reason=reason,
            question=question(context, outcome, language)[-1],
        )
        await _say_with_buttons(context, user.id, outcome, text, language)
        return
    toast = outcome.finished.toast if outcome.finished is not None else None
    await answer(query, toast(language) if toast is not None else None)
    if kind == "none":
        return
    if kind == "busy":
        flow = outcome.flow
        assert flow is not None
        rows = [
            [
                Button(
                    r.label(language, common.RESUME),
                    data=FlowResume(kind=flow.kind, action="resume").pack(),
                ),
                Button(
                    r.label(language, common.RESTART),
                    data=FlowResume(kind=flow.kind, action="restart").pack(),
                ),
            ]
        ]
        text = r.render(language, "conversations/resume", what=flow.name(language))
        await _send(context, user.id, [text], rows)
        return
    if kind == "redraw":
        message = query.message if query is not None else None
        if message is not None:
            parts = question(context, outcome, language)
            await _edit(
                context,
                user.id,
                message.message_id,
                parts[-1],
                keyboard(context, outcome, language),
            )
        return
    if kind == "noted":
        assert outcome.note is not None
        await _say_with_buttons(context, user.id, outcome, outcome.note.label(language), language)
        return
    await _fold(context, user.id, outcome, language)
    if kind == "ask":
        await _ask(context, user.id, outcome, language)
    elif kind == "cancelled" and (outcome.fold is None or outcome.fold.mark != "cancel"):
        # /cancel: the prompt only lost its buttons, so say it (a Cancel button said it there).
        what = outcome.flow.name(language) if outcome.flow is not None else None
        await _send(
            context, user.id, [r.render(language, "conversations/cancelled", what=what)], None
        )
    elif kind == "finished":
        finished = outcome.finished
        assert finished is not None
        if finished.template is not None:
            parts = r.render_parts(language, finished.template, **finished.values)
            await _send(context, user.id, parts, None)
        for filename, content, caption in finished.documents:
            await context.bot.send_document(
                chat_id=user.id,
                document=InputFile(content, filename=filename),
                caption=caption,
                parse_mode=ParseMode.HTML,
            )


# ---- entry points ------------------------------------------------------------------------------


async def start(
    update: Update, context: BotContext, kind: str, state: Any, *, replace: bool = False
) -> bool:
    """Start a flow in the sender's private chat (from a group too); False if unreachable."""
    ctx = context.app_ctx
    user = update.effective_user
    assert user is not None
    async with ctx.db.transaction() as session:
        outcome = await ctx.engine.start(
            session=session,
            env=ctx.env(),
            user_id=user.id,
            kind=kind,
            state=state,
            update_id=update.update_id,
            replace=replace,
        )
    query = update.callback_query
    chat = update.effective_chat
    in_private = chat is not None and chat.type == ChatType.PRIVATE
    r, language = ctx.renderer, context.language
    try:
        await show(update, context, outcome, answer_query=in_private)
    except Forbidden:
        # They never opened a private chat with the bot: nothing to continue in.
        async with ctx.db.transaction() as session:
            await ctx.engine.cancel(session=session, user_id=user.id)
        note = r.label(language, texts.START_PRIVATE)
        if query is not None:
            await answer(query, note, alert=True)
        else:
            await reply(update, note)
        return False
    if not in_private:
        note = r.label(language, texts.SENT_PRIVATELY)
        if query is not None:
            await answer(query, note)
        else:
            await reply(update, note)
    return True


async def on_press(update: Update, context: BotContext, press: FlowPress) -> None:
    """A button of a flow's prompt."""
    ctx = context.app_ctx
    user = update.effective_user
    assert user is not None
    try:
        async with ctx.db.transaction() as session:
            outcome = await ctx.engine.press(
                session=session,
                env=ctx.env(),
                user_id=user.id,
                press=press,
                update_id=update.update_id,
            )
    except ServiceError as exc:
        # Finishing was refused (a role taken away meanwhile...): nothing changed.
        await answer(
            update.callback_query, error_text(context.language, exc.key, **exc.params), True
        )
        return
    await show(update, context, outcome)


async def on_resume(update: Update, context: BotContext, resume: FlowResume) -> None:
    """Continue an unfinished flow, or start it over."""
    ctx = context.app_ctx
    user = update.effective_user
    assert user is not None
    if resume.action == "restart":
        flow = ctx.flows.get(resume.kind)
        if flow is None:
            await answer(
                update.callback_query,
                ctx.renderer.label(context.language, common.STALE_BUTTON),
                True,
            )
            return
        await start(update, context, flow.kind, flow.state.from_data({}), replace=True)
        return
    async with ctx.db.transaction() as session:
        outcome = await ctx.engine.again(session=session, env=ctx.env(), user_id=user.id)
    if outcome.kind == "none":
        await answer(
            update.callback_query, ctx.renderer.label(context.language, common.STALE_BUTTON), True
        )
        return
    await show(update, context, outcome)


def answer_of(update: Update) -> Answer:
    """What a message carries, as the engine reads answers."""
    message = update.effective_message
    assert message is not None
    file: FileRef | None = None
    if message.photo:
        largest = message.photo[-1]
        file = FileRef("photo", largest.file_id, largest.file_unique_id)
    elif message.document:
        document = message.document
        file = FileRef(
            "document", document.file_id, document.file_unique_id, document.file_name or ""
        )
    return Answer(
        text=message.text or message.caption or "", file=file, album=message.media_group_id
    )


async def on_message(update: Update, context: BotContext) -> bool:
    """A typed answer or a file at the current step; False when no declared flow waits."""
    ctx = context.app_ctx
    user = update.effective_user
    assert user is not None
    try:
        async with ctx.db.transaction() as session:
            outcome = await ctx.engine.answer(
                session=session,
                env=ctx.env(),
                user_id=user.id,
                answer=answer_of(update),
                update_id=update.update_id,
            )
    except ServiceError as exc:
        # Finishing was refused (a role taken away, the record gone meanwhile): nothing
        # changed, so say why and ask the step again with its buttons.
        async with ctx.db.transaction() as session:
            outcome = await ctx.engine.again(session=session, env=ctx.env(), user_id=user.id)
            await mark_handled(session=session, user_id=user.id, update_id=update.update_id)
        if outcome.kind == "none":
            await reply(update, error_text(context.language, exc.key, **exc.params))
            return True
        outcome = dataclasses.replace(outcome, kind="rejected", error=exc)
    if outcome.kind == "none":
        return False
    album = update.effective_message.media_group_id if update.effective_message else None
    if album is not None and outcome.kind == "noted":
        _note_album_later(update, context, outcome, album)
        return True
    await show(update, context, outcome)
    return True


# An album arrives as one message per photo: say "received" once, after its last photo.
ALBUM_QUIET = 0.8
_albums: dict[tuple[int, str], asyncio.Task[None]] = {}


def _note_album_later(update: Update, context: BotContext, outcome: Outcome, album: str) -> None:
    """Answer an album once: each photo puts off the note until the album has gone quiet."""
    user = update.effective_user
    assert user is not None
    key = (user.id, album)
    earlier = _albums.pop(key, None)
    if earlier is not None:
        earlier.cancel()

    async def later() -> None:
        await asyncio.sleep(ALBUM_QUIET)
        _albums.pop(key, None)
        await show(update, context, outcome)

    # PTB's own task: awaited when the bot stops, its errors go to the error handler.
    _albums[key] = context.application.create_task(later(), update=update)


async def on_cancel(update: Update, context: BotContext) -> bool:
    """/cancel of a declared flow; False when none is in progress."""
    ctx = context.app_ctx
    user = update.effective_user
    assert user is not None
    async with ctx.db.transaction() as session:
        outcome = await ctx.engine.cancel(session=session, user_id=user.id)
    if outcome.kind == "none":
        return False
    await show(update, context, outcome)
    return True


async def ask_again(update: Update, context: BotContext) -> None:
    """An update handled before a crash came again: ask the current question again."""
    ctx = context.app_ctx
    user = update.effective_user
    assert user is not None
    async with ctx.db.transaction() as session:
        outcome = await ctx.engine.again(session=session, env=ctx.env(), user_id=user.id)
        await mark_handled(session=session, user_id=user.id, update_id=update.update_id)
    await show(update, context, outcome)


# ---- the handlers ------------------------------------------------------------------------------


async def private_message(update: Update, context: BotContext) -> None:
    """A typed answer, photo or file in a private chat: to the flow waiting for it, if any."""
    if not await on_message(update, context):
        await not_understood(update, context)


async def cancel_command(update: Update, context: BotContext) -> None:
    """/cancel: end the flow in progress, or say there is nothing to cancel."""
    if not await on_cancel(update, context):
        await reply(
            update,
            context.app_ctx.renderer.render(context.language, "conversations/cancelled", what=None),
        )


async def repeated(update: Update, context: BotContext) -> None:
    """An update handled before a crash came again: ask the current question again."""
    chat = update.effective_chat
    if chat is not None and chat.type == ChatType.PRIVATE:
        await ask_again(update, context)
    else:
        await answer(update.callback_query)


def add_handlers(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """/cancel, every flow's buttons, and typed answers (after every command handler)."""
    private = filters.ChatType.PRIVATE
    app.add_handler(CommandHandler("cancel", cancel_command, filters=private))
    app.add_handler(on_button(FlowPress, on_press))
    app.add_handler(on_button(FlowResume, on_resume))
    answers = private & (filters.TEXT | filters.PHOTO | filters.Document.ALL) & ~filters.COMMAND
    app.add_handler(MessageHandler(answers, private_message))
