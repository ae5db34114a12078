"""Warnings as a feature: repeats, live progress messages, and the newly approved reached (R9)."""

from __future__ import annotations

from bot.platform.context import AppContext
from bot.platform.features import Features
from bot.warnings import early_warning, flows


def install(features: Features[AppContext], ctx: AppContext) -> None:
    """Compose and lift warnings; fire repeats, keep progress current, reach the newly approved."""
    ctx.flows.add(flows.COMPOSE)
    ctx.flows.add(flows.LIFT)
    features.on_activated.append(early_warning.send_active_to)
    ctx.scheduler.register(
        early_warning.REPEAT,
        lambda session, timer: early_warning.fire_repeat(ctx, session, timer),
        owner=early_warning.lock_warning,
    )
    ctx.scheduler.add_sweeper("warning_status", early_warning.StatusWatcher(ctx).sweep)
