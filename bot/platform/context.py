"""Everything a service or handler needs, built once at start-up."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from bot.platform.clock import Clock
from bot.platform.config import Policy, Settings
from bot.platform.scheduler import Scheduler
from messages.render import Renderer
from storage.db import Database

if TYPE_CHECKING:
    from bot.platform.outbox import Dispatcher


@dataclass
class AppContext:
    """The bot's shared services."""

    settings: Settings
    policy: Policy
    db: Database
    renderer: Renderer
    clock: Clock
    scheduler: Scheduler
    dispatcher: Dispatcher | None = None
    bot_username: str = "incident_bot"

    def now(self) -> datetime:
        """The current UTC time from the configured clock."""
        return self.clock.now()
