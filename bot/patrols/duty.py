"""Who is on duty now: the roster when one is kept (R11), else everyone with the duty role."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.platform.context import AppContext
from bot.platform.roles import Role
from storage import access as access_q
from storage.models import User

RosterLookup = Callable[[AsyncSession, AppContext, datetime], Awaitable[list[User] | None]]
# The duty roster registers itself here; None from it means "no roster configured".
ROSTER: list[RosterLookup] = []


async def officers_on_duty(*, session: AsyncSession, ctx: AppContext, at: datetime) -> list[User]:
    """The duty officers responsible at a moment."""
    for lookup in ROSTER:
        found = await lookup(session, ctx, at)
        if found is not None:
            return found
    return list(await access_q.users_with_role(session=session, role=Role.DUTY))
