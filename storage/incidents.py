"""Queries for incidents, their timeline, routes and numbering."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Attachment, Counter, Incident, Route, TimelineEntry

OPEN_STATUSES = ("reported", "acknowledged", "in_progress", "resolved")


async def next_number(*, session: AsyncSession, series: str) -> int:
    """The next number in a series, taken under a row lock so no two callers share one."""
    counter = (
        (await session.execute(select(Counter).where(Counter.name == series).with_for_update()))
        .scalars()
        .first()
    )
    if counter is None:
        counter = Counter(name=series, value=0)
        session.add(counter)
    counter.value += 1
    await session.flush()
    return counter.value


async def add_incident(*, session: AsyncSession, **fields: Any) -> Incident:
    """Insert an incident."""
    incident = Incident(**fields)
    incident.attachments = []
    session.add(incident)
    await session.flush()
    return incident


async def add_attachment(*, session: AsyncSession, incident: Incident, **fields: Any) -> None:
    """Attach a file to an incident."""
    incident.attachments.append(Attachment(incident_id=incident.id, **fields))
    await session.flush()


async def get_incident(
    *, session: AsyncSession, incident_id: int, for_update: bool = False
) -> Incident | None:
    """One incident by id, optionally locked for a change."""
    query = select(Incident).where(Incident.id == incident_id)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalars().first()


async def get_by_number(*, session: AsyncSession, number: str) -> Incident | None:
    """One incident by its readable number."""
    result = await session.execute(select(Incident).where(Incident.number == number.upper()))
    return result.scalars().first()


async def open_incidents(
    *, session: AsyncSession, drills: bool | None = False, limit: int = 50
) -> Sequence[Incident]:
    """Incidents not yet closed, newest first; drills excluded unless asked for."""
    query = select(Incident).where(Incident.status.in_(OPEN_STATUSES))
    if drills is not None:
        query = query.where(Incident.is_drill.is_(drills))
    result = await session.execute(query.order_by(Incident.reported_at.desc()).limit(limit))
    return result.scalars().all()


async def add_timeline(
    *,
    session: AsyncSession,
    incident_id: int,
    at: datetime,
    kind: str,
    actor_id: int | None = None,
    text: str = "",
    data: dict[str, Any] | None = None,
) -> TimelineEntry:
    """Append an entry to an incident's timeline."""
    entry = TimelineEntry(
        incident_id=incident_id, at=at, kind=kind, actor_id=actor_id, text=text, data=data or {}
    )
    session.add(entry)
    await session.flush()
    return entry


async def timeline(*, session: AsyncSession, incident_id: int) -> Sequence[TimelineEntry]:
    """An incident's timeline, oldest first."""
    result = await session.execute(
        select(TimelineEntry)
        .where(TimelineEntry.incident_id == incident_id)
        .order_by(TimelineEntry.at, TimelineEntry.id)
    )
    return result.scalars().all()


async def add_route(
    *, session: AsyncSession, incident_id: int, chat_id: int, target: str, now: datetime
) -> bool:
    """Record that an incident goes to a chat; False when it already did."""
    existing = await session.execute(
        select(Route.id).where(Route.incident_id == incident_id, Route.chat_id == chat_id)
    )
    if existing.first() is not None:
        return False
    session.add(Route(incident_id=incident_id, chat_id=chat_id, target=target, added_at=now))
    await session.flush()
    return True


async def routes(*, session: AsyncSession, incident_id: int) -> Sequence[Route]:
    """The chats an incident goes to, in the order they were added."""
    result = await session.execute(
        select(Route).where(Route.incident_id == incident_id).order_by(Route.id)
    )
    return result.scalars().all()


async def counts_by_level_and_category(
    *,
    session: AsyncSession,
    since: datetime | None = None,
    until: datetime | None = None,
    drills: bool = False,
) -> dict[tuple[str, str], int]:
    """Incidents reported in a period, counted per (level, category); drills only when asked."""
    query = (
        select(Incident.level, Incident.category, func.count())
        .where(Incident.is_drill.is_(drills))
        .group_by(Incident.level, Incident.category)
    )
    if since is not None:
        query = query.where(Incident.reported_at >= since)
    if until is not None:
        query = query.where(Incident.reported_at < until)
    result = await session.execute(query)
    return {(level, category): int(count) for level, category, count in result.all()}


async def lock_incident(session: AsyncSession, incident_id: int) -> Incident | None:
    """Lock an incident row (a timer about it is taken after, never before: one lock order)."""
    return await get_incident(session=session, incident_id=incident_id, for_update=True)


async def incident_label(session: AsyncSession, timer: Any) -> str:
    """What a timer about an incident is about: its kind and the incident's number."""
    incident = await get_incident(session=session, incident_id=int(timer.ref_id))
    return f"{timer.kind} of incident {incident.number if incident else timer.ref_id}"


async def move_chat_routes(*, session: AsyncSession, old_chat_id: int, new_chat_id: int) -> int:
    """Point every incident routed to a group at the group's new id (it became a supergroup)."""
    already = select(Route.incident_id).where(Route.chat_id == new_chat_id)
    await session.execute(
        delete(Route).where(Route.chat_id == old_chat_id, Route.incident_id.in_(already))
    )
    moved = await session.execute(
        update(Route).where(Route.chat_id == old_chat_id).values(chat_id=new_chat_id)
    )
    return int(moved.rowcount or 0)  # type: ignore[attr-defined]
