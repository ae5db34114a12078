"""The buttons of early warnings: Approve and Reject on a red warning's approval card.

Composing and lifting a warning are flows: their buttons are the engine's (`FlowPress`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bot.platform.buttons import ButtonData


@dataclass(frozen=True)
class WarningDecision(ButtonData, prefix="wrn"):
    """A leader approves ("ok") or rejects ("no") a red warning waiting for approval."""

    decision: Literal["ok", "no"]
    warning_id: int
