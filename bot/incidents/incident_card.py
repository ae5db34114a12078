"""The incident card: its text, its buttons, and editing every copy in place."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from bot.incidents import routing
from bot.incidents.buttons import IncidentPress
from bot.incidents.model import Status
from bot.platform import outbox
from bot.platform.context import AppContext
from bot.platform.keyboards import Button, Keyboard
from messages import incidents as texts
from storage import access as access_q
from storage import incidents as q
from storage.models import Incident, OutboxMessage, TimelineEntry, User


def card_ref(incident_id: int) -> str:
    """The outbox reference shared by every copy of an incident's card."""
    return f"inc:{incident_id}:card"


async def people(*, session: AsyncSession, incident: Incident) -> dict[int, User]:
    """The users an incident's card names (reporter, acknowledger, handler)."""
    ids = {incident.reporter_id, incident.acknowledged_by, incident.handler_id}
    found: dict[int, User] = {}
    for user_id in ids:
        if user_id is not None:
            user = await access_q.get_user(session=session, user_id=user_id)
            if user is not None:
                found[user_id] = user
    return found


def card_keyboard(ctx: AppContext, language: str, incident: Incident) -> Keyboard:
    """The buttons a card carries at the incident's current stage."""

    label = ctx.renderer.label

    def button(message: str, action: Literal["ack", "take", "info"]) -> Button:
        data = IncidentPress(action=action, incident_id=incident.id).pack()
        return Button(label(language, message), data=data)

    rows: Keyboard = []
    if incident.status == Status.REPORTED:
        rows.append([button(texts.ACKNOWLEDGE, "ack"), button(texts.TAKE_CHARGE, "take")])
    elif incident.status == Status.ACKNOWLEDGED:
        rows.append([button(texts.TAKE_CHARGE, "take")])
    for extra in ctx.features.card_buttons:
        rows.extend(extra(ctx, language, incident))
    rows.append([button(texts.DETAILS, "info")])
    return rows


def build_card(
    ctx: AppContext,
    language: str,
    incident: Incident,
    names: dict[int, User],
    extra: dict[str, Any] | None = None,
) -> tuple[str, Keyboard]:
    """An incident's card text and buttons in a language."""
    text = ctx.renderer.render(
        language, "incidents/card", incident=incident, names=names, **(extra or {})
    )
    return text, card_keyboard(ctx, language, incident)


async def card_context(
    *, session: AsyncSession, ctx: AppContext, incident: Incident
) -> dict[str, Any]:
    """Extra values the card template shows (the installed features' `card_lines`)."""
    values: dict[str, Any] = {}
    for provider in ctx.features.card_lines:
        values.update(await provider(session, incident))
    return values


@dataclass(frozen=True)
class Details:
    """What an incident's details show: its timeline, the people it names, the card's lines."""

    incident: Incident
    timeline: list[TimelineEntry]
    names: dict[int, User]
    extra: dict[str, Any]


async def details(*, session: AsyncSession, ctx: AppContext, incident: Incident) -> Details:
    """An incident with its timeline and everyone the timeline names, ready to render."""
    entries = list(await q.timeline(session=session, incident_id=incident.id))
    names = await people(session=session, incident=incident)
    for entry in entries:
        if entry.actor_id and entry.actor_id not in names:
            person = await access_q.get_user(session=session, user_id=entry.actor_id)
            if person is not None:
                names[entry.actor_id] = person
    extra = await card_context(session=session, ctx=ctx, incident=incident)
    return Details(incident=incident, timeline=entries, names=names, extra=extra)


CardForLanguage = Callable[[str], tuple[str, Keyboard]]


async def card_for(
    *, session: AsyncSession, ctx: AppContext, incident: Incident
) -> CardForLanguage:
    """The incident's card as it stands now, ready to render in any language."""
    names = await people(session=session, incident=incident)
    extra = await card_context(session=session, ctx=ctx, incident=incident)

    def build(language: str) -> tuple[str, Keyboard]:
        return build_card(ctx, language, incident, names, extra)

    return build


async def refresh_cards(*, session: AsyncSession, ctx: AppContext, incident: Incident) -> int:
    """Edit every copy of the incident's card, in every chat, to its current state."""
    card = await card_for(session=session, ctx=ctx, incident=incident)
    languages = await routing.chat_languages(session=session, incident_id=incident.id)

    def build(row: OutboxMessage) -> tuple[str, Keyboard | None]:
        return card(languages.get(row.chat_id, "zh_CN"))

    return await outbox.edit_copies(
        session=session, ref=card_ref(incident.id), now=ctx.now(), build=build
    )
