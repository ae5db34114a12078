"""/duty, /patrols and the patrol reminder's buttons; the note is a declared flow (R11)."""

from __future__ import annotations

from datetime import timedelta
from html import escape
from typing import Any

from telegram import InputFile, Update
from telegram.constants import ParseMode
from telegram.ext import Application, CommandHandler

from bot.incidents.model import Draft
from bot.patrols import patrol_rounds, roster
from bot.patrols.buttons import PatrolPress
from bot.patrols.flows import PATROL_NOTE, PatrolNote
from bot.platform.commands import CommandSpec, roles
from bot.platform.errors import Invalid, ServiceError
from bot.platform.flows import current
from bot.platform.roles import Role
from handlers.incidents import report
from handlers.platform import flows
from handlers.platform.common import BotContext, answer, command_args, on_button, reply
from messages import patrols as texts
from messages.common import error_text
from messages.conversations import kind_label

EXPORT_DEFAULT_DAYS = 30


def _refusal(language: str, exc: ServiceError) -> str:
    """A refusal as Telegram HTML, with whatever the user typed escaped."""
    params = {key: escape(str(value)) for key, value in exc.params.items()}
    return error_text(language, exc.key, **params)


async def duty_command(update: Update, context: BotContext) -> None:
    """/duty: the roster; /duty set DATE USER and /duty swap DATE DATE change it."""
    ctx = context.app_ctx
    language = context.reply_language(update)
    user = update.effective_user
    assert user is not None
    args = command_args(update)
    today = ctx.now().astimezone(ctx.policy.tz).date()
    try:
        if not args:
            async with ctx.db.transaction() as session:
                view = await roster.view(session=session, ctx=ctx, user_id=user.id)
            await reply(update, ctx.renderer.render(language, "patrols/roster", view=view))
            return
        action = args[0].lower()
        if action == "set" and len(args) == 3:
            day = roster.parse_day(args[1], today=today, prefer_future=True)
            async with ctx.db.transaction() as session:
                changed = [
                    await roster.set_officer(
                        session=session, ctx=ctx, actor_id=user.id, day=day, ref=args[2]
                    )
                ]
        elif action == "swap" and len(args) == 3:
            first = roster.parse_day(args[1], today=today, prefer_future=True)
            second = roster.parse_day(args[2], today=today, prefer_future=True)
            async with ctx.db.transaction() as session:
                changed = list(
                    await roster.swap(
                        session=session, ctx=ctx, actor_id=user.id, first=first, second=second
                    )
                )
        else:
            raise Invalid("patrols.usage_duty")
    except ServiceError as exc:
        await reply(update, _refusal(language, exc))
        return
    await reply(update, ctx.renderer.render(language, "patrols/duty_changed", changed=changed))


async def patrols_command(update: Update, context: BotContext) -> None:
    """/patrols: today's rounds and the last missed; /patrols export [from] [to]: the CSV."""
    ctx = context.app_ctx
    language = context.reply_language(update)
    user, chat = update.effective_user, update.effective_chat
    assert user is not None and chat is not None
    args = command_args(update)
    today = ctx.now().astimezone(ctx.policy.tz).date()
    try:
        if not args:
            async with ctx.db.transaction() as session:
                view = await patrol_rounds.overview(session=session, ctx=ctx, user_id=user.id)
            await reply(update, ctx.renderer.render(language, "patrols/overview", view=view))
            return
        if args[0].lower() != "export" or len(args) > 3:
            raise Invalid("patrols.usage_patrols")
        first = today - timedelta(days=EXPORT_DEFAULT_DAYS - 1)
        last = today
        if len(args) >= 2:
            first = roster.parse_day(args[1], today=today, prefer_future=False)
        if len(args) == 3:
            last = roster.parse_day(args[2], today=today, prefer_future=False)
        async with ctx.db.transaction() as session:
            name, content, count = await patrol_rounds.export_csv(
                session=session,
                ctx=ctx,
                user_id=user.id,
                first=first,
                last=last,
                language=language,
            )
    except ServiceError as exc:
        await reply(update, _refusal(language, exc))
        return
    await context.bot.send_document(
        chat_id=chat.id,
        document=InputFile(content, filename=name),
        caption=ctx.renderer.render(
            language, "patrols/export_caption", first=first, last=last, count=count
        ),
        parse_mode=ParseMode.HTML,
    )


async def button(update: Update, context: BotContext, press: PatrolPress) -> None:
    """All normal, Found a problem, or Add a note, pressed under a patrol reminder."""
    query = update.callback_query
    assert query is not None and update.effective_user is not None
    ctx = context.app_ctx
    r, language = ctx.renderer, context.language
    user_id, round_id = update.effective_user.id, press.round_id
    if press.action != "normal" and await _busy(update, context, user_id, press.action):
        return
    try:
        if press.action == "normal":
            async with ctx.db.transaction() as session:
                await patrol_rounds.answer(
                    session=session,
                    ctx=ctx,
                    round_id=round_id,
                    user_id=user_id,
                    answer=patrol_rounds.NORMAL,
                )
            await answer(query, r.label(language, texts.LOGGED_ALERT))
        elif press.action == "problem":
            async with ctx.db.transaction() as session:
                row = await patrol_rounds.answer(
                    session=session,
                    ctx=ctx,
                    round_id=round_id,
                    user_id=user_id,
                    answer=patrol_rounds.PROBLEM,
                )
                draft = Draft(
                    context=patrol_rounds.problem_context(row),
                    location=patrol_rounds.problem_location(ctx, row),
                )
            await answer(query, r.label(language, texts.PROBLEM_ALERT))
            await report.begin(update, context, draft)
        else:
            async with ctx.db.transaction() as session:
                await patrol_rounds.noted_round(session=session, round_id=round_id, user_id=user_id)
            await flows.start(update, context, PATROL_NOTE.kind, PatrolNote(round_id=round_id))
    except ServiceError as exc:
        await answer(query, error_text(language, exc.key, **exc.params), alert=True)


async def _busy(update: Update, context: BotContext, user_id: int, action: str) -> bool:
    """Refuse to start over a half-finished flow of another kind (it would be lost)."""
    ctx = context.app_ctx
    async with ctx.db.transaction() as session:
        convo = await current(session=session, user_id=user_id)
    own = PATROL_NOTE.kind if action == "note" else None
    if convo is None or convo.kind == own:
        return False
    language = context.language
    what = kind_label(language, convo.kind)
    await answer(update.callback_query, error_text(language, "patrols.busy", what=what), alert=True)
    return True


def add_handlers(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Register /duty, /patrols, the reminder's buttons and the note."""
    app.bot_data["commands"].add(
        CommandSpec(
            "duty",
            texts.CMD_DUTY,
            roles(Role.DUTY, Role.TECH_CENTER, Role.LEADER, Role.ADMIN),
            group=True,
            order=20,
        ),
        CommandSpec(
            "patrols",
            texts.CMD_PATROLS,
            roles(Role.TECH_CENTER, Role.LEADER, Role.ADMIN),
            group=True,
            order=21,
        ),
    )
    app.add_handler(CommandHandler("duty", duty_command))
    app.add_handler(CommandHandler("patrols", patrols_command))
    app.add_handler(on_button(PatrolPress, button))
