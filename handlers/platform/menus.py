"""Telegram's command menus, in Chinese and English, per role."""

from __future__ import annotations

import logging
from typing import Any

from telegram import BotCommand, BotCommandScopeAllGroupChats, BotCommandScopeChat
from telegram.error import TelegramError
from telegram.ext import Application

from bot.access import users
from bot.platform.commands import CommandRegistry
from bot.platform.context import AppContext
from messages.i18n import LANGUAGES, gettext_for

log = logging.getLogger(__name__)
MENU_LANGUAGE_CODES = {"zh_CN": "zh", "en": "en"}


def _commands(
    registry: CommandRegistry, roles: set[str], language: str, private: bool
) -> list[BotCommand]:
    return [
        BotCommand(spec.name, gettext_for(language, spec.description)[:256])
        for spec in registry.for_roles(roles, private=private)
    ]


async def set_default_commands(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Menus for everyone: staff commands in private chats, group commands in groups."""
    registry: CommandRegistry = app.bot_data["commands"]
    for language in LANGUAGES:
        code = MENU_LANGUAGE_CODES[language]
        staff = _commands(registry, {"staff"}, language, private=True)
        group = _commands(
            registry, {"staff", "duty", "tech_center", "leader", "admin"}, language, private=False
        )
        await app.bot.set_my_commands(staff, language_code=code)
        await app.bot.set_my_commands(
            group, scope=BotCommandScopeAllGroupChats(), language_code=code
        )
        if language == "zh_CN":
            await app.bot.set_my_commands(staff)
            await app.bot.set_my_commands(group, scope=BotCommandScopeAllGroupChats())


async def set_user_commands(app: Application[Any, Any, Any, Any, Any, Any], user_id: int) -> None:
    """A user's private menu, matching their roles and language (best effort)."""
    ctx: AppContext = app.bot_data["ctx"]
    registry: CommandRegistry = app.bot_data["commands"]
    async with ctx.db.transaction() as session:
        user = await users.get_user(session=session, user_id=user_id)
    if user is None:
        return
    commands = _commands(registry, set(user.role_names), user.language, private=True)
    try:
        await app.bot.set_my_commands(commands, scope=BotCommandScopeChat(user_id))
    except TelegramError as exc:
        log.info("could not set the command menu of user %s: %s", user_id, exc)
