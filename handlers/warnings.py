"""/warn, /warnings and /lift: compose, approve, list and lift early warnings (R9)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from bot.access.permissions import has_any_role
from bot.platform import conversations
from bot.platform.commands import CommandSpec, roles
from bot.platform.errors import Invalid, ServiceError
from bot.platform.keyboards import Button, Keyboard, chunked
from bot.platform.roles import Role
from bot.warnings import early_warning
from bot.warnings.early_warning import AUDIENCE_ROLES, WarningDraft, WarningLevel, WarningView
from handlers.platform.common import BotContext, answer, command_args, edit_or_reply, reply
from handlers.platform.flow import router
from messages import common
from messages import warnings as texts
from messages.common import error_text, role_label
from messages.conversations import kind_label

if TYPE_CHECKING:
    from storage.models import Conversation

KIND = "warning"
LIFT_KIND = "lift"
STEPS = ("level", "title", "what", "defence", "source", "audience", "preview")
COMPOSERS = roles(Role.TECH_CENTER, Role.LEADER)


class _StaleButton(Exception):
    pass


def _in_private(update: Update) -> bool:
    chat = update.effective_chat
    return chat is not None and chat.type == ChatType.PRIVATE


def _nav(context: BotContext, step: str) -> list[Button]:
    label, language = context.app_ctx.renderer.label, context.language
    buttons = []
    if step != STEPS[0]:
        buttons.append(Button(label(language, common.BACK), data=f"wrn:back:{step}"))
    buttons.append(Button(label(language, common.CANCEL), data="wrn:cancel"))
    return buttons


def _audience_keyboard(context: BotContext, draft: WarningDraft) -> Keyboard:
    label, language = context.app_ctx.renderer.label, context.language
    toggles = [
        Button(
            f"{'✅' if role.value in draft.roles else '⬜'} {role_label(language, role.value)}",
            data=f"wrn:role:{role.value}",
        )
        for role in AUDIENCE_ROLES
    ]
    return [
        [Button(label(language, texts.EVERYONE), data="wrn:all")],
        *chunked(toggles, 2),
        [Button(label(language, texts.CHOSEN_ROLES), data="wrn:roles")],
    ]


def prompt(context: BotContext, step: str, draft: WarningDraft) -> tuple[str, Keyboard]:
    """The question and buttons of a step (before the preview)."""
    r, language = context.app_ctx.renderer, context.language
    keyboard: Keyboard = []
    if step == "level":
        keyboard = chunked(
            [
                Button(texts.level_button(language, level.value), data=f"wrn:lvl:{level.value}")
                for level in WarningLevel
            ],
            2,
        )
    elif step == "source":
        keyboard = [[Button(r.label(language, common.SKIP), data="wrn:skip")]]
    elif step == "audience":
        keyboard = _audience_keyboard(context, draft)
    text = r.render(
        language,
        "warnings/ask",
        step=step,
        number=STEPS.index(step) + 1,
        levels=[level.value for level in WarningLevel],
    )
    return text, [*keyboard, _nav(context, step)]


def _view(context: BotContext, draft: WarningDraft) -> WarningView:
    viewer = context.viewer
    assert viewer is not None
    return WarningView(
        level=draft.level or WarningLevel.BLUE,
        title=draft.title or "",
        what=draft.what or "",
        defence=draft.defence or "",
        source_url=draft.source_url,
        sender=viewer.name,
        sender_role=early_warning.role_used(viewer),
    )


def _preview_text(context: BotContext, draft: WarningDraft) -> str:
    return early_warning.render_warning(context.app_ctx, context.language, _view(context, draft))


async def _save(context: BotContext, user_id: int, step: str, draft: WarningDraft) -> None:
    ctx = context.app_ctx
    async with ctx.db.transaction() as session:
        await conversations.save(
            session=session, ctx=ctx, user_id=user_id, kind=KIND, step=step, data=draft.to_data()
        )


async def _go(update: Update, context: BotContext, step: str, draft: WarningDraft) -> None:
    """Save the draft at a step, then ask that step's question (or show the preview)."""
    assert update.effective_user is not None
    await _save(context, update.effective_user.id, step, draft)
    if step == "preview":
        await _show_preview(update, context, draft)
        return
    text, keyboard = prompt(context, step, draft)
    await reply(update, text, keyboard)


async def _show_preview(update: Update, context: BotContext, draft: WarningDraft) -> None:
    ctx = context.app_ctx
    r, language = ctx.renderer, context.language
    async with ctx.db.transaction() as session:
        people, group_chats = await early_warning.audience_size(
            session=session, roles=draft.audience_roles
        )
    viewer = context.viewer
    needs_approval = (
        draft.level == WarningLevel.RED
        and viewer is not None
        and early_warning.role_used(viewer) != Role.LEADER
    )
    chosen = ", ".join(role_label(language, role) for role in draft.audience_roles)
    await reply(
        update,
        r.render(
            language,
            "warnings/preview_intro",
            roles=chosen,
            people=people,
            chats=group_chats,
            needs_approval=needs_approval,
        ),
    )
    keyboard = [
        [Button(r.label(language, texts.SEND), data="wrn:send")],
        _nav(context, "preview"),
    ]
    await reply(update, _preview_text(context, draft), keyboard)


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
            await early_warning.require_composer(session=session, user_id=update.effective_user.id)
    except ServiceError as exc:
        await reply(update, error_text(language, exc.key, **exc.params))
        return
    await _go(update, context, "level", WarningDraft())


async def _current(
    context: BotContext, user_id: int, kinds: tuple[str, ...]
) -> Conversation | None:
    ctx = context.app_ctx
    async with ctx.db.transaction() as session:
        convo = await conversations.current(session=session, user_id=user_id)
    return convo if convo is not None and convo.kind in kinds else None


async def button(update: Update, context: BotContext) -> None:
    """Every warning button: the composing steps, approval cards, and Cancel."""
    query = update.callback_query
    assert query is not None and query.data is not None and update.effective_user is not None
    r, language = context.app_ctx.renderer, context.language
    parts = query.data.split(":")
    action = parts[1] if len(parts) > 1 else ""
    if action in ("ok", "no"):
        await _decide(update, context, parts)
        return
    convo = await _current(context, update.effective_user.id, (KIND, LIFT_KIND))
    if convo is None:
        await answer(query, r.label(language, common.STALE_BUTTON), alert=True)
        return
    if action == "cancel":
        await answer(query)
        async with context.app_ctx.db.transaction() as session:
            await conversations.end(session=session, user_id=update.effective_user.id)
        await edit_or_reply(
            update,
            r.render(language, "conversations/cancelled", what=kind_label(language, convo.kind)),
        )
        return
    if convo.kind != KIND:
        await answer(query, r.label(language, common.STALE_BUTTON), alert=True)
        return
    draft = WarningDraft.from_data(convo.data)
    try:
        await _press(update, context, action, parts[2:], convo.step, draft)
    except _StaleButton:
        await answer(query, r.label(language, common.STALE_BUTTON), alert=True)
    except ServiceError as exc:
        await answer(query, error_text(language, exc.key, **exc.params), alert=True)


async def _press(
    update: Update,
    context: BotContext,
    action: str,
    args: list[str],
    step: str,
    draft: WarningDraft,
) -> None:
    query = update.callback_query
    expected = {
        "lvl": "level",
        "skip": "source",
        "all": "audience",
        "role": "audience",
        "roles": "audience",
        "send": "preview",
    }
    if action == "back":
        if not args or args[0] != step or step == STEPS[0]:
            raise _StaleButton
        await answer(query)
        await _go(update, context, STEPS[STEPS.index(step) - 1], draft)
        return
    if expected.get(action) != step:
        raise _StaleButton
    if action == "lvl":
        try:
            draft.level = WarningLevel(args[0] if args else "").value
        except ValueError as exc:
            raise _StaleButton from exc
        await answer(query)
        await _recap(update, context, "level", texts.level_button(context.language, draft.level))
        await _go(update, context, "title", draft)
    elif action == "skip":
        draft.source_url, draft.source_done = None, True
        await answer(query)
        await _recap(update, context, "source", "—")
        await _go(update, context, "audience", draft)
    elif action == "all":
        draft.everyone, draft.roles = True, []
        await answer(query)
        await _recap(
            update,
            context,
            "audience",
            context.app_ctx.renderer.label(context.language, texts.EVERYONE),
        )
        await _go(update, context, "preview", draft)
    elif action == "role":
        wanted = args[0] if args else ""
        if wanted not in {role.value for role in AUDIENCE_ROLES}:
            raise _StaleButton
        draft.everyone = False
        draft.roles = sorted(set(draft.roles) ^ {wanted})
        assert update.effective_user is not None
        await _save(context, update.effective_user.id, "audience", draft)
        await answer(query)
        text, keyboard = prompt(context, "audience", draft)
        await edit_or_reply(update, text, keyboard)
    elif action == "roles":
        if not draft.roles:
            raise Invalid("warnings.choose_roles")
        await answer(query)
        chosen = ", ".join(role_label(context.language, role) for role in draft.roles)
        await _recap(update, context, "audience", chosen)
        await _go(update, context, "preview", draft)
    elif action == "send":
        await _send(update, context, draft)


async def _recap(update: Update, context: BotContext, step: str, value: str) -> None:
    """Leave a one-line record of the answer in place of the answered question."""
    text = context.app_ctx.renderer.render(
        context.language, "warnings/recap", step=step, value=value
    )
    await edit_or_reply(update, text)


async def _send(update: Update, context: BotContext, draft: WarningDraft) -> None:
    ctx = context.app_ctx
    query = update.callback_query
    user = update.effective_user
    assert user is not None
    r, language = ctx.renderer, context.language
    preview = _preview_text(context, draft)
    async with ctx.db.transaction() as session:
        submitted = await early_warning.submit(
            session=session, ctx=ctx, sender_id=user.id, draft=draft
        )
        await conversations.end(session=session, user_id=user.id)
    if submitted.waiting_for_approval:
        await answer(query, r.label(language, texts.WAITING_ALERT))
        await edit_or_reply(update, preview)
        await reply(
            update,
            r.render(
                language,
                "warnings/waiting",
                warning=submitted.warning,
                approvers=submitted.approvers,
            ),
        )
        return
    # No message of its own here: the progress message comes through the outbox.
    await answer(query, r.label(language, texts.SENDING_ALERT))
    await edit_or_reply(update, preview)


async def _decide(update: Update, context: BotContext, parts: list[str]) -> None:
    """Approve or Reject pressed on a red warning's card."""
    ctx = context.app_ctx
    query = update.callback_query
    user = update.effective_user
    assert query is not None and user is not None
    r, language = ctx.renderer, context.language
    try:
        warning_id = int(parts[2])
    except (IndexError, ValueError):
        await answer(query, r.label(language, common.STALE_BUTTON), alert=True)
        return
    approve = parts[1] == "ok"
    try:
        async with ctx.db.transaction() as session:
            await early_warning.decide(
                session=session, ctx=ctx, warning_id=warning_id, leader_id=user.id, approve=approve
            )
    except ServiceError as exc:
        await answer(query, error_text(language, exc.key, **exc.params), alert=True)
        return
    await answer(
        query, r.label(language, texts.APPROVED_ALERT if approve else texts.REJECTED_ALERT)
    )


async def on_message(update: Update, context: BotContext, convo: Conversation) -> None:
    """A typed answer at the current step."""
    message = update.effective_message
    assert message is not None and update.effective_user is not None
    ctx = context.app_ctx
    language = context.language
    draft = WarningDraft.from_data(convo.data)
    step = convo.step
    text = message.text or ""
    try:
        if message.photo or message.document:
            raise Invalid("warnings.want_text")
        if step in ("level", "audience", "preview"):
            raise Invalid("warnings.want_button")
        if step == "title":
            draft.title = early_warning.clean_title(text)
        elif step == "what":
            draft.what = early_warning.clean_text(text, what="what")
        elif step == "defence":
            draft.defence = early_warning.clean_text(text, what="defence")
            viewer = context.viewer
            assert viewer is not None
            early_warning.check_fits(
                ctx, draft=draft, sender=viewer.name, sender_role=early_warning.role_used(viewer)
            )
        elif step == "source":
            draft.source_url = early_warning.clean_url(text)
            draft.source_done = True
    except ServiceError as exc:
        # Say what is expected and stay at this step.
        await reply(update, error_text(language, exc.key, **exc.params))
        return
    await _go(update, context, STEPS[STEPS.index(step) + 1], draft)


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
    if not raw.isdigit():
        await reply(update, error_text(language, "warnings.usage_lift"))
        return
    user_id = update.effective_user.id
    try:
        async with ctx.db.transaction() as session:
            warning = await early_warning.lift_target(
                session=session, warning_id=int(raw), user_id=user_id
            )
            await conversations.save(
                session=session,
                ctx=ctx,
                user_id=user_id,
                kind=LIFT_KIND,
                step="note",
                data={"warning_id": warning.id},
            )
    except ServiceError as exc:
        await reply(update, error_text(language, exc.key, **exc.params))
        return
    cancel = [[Button(ctx.renderer.label(language, common.CANCEL), data="wrn:cancel")]]
    await reply(update, ctx.renderer.render(language, "warnings/lift_ask", warning=warning), cancel)


async def on_lift_note(update: Update, context: BotContext, convo: Conversation) -> None:
    """The closing note: lift the warning and broadcast the lift."""
    message = update.effective_message
    user = update.effective_user
    assert message is not None and user is not None
    ctx = context.app_ctx
    language = context.language
    if message.photo or message.document or not message.text:
        await reply(update, error_text(language, "warnings.want_text"))
        return
    try:
        async with ctx.db.transaction() as session:
            await early_warning.lift(
                session=session,
                ctx=ctx,
                warning_id=int(convo.data["warning_id"]),
                user_id=user.id,
                note=message.text,
            )
            await conversations.end(session=session, user_id=user.id)
    except Invalid as exc:
        await reply(update, error_text(language, exc.key, **exc.params))
        return
    except ServiceError as exc:
        # Lifted meanwhile, or the role was taken away: nothing left to ask.
        async with ctx.db.transaction() as session:
            await conversations.end(session=session, user_id=user.id)
        await reply(update, error_text(language, exc.key, **exc.params))


def add_handlers(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Register the warning commands, buttons and typed answers."""
    app.bot_data["commands"].add(
        CommandSpec("warn", texts.CMD_WARN, COMPOSERS, order=20),
        CommandSpec("warnings", texts.CMD_WARNINGS, order=21, group=True),
        CommandSpec("lift", texts.CMD_LIFT, COMPOSERS, order=22),
    )
    app.add_handler(CommandHandler("warn", warn_command))
    app.add_handler(CommandHandler("warnings", warnings_command))
    app.add_handler(CommandHandler("lift", lift_command))
    app.add_handler(CallbackQueryHandler(button, pattern=r"^wrn:"))
    flows = router(app)
    flows.register(KIND, on_message)
    flows.register(LIFT_KIND, on_lift_note)
