"""Queries for checklist ticks and situation reports."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ChecklistTick, SituationReport


async def ticks(*, session: AsyncSession, incident_id: int) -> Sequence[ChecklistTick]:
    """An incident's ticked steps, in the order they were ticked."""
    result = await session.execute(
        select(ChecklistTick)
        .where(ChecklistTick.incident_id == incident_id)
        .order_by(ChecklistTick.ticked_at, ChecklistTick.id)
    )
    return result.scalars().all()


async def get_tick(
    *, session: AsyncSession, incident_id: int, step_key: str
) -> ChecklistTick | None:
    """The tick of one step, if it was ticked."""
    result = await session.execute(
        select(ChecklistTick).where(
            ChecklistTick.incident_id == incident_id, ChecklistTick.step_key == step_key
        )
    )
    return result.scalars().first()


async def add_tick(
    *,
    session: AsyncSession,
    incident_id: int,
    step_key: str,
    position: int,
    label: str,
    ticked_by: int,
    ticked_at: datetime,
) -> ChecklistTick:
    """Record a ticked step."""
    tick = ChecklistTick(
        incident_id=incident_id,
        step_key=step_key,
        position=position,
        label=label,
        ticked_by=ticked_by,
        ticked_at=ticked_at,
    )
    session.add(tick)
    await session.flush()
    return tick


async def get_report(*, session: AsyncSession, incident_id: int) -> SituationReport | None:
    """An incident's situation report, if written."""
    result = await session.execute(
        select(SituationReport).where(SituationReport.incident_id == incident_id)
    )
    return result.scalars().first()


async def add_report(
    *,
    session: AsyncSession,
    incident_id: int,
    consequences: str,
    process: str,
    result: str,
    ended_at: datetime,
    recommendations: str,
    written_by: int,
    written_at: datetime,
) -> SituationReport:
    """Store an incident's situation report."""
    report = SituationReport(
        incident_id=incident_id,
        consequences=consequences,
        process=process,
        result=result,
        ended_at=ended_at,
        recommendations=recommendations,
        written_by=written_by,
        written_at=written_at,
    )
    session.add(report)
    await session.flush()
    return report
