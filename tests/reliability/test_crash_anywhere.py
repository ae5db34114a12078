"""Crash anywhere: one bot process killed with SIGKILL 20 times at random moments (R3 R5 R9 R11).

While staff type reports, a warning goes out to a few hundred people, escalation deadlines
run and patrol rounds fall due, a killer pulls the plug after a random number of Bot API
requests, then starts the bot again (sometimes after the clock moved on while it was down).
Afterwards nothing promised is missing: every submitted report exists once with its number
and reached its chats, every deadline fired, every round was sent (late after an outage),
every recipient has the warning, and every extra copy is one the outbox counted as a
possible duplicate. The seed is printed; INCIDENT_BOT_CRASH_SEED=<seed> replays a run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import or_, select

from emulator.testing import BotMessage, UserHandle
from storage.db import Database
from storage.models import Incident, PatrolRound, TimelineEntry
from tests.harness import Stage, enrol
from tests.journeys.cast import Office, open_office
from tests.journeys.test_warnings import compose
from tests.proc import BotProcess
from tests.reliability.ledger import outbox_ledger, overdue_timers

pytestmark = [pytest.mark.reliability, pytest.mark.subprocess]

KILLS = 20
KILLS_WHILE_REPORTING = 10
PEOPLE = 300
TITLE = "Crash drill: phishing wave"
STEP_WAIT = 6.0
LEVEL_TIMEOUT = {"large": 5, "medium": 15, "small": 30}
ROUTES = {
    "large": ("leadership", "tech_center"),
    "medium": ("tech_center",),
    "small": ("duty", "tech_center"),
}
REPORTS = [("Virus spread", "large"), ("Network failure", "medium"), ("Other", "small")]


def _seed() -> int:
    raw = os.environ.get("INCIDENT_BOT_CRASH_SEED")
    return int(raw) if raw else random.SystemRandom().randrange(2**31)


def _policy(people: dict[str, UserHandle]) -> str:
    return f"""
scheduler_tick_seconds = 0.1
[delivery]
messages_per_second = 150
private_chat_per_second = 200
group_per_minute = 100000
request_timeout_seconds = 3
[warnings]
status_every_seconds = 0.5
[duty]
officers = [{people["duty"].id}]
shift = "week"
[patrols]
grace_minutes = 30
[[patrols.kinds]]
key = "crash"
name = "Crash round"
checklist = ["Firewall and IDS alerts"]
cron = ["*/10 * * * *"]
days = "all"
[[contacts]]
position = "tech_lead"
name = "Lead Zhou"
telegram_id = {people["tech_lead"].id}
"""


@dataclass
class Run:
    """What the scenario did, for the checks and the printed figures."""

    seed: int
    rng: random.Random
    process: BotProcess
    moments: list[str] = field(default_factory=list)
    reported: list[tuple[str, str]] = field(default_factory=list)
    reporting: str = ""
    recoveries: int = 0
    broadcasting: bool = False
    advancing: bool = False
    outages: list[tuple[datetime, datetime]] = field(default_factory=list)
    halfway: asyncio.Event = field(default_factory=asyncio.Event)

    def now(self) -> datetime:
        """The bot process's clock."""
        return datetime.now(UTC) + timedelta(seconds=self.process._offset)


async def _until(check: Callable[[], Any], within: float, what: str) -> None:
    """Wait for the other process to reach a state (nothing here to wait on but the database)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"{what} did not happen within {within}s")
        await asyncio.sleep(0.1)


async def _requests(stage: Stage, count: int, within: float) -> None:
    """Wait until the bot made `count` more Bot API requests, or `within` seconds passed."""
    emulator = stage.emulator
    mark = emulator.log.records[-1].seq if emulator.log.records else 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        signal = emulator.change_signal()
        made = sum(1 for r in emulator.log.since(mark) if r.method != "getUpdates")
        remaining = deadline - loop.time()
        if made >= count or remaining <= 0:
            return
        try:
            await asyncio.wait_for(signal.wait(), min(remaining, 0.2))
        except TimeoutError:
            continue


async def _killer(stage: Stage, run: Run, reporting_done: asyncio.Event) -> None:
    """Pull the plug KILLS times after a random number of requests; start the bot each time."""
    process, rng = run.process, run.rng
    for number in range(1, KILLS + 1):
        if number > KILLS_WHILE_REPORTING:
            await reporting_done.wait()
        await _requests(stage, rng.randint(1, 150), within=rng.uniform(0.3, 4.0))
        moment = ", ".join(
            what
            for what, active in (
                (f"report at {run.reporting}", bool(run.reporting)),
                ("broadcast running", run.broadcasting),
                ("deadlines and rounds due", run.advancing),
            )
            if active
        )
        process.kill9()
        await process.wait_dead()
        down_from = run.now()
        # Sometimes the outage lasts long in the bot's time: deadlines and rounds pass meanwhile.
        if run.advancing and rng.random() < 0.5:
            await process.advance(minutes=rng.choice([3, 7, 12]))
        run.outages.append((down_from, run.now()))
        run.moments.append(f"kill {number}: {moment or 'between actions'}")
        await process.start()
        if number == KILLS_WHILE_REPORTING // 2:
            run.halfway.set()


def _matching(needles: dict[str, str]) -> Callable[[BotMessage], bool]:
    def check(message: BotMessage) -> bool:
        return any(n in message.text for n in needles)

    check.__name__ = "a report prompt"
    return check


async def _press(message: BotMessage, part: str) -> None:
    """Press the button whose label contains `part`; a gone button or lost answer is no error."""
    labels = [b.text for row in message.buttons for b in row if part in b.text]
    if not labels:
        return
    # The bot may die before answering; the next prompt (or its absence) tells what happened.
    with contextlib.suppress(AssertionError):
        await message.press(labels[0], timeout=STEP_WAIT)


async def _find(db: Database, token: str) -> list[Incident]:
    async with db.transaction() as session:
        found = await session.execute(
            select(Incident).where(
                or_(Incident.location.contains(token), Incident.description.contains(token))
            )
        )
        return list(found.scalars())


async def _type_report(
    run: Run, db: Database, user: UserHandle, category: str, level: str, token: str
) -> None:
    """Walk the guided report as a person would: answer the prompt in front of them, and when
    the bot stays silent (it died between saving a step and asking the next), ask again."""
    actions = {
        "What kind of incident": ("press", category),
        "Choose the level": ("press", level),
        "When did it happen": ("press", "Just now"),
        "Where did it happen": ("send", token),
        "What do you see": ("send", f"{token}: the file server is unreachable"),
        "Do you know where it comes from": ("press", "Skip"),
        "Add photos or files": ("press", "Done"),
        "Please check your report": ("press", "📨 Submit"),
        "You have an unfinished incident report": ("press", "Continue it"),
        "Your report is in": ("done", ""),
    }
    await user.send("/report")
    while True:
        try:
            prompt = await user.wait_for(_matching(actions), timeout=STEP_WAIT)
        except AssertionError:
            if await _find(db, token):
                return  # submitted; the bot died before saying so
            run.recoveries += 1
            await user.send("/report")
            continue
        # Act on the newest prompt only: older ones were answered already.
        later = [m for m in user.messages() if m.message_id > prompt.message_id]
        for message in later:
            if _matching(actions)(message):
                prompt = message
                user.cursor = message.message_id
        needle = next(n for n in actions if n in prompt.text)
        kind, value = actions[needle]
        run.reporting = needle
        if kind == "done":
            return
        if kind == "send":
            await user.send(value)
        else:
            await _press(prompt, value)


async def _reporter(run: Run, db: Database, office: Office, killed: Callable[[], int]) -> None:
    """Staff report incidents one after another until enough kills have hit the typing."""
    index = 0
    while index < len(REPORTS) or killed() < KILLS_WHILE_REPORTING:
        category, level = REPORTS[index % len(REPORTS)]
        token = f"Site {run.seed}/{index}#"  # no token is a part of another
        await _type_report(run, db, office.staff, category, level, token)
        run.reported.append((token, level))
        index += 1
    run.reporting = ""


async def _add_people(stage: Stage, db: Database) -> list[UserHandle]:
    """A few hundred approved staff who started the bot, written straight to the database."""
    people = [stage.tg.user(f"Crash{i:03d}", lang="en") for i in range(PEOPLE)]
    async with db.transaction() as session:
        await enrol(session, stage.emulator, [p.user for p in people], roles=["staff"])
    return people


async def _broadcast(stage: Stage, run: Run, office: Office, preview: BotMessage) -> BotMessage:
    """Once the reports alone took some kills, press Send and wait for the final summary."""
    await run.halfway.wait()
    run.broadcasting = True
    await _press(preview, "📢 Send")
    while True:
        try:
            await office.tech.wait_for("📡", timeout=STEP_WAIT * 2)
            break
        except AssertionError:
            await _press(preview, "📢 Send")

    def finished() -> BotMessage | None:
        # A progress message in flight at a kill is sent again: the newest copy is the live one.
        shown = [m for m in office.tech.messages() if "📡" in m.text and "Finished." in m.text]
        return shown[-1] if shown else None

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 90
    while (status := finished()) is None:
        signal = stage.emulator.change_signal()
        if loop.time() > deadline:
            raise AssertionError("the warning's progress message never said Finished.")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(signal.wait(), 1.0)
    run.broadcasting = False
    return status


async def _advance_clock(stage: Stage, run: Run, db: Database, killer: asyncio.Task[None]) -> None:
    """Move the bot's clock on in steps so deadlines and rounds fall due, until the kills end."""
    run.advancing = True
    steps = 0
    while not killer.done() or steps < 12:
        await run.process.advance(minutes=run.rng.choice([2, 4, 6]))
        steps += 1
        target = run.now() - timedelta(seconds=1)

        async def fired(target: datetime = target) -> bool:
            return not await overdue_timers(db, before=target)

        await _until(fired, within=60, what="every deadline up to now firing")
    await killer
    run.advancing = False


async def test_r3_r5_r9_r11_killed_20_times_at_random_moments_loses_nothing(
    stage: Stage,
    processes: Callable[..., BotProcess],
    database_url: str,
) -> None:
    """R3 R5 R9 R11: kill -9 at 20 random moments; no report, deadline, round or copy lost."""
    seed = _seed()
    print(f"\ncrash-anywhere seed: {seed} (replay with INCIDENT_BOT_CRASH_SEED={seed})")
    holder: dict[str, BotProcess] = {}

    async def starter(admins: list[Any], people: dict[str, Any]) -> BotProcess:
        process = processes(stage, admin_ids=[a.id for a in admins], policy_toml=_policy(people))
        await process.start()
        holder["p"] = process
        return process

    office = await open_office(stage, starter=starter)
    run = Run(seed=seed, rng=random.Random(seed), process=holder["p"])
    db = Database(database_url)
    try:
        people = await _add_people(stage, db)
        preview = await compose(office.tech, title=TITLE)

        reporting_done = asyncio.Event()
        killer = asyncio.create_task(_killer(stage, run, reporting_done))
        killed = lambda: len(run.moments)  # noqa: E731
        status, _ = await asyncio.gather(
            _broadcast(stage, run, office, preview), _reporter(run, db, office, killed)
        )
        reporting_done.set()
        await _advance_clock(stage, run, db, killer)
        await _check(stage, run, db, office, people, status)
    finally:
        await db.dispose()


async def _check(
    stage: Stage,
    run: Run,
    db: Database,
    office: Office,
    people: list[UserHandle],
    status: BotMessage,
) -> None:
    """Everything promised arrived; duplicates are within what the outbox counted."""
    assert run.process.starts == KILLS + 1
    now = run.now()

    async def quiet() -> bool:
        ledger = await outbox_ledger(db, stage.emulator)
        return not ledger.unfinished

    await _until(quiet, within=60, what="the outbox emptying")
    assert not await overdue_timers(db, before=now - timedelta(seconds=1))

    # Every submitted report exists once, with its number, in each chat its level routes to.
    chats = {
        "leadership": office.leadership,
        "tech_center": office.tech_center,
        "duty": office.duty,
    }
    async with db.transaction() as session:
        all_incidents = list((await session.execute(select(Incident))).scalars())
    assert len(all_incidents) == len(run.reported)
    for token, level in run.reported:
        found = await _find(db, token)
        assert len(found) == 1, f"{token}: {len(found)} incidents"
        incident = found[0]
        assert re.fullmatch(r"\d{4}-\d{4}", incident.number) and incident.level == level
        for purpose in ROUTES[level]:
            texts = [m.text for m in chats[purpose].messages()]
            assert any(incident.number in t and token in t for t in texts), (
                f"{incident.number} ({level}) never reached {purpose}"
            )

    # Every deadline fired: each incident escalated as often as its timeout allows.
    async with db.transaction() as session:
        for incident in all_incidents:
            entries = (
                await session.execute(
                    select(TimelineEntry).where(
                        TimelineEntry.incident_id == incident.id, TimelineEntry.kind == "escalated"
                    )
                )
            ).scalars()
            age = now - incident.reported_at
            if age > timedelta(minutes=LEVEL_TIMEOUT[incident.level] + 1):
                assert list(entries), f"{incident.number} never escalated in {age}"
        rounds = list((await session.execute(select(PatrolRound))).scalars())
    due = [r for r in rounds if r.due_at < now - timedelta(seconds=1)]
    assert due, "the clock passed no patrol time"
    late = 0
    reminders = [m.text for m in office.duty.messages() if "Patrol: Crash round" in m.text]
    for row in due:
        assert row.sent_at is not None, f"round {row.id} due {row.due_at} was never sent"
        assert row.late == (row.sent_at - row.due_at > timedelta(minutes=2))
        late += row.late
        shown = row.due_at.astimezone(office_tz()).strftime("%Y-%m-%d %H:%M")
        assert any(shown in text for text in reminders), f"no reminder for the {shown} round"
    # A round that fell due more than two minutes (of the bot's time) before it came back is late.
    held = timedelta(minutes=2)
    fell_in_outage = [r for r in due if any(a <= r.due_at < b - held for a, b in run.outages)]
    assert all(r.late for r in fell_in_outage)

    # Every recipient has the warning; the sender's summary adds up.
    for person in people:
        copies = sum(1 for m in person.messages() if TITLE in m.text)
        assert copies >= 1, f"{person.name} never got the warning"
    assert "Failed: 0" in status.text

    ledger = await outbox_ledger(db, stage.emulator)
    ledger.check(windows=KILLS)
    print(
        f"crash-anywhere: {KILLS} kills, {len(run.reported)} reports, {len(due)} rounds due "
        f"({late} late, {len(fell_in_outage)} in a long outage), {ledger.sent} outbox sends; "
        f"{ledger.duplicates} duplicate copies in {ledger.chats_with_duplicates} chats, "
        f"{ledger.flagged} rows flagged possible_duplicate; {run.recoveries} times a reporter "
        "asked again\n  " + "\n  ".join(run.moments)
    )


def office_tz() -> Any:
    """The office's time zone (the default policy's)."""
    from zoneinfo import ZoneInfo

    return ZoneInfo("Asia/Shanghai")
