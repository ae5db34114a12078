"""Records as a feature: the monthly summary, sent when due and planned ahead (R13)."""

from __future__ import annotations

from bot.platform.context import AppContext
from bot.platform.features import Features
from bot.records import stats


def install(features: Features[AppContext], ctx: AppContext) -> None:
    """Send monthly summaries when due, and keep the next ones planned."""
    ctx.scheduler.register(
        stats.SUMMARY, lambda session, timer: stats.send_summary(ctx, session, timer)
    )
    ctx.scheduler.add_sweeper("records", stats.SummaryPlanner(ctx).sweep)
