"""Composing an early warning and lifting one, as flows (R9): their steps and their limits.

/warn: level → title → what is happening → how to defend → source (a link, or Skip) →
audience (Everyone; or roles toggled on and off in place, then Chosen roles) → preview (the
warning as its recipients will read it, with the audience's size; Send). A red warning from
someone who is not a leader goes before the leaders instead of out.

/lift <number>: one step, the closing note; the lift then goes to the warning's audience.

The limits a typed answer must meet are the service's own readers (`clean_title`,
`clean_text`, `clean_url`, `check_fits`, `clean_note`); `early_warning.submit` and
`early_warning.lift` check them again, whatever brought the draft.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.platform.errors import Invalid, NotAllowed, NotFound, Stale
from bot.platform.flows import Answer, Env, Finished, Flow, Label, Option, Step
from bot.platform.roles import Role
from bot.warnings import early_warning
from bot.warnings.early_warning import AUDIENCE_ROLES, WarningDraft, WarningLevel, WarningView
from messages import warnings as texts
from messages.conversations import kind_label
from messages.i18n import gettext_for

KIND = "warning"
LIFT_KIND = "lift"
EVERYONE = "everyone"
CHOSEN = "chosen"


def _label(message: str) -> Label:
    return partial(gettext_for, message=message)


def _words(answer: Answer) -> str:
    if answer.file is not None:
        raise Invalid("warnings.want_text")
    return answer.text


# ---- composing ---------------------------------------------------------------------------------


def _levels(draft: WarningDraft, env: Env) -> list[Option]:
    return [Option(lv.value, partial(texts.level_button, level=lv.value)) for lv in WarningLevel]


def _choose_level(draft: WarningDraft, value: str, env: Env) -> None:
    draft.level = WarningLevel(value).value


def _type_title(draft: WarningDraft, answer: Answer, env: Env) -> None:
    draft.title = early_warning.clean_title(_words(answer))


def _type_what(draft: WarningDraft, answer: Answer, env: Env) -> None:
    draft.what = early_warning.clean_text(_words(answer), what="what")


def _type_defence(draft: WarningDraft, answer: Answer, env: Env) -> None:
    draft.defence = early_warning.clean_text(_words(answer), what="defence")
    # Each text is within its limit; together they must still make one message.
    early_warning.check_fits(
        env.ctx, draft=draft, sender=draft.sender, sender_role=draft.sender_role
    )


def _type_source(draft: WarningDraft, answer: Answer, env: Env) -> None:
    draft.source_url = early_warning.clean_url(_words(answer))
    draft.source_done = True


def _skip_source(draft: WarningDraft) -> None:
    draft.source_url, draft.source_done = None, True


def _recap_source(draft: WarningDraft, language: str, env: Env) -> str:
    return draft.source_url or "—"


def _audience(draft: WarningDraft, env: Env) -> list[Option]:
    toggles = [
        Option(
            role.value,
            partial(texts.role_toggle, role=role.value, chosen=role.value in draft.roles),
            stay=True,
        )
        for role in AUDIENCE_ROLES
    ]
    return [
        Option(EVERYONE, _label(texts.EVERYONE), wide=True),
        *toggles,
        Option(CHOSEN, _label(texts.CHOSEN_ROLES), wide=True),
    ]


def _choose_audience(draft: WarningDraft, value: str, env: Env) -> None:
    if value == EVERYONE:
        draft.everyone, draft.roles = True, []
    elif value == CHOSEN:
        if not draft.roles:
            raise Invalid("warnings.choose_roles")
        draft.everyone = False
    else:
        # A role pressed: chosen if it was not, left out if it was.
        draft.everyone = False
        draft.roles = sorted(set(draft.roles) ^ {value})


def _recap_audience(draft: WarningDraft, language: str, env: Env) -> str:
    return texts.audience_label(language, draft.audience_roles)


def preview_of(draft: WarningDraft) -> WarningView:
    """The warning as its recipients will read it, while it is still a draft."""
    return WarningView(
        level=draft.level or WarningLevel.BLUE,
        title=draft.title or "",
        what=draft.what or "",
        defence=draft.defence or "",
        source_url=draft.source_url,
        sender=draft.sender,
        sender_role=draft.sender_role,
    )


async def _view(session: AsyncSession, ctx: Any, draft: WarningDraft) -> dict[str, Any]:
    """The levels to explain, and at the preview the warning and who it reaches."""
    people = chats = 0
    if not draft.missing():
        people, chats = await early_warning.audience_size(
            session=session, roles=draft.audience_roles
        )
    return {
        "levels": [level.value for level in WarningLevel],
        "w": preview_of(draft),
        "people": people,
        "chats": chats,
        "needs_approval": draft.level == WarningLevel.RED and draft.sender_role != Role.LEADER,
    }


async def _send(session: AsyncSession, ctx: Any, user_id: int, draft: WarningDraft) -> Finished:
    submitted = await early_warning.submit(session=session, ctx=ctx, sender_id=user_id, draft=draft)
    if submitted.waiting_for_approval:
        return Finished(
            "warnings/waiting",
            {"warning": submitted.warning, "approvers": submitted.approvers},
            toast=_label(texts.WAITING_ALERT),
        )
    # Nothing more to say here: the progress message comes through the outbox.
    return Finished(None, toast=_label(texts.SENDING_ALERT))


STEP = {name: _label(message) for name, message in texts.STEP_NAMES.items()}

COMPOSE_STEPS: tuple[Step[WarningDraft], ...] = (
    Step(
        "level",
        "warnings/ask",
        STEP["level"],
        options=_levels,
        choose=_choose_level,
        columns=2,
    ),
    Step("title", "warnings/ask", STEP["title"], typed=_type_title),
    Step("what", "warnings/ask", STEP["what"], typed=_type_what),
    Step("defence", "warnings/ask", STEP["defence"], typed=_type_defence),
    Step(
        "source",
        "warnings/ask",
        STEP["source"],
        typed=_type_source,
        skip=_skip_source,
        recap=_recap_source,
    ),
    Step(
        "audience",
        "warnings/ask",
        STEP["audience"],
        options=_audience,
        choose=_choose_audience,
        recap=_recap_audience,
        columns=2,
    ),
    Step(
        "preview",
        "warnings/preview",
        STEP["preview"],
        intro="warnings/preview_intro",
        review=True,
        submit=_label(texts.SEND),
    ),
)

COMPOSE: Flow[WarningDraft] = Flow(
    kind=KIND,
    steps=COMPOSE_STEPS,
    state=WarningDraft,
    finish=_send,
    name=lambda language: kind_label(language, KIND),
    view=_view,
)


# ---- lifting -----------------------------------------------------------------------------------


@dataclass
class LiftDraft:
    """The warning being lifted, as the closing note's question shows it."""

    warning_id: int = 0
    level: str = ""
    title: str = ""
    note: str | None = None

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> LiftDraft:
        """Read from stored JSON."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def to_data(self) -> dict[str, Any]:
        """As JSON for the conversation row."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _type_note(draft: LiftDraft, answer: Answer, env: Env) -> None:
    draft.note = early_warning.clean_note(_words(answer))


async def _lift(session: AsyncSession, ctx: Any, user_id: int, draft: LiftDraft) -> Finished:
    assert draft.note is not None
    try:
        await early_warning.lift(
            session=session, ctx=ctx, warning_id=draft.warning_id, user_id=user_id, note=draft.note
        )
    except (NotFound, NotAllowed, Stale) as exc:
        # Lifted meanwhile, or the role was taken away: nothing is left to ask (and `lift`
        # refuses before it changes anything).
        return Finished("warnings/lift_refused", {"key": exc.key, "params": exc.params})
    # Nothing more to say here: the lift's progress message comes through the outbox.
    return Finished(None)


LIFT: Flow[LiftDraft] = Flow(
    kind=LIFT_KIND,
    steps=(Step("note", "warnings/lift_ask", STEP["note"], typed=_type_note, after=None),),
    state=LiftDraft,
    finish=_lift,
    name=lambda language: kind_label(language, LIFT_KIND),
)
