"""Presses at once give one decision; a press at the moment a deadline is due is safe (R5 R14).

On PostgreSQL each transaction runs on its own connection, so these are real races: the
escalation tick and two leaders acknowledging the same incident at the same instant. One lock
order (the incident, then its timers) for every path means no deadlock; a deadlock or
serialization failure would be retried (`Database.retrying`) rather than shown to anyone.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.incidents import escalation, lifecycle, reports
from bot.incidents.model import Draft
from bot.platform.clock import ManualClock
from bot.platform.context import AppContext
from bot.platform.errors import ServiceError, Stale
from storage import access as access_q
from storage import platform as platform_q
from storage.db import Database
from storage.models import Incident, TimelineEntry
from tests.office import LEADER, STAFF, service_office

pytestmark = pytest.mark.reliability
START = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
ROUNDS = 200
DEPUTY = 6


def _draft(index: int) -> Draft:
    return Draft(
        category="network_failure",
        level="large",
        occurred_at=START.isoformat(),
        location=f"Site {index}",
        description="The core switch is down",
    )


async def _press(ctx: AppContext, incident_id: int, user_id: int) -> str:
    """Acknowledge as the card's button does: one retried transaction; the outcome's name."""
    try:
        await ctx.db.retrying(
            lambda session: lifecycle.acknowledge(
                session=session, ctx=ctx, incident_id=incident_id, user_id=user_id
            )
        )
    except Stale as exc:
        return exc.key
    except ServiceError as exc:  # any other refusal would be a wrong answer
        return f"refused: {exc.key}"
    return "acknowledged"


async def test_r5_acknowledge_at_the_moment_escalation_is_due_gives_one_decision(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """R5 R14: 200 rounds of two leaders pressing Acknowledge as the escalation step falls due:
    every press gets a sensible answer, every incident ends acknowledged once, no escalation
    step is lost or doubled, nothing is logged as an error."""
    ctx = await service_office(db, now=START)
    async with db.transaction() as session:
        deputy = await access_q.add_user(
            session=session,
            user_id=DEPUTY,
            name="Deputy Qian",
            username=None,
            language="zh_CN",
            status="active",
            now=START,
        )
        await access_q.set_roles(session=session, user=deputy, roles=["leader"])
    clock = ctx.clock
    assert isinstance(clock, ManualClock)
    outcomes: Counter[str] = Counter()
    caplog.set_level(logging.WARNING)
    for index in range(ROUNDS):
        async with db.transaction() as session:
            submitted = await reports.submit(
                session=session, ctx=ctx, reporter_id=STAFF, draft=_draft(index)
            )
            incident_id = submitted.incident.id
        clock.advance(escalation.timeout(ctx, "large"))
        _, first, second = await asyncio.gather(
            ctx.scheduler.tick(),
            _press(ctx, incident_id, LEADER),
            _press(ctx, incident_id, DEPUTY),
        )
        assert sorted((first, second)) == ["acknowledged", "incidents.already_acknowledged"], (
            index,
            first,
            second,
        )
        outcomes.update((first, second))
        clock.advance(timedelta(seconds=1))

    async with db.transaction() as session:
        incidents = list((await session.execute(select(Incident))).scalars())
        kinds = (
            await session.execute(
                select(TimelineEntry.incident_id, TimelineEntry.kind, func.count()).group_by(
                    TimelineEntry.incident_id, TimelineEntry.kind
                )
            )
        ).all()
        pending = await platform_q.pending_timers(session=session, kind=escalation.KIND)
    per_incident = {(i, k): n for i, k, n in kinds}
    assert len(incidents) == ROUNDS
    assert all(i.acknowledged_by in (LEADER, DEPUTY) for i in incidents)
    assert all(per_incident.get((i.id, "acknowledged")) == 1 for i in incidents)
    # The step that fell due fired at most once, and nothing is left to fire after the ack.
    assert all(per_incident.get((i.id, "escalated"), 0) <= 1 for i in incidents)
    assert list(pending) == []
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []
    assert outcomes["acknowledged"] == ROUNDS
    print(
        f"\nconcurrency: {ROUNDS} rounds; escalations fired first in "
        f"{sum(per_incident.get((i.id, 'escalated'), 0) for i in incidents)} of them"
    )
