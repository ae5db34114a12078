"""Incidents as a feature: the escalation deadlines of unacknowledged reports (R5)."""

from __future__ import annotations

from bot.incidents import escalation
from bot.platform.context import AppContext
from bot.platform.features import Features


def install(features: Features[AppContext], ctx: AppContext) -> None:
    """Let the scheduler fire escalation deadlines."""
    ctx.scheduler.register(
        escalation.KIND, lambda session, timer: escalation.fire(ctx, session, timer)
    )
