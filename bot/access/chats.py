"""Group chats: binding a chat to a purpose, following migrations, noticing removals."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.access import audit
from bot.access.permissions import is_admin
from bot.access.users import admins
from bot.platform import outbox
from bot.platform.context import AppContext
from bot.platform.errors import Invalid, NotAllowed
from bot.platform.roles import ChatPurpose
from storage import access as q
from storage import incidents as incidents_q
from storage import platform as runtime_q
from storage.models import Chat


async def bind(
    *,
    session: AsyncSession,
    ctx: AppContext,
    admin_id: int,
    chat_id: int,
    title: str,
    chat_type: str,
    purpose: str,
) -> tuple[Chat, Chat | None]:
    """Make a group the chat for a purpose; returns it and the chat that held it before."""
    admin = await q.get_user(session=session, user_id=admin_id)
    if not is_admin(admin):
        raise NotAllowed("access.admins_only")
    try:
        wanted = ChatPurpose(purpose)
    except ValueError as exc:
        raise Invalid("chats.unknown_purpose", purpose=purpose) from exc
    now = ctx.now()
    chat = await q.upsert_chat(
        session=session, chat_id=chat_id, title=title, chat_type=chat_type, now=now
    )
    previous = await q.chat_for_purpose(session=session, purpose=wanted)
    if previous is not None and previous.id != chat.id:
        previous.purpose = None
        await session.flush()
    else:
        previous = None
    chat.purpose = wanted
    chat.bound_by = admin_id
    chat.bound_at = now
    chat.bot_removed = False
    await session.flush()
    await audit.record(
        session=session,
        now=now,
        actor_id=admin_id,
        action="chat.bound",
        target=f"chat:{chat.id}",
        purpose=wanted.value,
        replaced=previous.id if previous else None,
    )
    return chat, previous


async def unbind(
    *, session: AsyncSession, ctx: AppContext, admin_id: int, chat_id: int
) -> str | None:
    """Release a group from its purpose; returns the purpose it had."""
    admin = await q.get_user(session=session, user_id=admin_id)
    if not is_admin(admin):
        raise NotAllowed("access.admins_only")
    chat = await q.get_chat(session=session, chat_id=chat_id)
    if chat is None or chat.purpose is None:
        return None
    purpose = chat.purpose
    chat.purpose = None
    await audit.record(
        session=session,
        now=ctx.now(),
        actor_id=admin_id,
        action="chat.unbound",
        target=f"chat:{chat.id}",
        purpose=purpose,
    )
    return purpose


async def get_chat(*, session: AsyncSession, chat_id: int) -> Chat | None:
    """A group chat the bot knows of, bound or not."""
    return await q.get_chat(session=session, chat_id=chat_id)


async def bound_chat(*, session: AsyncSession, purpose: str) -> Chat | None:
    """The chat bound to a purpose, if the bot is still in it."""
    chat = await q.chat_for_purpose(session=session, purpose=purpose)
    if chat is None or chat.bot_removed:
        return None
    return chat


async def follow_migration(
    *, session: AsyncSession, old_chat_id: int, new_chat_id: int, now: datetime
) -> Chat | None:
    """A group became a supergroup: everything that names the old id moves to the new one.

    The binding, every outbox row (sent copies of cards too, so later edits reach them) and
    every incident's route, in the caller's one transaction.
    """
    old = await q.get_chat(session=session, chat_id=old_chat_id)
    new = await q.upsert_chat(
        session=session,
        chat_id=new_chat_id,
        title=old.title if old else "",
        chat_type="supergroup",
        now=now,
    )
    if old is not None:
        purpose = old.purpose
        old.purpose = None
        old.migrated_to = new_chat_id
        await session.flush()
        if purpose and new.purpose is None:
            new.purpose = purpose
            new.bound_by = old.bound_by
            new.bound_at = old.bound_at
    new.bot_removed = False
    await session.flush()
    await runtime_q.move_chat_outbox(
        session=session, old_chat_id=old_chat_id, new_chat_id=new_chat_id
    )
    await incidents_q.move_chat_routes(
        session=session, old_chat_id=old_chat_id, new_chat_id=new_chat_id
    )
    await audit.record(
        session=session,
        now=now,
        actor_id=None,
        action="chat.migrated",
        target=f"chat:{old_chat_id}",
        new_chat_id=new_chat_id,
    )
    return new


async def bot_membership(
    *,
    session: AsyncSession,
    ctx: AppContext,
    chat_id: int,
    title: str,
    chat_type: str,
    present: bool,
) -> Chat:
    """Record the bot being added to or removed from a group; tell admins of a lost binding."""
    now = ctx.now()
    chat = await q.upsert_chat(
        session=session, chat_id=chat_id, title=title, chat_type=chat_type, now=now
    )
    was_removed = chat.bot_removed
    chat.bot_removed = not present
    if not present and not was_removed and chat.purpose:
        await audit.record(
            session=session,
            now=now,
            actor_id=None,
            action="chat.bot_removed",
            target=f"chat:{chat.id}",
            purpose=chat.purpose,
        )
        await tell_admins(session=session, ctx=ctx, template="chats/bot_removed", chat=chat)
    return chat


async def tell_admins(
    *, session: AsyncSession, ctx: AppContext, template: str, **context: object
) -> None:
    """Queue a message to every active admin, each in their language."""
    for admin in await admins(session=session):
        await outbox.enqueue_message(
            session=session,
            chat_id=admin.id,
            now=ctx.now(),
            priority=outbox.URGENT,
            text=ctx.renderer.render(admin.language, template, **context),
        )
