"""Progress until done: updates to the routed chats, reminders (R7), and re-levelling (R1)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.access import audit
from bot.access.permissions import can_handle
from bot.handling.buttons import HandlingPress
from bot.handling.playbooks import require_worker
from bot.incidents import escalation, incident_card, routing
from bot.incidents.model import OPEN, Status
from bot.platform import outbox, scheduler
from bot.platform.context import AppContext
from bot.platform.errors import Invalid, NotAllowed, NotFound, Stale
from bot.platform.keyboards import Button
from bot.platform.roles import Level
from storage import access as access_q
from storage import incidents as q
from storage.models import Incident, TimelineEntry, Timer, User

REMINDER = "update_reminder"
UPDATE_LIMIT = 2000
REASON_LIMIT = 500
# Timeline entries a newly routed chat is shown as the story so far.
STORY_KINDS = ("acknowledged", "taken", "step_done", "update", "relevelled")


def interval(ctx: AppContext, level: str) -> timedelta:
    """How long an incident of a level may go without an update before its handler is told."""
    return timedelta(minutes=ctx.policy.updates.remind_after_minutes.for_level(Level(level)))


async def _load(session: AsyncSession, incident_id: int) -> Incident:
    incident = await q.get_incident(session=session, incident_id=incident_id, for_update=True)
    if incident is None:
        raise NotFound("incidents.not_found")
    return incident


def _last_activity(incident: Incident) -> datetime | None:
    moments = [m for m in (incident.last_update_at, incident.taken_at) if m is not None]
    return max(moments) if moments else None


async def arm_reminder(*, session: AsyncSession, ctx: AppContext, incident: Incident) -> None:
    """(Re)start the silence clock of an incident someone is in charge of."""
    await scheduler.cancel(session=session, kind=REMINDER, ref_id=incident.id)
    if incident.handler_id is None or incident.status not in (
        Status.ACKNOWLEDGED,
        Status.IN_PROGRESS,
    ):
        return
    now = ctx.now()
    since = _last_activity(incident) or now
    await scheduler.schedule(
        session=session,
        kind=REMINDER,
        ref_id=incident.id,
        now=now,
        due_at=max(since + interval(ctx, incident.level), now),
    )


async def stop_reminders(*, session: AsyncSession, incident_id: int) -> None:
    """No more update reminders for an incident (resolved, closed)."""
    await scheduler.cancel(session=session, kind=REMINDER, ref_id=incident_id)


async def on_taken(session: AsyncSession, ctx: AppContext, incident: Incident) -> None:
    """Whoever takes charge is now the one reminded (`features.on_taken`)."""
    await arm_reminder(session=session, ctx=ctx, incident=incident)


async def remind(ctx: AppContext, session: AsyncSession, timer: Timer) -> None:
    """A silent incident's interval passed: remind its handler privately, once per interval."""
    incident = await q.get_incident(session=session, incident_id=timer.ref_id, for_update=True)
    if incident is None or incident.handler_id is None:
        return
    if incident.status not in (Status.ACKNOWLEDGED, Status.IN_PROGRESS):
        return
    now = ctx.now()
    since = _last_activity(incident) or incident.reported_at
    wait = interval(ctx, incident.level)
    if now - since < wait:
        # An update came in after this deadline was set; wait out the new interval.
        await scheduler.schedule(
            session=session, kind=REMINDER, ref_id=incident.id, now=now, due_at=since + wait
        )
        return
    handler = await access_q.get_user(session=session, user_id=incident.handler_id)
    if handler is not None:
        from messages import handling as texts

        await outbox.enqueue_message(
            session=session,
            chat_id=handler.id,
            now=now,
            priority=outbox.URGENT,
            text=ctx.renderer.render(
                handler.language,
                "handling/update_reminder",
                incident=incident,
                since=since,
                minutes=int((now - since).total_seconds() // 60),
            ),
            keyboard=[
                [
                    Button(
                        ctx.renderer.label(handler.language, texts.UPDATE),
                        data=HandlingPress(action="upd", incident_id=incident.id).pack(),
                    )
                ]
            ],
        )
    await q.add_timeline(
        session=session,
        incident_id=incident.id,
        at=now,
        kind="update_reminder",
        data={"to": incident.handler_id},
    )
    await scheduler.schedule(
        session=session, kind=REMINDER, ref_id=incident.id, now=now, due_at=now + wait
    )


async def may_update(*, session: AsyncSession, incident_id: int, user_id: int) -> Incident:
    """The incident, if the user may post an update on it now."""
    incident = await _load(session, incident_id)
    await require_worker(session=session, user_id=user_id)
    if incident.status not in OPEN:
        raise Stale("handling.not_open")
    return incident


def check_update(text: str) -> str:
    """An update's text, trimmed, or Invalid when empty or too long."""
    text = text.strip()
    if not 1 <= len(text) <= UPDATE_LIMIT:
        raise Invalid("handling.bad_update", length=len(text))
    return text


def check_reason(text: str) -> str:
    """A level change's reason, trimmed, or Invalid when empty or too long."""
    text = text.strip()
    if not 1 <= len(text) <= REASON_LIMIT:
        raise Invalid("handling.bad_reason")
    return text


async def post_update(
    *, session: AsyncSession, ctx: AppContext, incident_id: int, user_id: int, text: str
) -> tuple[Incident, int]:
    """Post a progress update to every chat the incident is routed to; returns how many."""
    text = check_update(text)
    incident = await may_update(session=session, incident_id=incident_id, user_id=user_id)
    author = await access_q.get_user(session=session, user_id=user_id)
    now = ctx.now()
    incident.last_update_at = now
    await q.add_timeline(
        session=session, incident_id=incident.id, at=now, kind="update", actor_id=user_id, text=text
    )
    await audit.record(
        session=session,
        now=now,
        actor_id=user_id,
        action="incident.update",
        target=f"incident:{incident.number}",
    )
    count = await routing.notify_routed(
        session=session,
        ctx=ctx,
        incident=incident,
        template="handling/update",
        text=text,
        author=author,
        at=now,
    )
    await arm_reminder(session=session, ctx=ctx, incident=incident)
    await incident_card.refresh_cards(session=session, ctx=ctx, incident=incident)
    return incident, count


@dataclass
class Relevelled:
    """A level change and the chats that newly received the incident."""

    incident: Incident
    previous: str
    added: list[routing.Delivered]
    missing: list[str]


async def may_relevel(
    *, session: AsyncSession, ctx: AppContext, incident_id: int, user_id: int
) -> Incident:
    """The incident, if the user may change its level now (they must handle its current level)."""
    incident = await _load(session, incident_id)
    user = await access_q.get_user(session=session, user_id=user_id)
    if not can_handle(ctx.policy, user, Level(incident.level)):
        raise NotAllowed("incidents.not_your_level", level=incident.level)
    if incident.status not in (Status.REPORTED, Status.ACKNOWLEDGED, Status.IN_PROGRESS):
        raise Stale("handling.not_open")
    return incident


async def relevel(
    *,
    session: AsyncSession,
    ctx: AppContext,
    incident_id: int,
    user_id: int,
    level: str,
    reason: str,
) -> Relevelled:
    """Raise or lower the level: routing follows, everyone routed is told, clocks restart."""
    try:
        new_level = Level(level)
    except ValueError as exc:
        raise Invalid("handling.same_level") from exc
    reason = check_reason(reason)
    incident = await may_relevel(session=session, ctx=ctx, incident_id=incident_id, user_id=user_id)
    if incident.level == new_level:
        raise Stale("handling.same_level")
    author = await access_q.get_user(session=session, user_id=user_id)
    now = ctx.now()
    previous = incident.level
    incident.level = new_level.value
    await q.add_timeline(
        session=session,
        incident_id=incident.id,
        at=now,
        kind="relevelled",
        actor_id=user_id,
        text=reason,
        data={"from": previous, "to": new_level.value},
    )
    await audit.record(
        session=session,
        now=now,
        actor_id=user_id,
        action="incident.relevelled",
        target=f"incident:{incident.number}",
        previous=previous,
        level=new_level.value,
    )
    await incident_card.refresh_cards(session=session, ctx=ctx, incident=incident)
    added, missing = await routing.route(
        session=session,
        ctx=ctx,
        incident=incident,
        card=await incident_card.card_for(session=session, ctx=ctx, incident=incident),
        card_ref=incident_card.card_ref(incident.id),
        only_new=True,
    )
    if added:
        await _tell_story(session, ctx, incident, added)
    await routing.notify_routed(
        session=session,
        ctx=ctx,
        incident=incident,
        template="handling/relevelled",
        previous=previous,
        raised=new_level.rank > Level(previous).rank,
        reason=reason,
        author=author,
        at=now,
    )
    if incident.acknowledged_by is None:
        await escalation.start(session=session, ctx=ctx, incident=incident)
    await arm_reminder(session=session, ctx=ctx, incident=incident)
    return Relevelled(incident=incident, previous=previous, added=added, missing=missing)


async def story(
    *, session: AsyncSession, incident_id: int
) -> tuple[list[TimelineEntry], dict[int, User]]:
    """What has been done so far, for chats that join an incident late, with the people named."""
    entries = [
        e
        for e in await q.timeline(session=session, incident_id=incident_id)
        if e.kind in STORY_KINDS
    ]
    return entries, await names_in(session=session, entries=entries)


async def names_in(*, session: AsyncSession, entries: list[TimelineEntry]) -> dict[int, User]:
    """The people timeline entries name."""
    names: dict[int, User] = {}
    for entry in entries:
        if entry.actor_id is not None and entry.actor_id not in names:
            user = await access_q.get_user(session=session, user_id=entry.actor_id)
            if user is not None:
                names[entry.actor_id] = user
    return names


async def _tell_story(
    session: AsyncSession, ctx: AppContext, incident: Incident, added: list[routing.Delivered]
) -> None:
    entries, names = await story(session=session, incident_id=incident.id)
    if not entries:
        return
    languages = await routing.chat_languages(session=session, incident_id=incident.id)
    for target in added:
        language = languages.get(target.chat_id, "zh_CN")
        for part in ctx.renderer.render_parts(
            language, "handling/story", incident=incident, entries=entries, names=names
        ):
            await outbox.enqueue_message(
                session=session,
                chat_id=target.chat_id,
                now=ctx.now(),
                priority=outbox.URGENT,
                text=part,
            )


async def last_update(*, session: AsyncSession, incident_id: int) -> TimelineEntry | None:
    """The newest progress update of an incident."""
    entries = [
        e for e in await q.timeline(session=session, incident_id=incident_id) if e.kind == "update"
    ]
    return entries[-1] if entries else None


async def card_context(session: AsyncSession, incident: Incident) -> dict[str, Any]:
    """The newest update and its author, for the card (`features.card_lines`)."""
    entry = await last_update(session=session, incident_id=incident.id)
    author = None
    if entry is not None and entry.actor_id is not None:
        author = await access_q.get_user(session=session, user_id=entry.actor_id)
    return {"last_update": entry, "last_update_by": author}
