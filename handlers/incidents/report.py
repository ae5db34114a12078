"""The guided incident report in a private chat (R3, R1): one step at a time, saved each step."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup
from telegram import Update
from telegram.constants import ChatType
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from bot.incidents import reports
from bot.incidents.model import SUBTYPES, Category, Draft
from bot.incidents.sources import parse_source
from bot.platform import conversations
from bot.platform.errors import Invalid, ServiceError
from bot.platform.keyboards import Button, Keyboard, chunked
from bot.platform.roles import Level
from bot.platform.timeparse import parse_when
from handlers.platform.common import BotContext, answer, edit_or_reply, reply
from handlers.platform.flow import router
from messages import common
from messages import report as texts
from messages.common import error_text, level_label, purpose_label
from messages.incidents import DRILL_MARK, category_label
from storage.models import Conversation

KINDS = ("report", "drill")
STEPS = ("category", "subtype", "level", "when", "where", "what", "source", "files", "review")
STEP_NUMBER = {
    "category": 1,
    "subtype": 1,
    "level": 2,
    "when": 3,
    "where": 4,
    "what": 5,
    "source": 6,
    "files": 7,
    "review": 8,
}
# Which step each review Edit button returns to.
FIELD_STEP = {
    "category": "category",
    "level": "level",
    "when": "when",
    "where": "where",
    "what": "what",
    "source": "source",
    "files": "files",
}
MAX_FILES = 10


def _kind(draft: Draft) -> str:
    return "drill" if draft.is_drill else "report"


def _next_step(step: str, draft: Draft, editing: bool) -> str:
    """The step after `step`; when editing from the review, straight back to it."""
    if step == "category" and draft.category in SUBTYPES:
        return "subtype"
    if editing:
        return "review"
    order = [s for s in STEPS if s != "subtype"]
    if step == "subtype":
        return "level"
    return order[order.index(step) + 1]


def _previous_step(step: str, draft: Draft) -> str | None:
    if step == "category":
        return None
    if step == "level":
        return "subtype" if draft.category in SUBTYPES else "category"
    if step == "subtype":
        return "category"
    order = [s for s in STEPS if s != "subtype"]
    return order[order.index(step) - 1]


def _nav(context: BotContext, step: str) -> list[Button]:
    r, language = context.app_ctx.renderer, context.language
    buttons = []
    if step != "category":
        buttons.append(Button(r.label(language, common.BACK), data=f"rep:back:{step}"))
    buttons.append(Button(r.label(language, common.CANCEL), data="rep:cancel"))
    return buttons


def _when_text(context: BotContext, draft: Draft) -> str:
    r = context.app_ctx.renderer
    occurred = draft.occurred
    if occurred is None:
        return ""
    moment = r.format_datetime(occurred)
    if draft.precision in texts.PRECISION:
        return f"{r.label(context.language, texts.PRECISION[draft.precision])} {moment}"
    return moment


def prompt(context: BotContext, step: str, draft: Draft) -> tuple[str, Keyboard]:
    """The question and buttons of a step."""
    r, language = context.app_ctx.renderer, context.language
    label = r.label
    number = STEP_NUMBER[step]
    keyboard: Keyboard = []
    if step == "category":
        keyboard = chunked(
            [
                Button(category_label(language, c.value), data=f"rep:cat:{c.value}")
                for c in Category
            ],
            2,
        )
    elif step == "subtype":
        keyboard = [
            [Button(category_label(language, draft.category or "", s), data=f"rep:sub:{s}")]
            for s in SUBTYPES.get(draft.category or "", ())
        ]
    elif step == "level":
        icons = {"large": "🔴", "medium": "🟠", "small": "🟡"}
        keyboard = [
            [
                Button(
                    f"{icons[lv.value]} {level_label(language, lv.value)}",
                    data=f"rep:lvl:{lv.value}",
                )
                for lv in Level
            ]
        ]
    elif step == "when":
        keyboard = [
            [Button(label(language, texts.WHEN_NOW), data="rep:when:now")],
            [
                Button(label(language, texts.WHEN_HOUR), data="rep:when:hour"),
                Button(label(language, texts.WHEN_TODAY), data="rep:when:today"),
            ],
        ]
    elif step == "source":
        keyboard = [[Button(label(language, common.SKIP), data="rep:skip")]]
    elif step == "files":
        keyboard = [[Button(label(language, common.DONE), data="rep:done")]]
    elif step == "review":
        edits = [
            Button(
                label(language, texts.EDIT_FIELD, field=label(language, texts.FIELDS[field])),
                data=f"rep:edit:{field}",
            )
            for field in FIELD_STEP
        ]
        keyboard = [[Button(label(language, texts.SUBMIT), data="rep:submit")], *chunked(edits, 2)]
        text = r.render(language, "report/review", draft=draft, when=_when_text(context, draft))
        return text, [*keyboard, [Button(label(language, common.CANCEL), data="rep:cancel")]]
    text = r.render(language, f"report/{step}", draft=draft, number=number)
    return text, [*keyboard, _nav(context, step)]


async def _save(
    context: BotContext, user_id: int, step: str, draft: Draft, editing: bool = False
) -> None:
    ctx = context.app_ctx
    data = draft.to_data()
    data["editing"] = editing
    async with ctx.db.transaction() as session:
        await conversations.save(
            session=session, ctx=ctx, user_id=user_id, kind=_kind(draft), step=step, data=data
        )


async def _go(
    update: Update, context: BotContext, step: str, draft: Draft, editing: bool = False
) -> None:
    """Save the draft at a step, then ask that step's question."""
    assert update.effective_user is not None
    await _save(context, update.effective_user.id, step, draft, editing)
    text, keyboard = prompt(context, step, draft)
    await reply(update, text, keyboard)


async def begin(update: Update, context: BotContext, draft: Draft | None = None) -> None:
    """Start a new report (or drill), replacing any unfinished one."""
    await _go(update, context, "category", draft or Draft())


async def start_command(update: Update, context: BotContext) -> None:
    """/report, or the Report button: start, or offer to resume an unfinished report."""
    await _start(update, context, is_drill=False)


async def _start(update: Update, context: BotContext, *, is_drill: bool) -> None:
    ctx = context.app_ctx
    chat = update.effective_chat
    if update.callback_query is not None:
        await answer(update.callback_query)
    if chat is None or chat.type != ChatType.PRIVATE:
        await reply(update, error_text(context.reply_language(update), "report.private_only"))
        return
    assert update.effective_user is not None
    async with ctx.db.transaction() as session:
        convo = await conversations.current(session=session, user_id=update.effective_user.id)
    if convo is not None and convo.kind in KINDS:
        r = ctx.renderer
        keyboard = [
            [
                Button(r.label(context.language, texts.RESUME), data="rep:resume"),
                Button(
                    r.label(context.language, texts.RESTART),
                    data="rep:restart:drill" if is_drill else "rep:restart",
                ),
            ]
        ]
        await reply(update, r.render(context.language, "report/resume"), keyboard)
        return
    await begin(update, context, Draft(is_drill=is_drill))


async def _current(context: BotContext, user_id: int) -> Conversation | None:
    ctx = context.app_ctx
    async with ctx.db.transaction() as session:
        convo = await conversations.current(session=session, user_id=user_id)
    return convo if convo is not None and convo.kind in KINDS else None


def _recap(context: BotContext, step: str, draft: Draft) -> str:
    """A one-line record of an answer, left in place of the answered question."""
    r, language = context.app_ctx.renderer, context.language
    values = {
        "category": category_label(language, draft.category or "", draft.subtype),
        "subtype": category_label(language, draft.category or "", draft.subtype),
        "level": level_label(language, draft.level or ""),
        "when": _when_text(context, draft),
        "source": draft.source or "—",
        "files": str(len(draft.files)),
    }
    field = {"subtype": "category"}.get(step, step)
    name = r.label(language, texts.FIELDS.get(field, texts.FIELDS["category"]))
    value = values.get(step, "")
    mark = Markup("🎯 {} ").format(r.label(language, DRILL_MARK)) if draft.is_drill else ""
    return Markup("{}✔️ {}: {}").format(mark, name, value)


async def button(update: Update, context: BotContext) -> None:
    """Every button of the guided report; each is valid only at its own step."""
    query = update.callback_query
    assert query is not None and query.data is not None and update.effective_user is not None
    r, language = context.app_ctx.renderer, context.language
    parts = query.data.split(":")
    action = parts[1] if len(parts) > 1 else ""
    if action == "new":
        await start_command(update, context)
        return
    if context.gate_read_conversation:
        # Read by the gate just now, and only this person's own updates move it (in order).
        found = context.gate_conversation
        convo = found if found is not None and found.kind in KINDS else None
    else:
        convo = await _current(context, update.effective_user.id)
    if action in ("restart",):
        await answer(query)
        if convo is not None:
            async with context.app_ctx.db.transaction() as session:
                await conversations.end(session=session, user_id=update.effective_user.id)
        await begin(update, context, Draft(is_drill=parts[-1] == "drill"))
        return
    if convo is None:
        await answer(query, r.label(language, common.STALE_BUTTON), alert=True)
        return
    draft = Draft.from_data(convo.data)
    editing = bool(convo.data.get("editing"))
    step = convo.step
    try:
        await _press(update, context, action, parts[2:], step, draft, editing)
    except (_StaleButton, ValueError, IndexError):
        # Forged or outdated data: nothing changes.
        await answer(query, r.label(language, common.STALE_BUTTON), alert=True)
    except ServiceError as exc:
        await answer(query, error_text(language, exc.key, **exc.params), alert=True)


class _StaleButton(Exception):
    pass


async def _press(
    update: Update,
    context: BotContext,
    action: str,
    args: list[str],
    step: str,
    draft: Draft,
    editing: bool,
) -> None:
    query = update.callback_query
    ctx = context.app_ctx
    expected = {
        "cat": "category",
        "sub": "subtype",
        "lvl": "level",
        "when": "when",
        "skip": "source",
        "done": "files",
        "edit": "review",
        "submit": "review",
    }
    if action in expected and expected[action] != step:
        raise _StaleButton
    if action == "resume":
        await answer(query)
        text, keyboard = prompt(context, step, draft)
        await reply(update, text, keyboard)
        return
    if action == "cancel":
        assert update.effective_user is not None
        await answer(query)
        async with ctx.db.transaction() as session:
            await conversations.end(session=session, user_id=update.effective_user.id)
        await edit_or_reply(
            update,
            ctx.renderer.render(context.language, "conversations/cancelled", kind=_kind(draft)),
        )
        return
    if action == "back":
        if not args or args[0] != step:
            raise _StaleButton
        previous = _previous_step(step, draft)
        await answer(query)
        if previous is not None:
            await _go(update, context, previous, draft)
        return
    if action == "cat":
        draft.category = Category(args[0]).value
        draft.subtype = None
    elif action == "sub":
        if args[0] not in SUBTYPES.get(draft.category or "", ()):
            raise _StaleButton
        draft.subtype = args[0]
    elif action == "lvl":
        draft.level = Level(args[0]).value
    elif action == "when":
        now = ctx.now()
        choice = args[0]
        if choice not in ("now", "hour", "today"):
            raise _StaleButton
        draft.occurred_at = now.isoformat()
        draft.precision = {"now": "exact", "hour": "within_hour", "today": "today"}[choice]
    elif action == "skip":
        draft.source, draft.source_kind, draft.source_done = None, None, True
    elif action == "done":
        draft.files_done = True
    elif action == "edit":
        field = args[0] if args else ""
        if field not in FIELD_STEP:
            raise _StaleButton
        await answer(query)
        await _go(update, context, FIELD_STEP[field], draft, editing=True)
        return
    elif action == "submit":
        await _submit(update, context, draft)
        return
    else:
        raise _StaleButton
    await answer(query)
    await edit_or_reply(update, _recap(context, step, draft))
    await _go(
        update,
        context,
        _next_step(step, draft, editing),
        draft,
        editing=editing and _next_step(step, draft, editing) != "review",
    )


async def on_message(update: Update, context: BotContext, convo: Conversation) -> None:
    """A typed answer, photo or file at the current step."""
    message = update.effective_message
    assert message is not None and update.effective_user is not None
    ctx = context.app_ctx
    language = context.language
    draft = Draft.from_data(convo.data)
    editing = bool(convo.data.get("editing"))
    step = convo.step
    text = (message.text or "").strip()
    try:
        if step == "files":
            await _add_file(update, context, draft)
            return
        if message.photo or message.document:
            raise Invalid("report.photo_later")
        if step in ("category", "subtype", "level", "review"):
            raise Invalid("report.want_button")
        if step == "when":
            draft.occurred_at = parse_when(text, now=ctx.now(), tz=ctx.policy.tz).isoformat()
            draft.precision = "exact"
        elif step == "where":
            if not 1 <= len(text) <= 200:
                raise Invalid("report.bad_where")
            draft.location = text
        elif step == "what":
            if not 1 <= len(text) <= 2000:
                raise Invalid("report.bad_what", length=len(text))
            draft.description = text
        elif step == "source":
            draft.source, draft.source_kind = parse_source(text)
            draft.source_done = True
    except ServiceError as exc:
        # Say what is expected and stay at this step (its buttons shown again if it has any).
        await reply(update, error_text(language, exc.key, **exc.params))
        if step in ("category", "subtype", "level", "review"):
            text, keyboard = prompt(context, step, draft)
            await reply(update, text, keyboard)
        return
    following = _next_step(step, draft, editing)
    await _go(update, context, following, draft, editing=editing and following != "review")


async def _add_file(update: Update, context: BotContext, draft: Draft) -> None:
    message = update.effective_message
    assert message is not None and update.effective_user is not None
    r, language = context.app_ctx.renderer, context.language
    item: dict[str, str] | None = None
    if message.photo:
        largest = message.photo[-1]
        item = {
            "kind": "photo",
            "file_id": largest.file_id,
            "file_unique_id": largest.file_unique_id,
            "name": "",
        }
    elif message.document:
        document = message.document
        item = {
            "kind": "document",
            "file_id": document.file_id,
            "file_unique_id": document.file_unique_id,
            "name": document.file_name or "",
        }
    if item is None:
        await reply(
            update,
            error_text(language, "report.want_files"),
            [[Button(r.label(language, common.DONE), data="rep:done")]],
        )
        return
    if len(draft.files) >= MAX_FILES:
        await reply(
            update,
            error_text(language, "report.too_many_files"),
            [[Button(r.label(language, common.DONE), data="rep:done")]],
        )
        return
    draft.files.append(item)
    convo = await _current(context, update.effective_user.id)
    editing = bool(convo.data.get("editing")) if convo else False
    await _save(context, update.effective_user.id, "files", draft, editing)
    await reply(
        update,
        r.label(language, texts.FILE_RECEIVED, count=len(draft.files)),
        [[Button(r.label(language, common.DONE), data="rep:done")]],
    )


async def _submit(update: Update, context: BotContext, draft: Draft) -> None:
    ctx = context.app_ctx
    query = update.callback_query
    user = update.effective_user
    assert user is not None
    r, language = ctx.renderer, context.language
    async with ctx.db.transaction() as session:
        submitted = await reports.submit(session=session, ctx=ctx, reporter_id=user.id, draft=draft)
        await conversations.end(session=session, user_id=user.id)
        incident = submitted.incident
    duty_officer = r.label(language, common.POSITIONS["duty_officer"])
    notified = [
        f"{duty_officer}: {item.name}"
        if item.target == "duty_officer"
        else purpose_label(language, item.target)
        for item in submitted.notified
    ]
    missing = [
        duty_officer if m == "duty_officer" else purpose_label(language, m)
        for m in submitted.missing
    ]
    await answer(query)
    review_text, _ = prompt(context, "review", draft)
    await edit_or_reply(update, review_text)
    await reply(
        update,
        r.render(
            language, "report/submitted", incident=incident, notified=notified, missing=missing
        ),
    )


async def ask_again(update: Update, context: BotContext, convo: Conversation) -> None:
    """Ask the current step's question again, with its buttons."""
    text, keyboard = prompt(context, convo.step, Draft.from_data(convo.data))
    await reply(update, text, keyboard)


async def cancel_hook(update: Update, context: BotContext, convo: Conversation) -> None:
    """Nothing to undo: a draft is only a row."""


def add_handlers(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Register /report and the report's buttons and answers."""
    from bot.platform.commands import CommandSpec

    app.bot_data["commands"].add(
        CommandSpec("report", texts.CMD_REPORT, order=2),
        CommandSpec("cancel", texts.CMD_CANCEL, order=3),
    )
    app.add_handler(CommandHandler("report", start_command))
    app.add_handler(CallbackQueryHandler(button, pattern=r"^rep:"))
    flows = router(app)
    for kind in KINDS:
        flows.register(kind, on_message, on_repeat=ask_again)
