"""Records without Telegram: filters, statistics, query counts, charts, the summary (R13)."""

from __future__ import annotations

import csv
import io
import logging
import warnings
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any

import pytest
from fontTools.ttLib import TTFont
from hypothesis import given
from hypothesis import strategies as st
from matplotlib import font_manager
from matplotlib.text import Text
from sqlalchemy import event, select

from app.build import build_context
from bot.access import chats
from bot.platform import scheduler
from bot.platform.clock import ManualClock
from bot.platform.config import Policy, Settings
from bot.platform.context import AppContext
from bot.platform.errors import Invalid, NotAllowed
from bot.records import browse, charts, stats
from bot.records.browse import IncidentFilter, Period, parse_filter
from bot.records.buttons import RecordsPage
from messages.render import Renderer
from storage import access as access_q
from storage import records as records_q
from storage.db import Database
from storage.models import Flag, OutboxMessage, Timer
from tests.office import ADMIN, DUTY, LEADER, STAFF, TECH, service_office
from tests.records_seed import (
    TZ,
    Seeded,
    SeededRound,
    SeededWarning,
    bulk_incidents,
    local,
    percentile,
    seed_rounds,
    seed_warnings,
    seed_year,
)

YEAR = 2025
NOW = local(2026, 2, 10, 10)
TODAY = date(2026, 2, 10)
LEADERSHIP_CHAT = -200


async def _office(db: Database, policy: Policy | None = None, now: datetime = NOW) -> AppContext:
    return await service_office(db, now=now, policy=policy)


@pytest.fixture
async def ctx(db: Database) -> AsyncIterator[AppContext]:
    """Services on this test's database, a manual clock in February 2026, five people."""
    yield await _office(db)


@pytest.fixture
async def seeded(ctx: AppContext) -> list[Seeded]:
    """A year of incidents (2025)."""
    async with ctx.db.transaction() as session:
        return await seed_year(session, year=YEAR, reporter_id=STAFF, handler_id=TECH)


@pytest.fixture
async def sent_warnings(ctx: AppContext) -> list[SeededWarning]:
    """The early warnings of 2025."""
    async with ctx.db.transaction() as session:
        return await seed_warnings(session, year=YEAR, sender_id=TECH, approver_id=LEADER)


@pytest.fixture
async def rounds(ctx: AppContext) -> list[SeededRound]:
    """The patrol rounds of 2025."""
    async with ctx.db.transaction() as session:
        return await seed_rounds(session, year=YEAR)


# ----------------------------------------------------------------------------- the filter


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("", IncidentFilter()),
        ("drill", IncidentFilter(drills=True)),
        (
            'closed large intrusion 2026-11 drill "portal"',
            IncidentFilter(
                status="closed",
                level="large",
                category="intrusion",
                period=Period(2026, 11),
                drills=True,
                text="portal",
            ),
        ),
        (
            "已结大型入侵2026年11月演练“门户 网站”",
            IncidentFilter(
                status="closed",
                level="large",
                category="intrusion",
                period=Period(2026, 11),
                drills=True,
                text="门户 网站",
            ),
        ),
        (
            "ALL Small，病毒 2025",
            IncidentFilter(status="all", level="small", category="virus", period=Period(2025)),
        ),
        ("11月", IncidentFilter(period=Period(2025, 11))),
        ("2月 信息被篡改", IncidentFilter(period=Period(2026, 2), category="tampering")),
        ("'50%_x'", IncidentFilter(text="50%_x")),
        ("network", IncidentFilter(category="network_failure")),
    ],
)
def test_filter_words_in_english_and_chinese(typed: str, expected: IncidentFilter) -> None:
    """R13: the /incidents words, with or without spaces between Chinese words."""
    assert parse_filter(typed, today=TODAY) == expected


@pytest.mark.parametrize(
    ("typed", "key", "word"),
    [
        ("larg", "records.bad_word", "larg"),
        ("allow", "records.bad_word", "allow"),
        ("large small", "records.twice", "small"),
        ("2026-13", "records.bad_period", "2026-13"),
        ("9999", "records.bad_period", "9999"),
        ("12", "records.bad_word", "12"),
        ("中心", "records.bad_word", "心"),
    ],
)
def test_filter_refuses_what_it_does_not_know_and_says_which_word(
    typed: str, key: str, word: str
) -> None:
    """R13: bad input names the word; nothing is guessed."""
    with pytest.raises(Invalid) as caught:
        parse_filter(typed, today=TODAY)
    assert caught.value.key == key
    assert caught.value.params.get("word") == word


def test_search_text_must_fit_the_buttons() -> None:
    """R13: quoted text is limited so that the page buttons can carry it."""
    parse_filter('"' + "门" * 13 + '"', today=TODAY)
    with pytest.raises(Invalid) as caught:
        parse_filter('"' + "门" * 14 + '"', today=TODAY)
    assert caught.value.key == "records.text_too_long"


def test_the_default_is_open_but_searching_a_period_or_text_covers_closed_too() -> None:
    """R13: /incidents alone lists open incidents; a period or a text searches all of them."""
    assert parse_filter("", today=TODAY).effective_status == "open"
    assert parse_filter("large", today=TODAY).effective_status == "open"
    assert parse_filter("2025", today=TODAY).effective_status == "all"
    assert parse_filter('"x"', today=TODAY).effective_status == "all"
    assert parse_filter('open "x"', today=TODAY).effective_status == "open"


filters = st.builds(
    IncidentFilter,
    status=st.sampled_from(["open", "closed", "all"]),
    level=st.sampled_from([None, "large", "medium", "small"]),
    category=st.sampled_from([None, *browse.Category]).map(lambda c: c and str(c)),
    period=st.one_of(
        st.none(),
        st.builds(Period, st.integers(1000, 9998), st.one_of(st.none(), st.integers(1, 12))),
    ),
    drills=st.booleans(),
    text=st.one_of(
        st.none(),
        st.text(min_size=1, max_size=40).filter(lambda t: len(t.encode()) <= browse.TEXT_MAX_BYTES),
    ),
)


@given(search=filters, page=st.integers(0, 99999))
def test_page_buttons_carry_any_filter_within_64_bytes(search: IncidentFilter, page: int) -> None:
    """R13: the callback data round-trips every filter and stays within Telegram's 64 bytes."""
    data = browse.page_button(search, page).pack()
    assert len(data.encode()) <= 64
    button = RecordsPage.parse(data)
    assert button is not None
    assert browse.filter_of(button) == (search, page)


@pytest.mark.parametrize(
    "data",
    [
        "r:0:z::::0:",  # no such status
        "r:-1:a::::0:",  # a negative page
        "r:x:a::::0:",  # a page that is not a number
        "r:123456:a::::0:",  # a page longer than any list
        "r:0:a:::2026:13:0:",  # no such month
        "r:0:a::::11:0:",  # a month without a year
        "r:0:a:::0:1:0:",  # no such year
        "r:0:a::::0",  # a field missing
        "r:0:a::::0:" + "x" * 41,  # search text longer than a filter allows
        "xx:0:a::::0:",
        "rl:0:ax00::",  # the old layout
    ],
)
def test_forged_page_data_is_refused(data: str) -> None:
    """R13: a button whose data is not one of ours is refused, not guessed at."""
    assert RecordsPage.parse(data) is None


def test_page_button_search_text_may_hold_the_separator() -> None:
    """R13: quoted text with colons comes back whole from the button."""
    search = IncidentFilter(status="all", text="10:30 门户:首页")
    button = RecordsPage.parse(browse.page_button(search, 3).pack())
    assert button is not None and browse.filter_of(button) == (search, 3)


def test_every_word_the_usage_lists_is_understood() -> None:
    """R13: the words /incidents help shows, in both languages, all parse."""
    renderer = Renderer()
    for language in ("zh_CN", "en"):
        usage = str(renderer.render(language, "records/usage", error=None))
        bullets = [line[2:] for line in usage.splitlines() if line.startswith("• ")]
        for line in bullets[:3]:
            for word in line.split(" · "):
                parse_filter(word, today=TODAY)
        example = next(
            line for line in usage.splitlines() if "/incidents " in line and "2026" in line
        )
        parse_filter(example.split("/incidents ", 1)[1], today=TODAY)


# ----------------------------------------------------------------------------- the search


async def _all_pages(ctx: AppContext, typed: str) -> list[str]:
    search = parse_filter(typed, today=TODAY)
    numbers: list[str] = []
    page_number = 0
    while True:
        async with ctx.db.transaction() as session:
            page = await browse.search(
                session=session, ctx=ctx, user_id=DUTY, search=search, page=page_number
            )
        numbers += [incident.number for incident in page.incidents]
        if page.next is None:
            return numbers
        page_number += 1


def _newest_first(items: list[Seeded]) -> list[str]:
    return [i.number for i in sorted(items, key=lambda i: (i.reported_at, i.id), reverse=True)]


async def test_search_escapes_percent_and_underscore_and_ignores_case(
    ctx: AppContext, seeded: list[Seeded]
) -> None:
    """R13: "50%" and "user_admin" are taken literally; "PORTAL" finds "Portal"."""
    real = [i for i in seeded if not i.is_drill]
    for typed, needle in (('"50%"', "50%"), ('"user_admin"', "user_admin"), ('"PORTAL"', "portal")):
        expected = _newest_first([i for i in real if i.says(needle)])
        assert expected
        assert await _all_pages(ctx, typed) == expected
    # Without escaping, "50%" would also find "500 台..." and "user_admin" "userXadmin".
    assert any("500" in i.description and not i.says("50%") for i in real)
    assert any("userXadmin" in i.location for i in real)


async def test_search_is_refused_to_staff(ctx: AppContext) -> None:
    """R13 R14: the records are for duty officers, the tech center and leaders."""
    async with ctx.db.transaction() as session:
        with pytest.raises(NotAllowed):
            await browse.search(session=session, ctx=ctx, user_id=STAFF, search=IncidentFilter())


# ----------------------------------------------------------------------------- statistics


async def test_statistics_match_figures_computed_here(
    ctx: AppContext,
    seeded: list[Seeded],
    rounds: list[SeededRound],
    sent_warnings: list[SeededWarning],
) -> None:
    """R13: counts per level, category and month, and both percentiles, as computed here."""
    async with ctx.db.transaction() as session:
        figures = await stats.statistics(
            session=session, ctx=ctx, user_id=DUTY, period=Period(YEAR)
        )
    real = [i for i in seeded if not i.is_drill]
    assert figures.counts == dict(Counter((i.level, i.category) for i in real))
    per_month = Counter(i.local.month for i in real)
    assert [sum(counts.values()) for _, counts in figures.months] == [
        per_month.get(m, 0) for m in range(1, 13)
    ]
    for key, pick in (
        ("all", lambda i: True),
        *((lv, lambda i, lv=lv: i.level == lv) for lv in ("large", "medium", "small")),
    ):
        for measured, end in (
            (figures.acknowledge, "acknowledged_at"),
            (figures.resolve, "resolved_at"),
        ):
            values = [
                (getattr(i, end) - i.reported_at).total_seconds()
                for i in real
                if pick(i) and getattr(i, end) is not None
            ]
            assert measured[key].count == len(values)
            assert measured[key].median == pytest.approx(percentile(values, 0.5), abs=1e-3)
            assert measured[key].p90 == pytest.approx(percentile(values, 0.9), abs=1e-3)
    assert figures.patrols_due == len(rounds)
    assert figures.patrols_missed == sum(r.missed for r in rounds) > 0
    assert figures.warnings_sent == len([w for w in sent_warnings if w.sent_at]) == 4


async def test_month_buckets_follow_the_office_calendar(
    ctx: AppContext, seeded: list[Seeded]
) -> None:
    """R13: 1 March 00:05 in Shanghai (still February in UTC) counts for March."""
    march = [i for i in seeded if not i.is_drill and i.local.month == 3]
    assert any(i.reported_at == local(YEAR, 3, 1, 0, 5) for i in march)
    async with ctx.db.transaction() as session:
        figures = await stats.compute(session=session, ctx=ctx, period=Period(YEAR, 3))
    assert figures.total == len(march)


@contextmanager
def counting(db: Database) -> Iterator[list[str]]:
    """Collect every statement the engine sends while the block runs."""
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        # SQLite's BEGIN IMMEDIATE is sent with the first statement of a transaction.
        if not statement.startswith("BEGIN"):
            statements.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)


async def _queries(ctx: AppContext) -> dict[str, int]:
    found = {}
    async with ctx.db.transaction() as session:
        with counting(ctx.db) as statements:
            await stats.statistics(session=session, ctx=ctx, user_id=DUTY, period=Period(YEAR))
        found["stats"] = len(statements)
        with counting(ctx.db) as statements:
            await browse.search(
                session=session,
                ctx=ctx,
                user_id=DUTY,
                search=parse_filter('closed intrusion 2025 "门户"', today=TODAY),
                page=1,
            )
        found["search"] = len(statements)
    return found


async def test_stats_and_a_filtered_page_take_a_fixed_number_of_queries(ctx: AppContext) -> None:
    """R13: with 10 or 10,000 incidents, /stats and a filtered /incidents page each run the same,
    small number of queries."""
    async with ctx.db.transaction() as session:
        await bulk_incidents(session, count=10, year=YEAR)
    small = await _queries(ctx)
    async with ctx.db.transaction() as session:
        await bulk_incidents(session, count=9990, year=YEAR, first=11, seed=4)
        total = await records_q.count_incidents(
            session=session, criteria=records_q.IncidentCriteria(statuses=None, drills=None)
        )
    assert total == 10_000
    large = await _queries(ctx)
    assert small == large
    # The viewer and their roles, then: counts, two percentile ranks, patrols, warnings;
    # for the page: count and page.
    assert large == {"stats": 7, "search": 4}


# ----------------------------------------------------------------------------- the chart


def _font_has(path: str, index: int, text: str) -> bool:
    font = TTFont(path, fontNumber=index, lazy=True)
    try:
        cmap = font.getBestCmap()
    finally:
        font.close()
    return all(ord(char) in cmap for char in text if not char.isspace())


async def test_the_chart_font_has_a_glyph_for_every_chinese_label(
    ctx: AppContext, seeded: list[Seeded]
) -> None:
    """R13: every Chinese text on the chart is drawn in a font that has all its glyphs."""
    async with ctx.db.transaction() as session:
        figures = await stats.compute(session=session, ctx=ctx, period=Period(YEAR))
    drawn = stats.drawable_chart(figures, "zh_CN")
    assert "按类别" in drawn.texts() and "入侵" in drawn.texts()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig = charts.figure(drawn)
        fig.canvas.draw()
    assert not [w for w in caught if "missing from" in str(w.message)]
    chinese = [t for t in fig.findobj(Text) if t.get_text() and not t.get_text().isascii()]
    shown = {t.get_text() for t in chinese}
    assert set(drawn.texts()) <= shown
    for text in chinese:
        used = font_manager.findfont(text.get_fontproperties(), fallback_to_default=False)
        index = int(getattr(used, "face_index", 0))
        assert _font_has(str(used), index, text.get_text()), (text.get_text(), used)
    png = charts.png(drawn)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")


async def test_without_a_chinese_font_the_chart_falls_back_to_english_and_says_so(
    ctx: AppContext, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """R13: no CJK font: the log says so and the labels are English, not boxes."""
    monkeypatch.setattr(charts, "_found", [None])
    async with ctx.db.transaction() as session:
        figures = await stats.compute(session=session, ctx=ctx, period=Period(YEAR, 3))
    with caplog.at_level(logging.WARNING):
        drawn = stats.drawable_chart(figures, "zh_CN")
    assert all(text.isascii() for text in drawn.texts()), drawn.texts()
    assert "By category" in drawn.texts()
    assert "no chart font has glyphs" in caplog.text


# ----------------------------------------------------------------------------- exports


async def test_export_rows_neutralise_formulas_and_keep_chinese(
    ctx: AppContext, seeded: list[Seeded]
) -> None:
    """R13: the incident table has every incident of the days asked, drills marked."""
    request = browse.parse_export(["incidents", "2025", "xlsx"], today=TODAY)
    assert (request.first, request.last, request.fmt) == (
        date(2025, 1, 1),
        date(2025, 12, 31),
        "xlsx",
    )
    async with ctx.db.transaction() as session:
        made = await browse.export(
            session=session, ctx=ctx, user_id=TECH, request=request, language="zh_CN"
        )
        with pytest.raises(NotAllowed):
            await browse.export(
                session=session, ctx=ctx, user_id=DUTY, request=request, language="zh_CN"
            )
        audit = await access_q.audit_entries(session=session, action="records.exported")
    assert made.rows == len(seeded)
    assert [a.target for a in audit] == ["incidents:2025-01-01:2025-12-31"]
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(made.content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "编号" and len(rows) == len(seeded) + 1
    formula = next(row for row in rows[1:] if str(row[9]).startswith("="))
    assert formula[9] == "=cmd|' /C calc'!A0"
    cells = [c for row in sheet.iter_rows() for c in row if str(c.value).startswith("=")]
    assert cells and all(c.data_type == "s" for c in cells)


async def test_export_of_warnings_lists_every_warning_composed(
    ctx: AppContext, sent_warnings: list[SeededWarning]
) -> None:
    """R9 R13: the warnings table has each warning of the period with status and deliveries."""
    request = browse.parse_export(["预警", "2025"], today=TODAY)
    async with ctx.db.transaction() as session:
        made = await browse.export(
            session=session, ctx=ctx, user_id=LEADER, request=request, language="en"
        )
    rows = list(csv.reader(io.StringIO(made.content.decode("utf-8-sig"))))
    header, body = rows[0], rows[1:]
    assert made.filename == "warnings-2025-01-01-2025-12-31.csv"
    assert [int(row[0]) for row in body] == [w.id for w in sent_warnings]
    column = {name: index for index, name in enumerate(header)}
    assert [row[column["Status"]] for row in body] == [
        "in force",
        "lifted",
        "in force",
        "rejected",
        "waiting for approval",
        "lifted",
    ]
    assert body[1][column["Warning title"]] == '\'=HYPERLINK("http://x")'
    assert [row[column["Delivered"]] for row in body] == [
        str(w.delivered) if w.delivered is not None else "" for w in sent_warnings
    ]
    assert body[2][column["Audience"]] == "tech center"
    assert body[0][column["Audience"]] == "everyone"


@pytest.mark.parametrize(
    ("words", "key"),
    [
        ([], "records.usage_export"),
        (["everything"], "records.usage_export"),
        (["incidents", "2025-01-01", "2025-02-01", "2025-03-01"], "records.usage_export"),
        (["incidents", "2025-13"], "records.bad_period"),
        (["incidents", "someday"], "patrols.bad_date"),
    ],
)
def test_export_usage_errors(words: list[str], key: str) -> None:
    """R13: /export says what it expects."""
    with pytest.raises(Invalid) as caught:
        browse.parse_export(words, today=TODAY)
    assert caught.value.key == key


# ----------------------------------------------------------------------------- the summary


async def _bind_leadership(ctx: AppContext) -> None:
    async with ctx.db.transaction() as session:
        await chats.bind(
            session=session,
            ctx=ctx,
            admin_id=ADMIN,
            chat_id=LEADERSHIP_CHAT,
            title="领导小组",
            chat_type="group",
            purpose="leadership",
        )


def test_first_working_day_follows_the_patrol_calendar() -> None:
    """R13: weekends, holidays and extra working days as [patrols] defines them."""
    ctx = build_context(
        Settings(telegram_bot_token="1:x"),
        Policy.model_validate(
            {
                "patrols": {
                    "holidays": ["2026-06-01", "2026-10-01", "2026-10-02"],
                    "working_days": ["2026-11-01"],
                }
            }
        ),
        clock=ManualClock(NOW),
        db=Database("sqlite+aiosqlite:///:memory:"),
    )
    assert stats.first_working_day(ctx, Period(2026, 2)) == date(2026, 2, 2)  # 1 Feb: Sunday
    assert stats.first_working_day(ctx, Period(2026, 6)) == date(2026, 6, 2)  # holiday
    assert stats.first_working_day(ctx, Period(2026, 10)) == date(2026, 10, 5)
    assert stats.first_working_day(ctx, Period(2026, 11)) == date(2026, 11, 1)  # worked Sunday
    due = stats.summary_due(ctx, Period(2026, 3))
    assert due == datetime(2026, 3, 2, 9, 0, tzinfo=TZ).astimezone(UTC)


async def _summaries(ctx: AppContext) -> list[OutboxMessage]:
    async with ctx.db.transaction() as session:
        result = await session.execute(
            select(OutboxMessage)
            .where(OutboxMessage.chat_id == LEADERSHIP_CHAT)
            .order_by(OutboxMessage.id)
        )
        return list(result.scalars().all())


async def test_the_monthly_summary_is_sent_once_on_the_first_working_day(db: Database) -> None:
    """R13: planned as rows; sent at 09:00 on the first working day; never twice a month."""
    ctx = await _office(db, now=local(2026, 1, 20, 12))
    await _bind_leadership(ctx)
    async with ctx.db.transaction() as session:
        await seed_year(session, year=2026, reporter_id=STAFF, handler_id=TECH, count=30)
    clock = ctx.clock
    assert isinstance(clock, ManualClock)
    await ctx.scheduler.tick()
    async with ctx.db.transaction() as session:
        timers = (
            (await session.execute(select(Timer).where(Timer.kind == stats.SUMMARY)))
            .scalars()
            .all()
        )
    # January's day has passed: only February's summary (of January) is planned.
    assert [(t.ref_id, t.due_at) for t in timers] == [(202602, local(2026, 2, 2, 9))]
    clock.set(local(2026, 2, 2, 8, 59))
    await ctx.scheduler.tick()
    assert await _summaries(ctx) == []
    clock.set(local(2026, 2, 2, 9, 0))
    await ctx.scheduler.tick()
    sent = await _summaries(ctx)
    assert [row.method for row in sent] == ["send_message", "send_photo"]
    assert "2026年1月" in sent[0].payload["text"]
    async with ctx.db.transaction() as session:
        january = await stats.compute(session=session, ctx=ctx, period=Period(2026, 1))
    assert f"合计：{january.total} 起" in sent[0].payload["text"]
    # A second deadline for the same month (two instances planning at once) sends nothing more.
    async with ctx.db.transaction() as session:
        await scheduler.schedule(
            session=session, kind=stats.SUMMARY, ref_id=202602, due_at=clock.now(), now=clock.now()
        )
    await ctx.scheduler.tick()
    assert len(await _summaries(ctx)) == 2
    async with ctx.db.transaction() as session:
        flag = await session.get(Flag, "records.summary:2026-01")
    assert flag is not None


async def test_the_monthly_summary_can_be_turned_off(db: Database) -> None:
    """R13: [records] monthly_summary = false plans and sends nothing."""
    policy = Policy.model_validate({"records": {"monthly_summary": False}})
    ctx = await _office(db, policy=policy, now=local(2026, 1, 30, 12))
    await _bind_leadership(ctx)
    clock = ctx.clock
    assert isinstance(clock, ManualClock)
    await ctx.scheduler.tick()
    clock.set(local(2026, 2, 2, 10))
    await ctx.scheduler.tick()
    assert await _summaries(ctx) == []
    async with ctx.db.transaction() as session:
        assert (
            await session.execute(select(Timer).where(Timer.kind == stats.SUMMARY))
        ).first() is None


async def test_without_a_leadership_chat_admins_get_the_summary_text(db: Database) -> None:
    """R13: no leadership chat bound: the admins are told, with the summary."""
    ctx = await _office(db, now=local(2026, 1, 30, 12))
    clock = ctx.clock
    assert isinstance(clock, ManualClock)
    await ctx.scheduler.tick()
    clock.set(local(2026, 2, 2, 9, 1))
    await ctx.scheduler.tick()
    async with ctx.db.transaction() as session:
        rows = (
            (await session.execute(select(OutboxMessage).where(OutboxMessage.chat_id == ADMIN)))
            .scalars()
            .all()
        )
    assert len(rows) == 1 and "2026年1月" in rows[0].payload["text"]
    assert "/bind leadership" in rows[0].payload["text"]


def test_records_policy_checks_the_time() -> None:
    """R13: a bad summary time names the key."""
    with pytest.raises(ValueError, match="summary_time"):
        Policy.model_validate({"records": {"summary_time": "25:00"}})
    assert Policy().records.summary_time == "09:00"
