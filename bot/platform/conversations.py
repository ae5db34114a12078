"""Guided conversations kept as rows, so a restart resumes each user at their step."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.platform import outbox
from bot.platform.context import AppContext
from storage import access as access_q
from storage import platform as q
from storage.models import Conversation

log = logging.getLogger(__name__)

HANDLED = "_handled_update"
# The update being handled: a conversation saved while handling it remembers its id, in the
# same transaction, so the update coming again after a crash is known as already handled.
HANDLING: ContextVar[int | None] = ContextVar("handling_update", default=None)

# A feature can add its own words to the reminder and say what expiry means for it.
ExpiryHook = Callable[[AsyncSession, AppContext, Conversation], Awaitable[None]]
EXPIRY_HOOKS: dict[str, ExpiryHook] = {}


async def current(*, session: AsyncSession, user_id: int) -> Conversation | None:
    """The user's active conversation, if any."""
    return await q.get_conversation(session=session, user_id=user_id)


async def save(
    *,
    session: AsyncSession,
    ctx: AppContext,
    user_id: int,
    kind: str,
    step: str,
    data: dict[str, Any],
) -> None:
    """Start or advance a conversation; the data is written before anyone is answered."""
    update_id = HANDLING.get()
    if update_id is not None:
        data = {**data, HANDLED: update_id}
    await q.save_conversation(
        session=session, user_id=user_id, kind=kind, step=step, data=data, now=ctx.now()
    )


async def mark_handled(*, session: AsyncSession, user_id: int, update_id: int) -> None:
    """Remember the last update a conversation answered, so a redelivered one is ignored."""
    convo = await q.get_conversation(session=session, user_id=user_id)
    if convo is not None:
        convo.data = {**convo.data, HANDLED: update_id}


def handled_before(convo: Conversation | None, update_id: int) -> bool:
    """Whether an update was handled already: Telegram sends it again after a crash.

    A user's updates are handled in order (different users' at once), so any update of theirs
    no later than the last one that moved their conversation on was handled before.
    """
    return convo is not None and int(convo.data.get(HANDLED, 0)) >= update_id


async def end(*, session: AsyncSession, user_id: int) -> bool:
    """Finish or cancel a user's conversation."""
    return await q.delete_conversation(session=session, user_id=user_id)


async def sweep(ctx: AppContext) -> None:
    """Remind users of conversations left untouched, then expire them after a second wait."""
    now = ctx.now()
    policy = ctx.policy.drafts
    async with ctx.db.transaction() as session:
        remind, expire = await q.stale_conversations(
            session=session,
            remind_before=now - timedelta(minutes=policy.remind_after_minutes),
            expire_before=now - timedelta(minutes=policy.expire_after_minutes),
        )
        for convo in expire:
            user = await access_q.get_user(session=session, user_id=convo.user_id)
            hook = EXPIRY_HOOKS.get(convo.kind)
            if hook is not None:
                await hook(session, ctx, convo)
            await q.delete_conversation(session=session, user_id=convo.user_id)
            if user is not None:
                await outbox.enqueue_message(
                    session=session,
                    chat_id=user.id,
                    now=now,
                    text=ctx.renderer.render(
                        user.language, "conversations/expired", kind=convo.kind, step=convo.step
                    ),
                )
        expired = {c.user_id for c in expire}
        for convo in remind:
            if convo.user_id in expired:
                continue
            convo.reminded_at = now
            user = await access_q.get_user(session=session, user_id=convo.user_id)
            if user is None:
                continue
            await outbox.enqueue_message(
                session=session,
                chat_id=user.id,
                now=now,
                text=ctx.renderer.render(
                    user.language,
                    "conversations/reminder",
                    kind=convo.kind,
                    step=convo.step,
                    minutes=int(policy.expire_after_minutes),
                ),
            )
