"""Hooks each feature's timers and periodic checks into the scheduler."""

from __future__ import annotations

from bot.handling import actions
from bot.incidents import escalation
from bot.patrols import patrol_rounds
from bot.platform import conversations
from bot.platform.context import AppContext
from bot.records import stats
from bot.warnings import early_warning


def register(ctx: AppContext) -> None:
    """Register every feature's timer handlers and sweeps."""
    ctx.scheduler.add_sweeper("conversations", lambda: conversations.sweep(ctx))
    escalation.register(ctx)
    patrol_rounds.register(ctx)
    actions.register(ctx)
    early_warning.register(ctx)
    stats.register(ctx)
