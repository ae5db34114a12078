"""The early-warning service without Telegram: validation, roles, audience, repeats (R9)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.build import build_context
from bot.platform import cron, outbox
from bot.platform.clock import ManualClock
from bot.platform.config import Policy, Settings
from bot.platform.context import AppContext
from bot.platform.errors import Invalid, NotAllowed, Stale
from bot.warnings import early_warning
from bot.warnings.buttons import WarningDecision
from bot.warnings.early_warning import WarningDraft
from storage import access as access_q
from storage import platform as runtime_q
from storage.db import Database
from storage.models import OutboxMessage

NOW = datetime(2026, 11, 26, 0, 30, tzinfo=UTC)  # 08:30 in Shanghai
SHANGHAI = ZoneInfo("Asia/Shanghai")
STAFF, DUTY, TECH, LEADER, BLOCKED = 1, 2, 3, 4, 5


@pytest.fixture
async def ctx(db: Database, tmp_path: Path) -> AppContext:
    """A context on the test database, with people in every role and two bound chats."""
    context = build_context(
        Settings(incident_bot_config=tmp_path / "absent.toml"),
        Policy(),
        clock=ManualClock(NOW),
        db=db,
    )
    async with db.transaction() as session:
        for user_id, role, language in (
            (STAFF, "staff", "en"),
            (DUTY, "duty", "zh_CN"),
            (TECH, "tech_center", "en"),
            (LEADER, "leader", "zh_CN"),
            (BLOCKED, "staff", "en"),
        ):
            user = await access_q.add_user(
                session=session,
                user_id=user_id,
                name=f"Person {user_id}",
                username=None,
                language=language,
                status="active",
                now=NOW,
            )
            await access_q.set_roles(session=session, user=user, roles=[role])
            user.blocked_bot = user_id == BLOCKED
        for chat_id, purpose in ((-100, "tech_center"), (-200, "all_staff")):
            chat = await access_q.upsert_chat(
                session=session, chat_id=chat_id, title=purpose, chat_type="group", now=NOW
            )
            chat.purpose = purpose
    return context


def _draft(level: str = "yellow", roles: list[str] | None = None) -> WarningDraft:
    return WarningDraft(
        level=level,
        title="Ransomware",
        what="It spreads by mail.",
        defence="Do not open attachments.",
        everyone=roles is None,
        roles=roles or [],
    )


@pytest.mark.parametrize(
    "link",
    [
        "https://www.cert.org.cn/publish/main/8/2026/advisory.html?id=7&lang=zh",
        "http://10.1.2.3:8080/notice",
        "https://安全.中国/预警",
    ],
)
def test_r9_a_web_link_is_accepted(link: str) -> None:
    """R9: http and https links with a host pass, normalised."""
    assert early_warning.clean_url(f"  {link} ").startswith(("http://", "https://"))


@pytest.mark.parametrize(
    "text",
    [
        "not a link",
        "www.cert.org.cn",
        "ftp://files.example.org/a.txt",
        "https://",
        "javascript:alert(1)",
        "https://exa mple.org/",
        "",
    ],
)
def test_r9_anything_else_is_refused_as_a_link(text: str) -> None:
    """R9: the source must be a real web link."""
    with pytest.raises(Invalid) as refused:
        early_warning.clean_url(text)
    assert refused.value.key == "warnings.bad_url"


def test_r9_titles_and_texts_have_limits() -> None:
    """R9: a title of 101 characters or an empty text is refused with its length."""
    assert early_warning.clean_title(" " + "T" * 100 + " ") == "T" * 100
    with pytest.raises(Invalid) as refused:
        early_warning.clean_title("T" * 101)
    assert refused.value.params == {"length": 101}
    with pytest.raises(Invalid):
        early_warning.clean_text("   ", what="what")
    with pytest.raises(Invalid):
        early_warning.clean_text("x" * 2001, what="defence")


def test_r9_texts_that_cannot_fit_one_message_are_refused(ctx: AppContext) -> None:
    """R9: each text within its limit, together they must still fit one Telegram message."""
    draft = _draft()
    early_warning.check_fits(ctx, draft=draft, sender="Tech Sun", sender_role="tech_center")
    draft.title, draft.what, draft.defence = "T" * 100, "w" * 2000, "d" * 2000
    with pytest.raises(Invalid) as refused:
        early_warning.check_fits(ctx, draft=draft, sender="Tech Sun", sender_role="tech_center")
    assert refused.value.key == "warnings.too_long" and refused.value.params["over"] > 0


def test_r9_repeats_follow_the_cron_in_office_time(ctx: AppContext) -> None:
    """R9: daily at 09:00 office time, at least an hour after sending."""
    at = datetime(2026, 11, 26, 8, 30, tzinfo=SHANGHAI)
    assert early_warning.next_repeat(ctx, at) == datetime(2026, 11, 27, 9, 0, tzinfo=SHANGHAI)
    at = datetime(2026, 11, 26, 7, 0, tzinfo=SHANGHAI)
    assert early_warning.next_repeat(ctx, at) == datetime(2026, 11, 26, 9, 0, tzinfo=SHANGHAI)
    ctx.policy = Policy.model_validate({"warnings": {"repeat_cron": "30 8,20 * * 1-5"}})
    friday_night = datetime(2026, 11, 27, 21, 0, tzinfo=SHANGHAI)
    assert early_warning.next_repeat(ctx, friday_night) == datetime(
        2026, 11, 30, 8, 30, tzinfo=SHANGHAI
    )


@pytest.mark.parametrize(
    ("weekday", "expected_day"),
    [("0", 29), ("7", 29), ("1-5", 27), ("6,0", 28), ("mon", 30), ("*/2", 28)],
)
def test_r9_weekdays_mean_what_they_mean_in_crontab(weekday: str, expected_day: int) -> None:
    """R9: 0 and 7 are Sunday, 1-5 Monday to Friday, as in crontab."""
    thursday_night = datetime(2026, 11, 26, 21, 0, tzinfo=SHANGHAI)
    fire = cron.next_time(f"0 9 * * {weekday}", SHANGHAI, thursday_night)
    assert fire == datetime(2026, 11, expected_day, 9, 0, tzinfo=SHANGHAI)


def test_r9_a_bad_cron_is_a_configuration_error() -> None:
    """R9: the cadence is checked when the policy loads."""
    with pytest.raises(ValueError, match="cron"):
        Policy.model_validate({"warnings": {"repeat_cron": "every morning"}})
    with pytest.raises(ValueError, match="day of week"):
        Policy.model_validate({"warnings": {"repeat_cron": "0 9 * * 8"}})


async def test_r9_staff_cannot_publish(ctx: AppContext) -> None:
    """R9 R14: only the tech center and leaders compose warnings."""
    async with ctx.db.transaction() as session:
        with pytest.raises(NotAllowed):
            await early_warning.submit(session=session, ctx=ctx, sender_id=STAFF, draft=_draft())


async def test_r9_a_broadcast_is_one_batch_for_the_audience_and_the_bound_chats(
    ctx: AppContext,
) -> None:
    """R9: one row per person in the roles and per bound chat; a blocked user is only counted."""
    async with ctx.db.transaction() as session:
        sent = await early_warning.submit(
            session=session, ctx=ctx, sender_id=TECH, draft=_draft(roles=["staff", "duty"])
        )
    warning = sent.warning
    assert not sent.waiting_for_approval and warning.batch_id is not None
    async with ctx.db.transaction() as session:
        counts = await outbox.batch_counts(session=session, batch_id=warning.batch_id)
        rows = await _batch(session, warning.batch_id)
    assert sorted(r.chat_id for r in rows) == [-200, -100, STAFF, DUTY, BLOCKED]
    assert (counts.total, counts.blocked, counts.pending) == (5, 1, 4)
    texts = {r.chat_id: r.payload["text"] for r in rows}
    assert "Yellow warning" in texts[STAFF]
    assert "黄色预警" in texts[DUTY] and "黄色预警" in texts[-100]


async def test_r9_red_from_the_tech_center_waits_and_only_a_leader_decides(
    ctx: AppContext,
) -> None:
    """R9: a red warning waits; the tech center cannot approve it; a leader's approval sends it."""
    async with ctx.db.transaction() as session:
        sent = await early_warning.submit(
            session=session, ctx=ctx, sender_id=TECH, draft=_draft(level="red")
        )
    warning_id = sent.warning.id
    assert sent.waiting_for_approval and sent.approvers == "leaders"
    async with ctx.db.transaction() as session:
        cards = await outbox.copies(session=session, ref=early_warning.approval_ref(warning_id))
        assert [c.chat_id for c in cards] == [LEADER]
        with pytest.raises(NotAllowed):
            await early_warning.decide(
                session=session, ctx=ctx, warning_id=warning_id, leader_id=TECH, approve=True
            )
    async with ctx.db.transaction() as session:
        warning = await early_warning.decide(
            session=session, ctx=ctx, warning_id=warning_id, leader_id=LEADER, approve=True
        )
        assert warning.status == "active" and warning.batch_id is not None
        counts = await outbox.batch_counts(session=session, batch_id=warning.batch_id)
    assert counts.total == 5 + 2
    async with ctx.db.transaction() as session:
        with pytest.raises(Stale):
            await early_warning.decide(
                session=session, ctx=ctx, warning_id=warning_id, leader_id=LEADER, approve=False
            )
        audit = await access_q.audit_entries(session=session)
    assert [a.action for a in audit][:2] == ["warning.approved", "warning.submitted"]


async def test_r9_a_leaders_warning_is_lifted_by_leaders_and_its_queue_withdrawn(
    ctx: AppContext,
) -> None:
    """R9: the tech center cannot lift a leader's warning; lifting withdraws unsent copies."""
    async with ctx.db.transaction() as session:
        sent = await early_warning.submit(
            session=session, ctx=ctx, sender_id=LEADER, draft=_draft(level="orange")
        )
    warning_id = sent.warning.id
    async with ctx.db.transaction() as session:
        with pytest.raises(NotAllowed) as refused:
            await early_warning.lift(
                session=session, ctx=ctx, warning_id=warning_id, user_id=TECH, note="over"
            )
        assert refused.value.key == "warnings.cannot_lift_leader"
        assert await runtime_q.pending_timers(session=session, kind=early_warning.REPEAT)
    async with ctx.db.transaction() as session:
        warning = await early_warning.lift(
            session=session, ctx=ctx, warning_id=warning_id, user_id=LEADER, note="Contained."
        )
        assert warning.batch_id is not None and warning.lift_batch_id is not None
        first = await outbox.batch_counts(session=session, batch_id=warning.batch_id)
        lift = await outbox.batch_counts(session=session, batch_id=warning.lift_batch_id)
        assert not await runtime_q.pending_timers(session=session, kind=early_warning.REPEAT)
    assert first.skipped == 6 and first.pending == 0
    assert lift.total == 7 and lift.pending == 6
    async with ctx.db.transaction() as session:
        with pytest.raises(Stale):
            await early_warning.lift(
                session=session, ctx=ctx, warning_id=warning_id, user_id=LEADER, note="again"
            )


async def _batch(session: AsyncSession, batch_id: int) -> list[OutboxMessage]:
    """Every outbox row of a broadcast."""
    result = await session.execute(select(OutboxMessage).where(OutboxMessage.batch_id == batch_id))
    return list(result.scalars().all())


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"title": "T" * 101}, "warnings.bad_title"),
        ({"what": "   "}, "warnings.bad_what"),
        ({"defence": "d" * 2001}, "warnings.bad_defence"),
        ({"source_url": "javascript:alert(1)"}, "warnings.bad_url"),
        ({"everyone": False, "roles": ["emperor"]}, "warnings.choose_roles"),
        ({"level": "purple"}, "warnings.incomplete"),
        ({"what": "w" * 2000, "defence": "d" * 2000}, "warnings.too_long"),
    ],
)
async def test_r9_submit_checks_the_composers_limits_again(
    ctx: AppContext, change: dict[str, object], key: str
) -> None:
    """R9: whatever brought the draft, submit refuses what the composer's steps refuse."""
    draft = _draft()
    for name, value in change.items():
        setattr(draft, name, value)
    async with ctx.db.transaction() as session:
        with pytest.raises(Invalid) as refused:
            await early_warning.submit(session=session, ctx=ctx, sender_id=TECH, draft=draft)
        assert refused.value.key == key
        assert await access_q.audit_entries(session=session, action="warning.sent") == []


@pytest.mark.parametrize(
    "data",
    [
        "wrn:send",
        "wrn:lvl:purple",
        "wrn:ok:",
        "wrn:ok:²",
        "wrn:ok:-1",
        "wrn:ok:" + "9" * 19,
        "wrn:ok",
    ],
)
def test_r9_forged_approval_buttons_parse_to_nothing(data: str) -> None:
    """R9: anything but Approve or Reject and a warning's number is no approval button."""
    assert WarningDecision.parse(data) is None


def test_r9_the_approval_card_carries_typed_buttons(ctx: AppContext) -> None:
    """R9: Approve and Reject pack the warning's number, and parse back to it."""
    (row,) = early_warning.approval_keyboard(ctx, "en", 42)
    decisions = [WarningDecision.parse(button.data) for button in row]
    assert decisions == [
        WarningDecision(decision="ok", warning_id=42),
        WarningDecision(decision="no", warning_id=42),
    ]
