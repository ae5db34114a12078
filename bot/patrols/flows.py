"""The patrol note as a flow (R11): one typed step after "All normal", kept with the round.

The note is checked as it is typed (`patrol_rounds.check_note`, its length limit) and again by
`patrol_rounds.add_note` on saving, which also checks that the round is still one the person
answered "all normal".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import partial
from typing import Any, Self

from sqlalchemy.ext.asyncio import AsyncSession

from bot.patrols import patrol_rounds
from bot.platform.errors import Invalid
from bot.platform.flows import Answer, Env, Finished, Flow, Step
from messages import patrols as texts
from messages.conversations import kind_label
from messages.i18n import gettext_for

NOTE_LIMIT = patrol_rounds.NOTE_LIMIT


@dataclass
class PatrolNote:
    """The round a note is for, and the note once typed."""

    round_id: int = 0
    note: str = ""

    def to_data(self) -> dict[str, Any]:
        """The state as JSON."""
        return asdict(self)

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Self:
        """The state from JSON."""
        return cls(round_id=int(data.get("round_id", 0)), note=str(data.get("note", "")))


def _type_note(state: PatrolNote, answer: Answer, env: Env) -> None:
    if answer.file is not None:
        raise Invalid("patrols.want_text")
    state.note = patrol_rounds.check_note(answer.text)


async def _view(session: AsyncSession, ctx: Any, state: PatrolNote) -> dict[str, Any]:
    return {"limit": NOTE_LIMIT}


async def _keep_note(session: AsyncSession, ctx: Any, user_id: int, state: PatrolNote) -> Finished:
    await patrol_rounds.add_note(
        session=session, ctx=ctx, round_id=state.round_id, user_id=user_id, note=state.note
    )
    return Finished("patrols/note_saved")


PATROL_NOTE: Flow[PatrolNote] = Flow(
    kind="patrol_note",
    steps=(
        Step(
            "note",
            "patrols/note_ask",
            partial(gettext_for, message=texts.NOTE_FIELD),
            typed=_type_note,
            after=None,
        ),
    ),
    state=PatrolNote,
    finish=_keep_note,
    name=lambda language: kind_label(language, "patrol_note"),
    view=_view,
)
