"""Early warnings to every network user, in force until lifted (R9, §三(二)3(4)).

A warning is composed in a private chat, approved by a leader when it is red and its
sender is not one, then broadcast through the outbox: one batch of rows, written in the
transaction that activates it. The sender's progress message is edited from a sweep until
the batch is done. Orange and red warnings are announced again on a cron cadence, and
lifting a warning is broadcast to the same audience.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import HttpUrl, TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.access import audit, chats
from bot.access.permissions import has_any_role, is_leader
from bot.platform import cron, outbox, scheduler
from bot.platform.context import AppContext
from bot.platform.errors import Invalid, NotAllowed, NotFound, Stale
from bot.platform.keyboards import Button, Keyboard
from bot.platform.roles import ROLE_ORDER, ChatPurpose, Role
from bot.warnings.buttons import WarningDecision
from messages import warnings as texts
from messages.fit import TEXT_LIMIT, visible_len
from messages.i18n import LANGUAGES
from storage import access as access_q
from storage import warnings as q
from storage.models import EarlyWarning, OutboxMessage, Timer, User, WarningBroadcast
from storage.platform import PENDING

REPEAT = "warning_repeat"
BROADCAST_FLAG = "warning_broadcast"
TITLE_MAX = 100
TEXT_MAX = 2000
NOTE_MAX = 1000
COMPOSERS = (Role.TECH_CENTER, Role.LEADER)
AUDIENCE_ROLES = tuple(ROLE_ORDER)
GROUP_LANGUAGE = "zh_CN"
# The longest link text a warning shows; the whole address stays in the link itself.
LINK_TEXT_MAX = 60


class WarningLevel(StrEnum):
    """How serious a threat is, in the colours of the national warning scale."""

    BLUE = "blue"
    YELLOW = "yellow"
    ORANGE = "orange"
    RED = "red"


class Status(StrEnum):
    """Where a warning stands; the draft itself is the sender's conversation row."""

    PENDING_APPROVAL = "pending_approval"
    ACTIVE = "active"
    REJECTED = "rejected"
    LIFTED = "lifted"


class Kind(StrEnum):
    """Why a warning is being broadcast."""

    WARNING = "warning"
    REPEAT = "repeat"
    LIFT = "lift"


@dataclass
class WarningDraft:
    """The answers of a warning being composed, as kept in the conversation row."""

    level: str | None = None
    title: str | None = None
    what: str | None = None
    defence: str | None = None
    source_url: str | None = None
    source_done: bool = False
    everyone: bool | None = None
    roles: list[str] = field(default_factory=list)
    # Who composes it, as the preview shows them (submit reads the sender afresh).
    sender: str = ""
    sender_role: str = Role.TECH_CENTER.value

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> WarningDraft:
        """Read a draft from stored JSON."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def to_data(self) -> dict[str, Any]:
        """The draft as JSON for the conversation row."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @property
    def audience_roles(self) -> list[str]:
        """The roles chosen, or none for everyone."""
        return [] if self.everyone else sorted(self.roles)

    def missing(self) -> list[str]:
        """Required answers not given yet."""
        needed = {
            "level": self.level,
            "title": self.title,
            "what": self.what,
            "defence": self.defence,
        }
        gaps = [name for name, value in needed.items() if not value]
        if not self.everyone and not self.roles:
            gaps.append("audience")
        return gaps


@dataclass(frozen=True)
class WarningView:
    """What a warning shows, whether it is still a draft or already sent."""

    level: str
    title: str
    what: str
    defence: str
    source_url: str | None
    sender: str
    sender_role: str

    @classmethod
    def of(cls, warning: EarlyWarning, sender: User | None) -> WarningView:
        """The view of a stored warning."""
        return cls(
            level=warning.level,
            title=warning.title,
            what=warning.what,
            defence=warning.defence,
            source_url=warning.source_url,
            sender=sender.name if sender else str(warning.sender_id),
            sender_role=warning.sender_role,
        )


@dataclass(frozen=True)
class Submitted:
    """A warning after Send: broadcast at once, or waiting for a leader."""

    warning: EarlyWarning
    waiting_for_approval: bool
    approvers: str | None = None


@dataclass(frozen=True)
class ActiveWarning:
    """A warning in force and how its broadcast went."""

    warning: EarlyWarning
    counts: outbox.BatchCounts | None


_URL = TypeAdapter(HttpUrl)


def clean_title(text: str) -> str:
    """A title of 1 to 100 characters."""
    text = text.strip()
    if not 1 <= len(text) <= TITLE_MAX:
        raise Invalid("warnings.bad_title", length=len(text))
    return text


def clean_text(text: str, *, what: str) -> str:
    """'what is happening' or 'how to defend', 1 to 2000 characters."""
    text = text.strip()
    if not 1 <= len(text) <= TEXT_MAX:
        raise Invalid(f"warnings.bad_{what}", length=len(text))
    return text


def clean_url(text: str) -> str:
    """A web link (http or https, with a host), normalised; anything else is refused."""
    candidate = text.strip()
    if not candidate or any(c.isspace() for c in candidate):
        raise Invalid("warnings.bad_url")
    try:
        url = _URL.validate_python(candidate)
    except ValidationError as exc:
        raise Invalid("warnings.bad_url") from exc
    if not url.host:
        raise Invalid("warnings.bad_url")
    return str(url)


def clean_note(text: str) -> str:
    """A closing note of 1 to 1000 characters."""
    text = text.strip()
    if not 1 <= len(text) <= NOTE_MAX:
        raise Invalid("warnings.bad_note", length=len(text))
    return text


def render_warning(
    ctx: AppContext,
    language: str,
    view: WarningView,
    *,
    repeat: bool = False,
    since: datetime | None = None,
) -> str:
    """The warning exactly as a recipient reads it."""
    return ctx.renderer.render(language, "warnings/broadcast", w=view, repeat=repeat, since=since)


def check_fits(ctx: AppContext, *, draft: WarningDraft, sender: str, sender_role: str) -> None:
    """Refuse texts that would not fit in one message in its longest form, in any language."""
    view = WarningView(
        level=draft.level or WarningLevel.BLUE,
        title=draft.title or "",
        what=draft.what or "",
        defence=draft.defence or "",
        # The longest link text a warning can show, whatever link comes later.
        source_url="https://" + "x" * LINK_TEXT_MAX,
        sender=sender,
        sender_role=sender_role,
    )
    longest = max(
        visible_len(
            ctx.renderer.render_full(
                language, "warnings/broadcast", w=view, repeat=True, since=ctx.now()
            )
        )
        for language in LANGUAGES
    )
    if longest > TEXT_LIMIT:
        raise Invalid("warnings.too_long", over=longest - TEXT_LIMIT)


def role_used(user: User) -> Role:
    """The role a composer publishes in: leader when they are one, else tech center."""
    return Role.LEADER if is_leader(user) else Role.TECH_CENTER


async def require_composer(*, session: AsyncSession, user_id: int) -> User:
    """The user, if the tech center or the leadership group; otherwise a refusal."""
    user = await access_q.get_user(session=session, user_id=user_id)
    if not has_any_role(user, COMPOSERS):
        raise NotAllowed("warnings.not_allowed")
    assert user is not None
    return user


async def audience_size(*, session: AsyncSession, roles: Iterable[str]) -> tuple[int, int]:
    """How many people and bound group chats a warning for these roles reaches."""
    people = await q.audience(session=session, roles=roles)
    bound = {c.id for c in await access_q.bound_chats(session=session)}
    return len(people), len(bound)


def approval_ref(warning_id: int) -> str:
    """The outbox reference of every copy of a red warning's approval card."""
    return f"wrn:{warning_id}:approval"


def status_ref(batch_id: int) -> str:
    """The outbox reference of a broadcast's progress message."""
    return f"wrn:status:{batch_id}"


async def submit(
    *, session: AsyncSession, ctx: AppContext, sender_id: int, draft: WarningDraft
) -> Submitted:
    """Send a composed warning, or put a red one from the tech center before the leaders.

    The composer's limits are checked again here, whatever brought the draft.
    """
    sender = await require_composer(session=session, user_id=sender_id)
    gaps = draft.missing()
    if gaps:
        raise Invalid("warnings.incomplete", fields=", ".join(gaps))
    assert draft.title and draft.what and draft.defence
    draft.title = clean_title(draft.title)
    draft.what = clean_text(draft.what, what="what")
    draft.defence = clean_text(draft.defence, what="defence")
    if draft.source_url is not None:
        draft.source_url = clean_url(draft.source_url)
    if not set(draft.audience_roles) <= {role.value for role in AUDIENCE_ROLES}:
        raise Invalid("warnings.choose_roles")
    try:
        level = WarningLevel(draft.level or "")
    except ValueError as exc:
        raise Invalid("warnings.incomplete", fields="level") from exc
    role = role_used(sender)
    check_fits(ctx, draft=draft, sender=sender.name, sender_role=role)
    needs_approval = level == WarningLevel.RED and role != Role.LEADER
    approvers: str | None = None
    if needs_approval:
        approvers = await _approvers_available(session=session)
    now = ctx.now()
    warning = await q.add_warning(
        session=session,
        level=level.value,
        title=draft.title,
        what=draft.what,
        defence=draft.defence,
        source_url=draft.source_url,
        audience_roles=draft.audience_roles,
        sender_id=sender.id,
        sender_role=role.value,
        status=Status.PENDING_APPROVAL if needs_approval else Status.ACTIVE,
        created_at=now,
    )
    await audit.record(
        session=session,
        now=now,
        actor_id=sender.id,
        action="warning.submitted" if needs_approval else "warning.sent",
        target=f"warning:{warning.id}",
        level=warning.level,
        audience=warning.audience_roles or "everyone",
    )
    if needs_approval:
        await _ask_leaders(session=session, ctx=ctx, warning=warning, sender=sender)
    else:
        await _activate(session=session, ctx=ctx, warning=warning)
    return Submitted(warning=warning, waiting_for_approval=needs_approval, approvers=approvers)


async def _approvers_available(*, session: AsyncSession) -> str:
    """Where approval cards go: the leadership chat, or leaders privately, or nowhere."""
    if await chats.bound_chat(session=session, purpose=ChatPurpose.LEADERSHIP) is not None:
        return "chat"
    leaders = await access_q.users_with_role(session=session, role=Role.LEADER)
    if any(not u.blocked_bot for u in leaders):
        return "leaders"
    raise Invalid("warnings.no_approver")


def approval_keyboard(ctx: AppContext, language: str, warning_id: int) -> Keyboard:
    """Approve and Reject, for a red warning's card."""
    label = ctx.renderer.label
    return [
        [
            Button(
                label(language, texts.APPROVE),
                data=WarningDecision(decision="ok", warning_id=warning_id).pack(),
            ),
            Button(
                label(language, texts.REJECT),
                data=WarningDecision(decision="no", warning_id=warning_id).pack(),
            ),
        ]
    ]


async def _ask_leaders(
    *, session: AsyncSession, ctx: AppContext, warning: EarlyWarning, sender: User
) -> None:
    now = ctx.now()
    chat = await chats.bound_chat(session=session, purpose=ChatPurpose.LEADERSHIP)
    if chat is not None:
        targets = [(chat.id, GROUP_LANGUAGE)]
    else:
        leaders = await access_q.users_with_role(session=session, role=Role.LEADER)
        targets = [(u.id, u.language) for u in leaders if not u.blocked_bot]
    view = WarningView.of(warning, sender)
    for chat_id, language in targets:
        await outbox.enqueue_message(
            session=session,
            chat_id=chat_id,
            now=now,
            priority=outbox.URGENT,
            ref=approval_ref(warning.id),
            keyboard=approval_keyboard(ctx, language, warning.id),
            text=ctx.renderer.render(
                language, "warnings/approval", w=view, warning=warning, decided_by=None
            ),
        )


async def decide(
    *, session: AsyncSession, ctx: AppContext, warning_id: int, leader_id: int, approve: bool
) -> EarlyWarning:
    """A leader approves a red warning (it goes out at once) or rejects it."""
    leader = await access_q.get_user(session=session, user_id=leader_id)
    if not is_leader(leader):
        raise NotAllowed("warnings.leaders_only")
    assert leader is not None
    warning = await q.get_warning(session=session, warning_id=warning_id, for_update=True)
    if warning is None:
        raise NotFound("warnings.not_found")
    if warning.status != Status.PENDING_APPROVAL:
        raise Stale("warnings.already_decided")
    now = ctx.now()
    warning.approved_by = leader.id
    warning.decided_at = now
    await audit.record(
        session=session,
        now=now,
        actor_id=leader.id,
        action="warning.approved" if approve else "warning.rejected",
        target=f"warning:{warning.id}",
        level=warning.level,
    )
    sender = await access_q.get_user(session=session, user_id=warning.sender_id)
    view = WarningView.of(warning, sender)
    languages = {
        u.id: u.language for u in await access_q.users_with_role(session=session, role=Role.LEADER)
    }

    def decided(row: OutboxMessage) -> tuple[str, Keyboard | None]:
        language = languages.get(row.chat_id, GROUP_LANGUAGE)
        text = ctx.renderer.render(
            language,
            "warnings/approval",
            w=view,
            warning=warning,
            decided_by=leader,
            approved=approve,
        )
        return text, None

    if approve:
        await _activate(session=session, ctx=ctx, warning=warning)
    else:
        warning.status = Status.REJECTED
        if sender is not None:
            await outbox.enqueue_message(
                session=session,
                chat_id=sender.id,
                now=now,
                priority=outbox.URGENT,
                text=ctx.renderer.render(
                    sender.language, "warnings/rejected", warning=warning, leader=leader
                ),
            )
    await outbox.edit_copies(session=session, ref=approval_ref(warning.id), now=now, build=decided)
    return warning


async def _activate(*, session: AsyncSession, ctx: AppContext, warning: EarlyWarning) -> None:
    """Put a warning in force: broadcast it, start the sender's progress message, arm repeats."""
    now = ctx.now()
    warning.status = Status.ACTIVE
    warning.sent_at = now
    warning.batch_id = await _broadcast(
        session=session, ctx=ctx, warning=warning, kind=Kind.WARNING, status_to=warning.sender_id
    )
    await _schedule_repeat(session=session, ctx=ctx, warning=warning, after=now)


async def _broadcast(
    *,
    session: AsyncSession,
    ctx: AppContext,
    warning: EarlyWarning,
    kind: Kind,
    status_to: int | None,
) -> int:
    """Queue one copy per person in the audience and per bound chat, as one batch."""
    now = ctx.now()
    session.info[BROADCAST_FLAG] = True
    batch_id = await outbox.new_batch_id(session=session)
    sender = await access_q.get_user(session=session, user_id=warning.sender_id)
    lifter = None
    if kind == Kind.LIFT and warning.lifted_by is not None:
        lifter = await access_q.get_user(session=session, user_id=warning.lifted_by)
    view = WarningView.of(warning, sender)
    rendered: dict[str, str] = {}

    def text(language: str) -> str:
        if language not in rendered:
            if kind == Kind.LIFT:
                rendered[language] = ctx.renderer.render(
                    language, "warnings/lifted", w=view, warning=warning, lifter=lifter
                )
            else:
                rendered[language] = render_warning(
                    ctx,
                    language,
                    view,
                    repeat=kind == Kind.REPEAT,
                    since=warning.sent_at if kind == Kind.REPEAT else None,
                )
        return rendered[language]

    rows: list[dict[str, Any]] = []
    blocked = unreachable = 0
    # One INSERT ... SELECT per language: a broadcast to 100,000 people builds no row in Python.
    people = 0
    for language in await q.audience_languages(session=session, roles=warning.audience_roles):
        queued, refused = await q.queue_for_audience(
            session=session,
            roles=warning.audience_roles,
            language=language,
            row=outbox.message_row(
                chat_id=0, text=text(language), now=now, batch_id=batch_id, priority=outbox.BULK
            ),
            # Someone who blocked the bot is counted, not written to.
            blocked_status=outbox.BLOCKED,
        )
        people += queued
        blocked += refused
    if people:
        outbox.mark_queued(session)
    seen: set[int] = set()
    for chat in await access_q.bound_chats(session=session):
        if chat.id in seen:
            continue
        seen.add(chat.id)
        if chat.bot_removed:
            unreachable += 1
        rows.append(
            outbox.message_row(
                chat_id=chat.id,
                text=text(GROUP_LANGUAGE),
                now=now,
                batch_id=batch_id,
                priority=outbox.BULK,
                status=outbox.UNREACHABLE if chat.bot_removed else PENDING,
            )
        )
    for chunk in outbox.chunk_rows(rows):
        await outbox.enqueue_many(session=session, rows=chunk)
    total = people + len(rows)
    status_outbox_id: int | None = None
    if status_to is not None:
        reader = await access_q.get_user(session=session, user_id=status_to)
        if reader is not None:
            counts = outbox.BatchCounts(
                total=total,
                sent=0,
                blocked=blocked,
                failed=unreachable,
                skipped=0,
                pending=total - blocked - unreachable,
                duplicates=0,
            )
            row = await outbox.enqueue_message(
                session=session,
                chat_id=reader.id,
                now=now,
                priority=outbox.URGENT,
                ref=status_ref(batch_id),
                text=await _status_text(
                    session=session,
                    ctx=ctx,
                    language=reader.language,
                    warning=warning,
                    kind=kind,
                    counts=counts,
                ),
            )
            status_outbox_id = row.id
    await q.add_broadcast(
        session=session,
        warning_id=warning.id,
        kind=kind.value,
        batch_id=batch_id,
        created_at=now,
        status_user_id=status_to,
        status_outbox_id=status_outbox_id,
        status_edited_at=now,
        status_counts={},
    )
    return batch_id


async def _status_text(
    *,
    session: AsyncSession,
    ctx: AppContext,
    language: str,
    warning: EarlyWarning,
    kind: Kind | str,
    counts: outbox.BatchCounts,
) -> str:
    approver = None
    if warning.approved_by is not None and kind == Kind.WARNING:
        approver = await access_q.get_user(session=session, user_id=warning.approved_by)
    return ctx.renderer.render(
        language,
        "warnings/status",
        warning=warning,
        kind=str(kind),
        counts=counts,
        approver=approver,
    )


async def sweep_status(ctx: AppContext) -> bool:
    """Edit each running broadcast's progress message every few seconds; finish it when done.

    Returns whether any broadcast is still running.
    """
    every = timedelta(seconds=ctx.policy.warnings.status_every_seconds)
    running = False
    async with ctx.db.transaction() as session:
        for broadcast in await q.unfinished_broadcasts(session=session):
            await _update_status(session=session, ctx=ctx, broadcast=broadcast, every=every)
            running = running or broadcast.finished_at is None
    return running


class StatusWatcher:
    """Runs the progress sweep a few times a second while a broadcast runs, rarely otherwise.

    Each sweep is a write transaction, and on SQLite every write waits for the one lock the
    outbox needs most during a broadcast; a committed broadcast wakes the watcher at once.
    """

    def __init__(self, ctx: AppContext, *, every: float = 0.25, idle: float = 30.0) -> None:
        self.ctx = ctx
        self.every = every
        self.idle = idle
        # Due at once: a broadcast may have been running when the bot stopped.
        self._next = 0.0
        ctx.db.add_commit_listener(self._on_commit)

    def _on_commit(self, info: dict[str, Any]) -> None:
        if info.get(BROADCAST_FLAG):
            self._next = 0.0

    async def sweep(self) -> None:
        """The scheduler's periodic hook."""
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + self.every
        running = await sweep_status(self.ctx)
        self._next = now + (self.every if running else self.idle)


async def _update_status(
    *, session: AsyncSession, ctx: AppContext, broadcast: WarningBroadcast, every: timedelta
) -> None:
    now = ctx.now()
    counts = await outbox.batch_counts(session=session, batch_id=broadcast.batch_id)
    last = broadcast.status_edited_at
    if not counts.done and last is not None and now - last < every:
        return
    snapshot = {
        "sent": counts.sent,
        "blocked": counts.blocked,
        "failed": counts.failed,
        "skipped": counts.skipped,
        "pending": counts.pending,
        "total": counts.total,
    }
    if counts.done:
        broadcast.finished_at = now
    elif snapshot == broadcast.status_counts:
        return
    broadcast.status_counts = snapshot
    broadcast.status_edited_at = now
    warning = await q.get_warning(session=session, warning_id=broadcast.warning_id)
    reader = (
        await access_q.get_user(session=session, user_id=broadcast.status_user_id)
        if broadcast.status_user_id is not None
        else None
    )
    if warning is None or reader is None:
        return
    text = await _status_text(
        session=session,
        ctx=ctx,
        language=reader.language,
        warning=warning,
        kind=broadcast.kind,
        counts=counts,
    )
    await outbox.edit_copies(
        session=session,
        ref=status_ref(broadcast.batch_id),
        now=now,
        build=lambda _row: (text, None),
    )


def next_repeat(ctx: AppContext, after: datetime) -> datetime:
    """When warnings are next announced again, at least the configured gap after `after`."""
    policy = ctx.policy.warnings
    start = after + timedelta(minutes=policy.repeat_min_gap_minutes)
    return cron.next_time(policy.repeat_cron, ctx.policy.tz, start)


async def _schedule_repeat(
    *, session: AsyncSession, ctx: AppContext, warning: EarlyWarning, after: datetime
) -> None:
    if warning.level not in ctx.policy.warnings.repeat_levels:
        return
    await scheduler.schedule(
        session=session,
        kind=REPEAT,
        ref_id=warning.id,
        now=ctx.now(),
        due_at=next_repeat(ctx, after),
    )


async def fire_repeat(ctx: AppContext, session: AsyncSession, timer: Timer) -> None:
    """The cadence came round: announce a warning still in force again, and arm the next."""
    warning = await q.get_warning(session=session, warning_id=timer.ref_id, for_update=True)
    if warning is None or warning.status != Status.ACTIVE:
        return
    if warning.level not in ctx.policy.warnings.repeat_levels:
        return
    now = ctx.now()
    await _broadcast(session=session, ctx=ctx, warning=warning, kind=Kind.REPEAT, status_to=None)
    warning.repeats += 1
    await audit.record(
        session=session,
        now=now,
        actor_id=None,
        action="warning.repeated",
        target=f"warning:{warning.id}",
        count=warning.repeats,
    )
    await _schedule_repeat(session=session, ctx=ctx, warning=warning, after=now)


async def _check_lift(*, session: AsyncSession, warning: EarlyWarning | None, user_id: int) -> None:
    if warning is None:
        raise NotFound("warnings.not_found")
    user = await access_q.get_user(session=session, user_id=user_id)
    if not (is_leader(user) or has_any_role(user, [warning.sender_role])):
        if warning.sender_role == Role.LEADER:
            raise NotAllowed("warnings.cannot_lift_leader")
        raise NotAllowed("warnings.cannot_lift")
    if warning.status != Status.ACTIVE:
        raise Stale("warnings.not_active")


async def lift_target(*, session: AsyncSession, warning_id: int, user_id: int) -> EarlyWarning:
    """The warning a user may lift now; refusals say why not."""
    warning = await q.get_warning(session=session, warning_id=warning_id)
    await _check_lift(session=session, warning=warning, user_id=user_id)
    assert warning is not None
    return warning


async def lift(
    *, session: AsyncSession, ctx: AppContext, warning_id: int, user_id: int, note: str
) -> EarlyWarning:
    """Lift a warning: stop what is still queued of it and broadcast the lift to its audience."""
    warning = await q.get_warning(session=session, warning_id=warning_id, for_update=True)
    await _check_lift(session=session, warning=warning, user_id=user_id)
    assert warning is not None
    note = clean_note(note)
    now = ctx.now()
    warning.status = Status.LIFTED
    warning.lifted_at = now
    warning.lifted_by = user_id
    warning.closing_note = note
    await scheduler.cancel(session=session, kind=REPEAT, ref_id=warning.id)
    for broadcast in await q.broadcasts_of(session=session, warning_id=warning.id):
        await outbox.skip_pending(
            session=session, batch_id=broadcast.batch_id, reason="warning lifted"
        )
    warning.lift_batch_id = await _broadcast(
        session=session, ctx=ctx, warning=warning, kind=Kind.LIFT, status_to=user_id
    )
    await audit.record(
        session=session,
        now=now,
        actor_id=user_id,
        action="warning.lifted",
        target=f"warning:{warning.id}",
        note=note,
    )
    return warning


async def active(*, session: AsyncSession) -> list[ActiveWarning]:
    """Warnings in force, oldest first, with their delivery figures."""
    found = []
    for warning in await q.warnings_in_status(session=session, status=Status.ACTIVE):
        counts = None
        if warning.batch_id is not None:
            counts = await outbox.batch_counts(session=session, batch_id=warning.batch_id)
        found.append(ActiveWarning(warning=warning, counts=counts))
    return found


async def send_active_to(session: AsyncSession, ctx: AppContext, user: User) -> None:
    """Someone became active: queue them every warning in force that is meant for them."""
    if user.blocked_bot:
        return
    now = ctx.now()
    for warning in await q.warnings_in_status(session=session, status=Status.ACTIVE):
        if warning.batch_id is None:
            continue
        if warning.audience_roles and not set(warning.audience_roles) & user.role_names:
            continue
        if await outbox.batch_has_chat(session=session, batch_id=warning.batch_id, chat_id=user.id):
            continue
        sender = await access_q.get_user(session=session, user_id=warning.sender_id)
        text = render_warning(
            ctx, user.language, WarningView.of(warning, sender), since=warning.sent_at
        )
        await outbox.enqueue_many(
            session=session,
            rows=[
                outbox.message_row(
                    chat_id=user.id,
                    text=text,
                    now=now,
                    batch_id=warning.batch_id,
                    priority=outbox.NORMAL,
                )
            ],
        )


async def lock_warning(session: AsyncSession, warning_id: int) -> Any:
    """Lock a warning (its timers are taken after it: one lock order)."""
    return await q.get_warning(session=session, warning_id=warning_id, for_update=True)
