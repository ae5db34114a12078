"""The buttons of patrols: the answers under a round's reminder."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bot.platform.buttons import ButtonData


@dataclass(frozen=True)
class PatrolPress(ButtonData, prefix="pat"):
    """Under a round's reminder: all normal, found a problem, or add a note to "all normal"."""

    action: Literal["normal", "problem", "note"]
    round_id: int
