"""Acknowledging an incident and taking charge of it."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.access import audit
from bot.access.permissions import can_handle
from bot.incidents import escalation
from bot.incidents.incident_card import refresh_cards
from bot.incidents.model import OPEN, Status
from bot.platform import outbox
from bot.platform.context import AppContext
from bot.platform.errors import NotAllowed, NotFound, Stale
from bot.platform.roles import Level
from storage import access as access_q
from storage import incidents as q
from storage.models import Incident, User


async def _load_for_change(session: AsyncSession, incident_id: int) -> Incident:
    incident = await q.get_incident(session=session, incident_id=incident_id, for_update=True)
    if incident is None:
        raise NotFound("incidents.not_found")
    return incident


async def _require_handler(
    session: AsyncSession, ctx: AppContext, incident: Incident, user_id: int
) -> User:
    user = await access_q.get_user(session=session, user_id=user_id)
    if not can_handle(ctx.policy, user, Level(incident.level)):
        raise NotAllowed("incidents.not_your_level", level=incident.level)
    assert user is not None
    return user


async def acknowledge(
    *, session: AsyncSession, ctx: AppContext, incident_id: int, user_id: int
) -> Incident:
    """Acknowledge an incident: cards show who and when, the escalation stops."""
    incident = await _load_for_change(session, incident_id)
    user = await _require_handler(session, ctx, incident, user_id)
    if incident.acknowledged_by is not None:
        raise Stale("incidents.already_acknowledged")
    if incident.status not in OPEN:
        raise Stale("incidents.closed")
    await _mark_acknowledged(session, ctx, incident, user)
    await refresh_cards(session=session, ctx=ctx, incident=incident)
    return incident


async def _mark_acknowledged(
    session: AsyncSession, ctx: AppContext, incident: Incident, user: User
) -> None:
    now = ctx.now()
    incident.acknowledged_by = user.id
    incident.acknowledged_at = now
    if incident.status == Status.REPORTED:
        incident.status = Status.ACKNOWLEDGED
    await q.add_timeline(
        session=session, incident_id=incident.id, at=now, kind="acknowledged", actor_id=user.id
    )
    await audit.record(
        session=session,
        now=now,
        actor_id=user.id,
        action="incident.acknowledged",
        target=f"incident:{incident.number}",
    )
    await escalation.stop(session=session, incident_id=incident.id)
    reporter = await access_q.get_user(session=session, user_id=incident.reporter_id)
    if reporter is not None and reporter.id != user.id:
        await outbox.enqueue_message(
            session=session,
            chat_id=reporter.id,
            now=now,
            priority=outbox.URGENT,
            text=ctx.renderer.render(
                reporter.language, "incidents/acknowledged_notice", incident=incident, by=user
            ),
        )


async def take_charge(
    *, session: AsyncSession, ctx: AppContext, incident_id: int, user_id: int
) -> Incident:
    """Take charge of an incident (acknowledging it too if nobody has)."""
    incident = await _load_for_change(session, incident_id)
    user = await _require_handler(session, ctx, incident, user_id)
    if incident.status not in OPEN or incident.status == Status.RESOLVED:
        raise Stale("incidents.closed")
    if incident.handler_id == user.id:
        raise Stale("incidents.already_yours")
    if incident.acknowledged_by is None:
        await _mark_acknowledged(session, ctx, incident, user)
    now = ctx.now()
    previous = incident.handler_id
    incident.handler_id = user.id
    incident.taken_at = now
    incident.status = Status.IN_PROGRESS
    await q.add_timeline(
        session=session,
        incident_id=incident.id,
        at=now,
        kind="taken",
        actor_id=user.id,
        data={"previous": previous} if previous else {},
    )
    await audit.record(
        session=session,
        now=now,
        actor_id=user.id,
        action="incident.taken",
        target=f"incident:{incident.number}",
    )
    for hook in ctx.features.on_taken:
        await hook(session, ctx, incident)
    await refresh_cards(session=session, ctx=ctx, incident=incident)
    return incident
