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
from bot.platform.errors import NotAllowed, NotFound
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
from tests.office import ADMIN, DUTY, STAFF, service_office

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


# ---- contacts (R2) and the patrol note (R11) ---------------------------------------------------


async def _contact(ctx: AppContext, **fields: Any) -> int:
    from bot.access import contacts
    from bot.platform.roles import Position

    async with ctx.db.transaction() as session:
        made = await contacts.add(
            session=session, ctx=ctx, admin_id=ADMIN, position=Position.LIAISON, **fields
        )
        return made.id


async def _contact_row(ctx: AppContext, contact_id: int) -> Any:
    from storage import access as access_q

    async with ctx.db.transaction() as session:
        return await access_q.get_contact(session=session, contact_id=contact_id)


async def test_r2_contact_add_flow_every_step_back_skip_and_save(ctx: AppContext) -> None:
    """R2: position → name → title → area → office phone → mobile; Back, Skip, bad values."""
    from bot.access.flows import CONTACT_ADD, NewContact

    _flows(ctx, CONTACT_ADD)
    me = Driver(ctx, ADMIN)
    asked = await me.start("contact_add", NewContact())
    assert asked.step is not None and asked.step.name == "position" and not asked.can_back
    assert (await me.pick("duty_officer")).kind == "stale", "duty officers come from the roster"
    named = await me.pick("deputy")
    assert named.step is not None and named.step.name == "name" and named.can_back
    assert named.fold is not None and named.fold.answer is not None
    assert named.fold.answer("en") == "deputy group leader"
    for bad in ("", "   ", "x" * 101):
        refused = await me.type(bad)
        assert refused.kind == "rejected" and refused.error is not None
        assert refused.error.key == "contacts.bad_name"
    assert (await me.type(file=FileRef("photo", "f", "u"))).kind == "rejected"
    assert (await me.type("Sun Deputy")).step.name == "title"  # type: ignore[union-attr]
    back = await me.act("back")
    assert back.step is not None and back.step.name == "name"
    assert (await me.type("  Sun Li  ")).step.name == "title"  # type: ignore[union-attr]
    skipped = await me.act("skip")
    assert skipped.step is not None and skipped.step.name == "area"
    assert skipped.fold is not None and callable(skipped.fold.answer)
    assert skipped.fold.answer("en") == "—"
    assert (await me.type("y" * 101)).kind == "rejected"
    assert (await me.type("Network security")).step.name == "office_phone"  # type: ignore[union-attr]
    refused = await me.type("12345")
    assert refused.kind == "rejected" and refused.error is not None
    assert refused.error.key == "contacts.bad_phone" and refused.error.params["value"] == "12345"
    assert await me.step() == "office_phone"
    mobile = await me.type("028-87651111")
    assert mobile.step is not None and mobile.step.name == "mobile"
    assert mobile.fold is not None and callable(mobile.fold.answer)
    assert mobile.fold.answer("en") == "+86 28 8765 1111"
    done = await me.act("skip")
    assert done.kind == "finished" and done.finished is not None
    contact = done.finished.values["contact"]
    assert (contact.position, contact.name, contact.title, contact.area) == (
        "deputy",
        "Sun Li",
        "",
        "Network security",
    )
    assert (contact.office_phone, contact.mobile) == ("+86 28 8765 1111", "")
    assert await me.step() is None


async def test_r2_contact_add_flow_stale_repeat_cancel_resume_and_role_rechecked(
    ctx: AppContext,
) -> None:
    """R2 R14: stale and repeated presses change nothing; saving checks the admin role again."""
    from bot.access.flows import CONTACT_ADD, NewContact
    from storage import access as access_q

    _flows(ctx, CONTACT_ADD)
    me = Driver(ctx, ADMIN)
    await me.start("contact_add", NewContact())
    old = me.button("pick", "leader")
    await me.press(old)
    moved_by = me.update_id
    assert (await me.press(old)).kind == "stale"
    forged = FlowPress(run="ffffff", step="name", action="skip")
    assert (await me.press(forged)).kind == "stale"
    assert (await me.act("skip")).kind == "stale", "the name cannot be skipped"
    async with ctx.db.transaction() as session:
        row = await current(session=session, user_id=ADMIN)
    assert handled_before(row, moved_by) and not handled_before(row, moved_by + 1)
    # A restart: a new engine finds the step and the answers so far.
    assert await me.step() == "name"
    await me.type("Wang")
    for _ in range(3):
        await me.act("skip")
    assert await me.step() == "mobile"
    # The role was taken away meanwhile: saving is refused and nothing is written.
    async with ctx.db.transaction() as session:
        user = await access_q.get_user(session=session, user_id=ADMIN)
        assert user is not None
        await access_q.set_roles(session=session, user=user, roles=["staff"])
    with pytest.raises(NotAllowed):
        await me.type("13800138000")
    assert await me.step() == "mobile"
    async with ctx.db.transaction() as session:
        assert await access_q.count_contacts(session=session) == 0
    cancelled = await me.act("cancel")
    assert cancelled.kind == "cancelled" and cancelled.fold is not None
    assert cancelled.fold.mark == "cancel"
    assert await me.step() is None


async def test_r2_contact_edit_flow_starts_at_the_chosen_field(ctx: AppContext) -> None:
    """R2: the change flow asks the chosen field; a bad number is refused; Leave it empty."""
    from bot.access.flows import CONTACT_EDIT, ContactChange

    _flows(ctx, CONTACT_EDIT)
    contact_id = await _contact(ctx, name="Zhao", office_phone="028-87650000", title="Liaison")
    me = Driver(ctx, ADMIN)
    asked = await me.start("contact_edit", ContactChange(contact_id, "office_phone"))
    assert asked.step is not None and asked.step.name == "office_phone"
    assert asked.view["contact"].office_phone == "+86 28 8765 0000"
    assert not asked.can_back
    refused = await me.type("12345")
    assert refused.kind == "rejected" and refused.error is not None
    assert refused.error.key == "contacts.bad_phone"
    assert await me.step() == "office_phone"
    first = me.button("pick", "clear")
    cleared = await me.press(first)
    assert cleared.kind == "finished"
    assert (await _contact_row(ctx, contact_id)).office_phone == ""
    assert (await me.press(first)).kind == "stale", "the flow is over"

    await me.start("contact_edit", ContactChange(contact_id, "name"))
    assert await me.step() == "name"
    assert (await me.pick("clear")).kind == "stale", "a name cannot be left empty"
    assert (await me.type("")).kind == "rejected"
    assert (await me.type("Zhao Min")).kind == "finished"
    assert (await _contact_row(ctx, contact_id)).name == "Zhao Min"

    await me.start("contact_edit", ContactChange(contact_id, "title"))
    cancelled = await me.act("cancel")
    assert cancelled.kind == "cancelled"
    assert (await _contact_row(ctx, contact_id)).title == "Liaison"

    # Removed by another admin meanwhile: saving is refused, the flow stays to be cancelled.
    await me.start("contact_edit", ContactChange(contact_id, "mobile"))
    from bot.access import contacts

    async with ctx.db.transaction() as session:
        await contacts.remove(session=session, ctx=ctx, admin_id=ADMIN, contact_id=contact_id)
    with pytest.raises(NotFound):
        await me.type("13800138000")
    assert await me.step() == "mobile"


async def _noted_round(ctx: AppContext, user_id: int) -> int:
    from bot.patrols import patrol_rounds
    from storage import patrols as patrols_q

    async with ctx.db.transaction() as session:
        row = await patrols_q.add_round(
            session=session,
            kind="daily",
            name="Daily check",
            checklist=["Server room power"],
            day=START.date(),
            due_at=START,
            created_at=START,
            sent_at=START,
            recipients=[user_id],
            officer_id=user_id,
            answer=patrol_rounds.NORMAL,
            answered_at=START,
            answered_by=user_id,
        )
        return row.id


async def test_r11_patrol_note_flow_refuses_bad_notes_and_saves_one(ctx: AppContext) -> None:
    """R11: the note after "All normal": empty, a photo or 501 characters are refused."""
    from bot.patrols.flows import PATROL_NOTE, PatrolNote
    from storage import patrols as patrols_q

    _flows(ctx, PATROL_NOTE)
    round_id = await _noted_round(ctx, DUTY)
    me = Driver(ctx, DUTY)
    asked = await me.start("patrol_note", PatrolNote(round_id))
    assert asked.step is not None and asked.step.name == "note" and not asked.can_back
    assert asked.view == {"limit": 500}
    for text, key in (("  ", "patrols.bad_note"), ("x" * 501, "patrols.bad_note")):
        refused = await me.type(text)
        assert refused.kind == "rejected" and refused.error is not None
        assert refused.error.key == key
    photo = await me.type(file=FileRef("photo", "f", "u"))
    assert photo.error is not None and photo.error.key == "patrols.want_text"
    assert (await me.act("skip")).kind == "stale"
    assert (await me.act("back")).kind == "stale"
    # A restart: a fresh engine still waits for the note.
    assert await me.step() == "note"
    saved = await me.type(" UPS at 80% ")
    assert saved.kind == "finished" and saved.finished is not None
    assert saved.fold is not None and saved.fold.answer == "UPS at 80%"
    async with ctx.db.transaction() as session:
        row = await patrols_q.get_round(session=session, round_id=round_id)
        assert row is not None and row.note == "UPS at 80%"
    assert await me.step() is None
    # Only a round answered "all normal" by this person takes a note, checked again on saving.
    other = Driver(ctx, STAFF)
    await other.start("patrol_note", PatrolNote(round_id))
    with pytest.raises(NotAllowed):
        await other.type("Not mine")


async def test_r11_patrol_note_flow_stale_repeat_cancel(ctx: AppContext) -> None:
    """R11: the note's Cancel ends it; its old prompt's button is stale; a repeat is known."""
    from bot.patrols.flows import PATROL_NOTE, PatrolNote

    _flows(ctx, PATROL_NOTE)
    round_id = await _noted_round(ctx, DUTY)
    me = Driver(ctx, DUTY)
    await me.start("patrol_note", PatrolNote(round_id))
    started_by = me.update_id
    first_cancel = me.button("cancel")
    async with ctx.db.transaction() as session:
        row = await current(session=session, user_id=DUTY)
    assert handled_before(row, started_by) and not handled_before(row, started_by + 1)
    await me.type("")
    async with ctx.db.transaction() as session:
        row = await current(session=session, user_id=DUTY)
    assert handled_before(row, me.update_id), "a refused answer is not handled twice"
    # Started again (the button pressed again): the first run's buttons are stale.
    await me.start("patrol_note", PatrolNote(round_id))
    assert (await me.press(first_cancel)).kind == "stale"
    cancelled = await me.act("cancel")
    assert cancelled.kind == "cancelled"
    assert await me.step() is None
    # /cancel with nothing open says so.
    async with ctx.db.transaction() as session:
        assert (await me.engine().cancel(session=session, user_id=DUTY)).kind == "none"


def test_a_rest_field_carries_any_text_and_a_kind_may_refuse_combinations() -> None:
    """Typed buttons: a Rest field keeps separators; __post_init__'s ValueError parses to None."""
    from bot.records.buttons import RecordsPage

    page = RecordsPage(3, "a", None, "i", 2026, 11, True, "门户: 首页:")
    data = page.pack()
    assert data == "r:3:a::i:2026:11:1:门户: 首页:"
    assert RecordsPage.parse(data) == page
    assert RecordsPage.longest() == 64
    with pytest.raises(ValueError):
        RecordsPage(0, "a", None, None, None, 11, False)
    assert RecordsPage.parse("r:0:a::::11:0:") is None
    assert RecordsPage.parse("r:0:a::::0:" + "门" * 14) is None
