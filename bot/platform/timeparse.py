"""When did it happen: the typed forms a reporter may use, in Chinese or English."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.platform.errors import Invalid

_UNITS = {
    "分钟": "minutes",
    "分": "minutes",
    "min": "minutes",
    "mins": "minutes",
    "minute": "minutes",
    "minutes": "minutes",
    "m": "minutes",
    "小时": "hours",
    "个小时": "hours",
    "h": "hours",
    "hr": "hours",
    "hrs": "hours",
    "hour": "hours",
    "hours": "hours",
    "天": "days",
    "d": "days",
    "day": "days",
    "days": "days",
}
_RELATIVE = re.compile(
    r"^(?P<n>\d{1,4})\s*(?P<unit>个小时|分钟|小时|分|天|mins?|minutes?|hrs?|hours?|days?|[mhd])"
    r"\s*(?:前|以前|之前|ago)$",
    re.IGNORECASE,
)
_CLOCK = re.compile(r"^(?P<h>\d{1,2})[:：](?P<m>\d{2})$")
_FULL = re.compile(
    r"^(?P<y>\d{4})[-/.年](?P<mo>\d{1,2})[-/.月](?P<d>\d{1,2})日?\s*(?P<h>\d{1,2})[:：时](?P<m>\d{2})分?$"
)
_SHORT = re.compile(r"^(?P<mo>\d{1,2})[-/月](?P<d>\d{1,2})日?\s+(?P<h>\d{1,2})[:：](?P<m>\d{2})$")
_YESTERDAY = re.compile(r"^(?:昨天|yesterday)\s*(?P<h>\d{1,2})[:：](?P<m>\d{2})$", re.IGNORECASE)
MAX_AGE = timedelta(days=366)


def parse_when(text: str, *, now: datetime, tz: ZoneInfo) -> datetime:
    """The moment a typed time means, in UTC; refuses the future and nonsense."""
    value = " ".join(text.strip().split())
    local_now = now.astimezone(tz)
    result: datetime | None = None
    if value.lower() in ("now", "just now", "刚才", "刚刚", "现在"):
        return now
    if match := _RELATIVE.match(value):
        unit = _UNITS[match["unit"].lower()]
        result = now - timedelta(**{unit: int(match["n"])})
    elif match := _CLOCK.match(value):
        result = _local(local_now.date(), match["h"], match["m"], tz)
    elif match := _YESTERDAY.match(value):
        result = _local(local_now.date() - timedelta(days=1), match["h"], match["m"], tz)
    elif match := _FULL.match(value):
        result = _local(_date(match["y"], match["mo"], match["d"]), match["h"], match["m"], tz)
    elif match := _SHORT.match(value):
        result = _local(
            _date(str(local_now.year), match["mo"], match["d"]), match["h"], match["m"], tz
        )
    if result is None:
        raise Invalid("report.bad_time")
    if result > now + timedelta(minutes=1):
        raise Invalid("report.future_time")
    if now - result > MAX_AGE:
        raise Invalid("report.too_old")
    return min(result, now)


def _date(year: str, month: str, day: str) -> date:
    try:
        return date(int(year), int(month), int(day))
    except ValueError as exc:
        raise Invalid("report.bad_time") from exc


def _local(day: date, hours: str, minutes: str, tz: ZoneInfo) -> datetime:
    try:
        moment = datetime.combine(day, time(int(hours), int(minutes)), tzinfo=tz)
    except ValueError as exc:
        raise Invalid("report.bad_time") from exc
    return moment.astimezone(ZoneInfo("UTC"))
