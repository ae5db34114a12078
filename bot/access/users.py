"""Registration, approval, invites, roles and language: the way in (R14, R15)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from bot.access import audit
from bot.access.buttons import AccessDecision
from bot.access.permissions import is_admin
from bot.platform import outbox
from bot.platform.context import AppContext
from bot.platform.errors import Invalid, NotAllowed, NotFound, Stale
from bot.platform.keyboards import Button, Keyboard
from bot.platform.roles import ROLE_ORDER, Role, UserStatus
from messages import access as texts
from messages.common import role_label
from messages.i18n import language_from_telegram, normalize_language
from storage import access as q
from storage.models import Invite, OutboxMessage, User


@dataclass(frozen=True)
class Person:
    """Who sent an update, as Telegram describes them."""

    id: int
    name: str
    username: str | None = None
    language_code: str | None = None


class Registration(StrEnum):
    """What /start did for a user."""

    CREATED_PENDING = "created_pending"
    CREATED_ADMIN = "created_admin"
    STILL_PENDING = "still_pending"
    ACTIVE = "active"
    DISABLED = "disabled"


@dataclass(frozen=True)
class InviteResult:
    """A created invite and its link."""

    invite: Invite
    link: str


def approval_ref(user_id: int) -> str:
    """The outbox reference of every admin's approval card for one user."""
    return f"access:{user_id}"


def approval_keyboard(ctx: AppContext, language: str, user_id: int) -> Keyboard:
    """Approve-as-role buttons and Reject, for an admin's card."""
    r = ctx.renderer
    buttons = [
        [
            Button(
                r.label(language, texts.APPROVE_AS, role=role_label(language, role)),
                data=AccessDecision(user_id=user_id, role=role).pack(),
            )
        ]
        for role in ROLE_ORDER
    ]
    reject = AccessDecision(user_id=user_id, role=None).pack()
    buttons.append([Button(r.label(language, texts.REJECT), data=reject)])
    return buttons


async def register(
    *, session: AsyncSession, ctx: AppContext, person: Person
) -> tuple[User, Registration]:
    """Record a /start: new users wait for approval, configured admins are let in at once."""
    now = ctx.now()
    user = await q.get_user(session=session, user_id=person.id)
    if user is not None:
        refresh_profile(user, person)
        if user.status == UserStatus.ACTIVE:
            return user, Registration.ACTIVE
        if user.status == UserStatus.PENDING:
            return user, Registration.STILL_PENDING
        return user, Registration.DISABLED
    language = language_from_telegram(person.language_code)
    if person.id in ctx.settings.admin_ids:
        user = await q.add_user(
            session=session,
            user_id=person.id,
            name=person.name,
            username=person.username,
            language=language,
            status=UserStatus.ACTIVE,
            now=now,
        )
        user.approved_at = now
        await q.set_roles(session=session, user=user, roles=[Role.ADMIN])
        await audit.record(
            session=session,
            now=now,
            actor_id=person.id,
            action="user.admin_from_config",
            target=f"user:{person.id}",
        )
        return user, Registration.CREATED_ADMIN
    user = await q.add_user(
        session=session,
        user_id=person.id,
        name=person.name,
        username=person.username,
        language=language,
        status=UserStatus.PENDING,
        now=now,
    )
    await audit.record(
        session=session,
        now=now,
        actor_id=person.id,
        action="user.registered",
        target=f"user:{person.id}",
    )
    await _ask_admins(session=session, ctx=ctx, user=user)
    return user, Registration.CREATED_PENDING


def refresh_profile(user: User, person: Person) -> None:
    """Keep name, username and (unless chosen by the user) language current."""
    if person.name and user.name != person.name:
        user.name = person.name
    if user.username != person.username:
        user.username = person.username
    if not user.language_chosen and person.language_code is not None:
        language = language_from_telegram(person.language_code)
        # Assigning even an equal value marks the row dirty and costs a flush.
        if user.language != language:
            user.language = language


async def admins(*, session: AsyncSession) -> list[User]:
    """Active admins who can be reached."""
    return [
        u for u in await q.users_with_role(session=session, role=Role.ADMIN) if not u.blocked_bot
    ]


async def _ask_admins(*, session: AsyncSession, ctx: AppContext, user: User) -> None:
    now = ctx.now()
    for admin in await admins(session=session):
        text = ctx.renderer.render(admin.language, "access/approval_request", user=user)
        await outbox.enqueue_message(
            session=session,
            chat_id=admin.id,
            text=text,
            now=now,
            keyboard=approval_keyboard(ctx, admin.language, user.id),
            ref=approval_ref(user.id),
            priority=outbox.URGENT,
        )


async def _close_approval_cards(
    *, session: AsyncSession, ctx: AppContext, user: User, admin: User | None, role: Role | None
) -> None:
    """Edit every admin's approval card to show the decision and drop its buttons."""
    languages = {a.id: a.language for a in await admins(session=session)}

    def decided(row: OutboxMessage) -> tuple[str, Keyboard | None]:
        language = languages.get(row.chat_id, "zh_CN")
        text = ctx.renderer.render(
            language,
            "access/approval_decided",
            user=user,
            admin=admin,
            role=role,
            approved=role is not None,
        )
        return text, None

    await outbox.edit_copies(
        session=session, ref=approval_ref(user.id), now=ctx.now(), build=decided
    )


async def _require_admin(*, session: AsyncSession, admin_id: int) -> User:
    admin = await q.get_user(session=session, user_id=admin_id)
    if not is_admin(admin):
        raise NotAllowed("access.admins_only")
    assert admin is not None
    return admin


async def decide(
    *,
    session: AsyncSession,
    ctx: AppContext,
    admin_id: int,
    user_id: int,
    role: Role | None,
) -> User:
    """Approve a pending user with a role, or reject them (role None)."""
    admin = await _require_admin(session=session, admin_id=admin_id)
    user = await q.get_user(session=session, user_id=user_id)
    if user is None:
        raise NotFound("access.no_such_user")
    if user.status != UserStatus.PENDING:
        raise Stale("access.already_decided")
    now = ctx.now()
    if role is None:
        user.status = UserStatus.REJECTED
        action = "user.rejected"
    else:
        user.status = UserStatus.ACTIVE
        user.approved_at = now
        user.approved_by = admin.id
        await q.set_roles(session=session, user=user, roles=[role])
        action = "user.approved"
    await audit.record(
        session=session,
        now=now,
        actor_id=admin.id,
        action=action,
        target=f"user:{user.id}",
        role=role.value if role else None,
    )
    await _close_approval_cards(session=session, ctx=ctx, user=user, admin=admin, role=role)
    template = "access/approved" if role is not None else "access/rejected"
    await outbox.enqueue_message(
        session=session,
        chat_id=user.id,
        now=now,
        priority=outbox.URGENT,
        text=ctx.renderer.render(user.language, template, user=user, role=role),
    )
    await after_activation(session=session, ctx=ctx, user=user)
    return user


async def after_activation(*, session: AsyncSession, ctx: AppContext, user: User) -> None:
    """Run what features want done when someone becomes active (e.g. active warnings)."""
    if user.status != UserStatus.ACTIVE:
        return
    for hook in ctx.features.on_activated:
        await hook(session, ctx, user)


async def create_invite(
    *, session: AsyncSession, ctx: AppContext, admin_id: int, role: Role
) -> InviteResult:
    """A single-use deep link that registers and approves with a role."""
    await _require_admin(session=session, admin_id=admin_id)
    now = ctx.now()
    token = secrets.token_urlsafe(18)
    invite = await q.add_invite(
        session=session,
        token=token,
        role=role,
        created_by=admin_id,
        now=now,
        expires_at=now + timedelta(days=ctx.policy.access.invite_days),
    )
    await audit.record(
        session=session,
        now=now,
        actor_id=admin_id,
        action="invite.created",
        target=f"invite:{token[:6]}",
        role=role.value,
    )
    return InviteResult(invite=invite, link=f"https://t.me/{ctx.bot_username}?start={token}")


async def redeem_invite(
    *, session: AsyncSession, ctx: AppContext, person: Person, token: str
) -> User:
    """Register and approve a user from an invite link, once."""
    now = ctx.now()
    invite = await q.get_invite(session=session, token=token)
    if invite is None:
        raise NotFound("access.invite_unknown")
    if invite.used_by is not None:
        raise Stale("access.invite_used")
    if invite.expires_at <= now:
        raise Stale("access.invite_expired")
    existing = await q.get_user(session=session, user_id=person.id)
    if existing is not None and existing.status == UserStatus.ACTIVE:
        raise Invalid("access.already_registered")
    if not await q.claim_invite(session=session, token=token, user_id=person.id, now=now):
        raise Stale("access.invite_used")
    if existing is None:
        user = await q.add_user(
            session=session,
            user_id=person.id,
            name=person.name,
            username=person.username,
            language=language_from_telegram(person.language_code),
            status=UserStatus.ACTIVE,
            now=now,
        )
    else:
        user = existing
        user.status = UserStatus.ACTIVE
    user.approved_at = now
    user.approved_by = invite.created_by
    await q.set_roles(session=session, user=user, roles=[invite.role])
    await audit.record(
        session=session,
        now=now,
        actor_id=person.id,
        action="invite.redeemed",
        target=f"user:{person.id}",
        role=invite.role,
        invited_by=invite.created_by,
    )
    if existing is not None:
        await _close_approval_cards(
            session=session, ctx=ctx, user=user, admin=None, role=Role(invite.role)
        )
    await after_activation(session=session, ctx=ctx, user=user)
    return user


async def language_of(*, session: AsyncSession, user_id: int) -> str | None:
    """The language a registered person reads, or None for someone unknown."""
    user = await q.get_user(session=session, user_id=user_id)
    return user.language if user is not None else None


async def set_language(*, session: AsyncSession, user_id: int, language: str) -> User:
    """Remember the language a user chose with /lang."""
    user = await q.get_user(session=session, user_id=user_id)
    if user is None:
        raise NotFound("access.no_such_user")
    user.language = normalize_language(language)
    user.language_chosen = True
    return user


async def set_roles(
    *, session: AsyncSession, ctx: AppContext, admin_id: int, user_id: int, roles: list[Role]
) -> User:
    """Replace a user's roles (admins only)."""
    await _require_admin(session=session, admin_id=admin_id)
    user = await q.get_user(session=session, user_id=user_id)
    if user is None:
        raise NotFound("access.no_such_user")
    if not roles:
        raise Invalid("access.no_roles")
    if admin_id == user_id and Role.ADMIN not in roles:
        raise Invalid("access.keep_own_admin")
    before = sorted(user.role_names)
    await q.set_roles(session=session, user=user, roles=roles)
    if user.status != UserStatus.ACTIVE:
        user.status = UserStatus.ACTIVE
        user.approved_at = ctx.now()
        user.approved_by = admin_id
    await audit.record(
        session=session,
        now=ctx.now(),
        actor_id=admin_id,
        action="user.roles",
        target=f"user:{user.id}",
        before=before,
        after=sorted(r.value for r in roles),
    )
    await outbox.enqueue_message(
        session=session,
        chat_id=user.id,
        now=ctx.now(),
        text=ctx.renderer.render(
            user.language, "access/roles_changed", user=user, roles=sorted(user.role_names)
        ),
    )
    return user


async def set_disabled(
    *, session: AsyncSession, ctx: AppContext, admin_id: int, user_id: int, disabled: bool
) -> User:
    """Disable or re-enable a user (admins only)."""
    await _require_admin(session=session, admin_id=admin_id)
    if admin_id == user_id:
        raise Invalid("access.not_yourself")
    user = await q.get_user(session=session, user_id=user_id)
    if user is None:
        raise NotFound("access.no_such_user")
    user.status = UserStatus.DISABLED if disabled else UserStatus.ACTIVE
    await audit.record(
        session=session,
        now=ctx.now(),
        actor_id=admin_id,
        action="user.disabled" if disabled else "user.enabled",
        target=f"user:{user.id}",
    )
    return user


async def get_user(*, session: AsyncSession, user_id: int) -> User | None:
    """A user by Telegram id, or None for someone who never registered."""
    return await q.get_user(session=session, user_id=user_id)


async def everyone(*, session: AsyncSession) -> list[User]:
    """The users an admin's overview shows, newest first (the first 200)."""
    return list(await q.list_users(session=session))


async def find_user(*, session: AsyncSession, ref: str) -> User | None:
    """A user by numeric id or @username."""
    ref = ref.strip()
    if ref.lstrip("-").isdigit():
        return await q.get_user(session=session, user_id=int(ref))
    return await q.get_user_by_username(session=session, username=ref)


async def mark_blocked(*, session: AsyncSession, user_id: int, blocked: bool) -> None:
    """Record that a user blocked (or unblocked) the bot."""
    await q.set_blocked(session=session, user_id=user_id, blocked=blocked)
