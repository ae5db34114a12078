"""Binding group chats to their purpose: /bind and /unbind inside the group (R14)."""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.ext import Application, CommandHandler, filters

from bot.access import chats
from bot.platform.errors import ServiceError
from bot.platform.roles import ChatPurpose
from handlers.platform.common import BotContext, command_args, reply
from messages.common import choices, error_text


async def bind(update: Update, context: BotContext) -> None:
    """/bind <purpose> in a group: an admin makes it the leadership/tech-center/... chat."""
    ctx = context.app_ctx
    chat, user = update.effective_chat, update.effective_user
    assert chat is not None and user is not None
    args = command_args(update)
    purposes = choices(p.value for p in ChatPurpose)
    if not args:
        await reply(
            update,
            error_text(context.reply_language(update), "chats.usage_bind", purposes=purposes),
        )
        return
    try:
        async with ctx.db.transaction() as session:
            row, previous = await chats.bind(
                session=session,
                ctx=ctx,
                admin_id=user.id,
                chat_id=chat.id,
                title=chat.title or "",
                chat_type=chat.type,
                purpose=args[0].lower(),
            )
            text = ctx.renderer.render(
                context.reply_language(update),
                "chats/bound",
                purpose=row.purpose,
                previous=previous,
            )
    except ServiceError as exc:
        await reply(update, error_text(context.reply_language(update), exc.key, **exc.params))
        return
    await reply(update, text)


async def unbind(update: Update, context: BotContext) -> None:
    """/unbind in a group: an admin releases it from its purpose."""
    ctx = context.app_ctx
    chat, user = update.effective_chat, update.effective_user
    assert chat is not None and user is not None
    try:
        async with ctx.db.transaction() as session:
            purpose = await chats.unbind(
                session=session, ctx=ctx, admin_id=user.id, chat_id=chat.id
            )
    except ServiceError as exc:
        await reply(update, error_text(context.reply_language(update), exc.key, **exc.params))
        return
    await reply(
        update,
        ctx.renderer.render(context.reply_language(update), "chats/unbound", purpose=purpose),
    )


async def private_only_hint(update: Update, context: BotContext) -> None:
    """/bind sent in a private chat."""
    await reply(update, error_text(context.reply_language(update), "access.group_only"))


def add_handlers(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Register /bind and /unbind."""
    groups = filters.ChatType.GROUPS
    app.add_handler(CommandHandler("bind", bind, filters=groups))
    app.add_handler(CommandHandler("unbind", unbind, filters=groups))
    app.add_handler(
        CommandHandler(["bind", "unbind"], private_only_hint, filters=filters.ChatType.PRIVATE)
    )
