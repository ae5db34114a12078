"""Cron expressions with crontab's meaning, evaluated by APScheduler's CronTrigger."""

from __future__ import annotations

from datetime import datetime, tzinfo

from apscheduler.triggers.cron import CronTrigger

# crontab counts weekdays from Sunday (0 and 7); APScheduler 3 counts from Monday (0).
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _weekdays(field: str) -> str:
    """A crontab day-of-week field as APScheduler day names ('1-5' -> 'mon,...,fri')."""
    if field == "*" or any(c.isalpha() for c in field):
        return field
    days: set[int] = set()
    for part in field.split(","):
        span, _, step = part.partition("/")
        if span == "*":
            low, high = 0, 6
        elif "-" in span:
            first, last = span.split("-", 1)
            low, high = int(first), int(last)
        else:
            low = high = int(span)
        if not 0 <= low <= high <= 7 or (step and int(step) < 1):
            raise ValueError(f"bad day of week {part!r}")
        days.update(day % 7 for day in range(low, high + 1, int(step or 1)))
    return ",".join(_DAYS[day] for day in sorted(days))


def trigger(expression: str, timezone: tzinfo) -> CronTrigger:
    """A trigger for 'minute hour day month weekday'; ValueError when it is not one."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError("needs five fields: minute hour day month weekday")
    minute, hour, day, month, weekday = fields
    return CronTrigger(
        minute=minute,
        hour=hour,
        day=day,
        month=month,
        day_of_week=_weekdays(weekday),
        timezone=timezone,
    )


def next_time(expression: str, timezone: tzinfo, after: datetime) -> datetime:
    """The first time at or after `after` that the expression names."""
    fire = trigger(expression, timezone).get_next_fire_time(None, after.astimezone(timezone))
    if fire is None:
        raise ValueError(f"{expression!r} never fires")
    return fire
