"""A year of incidents and patrol rounds written through the storage layer, with known times (R13).

Tests compute what the bot should answer from the returned values, independently of the bot.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import incidents as incident_q
from storage import patrols as patrol_q
from storage import warnings as warning_q
from storage.models import Incident, TimelineEntry

TZ = ZoneInfo("Asia/Shanghai")
LEVELS = ("large", "medium", "small")
CATEGORIES = ("natural_disaster", "virus", "intrusion", "tampering", "network_failure", "other")
OPEN_STATUSES = ("reported", "acknowledged", "in_progress", "resolved")
# Texts with the traps a search must get right: % and _ taken literally, Chinese, case, a formula.
LOCATIONS = (
    "门户网站服务器",
    "Portal web server",
    "财政局办公网",
    "OA 系统",
    "机房 A 区",
    "user_admin 账号",
    "userXadmin 账号",
)
DESCRIPTIONS = (
    "首页被篡改为境外内容",
    "发现 50% 的出口流量异常",
    "500 台终端无法上网",
    "病毒在局域网内传播",
    "=cmd|' /C calc'!A0",
    "交换机端口故障",
    "Suspicious scan from 198.51.100.9",
)
UPDATES = ("已封禁 IP 203.0.113.7", "门户已恢复访问", "已联系厂商", "流量已恢复 50%", "重启交换机")


@dataclass
class Seeded:
    """One seeded incident as plain values."""

    id: int
    number: str
    is_drill: bool
    level: str
    category: str
    subtype: str | None
    status: str
    reported_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    location: str
    description: str
    updates: list[str] = field(default_factory=list)
    other_notes: list[str] = field(default_factory=list)

    @property
    def local(self) -> datetime:
        """When it was reported, in the office's zone."""
        return self.reported_at.astimezone(TZ)

    def says(self, text: str) -> bool:
        """Whether a search for `text` should find it (where, what, progress updates)."""
        needle = text.casefold()
        return any(
            needle in value.casefold() for value in (self.location, self.description, *self.updates)
        )


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A local moment as aware UTC."""
    return datetime(year, month, day, hour, minute, tzinfo=TZ).astimezone(UTC)


def _fields(
    rng: random.Random, reported: datetime, status: str
) -> tuple[datetime | None, datetime | None, datetime | None]:
    if status == "reported":
        return None, None, None
    acknowledged = reported + timedelta(
        minutes=rng.choice((1, 3, 5, 12, 30, 45, 90, 240, 600)), seconds=rng.randrange(60)
    )
    if status in ("acknowledged", "in_progress"):
        return acknowledged, None, None
    resolved = acknowledged + timedelta(hours=rng.randrange(1, 80), minutes=rng.randrange(60))
    if status == "resolved":
        return acknowledged, resolved, None
    return acknowledged, resolved, resolved + timedelta(hours=rng.randrange(1, 30))


async def seed_year(
    session: AsyncSession,
    *,
    year: int,
    reporter_id: int,
    handler_id: int,
    count: int = 240,
    seed: int = 13,
) -> list[Seeded]:
    """`count` incidents reported across a local year, plus a few on month boundaries."""
    rng = random.Random(seed)
    start = local(year, 1, 1)
    minutes_in_year = int((local(year + 1, 1, 1) - start).total_seconds() // 60)
    moments = sorted(
        start + timedelta(minutes=m) for m in rng.sample(range(minutes_in_year), count)
    )
    # Just after local midnight on the 1st is still the previous month in UTC.
    boundaries = {local(year, 3, 1, 0, 5), local(year, 11, 30, 23, 55), local(year, 6, 1, 7, 59)}
    seeded: list[Seeded] = []
    sequences = {False: 0, True: 0}
    for reported in sorted([*moments, *boundaries]):
        is_drill = reported not in boundaries and rng.random() < 0.12
        sequences[is_drill] += 1
        seq = sequences[is_drill]
        level = rng.choices(LEVELS, weights=(1, 3, 6))[0]
        category = rng.choice(CATEGORIES)
        subtype = rng.choice(("internet", "extranet")) if category == "intrusion" else None
        status = rng.choices(("closed", *OPEN_STATUSES), weights=(70, 5, 5, 10, 10))[0]
        acknowledged, resolved, closed = _fields(rng, reported, status)
        location, description = rng.choice(LOCATIONS), rng.choice(DESCRIPTIONS)
        incident = await incident_q.add_incident(
            session=session,
            number=f"{'D' if is_drill else ''}{year}-{seq:04d}",
            year=year,
            seq=seq,
            is_drill=is_drill,
            category=category,
            subtype=subtype,
            level=level,
            status=status,
            occurred_at=reported - timedelta(minutes=5),
            reported_at=reported,
            location=location,
            description=description,
            reporter_id=reporter_id,
            acknowledged_by=handler_id if acknowledged else None,
            acknowledged_at=acknowledged,
            handler_id=handler_id if status != "reported" and rng.random() < 0.8 else None,
            resolved_at=resolved,
            closed_at=closed,
        )
        item = Seeded(
            id=incident.id,
            number=incident.number,
            is_drill=is_drill,
            level=level,
            category=category,
            subtype=subtype,
            status=status,
            reported_at=reported,
            acknowledged_at=acknowledged,
            resolved_at=resolved,
            closed_at=closed,
            location=location,
            description=description,
        )
        if acknowledged is not None:
            for index in range(rng.choice((0, 0, 1, 2))):
                text = rng.choice(UPDATES)
                item.updates.append(text)
                await incident_q.add_timeline(
                    session=session,
                    incident_id=incident.id,
                    at=acknowledged + timedelta(minutes=10 * (index + 1)),
                    kind="update",
                    actor_id=handler_id,
                    text=text,
                )
            # Words in other timeline entries are not progress updates: a search ignores them.
            if rng.random() < 0.2:
                item.other_notes.append("门户 OTHERNOTE")
                await incident_q.add_timeline(
                    session=session,
                    incident_id=incident.id,
                    at=acknowledged,
                    kind="emergency_over",
                    actor_id=handler_id,
                    text="门户 OTHERNOTE",
                )
        seeded.append(item)
    return seeded


@dataclass
class SeededRound:
    """One seeded patrol round."""

    day: date
    due_at: datetime
    missed: bool


async def seed_rounds(session: AsyncSession, *, year: int, seed: int = 7) -> list[SeededRound]:
    """Two rounds on the 3rd and 17th of every month of a year; some were missed."""
    rng = random.Random(seed)
    made: list[SeededRound] = []
    for month in range(1, 13):
        for day_number in (3, 17):
            day = date(year, month, day_number)
            for hour in (9, 16):
                due = datetime.combine(day, time(hour), tzinfo=TZ).astimezone(UTC)
                missed = rng.random() < 0.15
                await patrol_q.add_round(
                    session=session,
                    kind="daily",
                    name="日常巡查",
                    checklist=["防火墙告警"],
                    day=day,
                    due_at=due,
                    created_at=due - timedelta(days=1),
                    sent_at=due,
                    answer=None if missed else "normal",
                    answered_at=None if missed else due + timedelta(minutes=5),
                    missed_at=due + timedelta(minutes=30) if missed else None,
                )
                made.append(SeededRound(day=day, due_at=due, missed=missed))
    return made


@dataclass
class SeededWarning:
    """One seeded early warning."""

    id: int
    title: str
    status: str
    created_at: datetime
    sent_at: datetime | None
    delivered: int | None


async def seed_warnings(
    session: AsyncSession, *, year: int, sender_id: int, approver_id: int
) -> list[SeededWarning]:
    """Six warnings of a year: sent and in force, sent and lifted, rejected, waiting."""
    made: list[SeededWarning] = []
    plans = (
        (1, "yellow", "active", "勒索病毒预警"),
        (3, "red", "lifted", '=HYPERLINK("http://x")'),
        (5, "orange", "active", "门户网站漏洞"),
        (8, "blue", "rejected", "钓鱼邮件"),
        (11, "red", "pending_approval", "DDoS 攻击"),
        (12, "yellow", "lifted", "Weak passwords"),
    )
    for batch, (month, level, status, title) in enumerate(plans, start=1):
        created = local(year, month, 10, 9)
        sent = created + timedelta(minutes=20) if status in ("active", "lifted") else None
        warning = await warning_q.add_warning(
            session=session,
            level=level,
            title=title,
            what="发现针对政务网站的攻击",
            defence="及时更新补丁",
            source_url="https://www.cert.org.cn/" if batch % 2 else None,
            audience_roles=["tech_center"] if batch == 3 else [],
            sender_id=sender_id,
            sender_role="tech_center",
            status=status,
            created_at=created,
            approved_by=approver_id if level == "red" and status != "pending_approval" else None,
            decided_at=sent,
            sent_at=sent,
            batch_id=batch if sent else None,
            lifted_at=sent + timedelta(days=2) if status == "lifted" and sent else None,
            lifted_by=sender_id if status == "lifted" else None,
            closing_note="已修复" if status == "lifted" else None,
            repeats=batch % 3,
        )
        delivered = None
        if sent is not None:
            delivered = 10 * batch
            await warning_q.add_broadcast(
                session=session,
                warning_id=warning.id,
                kind="warning",
                batch_id=batch,
                created_at=sent,
                status_counts={
                    "sent": delivered,
                    "blocked": 1,
                    "failed": 0,
                    "total": delivered + 1,
                },
                finished_at=sent + timedelta(minutes=1),
            )
        made.append(
            SeededWarning(
                id=warning.id,
                title=title,
                status=status,
                created_at=created,
                sent_at=sent,
                delivered=delivered,
            )
        )
    return made


async def bulk_incidents(
    session: AsyncSession, *, count: int, year: int, first: int = 1, seed: int = 3
) -> None:
    """Many incidents (and a progress update each) in a few statements, for the query counts."""
    rng = random.Random(seed)
    start = local(year, 1, 1)
    rows: list[dict[str, Any]] = []
    for seq in range(first, first + count):
        reported = start + timedelta(minutes=rng.randrange(365 * 24 * 60))
        acknowledged = reported + timedelta(minutes=rng.randrange(1, 600))
        rows.append(
            {
                "number": f"{year}-{seq:05d}",
                "year": year,
                "seq": seq,
                "is_drill": seq % 10 == 0,
                "category": rng.choice(CATEGORIES),
                "subtype": None,
                "level": rng.choice(LEVELS),
                "status": rng.choice(("closed", *OPEN_STATUSES)),
                "occurred_at": reported,
                "occurred_precision": "exact",
                "reported_at": reported,
                "location": rng.choice(LOCATIONS),
                "description": rng.choice(DESCRIPTIONS),
                "reporter_id": 1,
                "special_period": False,
                "acknowledged_at": acknowledged,
                "resolved_at": acknowledged + timedelta(hours=rng.randrange(1, 90)),
                "escalation_round": 0,
                "escalation_step": 0,
                "details": {},
            }
        )
    await session.execute(insert(Incident), rows)
    ids = (await session.execute(select(Incident.id).where(Incident.seq >= first))).scalars()
    await session.execute(
        insert(TimelineEntry),
        [
            {
                "incident_id": incident_id,
                "at": start,
                "kind": "update",
                "text": rng.choice(UPDATES),
                "data": {},
            }
            for incident_id in ids
        ],
    )


# ---------------------------------------------------------------- figures computed independently


def percentile(values: Iterable[float], fraction: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default, percentile_cont)."""
    ordered = sorted(values)
    if not ordered:
        return None
    if len(ordered) == 1:
        return ordered[0]
    if fraction == 0.5:
        return statistics.median(ordered)
    return statistics.quantiles(ordered, n=10, method="inclusive")[round(fraction * 10) - 1]


def minutes_text(seconds: float | None) -> str:
    """The English duration the bot should show, rounded half up to the minute."""
    if seconds is None:
        return "—"
    minutes = int(seconds / 60 + 0.5)
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 24 * 60:
        return f"{minutes // 60} h {minutes % 60:02d} min"
    hours = int(seconds / 3600 + 0.5)
    return f"{hours // 24} d {hours % 24} h"
