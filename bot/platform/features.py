"""What each feature adds to the others, declared once at start-up and kept on the context.

A feature (handling, patrols, warnings...) does not reach into another's module to append
itself to a list at import time: its `bot/<concept>/feature.py` has one `install(features, ctx)`
that declares what it contributes here (and registers its timers and sweepers on
`ctx.scheduler`), and the composition root (`app/build.py` `build_context`) calls the installs
it wants, in one visible list. A context built without a feature simply has none of its
contributions: no handling buttons on the card, no roster answering who is on duty.

The registry is generic in the context type only because it sits below `AppContext`
(`bot/platform/context.py` holds a `Features[AppContext]`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from bot.platform.keyboards import Keyboard
from storage.models import Incident, User

C = TypeVar("C")

# Rows of buttons a feature adds to an incident's card at its current stage (language given).
CardButtons = Callable[[C, str, Incident], Keyboard]
# Extra values the card template shows (a checklist's progress, the newest update...).
CardLines = Callable[[AsyncSession, Incident], Awaitable[dict[str, Any]]]
# Work that follows an incident's step (submitted, someone took charge), in its transaction.
IncidentHook = Callable[[AsyncSession, C, Incident], Awaitable[None]]
# Work for someone who has just become active (the warnings still in force reach them).
ActivationHook = Callable[[AsyncSession, C, User], Awaitable[None]]
# Who is on duty at a moment by the roster; None when no rotation is configured.
RosterLookup = Callable[[AsyncSession, C, datetime], Awaitable[list[User] | None]]


@dataclass
class Features(Generic[C]):
    """The contributions of the installed features, in the order they were installed."""

    installed: list[str] = field(default_factory=list)
    card_buttons: list[CardButtons[C]] = field(default_factory=list)
    card_lines: list[CardLines] = field(default_factory=list)
    on_submitted: list[IncidentHook[C]] = field(default_factory=list)
    on_taken: list[IncidentHook[C]] = field(default_factory=list)
    on_activated: list[ActivationHook[C]] = field(default_factory=list)
    roster: RosterLookup[C] | None = None

    def has(self, name: str) -> bool:
        """Whether a feature of this name was installed."""
        return name in self.installed
