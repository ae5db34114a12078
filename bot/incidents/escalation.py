"""Escalation: an unacknowledged incident climbs the chain on timeouts (R5)."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.access import contacts
from bot.incidents import routing
from bot.incidents.buttons import IncidentPress
from bot.patrols import duty
from bot.platform import outbox, scheduler
from bot.platform.context import AppContext
from bot.platform.keyboards import Button
from bot.platform.roles import Level, Position
from storage import access as access_q
from storage import incidents as q
from storage.models import Incident, Timer, User

log = logging.getLogger(__name__)
KIND = "escalation"


def timeout(ctx: AppContext, level: str) -> timedelta:
    """How long a level may wait for acknowledgement before the next escalation step."""
    return timedelta(minutes=ctx.policy.escalation.timeout_minutes.for_level(Level(level)))


async def start(*, session: AsyncSession, ctx: AppContext, incident: Incident) -> None:
    """Arm the first escalation deadline of a new (or re-levelled) incident."""
    await scheduler.cancel(session=session, kind=KIND, ref_id=incident.id)
    now = ctx.now()
    incident.escalation_round = 0
    incident.escalation_step = 0
    await scheduler.schedule(
        session=session,
        kind=KIND,
        ref_id=incident.id,
        now=now,
        due_at=now + timeout(ctx, incident.level),
        payload={"round": 1, "step": 0},
    )


async def stop(*, session: AsyncSession, incident_id: int) -> None:
    """Stop escalating (acknowledged, closed)."""
    await scheduler.cancel(session=session, kind=KIND, ref_id=incident_id)


async def people_in(*, session: AsyncSession, ctx: AppContext, position: Position) -> list[User]:
    """The reachable people holding a position in the chain."""
    if position == Position.DUTY_OFFICER:
        found = await duty.officers_on_duty(session=session, ctx=ctx, at=ctx.now())
    else:
        found = []
        for telegram_id in await contacts.telegram_ids_for(session=session, position=position):
            user = await access_q.get_user(session=session, user_id=telegram_id)
            if user is not None:
                found.append(user)
    return [u for u in found if u.status == "active" and not u.blocked_bot]


async def fire(ctx: AppContext, session: AsyncSession, timer: Timer) -> None:
    """A deadline passed without acknowledgement: remind the chats, chase the next person."""
    incident = await q.get_incident(session=session, incident_id=timer.ref_id, for_update=True)
    if incident is None or incident.acknowledged_by is not None or incident.closed_at:
        return
    chain = ctx.policy.escalation.chain
    round_no = int(timer.payload.get("round", 1))
    step = int(timer.payload.get("step", 0))
    now = ctx.now()
    waited = int((now - incident.reported_at).total_seconds() // 60)
    position = chain[step] if step < len(chain) else chain[-1]
    targets = await people_in(session=session, ctx=ctx, position=position)
    incident.escalation_round = round_no
    incident.escalation_step = step
    await q.add_timeline(
        session=session,
        incident_id=incident.id,
        at=now,
        kind="escalated",
        data={
            "round": round_no,
            "step": step,
            "position": position.value,
            "people": [u.id for u in targets],
        },
    )
    await routing.notify_routed(
        session=session,
        ctx=ctx,
        incident=incident,
        template="incidents/escalation_group",
        position=position.value,
        people=targets,
        minutes=waited,
        round=round_no,
    )
    for person in targets:
        from messages import incidents as texts

        label = ctx.renderer.label
        await outbox.enqueue_message(
            session=session,
            chat_id=person.id,
            now=now,
            priority=outbox.URGENT,
            text=ctx.renderer.render(
                person.language,
                "incidents/escalation_private",
                incident=incident,
                minutes=waited,
                position=position.value,
            ),
            keyboard=[
                [
                    Button(
                        label(person.language, texts.ACKNOWLEDGE),
                        data=IncidentPress(action="ack", incident_id=incident.id).pack(),
                    ),
                    Button(
                        label(person.language, texts.DETAILS),
                        data=IncidentPress(action="info", incident_id=incident.id).pack(),
                    ),
                ]
            ],
        )
    next_round, next_step = round_no, step + 1
    if next_step >= len(chain):
        next_round, next_step = round_no + 1, 0
    if next_round > ctx.policy.escalation.max_rounds:
        await q.add_timeline(
            session=session,
            incident_id=incident.id,
            at=now,
            kind="escalation_stopped",
            data={"rounds": round_no},
        )
        return
    await scheduler.schedule(
        session=session,
        kind=KIND,
        ref_id=incident.id,
        now=now,
        due_at=now + timeout(ctx, incident.level),
        payload={"round": next_round, "step": next_step},
    )
