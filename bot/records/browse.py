"""Records (R13): the incident search with its filters, and exports of incidents and patrols."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot.access import audit
from bot.access.permissions import has_any_role, is_handler
from bot.incidents.model import OPEN, Category, Status
from bot.patrols import patrol_rounds, roster
from bot.platform import spreadsheet
from bot.platform.context import AppContext
from bot.platform.errors import Invalid, NotAllowed
from bot.platform.roles import Level, Role
from bot.records import buttons
from bot.records.buttons import CategoryCode, LevelCode, RecordsPage, StatusCode
from messages import records as texts
from messages.common import NO, YES, level_label, role_label
from messages.incidents import category_label, incident_status_label
from messages.warnings import warning_level_name
from storage import access as access_q
from storage import records as q
from storage.models import Incident, User

PAGE_SIZE = 10
# Search text is carried in the page buttons' callback data (64 bytes with the rest).
TEXT_MAX_BYTES = buttons.TEXT_MAX_BYTES
EXPORT_ROLES = (Role.TECH_CENTER, Role.LEADER)
EXPORT_KINDS = ("incidents", "patrols", "warnings")
# Three years: the plan budgets from the past three years' figures (§四(三)).
EXPORT_MAX_DAYS = 3 * 366
EXPORT_DEFAULT_DAYS = 30


@dataclass(frozen=True)
class Period:
    """A local calendar year, or one month of it."""

    year: int
    month: int | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.year <= buttons.MAX_YEAR or (
            self.month is not None and not 1 <= self.month <= 12
        ):
            raise ValueError(f"no such period: {self.year}-{self.month}")

    @property
    def first(self) -> date:
        """Its first day."""
        return date(self.year, self.month or 1, 1)

    @property
    def end(self) -> date:
        """The day after its last day."""
        if self.month is None:
            return date(self.year + 1, 1, 1)
        return date(self.year + self.month // 12, self.month % 12 + 1, 1)

    @property
    def last(self) -> date:
        """Its last day."""
        return self.end - timedelta(days=1)

    def bounds(self, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """Its start and end as UTC instants."""
        return local_midnight(self.first, tz), local_midnight(self.end, tz)

    def months(self) -> list[Period]:
        """Its months: twelve for a year, itself for a month."""
        if self.month is not None:
            return [self]
        return [Period(self.year, month) for month in range(1, 13)]

    def __str__(self) -> str:
        return f"{self.year}" if self.month is None else f"{self.year}-{self.month:02d}"

    def previous_month(self) -> Period:
        """The month before a month."""
        assert self.month is not None
        return Period(self.year - 1, 12) if self.month == 1 else Period(self.year, self.month - 1)


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The start of a local day as a UTC instant."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


# ------------------------------------------------------------------ the filter and its words

STATUS_OPEN, STATUS_CLOSED, STATUS_ALL = "open", "closed", "all"

# The words /incidents and /stats understand, in English and Chinese (case does not matter).
WORDS: dict[str, tuple[str, str]] = {}
for _field, _value, _words in (
    ("status", STATUS_OPEN, "open 未结 未结束 进行中 处理中"),
    ("status", STATUS_CLOSED, "closed 已结 已结束 已关闭 结束 关闭"),
    ("status", STATUS_ALL, "all 全部 所有"),
    ("level", Level.LARGE, "large 大型 大"),
    ("level", Level.MEDIUM, "medium 中型 中"),
    ("level", Level.SMALL, "small 小型 小"),
    ("category", Category.NATURAL_DISASTER, "natural_disaster disaster natural 自然灾害 灾害"),
    ("category", Category.VIRUS, "virus 病毒 病毒传播"),
    ("category", Category.INTRUSION, "intrusion 入侵"),
    ("category", Category.TAMPERING, "tampering tamper defacement 篡改 信息被篡改 被篡改"),
    ("category", Category.NETWORK_FAILURE, "network_failure network failure 网络故障 故障"),
    ("category", Category.OTHER, "other 其它 其他"),
    ("drills", "1", "drill drills 演练"),
):
    for _word in _words.split():
        WORDS[_word] = (_field, _value)
QUOTES = {'"': '"”', "“": "”", "”": "”", "'": "'’", "‘": "’", "「": "」", "『": "』", "＂": "＂"}
SEPARATORS = " \t\n\u3000,，、;；"
PERIOD = re.compile(
    r"(?P<year>\d{4})(?:\s*(?:[-/.]|年)\s*(?P<month>\d{1,2})\s*月?|\s*年)?(?!\d)"
    r"|(?P<only_month>\d{1,2})\s*月"
)
LATIN = re.compile(r"[a-z0-9_]")


@dataclass(frozen=True)
class IncidentFilter:
    """What /incidents lists: a status, level, category, period, drills or not, and a text."""

    status: str | None = None
    level: str | None = None
    category: str | None = None
    period: Period | None = None
    drills: bool = False
    text: str | None = None

    @property
    def effective_status(self) -> str:
        """Open unless said otherwise; all when searching a period or a text."""
        if self.status is not None:
            return self.status
        return STATUS_ALL if self.period is not None or self.text else STATUS_OPEN

    def criteria(self, tz: ZoneInfo) -> q.IncidentCriteria:
        """The filter as the storage layer's search criteria."""
        statuses: tuple[str, ...] | None = None
        if self.effective_status == STATUS_OPEN:
            statuses = tuple(sorted(OPEN))
        elif self.effective_status == STATUS_CLOSED:
            statuses = (Status.CLOSED.value,)
        since, until = self.period.bounds(tz) if self.period is not None else (None, None)
        return q.IncidentCriteria(
            statuses=statuses,
            level=self.level,
            category=self.category,
            since=since,
            until=until,
            drills=self.drills,
            text=self.text,
        )

    @property
    def is_default(self) -> bool:
        """Whether it lists what /incidents alone does (open incidents, or open drills)."""
        return self == IncidentFilter(drills=self.drills) or self == IncidentFilter(
            status=STATUS_OPEN, drills=self.drills
        )


def _most_recent(month: int, today: date) -> Period:
    """A month named without a year: this year's, or last year's when it is still to come."""
    return Period(today.year if month <= today.month else today.year - 1, month)


def period_of(match: re.Match[str], today: date) -> Period:
    """The period a PERIOD match names; Invalid when there is no such month."""
    try:
        if match.group("only_month"):
            return _most_recent(int(match.group("only_month")), today)
        month = match.group("month")
        return Period(int(match.group("year")), int(month) if month else None)
    except ValueError:
        raise Invalid("records.bad_period", word=match.group(0).strip()) from None


def parse_words(text: str, *, today: date, allowed: frozenset[str]) -> IncidentFilter:
    """Read the words of a filter; spaces between Chinese words may be left out."""
    found: dict[str, object] = {}

    def put(field: str, value: object, shown: str) -> None:
        if field not in allowed:
            raise Invalid("records.bad_word", word=shown)
        if field in found and field != "drills":
            raise Invalid("records.twice", word=shown)
        found[field] = value

    position, length = 0, len(text)
    while position < length:
        char = text[position]
        if char in SEPARATORS:
            position += 1
            continue
        if char in QUOTES:
            closing = min(
                (i for i in (text.find(c, position + 1) for c in QUOTES[char]) if i != -1),
                default=length,
            )
            phrase = text[position + 1 : closing].strip()
            position = closing + 1
            if phrase:
                if len(phrase.encode()) > TEXT_MAX_BYTES:
                    raise Invalid("records.text_too_long", limit=TEXT_MAX_BYTES)
                put("text", phrase, phrase)
            continue
        match = PERIOD.match(text, position)
        if match:
            put("period", period_of(match, today), match.group(0).strip())
            position = match.end()
            continue
        word = _longest_word(text, position)
        if word is None:
            end = position
            while end < length and text[end] not in SEPARATORS and text[end] not in QUOTES:
                end += 1
            raise Invalid("records.bad_word", word=text[position:end])
        field, value = WORDS[word]
        put(field, True if field == "drills" else value, text[position : position + len(word)])
        position += len(word)
    return IncidentFilter(**found)  # type: ignore[arg-type]


def _longest_word(text: str, position: int) -> str | None:
    best: str | None = None
    for word in WORDS:
        after = position + len(word)
        if text[position:after].casefold() != word or (best and len(best) >= len(word)):
            continue
        # A Latin word must end where the typed word ends ("all" is not "allow").
        if word.isascii() and after < len(text) and LATIN.match(text[after].casefold()):
            continue
        best = word
    return best


FILTER_FIELDS = frozenset({"status", "level", "category", "period", "drills", "text"})


def parse_filter(text: str, *, today: date) -> IncidentFilter:
    """The filter typed after /incidents, e.g. `closed large intrusion 2026-11 drill "portal"`."""
    return parse_words(text, today=today, allowed=FILTER_FIELDS)


# The letters a page button carries for the filter's words (see `RecordsPage`).
_STATUS_CODES: dict[str, StatusCode] = {STATUS_OPEN: "o", STATUS_CLOSED: "c", STATUS_ALL: "a"}
_LEVEL_CODES: dict[str, LevelCode] = {Level.LARGE: "l", Level.MEDIUM: "m", Level.SMALL: "s"}
_CATEGORY_CODES: dict[str, CategoryCode] = {
    Category.NATURAL_DISASTER: "n",
    Category.VIRUS: "v",
    Category.INTRUSION: "i",
    Category.TAMPERING: "t",
    Category.NETWORK_FAILURE: "f",
    Category.OTHER: "o",
}
C = TypeVar("C", bound=str)


def _decode(table: dict[str, C], code: C | None) -> str | None:
    if code is None:
        return None
    return next(str(value) for value, known in table.items() if known == code)


def page_button(search: IncidentFilter, page: int) -> RecordsPage:
    """The page button for a filter's page (it fits Telegram's 64 bytes for any filter)."""
    period = search.period
    return RecordsPage(
        page=page,
        status=_STATUS_CODES[search.effective_status],
        level=_LEVEL_CODES[search.level] if search.level else None,
        category=_CATEGORY_CODES[search.category] if search.category else None,
        year=period.year if period is not None else None,
        month=period.month if period is not None else None,
        drills=search.drills,
        text=search.text,
    )


def filter_of(button: RecordsPage) -> tuple[IncidentFilter, int]:
    """The filter and page a page button carries."""
    search = IncidentFilter(
        status=_decode(_STATUS_CODES, button.status),
        level=_decode(_LEVEL_CODES, button.level),
        category=_decode(_CATEGORY_CODES, button.category),
        period=Period(button.year, button.month) if button.year is not None else None,
        drills=button.drills,
        text=button.text,
    )
    return search, button.page


# ---------------------------------------------------------------------------- the search


@dataclass
class Page:
    """One page of a search's results."""

    search: IncidentFilter
    number: int
    pages: int
    total: int
    incidents: list[Incident]

    @property
    def previous(self) -> RecordsPage | None:
        """The button of the page before, if any."""
        return page_button(self.search, self.number - 1) if self.number > 0 else None

    @property
    def next(self) -> RecordsPage | None:
        """The button of the page after, if any."""
        following = self.number + 1
        if following >= self.pages or following > buttons.MAX_PAGE:
            return None
        return page_button(self.search, following)


def may_read_records(user: User | None) -> None:
    """Refuse anyone but duty officers, the tech center and the leadership group."""
    if not is_handler(user):
        raise NotAllowed("records.handlers_only")


async def check_reader(*, session: AsyncSession, user_id: int) -> None:
    """Refuse anyone who may not read the records."""
    may_read_records(await access_q.get_user(session=session, user_id=user_id))


async def search(
    *, session: AsyncSession, ctx: AppContext, user_id: int, search: IncidentFilter, page: int = 0
) -> Page:
    """One page of the incidents a filter keeps, newest first (handlers and leaders)."""
    may_read_records(await access_q.get_user(session=session, user_id=user_id))
    criteria = search.criteria(ctx.policy.tz)
    total = await q.count_incidents(session=session, criteria=criteria)
    pages = max(1, -(-total // PAGE_SIZE))
    # A page past the end (the list shrank since the button was made) shows the last one.
    number = min(max(page, 0), pages - 1)
    found = await q.page_of_incidents(
        session=session, criteria=criteria, offset=number * PAGE_SIZE, limit=PAGE_SIZE
    )
    return Page(search=search, number=number, pages=pages, total=total, incidents=list(found))


# ---------------------------------------------------------------------------- exports


@dataclass
class Export:
    """A file made for someone: its name, bytes and how many rows it has."""

    kind: str
    filename: str
    content: bytes
    rows: int
    first: date
    last: date


EXPORT_WORDS = {
    "incidents": "incidents",
    "incident": "incidents",
    "事件": "incidents",
    "patrols": "patrols",
    "patrol": "patrols",
    "巡查": "patrols",
    "warnings": "warnings",
    "warning": "warnings",
    "预警": "warnings",
}
FORMAT_WORDS = {"csv": "csv", "xlsx": "xlsx", "excel": "xlsx", "表格": "xlsx"}


@dataclass(frozen=True)
class ExportRequest:
    """What /export was asked for."""

    kind: str
    first: date
    last: date
    fmt: str


def parse_export(words: list[str], *, today: date) -> ExportRequest:
    """`/export incidents|patrols [from] [to] [csv|xlsx]`; a year or month stands for its days."""
    if not words or words[0].casefold() not in EXPORT_WORDS:
        raise Invalid("records.usage_export")
    kind = EXPORT_WORDS[words[0].casefold()]
    fmt = "csv"
    days: list[date] = []
    for word in words[1:]:
        lowered = word.casefold()
        if lowered in FORMAT_WORDS:
            fmt = FORMAT_WORDS[lowered]
            continue
        period = _whole_period(word, today)
        if period is not None and not days:
            days = [period.first, period.last]
            continue
        if len(days) >= 2:
            raise Invalid("records.usage_export")
        days.append(roster.parse_day(word, today=today, prefer_future=False))
    if not days:
        days = [today - timedelta(days=EXPORT_DEFAULT_DAYS - 1), today]
    elif len(days) == 1:
        days.append(today)
    return ExportRequest(kind=kind, first=days[0], last=days[1], fmt=fmt)


def _whole_period(word: str, today: date) -> Period | None:
    match = PERIOD.fullmatch(word.strip())
    return period_of(match, today) if match is not None else None


def may_export(user: User | None) -> User:
    """Refuse anyone but the tech center and the leadership group."""
    if not has_any_role(user, EXPORT_ROLES):
        raise NotAllowed("records.export_roles")
    assert user is not None
    return user


async def export(
    *,
    session: AsyncSession,
    ctx: AppContext,
    user_id: int,
    request: ExportRequest,
    language: str,
) -> Export:
    """A table of incidents or patrol rounds over some days, as CSV or .xlsx (audited)."""
    user = may_export(await access_q.get_user(session=session, user_id=user_id))
    first, last = request.first, request.last
    patrol_rounds.check_range(first, last, max_days=EXPORT_MAX_DAYS)
    if request.kind == "incidents":
        header, rows = await incident_table(
            session=session, ctx=ctx, first=first, last=last, language=language
        )
    elif request.kind == "warnings":
        header, rows = await warning_table(
            session=session, ctx=ctx, first=first, last=last, language=language
        )
    else:
        header, rows = await patrol_rounds.log_table(
            session=session, ctx=ctx, first=first, last=last, language=language
        )
    title = ctx.renderer.label(language, texts.SHEET_TITLES[request.kind])
    content = spreadsheet.write(request.fmt, header, rows, title=title)
    await audit.record(
        session=session,
        now=ctx.now(),
        actor_id=user.id,
        action="records.exported",
        target=f"{request.kind}:{first.isoformat()}:{last.isoformat()}",
        rows=len(rows),
        format=request.fmt,
    )
    name = f"{request.kind}-{first.isoformat()}-{last.isoformat()}.{request.fmt}"
    return Export(
        kind=request.kind, filename=name, content=content, rows=len(rows), first=first, last=last
    )


def _minutes(start: datetime, end: datetime | None) -> float | None:
    return None if end is None else round((end - start).total_seconds() / 60, 1)


async def incident_table(
    *, session: AsyncSession, ctx: AppContext, first: date, last: date, language: str
) -> tuple[list[str], list[list[spreadsheet.Cell]]]:
    """Every incident reported on the local days `first`..`last` (drills marked): header, rows."""

    tz = ctx.policy.tz
    since, until = local_midnight(first, tz), local_midnight(last + timedelta(days=1), tz)
    found = await q.incidents_reported(session=session, since=since, until=until)
    updates = await q.updates_of_incidents_reported(session=session, since=since, until=until)
    people = {
        user_id
        for incident in found
        for user_id in (incident.reporter_id, incident.acknowledged_by, incident.handler_id)
        if user_id is not None
    } | {entry.actor_id for entry in updates if entry.actor_id is not None}
    names = await q.names(session=session, user_ids=people)
    r = ctx.renderer
    progress: dict[int, list[str]] = {}
    for entry in updates:
        who = names.get(entry.actor_id, "") if entry.actor_id is not None else ""
        progress.setdefault(entry.incident_id, []).append(
            f"{r.format_datetime(entry.at)} {who}: {entry.text}"
        )
    yes, no = r.label(language, YES), r.label(language, NO)

    def name(user_id: int | None) -> str:
        return names.get(user_id, str(user_id)) if user_id is not None else ""

    rows: list[list[spreadsheet.Cell]] = []
    for incident in found:
        rows.append(
            [
                incident.number,
                yes if incident.is_drill else no,
                category_label(language, incident.category, incident.subtype),
                level_label(language, incident.level),
                incident_status_label(language, incident.status),
                r.format_datetime(incident.occurred_at),
                r.format_datetime(incident.reported_at),
                name(incident.reporter_id),
                incident.location,
                incident.description,
                incident.source or "",
                r.format_datetime(incident.acknowledged_at),
                name(incident.acknowledged_by),
                name(incident.handler_id),
                r.format_datetime(incident.resolved_at),
                r.format_datetime(incident.closed_at),
                _minutes(incident.reported_at, incident.acknowledged_at),
                _minutes(incident.reported_at, incident.resolved_at),
                "\n".join(progress.get(incident.id, [])),
            ]
        )
    header = [r.label(language, column) for column in texts.INCIDENT_COLUMNS]
    return header, rows


async def warning_table(
    *, session: AsyncSession, ctx: AppContext, first: date, last: date, language: str
) -> tuple[list[str], list[list[spreadsheet.Cell]]]:
    """Every early warning composed on the local days `first`..`last`: header and rows."""

    tz = ctx.policy.tz
    since, until = local_midnight(first, tz), local_midnight(last + timedelta(days=1), tz)
    found = await q.warnings_created(session=session, since=since, until=until)
    first_sends = {
        b.warning_id: b.status_counts or {}
        for b in await q.broadcasts_of_warnings_created(
            session=session, since=since, until=until, kind="warning"
        )
    }
    people = {
        user_id
        for warning in found
        for user_id in (warning.sender_id, warning.approved_by, warning.lifted_by)
        if user_id is not None
    }
    names = await q.names(session=session, user_ids=people)
    r = ctx.renderer

    def name(user_id: int | None) -> str:
        return names.get(user_id, str(user_id)) if user_id is not None else ""

    rows: list[list[spreadsheet.Cell]] = []
    for warning in found:
        counts = first_sends.get(warning.id, {})
        audience = [role_label(language, str(role)) for role in warning.audience_roles or []]
        rows.append(
            [
                warning.id,
                warning_level_name(language, warning.level),
                texts.warning_status_label(language, warning.status),
                warning.title,
                warning.what,
                warning.defence,
                warning.source_url or "",
                "、".join(audience) or r.label(language, texts.EVERYONE),
                name(warning.sender_id),
                r.format_datetime(warning.created_at),
                name(warning.approved_by),
                r.format_datetime(warning.sent_at),
                counts.get("sent"),
                counts.get("blocked"),
                counts.get("failed"),
                warning.repeats,
                r.format_datetime(warning.lifted_at),
                name(warning.lifted_by),
                warning.closing_note or "",
            ]
        )
    header = [r.label(language, column) for column in texts.WARNING_COLUMNS]
    return header, rows
