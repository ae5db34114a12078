"""Activating the plan: a submitted report becomes a numbered, routed incident."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from bot.access import audit
from bot.access.permissions import is_handler
from bot.incidents import escalation, routing
from bot.incidents.incident_card import card_for, card_ref
from bot.incidents.model import Draft, Status
from bot.platform.context import AppContext
from bot.platform.errors import Invalid, NotFound
from storage import access as access_q
from storage import incidents as q
from storage.models import Incident

# What a report's typed answers may hold: the flow asks within these, submit checks again.
WHERE_LIMIT = 200
WHAT_LIMIT = 2000
MAX_FILES = 10


def check_where(text: str) -> str:
    """Where it happened: 1 to WHERE_LIMIT characters."""
    value = text.strip()
    if not 1 <= len(value) <= WHERE_LIMIT:
        raise Invalid("report.bad_where")
    return value


def check_what(text: str) -> str:
    """What is seen: 1 to WHAT_LIMIT characters."""
    value = text.strip()
    if not 1 <= len(value) <= WHAT_LIMIT:
        raise Invalid("report.bad_what", length=len(value))
    return value


@dataclass
class Submitted:
    """A new incident and who was told."""

    incident: Incident
    notified: list[routing.Delivered]
    missing: list[str]


async def submit(
    *, session: AsyncSession, ctx: AppContext, reporter_id: int, draft: Draft
) -> Submitted:
    """Activate the plan: number the incident, route it, start the escalation clock."""
    gaps = draft.missing()
    if gaps:
        raise Invalid("report.incomplete", fields=", ".join(gaps))
    assert draft.location is not None and draft.description is not None
    draft.location = check_where(draft.location)
    draft.description = check_what(draft.description)
    if len(draft.files) > MAX_FILES:
        raise Invalid("report.too_many_files")
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
    for item in draft.files:
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
        session=session,
        ctx=ctx,
        incident=incident,
        card=await card_for(session=session, ctx=ctx, incident=incident),
        card_ref=card_ref(incident.id),
    )
    await escalation.start(session=session, ctx=ctx, incident=incident)
    for hook in ctx.features.on_submitted:
        await hook(session, ctx, incident)
    return Submitted(incident=incident, notified=delivered, missing=missing)


async def get_incident(*, session: AsyncSession, incident_id: int) -> Incident | None:
    """An incident by id (a card's button carries it)."""
    return await q.get_incident(session=session, incident_id=incident_id)


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
