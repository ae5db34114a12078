"""Queries for duty overrides, patrol rounds and the timers that belong to them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import DutyOverride, PatrolRound, Timer


async def get_override(*, session: AsyncSession, day: date) -> DutyOverride | None:
    """The override of one duty day, if any."""
    return await session.get(DutyOverride, day)


async def put_override(
    *, session: AsyncSession, day: date, user_id: int, set_by: int, now: datetime
) -> DutyOverride:
    """Create or replace the override of one duty day."""
    row = await session.get(DutyOverride, day)
    if row is None:
        row = DutyOverride(day=day, user_id=user_id, set_by=set_by, set_at=now)
        session.add(row)
    else:
        row.user_id, row.set_by, row.set_at = user_id, set_by, now
    await session.flush()
    return row


async def timer_exists(*, session: AsyncSession, kind: str, ref_id: int) -> bool:
    """Whether a deadline of a kind was ever stored for one thing (fired or not)."""
    found = await session.scalar(
        select(Timer.id).where(Timer.kind == kind, Timer.ref_id == ref_id).limit(1)
    )
    return found is not None


async def add_round(*, session: AsyncSession, **fields: Any) -> PatrolRound:
    """Store a planned round."""
    row = PatrolRound(**fields)
    session.add(row)
    await session.flush()
    return row


async def get_round(
    *, session: AsyncSession, round_id: int, for_update: bool = False
) -> PatrolRound | None:
    """One round by id, optionally locked for a change."""
    query = select(PatrolRound).where(PatrolRound.id == round_id)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalars().first()


async def rounds_of_days(
    *, session: AsyncSession, first: date, last: date
) -> Sequence[PatrolRound]:
    """Rounds of the local days from `first` to `last`, both included, in order."""
    result = await session.execute(
        select(PatrolRound)
        .where(PatrolRound.day >= first, PatrolRound.day <= last)
        .order_by(PatrolRound.due_at, PatrolRound.id)
    )
    return result.scalars().all()


async def delete_round(*, session: AsyncSession, round_id: int) -> None:
    """Remove a round that will never be sent (its schedule changed)."""
    await session.execute(delete(PatrolRound).where(PatrolRound.id == round_id))


async def missed_before(
    *, session: AsyncSession, before: datetime, limit: int
) -> Sequence[PatrolRound]:
    """The newest rounds reported missed that were due before a moment."""
    result = await session.execute(
        select(PatrolRound)
        .where(PatrolRound.missed_at.is_not(None), PatrolRound.due_at < before)
        .order_by(PatrolRound.due_at.desc(), PatrolRound.id.desc())
        .limit(limit)
    )
    return result.scalars().all()
