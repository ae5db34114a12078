"""A warning to 2,000 people survives 429s, blocked users and a kill -9 mid-broadcast (R9)."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from typing import Any

import pytest

from emulator.models import User as EmulatorUser
from storage.db import Database
from tests.harness import Stage, enrol
from tests.journeys.cast import open_office
from tests.journeys.test_warnings import compose
from tests.proc import FAST_POLICY, BotProcess

pytestmark = [pytest.mark.reliability, pytest.mark.subprocess]

PEOPLE = 2000
TITLE = "Mass phishing wave against district mailboxes"
POLICY = FAST_POLICY + "[warnings]\nstatus_every_seconds = 0.5\n"


async def _office_in_process(stage: Stage, processes: Callable[..., BotProcess]) -> Any:
    holder: dict[str, BotProcess] = {}

    async def starter(admins: list[Any], _people: dict[str, Any]) -> BotProcess:
        process = processes(stage, admin_ids=[a.id for a in admins], policy_toml=POLICY)
        await process.start()
        holder["p"] = process
        return process

    office = await open_office(stage, starter=starter)
    return office, holder["p"]


async def _add_people(stage: Stage, database_url: str) -> list[EmulatorUser]:
    """Two thousand approved staff who have started the bot, made directly rather than by chat."""
    emulator = stage.emulator
    people = [
        emulator.create_user(f"Staff{i:04d}", language_code="zh-hans" if i % 2 == 0 else "en")
        for i in range(PEOPLE)
    ]
    db = Database(database_url)
    try:
        async with db.transaction() as session:
            await enrol(session, emulator, people, roles=["staff"])
    finally:
        await db.dispose()
    return people


def _copies(stage: Stage, chat: Any) -> int:
    return sum(1 for m in stage.emulator.bot_messages(chat) if TITLE in (m.plain or ""))


async def _until(stage: Stage, check: Callable[[], bool], within: float) -> None:
    """Wait for the emulator to reach a state, woken by each change it makes."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        signal = stage.emulator.change_signal()
        if check():
            return
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise AssertionError(f"{check.__name__} did not happen within {within}s")
        try:
            await asyncio.wait_for(signal.wait(), remaining)
        except TimeoutError:
            continue


def _figure(text: str, pattern: str) -> int:
    found = re.search(pattern, text)
    assert found, f"{pattern!r} not in {text!r}"
    return int(found.group(1))


async def test_r9_broadcast_to_2000_people_survives_kill_9_429s_and_blocked_users(
    stage: Stage,
    processes: Callable[..., BotProcess],
    database_url: str,
) -> None:
    """R9: after a kill -9 mid-broadcast every reachable person has one copy, or it is counted."""
    office, process = await _office_in_process(stage, processes)
    people = await _add_people(stage, database_url)
    emulator = stage.emulator
    # 1 % cannot be reached: half blocked the bot (it is told), half answer 403 when written to.
    told, refusing = people[5:1000:100], people[55:2000:200]
    for person in told:
        emulator.block_bot(person)
    for person in refusing:
        emulator.faults.add("sendMessage", chat_id=person.id, http_status=403, probability=1.0)
    await stage.settle()
    unreachable = {p.id for p in told} | {p.id for p in refusing}
    assert len(unreachable) == PEOPLE // 100

    preview = await compose(office.tech, title=TITLE)
    emulator.faults.add("sendMessage", http_status=429, retry_after=1, times=2)
    mark = emulator.log.records[-1].seq
    started = time.monotonic()
    await preview.press("📢 Send")
    # A 429 may hold the progress message back behind the copies already handed out.
    status = await office.tech.wait_for("📡", timeout=30)
    ids = {p.id for p in people}

    def half_delivered() -> bool:
        accepted = sum(
            1
            for r in emulator.log.since(mark)
            if r.outcome == "ok" and r.method == "sendMessage" and r.chat_id in ids
        )
        return accepted >= PEOPLE // 2

    await _until(stage, half_delivered, within=60)
    process.kill9()
    await process.wait_dead()
    killed_at = time.monotonic() - started
    await process.start()
    await status.wait_until("Finished.", timeout=60)
    elapsed = time.monotonic() - started

    summary = status.text
    total = PEOPLE + 7 + 3
    assert _figure(summary, r"Delivered: (\d+) / \d+") == total - len(unreachable)
    assert _figure(summary, r"Delivered: \d+ / (\d+)") == total
    assert _figure(summary, r"Blocked the bot: (\d+)") == len(unreachable)
    assert _figure(summary, r"Failed: (\d+)") == 0
    duplicates = _figure(summary, r"Possible duplicates: (\d+)")
    progress = [e.text or "" for e in status.edits if "Still to send" in (e.text or "")]
    assert progress, "the progress message was edited while the broadcast ran"

    counts = {p.id: _copies(stage, emulator.private_chat(p)) for p in people}
    assert all(counts[i] == 0 for i in unreachable)
    reachable = [n for i, n in counts.items() if i not in unreachable]
    assert all(n in (1, 2) for n in reachable), sorted(set(reachable))
    doubled = sum(1 for n in reachable if n == 2)
    assert doubled <= duplicates
    for group in (office.leadership, office.tech_center, office.all_staff):
        assert _copies(stage, group.chat) in (1, 2)

    rate_limited = [
        r for r in emulator.log.since(mark) if r.status == 429 and r.method == "sendMessage"
    ]
    assert len(rate_limited) == 2
    assert process.starts == 2
    print(
        f"\nR9 broadcast: {total} recipients, killed after {killed_at:.1f}s, finished after "
        f"{elapsed:.1f}s; {doubled} people got two copies, {duplicates} counted as possible "
        f"duplicates"
    )
