"""The duty roster (R11): a rotation from the policy, overrides, and the daily hand-over."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot.access import audit, chats, contacts, users
from bot.access.permissions import has_any_role, is_active, is_admin, is_handler
from bot.platform import outbox, scheduler
from bot.platform.config import DutyPolicy
from bot.platform.context import AppContext
from bot.platform.errors import Invalid, NotAllowed, NotFound
from bot.platform.roles import ChatPurpose, Position, Role
from storage import access as access_q
from storage import patrols as q
from storage.models import Timer, User

HANDOVER = "duty.handover"
OFFICER_ROLES = (Role.DUTY, Role.TECH_CENTER)
VIEW_DAYS = 7
# How far a hand-over message looks ahead to say until when the officer stays on duty.
RUN_LOOKAHEAD_DAYS = 14


@dataclass
class DutyDay:
    """Who holds one duty day (from its hand-over to the next), and why."""

    day: date
    officer: User | None
    override: bool
    # The rotation's entry as written in the policy, shown when it matches nobody.
    entry: str = ""

    @property
    def officer_id(self) -> int | None:
        """The officer's user id, or None when nobody is on duty."""
        return self.officer.id if self.officer is not None else None


@dataclass
class RosterView:
    """What /duty shows."""

    configured: bool
    handover: str
    shift: str
    now: DutyDay | None
    days: list[DutyDay]
    everyone: list[User]


def duty_day_at(at: datetime, tz: ZoneInfo, handover: time) -> date:
    """The duty day a moment belongs to: before the hand-over time it is still yesterday's."""
    local = at.astimezone(tz)
    return local.date() if local.time() >= handover else local.date() - timedelta(days=1)


def handover_moment(day: date, tz: ZoneInfo, handover: time) -> datetime:
    """When a duty day begins, as an aware UTC instant."""
    return datetime.combine(day, handover, tzinfo=tz).astimezone(UTC)


def rotation_index(day: date, policy: DutyPolicy) -> int | None:
    """Which officer of the rotation holds a duty day, or None without a rotation."""
    if not policy.officers:
        return None
    days = (day - policy.start).days
    shift = days if policy.shift == "day" else days // 7
    return shift % len(policy.officers)


def shift_begins(day: date, policy: DutyPolicy) -> bool:
    """Whether a rotation shift starts on this duty day."""
    return policy.shift == "day" or (day - policy.start).days % 7 == 0


def current_day(ctx: AppContext, at: datetime | None = None) -> date:
    """The duty day running at a moment (now by default)."""
    return duty_day_at(at or ctx.now(), ctx.policy.tz, ctx.policy.duty.handover_time)


def handover_at(ctx: AppContext, day: date) -> datetime:
    """When a duty day's hand-over happens."""
    return handover_moment(day, ctx.policy.tz, ctx.policy.duty.handover_time)


async def _resolve(session: AsyncSession, entry: int | str) -> User | None:
    user = await users.find_user(session=session, ref=str(entry))
    return user if is_active(user) else None


async def officer_for(*, session: AsyncSession, ctx: AppContext, day: date) -> DutyDay | None:
    """Who holds a duty day; None when no roster is kept for it."""
    override = await q.get_override(session=session, day=day)
    if override is not None:
        user = await access_q.get_user(session=session, user_id=override.user_id)
        return DutyDay(
            day=day,
            officer=user if is_active(user) else None,
            override=True,
            entry=str(override.user_id),
        )
    index = rotation_index(day, ctx.policy.duty)
    if index is None:
        return None
    entry = ctx.policy.duty.officers[index]
    return DutyDay(
        day=day, officer=await _resolve(session, entry), override=False, entry=str(entry)
    )


async def lookup(session: AsyncSession, ctx: AppContext, at: datetime) -> list[User] | None:
    """The roster lookup (`features.roster`): the officer of the duty day at a moment."""
    found = await officer_for(session=session, ctx=ctx, day=current_day(ctx, at))
    if found is None:
        return None
    return [found.officer] if found.officer is not None else []


async def view(*, session: AsyncSession, ctx: AppContext, user_id: int) -> RosterView:
    """The roster for today and the following days (handlers, leaders and admins)."""
    viewer = await access_q.get_user(session=session, user_id=user_id)
    if not (is_handler(viewer) or is_admin(viewer)):
        raise NotAllowed("patrols.roster_not_allowed")
    now = ctx.now()
    today = now.astimezone(ctx.policy.tz).date()
    days = []
    for offset in range(VIEW_DAYS):
        day = today + timedelta(days=offset)
        days.append(
            await officer_for(session=session, ctx=ctx, day=day)
            or DutyDay(day=day, officer=None, override=False)
        )
    everyone = list(await access_q.users_with_role(session=session, role=Role.DUTY))
    return RosterView(
        configured=bool(ctx.policy.duty.officers),
        handover=ctx.policy.duty.handover,
        shift=ctx.policy.duty.shift,
        now=await officer_for(session=session, ctx=ctx, day=current_day(ctx, now)),
        days=days,
        everyone=everyone,
    )


async def _require_editor(session: AsyncSession, actor_id: int) -> User:
    """Admins, or the tech-center lead named on the contacts card."""
    actor = await access_q.get_user(session=session, user_id=actor_id)
    if is_admin(actor):
        assert actor is not None
        return actor
    leads = await contacts.telegram_ids_for(session=session, position=Position.TECH_LEAD)
    if is_active(actor) and actor_id in leads:
        assert actor is not None
        return actor
    raise NotAllowed("patrols.roster_editors_only")


def _check_not_past(ctx: AppContext, day: date) -> None:
    if day < current_day(ctx):
        raise Invalid("patrols.past_day", day=day.isoformat())


async def set_officer(
    *, session: AsyncSession, ctx: AppContext, actor_id: int, day: date, ref: str
) -> DutyDay:
    """Put someone on duty for one duty day (tech-center lead or admin)."""
    actor = await _require_editor(session, actor_id)
    _check_not_past(ctx, day)
    user = await users.find_user(session=session, ref=ref)
    if user is None:
        raise NotFound("patrols.no_such_user", ref=ref)
    if not has_any_role(user, OFFICER_ROLES):
        raise Invalid("patrols.not_an_officer", name=user.name)
    before = await officer_for(session=session, ctx=ctx, day=day)
    now = ctx.now()
    await q.put_override(session=session, day=day, user_id=user.id, set_by=actor.id, now=now)
    await audit.record(
        session=session,
        now=now,
        actor_id=actor.id,
        action="duty.set",
        target=f"duty:{day.isoformat()}",
        user=user.id,
        before=before.officer_id if before else None,
    )
    await _after_change(session, ctx, actor, [day])
    return DutyDay(day=day, officer=user, override=True, entry=str(user.id))


async def swap(
    *, session: AsyncSession, ctx: AppContext, actor_id: int, first: date, second: date
) -> tuple[DutyDay, DutyDay]:
    """Exchange the officers of two duty days (tech-center lead or admin)."""
    actor = await _require_editor(session, actor_id)
    _check_not_past(ctx, first)
    _check_not_past(ctx, second)
    if first == second:
        raise Invalid("patrols.swap_same_day")
    a = await officer_for(session=session, ctx=ctx, day=first)
    b = await officer_for(session=session, ctx=ctx, day=second)
    if a is None or b is None or a.officer is None or b.officer is None:
        raise Invalid("patrols.swap_needs_officers")
    now = ctx.now()
    await q.put_override(session=session, day=first, user_id=b.officer.id, set_by=actor.id, now=now)
    await q.put_override(
        session=session, day=second, user_id=a.officer.id, set_by=actor.id, now=now
    )
    await audit.record(
        session=session,
        now=now,
        actor_id=actor.id,
        action="duty.swapped",
        target=f"duty:{first.isoformat()}:{second.isoformat()}",
        first=a.officer.id,
        second=b.officer.id,
    )
    await _after_change(session, ctx, actor, [first, second])
    return (
        DutyDay(day=first, officer=b.officer, override=True, entry=str(b.officer.id)),
        DutyDay(day=second, officer=a.officer, override=True, entry=str(a.officer.id)),
    )


async def _after_change(
    session: AsyncSession, ctx: AppContext, actor: User, days: list[date]
) -> None:
    """Tell the people now on duty; a change to the running day is a hand-over at once."""
    running = current_day(ctx)
    for day in days:
        if day == running:
            await announce(session=session, ctx=ctx, day=day, always=True)
            continue
        held = await officer_for(session=session, ctx=ctx, day=day)
        if held is None or held.officer is None or held.officer.id == actor.id:
            continue
        officer = held.officer
        await outbox.enqueue_message(
            session=session,
            chat_id=officer.id,
            now=ctx.now(),
            text=ctx.renderer.render(
                officer.language,
                "patrols/duty_assigned",
                day=day,
                start=handover_at(ctx, day),
                by=actor,
            ),
        )


async def tell_tech_center(
    *, session: AsyncSession, ctx: AppContext, template: str, **context: object
) -> None:
    """Post to the tech-center chat, or tell the admins when none is bound."""
    chat = await chats.bound_chat(session=session, purpose=ChatPurpose.TECH_CENTER)
    text = ctx.renderer.render("zh_CN", template, **context)
    if chat is not None:
        await outbox.enqueue_message(
            session=session, chat_id=chat.id, now=ctx.now(), text=text, priority=outbox.URGENT
        )
        return
    await chats.tell_admins(
        session=session,
        ctx=ctx,
        template="chats/missing",
        purpose=ChatPurpose.TECH_CENTER.value,
        summary=text,
    )


async def _until(session: AsyncSession, ctx: AppContext, held: DutyDay) -> datetime:
    """When the officer of a duty day goes off duty: the end of their run of days."""
    day = held.day + timedelta(days=1)
    while day < held.day + timedelta(days=RUN_LOOKAHEAD_DAYS):
        following = await officer_for(session=session, ctx=ctx, day=day)
        if following is None or following.officer_id != held.officer_id:
            break
        day += timedelta(days=1)
    return handover_at(ctx, day)


async def announce(*, session: AsyncSession, ctx: AppContext, day: date, always: bool) -> bool:
    """Hand over: tell the tech-center chat and the incoming officer who is on duty."""
    held = await officer_for(session=session, ctx=ctx, day=day)
    if held is None:
        return False
    if not always and not shift_begins(day, ctx.policy.duty):
        before = await officer_for(session=session, ctx=ctx, day=day - timedelta(days=1))
        if before is not None and before.officer_id == held.officer_id:
            return False
    start = max(handover_at(ctx, day), ctx.now()) if always else handover_at(ctx, day)
    until = await _until(session, ctx, held)
    await tell_tech_center(
        session=session,
        ctx=ctx,
        template="patrols/handover_group",
        held=held,
        start=start,
        until=until,
    )
    officer = held.officer
    if officer is not None and not officer.blocked_bot:
        await outbox.enqueue_message(
            session=session,
            chat_id=officer.id,
            now=ctx.now(),
            priority=outbox.URGENT,
            text=ctx.renderer.render(
                officer.language,
                "patrols/handover_private",
                held=held,
                start=start,
                until=until,
                kinds=ctx.policy.patrols.kinds,
            ),
        )
    return True


async def plan(*, session: AsyncSession, ctx: AppContext) -> int:
    """Make sure the next hand-overs have their deadlines; returns how many were added."""
    if not ctx.policy.duty.officers:
        return 0
    now = ctx.now()
    running = current_day(ctx, now)
    added = 0
    for offset in (1, 2):
        day = running + timedelta(days=offset)
        if await q.timer_exists(session=session, kind=HANDOVER, ref_id=day.toordinal()):
            continue
        await scheduler.schedule(
            session=session,
            kind=HANDOVER,
            ref_id=day.toordinal(),
            due_at=handover_at(ctx, day),
            now=now,
        )
        added += 1
    return added


async def fire_handover(ctx: AppContext, session: AsyncSession, timer: Timer) -> None:
    """A duty day begins: announce the officer, and flag tomorrow if nobody holds it."""
    day = date.fromordinal(timer.ref_id)
    if current_day(ctx) != day:
        # The bot was down past the whole duty day: a later hand-over speaks for now.
        return
    await announce(session=session, ctx=ctx, day=day, always=False)
    tomorrow = await officer_for(session=session, ctx=ctx, day=day + timedelta(days=1))
    if tomorrow is not None and tomorrow.officer is None:
        await tell_tech_center(
            session=session,
            ctx=ctx,
            template="patrols/nobody_tomorrow",
            held=tomorrow,
            start=handover_at(ctx, tomorrow.day),
        )


DAY_WORDS = {"today": 0, "今天": 0, "tomorrow": 1, "明天": 1, "后天": 2}


def parse_day(text: str, *, today: date, prefer_future: bool) -> date:
    """A date typed by a user: 2026-11-26, 11-26 (this year, or next when in the past), today."""
    value = text.strip().lower()
    if value in DAY_WORDS:
        return today + timedelta(days=DAY_WORDS[value])
    full = re.fullmatch(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})", value)
    short = re.fullmatch(r"(\d{1,2})[-/.](\d{1,2})", value)
    try:
        if full:
            return date(int(full.group(1)), int(full.group(2)), int(full.group(3)))
        if short:
            found = date(today.year, int(short.group(1)), int(short.group(2)))
            if prefer_future and found < today:
                found = date(today.year + 1, found.month, found.day)
            return found
    except ValueError:
        pass
    raise Invalid("patrols.bad_date", value=text.strip())
