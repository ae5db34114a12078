"""Guided flows left untouched: remind the person once, then discard the flow.

The flows themselves run on the engine (bot/platform/flows.py); this is the periodic check
the scheduler runs on every tick.
"""

from __future__ import annotations

from datetime import timedelta

from bot.platform import flows, outbox
from bot.platform.context import AppContext
from storage import access as access_q


async def sweep(ctx: AppContext) -> None:
    """Remind people of flows left unanswered, then discard them after a second wait."""
    now = ctx.now()
    policy = ctx.policy.drafts
    async with ctx.db.transaction() as session:
        reminded, expired = await flows.sweep(
            session=session,
            engine=ctx.engine,
            ctx=ctx,
            now=now,
            remind_after=timedelta(minutes=policy.remind_after_minutes),
            expire_after=timedelta(minutes=policy.expire_after_minutes),
        )
        for template, conversations in (
            ("conversations/expired", expired),
            ("conversations/reminder", reminded),
        ):
            for convo in conversations:
                user = await access_q.get_user(session=session, user_id=convo.user_id)
                if user is None:
                    continue
                await outbox.enqueue_message(
                    session=session,
                    chat_id=user.id,
                    now=now,
                    text=ctx.renderer.render(
                        user.language,
                        template,
                        kind=convo.kind,
                        step=convo.step,
                        minutes=int(policy.expire_after_minutes),
                    ),
                )
