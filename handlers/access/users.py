"""Who gets in: the gate in front of every handler, /start, approvals, invites, roles (R14)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from telegram import ChatMemberUpdated, Update
from telegram.constants import ChatMemberStatus, ChatType
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    ChatMemberHandler,
    CommandHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.access import chats, users
from bot.access.buttons import AccessDecision, LanguageChoice, MenuPress
from bot.access.permissions import is_admin
from bot.platform import flows
from bot.platform.commands import CommandRegistry, CommandSpec, roles
from bot.platform.errors import ServiceError
from bot.platform.keyboards import Button, Keyboard
from bot.platform.roles import ROLE_ORDER, Role, UserStatus
from handlers.access import contacts
from handlers.incidents import report
from handlers.platform import edits
from handlers.platform import flows as flow_handlers
from handlers.platform.common import (
    BotContext,
    answer,
    command_args,
    language_of,
    on_button,
    person,
    reply,
)
from messages import access as texts
from messages import common
from messages.common import error_text
from messages.render import Renderer

if TYPE_CHECKING:
    from storage.models import User

# Commands that reach their handler even from people or chats the gate would stop.
OPEN_PRIVATE = {"start", "lang", "language"}
OPEN_GROUP = {"bind", "unbind"}
NOT_BOUND_NOTE_EVERY = 300.0
INACTIVE_NOTE_EVERY = 60.0

COMMANDS = [
    CommandSpec("start", texts.CMD_START, order=0),
    CommandSpec("help", texts.CMD_HELP, order=1, group=True),
    CommandSpec("lang", texts.CMD_LANG, order=90),
    CommandSpec("invite", texts.CMD_INVITE, roles(Role.ADMIN), order=80),
    CommandSpec("users", texts.CMD_USERS, roles(Role.ADMIN), order=81),
    CommandSpec("role", texts.CMD_ROLE, roles(Role.ADMIN), order=82),
    CommandSpec("bind", texts.CMD_BIND, roles(Role.ADMIN), private=False, group=True, order=83),
    CommandSpec("unbind", texts.CMD_UNBIND, roles(Role.ADMIN), private=False, group=True, order=84),
]


def _command(update: Update) -> str | None:
    message = update.effective_message
    text = (message.text or "") if message else ""
    if not text.startswith("/"):
        return None
    return text.split()[0][1:].split("@")[0].lower()


def main_menu(language: str, renderer: Renderer) -> Keyboard:
    """The buttons under /start and /help."""
    label = renderer.label
    return [
        [Button(label(language, texts.REPORT_BUTTON), data=MenuPress("report").pack())],
        [
            Button(label(language, texts.CONTACTS_BUTTON), data=MenuPress("contacts").pack()),
            Button(label(language, texts.HELP_BUTTON), data=MenuPress("help").pack()),
        ],
    ]


async def gate(update: Update, context: BotContext) -> None:
    """Load the sender; stop anything from unknown users or in unbound groups."""
    if update.my_chat_member is not None or update.chat_member is not None:
        return
    chat, user = update.effective_chat, update.effective_user
    if chat is None or user is None or user.is_bot:
        raise ApplicationHandlerStop
    ctx = context.app_ctx
    async with ctx.db.transaction() as session:
        viewer = await users.get_user(session=session, user_id=user.id)
        if viewer is not None:
            users.refresh_profile(viewer, person(update))
        elif user.id in ctx.settings.admin_ids:
            viewer, _ = await users.register(session=session, ctx=ctx, person=person(update))
        group_row = None
        if chat.type != ChatType.PRIVATE:
            group_row = await chats.get_chat(session=session, chat_id=chat.id)
        convo = await flows.current(session=session, user_id=user.id) if viewer else None
    context.viewer = viewer
    context.language = language_of(update, viewer)
    context.gate_conversation = convo
    context.gate_read_conversation = viewer is not None
    if flows.handled_before(convo, update.update_id):
        await flow_handlers.repeated(update, context)
        raise ApplicationHandlerStop
    acting = update.callback_query is not None or (
        update.effective_message is not None
        and (
            update.effective_message.text
            or update.effective_message.photo
            or update.effective_message.document
        )
    )
    if not acting:
        return
    if chat.type == ChatType.PRIVATE:
        await _private_gate(update, context)
    else:
        bound = group_row is not None and group_row.purpose and not group_row.bot_removed
        if bound:
            return
        if _command(update) not in OPEN_GROUP:
            await _not_bound(update, context)
            raise ApplicationHandlerStop
        if not is_admin(viewer) and not _note_due(context, (chat.id, user.id)):
            # Someone who may not bind keeps trying in an unbound group: they were told once.
            raise ApplicationHandlerStop


async def _private_gate(update: Update, context: BotContext) -> None:
    viewer = context.viewer
    if viewer is not None and viewer.status == UserStatus.ACTIVE:
        return
    if _command(update) in OPEN_PRIVATE:
        return
    r = context.app_ctx.renderer
    language = context.language
    status = viewer.status if viewer is not None else "unknown"
    sender = update.effective_user.id if update.effective_user else 0
    if update.callback_query is None and not _note_due(context, ("inactive", sender, status)):
        # Told less than a minute ago: one account's flood costs a lookup, not a reply each.
        raise ApplicationHandlerStop
    if viewer is None:
        template, alert = "access/not_registered", texts.NOT_REGISTERED
    elif viewer.status == UserStatus.PENDING:
        template, alert = "access/still_pending", texts.PENDING_ALERT
    else:
        template, alert = "access/no_access", texts.NO_ACCESS_ALERT
    if update.callback_query is not None:
        await answer(update.callback_query, r.label(language, alert), alert=True)
    else:
        await reply(update, r.render(language, template))
    raise ApplicationHandlerStop


def _note_due(context: BotContext, key: object) -> bool:
    """Whether someone who gets only a short note may get it now (once per few minutes).

    Unbound groups and the people typing in them, and accounts that are not active: each is
    told once, then left alone for a while, so a flood costs no replies.
    """
    notes: dict[object, float] = context.application.bot_data.setdefault("not_bound_notes", {})
    now = time.monotonic()
    every = (
        INACTIVE_NOTE_EVERY
        if isinstance(key, tuple) and key[0] == "inactive"
        else NOT_BOUND_NOTE_EVERY
    )
    if now - notes.get(key, -1e9) < every:
        return False
    notes[key] = now
    if len(notes) > 100_000:
        for stale in [k for k, at in notes.items() if now - at > NOT_BOUND_NOTE_EVERY]:
            del notes[stale]
    return True


async def _not_bound(update: Update, context: BotContext) -> None:
    chat = update.effective_chat
    assert chat is not None
    r = context.app_ctx.renderer
    if update.callback_query is not None:
        await answer(update.callback_query, r.label(context.language, common.STALE_BUTTON), True)
        return
    if _note_due(context, chat.id):
        await reply(update, r.render(context.chat_language, "chats/not_bound"))


async def start(update: Update, context: BotContext) -> None:
    """Register a newcomer, redeem an invite, or greet a member."""
    ctx = context.app_ctx
    if update.effective_chat is None or update.effective_chat.type != ChatType.PRIVATE:
        await reply(update, error_text(context.reply_language(update), "access.private_only"))
        return
    args = command_args(update)
    if args and args[0] not in ("report",):
        await _redeem(update, context, args[0])
        return
    async with ctx.db.transaction() as session:
        user, outcome = await users.register(session=session, ctx=ctx, person=person(update))
        language = user.language
        text = _start_text(context, user, outcome)
    keyboard = (
        main_menu(language, ctx.renderer)
        if outcome in (users.Registration.ACTIVE, users.Registration.CREATED_ADMIN)
        else None
    )
    await reply(update, text, keyboard)


def _start_text(context: BotContext, user: User, outcome: users.Registration) -> str:
    r = context.app_ctx.renderer
    language = user.language
    if outcome == users.Registration.CREATED_PENDING:
        return r.render(language, "access/registered", user=user)
    if outcome == users.Registration.STILL_PENDING:
        return r.render(language, "access/still_pending")
    if outcome == users.Registration.DISABLED:
        return r.render(language, "access/no_access")
    role_names = common.role_list(language, sorted(user.role_names))
    return r.render(language, "access/welcome", user=user, roles=role_names)


async def _redeem(update: Update, context: BotContext, token: str) -> None:
    ctx = context.app_ctx
    try:
        async with ctx.db.transaction() as session:
            user = await users.redeem_invite(
                session=session, ctx=ctx, person=person(update), token=token
            )
            text = ctx.renderer.render(
                user.language,
                "access/invite_redeemed",
                user=user,
                role=sorted(user.role_names)[0],
            )
            language = user.language
    except ServiceError as exc:
        await reply(update, error_text(context.language, exc.key, **exc.params))
        return
    await reply(update, text, main_menu(language, ctx.renderer))
    await publish_user_commands(context, update.effective_user.id if update.effective_user else 0)


async def decide(update: Update, context: BotContext, decision: AccessDecision) -> None:
    """An admin pressed Approve-as-role or Reject on a request card."""
    query = update.callback_query
    assert query is not None and update.effective_user is not None
    ctx = context.app_ctx
    user_id, role = decision.user_id, decision.role
    try:
        async with ctx.db.transaction() as session:
            await users.decide(
                session=session,
                ctx=ctx,
                admin_id=update.effective_user.id,
                user_id=user_id,
                role=role,
            )
    except ServiceError as exc:
        await answer(query, error_text(context.language, exc.key, **exc.params), alert=True)
        return
    await answer(query, ctx.renderer.label(context.language, texts.DECIDED_ALERT))
    await publish_user_commands(context, user_id)


async def invite(update: Update, context: BotContext) -> None:
    """/invite <role>: an admin creates a single-use registration link."""
    ctx = context.app_ctx
    assert update.effective_user is not None
    names = common.choices(r.value for r in ROLE_ORDER)
    args = command_args(update)
    try:
        role = Role(args[0].lower()) if args else None
    except ValueError:
        role = None
    if role is None:
        await reply(update, error_text(context.language, "access.usage_invite", roles=names))
        return
    try:
        async with ctx.db.transaction() as session:
            result = await users.create_invite(
                session=session, ctx=ctx, admin_id=update.effective_user.id, role=role
            )
    except ServiceError as exc:
        await reply(update, error_text(context.language, exc.key, **exc.params))
        return
    await reply(
        update,
        ctx.renderer.render(
            context.language,
            "access/invite_created",
            role=role,
            link=result.link,
            expires_at=result.invite.expires_at,
        ),
    )


async def menu_button(update: Update, context: BotContext, press: MenuPress) -> None:
    """A main-menu button: report, contacts or help."""
    if press.item == "report":
        await report.start_command(update, context)
    elif press.item == "contacts":
        await contacts.show_button(update, context)
    else:
        await help_command(update, context)


async def help_command(update: Update, context: BotContext) -> None:
    """/help: the commands this user's roles allow."""
    ctx = context.app_ctx
    viewer = context.viewer
    user_roles = set(viewer.role_names) if viewer else set()
    chat = update.effective_chat
    private = chat is not None and chat.type == ChatType.PRIVATE
    registry: CommandRegistry = context.application.bot_data["commands"]
    specs = registry.for_roles(user_roles, private=private)
    language = context.reply_language(update)
    lines = [(s.name, ctx.renderer.label(language, s.description)) for s in specs]
    role_names = common.role_list(language, sorted(user_roles))
    text = ctx.renderer.render(language, "access/help", commands=lines, roles=role_names)
    keyboard = main_menu(language, ctx.renderer) if private else None
    if update.callback_query is not None:
        await answer(update.callback_query)
    await reply(update, text, keyboard)


async def language_command(update: Update, context: BotContext) -> None:
    """/lang [zh|en]: choose the language of the bot's messages."""
    ctx = context.app_ctx
    args = command_args(update)
    if args and args[0].lower()[:2] in ("zh", "en", "cn"):
        await _set_language(update, context, "en" if args[0].lower().startswith("en") else "zh_CN")
        return
    keyboard = [
        [
            Button(texts.LANG_ZH, data=LanguageChoice("zh_CN").pack()),
            Button(texts.LANG_EN, data=LanguageChoice("en").pack()),
        ]
    ]
    await reply(update, ctx.renderer.render(context.language, "access/choose_language"), keyboard)


async def language_button(update: Update, context: BotContext, choice: LanguageChoice) -> None:
    """A language button was pressed."""
    await answer(update.callback_query)
    await _set_language(update, context, choice.language)


async def _set_language(update: Update, context: BotContext, language: str) -> None:
    ctx = context.app_ctx
    assert update.effective_user is not None
    if context.viewer is None:
        await reply(update, ctx.renderer.render(context.language, "access/not_registered"))
        return
    async with ctx.db.transaction() as session:
        user = await users.set_language(
            session=session, user_id=update.effective_user.id, language=language
        )
        language = user.language
    await reply(update, ctx.renderer.render(language, "access/language_set"))


async def users_command(update: Update, context: BotContext) -> None:
    """/users: admins see everyone with status and roles."""
    ctx = context.app_ctx
    from bot.access.permissions import is_admin

    if not is_admin(context.viewer):
        await reply(update, error_text(context.language, "access.admins_only"))
        return
    async with ctx.db.transaction() as session:
        everyone = await users.everyone(session=session)
        parts = ctx.renderer.render_parts(context.language, "access/users", users=everyone)
    for part in parts:
        await reply(update, part)


async def role_command(update: Update, context: BotContext) -> None:
    """/role <user> <role,...>: an admin changes someone's roles."""
    ctx = context.app_ctx
    assert update.effective_user is not None
    args = command_args(update)
    if len(args) < 2:
        await reply(update, error_text(context.language, "access.usage_role"))
        return
    try:
        wanted = [Role(name.strip().lower()) for name in args[1].split(",") if name.strip()]
    except ValueError:
        names = common.choices(r.value for r in ROLE_ORDER)
        await reply(update, error_text(context.language, "access.bad_role", roles=names))
        return
    try:
        async with ctx.db.transaction() as session:
            target = await users.find_user(session=session, ref=args[0])
            if target is None:
                await reply(update, error_text(context.language, "access.no_such_user"))
                return
            user = await users.set_roles(
                session=session,
                ctx=ctx,
                admin_id=update.effective_user.id,
                user_id=target.id,
                roles=wanted,
            )
            text = ctx.renderer.render(
                context.language, "access/roles_set", user=user, roles=sorted(user.role_names)
            )
            user_id = user.id
    except ServiceError as exc:
        await reply(update, error_text(context.language, exc.key, **exc.params))
        return
    await reply(update, text)
    await publish_user_commands(context, user_id)


async def membership(update: Update, context: BotContext) -> None:
    """The bot was blocked/unblocked by a user, or added to/removed from a group."""
    change: ChatMemberUpdated | None = update.my_chat_member
    if change is None:
        return
    ctx = context.app_ctx
    status = change.new_chat_member.status
    present = status in (
        ChatMemberStatus.MEMBER,
        ChatMemberStatus.ADMINISTRATOR,
        ChatMemberStatus.OWNER,
    )
    chat = change.chat
    async with ctx.db.transaction() as session:
        if chat.type == ChatType.PRIVATE:
            await users.mark_blocked(session=session, user_id=chat.id, blocked=not present)
            return
        row = await chats.bot_membership(
            session=session,
            ctx=ctx,
            chat_id=chat.id,
            title=chat.title or "",
            chat_type=chat.type,
            present=present,
        )
        newly_added = present and change.old_chat_member.status in (
            ChatMemberStatus.LEFT,
            ChatMemberStatus.BANNED,
        )
        purpose = row.purpose
    if newly_added and not purpose and _note_due(context, chat.id):
        await context.bot.send_message(
            chat_id=chat.id,
            text=ctx.renderer.render("zh_CN", "chats/not_bound"),
        )


async def migration(update: Update, context: BotContext) -> None:
    """A group became a supergroup: follow it to its new id."""
    message = update.effective_message
    if message is None or message.migrate_to_chat_id is None:
        return
    ctx = context.app_ctx
    async with ctx.db.transaction() as session:
        await chats.follow_migration(
            session=session,
            old_chat_id=message.chat.id,
            new_chat_id=message.migrate_to_chat_id,
            now=ctx.now(),
        )


async def publish_user_commands(context: BotContext, user_id: int) -> None:
    """Show a user the command menu their roles allow (best effort)."""
    from handlers.platform.menus import set_user_commands

    await set_user_commands(context.application, user_id)


def add_handlers(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Register the gate and the access handlers."""
    registry: CommandRegistry = app.bot_data["commands"]
    registry.add(*COMMANDS)
    app.add_handler(ChatMemberHandler(membership, ChatMemberHandler.MY_CHAT_MEMBER), group=-2)
    app.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, migration), group=-2)
    app.add_handler(TypeHandler(Update, gate), group=-2)
    app.add_handler(edits.handler(), group=edits.GROUP)
    private = filters.ChatType.PRIVATE
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CommandHandler("help", help_command))
    app.add_handler(on_button(MenuPress, menu_button))
    app.add_handler(CommandHandler(["lang", "language"], language_command, filters=private))
    app.add_handler(on_button(LanguageChoice, language_button))
    app.add_handler(on_button(AccessDecision, decide))
    app.add_handler(CommandHandler("invite", invite, filters=private))
    app.add_handler(CommandHandler("users", users_command, filters=private))
    app.add_handler(CommandHandler("role", role_command, filters=private))
