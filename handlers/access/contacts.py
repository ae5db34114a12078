"""/contacts: the contacts card for everyone, and its guided editing for admins (R2)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from bot.access import contacts
from bot.access.permissions import is_admin
from bot.platform import conversations
from bot.platform.commands import CommandSpec
from bot.platform.errors import ServiceError
from bot.platform.keyboards import Button, Keyboard, chunked
from bot.platform.roles import Position
from handlers.platform.common import BotContext, answer, edit_or_reply, reply
from handlers.platform.flow import router
from messages import access as access_texts
from messages import common
from messages import contacts as texts
from messages.common import error_text, position_label

if TYPE_CHECKING:
    from storage.models import Conversation

KIND = "contact"
FIELDS = ("name", "title", "area", "office_phone", "mobile")


async def show(update: Update, context: BotContext) -> None:
    """Show the contacts card; admins also get the edit buttons."""
    ctx = context.app_ctx
    async with ctx.db.transaction() as session:
        groups = await contacts.card(session=session)
        text = ctx.renderer.render(context.language, "contacts/card", groups=groups)
    keyboard: Keyboard | None = None
    if is_admin(context.viewer):
        label = ctx.renderer.label
        language = context.language
        keyboard = [
            [
                Button(label(language, texts.ADD), data="ct:add"),
                Button(label(language, texts.EDIT), data="ct:edit"),
                Button(label(language, texts.REMOVE), data="ct:del"),
            ]
        ]
    await reply(update, text, keyboard)


async def show_button(update: Update, context: BotContext) -> None:
    """The Contacts button under /start and /help."""
    await answer(update.callback_query)
    await show(update, context)


async def _admin_only(update: Update, context: BotContext) -> bool:
    if is_admin(context.viewer):
        return True
    await answer(
        update.callback_query, error_text(context.language, "access.admins_only"), alert=True
    )
    return False


async def button(update: Update, context: BotContext) -> None:
    """Every contacts-editing button: add, pick, edit a field, remove, skip."""
    query = update.callback_query
    assert query is not None and query.data is not None and update.effective_user is not None
    if not await _admin_only(update, context):
        return
    ctx = context.app_ctx
    r, language = ctx.renderer, context.language
    parts = query.data.split(":")
    action = parts[1]
    user_id = update.effective_user.id
    async with ctx.db.transaction() as session:
        people = [c for _, group in await contacts.card(session=session) for c in group]
    try:
        if action == "add":
            buttons = [
                Button(position_label(language, p.value), data=f"ct:pos:{p.value}")
                for p in Position
                if p != Position.DUTY_OFFICER
            ]
            await answer(query)
            await edit_or_reply(
                update, r.render(language, "contacts/choose_position"), chunked(buttons, 2)
            )
        elif action == "pos":
            position = Position(parts[2])
            await _save(context, user_id, "name", {"mode": "add", "position": position.value})
            await answer(query)
            await edit_or_reply(update, r.render(language, "contacts/ask", field="name"))
        elif action in ("edit", "del"):
            target = "e" if action == "edit" else "d"
            buttons = [
                Button(
                    f"{position_label(language, c.position)}: {c.name}", data=f"ct:{target}:{c.id}"
                )
                for c in people
            ]
            await answer(query)
            await edit_or_reply(
                update,
                r.render(language, "contacts/choose_person", remove=action == "del"),
                chunked(buttons, 1),
            )
        elif action == "e":
            contact_id = int(parts[2])
            buttons = [
                Button(r.label(language, texts.FIELD_NAMES[f]), data=f"ct:f:{contact_id}:{f}")
                for f in FIELDS
            ]
            await answer(query)
            await edit_or_reply(
                update, r.render(language, "contacts/choose_field"), chunked(buttons, 2)
            )
        elif action == "f":
            contact_id, field = int(parts[2]), parts[3]
            if field not in FIELDS:
                raise ValueError(field)
            await _save(
                context,
                user_id,
                "value",
                {"mode": "edit", "contact_id": contact_id, "field": field},
            )
            await answer(query)
            await edit_or_reply(update, r.render(language, "contacts/ask", field=field))
        elif action == "d":
            contact_id = int(parts[2])
            keyboard = [
                [
                    Button(r.label(language, common.CONFIRM), data=f"ct:dd:{contact_id}"),
                    Button(r.label(language, common.CANCEL), data="ct:show"),
                ]
            ]
            await answer(query)
            await edit_or_reply(update, r.render(language, "contacts/confirm_remove"), keyboard)
        elif action == "dd":
            async with ctx.db.transaction() as session:
                await contacts.remove(
                    session=session, ctx=ctx, admin_id=user_id, contact_id=int(parts[2])
                )
            await answer(query, r.label(language, access_texts.DECIDED_ALERT))
            await show(update, context)
        elif action == "skip":
            convo = await _current(context, user_id)
            if convo is None or convo.step not in ("office", "mobile"):
                await answer(query, r.label(language, common.STALE_BUTTON), alert=True)
                return
            await answer(query)
            await _advance(update, context, convo, "")
        elif action == "show":
            await answer(query)
            await show(update, context)
        else:
            raise ValueError(action)
    except ServiceError as exc:
        await answer(query, error_text(language, exc.key, **exc.params), alert=True)
    except (IndexError, ValueError):
        await answer(query, r.label(language, common.STALE_BUTTON), alert=True)


async def _current(context: BotContext, user_id: int) -> Conversation | None:
    ctx = context.app_ctx
    async with ctx.db.transaction() as session:
        convo = await conversations.current(session=session, user_id=user_id)
    return convo if convo is not None and convo.kind == KIND else None


async def _save(context: BotContext, user_id: int, step: str, data: dict[str, Any]) -> None:
    ctx = context.app_ctx
    async with ctx.db.transaction() as session:
        await conversations.save(
            session=session, ctx=ctx, user_id=user_id, kind=KIND, step=step, data=data
        )


async def on_message(update: Update, context: BotContext, convo: Conversation) -> None:
    """A typed answer while adding or editing a contact."""
    message = update.effective_message
    r, language = context.app_ctx.renderer, context.language
    if message is None or not message.text:
        await reply(update, r.render(language, "contacts/ask", field=_field_of(convo)))
        return
    await _advance(update, context, convo, message.text.strip())


def _field_of(convo: Conversation) -> str:
    if convo.step == "value":
        return str(convo.data.get("field", "name"))
    return {"name": "name", "office": "office_phone", "mobile": "mobile"}.get(convo.step, "name")


async def _advance(update: Update, context: BotContext, convo: Conversation, text: str) -> None:
    ctx = context.app_ctx
    r, language = ctx.renderer, context.language
    assert update.effective_user is not None
    user_id = update.effective_user.id
    data = dict(convo.data)
    if text == "-" and convo.step in ("office", "mobile"):
        text = ""
    skip = [[Button(r.label(language, common.SKIP), data="ct:skip")]]
    try:
        if convo.step == "value":
            async with ctx.db.transaction() as session:
                await contacts.update_field(
                    session=session,
                    ctx=ctx,
                    admin_id=user_id,
                    contact_id=int(data["contact_id"]),
                    field=str(data["field"]),
                    value=text,
                )
                await conversations.end(session=session, user_id=user_id)
            await show(update, context)
            return
        if convo.step == "name":
            if not 1 <= len(text) <= 100:
                await reply(update, error_text(language, "contacts.bad_name"))
                return
            data["name"] = text
            await _save(context, user_id, "office", data)
            await reply(update, r.render(language, "contacts/ask", field="office_phone"), skip)
            return
        if convo.step == "office":
            data["office_phone"] = contacts.phone(ctx, text) if text else ""
            await _save(context, user_id, "mobile", data)
            await reply(update, r.render(language, "contacts/ask", field="mobile"), skip)
            return
        if convo.step == "mobile":
            async with ctx.db.transaction() as session:
                await contacts.add(
                    session=session,
                    ctx=ctx,
                    admin_id=user_id,
                    position=Position(data["position"]),
                    name=str(data["name"]),
                    office_phone=str(data.get("office_phone", "")),
                    mobile=text,
                )
                await conversations.end(session=session, user_id=user_id)
            await show(update, context)
    except ServiceError as exc:
        # Wrong input: say what is expected and stay at this step.
        await reply(update, error_text(language, exc.key, **exc.params))


def add_handlers(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Register /contacts and its buttons."""
    app.bot_data["commands"].add(
        CommandSpec("contacts", access_texts.CMD_CONTACTS, order=5, group=True)
    )
    app.add_handler(CommandHandler("contacts", show))
    app.add_handler(CallbackQueryHandler(button, pattern=r"^ct:"))
    router(app).register(KIND, on_message)
