"""Statistics (R13): counts, times to acknowledge and to resolve, patrols; the monthly summary."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.access import audit, chats
from bot.incidents.model import Category
from bot.patrols.patrol_times import is_working_day
from bot.platform import outbox, scheduler
from bot.platform.context import AppContext
from bot.platform.errors import Invalid
from bot.platform.roles import ChatPurpose, Level
from bot.records import charts
from bot.records.browse import Period, may_read_records, parse_words
from messages import records as texts
from messages.common import level_label
from messages.incidents import category_label
from storage import access as access_q
from storage import patrols as patrols_q
from storage import records as q
from storage.models import Timer

log = logging.getLogger(__name__)

# Percentiles as (numerator, denominator): the storage layer ranks with integer division.
MEDIAN = (1, 2)
P90 = (9, 10)
ALL = "all"
LEVELS = [level.value for level in Level]
CATEGORIES = [category.value for category in Category]
SUMMARY = "records.summary"
SUMMARY_FLAG = "records.summary"
PLAN_EVERY = timedelta(minutes=10)
# The chart is sent in groups in Chinese, the office's language.
GROUP_LANGUAGE = "zh_CN"


@dataclass
class Percentiles:
    """The median and 90th percentile of some durations, in seconds, and how many there were."""

    count: int = 0
    median: float | None = None
    p90: float | None = None


@dataclass
class Statistics:
    """What /stats shows for a period."""

    period: Period
    drills: bool
    counts: dict[tuple[str, str], int]
    months: list[tuple[Period, dict[str, int]]]
    acknowledge: dict[str, Percentiles]
    resolve: dict[str, Percentiles]
    patrols_due: int | None = None
    patrols_missed: int | None = None
    warnings_sent: int | None = None
    levels: list[str] = field(default_factory=lambda: list(LEVELS))
    categories: list[str] = field(default_factory=lambda: list(CATEGORIES))

    @property
    def total(self) -> int:
        """Every incident counted."""
        return sum(self.counts.values())

    def by_level(self) -> dict[str, int]:
        """Counts per level, every level present."""
        found = dict.fromkeys(self.levels, 0)
        for (level, _), count in self.counts.items():
            found[level] = found.get(level, 0) + count
        return found

    def by_category(self) -> dict[str, int]:
        """Counts per category, every category present."""
        found = dict.fromkeys(self.categories, 0)
        for (_, category), count in self.counts.items():
            found[category] = found.get(category, 0) + count
        return found

    def category_levels(self, category: str) -> dict[str, int]:
        """One category's counts per level."""
        return {level: self.counts.get((level, category), 0) for level in self.levels}


def percentiles(rows: list[q.RankedDuration]) -> dict[str, Percentiles]:
    """Median and 90th percentile per group (ALL and each level) from the ranks around them.

    Linear interpolation between neighbouring ranks, as PostgreSQL's percentile_cont does.
    """
    values: dict[str, dict[int, float]] = defaultdict(dict)
    sizes: dict[str, int] = {}
    for row in rows:
        key = ALL if row.level is None else row.level
        values[key][row.rank] = row.seconds
        sizes[key] = row.size
    found = {key: Percentiles() for key in [ALL, *LEVELS]}
    for key, size in sizes.items():

        def at(fraction: tuple[int, int], key: str = key, size: int = size) -> float:
            numerator, denominator = fraction
            below = (size - 1) * numerator // denominator
            weight = (size - 1) * numerator / denominator - below
            low = values[key][below]
            high = values[key].get(below + 1, low)
            return low + (high - low) * weight

        found[key] = Percentiles(count=size, median=at(MEDIAN), p90=at(P90))
    return found


async def compute(
    *, session: AsyncSession, ctx: AppContext, period: Period, drills: bool = False
) -> Statistics:
    """The figures of a period, each from one aggregate query (a fixed number in all)."""
    tz = ctx.policy.tz
    since, until = period.bounds(tz)
    months = period.months()
    boundaries = [month.bounds(tz)[0] for month in months] + [until]
    per_month: list[dict[str, int]] = [dict.fromkeys(LEVELS, 0) for _ in months]
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for bucket, level, category, count in await q.counts_by_bucket(
        session=session, boundaries=boundaries, drills=drills
    ):
        counts[(level, category)] += count
        per_month[bucket][level] = per_month[bucket].get(level, 0) + count
    durations = {}
    for end in ("acknowledged_at", "resolved_at"):
        durations[end] = percentiles(
            await q.ranked_durations(
                session=session,
                end=end,
                since=since,
                until=until,
                drills=drills,
                fractions=(MEDIAN, P90),
            )
        )
    stats = Statistics(
        period=period,
        drills=drills,
        counts=dict(counts),
        months=list(zip(months, per_month, strict=True)) if period.month is None else [],
        acknowledge=durations["acknowledged_at"],
        resolve=durations["resolved_at"],
    )
    if not drills:
        stats.patrols_due, stats.patrols_missed = await q.patrol_counts(
            session=session, first=period.first, last=period.last, now=ctx.now()
        )
        stats.warnings_sent = await q.warnings_sent(session=session, since=since, until=until)
    return stats


STATS_FIELDS = frozenset({"period", "drills"})


def parse_period(text: str, *, today: date) -> tuple[Period, bool]:
    """What /stats was asked for: a year or month (this year by default), and drills or not."""
    try:
        found = parse_words(text, today=today, allowed=STATS_FIELDS)
    except Invalid as exc:
        if exc.key == "records.bad_word":
            raise Invalid("records.usage_stats", **exc.params) from None
        raise
    return found.period or Period(today.year), found.drills


async def statistics(
    *, session: AsyncSession, ctx: AppContext, user_id: int, period: Period, drills: bool = False
) -> Statistics:
    """A period's statistics, for duty officers, the tech center and the leadership group."""
    may_read_records(await access_q.get_user(session=session, user_id=user_id))
    return await compute(session=session, ctx=ctx, period=period, drills=drills)


def chart(stats: Statistics, language: str) -> charts.Chart:
    """The chart of some statistics, labelled in a language."""
    period = texts.period_label(language, stats.period.year, stats.period.month)
    title = texts.CHART_TITLE_DRILLS if stats.drills else texts.CHART_TITLE
    levels = stats.by_level()
    if stats.period.month is None:
        left_title = texts.label(language, texts.BY_MONTH)
        left_labels = [texts.month_label(language, m.month or 1) for m, _ in stats.months]
        left = {level: [counts[level] for _, counts in stats.months] for level in LEVELS}
    else:
        left_title = texts.label(language, texts.BY_LEVEL)
        left_labels = [level_label(language, level) for level in LEVELS]
        left = {
            level: [levels[level] if other == level else 0 for other in LEVELS] for level in LEVELS
        }
    return charts.Chart(
        title=texts.label(language, title, period=period),
        left_title=left_title,
        left_labels=left_labels,
        right_title=texts.label(language, texts.BY_CATEGORY),
        right_labels=[category_label(language, category) for category in CATEGORIES],
        axis_label=texts.label(language, texts.AXIS_INCIDENTS),
        series=[
            charts.Series(
                name=level_label(language, level),
                left=left[level],
                right=[stats.counts.get((level, category), 0) for category in CATEGORIES],
            )
            for level in LEVELS
        ],
    )


def drawable_chart(stats: Statistics, language: str) -> charts.Chart:
    """The chart in a language, or in English when no font has the language's glyphs."""
    return charts.choose(chart(stats, language), chart(stats, "en"))


async def chart_png(stats: Statistics, language: str) -> bytes:
    """The chart as PNG (see drawable_chart), drawn off the event loop and out of the bot."""
    return await charts.draw(chart(stats, language), fallback=chart(stats, "en"))


# ---------------------------------------------------------------------- the monthly summary


def first_working_day(ctx: AppContext, month: Period) -> date:
    """The month's first working day, as the patrols' calendar counts them."""
    day = month.first
    while not is_working_day(day, ctx.policy.patrols):
        day += timedelta(days=1)
    return day


def summary_due(ctx: AppContext, month: Period) -> datetime:
    """When the summary of the month before `month` is sent."""
    day = first_working_day(ctx, month)
    local = datetime.combine(day, ctx.policy.records.time_of_day, tzinfo=ctx.policy.tz)
    return local.astimezone(UTC)


def _ref(month: Period) -> int:
    assert month.month is not None
    return month.year * 100 + month.month


async def plan_summaries(*, session: AsyncSession, ctx: AppContext) -> int:
    """Store the deadlines of this month's summary (if still to come) and next month's."""
    now = ctx.now()
    today = now.astimezone(ctx.policy.tz).date()
    this = Period(today.year, today.month)
    following = Period(this.end.year, this.end.month)
    added = 0
    for month in (this, following):
        if await patrols_q.timer_exists(session=session, kind=SUMMARY, ref_id=_ref(month)):
            continue
        due = summary_due(ctx, month)
        # A summary whose day passed before the bot ever planned it is not sent late.
        if due < now:
            continue
        await scheduler.schedule(
            session=session, kind=SUMMARY, ref_id=_ref(month), due_at=due, now=now
        )
        added += 1
    return added


class SummaryPlanner:
    """The periodic check that keeps the next monthly summaries planned."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.next_at: datetime | None = None

    async def sweep(self) -> None:
        """Plan once in a while (the deadlines are rows: a restart loses nothing)."""
        if not self.ctx.policy.records.monthly_summary:
            return
        now = self.ctx.now()
        if self.next_at is not None and now < self.next_at:
            return
        async with self.ctx.db.transaction() as session:
            await plan_summaries(session=session, ctx=self.ctx)
        self.next_at = now + PLAN_EVERY


async def send_summary(ctx: AppContext, session: AsyncSession, timer: Timer) -> None:
    """The first working day of a month: last month's figures and chart to the leadership."""
    if not ctx.policy.records.monthly_summary:
        return
    month = Period(timer.ref_id // 100, timer.ref_id % 100).previous_month()
    key = f"{SUMMARY_FLAG}:{month}"
    # The flag is the promise: whatever planned the deadline, one summary per month.
    if await access_q.get_flag(session=session, key=key) is not None:
        return
    now = ctx.now()
    await access_q.set_flag(
        session=session, key=key, value={"sent_at": now.isoformat()}, now=now, by=None
    )
    stats = await compute(session=session, ctx=ctx, period=month)
    text = ctx.renderer.render(GROUP_LANGUAGE, "records/summary", stats=stats)
    chat = await chats.bound_chat(session=session, purpose=ChatPurpose.LEADERSHIP)
    if chat is None:
        await chats.tell_admins(
            session=session,
            ctx=ctx,
            template="chats/missing",
            purpose=ChatPurpose.LEADERSHIP.value,
            summary=text,
        )
    else:
        await outbox.enqueue_message(session=session, chat_id=chat.id, now=now, text=text)
        await outbox.enqueue_photo(
            session=session,
            chat_id=chat.id,
            now=now,
            content=await chart_png(stats, GROUP_LANGUAGE),
            caption=ctx.renderer.render(GROUP_LANGUAGE, "records/chart_caption", stats=stats),
        )
    await audit.record(
        session=session,
        now=now,
        actor_id=None,
        action="records.summary_sent",
        target=f"month:{month}",
        chat=chat.id if chat is not None else None,
    )
