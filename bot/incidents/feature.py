"""Incidents as a feature: the escalation deadlines of unacknowledged reports (R5)."""

from __future__ import annotations

from bot.incidents import escalation
from bot.platform.context import AppContext
from bot.platform.features import Features
from storage import incidents as incidents_q


def install(features: Features[AppContext], ctx: AppContext) -> None:
    """Let the scheduler fire escalation deadlines."""
    ctx.scheduler.register(
        escalation.KIND,
        lambda session, timer: escalation.fire(ctx, session, timer),
        owner=incidents_q.lock_incident,
        describe=incidents_q.incident_label,
    )
