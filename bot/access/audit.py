"""The audit log: every privileged action, who did it, and when."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from storage import access as q


async def record(
    *,
    session: AsyncSession,
    now: datetime,
    actor_id: int | None,
    action: str,
    target: str = "",
    **details: Any,
) -> None:
    """Append an entry in the caller's transaction."""
    await q.add_audit(
        session=session, at=now, actor_id=actor_id, action=action, target=target, details=details
    )
