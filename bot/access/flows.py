"""The contacts card's guided editing as flows (R2): adding a person, changing one field.

Adding: position → name → title → area → office phone → mobile (all but the position and the
name may be skipped). Changing: the person and the field are chosen with the card's buttons
(`bot.access.buttons`), then the flow asks for the new value, starting at that field's step.
Every typed value is checked as it is typed by `contacts.check_field`; `contacts.add` and
`contacts.update_field` check the admin's role and the values again on saving.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any, Self

from sqlalchemy.ext.asyncio import AsyncSession

from bot.access import contacts
from bot.access.buttons import CONTACT_FIELDS
from bot.platform.errors import Invalid
from bot.platform.flows import Answer, Env, Finished, Flow, Label, Option, Step
from bot.platform.roles import Position
from messages import contacts as texts
from messages.common import position_label
from messages.conversations import kind_label
from messages.i18n import gettext_for
from storage import access as access_q

OPTIONAL = ("title", "area", "office_phone", "mobile")
# Positions a person can be added to; duty officers come from the roster, not the card.
POSITIONS = tuple(p for p in Position if p != Position.DUTY_OFFICER)
LEAVE_EMPTY = "clear"  # the option that leaves an optional field empty


def _label(message: str) -> Label:
    return partial(gettext_for, message=message)


FIELD = {name: _label(message) for name, message in texts.FIELD_NAMES.items()}


def _words_only(answer: Answer) -> str:
    if answer.file is not None:
        raise Invalid("conversations.want_text")
    return answer.text


# ---- adding a person ---------------------------------------------------------------------------


@dataclass
class NewContact:
    """A person being added to the card, field by field."""

    position: str = ""
    name: str = ""
    title: str = ""
    area: str = ""
    office_phone: str = ""
    mobile: str = ""

    def to_data(self) -> dict[str, Any]:
        """The state as JSON."""
        return asdict(self)

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Self:
        """The state from JSON."""
        return cls(**{name: str(data.get(name, "")) for name in ("position", *CONTACT_FIELDS)})


def _positions(state: NewContact, env: Env) -> list[Option]:
    return [Option(p.value, partial(position_label, position=p.value)) for p in POSITIONS]


def _choose_position(state: NewContact, value: str, env: Env) -> None:
    state.position = Position(value).value


def _recap_position(state: NewContact, language: str, env: Env) -> str:
    return position_label(language, state.position)


def _typed(field: str) -> Callable[[Any, Answer, Env], None]:
    def read(state: Any, answer: Answer, env: Env) -> None:
        setattr(state, field, contacts.check_field(env.ctx, field, _words_only(answer)))

    return read


def _skip(field: str) -> Callable[[Any], None]:
    def skip(state: Any) -> None:
        setattr(state, field, "")

    return skip


def _recap(field: str) -> Callable[[Any, str, Env], str]:
    def recap(state: Any, language: str, env: Env) -> str:
        return str(getattr(state, field)) or "—"

    return recap


def _ask_new(field: str) -> Step[NewContact]:
    optional = field in OPTIONAL
    return Step(
        field,
        "contacts/ask",
        FIELD[field],
        typed=_typed(field),
        skip=_skip(field) if optional else None,
        recap=_recap(field),
    )


async def _add(session: AsyncSession, ctx: Any, user_id: int, state: NewContact) -> Finished:
    contact = await contacts.add(
        session=session,
        ctx=ctx,
        admin_id=user_id,
        position=Position(state.position),
        name=state.name,
        title=state.title,
        area=state.area,
        office_phone=state.office_phone,
        mobile=state.mobile,
    )
    groups = await contacts.card(session=session)
    return Finished("contacts/saved", {"contact": contact, "groups": groups, "added": True})


CONTACT_ADD: Flow[NewContact] = Flow(
    kind="contact_add",
    steps=(
        Step(
            "position",
            "contacts/choose_position",
            _label(texts.POSITION),
            options=_positions,
            choose=_choose_position,
            recap=_recap_position,
            columns=2,
        ),
        *(_ask_new(field) for field in CONTACT_FIELDS),
    ),
    state=NewContact,
    finish=_add,
    name=lambda language: kind_label(language, "contact_add"),
)


# ---- changing one field ------------------------------------------------------------------------


@dataclass
class ContactChange:
    """One field of a person on the card being changed."""

    contact_id: int = 0
    field: str = "name"
    value: str = ""

    def to_data(self) -> dict[str, Any]:
        """The state as JSON."""
        return asdict(self)

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Self:
        """The state from JSON."""
        return cls(
            contact_id=int(data.get("contact_id", 0)),
            field=str(data.get("field", "name")),
            value=str(data.get("value", "")),
        )


def _clear_option(state: ContactChange, env: Env) -> list[Option]:
    return [Option(LEAVE_EMPTY, _label(texts.LEAVE_EMPTY))]


def _clear(state: ContactChange, value: str, env: Env) -> None:
    state.value = ""


def _first_change(state: ContactChange) -> str:
    return state.field if state.field in CONTACT_FIELDS else "name"


def _typed_change(field: str) -> Callable[[ContactChange, Answer, Env], None]:
    def read(state: ContactChange, answer: Answer, env: Env) -> None:
        state.value = contacts.check_field(env.ctx, field, _words_only(answer))

    return read


async def _view_change(session: AsyncSession, ctx: Any, state: ContactChange) -> dict[str, Any]:
    return {"contact": await access_q.get_contact(session=session, contact_id=state.contact_id)}


async def _change(session: AsyncSession, ctx: Any, user_id: int, state: ContactChange) -> Finished:
    contact = await contacts.update_field(
        session=session,
        ctx=ctx,
        admin_id=user_id,
        contact_id=state.contact_id,
        field=state.field,
        value=state.value,
    )
    groups = await contacts.card(session=session)
    return Finished("contacts/saved", {"contact": contact, "groups": groups, "added": False})


CONTACT_EDIT: Flow[ContactChange] = Flow(
    kind="contact_edit",
    steps=tuple(
        Step(
            field,
            "contacts/ask_change",
            FIELD[field],
            options=_clear_option if field in OPTIONAL else None,
            choose=_clear if field in OPTIONAL else None,
            typed=_typed_change(field),
            after=None,
            recap=_recap("value"),
        )
        for field in CONTACT_FIELDS
    ),
    state=ContactChange,
    finish=_change,
    name=lambda language: kind_label(language, "contact_edit"),
    view=_view_change,
    first=_first_change,
)
