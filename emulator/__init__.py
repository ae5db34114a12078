"""A local Telegram Bot API server for testing bots without Telegram."""

from .core import Emulator, EmulatorError, FloodLimits, Subscription
from .faults import Fault, FaultSet
from .html import ParseError, parse_html, to_html
from .models import CallbackAnswer, Event
from .server import EmulatorServer, create_app
from .testing import BotMessage, Button, FileInfo, GroupHandle, TelegramWorld, UserHandle

__all__ = [
    "BotMessage",
    "Button",
    "CallbackAnswer",
    "Emulator",
    "EmulatorError",
    "EmulatorServer",
    "Event",
    "Fault",
    "FaultSet",
    "FileInfo",
    "FloodLimits",
    "GroupHandle",
    "ParseError",
    "Subscription",
    "TelegramWorld",
    "UserHandle",
    "create_app",
    "parse_html",
    "to_html",
]
