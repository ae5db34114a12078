"""A small office in the database for service tests that need no Telegram."""

from __future__ import annotations

from datetime import datetime

from app.build import build_context
from bot.platform.clock import ManualClock
from bot.platform.config import Policy, Settings
from bot.platform.context import AppContext
from storage import access as access_q
from storage.db import Database

ADMIN, LEADER, TECH, DUTY, STAFF = 1, 2, 3, 4, 5
PEOPLE = (
    (ADMIN, "Admin", "admin"),
    (LEADER, "Leader Zhao", "leader"),
    (TECH, "Tech Sun", "tech_center"),
    (DUTY, "Duty Wu", "duty"),
    (STAFF, "Staff Zheng", "staff"),
)


async def service_office(
    db: Database, *, now: datetime, policy: Policy | None = None
) -> AppContext:
    """Services on a database holding five active people, one per role, at a manual clock."""
    context = build_context(
        Settings(telegram_bot_token="1:x"), policy or Policy(), clock=ManualClock(now), db=db
    )
    async with db.transaction() as session:
        for user_id, name, role in PEOPLE:
            user = await access_q.add_user(
                session=session,
                user_id=user_id,
                name=name,
                username=None,
                language="zh_CN",
                status="active",
                now=now,
            )
            await access_q.set_roles(session=session, user=user, roles=[role])
    return context
