"""Queries for early warnings, their broadcasts and their audience."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, case, exists, func, insert, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import EarlyWarning, OutboxMessage, User, UserRole, WarningBroadcast


class Recipient(NamedTuple):
    """An active user a broadcast goes to: id, language, and whether they blocked the bot."""

    id: int
    language: str
    blocked: bool


def _skip_locked(session: AsyncSession) -> dict[str, Any]:
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        return {"skip_locked": True}
    return {}


async def add_warning(*, session: AsyncSession, **fields: Any) -> EarlyWarning:
    """Insert a warning."""
    warning = EarlyWarning(**fields)
    session.add(warning)
    await session.flush()
    return warning


async def get_warning(
    *, session: AsyncSession, warning_id: int, for_update: bool = False
) -> EarlyWarning | None:
    """One warning by id, optionally locked for a change."""
    query = select(EarlyWarning).where(EarlyWarning.id == warning_id)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalars().first()


async def warnings_in_status(*, session: AsyncSession, status: str) -> Sequence[EarlyWarning]:
    """Warnings in a status, oldest first."""
    result = await session.execute(
        select(EarlyWarning)
        .where(EarlyWarning.status == status)
        .order_by(EarlyWarning.sent_at, EarlyWarning.id)
    )
    return result.scalars().all()


async def add_broadcast(*, session: AsyncSession, **fields: Any) -> WarningBroadcast:
    """Record one sending of a warning."""
    broadcast = WarningBroadcast(**fields)
    session.add(broadcast)
    await session.flush()
    return broadcast


async def broadcasts_of(*, session: AsyncSession, warning_id: int) -> Sequence[WarningBroadcast]:
    """Every sending of a warning, first to last."""
    result = await session.execute(
        select(WarningBroadcast)
        .where(WarningBroadcast.warning_id == warning_id)
        .order_by(WarningBroadcast.id)
    )
    return result.scalars().all()


async def unfinished_broadcasts(*, session: AsyncSession) -> Sequence[WarningBroadcast]:
    """Broadcasts whose sender still waits for the final count, locked for this caller."""
    result = await session.execute(
        select(WarningBroadcast)
        .where(
            WarningBroadcast.finished_at.is_(None),
            WarningBroadcast.status_outbox_id.is_not(None),
        )
        .order_by(WarningBroadcast.id)
        .with_for_update(**_skip_locked(session))
    )
    return result.scalars().all()


def _in_audience(roles: Iterable[str]) -> list[ColumnElement[bool]]:
    """Conditions on users: active, holding any of the roles (none given: everyone)."""
    wanted = sorted(set(roles))
    conditions: list[ColumnElement[bool]] = [User.status == "active"]
    if wanted:
        conditions.append(exists().where(UserRole.user_id == User.id, UserRole.role.in_(wanted)))
    return conditions


async def audience(*, session: AsyncSession, roles: Iterable[str]) -> list[Recipient]:
    """Active users holding any of the roles (every active user when no role is given)."""
    query = select(User.id, User.language, User.blocked_bot).where(*_in_audience(roles))
    result = await session.execute(query.order_by(User.id))
    return [Recipient(int(i), str(lang), bool(blocked)) for i, lang, blocked in result.all()]


async def audience_languages(*, session: AsyncSession, roles: Iterable[str]) -> list[str]:
    """The languages the audience of these roles reads."""
    result = await session.execute(
        select(User.language).where(*_in_audience(roles)).distinct().order_by(User.language)
    )
    return [str(language) for language in result.scalars()]


async def queue_for_audience(
    *,
    session: AsyncSession,
    roles: Iterable[str],
    language: str,
    row: dict[str, Any],
    blocked_status: str,
) -> tuple[int, int]:
    """Queue `row` to each reader of a language in the audience, in one INSERT ... SELECT.

    Everything but the chat and the status comes from `row`; the status is `row`'s, or
    `blocked_status` for someone who blocked the bot. Returns (rows queued, of them blocked).
    """
    columns = OutboxMessage.__table__.c
    values: list[Any] = [
        User.id,
        case((User.blocked_bot.is_(True), blocked_status), else_=row["status"]),
    ]
    names = ["chat_id", "status"]
    for name, value in row.items():
        if name not in names:
            names.append(name)
            values.append(literal(value, columns[name].type))
    chosen = select(*values).where(*_in_audience(roles), User.language == language)
    await session.execute(insert(OutboxMessage).from_select(names, chosen.order_by(User.id)))
    counted = await session.execute(
        select(func.count(), func.count().filter(User.blocked_bot.is_(True))).where(
            *_in_audience(roles), User.language == language
        )
    )
    total, blocked = counted.one()
    return int(total), int(blocked)
