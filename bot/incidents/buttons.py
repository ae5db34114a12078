"""The buttons of an incident's card and of an escalation's private call (R4 R5)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bot.platform.buttons import ButtonData


@dataclass(frozen=True)
class IncidentPress(ButtonData, prefix="inc"):
    """Acknowledge, Take charge or Details, pressed on a card or an escalation's message."""

    action: Literal["ack", "take", "info"]
    incident_id: int
