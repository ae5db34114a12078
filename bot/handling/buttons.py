"""The handling buttons: the card's (checklist, update, level, resolve, end) and checklist ticks.

The guided flows these buttons start (bot/handling/flows.py) carry the engine's own buttons.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from bot.platform.buttons import ButtonData, Digits, Text


@dataclass(frozen=True)
class HandlingPress(ButtonData, prefix="hd"):
    """A handling button on a card (or on an update reminder), for one incident."""

    action: Literal["list", "upd", "lvl", "res", "over"]
    incident_id: int


@dataclass(frozen=True)
class StepTick(ButtonData, prefix="hdt"):
    """Tick one step of an incident's checklist; the signature names the step it was built for."""

    incident_id: int
    index: Annotated[int, Digits(3)]
    signature: Annotated[str, Text(6)]
