"""Queries for the records: incident search, statistics in aggregates, and exports (R13)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Float, case, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import raiseload

from storage.models import (
    EarlyWarning,
    Incident,
    PatrolRound,
    TimelineEntry,
    User,
    WarningBroadcast,
)

UPDATE_KIND = "update"
LIKE_ESCAPE = "\\"


@dataclass(frozen=True)
class IncidentCriteria:
    """What a search keeps: every field None means "any"."""

    statuses: tuple[str, ...] | None = None
    level: str | None = None
    category: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    drills: bool | None = False
    text: str | None = None


def like_pattern(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, with the user's % and _ taken literally."""
    escaped = (text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2).replace("%", LIKE_ESCAPE + "%")).replace(
        "_", LIKE_ESCAPE + "_"
    )
    return f"%{escaped}%"


def _conditions(criteria: IncidentCriteria) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = []
    if criteria.statuses is not None:
        found.append(Incident.status.in_(criteria.statuses))
    if criteria.level is not None:
        found.append(Incident.level == criteria.level)
    if criteria.category is not None:
        found.append(Incident.category == criteria.category)
    if criteria.since is not None:
        found.append(Incident.reported_at >= criteria.since)
    if criteria.until is not None:
        found.append(Incident.reported_at < criteria.until)
    if criteria.drills is not None:
        found.append(Incident.is_drill.is_(criteria.drills))
    if criteria.text:
        pattern = like_pattern(criteria.text)
        # ILIKE is case-insensitive on PostgreSQL; on SQLite SQLAlchemy writes lower() LIKE lower().
        updates = exists().where(
            TimelineEntry.incident_id == Incident.id,
            TimelineEntry.kind == UPDATE_KIND,
            TimelineEntry.text.ilike(pattern, escape=LIKE_ESCAPE),
        )
        found.append(
            or_(
                Incident.location.ilike(pattern, escape=LIKE_ESCAPE),
                Incident.description.ilike(pattern, escape=LIKE_ESCAPE),
                updates,
            )
        )
    return found


async def count_incidents(*, session: AsyncSession, criteria: IncidentCriteria) -> int:
    """How many incidents match."""
    query = select(func.count()).select_from(Incident).where(*_conditions(criteria))
    return int(await session.scalar(query) or 0)


async def page_of_incidents(
    *, session: AsyncSession, criteria: IncidentCriteria, offset: int, limit: int
) -> Sequence[Incident]:
    """One page of the matching incidents, newest first."""
    query = (
        select(Incident)
        .options(raiseload(Incident.attachments))
        .where(*_conditions(criteria))
        .order_by(Incident.reported_at.desc(), Incident.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return (await session.execute(query)).scalars().all()


async def counts_by_bucket(
    *,
    session: AsyncSession,
    boundaries: Sequence[datetime],
    drills: bool,
) -> list[tuple[int, str, str, int]]:
    """Incidents counted per (bucket, level, category); bucket i runs from boundaries i to i+1.

    The buckets are local months turned into UTC instants by the caller, so the grouping
    follows the office's calendar on every database without date functions of its own.
    """
    first, last = boundaries[0], boundaries[-1]
    bucket = case(
        *[(Incident.reported_at < edge, index) for index, edge in enumerate(boundaries[1:])],
        else_=len(boundaries) - 1,
    ).label("bucket")
    query = (
        select(bucket, Incident.level, Incident.category, func.count())
        .where(
            Incident.is_drill.is_(drills),
            Incident.reported_at >= first,
            Incident.reported_at < last,
        )
        .group_by(bucket, Incident.level, Incident.category)
    )
    result = await session.execute(query)
    return [(int(b), level, category, int(n)) for b, level, category, n in result.all()]


@dataclass(frozen=True)
class RankedDuration:
    """A duration at one rank of its group, with the group's size (None: every level)."""

    level: str | None
    rank: int
    size: int
    seconds: float


def _seconds_between(session: AsyncSession, start: Any, end: Any) -> ColumnElement[float]:
    if session.get_bind().dialect.name == "sqlite":
        # julianday() is a float of days: rounding to the millisecond removes its noise.
        return func.round((func.julianday(end) - func.julianday(start)) * 86400.0, 3)
    return func.date_part("epoch", end - start, type_=Float)


async def ranked_durations(
    *,
    session: AsyncSession,
    end: str,
    since: datetime,
    until: datetime,
    drills: bool,
    fractions: Sequence[tuple[int, int]],
) -> list[RankedDuration]:
    """The durations from report to `end` ("acknowledged_at" or "resolved_at") that sit next to
    each percentile, overall and per level; the caller interpolates between neighbours.

    Percentiles come from window functions (ROW_NUMBER and COUNT over the ordered durations),
    which SQLite and PostgreSQL both have, so both compute the same thing in one query and
    hand back at most two rows per percentile and group, whatever the number of incidents.
    PostgreSQL's percentile_cont would do it in one call but has no SQLite counterpart.
    `fractions` are percentiles as (numerator, denominator), e.g. (9, 10) for the 90th, so the
    neighbouring ranks are found with integer division on both databases.
    """
    end_column = getattr(Incident, end)
    seconds = _seconds_between(session, Incident.reported_at, end_column).label("seconds")
    base = (
        select(Incident.level.label("level"), seconds)
        .where(
            Incident.is_drill.is_(drills),
            Incident.reported_at >= since,
            Incident.reported_at < until,
            end_column.is_not(None),
        )
        .subquery()
    )
    ranked = select(
        base.c.level,
        base.c.seconds,
        (func.row_number().over(order_by=base.c.seconds) - 1).label("rank_all"),
        func.count().over().label("size_all"),
        (func.row_number().over(partition_by=base.c.level, order_by=base.c.seconds) - 1).label(
            "rank_level"
        ),
        func.count().over(partition_by=base.c.level).label("size_level"),
    ).subquery()

    def near(rank: Any, size: Any) -> ColumnElement[bool]:
        wanted = []
        for numerator, denominator in fractions:
            below = ((size - 1) * numerator) // denominator
            wanted.extend([rank == below, rank == below + 1])
        return or_(*wanted)

    query = select(ranked).where(
        or_(
            near(ranked.c.rank_all, ranked.c.size_all),
            near(ranked.c.rank_level, ranked.c.size_level),
        )
    )
    found: list[RankedDuration] = []
    for row in (await session.execute(query)).mappings():
        value = float(row["seconds"])
        found.append(RankedDuration(None, int(row["rank_all"]), int(row["size_all"]), value))
        found.append(
            RankedDuration(row["level"], int(row["rank_level"]), int(row["size_level"]), value)
        )
    return found


async def patrol_counts(
    *, session: AsyncSession, first: date, last: date, now: datetime
) -> tuple[int, int]:
    """Rounds of the local days `first`..`last` that were due by now, and how many were missed."""
    query = select(
        func.count(),
        func.count(PatrolRound.missed_at),
    ).where(PatrolRound.day >= first, PatrolRound.day <= last, PatrolRound.due_at <= now)
    due, missed = (await session.execute(query)).one()
    return int(due), int(missed)


async def warnings_sent(*, session: AsyncSession, since: datetime, until: datetime) -> int:
    """How many early warnings went out in a period (repeats and lifts not counted)."""
    query = select(func.count()).where(EarlyWarning.sent_at >= since, EarlyWarning.sent_at < until)
    return int(await session.scalar(query) or 0)


async def warnings_created(
    *, session: AsyncSession, since: datetime, until: datetime
) -> Sequence[EarlyWarning]:
    """Every warning composed in a period (sent, waiting, rejected or lifted), oldest first."""
    query = (
        select(EarlyWarning)
        .where(EarlyWarning.created_at >= since, EarlyWarning.created_at < until)
        .order_by(EarlyWarning.created_at, EarlyWarning.id)
    )
    return (await session.execute(query)).scalars().all()


async def broadcasts_of_warnings_created(
    *, session: AsyncSession, since: datetime, until: datetime, kind: str
) -> Sequence[WarningBroadcast]:
    """The broadcasts of one kind of the warnings composed in a period."""
    query = (
        select(WarningBroadcast)
        .join(EarlyWarning, EarlyWarning.id == WarningBroadcast.warning_id)
        .where(
            WarningBroadcast.kind == kind,
            EarlyWarning.created_at >= since,
            EarlyWarning.created_at < until,
        )
        .order_by(WarningBroadcast.id)
    )
    return (await session.execute(query)).scalars().all()


async def incidents_reported(
    *, session: AsyncSession, since: datetime, until: datetime
) -> Sequence[Incident]:
    """Every incident (drills too) reported in a period, oldest first."""
    query = (
        select(Incident)
        .where(Incident.reported_at >= since, Incident.reported_at < until)
        .order_by(Incident.reported_at, Incident.id)
    )
    return (await session.execute(query)).scalars().all()


async def updates_of_incidents_reported(
    *, session: AsyncSession, since: datetime, until: datetime
) -> Sequence[TimelineEntry]:
    """The progress updates of every incident reported in a period, oldest first."""
    query = (
        select(TimelineEntry)
        .join(Incident, Incident.id == TimelineEntry.incident_id)
        .where(
            TimelineEntry.kind == UPDATE_KIND,
            Incident.reported_at >= since,
            Incident.reported_at < until,
        )
        .order_by(TimelineEntry.incident_id, TimelineEntry.at, TimelineEntry.id)
    )
    return (await session.execute(query)).scalars().all()


async def names(*, session: AsyncSession, user_ids: set[int]) -> dict[int, str]:
    """The names of some users, in one query."""
    if not user_ids:
        return {}
    result = await session.execute(select(User.id, User.name).where(User.id.in_(sorted(user_ids))))
    return {int(user_id): name for user_id, name in result.all()}
