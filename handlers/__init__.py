"""Thin Telegram adapters: each feature registers its handlers here, in order."""

from __future__ import annotations

from typing import Any

from telegram.ext import Application

from bot.platform.commands import CommandRegistry
from handlers import handling, records
from handlers import patrols as patrol
from handlers import warnings as warning
from handlers.access import chats, contacts
from handlers.access import users as access
from handlers.incidents import card as incident
from handlers.incidents import report
from handlers.platform import errors, fallback, flow
from handlers.platform.flow import FlowRouter

FEATURES = [access, chats, contacts, report, incident, handling, patrol, warning, records]


def add_handlers(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Register every handler; the conversation router and catch-alls go last."""
    app.bot_data.setdefault("commands", CommandRegistry())
    app.bot_data.setdefault("flows", FlowRouter())
    for feature in FEATURES:
        feature.add_handlers(app)
    flow.add_handlers(app)
    fallback.add_handlers(app)
    app.add_error_handler(errors.on_error)
