"""Every privileged command and button, tried by every role: only the allowed succeed (R14 R5).

One office; for each action, each role that may not use it tries first (a command as typed,
a button as forged callback data on a bot message in their own chat) and must get a polite
refusal while the database stays exactly as it was; then each role that may use it does, and
the effect is checked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.access.buttons import AccessDecision, ContactFieldPick, ContactPick, ContactsMenu
from bot.handling import playbooks
from bot.handling.buttons import HandlingPress, StepTick
from bot.incidents import reports
from bot.incidents.buttons import IncidentPress
from bot.incidents.model import Draft
from bot.platform.roles import Role
from bot.records.buttons import RecordsPage
from emulator.testing import BotMessage, GroupHandle, UserHandle
from storage import access as access_q
from storage import incidents as incident_q
from storage.models import (
    Base,
    Chat,
    Contact,
    DutyOverride,
    EarlyWarning,
    Flag,
    Incident,
    OutboxMessage,
    User,
)
from tests.harness import Bot, Stage
from tests.journeys.cast import Office, enlist, open_office
from tests.journeys.test_warnings import compose

pytestmark = pytest.mark.reliability

ROLES = ("unknown", "pending", "staff", "duty", "tech_center", "tech_lead", "leader", "admin")
HANDLERS = {"duty", "tech_center", "tech_lead", "leader"}
INACTIVE = {"unknown", "pending"}
TECH_AND_LEADERS = {"tech_center", "tech_lead", "leader"}


@dataclass
class Reply:
    """What the actor saw: an alert on the button, and messages in the chat they used."""

    alert: str | None = None
    messages: list[BotMessage] = field(default_factory=list)

    @property
    def text(self) -> str:
        """Everything shown, as one string."""
        return "\n".join([self.alert or "", *(m.text for m in self.messages)])


@dataclass
class World:
    """The office, its bot, the actors by role and the objects actions work on."""

    stage: Stage
    office: Office
    bot: Bot
    actors: dict[str, UserHandle]
    spare: GroupHandle
    target: UserHandle
    waiting: UserHandle
    incidents: dict[str, list[Incident]] = field(default_factory=dict)
    red_warning: int = 0
    page_data: str = ""
    contact_id: int = 0

    async def command(self, role: str, text: str, group: GroupHandle | None = None) -> Reply:
        """The actor types a command, privately or in a group; returns what they got back."""
        user = self.actors[role]
        chat: Any = group or user
        chat.skip()
        if group is None:
            await user.send(text)
        else:
            await group.send(user, text)
        await self.stage.settle()
        return Reply(messages=_after(chat))

    async def press(self, role: str, data: str) -> Reply:
        """The actor presses a button with this data on a bot message in their own chat."""
        user = self.actors[role]
        anchor = user.last()
        if anchor is None:
            await user.send("/help")
            anchor = await user.wait_for(lambda m: True)
        user.skip()
        edits = anchor.edit_count
        answer = await self.stage.tg.forge_press(user, anchor, data)
        await self.stage.settle()
        edited = [anchor] if anchor.edit_count != edits else []
        return Reply(alert=answer.text, messages=edited + _after(user))

    async def row(self, model: Any, **where: Any) -> Any:
        """One row, read fresh."""
        async with self.bot.ctx.db.transaction() as session:
            query = select(model).filter_by(**where)
            return (await session.execute(query)).scalars().first()


def _after(chat: Any) -> list[BotMessage]:
    """Bot messages after the chat handle's cursor."""
    return [m for m in chat.messages() if m.message_id > chat.cursor]


@dataclass
class Action:
    """A privileged action, who may do it, and how to see it worked."""

    name: str
    allowed: set[str]
    act: Callable[[World, str, int], Awaitable[Reply]]
    worked: Callable[[World, str, int, Reply], Awaitable[None]]


def _shows(*needles: str) -> Callable[[World, str, int, Reply], Awaitable[None]]:
    async def check(world: World, role: str, index: int, reply: Reply) -> None:
        assert any(n in reply.text for n in needles), f"{role}: {reply.text!r}"

    return check


def _cmd(text: str | Callable[[World, int], str], group: str | None = None) -> Any:
    async def act(world: World, role: str, index: int) -> Reply:
        typed = text(world, index) if callable(text) else text
        chat = {"spare": world.spare, "all_staff": world.office.all_staff}.get(group or "")
        return await world.command(role, typed, chat)

    return act


def _btn(data: Callable[[World, int], str]) -> Any:
    async def act(world: World, role: str, index: int) -> Reply:
        return await world.press(role, data(world, index))

    return act


def _incident(kind: str) -> Callable[[World, int], Incident]:
    return lambda world, index: world.incidents[kind][index]


def _ack_worked(kind: str) -> Callable[[World, str, int, Reply], Awaitable[None]]:
    async def check(world: World, role: str, index: int, reply: Reply) -> None:
        incident = await world.row(Incident, id=world.incidents[kind][index].id)
        assert incident.acknowledged_by == world.actors[role].id, reply.text

    return check


async def _roles_changed(world: World, role: str, index: int, reply: Reply) -> None:
    async with world.bot.ctx.db.transaction() as session:
        user = await access_q.get_user(session=session, user_id=world.target.id)
        assert user is not None and "duty" in user.role_names, reply.text


async def _approved(world: World, role: str, index: int, reply: Reply) -> None:
    user = await world.row(User, id=world.waiting.id)
    assert user.status == "active", reply.text


async def _bound(world: World, role: str, index: int, reply: Reply) -> None:
    chat = await world.row(Chat, id=world.spare.id)
    assert chat is not None and chat.purpose == "duty", reply.text


async def _unbound(world: World, role: str, index: int, reply: Reply) -> None:
    chat = await world.row(Chat, id=world.spare.id)
    assert chat is None or not chat.purpose, reply.text


async def _contact_removed(world: World, role: str, index: int, reply: Reply) -> None:
    assert await world.row(Contact, id=world.contact_id) is None, reply.text


async def _warning_approved(world: World, role: str, index: int, reply: Reply) -> None:
    warning = await world.row(EarlyWarning, id=world.red_warning)
    assert warning.status == "active", reply.text
    # Let the broadcast finish, so the next fingerprints see a still database.
    status = await world.office.tech.wait_for("📡", timeout=10)
    await status.wait_until("Finished.", timeout=15)


async def _special_on(world: World, role: str, index: int, reply: Reply) -> None:
    flag = await world.row(Flag, key="special_period")
    assert flag is not None and flag.value == {"on": True}, reply.text


async def _overridden(world: World, role: str, index: int, reply: Reply) -> None:
    async with world.bot.ctx.db.transaction() as session:
        rows = list((await session.execute(select(DutyOverride))).scalars())
    assert rows, reply.text


async def _sent_photo(world: World, role: str, index: int, reply: Reply) -> None:
    assert any(m.photo is not None for m in reply.messages), reply.text


async def _sent_document(world: World, role: str, index: int, reply: Reply) -> None:
    assert any(m.document is not None for m in reply.messages), reply.text


def _cancel_after(
    check: Callable[[World, str, int, Reply], Awaitable[None]],
) -> Callable[[World, str, int, Reply], Awaitable[None]]:
    """Check, then leave the conversation the action opened, so the actor starts clean."""

    async def both(world: World, role: str, index: int, reply: Reply) -> None:
        await check(world, role, index, reply)
        await world.command(role, "/cancel")

    return both


def _ticked(world: World, index: int) -> str:
    incident = world.incidents["tick"][0]
    steps = playbooks.steps_from_policy(world.bot.ctx.policy, incident.category, incident.subtype)
    return StepTick(incident_id=incident.id, index=index, signature=steps[index].signature).pack()


def _day(offset: int) -> Callable[[World, int], str]:
    def text(world: World, index: int) -> str:
        ctx = world.bot.ctx
        today = ctx.now().astimezone(ctx.policy.tz).date()
        return (today + timedelta(days=offset + index * 2)).isoformat()

    return text


ACTIONS = [
    Action("/invite", {"admin"}, _cmd("/invite staff"), _shows("https://t.me/")),
    Action("/users", {"admin"}, _cmd("/users"), _shows("Staff Zheng")),
    Action(
        "/role",
        {"admin"},
        _cmd(lambda w, i: f"/role {w.target.id} staff,duty"),
        _roles_changed,
    ),
    Action("/bind", {"admin"}, _cmd("/bind duty", group="spare"), _bound),
    Action("/unbind", {"admin"}, _cmd("/unbind", group="spare"), _unbound),
    Action(
        "contacts: add",
        {"admin"},
        _btn(lambda w, i: ContactsMenu("add").pack()),
        _cancel_after(_shows("position")),
    ),
    Action(
        "contacts: change a field",
        {"admin"},
        _btn(lambda w, i: ContactFieldPick(w.contact_id, "mobile").pack()),
        _cancel_after(_shows("Send the new number")),
    ),
    Action(
        "contacts: remove",
        {"admin"},
        _btn(lambda w, i: ContactPick("confirm", w.contact_id).pack()),
        _contact_removed,
    ),
    Action(
        "approve a request",
        {"admin"},
        _btn(lambda w, i: AccessDecision(w.waiting.id, Role.STAFF).pack()),
        _approved,
    ),
    Action("/special_period", {"leader"}, _cmd("/special_period on"), _special_on),
    Action(
        "declare the emergency over",
        {"leader"},
        _btn(lambda w, i: HandlingPress("over", w.incidents["resolved"][i].id).pack()),
        _cancel_after(_shows("over")),
    ),
    Action(
        "approve a red warning",
        {"leader"},
        _btn(lambda w, i: f"wrn:ok:{w.red_warning}"),
        _warning_approved,
    ),
    Action(
        "acknowledge a large incident",
        {"leader"},
        _btn(lambda w, i: IncidentPress("ack", w.incidents["large"][i].id).pack()),
        _ack_worked("large"),
    ),
    Action("/warn", TECH_AND_LEADERS, _cmd("/warn"), _cancel_after(_shows("How serious"))),
    Action(
        "/lift",
        TECH_AND_LEADERS,
        _cmd(lambda w, i: f"/lift {w.red_warning}"),
        _cancel_after(_shows("lift")),
    ),
    Action(
        "/drill",
        {*TECH_AND_LEADERS, "admin"},
        _cmd("/drill"),
        _cancel_after(_shows("What kind of incident")),
    ),
    Action(
        "acknowledge a medium incident",
        TECH_AND_LEADERS,
        _btn(lambda w, i: IncidentPress("ack", w.incidents["medium"][i].id).pack()),
        _ack_worked("medium"),
    ),
    Action(
        "acknowledge a small incident",
        HANDLERS,
        _btn(lambda w, i: IncidentPress("ack", w.incidents["small"][i].id).pack()),
        _ack_worked("small"),
    ),
    Action("/incidents", HANDLERS, _cmd("/incidents"), _shows("2026-", "20")),
    Action(
        "/incident",
        HANDLERS,
        _cmd(lambda w, i: f"/incident {w.incidents['large'][0].number}"),
        _shows("Timeline", "timeline", "Reported"),
    ),
    Action("tick a step", HANDLERS, _btn(_ticked), _shows("✅", "Ticked", "done")),
    Action(
        "/update",
        HANDLERS,
        _cmd(lambda w, i: f"/update {w.incidents['tick'][0].number} Progress {i}"),
        _shows("posted", "Update"),
    ),
    Action(
        "/duty set",
        {"tech_lead", "admin"},
        _cmd(lambda w, i: f"/duty set {_day(3)(w, i)} {w.actors['duty'].id}"),
        _overridden,
    ),
    Action(
        "/duty swap",
        {"tech_lead", "admin"},
        _cmd(lambda w, i: f"/duty swap {_day(10)(w, i)} {_day(11)(w, i)}"),
        _overridden,
    ),
    Action(
        "/incidents with filters", HANDLERS, _cmd("/incidents large"), _shows("Permissions large")
    ),
    Action(
        "a page of /incidents",
        HANDLERS,
        _btn(lambda w, i: w.page_data),
        _shows("Permissions"),
    ),
    Action("/stats", HANDLERS, _cmd("/stats"), _sent_photo),
    Action("/export", TECH_AND_LEADERS, _cmd("/export incidents"), _sent_document),
    Action(
        "/patrols", {"tech_center", "tech_lead", "leader", "admin"}, _cmd("/patrols"), _shows("")
    ),
    Action(
        "/patrols export",
        {"tech_center", "tech_lead", "leader", "admin"},
        _cmd("/patrols export"),
        _shows(".csv", "Patrol log", "patrol"),
    ),
]


async def _fingerprint(world: World) -> dict[str, list[tuple[str, ...]]]:
    """Every row of every table, as sorted text: equal fingerprints mean nothing changed."""
    await _quiet(world)
    dump: dict[str, list[tuple[str, ...]]] = {}
    async with world.bot.ctx.db.transaction() as session:
        for table in Base.metadata.sorted_tables:
            rows = (await session.execute(select(table))).all()
            dump[table.name] = sorted(tuple(str(v) for v in row) for row in rows)
    return dump


async def _quiet(world: World) -> None:
    """Wait until the outbox has delivered everything queued so far (it works on its own)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    while True:
        await world.bot.drain()
        async with world.bot.ctx.db.transaction() as session:
            busy = await session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.status.in_(("pending", "in_flight")))
            )
        if not busy:
            return
        assert loop.time() < deadline, f"{busy} outbox rows still waiting"
        await asyncio.sleep(0.05)


def _difference(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    return [
        f"{name}: {sorted(set(after[name]) ^ set(before[name]))[:4]}"
        for name in before
        if before[name] != after[name]
    ]


async def _new_incident(
    world: World, level: str, category: str = "network_failure", subtype: str | None = None
) -> Incident:
    ctx = world.bot.ctx
    reporter = world.target  # not an actor: a reporter may see their own incident
    draft = Draft(
        category=category,
        subtype=subtype,
        level=level,
        occurred_at=ctx.now().isoformat(),
        location=f"Permissions {level}",
        description="A table of who may do what",
        source_done=True,
        files_done=True,
    )
    async with ctx.db.transaction() as session:
        done = await reports.submit(session=session, ctx=ctx, reporter_id=reporter.id, draft=draft)
        return done.incident


async def _set_status(world: World, incident: Incident, status: str) -> None:
    async with world.bot.ctx.db.transaction() as session:
        row = await incident_q.get_incident(session=session, incident_id=incident.id)
        assert row is not None
        row.status = status


async def _world(stage: Stage) -> World:
    office = await open_office(stage)
    bot = office.bot
    # The tech-center lead on the contacts card edits the roster; duty officers take turns.
    policy = bot.ctx.policy.model_copy(
        update={
            "duty": bot.ctx.policy.duty.model_copy(update={"officers": [office.duty.id]}),
        }
    )
    bot.ctx.policy = policy
    async with bot.ctx.db.transaction() as session:
        contact = Contact(position="tech_lead", name="Lead Zhou", telegram_id=office.tech_lead.id)
        session.add(contact)
        spare = Contact(position="liaison", name="Liaison Spare")
        session.add(spare)
        await session.flush()
        contact_id = spare.id
    tg = stage.tg
    unknown = tg.user("Unknown Stranger", lang="en")
    pending = tg.user("Pending Person", lang="en")
    await pending.send("/start")
    await pending.wait_for("sent to the admins")
    waiting = tg.user("Waiting Applicant", lang="en")
    await waiting.send("/start")
    await waiting.wait_for("sent to the admins")
    target = tg.user("Target Ma", lang="en")
    await enlist(office.admin, target, "staff")
    actors = {
        "unknown": unknown,
        "pending": pending,
        "staff": office.staff,
        "duty": office.duty,
        "tech_center": office.tech,
        "tech_lead": office.tech_lead,
        "leader": office.leader,
        "admin": office.admin,
    }
    spare_group = tg.group("Spare room", members=list(actors.values()))
    world = World(
        stage=stage,
        office=office,
        bot=bot,
        actors=actors,
        spare=spare_group,
        target=target,
        waiting=waiting,
        contact_id=contact_id,
    )
    for level in ("large", "medium", "small"):
        world.incidents[level] = [await _new_incident(world, level) for _ in range(4)]
    resolved = await _new_incident(world, "medium")
    await _set_status(world, resolved, "resolved")
    world.incidents["resolved"] = [resolved]
    tick = await _new_incident(world, "medium", category="intrusion", subtype="internet")
    await _set_status(world, tick, "acknowledged")
    world.incidents["tick"] = [tick]
    await office.leader.send("/incidents")
    listing = await office.leader.wait_for(lambda m: any(b for row in m.buttons for b in row))
    world.page_data = next(
        b.callback_data
        for row in listing.buttons
        for b in row
        if b.callback_data and RecordsPage.matches(b.callback_data)
    )
    preview = await compose(office.tech, level="Red", title="Permissions: red warning")
    await preview.press("📢 Send")
    await office.tech.wait_for("leadership group")
    async with bot.ctx.db.transaction() as session:
        found = await session.execute(select(EarlyWarning))
        world.red_warning = found.scalars().one().id
    await stage.settle()
    await bot.drain()
    return world


async def test_r14_every_privileged_action_by_every_role(stage: Stage) -> None:
    """R14 R5: only the allowed roles succeed; the others are refused politely, nothing changes."""
    world = await _world(stage)
    tried = refused = 0
    told: dict[str, int] = {}
    for action in ACTIONS:
        for role in ROLES:
            if role in action.allowed:
                continue
            before = await _fingerprint(world)
            reply = await action.act(world, role, 0)
            after = await _fingerprint(world)
            tried += 1
            refused += 1
            if role in INACTIVE and reply.alert is None:
                # Not active: one short note a minute, and the rest of a flood is ignored.
                told[role] = told.get(role, 0) + bool(reply.text.strip())
            else:
                assert reply.text.strip(), f"{action.name} by {role}: no answer at all"
            assert not _difference(before, after), (
                f"{action.name} by {role} changed {_difference(before, after)}: {reply.text!r}"
            )
        for index, role in enumerate(sorted(action.allowed)):
            reply = await action.act(world, role, index)
            tried += 1
            await action.worked(world, role, index, reply)
    # Each account that is not active was told at least once what it needs to do.
    assert all(told.get(role, 0) >= 1 for role in INACTIVE), told
    print(
        f"\npermissions: {len(ACTIONS)} actions x {len(ROLES)} roles: "
        f"{tried} tries, {refused} refused"
    )
