"""The buttons of access: the main menu under /start and /help."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bot.platform.buttons import ButtonData


@dataclass(frozen=True)
class MenuPress(ButtonData, prefix="m"):
    """A main-menu button: report an incident, the contacts card, or help."""

    item: Literal["report", "contacts", "help"]
