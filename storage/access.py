"""Queries for users, roles, chats, invites, contacts, flags and the audit log."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AuditEntry, Chat, Contact, Flag, Invite, User, UserRole


async def get_user(*, session: AsyncSession, user_id: int) -> User | None:
    """One user by Telegram id."""
    return await session.get(User, user_id)


async def get_user_by_username(*, session: AsyncSession, username: str) -> User | None:
    """One user by @username, case-insensitively."""
    result = await session.execute(
        select(User).where(func.lower(User.username) == username.lower().lstrip("@"))
    )
    return result.scalars().first()


async def add_user(
    *,
    session: AsyncSession,
    user_id: int,
    name: str,
    username: str | None,
    language: str,
    status: str,
    now: datetime,
) -> User:
    """Insert a new user."""
    user = User(
        id=user_id,
        name=name,
        username=username,
        language=language,
        status=status,
        created_at=now,
        roles=[],
    )
    session.add(user)
    await session.flush()
    return user


async def set_roles(*, session: AsyncSession, user: User, roles: Iterable[str]) -> None:
    """Replace a user's roles."""
    wanted = set(roles)
    user.roles[:] = [r for r in user.roles if r.role in wanted]
    have = {r.role for r in user.roles}
    for role in sorted(wanted - have):
        user.roles.append(UserRole(user_id=user.id, role=role))
    await session.flush()


async def users_with_role(
    *, session: AsyncSession, role: str, status: str = "active"
) -> Sequence[User]:
    """Users holding a role, in a given status."""
    result = await session.execute(
        select(User)
        .join(UserRole, UserRole.user_id == User.id)
        .where(UserRole.role == role, User.status == status)
        .order_by(User.id)
    )
    return result.scalars().unique().all()


async def users_with_status(*, session: AsyncSession, status: str) -> Sequence[User]:
    """Every user in a status, oldest first."""
    result = await session.execute(
        select(User).where(User.status == status).order_by(User.created_at, User.id)
    )
    return result.scalars().all()


async def list_users(*, session: AsyncSession, limit: int = 200) -> Sequence[User]:
    """Users for an admin's overview, newest first."""
    result = await session.execute(select(User).order_by(User.created_at.desc()).limit(limit))
    return result.scalars().all()


async def set_blocked(*, session: AsyncSession, user_id: int, blocked: bool) -> bool:
    """Mark whether a user blocked the bot; False when the user is unknown."""
    result = await session.execute(
        update(User).where(User.id == user_id).values(blocked_bot=blocked)
    )
    return bool(getattr(result, "rowcount", 0))


async def get_chat(*, session: AsyncSession, chat_id: int) -> Chat | None:
    """One group chat by id."""
    return await session.get(Chat, chat_id)


async def upsert_chat(
    *, session: AsyncSession, chat_id: int, title: str, chat_type: str, now: datetime
) -> Chat:
    """Record a group chat, or refresh its title and type (safe when two callers race)."""
    values = {"id": chat_id, "title": title, "type": chat_type, "created_at": now}
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    await session.execute(insert(Chat).values(**values).on_conflict_do_nothing())
    chat = await session.get(Chat, chat_id, populate_existing=True)
    assert chat is not None
    chat.title = title or chat.title
    chat.type = chat_type or chat.type
    await session.flush()
    return chat


async def chat_for_purpose(*, session: AsyncSession, purpose: str) -> Chat | None:
    """The chat bound to a purpose, if any."""
    result = await session.execute(select(Chat).where(Chat.purpose == purpose))
    return result.scalars().first()


async def bound_chats(*, session: AsyncSession) -> Sequence[Chat]:
    """Every bound chat."""
    result = await session.execute(
        select(Chat).where(Chat.purpose.is_not(None)).order_by(Chat.purpose)
    )
    return result.scalars().all()


async def add_invite(
    *,
    session: AsyncSession,
    token: str,
    role: str,
    created_by: int,
    now: datetime,
    expires_at: datetime,
) -> Invite:
    """Store a new invite."""
    invite = Invite(
        token=token, role=role, created_by=created_by, created_at=now, expires_at=expires_at
    )
    session.add(invite)
    await session.flush()
    return invite


async def get_invite(*, session: AsyncSession, token: str) -> Invite | None:
    """One invite by token."""
    return await session.get(Invite, token)


async def claim_invite(*, session: AsyncSession, token: str, user_id: int, now: datetime) -> bool:
    """Mark an invite used, atomically; False if it was used or expired meanwhile."""
    result = await session.execute(
        update(Invite)
        .where(Invite.token == token, Invite.used_by.is_(None), Invite.expires_at > now)
        .values(used_by=user_id, used_at=now)
    )
    return bool(getattr(result, "rowcount", 0))


async def list_contacts(*, session: AsyncSession) -> Sequence[Contact]:
    """Every contact in display order."""
    result = await session.execute(select(Contact).order_by(Contact.sort_order, Contact.id))
    return result.scalars().all()


async def count_contacts(*, session: AsyncSession) -> int:
    """How many contacts exist."""
    return int(await session.scalar(select(func.count()).select_from(Contact)) or 0)


async def get_contact(*, session: AsyncSession, contact_id: int) -> Contact | None:
    """One contact by id."""
    return await session.get(Contact, contact_id)


async def add_contact(*, session: AsyncSession, **fields: Any) -> Contact:
    """Insert a contact."""
    contact = Contact(**fields)
    session.add(contact)
    await session.flush()
    return contact


async def delete_contact(*, session: AsyncSession, contact_id: int) -> bool:
    """Remove a contact; False when it did not exist."""
    result = await session.execute(delete(Contact).where(Contact.id == contact_id))
    return bool(getattr(result, "rowcount", 0))


async def contacts_in_position(*, session: AsyncSession, position: str) -> Sequence[Contact]:
    """Contacts holding a position, in display order."""
    result = await session.execute(
        select(Contact).where(Contact.position == position).order_by(Contact.sort_order)
    )
    return result.scalars().all()


async def add_audit(
    *,
    session: AsyncSession,
    at: datetime,
    actor_id: int | None,
    action: str,
    target: str = "",
    details: dict[str, Any] | None = None,
) -> None:
    """Append one entry to the audit log."""
    session.add(
        AuditEntry(at=at, actor_id=actor_id, action=action, target=target, details=details or {})
    )


async def audit_entries(
    *, session: AsyncSession, action: str | None = None, limit: int = 100
) -> Sequence[AuditEntry]:
    """The newest audit entries, optionally of one action."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if action:
        query = query.where(AuditEntry.action == action)
    result = await session.execute(query)
    return result.scalars().all()


async def get_flag(*, session: AsyncSession, key: str) -> Flag | None:
    """A named flag."""
    return await session.get(Flag, key)


async def set_flag(
    *, session: AsyncSession, key: str, value: dict[str, Any], now: datetime, by: int | None
) -> Flag:
    """Create or overwrite a named flag."""
    flag = await session.get(Flag, key)
    if flag is None:
        flag = Flag(key=key, value=value, updated_at=now, updated_by=by)
        session.add(flag)
    else:
        flag.value = value
        flag.updated_at = now
        flag.updated_by = by
    await session.flush()
    return flag
