"""Hooks each feature's timers and periodic checks into the scheduler."""

from __future__ import annotations

from bot import conversations, early_warning, escalation, handling, patrols, stats
from bot.context import AppContext


def register(ctx: AppContext) -> None:
    """Register every feature's timer handlers and sweeps."""
    ctx.scheduler.add_sweeper("conversations", lambda: conversations.sweep(ctx))
    escalation.register(ctx)
    patrols.register(ctx)
    handling.register(ctx)
    early_warning.register(ctx)
    stats.register(ctx)
