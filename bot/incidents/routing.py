"""Where an incident goes, by level and the special period (R4)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.access import audit, chats
from bot.access.permissions import is_leader
from bot.patrols import duty
from bot.platform import outbox
from bot.platform.context import AppContext
from bot.platform.errors import NotAllowed
from bot.platform.keyboards import Keyboard
from bot.platform.roles import Level
from storage import access as access_q
from storage import incidents as q
from storage.models import Incident

SPECIAL_PERIOD = "special_period"
DUTY_OFFICER = "duty_officer"

# The card in a language (text and buttons), as built by bot.incidents.incident_card.card_for.
CardBuilder = Callable[[str], tuple[str, Keyboard]]


@dataclass(frozen=True)
class Delivered:
    """One place an incident was sent: a bound chat's purpose, or a person."""

    target: str
    chat_id: int
    name: str


async def special_period_on(*, session: AsyncSession) -> bool:
    """Whether leadership has declared a special period."""
    flag = await access_q.get_flag(session=session, key=SPECIAL_PERIOD)
    return bool(flag and flag.value.get("on"))


async def set_special_period(
    *, session: AsyncSession, ctx: AppContext, leader_id: int, on: bool
) -> bool:
    """Declare or end the special period (leaders only); announced in every bound chat."""
    leader = await access_q.get_user(session=session, user_id=leader_id)
    if not is_leader(leader):
        raise NotAllowed("incidents.leaders_only")
    assert leader is not None
    was = await special_period_on(session=session)
    now = ctx.now()
    await access_q.set_flag(
        session=session, key=SPECIAL_PERIOD, value={"on": on}, now=now, by=leader_id
    )
    await audit.record(
        session=session,
        now=now,
        actor_id=leader_id,
        action="special_period.on" if on else "special_period.off",
    )
    if was != on:
        for chat in await access_q.bound_chats(session=session):
            if chat.bot_removed:
                continue
            await outbox.enqueue_message(
                session=session,
                chat_id=chat.id,
                now=now,
                priority=outbox.URGENT,
                text=ctx.renderer.render("zh_CN", "incidents/special_period", on=on, leader=leader),
            )
    return was != on


def targets(ctx: AppContext, level: Level, special: bool) -> list[str]:
    """Route targets for a level, the special period's additions included."""
    found = ctx.policy.routing.targets(level)
    if special:
        found += [t for t in ctx.policy.routing.special_period_adds if t not in found]
    return found


async def route(
    *,
    session: AsyncSession,
    ctx: AppContext,
    incident: Incident,
    card: CardBuilder,
    card_ref: str,
    only_new: bool = False,
) -> tuple[list[Delivered], list[str]]:
    """Send the card to every target of the incident's level; report any missing chat."""
    now = ctx.now()
    special = incident.special_period or await special_period_on(session=session)
    wanted = targets(ctx, Level(incident.level), special)
    delivered: list[Delivered] = []
    missing: list[str] = []
    for target in wanted:
        recipients: list[tuple[int, str, str]] = []
        if target == DUTY_OFFICER:
            officers = await duty.officers_on_duty(session=session, ctx=ctx, at=now)
            recipients = [(u.id, u.language, u.name) for u in officers if not u.blocked_bot]
        else:
            chat = await chats.bound_chat(session=session, purpose=target)
            if chat is not None:
                recipients = [(chat.id, "zh_CN", chat.title)]
        if not recipients:
            missing.append(target)
            await q.add_timeline(
                session=session,
                incident_id=incident.id,
                at=now,
                kind="route_missing",
                data={"target": target},
            )
            await chats.tell_admins(
                session=session,
                ctx=ctx,
                template="chats/missing",
                purpose=target,
                summary=ctx.renderer.render("zh_CN", "incidents/summary", incident=incident),
            )
            continue
        for chat_id, language, name in recipients:
            if not await q.add_route(
                session=session, incident_id=incident.id, chat_id=chat_id, target=target, now=now
            ):
                continue
            text, keyboard = card(language)
            await outbox.enqueue_message(
                session=session,
                chat_id=chat_id,
                text=text,
                keyboard=keyboard,
                now=now,
                ref=card_ref,
                priority=outbox.URGENT,
            )
            await _send_attachments(
                session=session, ctx=ctx, incident=incident, chat_id=chat_id, language=language
            )
            delivered.append(Delivered(target=target, chat_id=chat_id, name=name))
    if delivered:
        await q.add_timeline(
            session=session,
            incident_id=incident.id,
            at=now,
            kind="routed",
            data={"targets": [d.target for d in delivered], "only_new": only_new},
        )
    return delivered, missing


async def _send_attachments(
    *, session: AsyncSession, ctx: AppContext, incident: Incident, chat_id: int, language: str
) -> None:
    now = ctx.now()
    photos = [a for a in incident.attachments if a.kind == "photo"]
    documents = [a for a in incident.attachments if a.kind != "photo"]
    caption = ctx.renderer.render(language, "incidents/attachments_caption", incident=incident)
    for group, kind in ((photos, "photo"), (documents, "document")):
        if len(group) == 1 and kind == "photo":
            await outbox.enqueue_photo(
                session=session,
                chat_id=chat_id,
                now=now,
                file_id=group[0].file_id,
                caption=caption,
                ref=f"inc:{incident.id}:media",
            )
        elif group:
            await outbox.enqueue_media_group(
                session=session,
                chat_id=chat_id,
                now=now,
                ref=f"inc:{incident.id}:media",
                # The first item's caption names the incident (and marks a drill) in the album.
                items=[
                    {"type": kind, "file_id": a.file_id, **({"caption": caption} if i == 0 else {})}
                    for i, a in enumerate(group)
                ],
            )


async def chat_languages(*, session: AsyncSession, incident_id: int) -> dict[int, str]:
    """The language each routed chat reads: a person's own, Chinese in groups."""
    languages: dict[int, str] = {}
    for route_row in await q.routes(session=session, incident_id=incident_id):
        if route_row.chat_id > 0:
            user = await access_q.get_user(session=session, user_id=route_row.chat_id)
            languages[route_row.chat_id] = user.language if user else "zh_CN"
        else:
            languages[route_row.chat_id] = "zh_CN"
    return languages


async def notify_routed(
    *,
    session: AsyncSession,
    ctx: AppContext,
    incident: Incident,
    template: str,
    priority: int = outbox.URGENT,
    **context: Any,
) -> int:
    """Post a message about an incident to every chat it is routed to."""
    languages = await chat_languages(session=session, incident_id=incident.id)
    for chat_id, language in languages.items():
        await outbox.enqueue_message(
            session=session,
            chat_id=chat_id,
            now=ctx.now(),
            priority=priority,
            text=ctx.renderer.render(language, template, incident=incident, **context),
        )
    return len(languages)
