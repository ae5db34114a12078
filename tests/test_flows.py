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
from tests.office import STAFF, service_office

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
