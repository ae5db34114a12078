"""Patrols (R11): rounds planned ahead as rows, reminders, check-ins, missed rounds, the log."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.access import audit, chats, contacts
from bot.access.permissions import has_any_role, is_active
from bot.patrols import duty, roster
from bot.patrols.buttons import PatrolPress
from bot.patrols.patrol_times import due_times
from bot.platform import outbox, scheduler, spreadsheet
from bot.platform.context import AppContext
from bot.platform.errors import Invalid, NotAllowed, NotFound, Stale
from bot.platform.keyboards import Button, Keyboard
from bot.platform.roles import Position, Role
from messages import common
from messages import patrols as texts
from storage import access as access_q
from storage import incidents as incidents_q
from storage import patrols as q
from storage.models import Incident, OutboxMessage, PatrolRound, Timer, User

DUE = "patrol.due"
MISSED = "patrol.missed"
LEAD = "patrol.lead"
SECRET_FLAG = "patrol_secret"
PLANNED_FLAG = "patrols_planned_through"
NORMAL = "normal"
PROBLEM = "problem"
ANSWERS = (NORMAL, PROBLEM)
# A round sent later than this after its time was held up (the bot was not running).
LATE_AFTER = timedelta(minutes=2)
# After a longer outage, rounds of at most this many past days are still created, late.
CATCH_UP_DAYS = 7
PLAN_EVERY = timedelta(minutes=10)
NOTE_LIMIT = 500
EXPORT_MAX_DAYS = 366
MISSED_SHOWN = 10
LOG_ROLES = (Role.TECH_CENTER, Role.LEADER, Role.ADMIN)


def round_ref(round_id: int) -> str:
    """The outbox reference shared by every copy of a round's reminder."""
    return f"patrol:{round_id}"


def local_day(ctx: AppContext, at: datetime) -> date:
    """The office's calendar date at a moment."""
    return at.astimezone(ctx.policy.tz).date()


async def _secret(session: AsyncSession, now: datetime) -> str:
    """The office's secret for drawing irregular times, made on first use."""
    flag = await access_q.get_flag(session=session, key=SECRET_FLAG)
    if flag is not None and flag.value.get("secret"):
        return str(flag.value["secret"])
    value = secrets.token_hex(16)
    await access_q.set_flag(
        session=session, key=SECRET_FLAG, value={"secret": value}, now=now, by=None
    )
    return value


async def plan(*, session: AsyncSession, ctx: AppContext) -> int:
    """Create the rounds of today and the next days as rows with deadlines; returns how many."""
    patrols = ctx.policy.patrols
    now = ctx.now()
    today = local_day(ctx, now)
    flag = await access_q.get_flag(session=session, key=PLANNED_FLAG)
    through = date.fromisoformat(flag.value["through"]) if flag is not None else None
    first = today
    if through is not None and through < today:
        first = max(through + timedelta(days=1), today - timedelta(days=CATCH_UP_DAYS))
    last = today + timedelta(days=patrols.plan_days_ahead)
    existing = {
        (row.kind, row.due_at): row
        for row in await q.rounds_of_days(session=session, first=first, last=last)
    }
    secret = await _secret(session, now) if any(k.irregular for k in patrols.kinds) else ""
    wanted: set[tuple[str, datetime]] = set()
    added = 0
    day = first
    while day <= last:
        for kind in patrols.kinds:
            for due in due_times(kind, day, tz=ctx.policy.tz, secret=secret, patrols=patrols):
                wanted.add((kind.key, due))
                # A past time is created only for a day no earlier planning covered (an outage).
                if (kind.key, due) in existing or (
                    due < now and (through is None or day <= through)
                ):
                    continue
                row = await q.add_round(
                    session=session,
                    kind=kind.key,
                    name=kind.name,
                    checklist=list(kind.checklist),
                    irregular=kind.irregular is not None,
                    day=day,
                    due_at=due,
                    created_at=now,
                )
                await scheduler.schedule(
                    session=session, kind=DUE, ref_id=row.id, due_at=due, now=now
                )
                added += 1
        day += timedelta(days=1)
    for key, row in existing.items():
        # The schedule changed: future rounds it no longer has are dropped before anyone sees them.
        if key not in wanted and row.sent_at is None and row.due_at > now:
            await scheduler.cancel(session=session, kind=DUE, ref_id=row.id)
            await q.delete_round(session=session, round_id=row.id)
    if through is None or last > through:
        await access_q.set_flag(
            session=session, key=PLANNED_FLAG, value={"through": last.isoformat()}, now=now, by=None
        )
    return added


class Planner:
    """The periodic check that keeps rounds and hand-overs planned ahead."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.next_at: datetime | None = None
        self.day: date | None = None

    async def sweep(self) -> None:
        """Plan when the day changed or a while has passed since the last planning."""
        policy = self.ctx.policy
        if not policy.patrols.kinds and not policy.duty.officers:
            return
        now = self.ctx.now()
        today = local_day(self.ctx, now)
        if self.next_at is not None and now < self.next_at and today == self.day:
            return
        async with self.ctx.db.transaction() as session:
            # Hand-overs first: at the same moment, the officer hears of the shift before a round.
            await roster.plan(session=session, ctx=self.ctx)
            await plan(session=session, ctx=self.ctx)
        self.next_at, self.day = now + PLAN_EVERY, today


def grace(ctx: AppContext) -> timedelta:
    """How long an officer has to answer a round."""
    return timedelta(minutes=ctx.policy.patrols.grace_minutes)


def reminder_keyboard(ctx: AppContext, language: str, row: PatrolRound) -> Keyboard:
    """The two answers of a round waiting for one."""
    label = ctx.renderer.label
    return [
        [Button(label(language, texts.ALL_NORMAL), data=PatrolPress("normal", row.id).pack())],
        [Button(label(language, texts.FOUND_PROBLEM), data=PatrolPress("problem", row.id).pack())],
    ]


def _copy_keyboard(ctx: AppContext, language: str, row: PatrolRound, chat_id: int) -> Keyboard:
    if row.answer is None:
        return reminder_keyboard(ctx, language, row)
    if row.answer == NORMAL and row.answered_by == chat_id and not row.note:
        note = PatrolPress("note", row.id).pack()
        return [[Button(ctx.renderer.label(language, texts.ADD_NOTE), data=note)]]
    return []


def _responsible(row: PatrolRound) -> list[int]:
    """Who a round was for: the people it was sent to, or the officer who could not get it."""
    return list(row.recipients or ([row.officer_id] if row.officer_id else []))


async def _names(session: AsyncSession, ids: list[int]) -> list[User]:
    found = []
    for user_id in ids:
        user = await access_q.get_user(session=session, user_id=user_id)
        if user is not None:
            found.append(user)
    return found


async def _incident_number(session: AsyncSession, row: PatrolRound) -> str | None:
    if row.incident_id is None:
        return None
    incident = await incidents_q.get_incident(session=session, incident_id=row.incident_id)
    return incident.number if incident is not None else None


async def _refresh(session: AsyncSession, ctx: AppContext, row: PatrolRound) -> None:
    """Edit every copy of the round's reminder to show its answer."""
    answerer = (
        await access_q.get_user(session=session, user_id=row.answered_by)
        if row.answered_by
        else None
    )
    languages = {u.id: u.language for u in await _names(session, list(row.recipients))}

    def build(copy: OutboxMessage) -> tuple[str, Keyboard | None]:
        language = languages.get(copy.chat_id, "zh_CN")
        text = ctx.renderer.render(language, "patrols/reminder", round=row, answerer=answerer)
        return text, _copy_keyboard(ctx, language, row, copy.chat_id) or None

    await outbox.edit_copies(session=session, ref=round_ref(row.id), now=ctx.now(), build=build)


async def fire_due(ctx: AppContext, session: AsyncSession, timer: Timer) -> None:
    """A round's time came: send the checklist to the officer on duty."""
    row = await q.get_round(session=session, round_id=timer.ref_id, for_update=True)
    if row is None or row.sent_at is not None:
        return
    now = ctx.now()
    officers = [
        u for u in await duty.officers_on_duty(session=session, ctx=ctx, at=now) if is_active(u)
    ]
    recipients = [u for u in officers if not u.blocked_bot]
    row.sent_at = now
    row.late = now - row.due_at > LATE_AFTER
    row.recipients = [u.id for u in recipients]
    # The officer is named in the log even when they blocked the bot and got nothing.
    row.officer_id = (recipients or officers)[0].id if officers else None
    for user in recipients:
        await outbox.enqueue_message(
            session=session,
            chat_id=user.id,
            now=now,
            priority=outbox.URGENT,
            ref=round_ref(row.id),
            text=ctx.renderer.render(user.language, "patrols/reminder", round=row, answerer=None),
            keyboard=reminder_keyboard(ctx, user.language, row),
        )
    await scheduler.schedule(
        session=session, kind=MISSED, ref_id=row.id, due_at=now + grace(ctx), now=now
    )


async def fire_missed(ctx: AppContext, session: AsyncSession, timer: Timer) -> None:
    """No answer within the grace period: tell the tech-center chat, naming the officer."""
    row = await q.get_round(session=session, round_id=timer.ref_id, for_update=True)
    if row is None or row.answer is not None:
        return
    now = ctx.now()
    row.missed_at = now
    await roster.tell_tech_center(
        session=session,
        ctx=ctx,
        template="patrols/missed",
        round=row,
        officers=await _names(session, _responsible(row)),
        minutes=int(ctx.policy.patrols.grace_minutes),
    )
    await scheduler.schedule(
        session=session, kind=LEAD, ref_id=row.id, due_at=now + grace(ctx), now=now
    )


async def fire_lead(ctx: AppContext, session: AsyncSession, timer: Timer) -> None:
    """Still no answer after a second grace period: message the tech-center lead privately."""
    row = await q.get_round(session=session, round_id=timer.ref_id, for_update=True)
    if row is None or row.answer is not None:
        return
    now = ctx.now()
    row.escalated_at = now
    officers = await _names(session, _responsible(row))
    minutes = int(2 * ctx.policy.patrols.grace_minutes)
    leads = [
        u
        for u in await _names(
            session, await contacts.telegram_ids_for(session=session, position=Position.TECH_LEAD)
        )
        if is_active(u) and not u.blocked_bot
    ]
    if not leads:
        await chats.tell_admins(
            session=session,
            ctx=ctx,
            template="patrols/missed_lead",
            round=row,
            officers=officers,
            minutes=minutes,
            to_lead=False,
        )
        return
    for lead in leads:
        await outbox.enqueue_message(
            session=session,
            chat_id=lead.id,
            now=now,
            priority=outbox.URGENT,
            text=ctx.renderer.render(
                lead.language,
                "patrols/missed_lead",
                round=row,
                officers=officers,
                minutes=minutes,
                to_lead=True,
            ),
        )


async def _round_for_answer(session: AsyncSession, round_id: int, user_id: int) -> PatrolRound:
    row = await q.get_round(session=session, round_id=round_id, for_update=True)
    if row is None:
        raise NotFound("patrols.no_such_round")
    if row.sent_at is None or user_id not in (row.recipients or []):
        raise NotAllowed("patrols.not_your_round")
    return row


async def answer(
    *, session: AsyncSession, ctx: AppContext, round_id: int, user_id: int, answer: str
) -> PatrolRound:
    """Record the officer's answer to a round: all normal, or found a problem."""
    if answer not in ANSWERS:
        raise Invalid("patrols.bad_answer")
    row = await _round_for_answer(session, round_id, user_id)
    if row.answer is not None:
        raise Stale("patrols.already_answered")
    user = await access_q.get_user(session=session, user_id=user_id)
    if not is_active(user):
        raise NotAllowed("patrols.not_your_round")
    assert user is not None
    now = ctx.now()
    row.answer, row.answered_at, row.answered_by = answer, now, user_id
    await scheduler.cancel(session=session, kind=MISSED, ref_id=row.id)
    await scheduler.cancel(session=session, kind=LEAD, ref_id=row.id)
    if row.missed_at is not None:
        await roster.tell_tech_center(
            session=session, ctx=ctx, template="patrols/answered_late", round=row, by=user
        )
    await _refresh(session, ctx, row)
    return row


async def noted_round(*, session: AsyncSession, round_id: int, user_id: int) -> PatrolRound:
    """The round a user may add a note to: one they answered "all normal"."""
    row = await q.get_round(session=session, round_id=round_id, for_update=True)
    if row is None:
        raise NotFound("patrols.no_such_round")
    if row.answered_by != user_id:
        raise NotAllowed("patrols.not_your_round")
    if row.answer != NORMAL:
        raise Stale("patrols.no_note_here")
    return row


def check_note(text: str) -> str:
    """A note of 1 to NOTE_LIMIT characters, trimmed."""
    note = text.strip()
    if not 1 <= len(note) <= NOTE_LIMIT:
        raise Invalid("patrols.bad_note", length=len(note), limit=NOTE_LIMIT)
    return note


async def add_note(
    *, session: AsyncSession, ctx: AppContext, round_id: int, user_id: int, note: str
) -> PatrolRound:
    """Keep the officer's note with an "all normal" answer."""
    row = await noted_round(session=session, round_id=round_id, user_id=user_id)
    row.note = check_note(note)
    await _refresh(session, ctx, row)
    return row


def problem_context(row: PatrolRound) -> dict[str, Any]:
    """What a report started from a round carries: the round, its kind and checklist."""
    return {
        "patrol_round_id": row.id,
        "patrol_kind": row.kind,
        "patrol_name": row.name,
        "patrol_due": row.due_at.isoformat(),
        "checklist": list(row.checklist),
    }


def problem_location(ctx: AppContext, row: PatrolRound) -> str | None:
    """The place a kind's patrol covers, offered to the report."""
    kind = ctx.policy.patrols.kind(row.kind)
    return kind.location if kind is not None and kind.location else None


async def link_incident(session: AsyncSession, ctx: AppContext, incident: Incident) -> None:
    """On submitted (`features.on_submitted`): a report started from a round is linked to it."""
    context = (incident.details or {}).get("context") or {}
    round_id = context.get("patrol_round_id")
    if not isinstance(round_id, int):
        return
    row = await q.get_round(session=session, round_id=round_id, for_update=True)
    if row is None or row.incident_id is not None or row.answer != PROBLEM:
        return
    if row.answered_by != incident.reporter_id:
        return
    row.incident_id = incident.id


async def _require_log_reader(session: AsyncSession, user_id: int) -> User:
    user = await access_q.get_user(session=session, user_id=user_id)
    if not has_any_role(user, LOG_ROLES):
        raise NotAllowed("patrols.log_not_allowed")
    assert user is not None
    return user


@dataclass
class Overview:
    """What /patrols shows: today's rounds and the last missed ones."""

    today: list[PatrolRound]
    missed: list[PatrolRound]
    names: dict[int, User]
    incidents: dict[int, str]
    day: date


async def overview(*, session: AsyncSession, ctx: AppContext, user_id: int) -> Overview:
    """Today's rounds and the last missed ones (tech center, leaders, admins)."""
    await _require_log_reader(session, user_id)
    now = ctx.now()
    today = local_day(ctx, now)
    start_of_day = datetime.combine(today, time(0), tzinfo=ctx.policy.tz)
    todays = list(await q.rounds_of_days(session=session, first=today, last=today))
    missed = list(await q.missed_before(session=session, before=start_of_day, limit=MISSED_SHOWN))
    ids = {
        user_id
        for row in todays + missed
        for user_id in (row.officer_id, row.answered_by, *(row.recipients or []))
        if user_id
    }
    names = {u.id: u for u in await _names(session, sorted(ids))}
    numbers: dict[int, str] = {}
    for row in todays + missed:
        number = await _incident_number(session, row)
        if number is not None and row.incident_id is not None:
            numbers[row.incident_id] = number
    return Overview(today=todays, missed=missed, names=names, incidents=numbers, day=today)


async def log_table(
    *, session: AsyncSession, ctx: AppContext, first: date, last: date, language: str
) -> tuple[list[str], list[list[spreadsheet.Cell]]]:
    """The patrol log of the days `first`..`last` (rounds due by now): header and rows."""
    now = ctx.now()
    rows = [
        row
        for row in await q.rounds_of_days(session=session, first=first, last=last)
        if row.due_at <= now
    ]
    ids = {i for row in rows for i in (row.officer_id, row.answered_by) if i}
    names = {u.id: u.name for u in await _names(session, sorted(ids))}
    r = ctx.renderer
    label = r.label
    yes, no = label(language, common.YES), label(language, common.NO)
    table: list[list[spreadsheet.Cell]] = []
    for row in rows:
        table.append(
            [
                row.id,
                row.day.isoformat(),
                row.name,
                label(language, texts.IRREGULAR if row.irregular else texts.REGULAR),
                r.format_datetime(row.due_at),
                r.format_datetime(row.sent_at),
                yes if row.late else no,
                names.get(row.officer_id, "") if row.officer_id else "",
                r.format_datetime(row.answered_at),
                names.get(row.answered_by, "") if row.answered_by else "",
                texts.answer_label(language, row.answer),
                row.note or "",
                r.format_datetime(row.missed_at),
                r.format_datetime(row.escalated_at),
                await _incident_number(session, row) or "",
            ]
        )
    return [label(language, column) for column in texts.CSV_COLUMNS], table


def check_range(first: date, last: date, *, max_days: int = EXPORT_MAX_DAYS) -> None:
    """Refuse a period that ends before it starts or is too long to export."""
    if first > last:
        raise Invalid("patrols.bad_range")
    if (last - first).days >= max_days:
        raise Invalid("patrols.range_too_long", days=max_days)


async def export_csv(
    *,
    session: AsyncSession,
    ctx: AppContext,
    user_id: int,
    first: date,
    last: date,
    language: str,
) -> tuple[str, bytes, int]:
    """The patrol log of the days `first`..`last` as CSV (UTF-8 with BOM); name, bytes, rows."""
    reader = await _require_log_reader(session, user_id)
    check_range(first, last)
    header, rows = await log_table(
        session=session, ctx=ctx, first=first, last=last, language=language
    )
    await audit.record(
        session=session,
        now=ctx.now(),
        actor_id=reader.id,
        action="patrols.exported",
        target=f"patrols:{first.isoformat()}:{last.isoformat()}",
        rows=len(rows),
    )
    content = spreadsheet.to_csv(header, rows)
    return f"patrols-{first.isoformat()}-{last.isoformat()}.csv", content, len(rows)


async def lock_round(session: AsyncSession, round_id: int) -> Any:
    """Lock a patrol round (its timers are taken after it: one lock order)."""
    return await q.get_round(session=session, round_id=round_id, for_update=True)
