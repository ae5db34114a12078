"""The handling flows as tables (R7 R1 R8 R10): an update, a level change, the close, the end.

Each starts from a card's button (in any chat) and runs in the presser's private chat:

- progress update: the text → `progress.post_update`;
- change level: the new level (buttons: the other levels) → the reason → `progress.relevel`;
- the close: consequences → process (typed, or the draft from the timeline kept) → result →
  ended (typed, or Now) → recommendations → review (Submit, or a field's Edit) →
  `closing.resolve`, with the Word document for a closer who is in none of the routed chats;
- the end of the emergency: the expert group's note (typed, or declare now) →
  `closing.declare_over`.

`begin` checks that the presser may start one (role, the incident's state) and gives its
first state. A typed answer is held to the services' own limits as it is typed; the service
each flow finishes with checks everything again, whatever brought the request.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from functools import partial
from typing import Any, Self

from sqlalchemy.ext.asyncio import AsyncSession

from bot.handling import closing, progress, report_doc
from bot.handling.closing import CloseDraft
from bot.platform.context import AppContext
from bot.platform.errors import Invalid, NotFound
from bot.platform.flows import Answer, Env, Finished, Flow, Label, Option, Step
from bot.platform.roles import Level
from bot.platform.timeparse import parse_when
from messages import handling as texts
from messages import incidents as incident_texts
from messages.common import level_label
from messages.conversations import kind_label
from messages.i18n import gettext_for
from storage import access as access_q
from storage import incidents as incident_q

UPDATE, RELEVEL, CLOSE, OVER = "update", "relevel", "close", "over"
KINDS = (UPDATE, RELEVEL, CLOSE, OVER)
CLOSE_FIELDS = ("consequences", "process", "result", "ended", "recommendations")
RECAP_LIMIT = 200  # a long answer folds to its start (the person's own message shows it all)


class _Stored:
    """A flow state kept as JSON in the person's conversation row."""

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Self:
        """The state from stored JSON (other keys, like the engine's own, are left out)."""
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in data.items() if k in names})

    def to_data(self) -> dict[str, Any]:
        """The state as JSON."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]


@dataclasses.dataclass
class UpdateDraft(_Stored):
    """A progress update being written."""

    incident_id: int = 0
    is_drill: bool = False
    text: str = ""


@dataclasses.dataclass
class RelevelDraft(_Stored):
    """A level change: the level the incident had when it began, the new one, and why."""

    incident_id: int = 0
    is_drill: bool = False
    current: str = ""
    level: str | None = None
    reason: str = ""


@dataclasses.dataclass
class OverDraft(_Stored):
    """The end of an incident's emergency being declared, with the expert group's note."""

    incident_id: int = 0
    is_drill: bool = False
    note: str = ""


# ---- shared pieces -----------------------------------------------------------------------------


def _label(message: str) -> Label:
    return partial(gettext_for, message=message)


def _drill_mark(language: str) -> str:
    return "🎯 " + gettext_for(language, incident_texts.DRILL_MARK)


def _marked(state: Any) -> Label | None:
    """A flow about a drill's incident marks every answer it folds as the drill's."""
    return _drill_mark if state.is_drill else None


async def _incident_view(session: AsyncSession, ctx: Any, state: Any) -> dict[str, Any]:
    """The incident the flow is about, for its questions (their heading names it)."""
    incident = await incident_q.get_incident(session=session, incident_id=state.incident_id)
    if incident is None:
        raise NotFound("incidents.not_found")
    return {"incident": incident}


def _words(answer: Answer) -> str:
    if answer.file is not None:
        raise Invalid("conversations.want_text")
    return answer.text.strip()


def _short(text: str | None) -> str:
    text = text or ""
    return text if len(text) <= RECAP_LIMIT else text[: RECAP_LIMIT - 1] + "…"


# ---- progress update (R7) ----------------------------------------------------------------------


def _type_update(draft: UpdateDraft, answer: Answer, env: Env) -> None:
    draft.text = progress.check_update(_words(answer))


def _recap_update(draft: UpdateDraft, language: str, env: Env) -> str:
    return _short(draft.text)


async def _post_update(
    session: AsyncSession, ctx: Any, user_id: int, draft: UpdateDraft
) -> Finished:
    incident, count = await progress.post_update(
        session=session, ctx=ctx, incident_id=draft.incident_id, user_id=user_id, text=draft.text
    )
    return Finished("handling/update_posted", {"incident": incident, "count": count})


UPDATE_FLOW: Flow[UpdateDraft] = Flow(
    kind=UPDATE,
    steps=(
        Step(
            "text",
            "handling/update_prompt",
            _label(texts.UPDATE_FIELD),
            typed=_type_update,
            recap=_recap_update,
        ),
    ),
    state=UpdateDraft,
    finish=_post_update,
    name=lambda language: kind_label(language, UPDATE),
    view=_incident_view,
    marked=_marked,
)


# ---- change of level (R1) ----------------------------------------------------------------------


def _other_levels(draft: RelevelDraft, env: Env) -> list[Option]:
    return [
        Option(lv.value, partial(level_label, level=lv.value))
        for lv in Level
        if lv.value != draft.current
    ]


def _choose_level(draft: RelevelDraft, value: str, env: Env) -> None:
    draft.level = Level(value).value


def _recap_level(draft: RelevelDraft, language: str, env: Env) -> str:
    return level_label(language, draft.level or "")


def _type_reason(draft: RelevelDraft, answer: Answer, env: Env) -> None:
    draft.reason = progress.check_reason(_words(answer))


def _recap_reason(draft: RelevelDraft, language: str, env: Env) -> str:
    return _short(draft.reason)


async def _relevel(session: AsyncSession, ctx: Any, user_id: int, draft: RelevelDraft) -> Finished:
    done = await progress.relevel(
        session=session,
        ctx=ctx,
        incident_id=draft.incident_id,
        user_id=user_id,
        level=draft.level or "",
        reason=draft.reason,
    )
    return Finished(
        "handling/relevel_done",
        {"incident": done.incident, "added": done.added, "missing": done.missing},
    )


RELEVEL_FLOW: Flow[RelevelDraft] = Flow(
    kind=RELEVEL,
    steps=(
        Step(
            "level",
            "handling/relevel_level",
            _label(texts.LEVEL_FIELD),
            options=_other_levels,
            choose=_choose_level,
            recap=_recap_level,
            columns=2,
        ),
        Step(
            "reason",
            "handling/relevel_reason",
            _label(texts.REASON_FIELD),
            typed=_type_reason,
            recap=_recap_reason,
        ),
    ),
    state=RelevelDraft,
    finish=_relevel,
    name=lambda language: kind_label(language, RELEVEL),
    view=_incident_view,
    marked=_marked,
)


# ---- the close and its situation report (R8) ---------------------------------------------------


def _typed_field(name: str) -> Callable[[CloseDraft, Answer, Env], None]:
    def read(draft: CloseDraft, answer: Answer, env: Env) -> None:
        setattr(draft, name, closing.check_text(name, _words(answer)))

    return read


def _recap_field(name: str) -> Callable[[CloseDraft, str, Env], str]:
    def recap(draft: CloseDraft, language: str, env: Env) -> str:
        return _short(getattr(draft, name))

    return recap


def _keep_process(draft: CloseDraft, env: Env) -> list[Option]:
    return [Option("keep", _label(texts.KEEP_TEXT))]


def _kept(draft: CloseDraft, value: str, env: Env) -> None:
    # The text the question shows: the draft from the timeline, or the closer's own version.
    draft.process = closing.check_text("process", draft.process or draft.suggested_process)


def _recap_process(draft: CloseDraft, language: str, env: Env) -> str:
    if draft.process == draft.suggested_process:
        return gettext_for(language, texts.KEPT_PROCESS)
    return _short(draft.process)


def _end_now(draft: CloseDraft, env: Env) -> list[Option]:
    return [Option("now", _label(texts.END_NOW))]


def _ended_now(draft: CloseDraft, value: str, env: Env) -> None:
    draft.ended_at = env.now.isoformat()


def _type_ended(draft: CloseDraft, answer: Answer, env: Env) -> None:
    ended = parse_when(_words(answer), now=env.now, tz=env.ctx.policy.tz)
    reported = draft.reported
    if reported is not None:
        closing.check_end(env.ctx, reported, ended)
    draft.ended_at = ended.isoformat()


def _recap_ended(draft: CloseDraft, language: str, env: Env) -> str:
    return str(env.ctx.renderer.format_datetime(draft.ended))


def _close_field(name: str) -> Label:
    return partial(texts.close_field_label, field=name)


CLOSE_STEPS: tuple[Step[CloseDraft], ...] = (
    Step(
        "consequences",
        "handling/close_step",
        _close_field("consequences"),
        typed=_typed_field("consequences"),
        recap=_recap_field("consequences"),
    ),
    Step(
        "process",
        "handling/close_step",
        _close_field("process"),
        options=_keep_process,
        choose=_kept,
        typed=_typed_field("process"),
        recap=_recap_process,
    ),
    Step(
        "result",
        "handling/close_step",
        _close_field("result"),
        typed=_typed_field("result"),
        recap=_recap_field("result"),
    ),
    Step(
        "ended",
        "handling/close_step",
        _close_field("ended"),
        options=_end_now,
        choose=_ended_now,
        typed=_type_ended,
        recap=_recap_ended,
    ),
    Step(
        "recommendations",
        "handling/close_step",
        _close_field("recommendations"),
        typed=_typed_field("recommendations"),
        recap=_recap_field("recommendations"),
    ),
    Step(
        "review",
        "handling/close_review",
        _label(texts.REPORT_FIELD),
        review=True,
        edits=CLOSE_FIELDS,
        submit=_label(texts.SUBMIT),
        back=False,
    ),
)


async def _resolve(session: AsyncSession, ctx: Any, user_id: int, draft: CloseDraft) -> Finished:
    done = await closing.resolve(session=session, ctx=ctx, user_id=user_id, draft=draft)
    documents: tuple[tuple[str, bytes, str], ...] = ()
    if user_id not in done.chat_ids:
        # The closer reads the report in none of the routed chats: the document comes to them.
        closer = await access_q.get_user(session=session, user_id=user_id)
        language = closer.language if closer is not None else "zh_CN"
        incident = done.incident
        view = await closing.report_view(session=session, incident=incident, report=done.report)
        caption = ctx.renderer.render(language, "handling/document_caption", incident=incident)
        content = report_doc.build(ctx=ctx, language=language, view=view)
        documents = ((report_doc.filename(incident), content, str(caption)),)
    values = {"incident": done.incident, "count": len(done.chat_ids)}
    return Finished("handling/resolved_done", values, documents=documents)


CLOSE_FLOW: Flow[CloseDraft] = Flow(
    kind=CLOSE,
    steps=CLOSE_STEPS,
    state=CloseDraft,
    finish=_resolve,
    name=lambda language: kind_label(language, CLOSE),
    view=_incident_view,
    marked=_marked,
)


# ---- the end of the emergency (R10) ------------------------------------------------------------


def _declare_now(draft: OverDraft, env: Env) -> list[Option]:
    return [Option("now", _label(texts.DECLARE_NOW))]


def _no_note(draft: OverDraft, value: str, env: Env) -> None:
    draft.note = ""


def _type_note(draft: OverDraft, answer: Answer, env: Env) -> None:
    note = _words(answer)
    if not 1 <= len(note) <= closing.NOTE_LIMIT:
        raise Invalid("handling.bad_text", limit=closing.NOTE_LIMIT)
    draft.note = note


def _recap_note(draft: OverDraft, language: str, env: Env) -> str:
    return _short(draft.note) if draft.note else gettext_for(language, texts.NO_NOTE)


async def _declare_over(
    session: AsyncSession, ctx: Any, user_id: int, draft: OverDraft
) -> Finished:
    incident, count = await closing.declare_over(
        session=session, ctx=ctx, incident_id=draft.incident_id, user_id=user_id, note=draft.note
    )
    return Finished("handling/over_done", {"incident": incident, "count": count})


OVER_FLOW: Flow[OverDraft] = Flow(
    kind=OVER,
    steps=(
        Step(
            "note",
            "handling/over_prompt",
            _label(texts.NOTE_FIELD),
            options=_declare_now,
            choose=_no_note,
            typed=_type_note,
            recap=_recap_note,
        ),
    ),
    state=OverDraft,
    finish=_declare_over,
    name=lambda language: kind_label(language, OVER),
    view=_incident_view,
    marked=_marked,
)

FLOWS: tuple[Flow[Any], ...] = (UPDATE_FLOW, RELEVEL_FLOW, CLOSE_FLOW, OVER_FLOW)


# ---- starting one ------------------------------------------------------------------------------


async def begin(
    *, session: AsyncSession, ctx: AppContext, kind: str, incident_id: int, user_id: int
) -> Any:
    """The first state of a handling flow, if the person may start it on the incident now."""
    if kind == UPDATE:
        incident = await progress.may_update(
            session=session, incident_id=incident_id, user_id=user_id
        )
        return UpdateDraft(incident_id=incident.id, is_drill=incident.is_drill)
    if kind == RELEVEL:
        incident = await progress.may_relevel(
            session=session, ctx=ctx, incident_id=incident_id, user_id=user_id
        )
        return RelevelDraft(
            incident_id=incident.id, is_drill=incident.is_drill, current=incident.level
        )
    if kind == CLOSE:
        incident = await closing.may_resolve(
            session=session, ctx=ctx, incident_id=incident_id, user_id=user_id
        )
        suggested = await closing.process_draft(session=session, ctx=ctx, incident=incident)
        return CloseDraft(
            incident_id=incident.id,
            suggested_process=suggested,
            reported_at=incident.reported_at.isoformat(),
            is_drill=incident.is_drill,
        )
    if kind == OVER:
        incident = await closing.may_declare_over(
            session=session, incident_id=incident_id, user_id=user_id
        )
        return OverDraft(incident_id=incident.id, is_drill=incident.is_drill)
    raise KeyError(kind)
