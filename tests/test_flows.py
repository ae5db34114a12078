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
from tests.office import ADMIN, DUTY, LEADER, STAFF, TECH, service_office

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


# ---- early warnings (R9): composing one, and lifting one ---------------------------------------

# This block stands alone (each ported flow appends its own), so it imports here.
from typing import cast  # noqa: E402

from bot.warnings import early_warning  # noqa: E402
from bot.warnings.flows import COMPOSE as WARNING_FLOW  # noqa: E402
from bot.warnings.flows import KIND as WARNING_KIND  # noqa: E402
from bot.warnings.flows import LIFT as LIFT_FLOW  # noqa: E402
from bot.warnings.flows import LIFT_KIND, LiftDraft  # noqa: E402
from handlers.platform import flows as adapter  # noqa: E402
from handlers.platform.common import BotContext  # noqa: E402
from storage import warnings as warnings_q  # noqa: E402


async def _warning_draft(ctx: AppContext, user_id: int) -> Any:
    """A new warning draft as /warn starts it: the composer's name and role for the preview."""
    async with ctx.db.transaction() as session:
        sender = await early_warning.require_composer(session=session, user_id=user_id)
    return early_warning.WarningDraft(
        sender=sender.name, sender_role=early_warning.role_used(sender).value
    )


def _warning_flows(ctx: AppContext) -> None:
    _flows(ctx, WARNING_FLOW, LIFT_FLOW)


class _Shown:
    """Just enough of a handler's context for the adapter's rendering functions."""

    def __init__(self, ctx: AppContext) -> None:
        self.app_ctx = ctx


async def test_r9_warning_flow_every_step_back_skip_toggles_and_send(ctx: AppContext) -> None:
    """R9: /warn walks level → title → what → defence → source → audience → preview → Send.

    Every step's reader refuses a bad answer with its reason; Back returns; Skip leaves the
    source out; the roles toggle in place and none chosen is refused; the preview knows the
    audience's size; Send broadcasts it and ends the flow.
    """
    _warning_flows(ctx)
    me = Driver(ctx, TECH)
    asked = await me.start(WARNING_KIND, await _warning_draft(ctx, TECH))
    assert asked.kind == "ask" and asked.step is not None and asked.step.name == "level"
    assert not asked.can_back
    refused = await me.type("yellow")
    assert refused.kind == "rejected" and refused.error is not None
    assert refused.error.key == "conversations.want_button"
    title = await me.pick("yellow")
    assert title.step is not None and title.step.name == "title"
    assert title.fold is not None and callable(title.fold.answer)
    assert "Yellow" in title.fold.answer("en")
    back = await me.act("back")
    assert back.step is not None and back.step.name == "level"
    assert back.fold is not None and back.fold.mark == "back"
    await me.pick("orange")

    too_long = await me.type("T" * 101)
    assert too_long.error is not None and too_long.error.key == "warnings.bad_title"
    assert too_long.error.params == {"length": 101}
    photo = await me.type(file=FileRef("photo", "file-1", "u-1"))
    assert photo.error is not None and photo.error.key == "warnings.want_text"
    assert await me.step() == "title"
    assert (await me.type("  Worm scanning port 445 ")).step.name == "what"  # type: ignore[union-attr]
    assert (await me.type("w" * 2000)).step.name == "defence"  # type: ignore[union-attr]
    # Each text within its own limit, but together they would not fit one message.
    crowded = await me.type("d" * 2000)
    assert crowded.error is not None and crowded.error.key == "warnings.too_long"
    assert (await me.act("back")).step.name == "what"  # type: ignore[union-attr]
    await me.type("It scans port 445 on every host it reaches.")
    source = await me.type("Close port 445 at the firewall.")
    assert source.step is not None and source.step.name == "source"
    bad_link = await me.type("ftp://files.example.org/advisory.txt")
    assert bad_link.error is not None and bad_link.error.key == "warnings.bad_url"
    audience = await me.act("skip")
    assert audience.step is not None and audience.step.name == "audience"
    assert audience.fold is not None and audience.fold.answer is not None
    assert callable(audience.fold.answer) and audience.fold.answer("en") == "—"
    assert audience.state.source_url is None and audience.state.source_done

    none_chosen = await me.pick("chosen")
    assert none_chosen.kind == "rejected" and none_chosen.error is not None
    assert none_chosen.error.key == "warnings.choose_roles"
    toggled = await me.pick("duty")
    assert toggled.kind == "redraw" and toggled.state.roles == ["duty"]
    await me.pick("staff")
    toggled = await me.pick("duty")
    assert toggled.kind == "redraw" and toggled.state.roles == ["staff"]
    # The toggles are kept in the row (a repeat of the last one is known): a fresh engine
    # shows them as chosen.
    async with ctx.db.transaction() as session:
        assert handled_before(await current(session=session, user_id=TECH), me.update_id)
        again = await me.engine().again(session=session, env=ctx.env(), user_id=TECH)
    assert again.step is not None and again.step.name == "audience"
    assert again.step.options is not None
    labels = [o.label("en") for o in again.step.options(again.state, ctx.env())]
    assert "✅ staff" in labels and "⬜ duty officer" in labels

    preview = await me.pick("chosen")
    assert preview.step is not None and preview.step.name == "preview"
    assert (preview.view["people"], preview.view["chats"]) == (1, 0)
    assert not preview.view["needs_approval"]
    assert preview.view["w"].title == "Worm scanning port 445"
    assert preview.fold is not None and callable(preview.fold.answer)
    assert preview.fold.answer("en") == "staff"
    typed = await me.type("send it")
    assert typed.kind == "rejected" and typed.error is not None
    assert typed.error.key == "conversations.want_button"
    await me.act("back")
    everyone = await me.pick("everyone")
    assert everyone.step is not None and everyone.step.name == "preview"
    assert everyone.state.everyone and everyone.state.roles == []
    assert everyone.view["people"] == 5

    sent = await me.act("submit")
    assert sent.kind == "finished" and sent.finished is not None
    # No message of its own: the broadcast's progress message follows through the outbox.
    assert sent.finished.template is None and sent.finished.toast is not None
    assert "progress" in sent.finished.toast("en")
    assert await me.step() is None
    async with ctx.db.transaction() as session:
        (warning,) = await warnings_q.warnings_in_status(session=session, status="active")
    assert (warning.level, warning.title, warning.audience_roles) == (
        "orange",
        "Worm scanning port 445",
        [],
    )
    assert warning.what == "It scans port 445 on every host it reaches."
    assert warning.source_url is None and warning.sender_id == TECH


async def test_r9_a_red_warning_from_the_tech_center_finishes_waiting_for_a_leader(
    ctx: AppContext,
) -> None:
    """R9: the preview says a red warning needs approval; Send puts it before the leaders."""
    _warning_flows(ctx)
    me = Driver(ctx, TECH)
    await me.start(WARNING_KIND, await _warning_draft(ctx, TECH))
    await me.pick("red")
    await me.type("Core switch exploit")
    await me.type("An exploit for the core switches is in the wild.")
    await me.type("Apply the vendor's patch tonight.")
    await me.type("https://www.cert.org.cn/advisory")
    preview = await me.pick("everyone")
    assert preview.view["needs_approval"]
    assert preview.state.source_url == "https://www.cert.org.cn/advisory"
    sent = await me.act("submit")
    assert sent.finished is not None and sent.finished.template == "warnings/waiting"
    assert sent.finished.values["approvers"] == "leaders"
    assert sent.finished.values["warning"].status == "pending_approval"
    assert sent.finished.toast is not None and "approval" in sent.finished.toast("en")
    told = ctx.renderer.render("en", "warnings/waiting", **sent.finished.values)
    assert "waiting for a leader's approval" in told

    # A leader's own red warning needs nobody's approval.
    leader = Driver(ctx, LEADER)
    await leader.start(WARNING_KIND, await _warning_draft(ctx, LEADER))
    await leader.pick("red")
    for answer in ("Core switch exploit", "It is in the wild.", "Patch tonight."):
        await leader.type(answer)
    await leader.act("skip")
    assert not (await leader.pick("everyone")).view["needs_approval"]


async def test_r9_warning_flow_stale_buttons_repeats_cancel_and_restart(ctx: AppContext) -> None:
    """R9: an answered prompt's button is stale; a repeated update is known; Cancel ends it."""
    _warning_flows(ctx)
    me = Driver(ctx, TECH)
    await me.start(WARNING_KIND, await _warning_draft(ctx, TECH))
    old = me.button("pick", "yellow")
    await me.press(old)
    moved_by = me.update_id
    assert (await me.press(old)).kind == "stale"
    forged = FlowPress(run="ffffff", step="title", action="skip")
    assert (await me.press(forged)).kind == "stale"
    # The title step offers no buttons but Back and Cancel.
    assert (await me.pick("red")).kind == "stale"
    assert (await me.act("skip")).kind == "stale"
    assert await me.step() == "title"
    async with ctx.db.transaction() as session:
        row = await current(session=session, user_id=TECH)
    assert handled_before(row, moved_by) and not handled_before(row, moved_by + 1)

    # Resumed by a fresh engine (a restart): the answers so far are kept.
    await me.type("Suspicious USB sticks")
    assert await me.step() == "what"
    async with ctx.db.transaction() as session:
        row = await current(session=session, user_id=TECH)
    assert row is not None and row.data["level"] == "yellow"
    assert row.data["title"] == "Suspicious USB sticks"
    # The typed answer is known when Telegram sends it again.
    assert handled_before(row, me.update_id)

    # /warn again starts afresh (a warning is not resumed), then Cancel ends it.
    fresh = await me.start(WARNING_KIND, await _warning_draft(ctx, TECH))
    assert fresh.step is not None and fresh.step.name == "level"
    assert fresh.state.title is None
    red = me.button("pick", "red")
    cancelled = await me.act("cancel")
    assert cancelled.kind == "cancelled" and cancelled.fold is not None
    assert cancelled.fold.mark == "cancel"
    assert await me.step() is None
    # A button of the cancelled prompt, pressed after all.
    assert (await me.press(red)).kind == "stale"

    # /cancel in the middle of it.
    await me.start(WARNING_KIND, await _warning_draft(ctx, TECH))
    await me.pick("blue")
    async with ctx.db.transaction() as session:
        by_command = await me.engine().cancel(session=session, user_id=TECH)
    assert by_command.kind == "cancelled" and by_command.flow is not None
    assert by_command.flow.name("en") == "early warning"
    assert await me.step() is None


async def test_r9_the_audience_keyboard_and_the_preview_name_the_real_buttons(
    ctx: AppContext,
) -> None:
    """R9: Everyone and Chosen roles each take a row; the preview names the buttons it shows."""
    _warning_flows(ctx)
    shown = cast(BotContext, _Shown(ctx))
    me = Driver(ctx, TECH)
    await me.start(WARNING_KIND, await _warning_draft(ctx, TECH))
    await me.pick("blue")
    for answer in ("Phishing site", "It imitates the OA login page.", "Do not log in there."):
        await me.type(answer)
    audience = await me.act("skip")
    await me.pick("duty")
    audience = me.last
    assert audience is not None
    rows = [[button.text for button in row] for row in adapter.keyboard(shown, audience, "en")]
    assert rows == [
        ["👥 Everyone"],
        ["⬜ staff", "✅ duty officer"],
        ["⬜ tech center", "⬜ leadership group"],
        ["⬜ admin"],
        ["Continue with the chosen roles"],
        ["⬅️ Back", "✖️ Cancel"],
    ]
    preview = await me.pick("chosen")
    for language in ("zh_CN", "en"):
        keyboard = [b.text for row in adapter.keyboard(shown, preview, language) for b in row]
        (intro,) = adapter.intro(shown, preview, language)
        # Whatever the intro tells the person to press is a button they can see.
        assert len(keyboard) == 3
        assert all(f"“{label}”" in intro or f"「{label}」" in intro for label in keyboard)
    question = adapter.question(shown, preview, "en")[-1]
    assert "Phishing site" in question and "Tech Sun" in question


async def test_r9_lift_flow_note_refusals_cancel_and_a_warning_lifted_meanwhile(
    ctx: AppContext,
) -> None:
    """R9: /lift asks one closing note; a bad one is refused; Cancel ends it; a lift refused."""
    _warning_flows(ctx)
    draft = await _warning_draft(ctx, TECH)
    async with ctx.db.transaction() as session:
        draft.level, draft.title, draft.what, draft.defence = "yellow", "Weak VPN", "x", "y"
        draft.everyone = True
        warning = (
            await early_warning.submit(session=session, ctx=ctx, sender_id=TECH, draft=draft)
        ).warning
    lift = LiftDraft(warning_id=warning.id, level=warning.level, title=warning.title)

    me = Driver(ctx, TECH)
    asked = await me.start(LIFT_KIND, lift)
    assert asked.step is not None and asked.step.name == "note" and not asked.can_back
    cancelled = await me.act("cancel")
    assert cancelled.kind == "cancelled" and await me.step() is None

    await me.start(LIFT_KIND, lift)
    photo = await me.type(file=FileRef("photo", "file-1", "u-1"))
    assert photo.error is not None and photo.error.key == "warnings.want_text"
    too_long = await me.type("n" * 1001)
    assert too_long.error is not None and too_long.error.key == "warnings.bad_note"
    assert await me.step() == "note"  # a fresh engine finds the step again
    done = await me.type("Passwords reset; VPN requires a token now.")
    assert done.kind == "finished" and done.finished is not None
    assert done.finished.template is None
    assert (
        done.fold is not None and done.fold.answer == "Passwords reset; VPN requires a token now."
    )
    assert await me.step() is None
    async with ctx.db.transaction() as session:
        stored = await early_warning.q.get_warning(session=session, warning_id=warning.id)
    assert stored is not None and stored.status == "lifted"
    assert stored.closing_note == "Passwords reset; VPN requires a token now."

    # Lifted meanwhile (the note was asked before): told why, and the flow ends.
    await me.start(LIFT_KIND, lift)
    late = await me.type("Again.")
    assert late.kind == "finished" and late.finished is not None
    assert late.finished.template == "warnings/lift_refused"
    assert late.finished.values["key"] == "warnings.not_active"
    told = ctx.renderer.render("en", late.finished.template, **late.finished.values)
    assert "This warning is not in force." in told
    assert await me.step() is None


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
