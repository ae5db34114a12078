"""Who is on duty now: the roster when one is kept (R11), else everyone with the duty role."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.platform.context import AppContext
from bot.platform.roles import Role
from storage import access as access_q
from storage.models import User


async def officers_on_duty(*, session: AsyncSession, ctx: AppContext, at: datetime) -> list[User]:
    """The duty officers responsible at a moment: by the roster when one is installed and kept."""
    lookup = ctx.features.roster
    if lookup is not None:
        found = await lookup(session, ctx, at)
        if found is not None:
            return found
    return list(await access_q.users_with_role(session=session, role=Role.DUTY))
