"""Incidents as a feature: the guided report, and the escalation of unacknowledged ones (R3 R5)."""

from __future__ import annotations

from bot.incidents import escalation, report_flow
from bot.platform.context import AppContext
from bot.platform.features import Features
from storage import incidents as incidents_q


def install(features: Features[AppContext], ctx: AppContext) -> None:
    """The guided report (and drill); let the scheduler fire escalation deadlines."""
    ctx.flows.add(report_flow.REPORT)
    ctx.flows.add(report_flow.DRILL)
    ctx.scheduler.register(
        escalation.KIND,
        lambda session, timer: escalation.fire(ctx, session, timer),
        owner=incidents_q.lock_incident,
        describe=incidents_q.incident_label,
    )
