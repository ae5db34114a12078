"""The guided-flow engine without Telegram: every declared flow, step by step (R3 R9 R8 R2).

Each flow is driven through the engine as the chat adapter drives it: start, buttons and typed
answers, Back, Skip, Cancel, resuming after a restart (a new engine on the same database),
a stale button, a repeated update.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.incidents.model import Draft
from bot.incidents.report_flow import REPORT
from bot.platform.clock import ManualClock
from bot.platform.context import AppContext
from bot.platform.flows import (
    Answer,
    Engine,
    FileRef,
    FlowPress,
    Flows,
    Outcome,
    current,
    handled_before,
)
from storage.db import Database
from storage.models import Incident
from tests.office import DUTY, LEADER, STAFF, TECH, service_office

START = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)


@pytest.fixture
async def ctx(db: Database) -> AsyncIterator[AppContext]:
    """Services over this test's database with the report flow declared."""
    context = await service_office(db, now=START)
    yield context


class Driver:
    """Presses and types as a person would, through a fresh engine each time (a restart)."""

    def __init__(self, ctx: AppContext, user_id: int) -> None:
        self.ctx = ctx
        self.user_id = user_id
        self.update_id = 100
        self.last: Outcome | None = None

    def engine(self) -> Engine:
        # Built anew for every call: nothing is carried in memory between steps.
        return Engine(self.ctx.flows)

    def _next_update(self) -> int:
        self.update_id += 1
        return self.update_id

    async def start(self, kind: str, state: Any, **kwargs: Any) -> Outcome:
        async with self.ctx.db.transaction() as session:
            self.last = await self.engine().start(
                session=session,
                env=self.ctx.env(),
                user_id=self.user_id,
                kind=kind,
                state=state,
                update_id=self._next_update(),
                **kwargs,
            )
        return self.last

    def button(self, action: str, value: str | None = None) -> FlowPress:
        assert self.last is not None and self.last.step is not None
        return FlowPress(run=self.last.run, step=self.last.step.name, action=action, value=value)  # type: ignore[arg-type]

    async def press(self, press: FlowPress) -> Outcome:
        async with self.ctx.db.transaction() as session:
            outcome = await self.engine().press(
                session=session,
                env=self.ctx.env(),
                user_id=self.user_id,
                press=press,
                update_id=self._next_update(),
            )
        if outcome.kind not in ("stale", "rejected"):
            self.last = outcome
        return outcome

    async def pick(self, value: str) -> Outcome:
        return await self.press(self.button("pick", value))

    async def act(self, action: str, value: str | None = None) -> Outcome:
        return await self.press(self.button(action, value))

    async def type(self, text: str = "", file: FileRef | None = None) -> Outcome:
        async with self.ctx.db.transaction() as session:
            outcome = await self.engine().answer(
                session=session,
                env=self.ctx.env(),
                user_id=self.user_id,
                answer=Answer(text=text, file=file),
                update_id=self._next_update(),
            )
        if outcome.kind not in ("rejected",):
            self.last = outcome
        return outcome

    async def step(self) -> str | None:
        async with self.ctx.db.transaction() as session:
            outcome = await self.engine().again(
                session=session, env=self.ctx.env(), user_id=self.user_id
            )
        return outcome.step.name if outcome.step is not None else None


def _flows(ctx: AppContext, *flows: Any) -> None:
    ctx.flows = Flows(flows)


async def test_r3_report_flow_every_step_back_skip_edit_and_submit(ctx: AppContext) -> None:
    """R3: the report walks every step; Back returns; Edit from the review comes back to it."""
    _flows(ctx, REPORT)
    me = Driver(ctx, STAFF)
    asked = await me.start("report", Draft())
    assert asked.kind == "ask" and asked.step is not None and asked.step.name == "category"
    assert (await me.pick("intrusion")).step.name == "subtype"  # type: ignore[union-attr]
    assert (await me.pick("extranet")).step.name == "level"  # type: ignore[union-attr]
    assert (await me.pick("medium")).step.name == "when"  # type: ignore[union-attr]
    back = await me.act("back")
    assert back.step is not None and back.step.name == "level"
    assert back.fold is not None and back.fold.mark == "back"
    await me.pick("large")
    refused = await me.type("next blue moon")
    assert refused.kind == "rejected" and refused.error is not None
    assert refused.error.key == "report.bad_time"
    assert await me.step() == "when"
    assert (await me.type("30 min ago")).step.name == "where"  # type: ignore[union-attr]
    assert (await me.type("x" * 201)).kind == "rejected"
    where = await me.type("Portal web server")
    assert where.fold is not None and where.fold.answer == "Portal web server"
    await me.type("Defaced home page")
    files = await me.act("skip")
    assert files.step is not None and files.step.name == "files"
    noted = await me.type(file=FileRef("photo", "file-1", "u-1"))
    assert noted.kind == "noted" and noted.note is not None
    assert "1" in noted.note.label("en")
    review = await me.act("done")
    assert review.step is not None and review.step.name == "review"
    editing = await me.act("edit", "where")
    assert editing.step is not None and editing.step.name == "where" and editing.editing
    back_to_review = await me.type("Mail gateway")
    assert back_to_review.step is not None and back_to_review.step.name == "review"
    done = await me.act("submit")
    assert done.kind == "finished" and done.finished is not None
    incident: Incident = done.finished.values["incident"]
    assert (incident.category, incident.subtype, incident.level) == (
        "intrusion",
        "extranet",
        "large",
    )
    assert incident.location == "Mail gateway" and len(incident.attachments) == 1
    assert await me.step() is None


async def test_r3_report_flow_stale_buttons_repeats_cancel_and_resume(ctx: AppContext) -> None:
    """R3: an earlier prompt's button is stale; a repeated update is known; Cancel ends it."""
    _flows(ctx, REPORT)
    me = Driver(ctx, STAFF)
    await me.start("report", Draft())
    old = me.button("pick", "virus")
    await me.press(old)
    moved_by = me.update_id
    # The category prompt's button, pressed again: that step is answered.
    assert (await me.press(old)).kind == "stale"
    # A button of another run (a forged or older flow) changes nothing.
    forged = FlowPress(run="ffffff", step="level", action="pick", value="large")
    assert (await me.press(forged)).kind == "stale"
    # A value the step does not offer.
    assert (await me.pick("huge")).kind == "stale"
    assert await me.step() == "level"
    async with ctx.db.transaction() as session:
        row = await current(session=session, user_id=STAFF)
    # The update that moved the flow on is known when it comes again; later ones are not.
    assert handled_before(row, moved_by) and not handled_before(row, moved_by + 1)
    # Starting again offers to resume (the report is resumable), then restarting replaces it.
    busy = await me.start("report", Draft())
    assert busy.kind == "busy"
    assert await me.step() == "level"
    fresh = await me.start("report", Draft(), replace=True)
    assert fresh.step is not None and fresh.step.name == "category"
    cancelled = await me.act("cancel")
    assert cancelled.kind == "cancelled" and cancelled.fold is not None
    assert await me.step() is None


def test_every_button_kind_fits_telegrams_64_bytes() -> None:
    """Typed buttons: the longest value of every declared kind packs within 64 bytes."""
    from bot.platform import buttons

    kinds = buttons.kinds()
    assert FlowPress in kinds
    too_long = {kind.__name__: kind.longest() for kind in kinds if kind.longest() > 64}
    assert too_long == {}


# ---- handling: the update, the level change, the close, the end (R7 R1 R8 R10) -----------------


async def _handled_incident(
    ctx: AppContext, *, level: str = "medium", drill: bool = False, acknowledge: bool = True
) -> int:
    """An intrusion reported by staff (and acknowledged by the tech center); returns its id."""
    from bot.incidents import lifecycle, reports

    draft = Draft(
        category="intrusion",
        subtype="internet",
        level=level,
        occurred_at=ctx.now().isoformat(),
        location="Portal",
        description="Defaced",
        is_drill=drill,
    )
    async with ctx.db.transaction() as session:
        submitted = await reports.submit(session=session, ctx=ctx, reporter_id=STAFF, draft=draft)
        if acknowledge:
            await lifecycle.acknowledge(
                session=session, ctx=ctx, incident_id=submitted.incident.id, user_id=TECH
            )
        return submitted.incident.id


async def _begin(ctx: AppContext, kind: str, incident_id: int, user_id: int) -> Any:
    from bot.handling import flows as handling_flows

    async with ctx.db.transaction() as session:
        return await handling_flows.begin(
            session=session, ctx=ctx, kind=kind, incident_id=incident_id, user_id=user_id
        )


async def _incident(ctx: AppContext, incident_id: int) -> Incident:
    from storage import incidents as incident_q

    async with ctx.db.transaction() as session:
        found = await incident_q.get_incident(session=session, incident_id=incident_id)
    assert found is not None
    return found


async def _timeline(ctx: AppContext, incident_id: int, kind: str) -> list[Any]:
    from storage import incidents as incident_q

    async with ctx.db.transaction() as session:
        entries = await incident_q.timeline(session=session, incident_id=incident_id)
    return [e for e in entries if e.kind == kind]


async def _known_when_repeated(ctx: AppContext, me: Driver) -> None:
    """The update that last moved the flow on is known if Telegram sends it again."""
    async with ctx.db.transaction() as session:
        row = await current(session=session, user_id=me.user_id)
    assert handled_before(row, me.update_id) and not handled_before(row, me.update_id + 1)


def _options(outcome: Outcome, ctx: AppContext) -> list[str]:
    assert outcome.step is not None and outcome.step.options is not None
    return [o.value for o in outcome.step.options(outcome.state, ctx.env())]


async def test_r7_update_flow_refuses_bad_text_cancels_and_posts(ctx: AppContext) -> None:
    """R7: the update asks for its text, refuses an empty or overlong one, survives a restart,
    refuses buttons of an earlier run and a repeated update is known; the text is posted."""
    from bot.handling.flows import UPDATE_FLOW

    _flows(ctx, UPDATE_FLOW)
    incident_id = await _handled_incident(ctx)
    me = Driver(ctx, TECH)
    asked = await me.start("update", await _begin(ctx, "update", incident_id, TECH))
    assert asked.step is not None and asked.step.name == "text"
    assert asked.view["incident"].id == incident_id and not asked.can_back
    first_run = me.button("cancel")
    cancelled = await me.act("cancel")
    assert cancelled.kind == "cancelled" and await me.step() is None
    assert await _timeline(ctx, incident_id, "update") == []

    await me.start("update", await _begin(ctx, "update", incident_id, TECH))
    assert (await me.press(first_run)).kind == "stale"  # the cancelled run's button
    assert (await me.act("back")).kind == "stale"  # nothing before the first step
    for bad in ("   ", "x" * 2001):
        refused = await me.type(bad)
        assert refused.kind == "rejected" and refused.error is not None
        assert refused.error.key == "handling.bad_update"
    photo = await me.type(file=FileRef("photo", "file-1", "u-1"))
    assert photo.kind == "rejected" and photo.error is not None
    assert photo.error.key == "conversations.want_text"
    assert await me.step() == "text"  # a fresh engine finds the step after every refusal
    refused_by = me.update_id
    async with ctx.db.transaction() as session:
        row = await current(session=session, user_id=TECH)
    assert handled_before(row, refused_by) and not handled_before(row, refused_by + 1)
    posted = await me.type("Port 8080 closed at the firewall.")
    assert posted.kind == "finished" and posted.finished is not None
    assert posted.finished.template == "handling/update_posted"
    assert posted.fold is not None and posted.fold.answer is not None
    assert [e.text for e in await _timeline(ctx, incident_id, "update")] == [
        "Port 8080 closed at the firewall."
    ]
    assert await me.step() is None


async def test_r1_relevel_flow_offers_the_other_levels_goes_back_and_rechecks(
    ctx: AppContext,
) -> None:
    """R1: the level change offers the other levels, Back returns to them, a long reason is
    refused; if the level was changed meanwhile, finishing is refused and nothing changes."""
    from bot.handling import progress
    from bot.handling.flows import RELEVEL_FLOW
    from bot.platform.errors import ServiceError

    _flows(ctx, RELEVEL_FLOW)
    incident_id = await _handled_incident(ctx)
    me = Driver(ctx, TECH)
    asked = await me.start("relevel", await _begin(ctx, "relevel", incident_id, TECH))
    assert asked.step is not None and asked.step.name == "level"
    assert _options(asked, ctx) == ["large", "small"]
    level_button = me.button("pick", "large")
    reason = await me.press(level_button)
    assert reason.step is not None and reason.step.name == "reason" and reason.can_back
    assert reason.fold is not None and callable(reason.fold.answer)
    assert reason.fold.answer("en") == "large"
    assert (await me.press(level_button)).kind == "stale"  # that prompt was answered
    assert (await me.pick("medium")).kind == "stale"  # not a button of this step
    back = await me.act("back")
    assert back.step is not None and back.step.name == "level"
    assert back.fold is not None and back.fold.mark == "back"
    await me.pick("small")
    await _known_when_repeated(ctx, me)
    refused = await me.type("x" * 501)
    assert refused.kind == "rejected" and refused.error is not None
    assert refused.error.key == "handling.bad_reason"
    assert await me.step() == "reason"

    # Someone else changes the level first: the service refuses, the flow stays at its step.
    async with ctx.db.transaction() as session:
        await progress.relevel(
            session=session,
            ctx=ctx,
            incident_id=incident_id,
            user_id=TECH,
            level="small",
            reason="Done elsewhere",
        )
    with pytest.raises(ServiceError) as refusal:
        await me.type("Only one PC is affected.")
    assert refusal.value.key == "handling.same_level"
    assert await me.step() == "reason"
    assert len(await _timeline(ctx, incident_id, "relevelled")) == 1
    assert (await me.act("cancel")).kind == "cancelled"
    assert await me.step() is None

    second = Driver(ctx, TECH)
    second.update_id = me.update_id
    asked = await second.start("relevel", await _begin(ctx, "relevel", incident_id, TECH))
    assert _options(asked, ctx) == ["large", "medium"]
    await second.pick("medium")
    done = await second.type("Forensics: two PCs.")
    assert done.kind == "finished" and done.finished is not None
    assert done.finished.values["incident"].level == "medium"
    assert (await _incident(ctx, incident_id)).level == "medium"
    assert [e.text for e in await _timeline(ctx, incident_id, "relevelled")] == [
        "Done elsewhere",
        "Forensics: two PCs.",
    ]


async def test_r8_close_flow_every_step_keep_now_back_edit_and_submit(ctx: AppContext) -> None:
    """R8: the close walks every step; Keep takes the process drafted from the timeline, Now the
    end time; an end before the report is refused; Back and Edit from the review work; the
    report is written and the closer, in none of the routed chats, gets the document."""
    from bot.handling.flows import CLOSE_FLOW
    from bot.platform.errors import ServiceError
    from storage import handling as handling_q

    _flows(ctx, CLOSE_FLOW)
    incident_id = await _handled_incident(ctx)
    assert isinstance(ctx.clock, ManualClock)
    ctx.clock.advance(minutes=40)
    me = Driver(ctx, TECH)
    state = await _begin(ctx, "close", incident_id, TECH)
    assert "Tech Sun" in state.suggested_process
    await me.start("close", state)
    cancelled_run = me.button("cancel")
    assert (await me.act("cancel")).kind == "cancelled" and await me.step() is None
    asked = await me.start("close", state)
    assert asked.step is not None and asked.step.name == "consequences"
    assert (await me.press(cancelled_run)).kind == "stale"
    assert (await me.type("")).kind == "rejected"
    process = await me.type("Portal defaced for 40 minutes.")
    await _known_when_repeated(ctx, me)
    assert process.step is not None and process.step.name == "process"
    assert _options(process, ctx) == ["keep"]
    result = await me.pick("keep")
    assert result.step is not None and result.step.name == "result"
    assert result.fold is not None and callable(result.fold.answer)
    assert result.fold.answer("en") == "as drafted from the timeline"
    ended = await me.type("Danger removed.")
    assert ended.step is not None and ended.step.name == "ended"
    back = await me.act("back")
    assert back.step is not None and back.step.name == "result"
    await me.type("Danger removed; portal back.")
    refused = await me.type("2 hours ago")
    assert refused.kind == "rejected" and refused.error is not None
    assert refused.error.key == "handling.end_before_report"
    future = await me.type("2026-11-27 09:00")
    assert future.kind == "rejected" and future.error is not None
    assert future.error.key == "report.future_time"
    kept = await _state_after_restart(ctx, TECH, "ended")
    assert kept.consequences == "Portal defaced for 40 minutes."
    assert kept.result == "Danger removed; portal back."
    recommendations = await me.pick("now")
    assert recommendations.step is not None and recommendations.step.name == "recommendations"
    review = await me.type("Patch the CMS monthly.")
    assert review.step is not None and review.step.name == "review"
    editing = await me.act("edit", "consequences")
    assert editing.step is not None and editing.step.name == "consequences" and editing.editing
    back_to_review = await me.type("Portal defaced for 35 minutes.")
    assert back_to_review.step is not None and back_to_review.step.name == "review"
    old_review = me.button("submit")
    done = await me.act("submit")
    assert done.kind == "finished" and done.finished is not None
    assert done.finished.template == "handling/resolved_done"
    number = done.finished.values["incident"].number
    [(filename, content, caption)] = done.finished.documents
    assert filename == f"situation-report-{number}.docx" and content[:2] == b"PK"
    assert number in caption
    assert (await me.press(old_review)).kind == "stale"
    async with ctx.db.transaction() as session:
        report = await handling_q.get_report(session=session, incident_id=incident_id)
    assert report is not None
    assert report.consequences == "Portal defaced for 35 minutes."
    assert report.process == state.suggested_process.strip()
    assert report.ended_at == ctx.now()
    assert (await _incident(ctx, incident_id)).status == "resolved"
    with pytest.raises(ServiceError, match=r"handling\.already_resolved"):
        await _begin(ctx, "close", incident_id, TECH)


async def _state_after_restart(ctx: AppContext, user_id: int, step: str) -> Any:
    """The flow's state as a new engine (after a restart) reads it from the row, at its step."""
    async with ctx.db.transaction() as session:
        outcome = await Engine(ctx.flows).again(session=session, env=ctx.env(), user_id=user_id)
    assert outcome.step is not None and outcome.step.name == step
    return outcome.state


async def test_r10_over_flow_note_or_now_for_leaders_only(ctx: AppContext) -> None:
    """R10: only a leader starts it; a note too long is refused; an earlier run's button is
    stale; Declare now ends the emergency; a drill's flow marks what it folds."""
    from bot.handling import closing
    from bot.handling.closing import CloseDraft
    from bot.handling.flows import OVER_FLOW, OverDraft
    from bot.platform.errors import ServiceError

    _flows(ctx, OVER_FLOW)
    incident_id = await _handled_incident(ctx, level="small", drill=True)
    with pytest.raises(ServiceError, match=r"handling\.not_resolved"):
        await _begin(ctx, "over", incident_id, LEADER)
    async with ctx.db.transaction() as session:
        await closing.resolve(
            session=session,
            ctx=ctx,
            user_id=TECH,
            draft=CloseDraft(
                incident_id=incident_id,
                consequences="One PC",
                process="Cleaned",
                result="Clean",
                ended_at=ctx.now().isoformat(),
                recommendations="Antivirus",
            ),
        )
    with pytest.raises(ServiceError, match=r"handling\.leaders_only"):
        await _begin(ctx, "over", incident_id, DUTY)
    me = Driver(ctx, LEADER)
    state = await _begin(ctx, "over", incident_id, LEADER)
    assert state.is_drill
    mark = OVER_FLOW.mark_for(state)
    assert mark is not None and "【Drill】" in mark("en")
    assert OVER_FLOW.mark_for(OverDraft(incident_id=incident_id)) is None
    asked = await me.start("over", state)
    assert asked.step is not None and asked.step.name == "note" and _options(asked, ctx) == ["now"]
    earlier = me.button("pick", "now")
    refused = await me.type("x" * 1001)
    assert refused.kind == "rejected" and refused.error is not None
    assert refused.error.key == "handling.bad_text"
    await me.act("cancel")
    await me.start("over", await _begin(ctx, "over", incident_id, LEADER))
    await _known_when_repeated(ctx, me)
    assert (await me.press(earlier)).kind == "stale"
    assert await me.step() == "note"
    done = await me.pick("now")
    assert done.kind == "finished" and done.finished is not None
    assert done.finished.template == "handling/over_done"
    assert (await _incident(ctx, incident_id)).status == "closed"
    [entry] = await _timeline(ctx, incident_id, "emergency_over")
    assert entry.actor_id == LEADER and entry.text == ""
