"""R11 schedule arithmetic: regular and irregular patrol times, the rotation, typed dates."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from bot.patrols.patrol_times import due_times, irregular_times, is_working_day, regular_times
from bot.patrols.roster import duty_day_at, handover_moment, parse_day, rotation_index, shift_begins
from bot.platform.config import DutyPolicy, PatrolKind, PatrolPolicy, Policy
from bot.platform.errors import Invalid

TZ = ZoneInfo("Asia/Shanghai")
MONDAY = date(2026, 11, 23)


def _kind(**fields: object) -> PatrolKind:
    data: dict[str, object] = {"key": "daily", "name": "日常巡查", "checklist": ["防火墙告警"]}
    data.update(fields)
    return PatrolKind.model_validate(data)


def _local(moment: datetime) -> datetime:
    return moment.astimezone(TZ)


def test_regular_times_fire_at_the_local_times_on_working_days_only() -> None:
    """R11: 09:00 and 16:00 on working days, computed in the office's zone."""
    kind = _kind(times=["09:00", "16:00"])
    patrols = PatrolPolicy(kinds=[kind])
    times = due_times(kind, MONDAY, tz=TZ, secret="s", patrols=patrols)
    assert [_local(t).strftime("%H:%M") for t in times] == ["09:00", "16:00"]
    assert times[0] == datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    saturday = MONDAY + timedelta(days=5)
    assert due_times(kind, saturday, tz=TZ, secret="s", patrols=patrols) == []
    every_day = _kind(times=["09:00"], days="all")
    assert len(due_times(every_day, saturday, tz=TZ, secret="s", patrols=patrols)) == 1


def test_holidays_and_extra_working_days_change_the_calendar() -> None:
    """R11: listed holidays rest, listed weekend working days work."""
    saturday = MONDAY + timedelta(days=5)
    patrols = PatrolPolicy(holidays=[MONDAY], working_days=[saturday])
    assert not is_working_day(MONDAY, patrols)
    assert is_working_day(saturday, patrols)
    assert is_working_day(MONDAY + timedelta(days=1), patrols)
    assert not is_working_day(saturday + timedelta(days=1), patrols)


def test_cron_lines_are_read_as_crontab_in_the_office_zone() -> None:
    """R11: cron-like schedules through APScheduler's CronTrigger."""
    kind = _kind(cron=["30 8,12 * * mon-fri", "0 22 * * *"], days="all")
    on_monday = regular_times(kind, MONDAY, TZ)
    assert [_local(t).strftime("%H:%M") for t in on_monday] == ["08:30", "12:30", "22:00"]
    on_sunday = regular_times(kind, MONDAY - timedelta(days=1), TZ)
    assert [_local(t).strftime("%H:%M") for t in on_sunday] == ["22:00"]


def test_irregular_times_over_thirty_days_stay_in_the_window_and_vary() -> None:
    """R11: N random times a day, inside the window, different from day to day."""
    kind = _kind(irregular={"count": 2, "start": "10:00", "end": "17:00"})
    seen = []
    for offset in range(30):
        day = MONDAY + timedelta(days=offset)
        times = irregular_times(kind, day, TZ, "office-secret")
        assert len(times) == 2
        assert len(set(times)) == 2
        for moment in times:
            local = _local(moment)
            assert local.date() == day
            assert time(10, 0) <= local.time() < time(17, 0)
        seen.append(tuple(_local(t).time() for t in times))
    assert len(set(seen)) > 25


def test_irregular_times_are_reproducible_only_with_the_secret() -> None:
    """R11: a restart redraws the same times; another office's secret gives others."""
    kind = _kind(irregular={"count": 3, "start": "09:00", "end": "18:00"})
    first = irregular_times(kind, MONDAY, TZ, "secret-a")
    assert irregular_times(kind, MONDAY, TZ, "secret-a") == first
    others = [irregular_times(kind, MONDAY, TZ, f"secret-{n}") for n in range(5)]
    assert any(other != first for other in others)


def test_a_kind_needs_exactly_one_kind_of_schedule() -> None:
    """R11: configuration errors name what is wrong."""
    with pytest.raises(ValidationError, match="either times/cron"):
        _kind()
    with pytest.raises(ValidationError, match="either times/cron"):
        _kind(times=["09:00"], irregular={"count": 1, "start": "10:00", "end": "11:00"})
    with pytest.raises(ValidationError, match="not a crontab line"):
        _kind(cron=["every morning"])
    with pytest.raises(ValidationError, match="time of day"):
        _kind(times=["25:00"])
    with pytest.raises(ValidationError, match="no room"):
        _kind(irregular={"count": 3, "start": "10:00", "end": "10:02"})
    with pytest.raises(ValidationError, match="used twice"):
        Policy.model_validate({"patrols": {"kinds": [_kind(times=["09:00"]).model_dump()] * 2}})


def test_the_duty_day_changes_at_the_hand_over_time() -> None:
    """R11: before the hand-over it is still yesterday's duty day."""
    handover = time(9, 0)
    before = datetime(2026, 11, 23, 8, 59, tzinfo=TZ)
    after = datetime(2026, 11, 23, 9, 0, tzinfo=TZ)
    assert duty_day_at(before, TZ, handover) == MONDAY - timedelta(days=1)
    assert duty_day_at(after, TZ, handover) == MONDAY
    assert handover_moment(MONDAY, TZ, handover) == after.astimezone(UTC)


def test_weekly_and_daily_rotations_cycle_through_the_officers() -> None:
    """R11: a week per officer from the start date (and backwards before it)."""
    weekly = DutyPolicy(officers=[1, 2], shift="week", start=MONDAY)
    assert [rotation_index(MONDAY + timedelta(days=n), weekly) for n in range(7)] == [0] * 7
    assert rotation_index(MONDAY + timedelta(days=7), weekly) == 1
    assert rotation_index(MONDAY - timedelta(days=1), weekly) == 1
    assert shift_begins(MONDAY + timedelta(days=7), weekly)
    assert not shift_begins(MONDAY + timedelta(days=3), weekly)
    daily = DutyPolicy(officers=[1, "@duty_wu", 3], start=MONDAY)
    assert [rotation_index(MONDAY + timedelta(days=n), daily) for n in range(4)] == [0, 1, 2, 0]
    assert rotation_index(MONDAY, DutyPolicy()) is None


def test_typed_dates_in_the_forms_offered() -> None:
    """R11: /duty and /patrols export read 2026-11-26, 11-26, today and tomorrow."""
    today = date(2026, 12, 30)
    assert parse_day("2027-01-02", today=today, prefer_future=True) == date(2027, 1, 2)
    assert parse_day("01-02", today=today, prefer_future=True) == date(2027, 1, 2)
    assert parse_day("01-02", today=today, prefer_future=False) == date(2026, 1, 2)
    assert parse_day("明天", today=today, prefer_future=True) == date(2026, 12, 31)
    assert parse_day(" Today ", today=today, prefer_future=False) == today
    for bad in ("2026-02-30", "yesterday", "12", "1-2-3", ""):
        with pytest.raises(Invalid):
            parse_day(bad, today=today, prefer_future=True)


@given(st.text(max_size=30))
def test_any_typed_date_is_a_date_or_a_polite_refusal(text: str) -> None:
    """R11: whatever is typed, the parser answers with a date or Invalid, never crashes."""
    try:
        found = parse_day(text, today=date(2026, 11, 26), prefer_future=True)
    except Invalid as exc:
        assert exc.key == "patrols.bad_date"
    else:
        assert isinstance(found, date)
