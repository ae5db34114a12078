"""Everything a service or handler needs, built once at start-up."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from bot.platform.clock import Clock
from bot.platform.config import Policy, Settings
from bot.platform.features import Features
from bot.platform.flows import Engine, Env, Flows
from bot.platform.ratelimit import Pacing
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
    pacing: Pacing
    dispatcher: Dispatcher | None = None
    bot_username: str = "incident_bot"
    flows: Flows = field(default_factory=Flows)
    # What the installed features contribute to each other (app/build.py installs them).
    features: Features[AppContext] = field(default_factory=Features)

    @property
    def engine(self) -> Engine:
        """The guided-flow engine over the declared flows."""
        return Engine(self.flows)

    def env(self) -> Env:
        """What a flow's steps may consult: the time now and the rest of the context."""
        return Env(now=self.now(), ctx=self)

    def now(self) -> datetime:
        """The current UTC time from the configured clock."""
        return self.clock.now()
