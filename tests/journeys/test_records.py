"""Records through chat with a seeded year: search, export, statistics and the summary (R13)."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

from matplotlib import image
from openpyxl import load_workbook

from bot.records import charts, stats
from bot.records.browse import Period
from bot.records.buttons import RecordsPage
from emulator.testing import BotMessage, UserHandle
from messages.records import period_label
from storage import access as access_q
from storage import incidents as incident_q
from tests.harness import Bot, Stage
from tests.journeys.cast import Office, open_office
from tests.records_seed import (
    TZ,
    Seeded,
    SeededRound,
    local,
    minutes_text,
    percentile,
    seed_rounds,
    seed_warnings,
    seed_year,
)

YEAR = datetime.now(TZ).year - 1
LISTED = re.compile(r"^(?:🎯)?• (D?\d{4}-\d{4}) ", re.MULTILINE)
FOOTER = "To search: /incidents help"
NEXT = "Next ▶️"
CATEGORY_NAMES = {
    "natural_disaster": "Natural disaster",
    "virus": "Virus spread",
    "intrusion": "Intrusion",
    "tampering": "Information tampering",
    "network_failure": "Network failure",
    "other": "Other",
}
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


async def seeded_office(stage: Stage) -> tuple[Office, list[Seeded], list[SeededRound]]:
    """An office through chat; last year's incidents, patrols and warnings through storage."""
    office = await open_office(stage)
    async with office.bot.ctx.db.transaction() as session:
        seeded = await seed_year(
            session, year=YEAR, reporter_id=office.staff.id, handler_id=office.tech.id
        )
        rounds = await seed_rounds(session, year=YEAR)
        await seed_warnings(
            session, year=YEAR, sender_id=office.tech.id, approver_id=office.leader.id
        )
    return office, seeded, rounds


def newest_first(items: list[Seeded]) -> list[str]:
    """Numbers in the order the list shows them."""
    ordered = sorted(items, key=lambda i: (i.reported_at, i.id), reverse=True)
    return [i.number for i in ordered]


def has_next(message: BotMessage) -> bool:
    """Whether the list offers a next page."""
    return any(b.text == NEXT for row in message.buttons for b in row)


async def every_page(user: UserHandle, command: str) -> tuple[BotMessage, list[str]]:
    """Send a /incidents command and page through the answer; every number listed, in order."""
    await user.send(command)
    message = await user.wait_for(FOOTER)
    numbers = LISTED.findall(message.text)
    page = 1
    while has_next(message):
        await message.press(NEXT)
        page += 1
        await message.wait_until(f"Page {page} of")
        numbers += LISTED.findall(message.text)
    return message, numbers


async def test_each_incidents_filter_lists_exactly_the_right_incidents(stage: Stage) -> None:
    """R13: /incidents with each kind of filter (and all combined) pages through exactly the
    seeded incidents it should, newest first, in English and Chinese words."""
    office, seeded, _ = await seeded_office(stage)
    real = [i for i in seeded if not i.is_drill]
    drills = [i for i in seeded if i.is_drill]
    is_open = {"reported", "acknowledged", "in_progress", "resolved"}
    cases: list[tuple[str, Callable[[Seeded], bool], list[Seeded]]] = [
        ("", lambda i: i.status in is_open, real),
        ("closed", lambda i: i.status == "closed", real),
        ("all small", lambda i: i.level == "small", real),
        (
            "closed large intrusion",
            lambda i: (i.status, i.level, i.category) == ("closed", "large", "intrusion"),
            real,
        ),
        (
            "已结大型入侵",
            lambda i: (i.status, i.level, i.category) == ("closed", "large", "intrusion"),
            real,
        ),
        (f"{YEAR}-03", lambda i: i.local.year == YEAR and i.local.month == 3, real),
        (
            f"closed medium {YEAR}年6月",
            lambda i: i.status == "closed" and i.level == "medium" and i.local.month == 6,
            real,
        ),
        ("drill", lambda i: i.status in is_open, drills),
        (f"{YEAR} drill", lambda i: True, drills),
        ('"门户"', lambda i: i.says("门户"), real),
        ('closed "已封禁"', lambda i: i.status == "closed" and i.says("已封禁"), real),
        ('"50%"', lambda i: i.says("50%"), real),
        ('"user_admin"', lambda i: i.says("user_admin"), real),
        ('"PORTAL" virus', lambda i: i.says("portal") and i.category == "virus", real),
    ]
    for typed, keep, pool in cases:
        expected = newest_first([i for i in pool if keep(i)])
        assert expected, typed
        _, listed = await every_page(office.tech, f"/incidents {typed}".strip())
        assert listed == expected, typed
    # The traps are real: a naive LIKE or a search of other timeline entries would list more.
    assert any("500" in i.description and not i.says("50%") for i in real)
    assert any(i.other_notes and not i.says("门户") for i in real)

    await office.tech.send("/incidents closed larg")
    usage = await office.tech.wait_for("I do not understand “larg”")
    assert "Searching the incidents" in usage.text and "open · closed · all" in usage.text
    await office.tech.send("/incidents help")
    await office.tech.wait_for("words in quotes")


async def test_page_buttons_recheck_the_role_and_refuse_forged_data(stage: Stage) -> None:
    """R13 R14: a page button checks the presser's role again; forged data changes nothing."""
    office, seeded, _ = await seeded_office(stage)
    await office.duty.send(f"/incidents all {YEAR}")
    listing = await office.duty.wait_for(FOOTER)
    assert has_next(listing) and "Page 1 of" in listing.text
    before = listing.edit_count

    answer = await stage.tg.forge_press(office.duty, listing, "r:0:z::::0:")
    assert answer.text == "This button is no longer active." and answer.show_alert
    # Past the end: the last page, not an error.
    past_the_end = RecordsPage(9999, "a", None, None, YEAR, None, False).pack()
    await stage.tg.forge_press(office.duty, listing, past_the_end)
    pages = -(-len([i for i in seeded if not i.is_drill]) // 10)
    await listing.wait_until(f"Page {pages} of {pages}")

    async with office.bot.ctx.db.transaction() as session:
        user = await access_q.get_user(session=session, user_id=office.duty.id)
        assert user is not None
        await access_q.set_roles(session=session, user=user, roles=["staff"])
    edits = listing.edit_count
    answer = await listing.press("◀️ Previous")
    assert "records are for duty officers" in (answer.text or "")
    await stage.settle()
    assert listing.edit_count == edits > before


async def test_export_csv_round_trips_with_chinese_text_and_xlsx_too(stage: Stage) -> None:
    """R13: /export incidents gives a UTF-8 CSV with BOM that Python's csv module reads back with
    Chinese intact and formulas neutralised; xlsx holds the same; patrols too; roles enforced."""
    office, seeded, rounds = await seeded_office(stage)
    await office.staff.send(f"/export incidents {YEAR}")
    await office.staff.wait_for("exports are for the tech center")
    await office.duty.send(f"/export incidents {YEAR}")
    await office.duty.wait_for("exports are for the tech center")
    await office.tech.send("/export")
    await office.tech.wait_for("Usage: /export incidents")
    await office.tech_center.send(office.tech, f"/export incidents {YEAR}")
    await office.tech_center.wait_for("请在与我的私聊中导出记录")

    await office.tech.send(f"/export incidents {YEAR}")
    sent = await office.tech.wait_for(lambda m: m.document is not None)
    assert sent.document is not None
    assert sent.document.filename == f"incidents-{YEAR}-01-01-{YEAR}-12-31.csv"
    assert f"Incidents {YEAR}-01-01 to {YEAR}-12-31: {len(seeded)} rows." in sent.text
    data = sent.document.data
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    header, body = rows[0], rows[1:]
    column = {name: index for index, name in enumerate(header)}
    ordered = sorted(seeded, key=lambda i: (i.reported_at, i.id))
    assert [row[column["Number"]] for row in body] == [i.number for i in ordered]
    for row, item in zip(body, ordered, strict=True):
        assert row[column["Where"]] == item.location
        shown = row[column["What was seen"]]
        assert shown == (
            "'" + item.description if item.description.startswith("=") else item.description
        )
        assert row[column["Drill"]] == ("Yes" if item.is_drill else "No")
        assert all(text in row[column["Progress updates"]] for text in item.updates)
        assert row[column["Reporter"]] == "Staff Zheng"
    assert any(row[column["Where"]] == "门户网站服务器" for row in body)

    await office.leader.send(f"/export incidents {YEAR}-01-01 {YEAR}-12-31 xlsx")
    book = await office.leader.wait_for(lambda m: m.document is not None)
    assert book.document is not None and book.document.filename.endswith(".xlsx")
    sheet = load_workbook(io.BytesIO(book.document.data)).active
    assert sheet is not None
    cells = list(sheet.iter_rows(values_only=True))
    assert [row[0] for row in cells[1:]] == [i.number for i in ordered]
    assert any(row[9] == "=cmd|' /C calc'!A0" for row in cells[1:])

    await office.tech.send(f"/export patrols {YEAR}-03")
    log = await office.tech.wait_for(lambda m: m.document is not None)
    assert log.document is not None
    patrol_rows = list(csv.reader(io.StringIO(log.document.data.decode("utf-8-sig"))))[1:]
    assert len(patrol_rows) == len([r for r in rounds if r.day.month == 3]) == 4
    assert {row[2] for row in patrol_rows} == {"日常巡查"}

    await office.leader.send(f"/export warnings {YEAR}")
    warned = await office.leader.wait_for(lambda m: m.document is not None)
    assert warned.document is not None
    warning_rows = list(csv.reader(io.StringIO(warned.document.data.decode("utf-8-sig"))))
    assert len(warning_rows) == 1 + 6 and warning_rows[1][3] == "勒索病毒预警"

    async with office.bot.ctx.db.transaction() as session:
        audit = await access_q.audit_entries(session=session, action="records.exported")
    assert not [m for m in office.tech_center.messages() if m.document is not None]
    assert sorted(a.target for a in audit) == sorted(
        [
            f"incidents:{YEAR}-01-01:{YEAR}-12-31",
            f"incidents:{YEAR}-01-01:{YEAR}-12-31",
            f"patrols:{YEAR}-03-01:{YEAR}-03-31",
            f"warnings:{YEAR}-01-01:{YEAR}-12-31",
        ]
    )


def expected_stats_lines(items: list[Seeded], rounds: list[SeededRound]) -> list[str]:
    """The lines /stats should show for a year, in English, computed here."""
    levels = Counter(i.level for i in items)
    lines = [
        f"In all: {len(items)}",
        "By level: " + " · ".join(f"{lv} {levels[lv]}" for lv in ("large", "medium", "small")),
    ]
    for category, name in CATEGORY_NAMES.items():
        mine = [i for i in items if i.category == category]
        line = f"• {name}: {len(mine)}"
        if mine:
            per = Counter(i.level for i in mine)
            line += (
                " ("
                + " · ".join(f"{lv} {per[lv]}" for lv in ("large", "medium", "small") if per[lv])
                + ")"
            )
        lines.append(line)
    months = Counter(i.local.month for i in items)
    lines.append(" · ".join(f"{name} {months[m]}" for m, name in enumerate(MONTHS, start=1)))
    for end in ("acknowledged_at", "resolved_at"):
        for key in ("all", "large", "medium", "small"):
            values = [
                (getattr(i, end) - i.reported_at).total_seconds()
                for i in items
                if getattr(i, end) is not None and key in ("all", i.level)
            ]
            name = "all levels" if key == "all" else key
            lines.append(
                f"• {name}: {minutes_text(percentile(values, 0.5))} · "
                f"{minutes_text(percentile(values, 0.9))} ({len(values)} counted)"
            )
    missed = sum(r.missed for r in rounds)
    lines.append(f"Patrols: {len(rounds)} rounds due, {missed} missed.")
    lines.append("Early warnings sent: 4.")
    return lines


async def test_stats_match_independent_figures_and_the_chart_arrives_as_png(stage: Stage) -> None:
    """R13: /stats for a year shows the counts, median and 90th percentile computed here from the
    seeded times (drills left out), then the chart as a valid PNG photo."""
    office, seeded, rounds = await seeded_office(stage)
    await office.staff.send("/stats")
    await office.staff.wait_for("records are for duty officers")
    await office.staff.send("/stats nonsense")
    await office.staff.wait_for("records are for duty officers")
    await office.staff.send("/incidents help")
    await office.staff.wait_for("records are for duty officers")
    await office.duty.send("/stats yesterday")
    await office.duty.wait_for("I do not understand “yesterday”. Usage: /stats")

    await office.leader.send(f"/stats {YEAR}")
    shown = await office.leader.wait_for(f"Incidents {YEAR} (drills left out)")
    text_lines = shown.text.splitlines()
    for line in expected_stats_lines([i for i in seeded if not i.is_drill], rounds):
        assert line in text_lines, (line, shown.text)
    photo = await office.leader.wait_for(lambda m: m.photo is not None)
    assert photo.photo is not None and f"Incidents {YEAR}" in photo.text
    assert photo.photo.data.startswith(b"\x89PNG\r\n\x1a\n")
    pixels = image.imread(io.BytesIO(photo.photo.data), format="png")
    assert pixels.shape[:2] == (500, 1100)

    await office.leader.send(f"/stats {YEAR} drill")
    drilled = await office.leader.wait_for(f"Drills {YEAR}")
    assert f"In all: {len([i for i in seeded if i.is_drill])}" in drilled.text
    assert "Patrols:" not in drilled.text
    await office.leader.wait_for(lambda m: m.photo is not None)


async def test_stats_in_the_leadership_group_come_in_chinese_with_a_chart_font_that_has_them(
    stage: Stage,
) -> None:
    """R13 R15: in the leadership group the figures and the chart are Chinese; the photo is the
    chart whose every label the chart font has glyphs for."""
    office, seeded, _ = await seeded_office(stage)
    await office.leadership.send(office.deputy, f"/stats {YEAR}-03")
    text = await office.leadership.wait_for(f"{YEAR}年3月 事件（不含演练）")
    march = [i for i in seeded if not i.is_drill and i.local.month == 3]
    assert f"合计：{len(march)} 起" in text.text
    photo = await office.leadership.wait_for(lambda m: m.photo is not None)
    assert photo.photo is not None

    async with office.bot.ctx.db.transaction() as session:
        figures = await stats.compute(session=session, ctx=office.bot.ctx, period=Period(YEAR, 3))
    drawn = stats.drawable_chart(figures, "zh_CN")
    labels = "".join(drawn.texts())
    assert "按类别" in labels and "入侵" in labels and "大型" in labels
    font = charts.cjk_font()
    assert font is not None, "no CJK font: run make fonts (fonts-noto-cjk)"
    assert charts.has_glyphs(font.path, font.index, labels)
    assert photo.photo.data == charts.png(drawn)


async def advance_to(bot: Bot, moment: datetime) -> None:
    """Move the bot's clock forward to a moment and fire what became due."""
    await bot.advance(seconds=max((moment - bot.clock.now()).total_seconds(), 0))


async def test_monthly_summary_reaches_the_leadership_group_once_across_a_restart(
    stage: Stage,
) -> None:
    """R13: on the next month's first working day at 09:00 the leadership group gets this
    month's summary and chart; a restart afterwards does not send it again."""
    office = await open_office(stage)
    bot = office.bot
    now = bot.clock.now().astimezone(TZ)
    this = Period(now.year, now.month)
    following = Period(this.end.year, this.end.month)
    async with bot.ctx.db.transaction() as session:
        for minute in range(5):
            await incident_q.add_incident(
                session=session,
                number=f"{now.year}-{9000 + minute}",
                year=now.year,
                seq=9000 + minute,
                is_drill=False,
                category="virus",
                level="small",
                status="reported",
                occurred_at=local(now.year, now.month, 1, 0, 1 + minute),
                reported_at=local(now.year, now.month, 1, 0, 1 + minute),
                location="财政局办公网",
                description="病毒",
                reporter_id=office.staff.id,
            )
    due = stats.summary_due(bot.ctx, following)
    await advance_to(bot, due - timedelta(minutes=1))
    title = f"{period_label('zh_CN', this.year, this.month)} 事件信息月报"
    await stage.settle()
    assert not [m for m in office.leadership.messages() if title in m.text]
    await advance_to(bot, due)
    summary = await office.leadership.wait_for(title, timeout=15)
    assert "合计：5 起" in summary.text and "病毒传播: 5 (小型 5)" in summary.text
    photo = await office.leadership.wait_for(lambda m: m.photo is not None, timeout=15)
    assert photo.photo is not None and photo.photo.data.startswith(b"\x89PNG")

    clock = bot.clock
    await stage.stop_bot(bot)
    again = await stage.start_bot(admins=[office.admin], clock=clock)
    await again.advance(hours=2)
    await stage.settle()
    await again.drain()
    assert len([m for m in office.leadership.messages() if title in m.text]) == 1
    async with again.ctx.db.transaction() as session:
        sent = await access_q.audit_entries(session=session, action="records.summary_sent")
    assert [e.target for e in sent].count(f"month:{this}") == 1
