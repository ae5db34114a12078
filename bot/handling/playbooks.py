"""Playbooks: the plan's ordered checklist for each kind of incident, and ticking its steps (R6).

An incident's checklist is copied from the policy into the incident the first time it is
opened, so ticks keep pointing at the same steps even if the configuration changes later.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.access import audit
from bot.access.permissions import is_handler
from bot.incidents import incident_card
from bot.incidents.model import Status
from bot.platform.config import PLAYBOOK_NAMES, Policy
from bot.platform.context import AppContext
from bot.platform.errors import NotAllowed, NotFound, Stale
from messages.handling import step_label
from storage import access as access_q
from storage import handling as q
from storage import incidents as incident_q
from storage.models import ChecklistTick, Incident, User

GENERAL = "human_damage"
DETAILS_KEY = "checklist"
# Each person's one live checklist message of the incident (in their private chat), so
# opening it again retires the earlier one instead of leaving two that drift apart.
VIEWS_KEY = "checklist_views"


@dataclass(frozen=True)
class Step:
    """One step of an incident's checklist."""

    section: str
    key: str
    text: str = ""
    text_en: str = ""

    @property
    def qualified(self) -> str:
        """The step's key within the whole checklist ('intrusion_internet.locate_ip')."""
        return f"{self.section}.{self.key}"

    @property
    def signature(self) -> str:
        """A short fingerprint a button carries, so a button meant for another step is refused."""
        return hashlib.sha1(self.qualified.encode()).hexdigest()[:6]


@dataclass(frozen=True)
class Item:
    """A step as the checklist shows it: its number and, once done, who ticked it and when."""

    index: int
    step: Step
    tick: ChecklistTick | None

    @property
    def number(self) -> int:
        """The step's number as people read it (from 1)."""
        return self.index + 1


@dataclass(frozen=True)
class Checklist:
    """An incident's checklist with its progress."""

    items: list[Item]
    names: dict[int, User]

    @property
    def done(self) -> list[Item]:
        """The ticked steps, in checklist order."""
        return [item for item in self.items if item.tick is not None]

    @property
    def next(self) -> Item | None:
        """The first step not ticked yet."""
        return next((item for item in self.items if item.tick is None), None)

    def sections(self) -> list[tuple[str, list[Item]]]:
        """The items grouped by playbook, in order."""
        grouped: list[tuple[str, list[Item]]] = []
        for item in self.items:
            if not grouped or grouped[-1][0] != item.step.section:
                grouped.append((item.step.section, []))
            grouped[-1][1].append(item)
        return grouped


def playbook_name(category: str, subtype: str | None) -> str:
    """The playbook for a category (and sub-type, for intrusions)."""
    if subtype and f"{category}_{subtype}" in PLAYBOOK_NAMES:
        return f"{category}_{subtype}"
    if category in PLAYBOOK_NAMES:
        return category
    return "intrusion_internet" if category == "intrusion" else "other"


def steps_from_policy(policy: Policy, category: str, subtype: str | None) -> list[Step]:
    """The ordered steps for a kind of incident: its own playbook, then the general procedure."""
    names = [playbook_name(category, subtype)]
    if category in policy.playbooks.general_for and GENERAL not in names:
        names.append(GENERAL)
    return [
        Step(section=name, key=s.key, text=s.text, text_en=s.text_en)
        for name in names
        for s in policy.playbooks.steps(name)
    ]


def stored_steps(incident: Incident) -> list[Step] | None:
    """The checklist copied into the incident, if it has been opened."""
    raw = (incident.details or {}).get(DETAILS_KEY)
    if not isinstance(raw, list):
        return None
    return [Step(**item) for item in raw]


def ensure_steps(ctx: AppContext, incident: Incident) -> list[Step]:
    """The incident's checklist, copied from the policy on first use."""
    found = stored_steps(incident)
    if found is None:
        found = steps_from_policy(ctx.policy, incident.category, incident.subtype)
        # A new dict, so the JSON column is seen as changed.
        incident.details = {**(incident.details or {}), DETAILS_KEY: [asdict(s) for s in found]}
    return found


async def checklist(*, session: AsyncSession, incident: Incident) -> Checklist | None:
    """An incident's checklist with each step's tick, or None before it was first opened."""
    steps = stored_steps(incident)
    if steps is None:
        return None
    found = {t.step_key: t for t in await q.ticks(session=session, incident_id=incident.id)}
    items = [
        Item(index=index, step=step, tick=found.get(step.qualified))
        for index, step in enumerate(steps)
    ]
    names: dict[int, User] = {}
    for done in found.values():
        if done.ticked_by not in names:
            user = await access_q.get_user(session=session, user_id=done.ticked_by)
            if user is not None:
                names[done.ticked_by] = user
    return Checklist(items=items, names=names)


async def require_worker(*, session: AsyncSession, user_id: int) -> User:
    """The user, if they work on incidents at all (duty, tech center, leadership)."""
    user = await access_q.get_user(session=session, user_id=user_id)
    if not is_handler(user):
        raise NotAllowed("handling.not_a_handler")
    assert user is not None
    return user


async def _workable(session: AsyncSession, incident_id: int, user_id: int) -> Incident:
    incident = await incident_q.get_incident(
        session=session, incident_id=incident_id, for_update=True
    )
    if incident is None:
        raise NotFound("incidents.not_found")
    await require_worker(session=session, user_id=user_id)
    if incident.status == Status.REPORTED:
        raise Stale("handling.acknowledge_first")
    if incident.status not in (Status.ACKNOWLEDGED, Status.IN_PROGRESS):
        raise Stale("handling.not_open")
    return incident


async def open_checklist(
    *, session: AsyncSession, ctx: AppContext, incident_id: int, user_id: int
) -> tuple[Incident, Checklist]:
    """The checklist for someone about to work through it."""
    incident = await _workable(session, incident_id, user_id)
    ensure_steps(ctx, incident)
    await session.flush()
    found = await checklist(session=session, incident=incident)
    assert found is not None
    return incident, found


async def tick(
    *,
    session: AsyncSession,
    ctx: AppContext,
    incident_id: int,
    user_id: int,
    index: int,
    signature: str,
) -> tuple[Incident, Checklist]:
    """Mark one step done: on the timeline, the audit log and every copy of the card."""
    incident = await _workable(session, incident_id, user_id)
    steps = ensure_steps(ctx, incident)
    if not 0 <= index < len(steps) or steps[index].signature != signature:
        raise Stale("handling.not_open")
    step = steps[index]
    if await q.get_tick(session=session, incident_id=incident.id, step_key=step.qualified):
        raise Stale("handling.step_done")
    now = ctx.now()
    label = step_label("zh_CN", step)
    await q.add_tick(
        session=session,
        incident_id=incident.id,
        step_key=step.qualified,
        position=index,
        label=label,
        ticked_by=user_id,
        ticked_at=now,
    )
    await incident_q.add_timeline(
        session=session,
        incident_id=incident.id,
        at=now,
        kind="step_done",
        actor_id=user_id,
        text=label,
        data={"step": step.qualified, "number": index + 1, "label_en": step_label("en", step)},
    )
    await audit.record(
        session=session,
        now=now,
        actor_id=user_id,
        action="incident.step_done",
        target=f"incident:{incident.number}",
        step=step.qualified,
    )
    await incident_card.refresh_cards(session=session, ctx=ctx, incident=incident)
    found = await checklist(session=session, incident=incident)
    assert found is not None
    return incident, found


def live_view(incident: Incident, user_id: int) -> int | None:
    """The message holding the person's live checklist of the incident, if any."""
    views = (incident.details or {}).get(VIEWS_KEY)
    found = views.get(str(user_id)) if isinstance(views, dict) else None
    return found if isinstance(found, int) else None


async def keep_view(
    *, session: AsyncSession, incident_id: int, user_id: int, message_id: int
) -> int | None:
    """Make a message the person's live checklist; returns the earlier one it replaces."""
    incident = await incident_q.get_incident(
        session=session, incident_id=incident_id, for_update=True
    )
    if incident is None:
        return None
    previous = live_view(incident, user_id)
    details = incident.details or {}
    views = dict(details.get(VIEWS_KEY) or {})
    views[str(user_id)] = message_id
    # A new dict, so the JSON column is seen as changed.
    incident.details = {**details, VIEWS_KEY: views}
    return previous if previous != message_id else None


async def card_context(session: AsyncSession, incident: Incident) -> dict[str, Any]:
    """The card's checklist progress, for the card (`features.card_lines`)."""
    return {"checklist": await checklist(session=session, incident=incident)}
