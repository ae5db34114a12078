"""Patrols as a feature: rounds and their checks, the duty roster and its hand-overs (R11)."""

from __future__ import annotations

from bot.patrols import flows, patrol_rounds, roster
from bot.platform.context import AppContext
from bot.platform.features import Features


def install(features: Features[AppContext], ctx: AppContext) -> None:
    """Fire rounds, missed-round checks and hand-overs; keep rounds planned ahead; answer who
    is on duty from the roster; link a report started from a round to it."""
    ctx.flows.add(flows.PATROL_NOTE)
    features.on_submitted.append(patrol_rounds.link_incident)
    features.roster = roster.lookup
    # The round is locked before its timer, the order answering a round takes too.
    lock = patrol_rounds.lock_round
    ctx.scheduler.register(
        patrol_rounds.DUE, lambda s, timer: patrol_rounds.fire_due(ctx, s, timer), owner=lock
    )
    ctx.scheduler.register(
        patrol_rounds.MISSED, lambda s, timer: patrol_rounds.fire_missed(ctx, s, timer), owner=lock
    )
    ctx.scheduler.register(
        patrol_rounds.LEAD, lambda s, timer: patrol_rounds.fire_lead(ctx, s, timer), owner=lock
    )
    ctx.scheduler.register(
        roster.HANDOVER, lambda session, timer: roster.fire_handover(ctx, session, timer)
    )
    ctx.scheduler.add_sweeper("patrols", patrol_rounds.Planner(ctx).sweep)
