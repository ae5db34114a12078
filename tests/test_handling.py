"""Handling services without Telegram: playbooks, ticks, reminders, the close, the end, drills.

R6 R7 R8 R10 R12.
"""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from docx import Document
from sqlalchemy import select

from bot.access import chats
from bot.handling import actions, closing, playbooks, progress
from bot.handling.closing import CloseDraft
from bot.incidents import lifecycle, reports
from bot.incidents.model import Draft
from bot.platform.clock import ManualClock
from bot.platform.config import ConfigError, Policy, load_policy
from bot.platform.context import AppContext
from bot.platform.errors import Invalid, NotAllowed, Stale
from storage import access as access_q
from storage import handling as handling_q
from storage import incidents as incident_q
from storage import platform as runtime_q
from storage.db import Database
from storage.models import Incident, OutboxMessage
from tests.office import ADMIN, DUTY, LEADER, STAFF, TECH, service_office

START = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
TECH_CHAT, ALL_STAFF_CHAT = -100, -300


@pytest.fixture
async def ctx(db: Database) -> AsyncIterator[AppContext]:
    """Services on this test's database, a manual clock, and an office of five people."""
    context = await service_office(db, now=START)
    async with db.transaction() as session:
        for chat_id, purpose in ((TECH_CHAT, "tech_center"), (ALL_STAFF_CHAT, "all_staff")):
            await chats.bind(
                session=session,
                ctx=context,
                admin_id=ADMIN,
                chat_id=chat_id,
                title=purpose,
                chat_type="group",
                purpose=purpose,
            )
    yield context


def clock(ctx: AppContext) -> ManualClock:
    """The test's manual clock."""
    assert isinstance(ctx.clock, ManualClock)
    return ctx.clock


async def new_incident(
    ctx: AppContext,
    *,
    category: str = "intrusion",
    subtype: str | None = "internet",
    level: str = "medium",
    drill: bool = False,
    acknowledge_by: int | None = TECH,
) -> int:
    """Submit an incident (acknowledged by someone unless told otherwise); returns its id."""
    draft = Draft(
        category=category,
        subtype=subtype,
        level=level,
        occurred_at=ctx.now().isoformat(),
        location="Portal",
        description="Defaced",
        is_drill=drill,
    )
    async with ctx.db.transaction() as session:
        submitted = await reports.submit(session=session, ctx=ctx, reporter_id=STAFF, draft=draft)
        if acknowledge_by is not None:
            await lifecycle.acknowledge(
                session=session,
                ctx=ctx,
                incident_id=submitted.incident.id,
                user_id=acknowledge_by,
            )
        return submitted.incident.id


async def load(ctx: AppContext, incident_id: int) -> Incident:
    """An incident as stored now."""
    async with ctx.db.transaction() as session:
        incident = await incident_q.get_incident(session=session, incident_id=incident_id)
    assert incident is not None
    return incident


def test_default_playbooks_follow_the_plan() -> None:
    """R6: the built-in checklists are the plan's steps, in the plan's order."""
    policy = Policy()
    internet = playbooks.steps_from_policy(policy, "intrusion", "internet")
    assert [s.key for s in internet[:5]] == [
        "locate_ip",
        "close_port",
        "restrict_ip",
        "disconnect_if_unstoppable",
        "update_ids",
    ]
    assert {s.section for s in internet[5:]} == {"human_damage"}
    assert len(internet) == 11
    disaster = playbooks.steps_from_policy(policy, "natural_disaster", None)
    assert [s.key for s in disaster] == ["people_first", "save_data", "save_equipment"]
    extranet = playbooks.steps_from_policy(policy, "intrusion", "extranet")
    assert [s.key for s in extranet[:3]] == ["find_source", "disconnect_switch_port", "update_ids"]
    assert [s.key for s in playbooks.steps_from_policy(policy, "other", None)] == [
        "general_principles",
        "ask_experts",
    ]


def test_playbooks_are_data_in_the_policy_file(tmp_path: Path) -> None:
    """R6: checklists come from the TOML: built-in steps by key, the office's own by text."""
    path = tmp_path / "config.toml"
    path.write_text(
        "[playbooks]\n"
        'general_for = ["virus"]\n'
        'network_failure = ["troubleshoot", '
        '{ key = "call_isp", text = "联系运营商", text_en = "Call the ISP" }]\n',
        encoding="utf-8",
    )
    policy = load_policy(path)
    steps = playbooks.steps_from_policy(policy, "network_failure", None)
    assert [s.key for s in steps] == ["troubleshoot", "call_isp"]
    assert steps[1].text == "联系运营商" and steps[1].text_en == "Call the ISP"
    assert len(playbooks.steps_from_policy(policy, "intrusion", "internet")) == 5


def test_a_playbook_step_without_text_must_be_built_in(tmp_path: Path) -> None:
    """R6: an unknown step key without a text is refused, naming the key and its line."""
    path = tmp_path / "config.toml"
    path.write_text('[playbooks]\n\ntampering = ["take_offline", "pray"]\n', encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_policy(path)
    assert "'pray' is not a built-in step" in str(error.value)
    assert "config.toml:3" in str(error.value)


def test_the_example_configuration_is_valid() -> None:
    """The commented example configuration loads, playbooks and intervals included."""
    policy = load_policy(Path(__file__).resolve().parent.parent / "config.example.toml")
    assert policy.updates.remind_after_minutes.medium == 120
    assert policy.playbooks.steps("intrusion_internet")[0].key == "locate_ip"


async def test_ticks_are_checked_recorded_and_never_doubled(ctx: AppContext) -> None:
    """R6: a handler ticks a step once; staff, stale steps and unacknowledged incidents fail."""
    incident_id = await new_incident(ctx)
    async with ctx.db.transaction() as session:
        _, checklist = await playbooks.open_checklist(
            session=session, ctx=ctx, incident_id=incident_id, user_id=TECH
        )
    first = checklist.items[0].step
    async with ctx.db.transaction() as session:
        with pytest.raises(NotAllowed):
            await playbooks.tick(
                session=session,
                ctx=ctx,
                incident_id=incident_id,
                user_id=STAFF,
                index=0,
                signature=first.signature,
            )
        with pytest.raises(Stale):
            await playbooks.tick(
                session=session,
                ctx=ctx,
                incident_id=incident_id,
                user_id=TECH,
                index=0,
                signature=checklist.items[1].step.signature,
            )
    async with ctx.db.transaction() as session:
        _, after = await playbooks.tick(
            session=session,
            ctx=ctx,
            incident_id=incident_id,
            user_id=DUTY,
            index=0,
            signature=first.signature,
        )
    assert [item.number for item in after.done] == [1]
    assert after.next is not None and after.next.number == 2
    async with ctx.db.transaction() as session:
        with pytest.raises(Stale, match=r"handling\.step_done"):
            await playbooks.tick(
                session=session,
                ctx=ctx,
                incident_id=incident_id,
                user_id=TECH,
                index=0,
                signature=first.signature,
            )
        entries = await incident_q.timeline(session=session, incident_id=incident_id)
        audit = await access_q.audit_entries(session=session)
    done = [e for e in entries if e.kind == "step_done"]
    assert len(done) == 1 and done[0].actor_id == DUTY and done[0].text == "定位入侵的IP地址"
    assert any(a.action == "incident.step_done" for a in audit)

    waiting = await new_incident(ctx, acknowledge_by=None)
    async with ctx.db.transaction() as session:
        with pytest.raises(Stale, match=r"handling\.acknowledge_first"):
            await playbooks.open_checklist(
                session=session, ctx=ctx, incident_id=waiting, user_id=TECH
            )


async def test_an_open_checklist_keeps_its_steps_when_the_policy_changes(
    ctx: AppContext,
) -> None:
    """R6: the checklist is copied into the incident, so a new policy does not shift the ticks."""
    incident_id = await new_incident(ctx)
    async with ctx.db.transaction() as session:
        _, before = await playbooks.open_checklist(
            session=session, ctx=ctx, incident_id=incident_id, user_id=TECH
        )
    ctx.policy = Policy.model_validate({"playbooks": {"intrusion_internet": ["update_ids"]}})
    async with ctx.db.transaction() as session:
        _, after = await playbooks.open_checklist(
            session=session, ctx=ctx, incident_id=incident_id, user_id=TECH
        )
    assert [i.step for i in after.items] == [i.step for i in before.items]


async def test_update_reminder_fires_once_per_interval_and_an_update_resets_it(
    ctx: AppContext,
) -> None:
    """R7: the handler in charge is reminded after the level's interval, once per interval."""
    incident_id = await new_incident(ctx)
    async with ctx.db.transaction() as session:
        await lifecycle.take_charge(session=session, ctx=ctx, incident_id=incident_id, user_id=TECH)

    async def reminders() -> list[OutboxMessage]:
        async with ctx.db.transaction() as session:
            rows = await session.execute(select(OutboxMessage).where(OutboxMessage.chat_id == TECH))
            return [r for r in rows.scalars() if "没有报告进展" in r.payload.get("text", "")]

    clock(ctx).advance(minutes=119)
    await ctx.scheduler.tick()
    assert await reminders() == []
    clock(ctx).advance(minutes=1)
    await ctx.scheduler.tick()
    await ctx.scheduler.tick()
    assert len(await reminders()) == 1
    async with ctx.db.transaction() as session:
        await progress.post_update(
            session=session, ctx=ctx, incident_id=incident_id, user_id=TECH, text="Still on it"
        )
    clock(ctx).advance(minutes=119)
    await ctx.scheduler.tick()
    assert len(await reminders()) == 1
    clock(ctx).advance(minutes=1)
    await ctx.scheduler.tick()
    assert len(await reminders()) == 2


async def test_updates_are_validated_and_only_for_people_who_handle_incidents(
    ctx: AppContext,
) -> None:
    """R7 R14: empty or overlong updates and updates by staff are refused."""
    incident_id = await new_incident(ctx)
    async with ctx.db.transaction() as session:
        with pytest.raises(Invalid):
            await progress.post_update(
                session=session, ctx=ctx, incident_id=incident_id, user_id=TECH, text="  "
            )
        with pytest.raises(Invalid):
            await progress.post_update(
                session=session, ctx=ctx, incident_id=incident_id, user_id=TECH, text="x" * 2001
            )
        with pytest.raises(NotAllowed):
            await progress.post_update(
                session=session, ctx=ctx, incident_id=incident_id, user_id=STAFF, text="hi"
            )


async def test_relevel_restarts_escalation_of_an_unacknowledged_incident(ctx: AppContext) -> None:
    """R1 R5: raising a waiting incident re-arms its escalation with the new level's timeout."""
    incident_id = await new_incident(ctx, acknowledge_by=None)
    clock(ctx).advance(minutes=10)
    async with ctx.db.transaction() as session:
        done = await progress.relevel(
            session=session,
            ctx=ctx,
            incident_id=incident_id,
            user_id=TECH,
            level="large",
            reason="Bigger",
        )
        timers = await runtime_q.pending_timers(session=session, kind="escalation")
    assert done.previous == "medium" and done.incident.level == "large"
    assert [t.due_at for t in timers] == [ctx.now() + timedelta(minutes=5)]
    async with ctx.db.transaction() as session:
        with pytest.raises(NotAllowed):
            await progress.relevel(
                session=session,
                ctx=ctx,
                incident_id=incident_id,
                user_id=TECH,
                level="medium",
                reason="Smaller",
            )


def close_draft(incident_id: int, ended: datetime) -> CloseDraft:
    """Every answer of the close."""
    return CloseDraft(
        incident_id=incident_id,
        consequences="Portal down 40 min",
        process="Blocked the IP; restored the page",
        result="Danger removed",
        ended_at=ended.isoformat(),
        recommendations="Patch monthly",
    )


async def test_the_close_refuses_an_end_before_the_report(ctx: AppContext) -> None:
    """R8: the end time cannot be before the incident was reported."""
    incident_id = await new_incident(ctx)
    clock(ctx).advance(minutes=30)
    async with ctx.db.transaction() as session:
        with pytest.raises(Invalid, match=r"handling\.end_before_report"):
            await closing.resolve(
                session=session,
                ctx=ctx,
                user_id=TECH,
                draft=close_draft(incident_id, START - timedelta(minutes=5)),
            )
    assert (await load(ctx, incident_id)).status == "acknowledged"


async def test_resolving_posts_the_report_and_a_word_document(ctx: AppContext) -> None:
    """R8: the report goes to the routed chat with a .docx holding number, fields and timeline."""
    incident_id = await new_incident(ctx)
    async with ctx.db.transaction() as session:
        await progress.post_update(
            session=session, ctx=ctx, incident_id=incident_id, user_id=TECH, text="Port closed"
        )
    clock(ctx).advance(minutes=45)
    async with ctx.db.transaction() as session:
        done = await closing.resolve(
            session=session,
            ctx=ctx,
            user_id=TECH,
            draft=close_draft(incident_id, START + timedelta(minutes=40)),
        )
        rows = (
            (await session.execute(select(OutboxMessage).where(OutboxMessage.chat_id == TECH_CHAT)))
            .scalars()
            .all()
        )
    assert done.chat_ids == [TECH_CHAT] and done.incident.status == "resolved"
    texts = [r.payload.get("text") or "" for r in rows if r.method == "send_message"]
    posted = next(t for t in texts if "情况报告" in t and "造成的后果" in t)
    for needle in ("Portal down 40 min", "Blocked the IP", "Danger removed", "Patch monthly"):
        assert needle in posted
    document = next(r for r in rows if r.method == "send_document")
    number = done.incident.number
    assert document.payload["filename"] == f"situation-report-{number}.docx"
    word = Document(io.BytesIO(base64.b64decode(document.payload["content_b64"])))
    cells = [cell.text for table in word.tables for row in table.rows for cell in row.cells]
    for needle in (number, "Portal down 40 min", "Blocked the IP; restored the page"):
        assert needle in cells
    assert "进展报告" in cells and "Port closed" in cells
    assert "2026-11-26 09:40" in cells  # the end time, in the office's zone
    async with ctx.db.transaction() as session:
        assert await runtime_q.pending_timers(session=session, ref_id=incident_id) == []
        with pytest.raises(Stale, match=r"handling\.already_resolved"):
            await closing.resolve(
                session=session, ctx=ctx, user_id=TECH, draft=close_draft(incident_id, START)
            )


async def test_only_leaders_declare_the_emergency_over(ctx: AppContext) -> None:
    """R10: duty is refused; a leader closes the incident and all staff are told."""
    incident_id = await new_incident(ctx)
    async with ctx.db.transaction() as session:
        with pytest.raises(Stale, match=r"handling\.not_resolved"):
            await closing.declare_over(
                session=session, ctx=ctx, incident_id=incident_id, user_id=LEADER
            )
        await closing.resolve(
            session=session, ctx=ctx, user_id=TECH, draft=close_draft(incident_id, START)
        )
    async with ctx.db.transaction() as session:
        with pytest.raises(NotAllowed):
            await closing.declare_over(
                session=session, ctx=ctx, incident_id=incident_id, user_id=DUTY
            )
    async with ctx.db.transaction() as session:
        incident, count = await closing.declare_over(
            session=session, ctx=ctx, incident_id=incident_id, user_id=LEADER, note="Experts: OK"
        )
        told = (
            (
                await session.execute(
                    select(OutboxMessage).where(OutboxMessage.chat_id == ALL_STAFF_CHAT)
                )
            )
            .scalars()
            .all()
        )
        audit = await access_q.audit_entries(session=session)
    assert incident.status == "closed" and incident.closed_at == START
    assert count == 2
    assert any("Experts: OK" in (r.payload.get("text") or "") for r in told)
    assert any(a.action == "incident.emergency_over" and a.actor_id == LEADER for a in audit)


async def test_statistics_leave_drills_out_unless_asked(ctx: AppContext) -> None:
    """R12: drills are counted only when asked for; real incidents by level and category."""
    await new_incident(ctx)
    await new_incident(ctx, drill=True)
    await new_incident(ctx, category="virus", subtype=None, level="small", drill=True)
    async with ctx.db.transaction() as session:
        real = await incident_q.counts_by_level_and_category(session=session)
        drills = await incident_q.counts_by_level_and_category(session=session, drills=True)
        later = await incident_q.counts_by_level_and_category(
            session=session, since=START + timedelta(days=1)
        )
        listed = await incident_q.open_incidents(session=session)
    assert real == {("medium", "intrusion"): 1}
    assert drills == {("medium", "intrusion"): 1, ("small", "virus"): 1}
    assert later == {}
    assert [i.is_drill for i in listed] == [False]


async def test_drill_documents_and_messages_are_marked(ctx: AppContext) -> None:
    """R12: a drill's report, its document and its end are all marked as a drill."""
    incident_id = await new_incident(ctx, drill=True)
    async with ctx.db.transaction() as session:
        done = await closing.resolve(
            session=session, ctx=ctx, user_id=TECH, draft=close_draft(incident_id, START)
        )
        rows = (
            (await session.execute(select(OutboxMessage).where(OutboxMessage.chat_id == TECH_CHAT)))
            .scalars()
            .all()
        )
        report = await handling_q.get_report(session=session, incident_id=incident_id)
    assert report is not None and done.incident.number.startswith("D")
    for row in rows:
        shown = row.payload.get("text") or row.payload.get("caption") or ""
        assert "【演练】" in shown, shown
    document = next(r for r in rows if r.method == "send_document")
    word = Document(io.BytesIO(base64.b64decode(document.payload["content_b64"])))
    assert "【演练】" in "\n".join(p.text for p in word.paragraphs)


def test_only_organisers_start_drills() -> None:
    """R12: the tech center, leaders and admins may start a drill; staff and duty may not."""
    from storage.models import User, UserRole

    def user(role: str) -> User:
        person = User(id=9, name="x", language="zh_CN", status="active")
        person.roles = [UserRole(user_id=9, role=role)]
        return person

    for role in ("tech_center", "leader", "admin"):
        actions.may_start_drill(user(role))
    for role in ("staff", "duty"):
        with pytest.raises(NotAllowed):
            actions.may_start_drill(user(role))


def test_handling_and_card_buttons_round_trip_and_refuse_forgeries() -> None:
    """R6 R14: the card's and the checklist's buttons parse back to what they packed; data
    another kind, an older layout or a forger would send parses to nothing."""
    from bot.handling.buttons import HandlingPress, StepTick
    from bot.incidents.buttons import IncidentPress

    for value in (
        HandlingPress("over", 42),
        StepTick(42, 10, "a1b2c3"),
        IncidentPress("info", 7),
    ):
        assert type(value).parse(value.pack()) == value
    assert HandlingPress("upd", 42).pack() == "hd:upd:42"  # cards already sent keep working
    assert IncidentPress("ack", 42).pack() == "inc:ack:42"
    for data in ("hd:tick:1:0:a1b2c3", "hd:lvl:x", "hd:lvl:4²", "hd:go:1", "hd:res:1:2", ""):
        assert HandlingPress.parse(data) is None, data
    for data in ("hdt:1:1000:a1b2c3", "hdt:1:0:a1b2c3d", "hdt:1:0:a1:b2", "hdt:1:0:a b"):
        assert StepTick.parse(data) is None, data
    for data in ("inc:ok:1", "inc:ack:", "inc:ack:1:2", "inc:info:-1"):
        assert IncidentPress.parse(data) is None, data
