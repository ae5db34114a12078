"""Handling as a feature: its buttons and lines on the incident card, its update reminders."""

from __future__ import annotations

from bot.handling import actions, closing, flows, playbooks, progress
from bot.platform.context import AppContext
from bot.platform.features import Features
from storage import incidents as incidents_q


def install(features: Features[AppContext], ctx: AppContext) -> None:
    """The card's handling buttons and lines; whoever takes charge is reminded to update (R7)."""
    for flow in flows.FLOWS:
        ctx.flows.add(flow)
    features.card_buttons.append(actions.card_buttons)
    features.card_lines.extend(
        (playbooks.card_context, progress.card_context, closing.card_context)
    )
    features.on_taken.append(progress.on_taken)
    ctx.scheduler.register(
        progress.REMINDER,
        lambda session, timer: progress.remind(ctx, session, timer),
        owner=incidents_q.lock_incident,
        describe=incidents_q.incident_label,
    )
