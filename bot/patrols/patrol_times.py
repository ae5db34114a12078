"""When patrol rounds fall due: regular (cron-like) times and irregular (random) ones (R11)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from bot.platform.config import PatrolKind, PatrolPolicy, parse_hhmm


def is_working_day(day: date, patrols: PatrolPolicy) -> bool:
    """Weekdays, less the listed holidays, plus the listed extra working days."""
    if day in patrols.holidays:
        return False
    if day in patrols.working_days:
        return True
    return day.weekday() < 5


def local_moment(day: date, at: time, tz: ZoneInfo) -> datetime:
    """A local date and time of day as an aware UTC instant."""
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def triggers(kind: PatrolKind, tz: ZoneInfo) -> list[CronTrigger]:
    """The kind's regular times as cron triggers in the office's zone."""
    found = [CronTrigger.from_crontab(line, timezone=tz) for line in kind.cron]
    for value in kind.times:
        at = parse_hhmm(value)
        found.append(CronTrigger(hour=at.hour, minute=at.minute, second=0, timezone=tz))
    return found


def regular_times(kind: PatrolKind, day: date, tz: ZoneInfo) -> list[datetime]:
    """Every time the kind's triggers fire on a local day, as sorted UTC instants."""
    start = datetime.combine(day, time(0), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
    found: set[datetime] = set()
    for trigger in triggers(kind, tz):
        fire = trigger.get_next_fire_time(None, start)
        while fire is not None and fire < end:
            found.add(fire.astimezone(UTC))
            fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
    return sorted(found)


def irregular_times(kind: PatrolKind, day: date, tz: ZoneInfo, secret: str) -> list[datetime]:
    """The kind's random times on a day: the same for a given secret, unguessable without it."""
    assert kind.irregular is not None
    window = kind.irregular
    # Seeded by the secret, the kind and the date: a restart redraws the same times.
    rng = random.Random(f"{secret}:{kind.key}:{day.isoformat()}")
    offsets = sorted(rng.sample(range(window.window_minutes), window.count))
    start = local_moment(day, parse_hhmm(window.start), tz)
    return [start + timedelta(minutes=offset) for offset in offsets]


def due_times(
    kind: PatrolKind, day: date, *, tz: ZoneInfo, secret: str, patrols: PatrolPolicy
) -> list[datetime]:
    """When rounds of a kind fall due on a local day (none on days the kind rests)."""
    if kind.days == "working" and not is_working_day(day, patrols):
        return []
    if kind.irregular is not None:
        return irregular_times(kind, day, tz, secret)
    return regular_times(kind, day, tz)
