"""/contacts: the contacts card for everyone, and its editing for admins (R2).

Adding a person and changing a field are declared flows (`bot/access/flows.py`); choosing the
person and the field, and removing someone, are the card's own buttons.
"""

from __future__ import annotations

from typing import Any, Literal

from telegram import Update
from telegram.ext import Application, CommandHandler

from bot.access import contacts
from bot.access.buttons import CONTACT_FIELDS, ContactFieldPick, ContactPick, ContactsMenu
from bot.access.flows import CONTACT_ADD, CONTACT_EDIT, ContactChange, NewContact
from bot.access.permissions import is_admin
from bot.platform.commands import CommandSpec
from bot.platform.errors import ServiceError
from bot.platform.keyboards import Button, Keyboard, chunked
from handlers.platform import flows
from handlers.platform.common import BotContext, answer, edit_or_reply, on_button, reply
from messages import access as access_texts
from messages import common
from messages import contacts as texts
from messages.common import error_text, position_label


def _menu(context: BotContext) -> Keyboard:
    label, language = context.app_ctx.renderer.label, context.language
    return [
        [
            Button(label(language, texts.ADD), data=ContactsMenu("add").pack()),
            Button(label(language, texts.EDIT), data=ContactsMenu("edit").pack()),
            Button(label(language, texts.REMOVE), data=ContactsMenu("remove").pack()),
        ]
    ]


async def show(update: Update, context: BotContext) -> None:
    """Show the contacts card; admins also get the edit buttons."""
    ctx = context.app_ctx
    async with ctx.db.transaction() as session:
        groups = await contacts.card(session=session)
        text = ctx.renderer.render(context.language, "contacts/card", groups=groups)
    await reply(update, text, _menu(context) if is_admin(context.viewer) else None)


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


async def menu(update: Update, context: BotContext, press: ContactsMenu) -> None:
    """Add (the guided flow), Edit or Remove (choose the person), or the card again."""
    if not await _admin_only(update, context):
        return
    ctx = context.app_ctx
    r, language = ctx.renderer, context.language
    if press.action == "add":
        await flows.start(update, context, CONTACT_ADD.kind, NewContact())
        return
    if press.action == "card":
        await answer(update.callback_query)
        await show(update, context)
        return
    async with ctx.db.transaction() as session:
        people = [c for _, group in await contacts.card(session=session) for c in group]
    action: Literal["edit", "remove"] = "edit" if press.action == "edit" else "remove"
    buttons = [
        Button(
            f"{position_label(language, c.position)}: {c.name}",
            data=ContactPick(action, c.id).pack(),
        )
        for c in people
    ]
    await answer(update.callback_query)
    await edit_or_reply(
        update,
        r.render(language, "contacts/choose_person", remove=action == "remove"),
        chunked(buttons, 1),
    )


async def pick(update: Update, context: BotContext, press: ContactPick) -> None:
    """A person chosen: the fields to change, the removal to confirm, or removed."""
    if not await _admin_only(update, context):
        return
    ctx = context.app_ctx
    query = update.callback_query
    assert update.effective_user is not None
    r, language = ctx.renderer, context.language
    try:
        if press.action == "confirm":
            async with ctx.db.transaction() as session:
                await contacts.remove(
                    session=session,
                    ctx=ctx,
                    admin_id=update.effective_user.id,
                    contact_id=press.contact_id,
                )
            await answer(query, r.label(language, access_texts.DECIDED_ALERT))
            await show(update, context)
            return
        await _existing(context, press.contact_id)
    except ServiceError as exc:
        await answer(query, error_text(language, exc.key, **exc.params), alert=True)
        return
    await answer(query)
    if press.action == "edit":
        buttons = [
            Button(
                r.label(language, texts.FIELD_NAMES[field]),
                data=ContactFieldPick(press.contact_id, field).pack(),
            )
            for field in CONTACT_FIELDS
        ]
        await edit_or_reply(
            update, r.render(language, "contacts/choose_field"), chunked(buttons, 2)
        )
        return
    keyboard = [
        [
            Button(
                r.label(language, common.CONFIRM),
                data=ContactPick("confirm", press.contact_id).pack(),
            ),
            Button(r.label(language, common.CANCEL), data=ContactsMenu("card").pack()),
        ]
    ]
    await edit_or_reply(update, r.render(language, "contacts/confirm_remove"), keyboard)


async def field(update: Update, context: BotContext, press: ContactFieldPick) -> None:
    """A field chosen: ask for its new value (the change flow)."""
    if not await _admin_only(update, context):
        return
    try:
        await _existing(context, press.contact_id)
    except ServiceError as exc:
        await answer(
            update.callback_query, error_text(context.language, exc.key, **exc.params), alert=True
        )
        return
    state = ContactChange(contact_id=press.contact_id, field=press.field)
    await flows.start(update, context, CONTACT_EDIT.kind, state)


async def _existing(context: BotContext, contact_id: int) -> None:
    """Refuse a person already taken off the card (another admin was quicker)."""
    async with context.app_ctx.db.transaction() as session:
        await contacts.existing(session=session, contact_id=contact_id)


def add_handlers(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Register /contacts and its buttons."""
    app.bot_data["commands"].add(
        CommandSpec("contacts", access_texts.CMD_CONTACTS, order=5, group=True)
    )
    app.add_handler(CommandHandler("contacts", show))
    app.add_handler(on_button(ContactsMenu, menu))
    app.add_handler(on_button(ContactPick, pick))
    app.add_handler(on_button(ContactFieldPick, field))
