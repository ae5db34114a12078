"""Duty roster and patrols through chat, with the bot's clock under the test's control (R11)."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.patrols.buttons import PatrolPress
from bot.platform.clock import ShiftedClock
from emulator.testing import UserHandle
from storage import access as access_q
from storage import incidents as incidents_q
from storage.models import PatrolRound
from tests.harness import Bot, Stage, fast_policy
from tests.journeys.cast import Office, open_office, report

TZ = ZoneInfo("Asia/Shanghai")
DAILY = {
    "key": "daily",
    "name": "Daily check",
    "checklist": ["Firewall and IDS alerts", "Website integrity", "Server room power"],
    "location": "Server room",
    "times": ["09:00", "16:00"],
}


def next_monday() -> date:
    """A Monday at least a day ahead of the real date, so the test only moves forward."""
    today = datetime.now(TZ).date()
    return today + timedelta(days=7 - today.weekday())


def local(day: date, hour: int, minute: int = 0) -> datetime:
    """A local time in the office's zone."""
    return datetime.combine(day, time(hour, minute), tzinfo=TZ)


async def advance_to(bot: Bot, moment: datetime) -> None:
    """Move the bot's clock to a moment (forward only) and fire what became due."""
    delta = (moment.astimezone(UTC) - bot.clock.now()).total_seconds()
    # The clock runs on in real time too, so a moment reached seconds ago counts as now.
    assert delta > -60, f"{moment} is already past"
    await bot.advance(seconds=max(delta, 0))


async def patrol_office(
    stage: Stage,
    *,
    start_at: datetime,
    kinds: list[dict[str, Any]] | None = None,
    duty: Any = None,
) -> Office:
    """An office whose bot starts at a chosen local time, with a tech-lead contact.

    `duty` builds the [duty] policy from the cast (name -> UserHandle), or None for no roster.
    """
    clock = ShiftedClock()
    clock.advance(start_at.astimezone(UTC) - clock.now())

    async def starter(admins: list[UserHandle], people: dict[str, UserHandle]) -> Bot:
        overrides: dict[str, Any] = {
            "patrols": {"grace_minutes": 30, "kinds": kinds or []},
            "contacts": [
                {
                    "position": "tech_lead",
                    "name": "Lead Zhou",
                    "telegram_id": people["tech_lead"].id,
                }
            ],
        }
        if duty is not None:
            overrides["duty"] = duty(people)
        return await stage.start_bot(admins=admins, policy=fast_policy(**overrides), clock=clock)

    return await open_office(stage, starter=starter)


async def rounds(bot: Bot) -> list[PatrolRound]:
    """Every patrol round in the database, in order."""
    async with bot.ctx.db.transaction() as session:
        result = await session.execute(select(PatrolRound).order_by(PatrolRound.due_at))
        return list(result.scalars().all())


def roster_lines(text: str) -> dict[str, str]:
    """The /duty answer's day lines as {"MM-DD": "rest of line"}."""
    found = {}
    for line in text.splitlines():
        match = re.match(r"^(\d\d-\d\d) ", line)
        if match:
            found[match.group(1)] = line
    return found


async def test_weekly_rotation_with_override_and_swap_shows_in_duty_and_hands_over(
    stage: Stage,
) -> None:
    """R11: two officers a week each, a lead's override and swap; /duty and the hand-over."""
    monday = next_monday()
    sunday = monday - timedelta(days=1)
    office = await patrol_office(
        stage,
        start_at=local(sunday, 20),
        duty=lambda people: {
            "officers": [people["duty"].id, people["tech"].id],
            "shift": "week",
            "handover": "09:00",
            "start": monday.isoformat(),
        },
    )
    bot = office.bot
    wednesday, thursday = monday + timedelta(days=2), monday + timedelta(days=3)

    await office.duty.send(f"/duty set {wednesday.isoformat()} {office.tech_lead.id}")
    await office.duty.wait_for("Only the tech center lead")
    await office.tech_lead.send(f"/duty set {wednesday.isoformat()} {office.staff.id}")
    await office.tech_lead.wait_for("Staff Zheng is neither a duty officer")
    await office.tech_lead.send("/duty set someday 1")
    await office.tech_lead.wait_for("“someday” is not a date")
    await office.tech_lead.send(f"/duty set {wednesday.isoformat()} {office.tech_lead.id}")
    await office.tech_lead.wait_for("Duty roster changed")

    await office.tech.send("/duty")
    shown = roster_lines((await office.tech.wait_for("Duty roster")).text)
    expected = {sunday: "Tech Sun", wednesday: "Lead Zhou"}
    for offset in range(7):
        day = sunday + timedelta(days=offset)
        line = shown[day.strftime("%m-%d")]
        assert expected.get(day, "Duty Wu") in line, line
        assert ("✏️" in line) == (day == wednesday), line
    assert "· today — " in shown[sunday.strftime("%m-%d")]
    assert "· tomorrow — " in shown[monday.strftime("%m-%d")]
    assert "On duty now: Tech Sun" in office.tech.last().text  # type: ignore[union-attr]

    await office.admin.send(f"/duty swap {wednesday.isoformat()} {thursday.isoformat()}")
    await office.admin.wait_for("Duty roster changed")
    await office.tech_lead.send("/duty")
    shown = roster_lines((await office.tech_lead.wait_for("Duty roster")).text)
    assert "Duty Wu" in shown[wednesday.strftime("%m-%d")]
    assert "Lead Zhou" in shown[thursday.strftime("%m-%d")]
    async with bot.ctx.db.transaction() as session:
        actions = [e.action for e in await access_q.audit_entries(session=session)]
    assert "duty.set" in actions and "duty.swapped" in actions

    office.tech_center.skip()
    await advance_to(bot, local(monday, 9))
    handover = await office.tech_center.wait_for("值班交接")
    assert "Duty Wu" in handover.text and "Tech Sun" not in handover.text
    # Duty Wu holds Monday to Wednesday; Thursday is Lead Zhou's after the swap.
    assert f"{thursday.isoformat()} 09:00" in handover.text
    private = await office.duty.wait_for("You are on duty")
    assert f"{monday.isoformat()} 09:00" in private.text
    await stage.settle()
    assert not [m for m in office.tech.messages() if "You are on duty" in m.text]


async def test_small_incidents_go_to_the_officer_the_roster_names(stage: Stage) -> None:
    """R11 R4: with a roster, a small incident reaches today's officer, not everyone on duty."""
    monday = next_monday()
    office = await patrol_office(
        stage,
        start_at=local(monday - timedelta(days=1), 20),
        duty=lambda people: {
            "officers": [people["duty"].id, people["tech"].id],
            "shift": "week",
            "start": monday.isoformat(),
        },
    )
    number = await report(office.staff, category="Other", subtype=None, level="small", source=None)
    await office.tech.wait_for(number)
    await office.tech_center.wait_for(number)
    await stage.settle()
    assert not [m for m in office.duty.messages() if number in m.text]


async def test_a_day_with_nobody_on_duty_is_flagged_a_day_ahead(stage: Stage) -> None:
    """R11: tomorrow's officer is not a user, so the tech-center chat hears of it today."""
    monday = next_monday()
    office = await patrol_office(
        stage,
        start_at=local(monday, 8),
        duty=lambda people: {
            "officers": [people["duty"].id, 999_999_001],
            "shift": "day",
            "start": monday.isoformat(),
        },
    )
    await advance_to(office.bot, local(monday, 9))
    await office.tech_center.wait_for("值班交接")
    warning = await office.tech_center.wait_for("明天无人值班")
    assert "999999001" in warning.text
    assert f"{(monday + timedelta(days=1)).isoformat()} 09:00" in warning.text


def _one_officer(people: dict[str, UserHandle]) -> dict[str, Any]:
    return {"officers": [people["duty"].id], "shift": "week"}


async def test_regular_round_reminds_the_officer_and_all_normal_is_logged(stage: Stage) -> None:
    """R11: at 09:00 the officer gets the checklist; "All normal" is logged with the time."""
    monday = next_monday()
    office = await patrol_office(stage, start_at=local(monday, 8), kinds=[DAILY], duty=_one_officer)
    bot = office.bot
    planned = await rounds(bot)
    assert [r.due_at for r in planned if r.day == monday] == [
        local(monday, 9).astimezone(UTC),
        local(monday, 16).astimezone(UTC),
    ]
    assert any(r.day == monday + timedelta(days=1) for r in planned), "tomorrow is planned ahead"

    await advance_to(bot, local(monday, 8, 59))
    await stage.settle()
    assert not [m for m in office.duty.messages() if "Patrol: Daily check" in m.text]
    await advance_to(bot, local(monday, 9))
    reminder = await office.duty.wait_for("Patrol: Daily check")
    for item in DAILY["checklist"]:
        assert item in reminder.text
    assert "LATE" not in reminder.text

    round_id = (await rounds(bot))[0].id
    stranger = office.tech.last()
    assert stranger is not None
    normal = PatrolPress("normal", round_id).pack()
    refused = await stage.tg.forge_press(office.tech, stranger, normal)
    assert refused.show_alert and "not sent to you" in (refused.text or "")

    await advance_to(bot, local(monday, 9, 7))
    answer = await reminder.press("✅ All normal")
    assert "Logged" in (answer.text or "")
    await reminder.wait_until("Answered “all normal” by Duty Wu at 09:07")
    logged = (await rounds(bot))[0]
    assert logged.answer == "normal" and logged.answered_by == office.duty.id
    assert logged.answered_at is not None
    assert abs(logged.answered_at - local(monday, 9, 7).astimezone(UTC)) < timedelta(seconds=30)

    again = await stage.tg.forge_press(office.duty, reminder, normal)
    assert again.show_alert and "already been answered" in (again.text or "")

    await reminder.press("📝 Add a note")
    await office.duty.wait_for("Send the note")
    await office.duty.send("x" * 501)
    refusal = await office.duty.wait_for("1 to 500 characters. Yours has 501")
    # The reason comes with the question and its buttons; Cancel on it ends the note.
    assert "Send the note" in refusal.text
    await refusal.press("✖️ Cancel")
    await refusal.wait_until("was cancelled")
    await reminder.press("📝 Add a note")
    await office.duty.wait_for("Send the note")
    await office.duty.send("UPS <battery> at 80%")
    await office.duty.wait_for("Note saved")
    await reminder.wait_until("📝 UPS <battery> at 80%")
    assert all(b.text != "📝 Add a note" for row in reminder.buttons for b in row)

    await office.tech.send("/patrols")
    overview = await office.tech.wait_for("Patrols today")
    assert re.search(r"09:00 Daily check — Duty Wu — ✅ all normal at 09:07", overview.text)
    assert "16:00 Daily check — Duty Wu" not in overview.text and "not due yet" in overview.text
    await office.staff.send("/patrols")
    await office.staff.wait_for("the patrol log is for the tech center")


async def test_found_a_problem_starts_the_report_and_links_the_incident(stage: Stage) -> None:
    """R11 R3: "Found a problem" opens the guided report with the patrol's context."""
    monday = next_monday()
    office = await patrol_office(stage, start_at=local(monday, 8), kinds=[DAILY], duty=_one_officer)
    bot = office.bot
    await advance_to(bot, local(monday, 9))
    reminder = await office.duty.wait_for("Patrol: Daily check")
    await office.duty.send("/report")
    await office.duty.wait_for("What kind of incident")
    busy = await reminder.press("⚠️ Found a problem")
    assert busy.show_alert and "unfinished incident report" in (busy.text or "")
    assert (await rounds(bot))[0].answer is None, "a refused press changes nothing"
    await office.duty.send("/cancel")
    await office.duty.wait_for("cancelled")
    await reminder.press("⚠️ Found a problem")
    prompt = await office.duty.wait_for("What kind of incident")
    assert "Found on patrol: Daily check" in prompt.text
    await prompt.press("Network failure")
    prompt = await office.duty.wait_for("Choose the level")
    await prompt.press(next(b.text for row in prompt.buttons for b in row if "medium" in b.text))
    await (await office.duty.wait_for("When did it happen")).press("Just now")
    await office.duty.wait_for("Where did it happen")
    await office.duty.send("Core switch, server room")
    await office.duty.wait_for("What do you see")
    await office.duty.send("Uplink port flapping")
    await (await office.duty.wait_for("Do you know where it comes from")).press("Skip")
    await (await office.duty.wait_for("Add photos or files")).press("Done")
    review = await office.duty.wait_for("Please check your report")
    assert "Found on patrol: Daily check (Firewall and IDS alerts" in review.text
    await review.press("📨 Submit")
    done = await office.duty.wait_for("Your report is in")
    number = done.text.split("Its number is ")[1].split(".")[0].strip()

    card = await office.tech_center.wait_for(number)
    assert "巡查发现：Daily check" in card.text
    await reminder.wait_until("Answered “found a problem” by Duty Wu")
    row = (await rounds(bot))[0]
    async with bot.ctx.db.transaction() as session:
        incident = await incidents_q.get_by_number(session=session, number=number)
    assert incident is not None
    assert row.answer == "problem" and row.incident_id == incident.id
    assert incident.details["context"]["patrol_round_id"] == row.id
    await office.tech.send("/patrols")
    overview = await office.tech.wait_for("Patrols today")
    assert number in overview.text


async def test_unanswered_round_is_reported_missed_then_escalated_to_the_lead(
    stage: Stage,
) -> None:
    """R11: no answer in 30 minutes → tech-center chat, naming the officer; 30 more → the lead."""
    monday = next_monday()
    office = await patrol_office(stage, start_at=local(monday, 8), kinds=[DAILY], duty=_one_officer)
    bot = office.bot
    await advance_to(bot, local(monday, 9))
    reminder = await office.duty.wait_for("Patrol: Daily check")

    await advance_to(bot, local(monday, 9, 29))
    await stage.settle()
    assert not [m for m in office.tech_center.messages() if "巡查未答复" in m.text]
    await advance_to(bot, local(monday, 9, 30))
    missed = await office.tech_center.wait_for("巡查未答复")
    assert "Daily check" in missed.text and "Duty Wu" in missed.text and "30 分钟" in missed.text
    await stage.settle()
    assert not [m for m in office.tech_lead.messages() if "Patrol still not answered" in m.text]

    await advance_to(bot, local(monday, 10))
    chased = await office.tech_lead.wait_for("Patrol still not answered")
    assert "Duty Wu" in chased.text and "60 minutes" in chased.text
    row = (await rounds(bot))[0]
    assert row.missed_at is not None and row.escalated_at is not None and row.answer is None

    await reminder.press("✅ All normal")
    late = await office.tech_center.wait_for("补答")
    assert "Duty Wu" in late.text
    await advance_to(bot, local(monday, 12))
    await stage.settle()
    assert len([m for m in office.tech_lead.messages() if "not answered" in m.text]) == 1


async def test_irregular_rounds_over_thirty_days_stay_in_the_window_and_vary(
    stage: Stage,
) -> None:
    """R11: two random rounds a day between 10:00 and 17:00, drawn afresh each day."""
    spot = {
        "key": "spot",
        "name": "Spot check",
        "checklist": ["Website integrity"],
        "irregular": {"count": 2, "start": "10:00", "end": "17:00"},
        "days": "all",
    }
    first = next_monday()
    office = await patrol_office(stage, start_at=local(first, 0, 30), kinds=[spot])
    bot = office.bot
    days: list[tuple[time, ...]] = []
    for offset in range(30):
        day = first + timedelta(days=offset)
        await advance_to(bot, local(day, 0, 30))
        todays = [r for r in await rounds(bot) if r.day == day]
        assert len(todays) == 2, day
        for row in todays:
            at = row.due_at.astimezone(TZ)
            assert at.date() == day and time(10) <= at.time() < time(17), at
            assert row.irregular and row.sent_at is None
            await advance_to(bot, at)
            reminder = await office.duty.wait_for("Patrol: Spot check")
            assert at.strftime("%Y-%m-%d %H:%M") in reminder.text and "LATE" not in reminder.text
            await reminder.press("✅ All normal")
        days.append(tuple(r.due_at.astimezone(TZ).time() for r in todays))
    assert len(set(days)) >= 25, "the times must change from day to day"
    await office.tech.send("/patrols")
    overview = await office.tech.wait_for("Patrols today")
    assert "Spot check" in overview.text


async def test_patrol_log_exports_one_csv_row_per_round(stage: Stage) -> None:
    """R11 R13: /patrols export sends a UTF-8 CSV (with BOM) that Python's csv module reads."""
    monday = next_monday()
    office = await patrol_office(stage, start_at=local(monday, 8), kinds=[DAILY], duty=_one_officer)
    bot = office.bot
    await advance_to(bot, local(monday, 9))
    reminder = await office.duty.wait_for("Patrol: Daily check")
    await advance_to(bot, local(monday, 9, 5))
    await reminder.press("✅ All normal")
    await reminder.wait_until("Answered")
    await reminder.press("📝 Add a note")
    await office.duty.wait_for("Send the note")
    await office.duty.send('=cmd, "quoted", 备注')
    await office.duty.wait_for("Note saved")
    await advance_to(bot, local(monday, 16))
    await office.duty.wait_for(lambda m: "Patrol: Daily check" in m.text and "16:00" in m.text)
    await advance_to(bot, local(monday, 16, 30))
    await office.tech_center.wait_for("巡查未答复")
    await advance_to(bot, local(monday, 17))
    await office.tech_lead.wait_for("Patrol still not answered")

    await office.tech.send("/patrols export 13-45")
    await office.tech.wait_for("“13-45” is not a date")
    await office.staff.send("/patrols export")
    await office.staff.wait_for("the patrol log is for the tech center")
    await office.tech.send(f"/patrols export {monday.isoformat()} {monday.isoformat()}")
    sent = await office.tech.wait_for(lambda m: m.document is not None)
    assert sent.document is not None and sent.document.filename is not None
    assert sent.document.filename.endswith(".csv")
    assert "2 rounds" in sent.text
    content = sent.document.data
    assert content.startswith(b"\xef\xbb\xbf")
    table = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
    due = [r for r in await rounds(bot) if r.due_at <= bot.clock.now()]
    assert len(table) == len(due) == 2
    morning, afternoon = table
    assert morning["Round"] == str(due[0].id)
    assert morning["Officer"] == "Duty Wu"
    assert morning["Due"] == f"{monday.isoformat()} 09:00"
    assert morning["Answered at"] == f"{monday.isoformat()} 09:05"
    assert morning["Answer"] == "all normal"
    assert morning["Note"] == '\'=cmd, "quoted", 备注'
    assert morning["Type"] == "regular" and morning["Late"] == "No"
    assert afternoon["Answer"] == "no answer" and afternoon["Answered at"] == ""
    assert afternoon["Reported missed at"] == f"{monday.isoformat()} 16:30"
    assert afternoon["Lead told at"] == f"{monday.isoformat()} 17:00"
    async with bot.ctx.db.transaction() as session:
        exports = await access_q.audit_entries(session=session, action="patrols.exported")
    assert len(exports) == 1 and exports[0].actor_id == office.tech.id
