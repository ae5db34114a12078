"""/incidents with filters and pages, /stats with its chart, and /export (R13)."""

from __future__ import annotations

from datetime import date
from typing import Any

from telegram import InputFile, Update
from telegram.constants import ChatType, ParseMode
from telegram.ext import Application, CommandHandler

from bot.platform.commands import CommandSpec, roles
from bot.platform.errors import Invalid, ServiceError
from bot.platform.keyboards import Button, Keyboard
from bot.platform.roles import Role
from bot.records import browse, stats
from bot.records.buttons import RecordsPage
from handlers.platform.common import (
    BotContext,
    answer,
    command_args,
    command_text,
    edit_or_reply,
    on_button,
    reply,
)
from messages import records as texts
from messages.common import error_text

HANDLERS = roles(Role.DUTY, Role.TECH_CENTER, Role.LEADER)
EXPORTERS = roles(*browse.EXPORT_ROLES)
HELP_WORDS = {"help", "?", "？", "帮助"}


def _today(context: BotContext) -> date:
    ctx = context.app_ctx
    return ctx.now().astimezone(ctx.policy.tz).date()


def _list_text(context: BotContext, language: str, page: browse.Page) -> tuple[str, Keyboard]:
    r = context.app_ctx.renderer
    search = page.search
    if search.is_default:
        title = texts.OPEN_TITLE_DRILLS if search.drills else texts.OPEN_TITLE
    else:
        title = texts.SEARCH_TITLE_DRILLS if search.drills else texts.SEARCH_TITLE
    text = r.render(language, "records/list", page=page, title=r.label(language, title))
    row: list[Button] = []
    if page.previous is not None:
        row.append(Button(r.label(language, texts.PREVIOUS), data=page.previous.pack()))
    if page.next is not None:
        row.append(Button(r.label(language, texts.NEXT), data=page.next.pack()))
    return text, [row] if row else []


async def list_command(update: Update, context: BotContext) -> None:
    """/incidents [open|closed|all] [level] [category] [2026-11] [drill] ["text"]."""
    ctx = context.app_ctx
    language = context.reply_language(update)
    user = update.effective_user
    assert user is not None
    typed = command_text(update)
    try:
        # Who may not search hears that first, not how to search.
        async with ctx.db.transaction() as session:
            await browse.check_reader(session=session, user_id=user.id)
        if typed.strip().casefold() in HELP_WORDS:
            await reply(update, ctx.renderer.render(language, "records/usage", error=None))
            return
        search = browse.parse_filter(typed, today=_today(context))
        async with ctx.db.transaction() as session:
            page = await browse.search(session=session, ctx=ctx, user_id=user.id, search=search)
    except Invalid as exc:
        error = error_text(language, exc.key, **exc.params)
        await reply(update, ctx.renderer.render(language, "records/usage", error=error))
        return
    except ServiceError as exc:
        await reply(update, error_text(language, exc.key, **exc.params))
        return
    text, keyboard = _list_text(context, language, page)
    await reply(update, text, keyboard)


async def page_button(update: Update, context: BotContext, button: RecordsPage) -> None:
    """◀️ / ▶️ under a list: the page it names, the viewer's role checked again."""
    query = update.callback_query
    assert query is not None and update.effective_user is not None
    ctx = context.app_ctx
    language = context.reply_language(update)
    search, number = browse.filter_of(button)
    try:
        async with ctx.db.transaction() as session:
            page = await browse.search(
                session=session,
                ctx=ctx,
                user_id=update.effective_user.id,
                search=search,
                page=number,
            )
    except ServiceError as exc:
        await answer(query, error_text(language, exc.key, **exc.params), alert=True)
        return
    await answer(query)
    text, keyboard = _list_text(context, language, page)
    await edit_or_reply(update, text, keyboard)


async def stats_command(update: Update, context: BotContext) -> None:
    """/stats [2026 | 2026-11] [drill]: the figures as text, then the chart as a photo."""
    ctx = context.app_ctx
    language = context.reply_language(update)
    user, chat = update.effective_user, update.effective_chat
    assert user is not None and chat is not None
    try:
        async with ctx.db.transaction() as session:
            await browse.check_reader(session=session, user_id=user.id)
        period, drills = stats.parse_period(command_text(update), today=_today(context))
        async with ctx.db.transaction() as session:
            figures = await stats.statistics(
                session=session, ctx=ctx, user_id=user.id, period=period, drills=drills
            )
    except ServiceError as exc:
        await reply(update, error_text(language, exc.key, **exc.params))
        return
    await reply(update, ctx.renderer.render(language, "records/stats", stats=figures))
    await context.bot.send_photo(
        chat_id=chat.id,
        photo=InputFile(await stats.chart_png(figures, language), filename="stats.png"),
        caption=ctx.renderer.render(language, "records/chart_caption", stats=figures),
        parse_mode=ParseMode.HTML,
    )


async def export_command(update: Update, context: BotContext) -> None:
    """/export incidents|patrols [from] [to] [xlsx]: the file, to the person who asked."""
    ctx = context.app_ctx
    language = context.reply_language(update)
    user, chat = update.effective_user, update.effective_chat
    assert user is not None and chat is not None
    if chat.type != ChatType.PRIVATE:
        # A file of names and details must not land in a group everyone reads.
        await reply(update, error_text(language, "records.private_only"))
        return
    try:
        request = browse.parse_export(command_args(update), today=_today(context))
        async with ctx.db.transaction() as session:
            made = await browse.export(
                session=session, ctx=ctx, user_id=user.id, request=request, language=language
            )
    except ServiceError as exc:
        await reply(update, error_text(language, exc.key, **exc.params))
        return
    what = ctx.renderer.label(language, texts.SHEET_TITLES[made.kind])
    await context.bot.send_document(
        chat_id=chat.id,
        document=InputFile(made.content, filename=made.filename),
        caption=ctx.renderer.render(language, "records/export_caption", export=made, what=what),
        parse_mode=ParseMode.HTML,
    )


def add_handlers(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Register /incidents, its page buttons, /stats and /export."""
    app.bot_data["commands"].add(
        CommandSpec("incidents", texts.CMD_INCIDENTS, HANDLERS, order=10),
        CommandSpec("stats", texts.CMD_STATS, HANDLERS, order=12, group=True),
        CommandSpec("export", texts.CMD_EXPORT, EXPORTERS, order=13),
    )
    app.add_handler(CommandHandler("incidents", list_command))
    app.add_handler(on_button(RecordsPage, page_button))
    app.add_handler(CommandHandler("stats", stats_command))
    app.add_handler(CommandHandler("export", export_command))
