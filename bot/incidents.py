"""Incidents: activating the plan on submit, the card, acknowledgement and taking charge."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot import audit, delivery, escalation, routing
from bot.context import AppContext
from bot.errors import Invalid, NotAllowed, NotFound, Stale
from bot.keyboards import Button, Keyboard
from bot.permissions import can_handle, is_handler
from bot.roles import Level
from storage import access as access_q
from storage import incidents as q
from storage.models import Incident, OutboxMessage, User


class Category(StrEnum):
    """Kinds of incident the plan names (§三(二)3)."""

    NATURAL_DISASTER = "natural_disaster"
    VIRUS = "virus"
    INTRUSION = "intrusion"
    TAMPERING = "tampering"
    NETWORK_FAILURE = "network_failure"
    OTHER = "other"


SUBTYPES: dict[str, tuple[str, ...]] = {Category.INTRUSION: ("internet", "extranet")}


class Status(StrEnum):
    """Where an incident stands."""

    REPORTED = "reported"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"


OPEN = {Status.REPORTED, Status.ACKNOWLEDGED, Status.IN_PROGRESS, Status.RESOLVED}


@dataclass
class Draft:
    """The answers of a guided report, as kept in the conversation row."""

    category: str | None = None
    subtype: str | None = None
    level: str | None = None
    occurred_at: str | None = None
    precision: str = "exact"
    location: str | None = None
    description: str | None = None
    source: str | None = None
    source_kind: str | None = None
    source_done: bool = False
    files: list[dict[str, str]] = field(default_factory=list)
    files_done: bool = False
    is_drill: bool = False
    context: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Draft:
        """Read a draft from stored JSON."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def to_data(self) -> dict[str, Any]:
        """The draft as JSON for the conversation row."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @property
    def occurred(self) -> datetime | None:
        """When it happened, as a datetime."""
        return datetime.fromisoformat(self.occurred_at) if self.occurred_at else None

    def missing(self) -> list[str]:
        """Required answers not given yet."""
        needed = {
            "category": self.category,
            "level": self.level,
            "occurred_at": self.occurred_at,
            "location": self.location,
            "description": self.description,
        }
        gaps = [name for name, value in needed.items() if not value]
        if self.category in SUBTYPES and not self.subtype:
            gaps.append("subtype")
        return gaps


@dataclass
class Submitted:
    """A new incident and who was told."""

    incident: Incident
    notified: list[routing.Delivered]
    missing: list[str]


def card_ref(incident_id: int) -> str:
    """The outbox reference shared by every copy of an incident's card."""
    return f"inc:{incident_id}:card"


async def submit(
    *, session: AsyncSession, ctx: AppContext, reporter_id: int, draft: Draft
) -> Submitted:
    """Activate the plan: number the incident, route it, start the escalation clock."""
    gaps = draft.missing()
    if gaps:
        raise Invalid("report.incomplete", fields=", ".join(gaps))
    reporter = await access_q.get_user(session=session, user_id=reporter_id)
    if reporter is None:
        raise NotFound("access.no_such_user")
    now = ctx.now()
    local_year = ctx.renderer.to_local(now).year
    prefix = "D" if draft.is_drill else ""
    seq = await q.next_number(session=session, series=f"{prefix or 'I'}{local_year}")
    special = await routing.special_period_on(session=session)
    occurred = draft.occurred
    assert occurred is not None and draft.location and draft.description and draft.level
    assert draft.category
    incident = await q.add_incident(
        session=session,
        number=f"{prefix}{local_year}-{seq:04d}",
        year=local_year,
        seq=seq,
        is_drill=draft.is_drill,
        category=draft.category,
        subtype=draft.subtype,
        level=draft.level,
        status=Status.REPORTED,
        occurred_at=occurred,
        occurred_precision=draft.precision,
        reported_at=now,
        location=draft.location,
        description=draft.description,
        source=draft.source,
        source_kind=draft.source_kind,
        reporter_id=reporter_id,
        special_period=special,
        details={"context": draft.context} if draft.context else {},
    )
    for item in draft.files[:10]:
        await q.add_attachment(
            session=session,
            incident=incident,
            kind=item.get("kind", "document"),
            file_id=item["file_id"],
            file_unique_id=item.get("file_unique_id", ""),
            file_name=item.get("name", ""),
        )
    await q.add_timeline(
        session=session, incident_id=incident.id, at=now, kind="reported", actor_id=reporter_id
    )
    await audit.record(
        session=session,
        now=now,
        actor_id=reporter_id,
        action="incident.reported",
        target=f"incident:{incident.number}",
        level=incident.level,
        drill=incident.is_drill,
    )
    delivered, missing = await routing.route(
        session=session, ctx=ctx, incident=incident, card=build_card, card_ref=card_ref(incident.id)
    )
    await escalation.start(session=session, ctx=ctx, incident=incident)
    for hook in SUBMITTED_HOOKS:
        await hook(session, ctx, incident)
    return Submitted(incident=incident, notified=delivered, missing=missing)


# Features that follow up a new incident (a patrol round linking to it) register here.
SubmittedHook = Callable[[AsyncSession, AppContext, Incident], Awaitable[None]]
SUBMITTED_HOOKS: list[SubmittedHook] = []


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
    from messages import incidents as texts

    label = ctx.renderer.label
    rows: Keyboard = []
    if incident.status == Status.REPORTED:
        rows.append(
            [
                Button(label(language, texts.ACKNOWLEDGE), data=f"inc:ack:{incident.id}"),
                Button(label(language, texts.TAKE_CHARGE), data=f"inc:take:{incident.id}"),
            ]
        )
    elif incident.status == Status.ACKNOWLEDGED:
        rows.append([Button(label(language, texts.TAKE_CHARGE), data=f"inc:take:{incident.id}")])
    for extra in CARD_BUTTONS:
        rows.extend(extra(ctx, language, incident))
    rows.append([Button(label(language, texts.DETAILS), data=f"inc:info:{incident.id}")])
    return rows


# Later stages (checklists, updates, resolution) add their buttons to the card here.
CARD_BUTTONS: list[Any] = []


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


async def card_context(*, session: AsyncSession, incident: Incident) -> dict[str, Any]:
    """Extra values the card template shows (features add theirs through CARD_CONTEXT)."""
    values: dict[str, Any] = {}
    for provider in CARD_CONTEXT:
        values.update(await provider(session, incident))
    return values


CARD_CONTEXT: list[Any] = []


async def refresh_cards(*, session: AsyncSession, ctx: AppContext, incident: Incident) -> int:
    """Edit every copy of the incident's card, in every chat, to its current state."""
    names = await people(session=session, incident=incident)
    extra = await card_context(session=session, incident=incident)
    languages = await routing.chat_languages(session=session, incident_id=incident.id)

    def build(row: OutboxMessage) -> tuple[str, Keyboard | None]:
        text, keyboard = build_card(
            ctx, languages.get(row.chat_id, "zh_CN"), incident, names, extra
        )
        return text, keyboard

    return await delivery.edit_copies(
        session=session, ref=card_ref(incident.id), now=ctx.now(), build=build
    )


async def _load_for_change(session: AsyncSession, incident_id: int) -> Incident:
    incident = await q.get_incident(session=session, incident_id=incident_id, for_update=True)
    if incident is None:
        raise NotFound("incidents.not_found")
    return incident


async def _require_handler(
    session: AsyncSession, ctx: AppContext, incident: Incident, user_id: int
) -> User:
    user = await access_q.get_user(session=session, user_id=user_id)
    if not can_handle(ctx.policy, user, Level(incident.level)):
        raise NotAllowed("incidents.not_your_level", level=incident.level)
    assert user is not None
    return user


async def acknowledge(
    *, session: AsyncSession, ctx: AppContext, incident_id: int, user_id: int
) -> Incident:
    """Acknowledge an incident: cards show who and when, the escalation stops."""
    incident = await _load_for_change(session, incident_id)
    user = await _require_handler(session, ctx, incident, user_id)
    if incident.acknowledged_by is not None:
        raise Stale("incidents.already_acknowledged")
    if incident.status not in OPEN:
        raise Stale("incidents.closed")
    await _mark_acknowledged(session, ctx, incident, user)
    await refresh_cards(session=session, ctx=ctx, incident=incident)
    return incident


async def _mark_acknowledged(
    session: AsyncSession, ctx: AppContext, incident: Incident, user: User
) -> None:
    now = ctx.now()
    incident.acknowledged_by = user.id
    incident.acknowledged_at = now
    if incident.status == Status.REPORTED:
        incident.status = Status.ACKNOWLEDGED
    await q.add_timeline(
        session=session, incident_id=incident.id, at=now, kind="acknowledged", actor_id=user.id
    )
    await audit.record(
        session=session,
        now=now,
        actor_id=user.id,
        action="incident.acknowledged",
        target=f"incident:{incident.number}",
    )
    await escalation.stop(session=session, incident_id=incident.id)
    reporter = await access_q.get_user(session=session, user_id=incident.reporter_id)
    if reporter is not None and reporter.id != user.id:
        await delivery.enqueue_message(
            session=session,
            chat_id=reporter.id,
            now=now,
            priority=delivery.URGENT,
            text=ctx.renderer.render(
                reporter.language, "incidents/acknowledged_notice", incident=incident, by=user
            ),
        )


async def take_charge(
    *, session: AsyncSession, ctx: AppContext, incident_id: int, user_id: int
) -> Incident:
    """Take charge of an incident (acknowledging it too if nobody has)."""
    incident = await _load_for_change(session, incident_id)
    user = await _require_handler(session, ctx, incident, user_id)
    if incident.status not in OPEN or incident.status == Status.RESOLVED:
        raise Stale("incidents.closed")
    if incident.handler_id == user.id:
        raise Stale("incidents.already_yours")
    if incident.acknowledged_by is None:
        await _mark_acknowledged(session, ctx, incident, user)
    now = ctx.now()
    previous = incident.handler_id
    incident.handler_id = user.id
    incident.taken_at = now
    incident.status = Status.IN_PROGRESS
    await q.add_timeline(
        session=session,
        incident_id=incident.id,
        at=now,
        kind="taken",
        actor_id=user.id,
        data={"previous": previous} if previous else {},
    )
    await audit.record(
        session=session,
        now=now,
        actor_id=user.id,
        action="incident.taken",
        target=f"incident:{incident.number}",
    )
    for hook in TAKEN_HOOKS:
        await hook(session, ctx, incident)
    await refresh_cards(session=session, ctx=ctx, incident=incident)
    return incident


# Features that start work when someone takes charge (update reminders) register here.
TAKEN_HOOKS: list[Any] = []


async def find(*, session: AsyncSession, ref: str) -> Incident | None:
    """An incident by number ('2026-0001') or id."""
    ref = ref.strip()
    if "\x00" in ref:
        # No number holds one, and PostgreSQL refuses NUL in a text parameter.
        return None
    if ref.isdigit():
        return await q.get_incident(session=session, incident_id=int(ref))
    return await q.get_by_number(session=session, number=ref)


async def viewable(
    *, session: AsyncSession, ctx: AppContext, user_id: int, incident: Incident
) -> bool:
    """Whether a user may see an incident's details: handlers, leaders, or its reporter."""
    user = await access_q.get_user(session=session, user_id=user_id)
    return is_handler(user) or (user is not None and user.id == incident.reporter_id)
