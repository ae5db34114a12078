"""R11 planning: rounds as rows ahead of time, catch-up after an outage, changes, the roster."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from app.build import build_context
from bot.patrols import duty, patrol_rounds, roster
from bot.platform.clock import ManualClock
from bot.platform.config import Policy, Settings
from bot.platform.context import AppContext
from bot.platform.roles import Role
from storage import access as access_q
from storage import patrols as q
from storage import platform as runtime_q
from storage.db import Database

TZ = ZoneInfo("Asia/Shanghai")
MONDAY = date(2026, 11, 23)
DAILY = {
    "key": "daily",
    "name": "日常巡查",
    "checklist": ["防火墙告警"],
    "times": ["09:00", "16:00"],
}


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=TZ).astimezone(UTC)


def _context(
    db: Database, clock: ManualClock, features: list[str] | None = None, **policy: object
) -> AppContext:
    settings = Settings(telegram_bot_token="1:x", database_url=db.url)
    return build_context(
        settings, Policy.model_validate(policy), clock=clock, db=db, features=features
    )


async def _plan(ctx: AppContext) -> int:
    async with ctx.db.transaction() as session:
        return await patrol_rounds.plan(session=session, ctx=ctx)


async def _rounds(ctx: AppContext) -> list[tuple[date, str]]:
    async with ctx.db.transaction() as session:
        rows = await q.rounds_of_days(
            session=session, first=MONDAY - timedelta(days=30), last=MONDAY + timedelta(days=30)
        )
    return [(r.day, r.due_at.astimezone(TZ).strftime("%H:%M")) for r in rows]


async def test_first_planning_creates_the_rest_of_today_and_tomorrow(db: Database) -> None:
    """R11: rounds are rows ahead of time; a fresh install does not invent past rounds."""
    clock = ManualClock(_at(MONDAY, 12))
    ctx = _context(db, clock, patrols={"kinds": [DAILY]})
    assert await _plan(ctx) == 3
    assert await _rounds(ctx) == [
        (MONDAY, "16:00"),
        (MONDAY + timedelta(days=1), "09:00"),
        (MONDAY + timedelta(days=1), "16:00"),
    ]
    assert await _plan(ctx) == 0, "planning twice adds nothing"
    async with db.transaction() as session:
        timers = await runtime_q.pending_timers(session=session, kind=patrol_rounds.DUE)
    assert [t.due_at for t in timers] == [
        _at(MONDAY, 16),
        _at(MONDAY + timedelta(days=1), 9),
        _at(MONDAY + timedelta(days=1), 16),
    ]


async def test_after_an_outage_the_unplanned_days_are_caught_up_to_be_sent_late(
    db: Database,
) -> None:
    """R11: a bot down past the planned days still creates those rounds, to send them late."""
    clock = ManualClock(_at(MONDAY, 12))
    ctx = _context(db, clock, patrols={"kinds": [DAILY]})
    await _plan(ctx)
    friday = MONDAY + timedelta(days=4)
    clock.set(_at(friday, 12))
    await _plan(ctx)
    planned = await _rounds(ctx)
    wednesday, thursday = MONDAY + timedelta(days=2), MONDAY + timedelta(days=3)
    for day in (wednesday, thursday, friday):
        assert (day, "09:00") in planned and (day, "16:00") in planned
    assert (MONDAY, "09:00") not in planned, "Monday was planned before; its past stays past"
    assert not [d for d, _ in planned if d.weekday() >= 5], "no working-day rounds at weekends"


async def test_a_changed_schedule_drops_future_rounds_it_no_longer_has(db: Database) -> None:
    """R11: rounds not yet sent follow the configuration; sent ones stay in the log."""
    clock = ManualClock(_at(MONDAY, 12))
    ctx = _context(db, clock, patrols={"kinds": [DAILY]})
    await _plan(ctx)
    ctx.policy = Policy.model_validate({"patrols": {"kinds": [{**DAILY, "times": ["10:00"]}]}})
    clock.set(_at(MONDAY, 13))
    await _plan(ctx)
    assert await _rounds(ctx) == [
        (MONDAY + timedelta(days=1), "10:00"),
    ]
    async with db.transaction() as session:
        timers = await runtime_q.pending_timers(session=session, kind=patrol_rounds.DUE)
    assert [t.due_at for t in timers] == [_at(MONDAY + timedelta(days=1), 10)]


async def test_the_roster_answers_who_is_on_duty_and_falls_back_without_one(
    db: Database,
) -> None:
    """R11: `bot.duty` asks the roster; with no rotation (or no patrols) the duty role counts."""
    clock = ManualClock(_at(MONDAY, 8))
    async with db.transaction() as session:
        for user_id, name in ((1, "Wu"), (2, "Sun")):
            user = await access_q.add_user(
                session=session,
                user_id=user_id,
                name=name,
                username=None,
                language="zh_CN",
                status="active",
                now=clock.now(),
            )
            await access_q.set_roles(session=session, user=user, roles=[Role.DUTY])
    ctx = _context(db, clock, duty={"officers": [1, 2], "start": MONDAY.isoformat()})
    assert ctx.features.roster is roster.lookup
    async with db.transaction() as session:
        before_handover = await duty.officers_on_duty(session=session, ctx=ctx, at=clock.now())
        after = await duty.officers_on_duty(session=session, ctx=ctx, at=_at(MONDAY, 9))
        tuesday = await duty.officers_on_duty(session=session, ctx=ctx, at=_at(MONDAY, 23))
    assert [u.id for u in before_handover] == [2]
    assert [u.id for u in after] == [1] and [u.id for u in tuesday] == [1]
    unrostered = _context(db, clock)
    no_patrols = _context(
        db, clock, ["incidents"], duty={"officers": [1, 2], "start": MONDAY.isoformat()}
    )
    async with db.transaction() as session:
        everyone = await duty.officers_on_duty(session=session, ctx=unrostered, at=clock.now())
        without = await duty.officers_on_duty(session=session, ctx=no_patrols, at=clock.now())
    assert sorted(u.id for u in everyone) == [1, 2]
    assert sorted(u.id for u in without) == [1, 2]
