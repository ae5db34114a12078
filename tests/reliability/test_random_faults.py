"""Random faults in a long scenario: nothing lost, nothing doubled unless counted (R4 R5 R7 R9).

Reports of every level, acknowledgements, progress updates, a warning to everyone and a
group's migration to a supergroup, while Telegram answers at random (seeded) with 429 and
retry_after, 500, timeouts, dropped connections and 403 for someone who blocked the bot.
Faults hit the chats that receive notifications through the outbox, and every call the bot
makes while people use it: replies, edits of prompts and answers to button presses (429, 5xx
and timeouts there; a reply whose connection is dropped would be lost for good, which a flaky
network can do but this test does not ask of it). Every journey step still completes with
no error logged; afterwards every notification is in its chat once, or twice where a timeout
could have delivered it and the outbox counted a possible duplicate.
INCIDENT_BOT_FAULT_SEED=<seed> replays a run.
"""

from __future__ import annotations

import asyncio
import os
import random
from typing import Any

import pytest

from emulator.models import Chat
from emulator.testing import UserHandle
from tests.harness import Stage, enrol, fast_policy
from tests.journeys.cast import Office, enlist, open_office, report
from tests.journeys.test_warnings import compose
from tests.reliability.ledger import outbox_ledger

# Long enough for the patience the test computes from the faults it aimed (longest_retry).
# A press answered late may be answered again: Telegram refuses the second as "too old".
pytestmark = [pytest.mark.reliability, pytest.mark.timeout(300), pytest.mark.repeated_answers]

PASSIVE = 20
TITLE = "Faults drill: suspicious logins"
LEVELS = ("large", "medium", "small")
ROUTES = {
    "large": ("leadership", "tech_center"),
    "medium": ("tech_center",),
    "small": ("duty", "tech_center"),
}
ACK = {"large": "leader", "medium": "tech", "small": "duty"}
# The outbox's longest wait between retries: short, so that faults piled on one chat still
# clear within the test's time.
RETRY_CAP = 4


def _seed() -> int:
    raw = os.environ.get("INCIDENT_BOT_FAULT_SEED")
    return int(raw) if raw else random.SystemRandom().randrange(2**31)


# What the bot calls while people use it, besides the outbox's sends.
INTERACTIVE = ("sendMessage", "editMessageText", "editMessageReplyMarkup", "answerCallbackQuery")


class Chaos:
    """Adds seeded random faults aimed at the chats the outbox writes to, and at every call
    the bot makes to answer the people using it."""

    def __init__(
        self, stage: Stage, rng: random.Random, targets: list[Any], people: list[Any]
    ) -> None:
        self.stage, self.rng, self.targets, self.people = stage, rng, targets, people
        self.fired: dict[str, int] = {}
        self.timeouts = 0
        self.failures: dict[int, int] = {}

    def strike(self) -> None:
        """One to three faults on random chats: 429, 500, a timeout or a dropped connection."""
        faults = self.stage.emulator.faults
        for _ in range(self.rng.randint(1, 3)):
            target = self.rng.choice(self.targets)
            chat_id = target.id
            method = self.rng.choice(["sendMessage", "sendMessage", "editMessageText"])
            kind = self.rng.choice(["429", "500", "timeout", "drop"])
            times = 1
            if kind == "429":
                faults.add(method, chat_id=chat_id, http_status=429, retry_after=1)
            elif kind == "500":
                times = self.rng.randint(1, 3)
                faults.add(method, chat_id=chat_id, http_status=500, times=times)
            elif kind == "timeout":
                # Longer than the bot waits: it gives up, but the message may have arrived.
                faults.add(method, chat_id=chat_id, delay=3.5)
                self.timeouts += 1
            else:
                faults.add(method, chat_id=chat_id, delay=0.2, drop=True)
            self.fired[kind] = self.fired.get(kind, 0) + 1
            self.failures[chat_id] = self.failures.get(chat_id, 0) + times
        self.strike_replies()

    def strike_replies(self) -> None:
        """One fault on a call that answers someone: a reply, a prompt's edit, a press's answer."""
        faults = self.stage.emulator.faults
        method = self.rng.choice(INTERACTIVE)
        person = self.rng.choice(self.people)
        chat_id = None if method == "answerCallbackQuery" else person.id
        kind = self.rng.choice(["429", "500", "timeout"])
        if kind == "429":
            faults.add(method, chat_id=chat_id, http_status=429, retry_after=1)
        elif kind == "500":
            faults.add(method, chat_id=chat_id, http_status=500)
        else:
            # The bot gives up waiting; the call arrives all the same, late.
            faults.add(method, chat_id=chat_id, delay=3.5)
            self.timeouts += 1
        self.fired[f"reply {kind}"] = self.fired.get(f"reply {kind}", 0) + 1

    def longest_retry(self) -> float:
        """Seconds the unluckiest chat may spend failing and waiting between retries.

        Every fault aimed at a chat fails one request to it; after the k-th failure in a row
        the outbox waits min(2^(k-1), RETRY_CAP) s, and a timed-out request takes 3.5 s.
        """
        worst = max(self.failures.values(), default=0)
        return sum(min(2 ** (k - 1), RETRY_CAP) + 3.5 for k in range(1, worst + 1))


async def _passive_people(stage: Stage, office: Office) -> list[UserHandle]:
    """Staff who only receive: written straight to the database, never typing."""
    people = [stage.tg.user(f"Quiet{i:02d}", lang="en") for i in range(PASSIVE)]
    async with office.bot.ctx.db.transaction() as session:
        await enrol(session, stage.emulator, [p.user for p in people], roles=["staff"])
    return people


def _texts(*chats: Chat) -> list[str]:
    """Every bot message in these chats (a group before and after its migration)."""
    return [m.plain for chat in chats for m in chat.messages.values() if m.sender.is_bot]


async def test_r4_r9_random_faults_in_a_long_scenario_lose_nothing(stage: Stage) -> None:
    """R4 R5 R7 R9: seeded 429/500/timeouts/drops/403 and a migration; every copy accounted for."""
    seed = _seed()
    print(f"\nrandom-faults seed: {seed} (replay with INCIDENT_BOT_FAULT_SEED={seed})")
    rng = random.Random(seed)
    policy = fast_policy(delivery={"max_attempts": 30, "longest_retry_wait_seconds": RETRY_CAP})
    office = await open_office(stage, policy=policy)
    emulator = stage.emulator
    blocker = stage.tg.user("Blocker Lin", lang="en")
    await enlist(office.admin, blocker, "staff")
    passive = await _passive_people(stage, office)
    old_tech = office.tech_center.chat
    targets: list[Any] = [
        office.leadership,
        office.tech_center,
        office.all_staff,
        office.duty,
        *passive,
    ]
    people = [office.staff, office.leader, office.tech, office.duty]
    chaos = Chaos(stage, rng, targets, people)
    migrate_after = rng.randrange(1, 5)
    handlers = {"leader": office.leader, "tech": office.tech, "duty": office.duty}
    numbers: list[tuple[str, str]] = []
    for index in range(6):
        if index == migrate_after:
            await office.tech_center.migrate_to_supergroup(by=office.admin)
        chaos.strike()
        level = LEVELS[index % 3] if index < 3 else rng.choice(LEVELS)
        number = await report(
            office.staff,
            category="Other",
            subtype=None,
            level=level,
            where=f"Fault site {index}",
            source=None,
        )
        numbers.append((number, level))
        chaos.strike()
        if rng.random() < 0.7:
            # Acknowledge from the card in a routed group chat, as a handler would.
            group = office.leadership if level == "large" else office.tech_center
            card = await group.wait_for(number, timeout=30)
            await card.press("✅ 确认", by=handlers[ACK[level]])
        if rng.random() < 0.7:
            await office.tech.send(f"/update {number} Contained at step {index}")
            await office.tech.wait_for("update", timeout=10)
    await blocker.block_bot()
    emulator.faults.add(
        "sendMessage",
        chat_id=blocker.id,
        http_status=403,
        description="Forbidden: bot was blocked by the user",
        times=3,
    )
    chaos.strike()
    preview = await compose(office.tech, title=TITLE)
    await preview.press("📢 Send")
    status = await office.tech.wait_for("📡", timeout=30)
    # Faults can pile up on one chat, and the outbox backs off after each: wait that long.
    patience = 60 + chaos.longest_retry()
    await status.wait_until("Finished.", timeout=patience)

    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience
    while (ledger := await outbox_ledger(office.bot.ctx.db, emulator)).unfinished:
        assert loop.time() < deadline, f"outbox still busy: {ledger.unfinished[:5]}"
        await asyncio.sleep(0.2)  # the dispatcher retries on its own clock
    await stage.settle()
    ledger.check(windows=chaos.timeouts)

    groups = {
        "leadership": _texts(office.leadership.chat),
        "tech_center": _texts(old_tech, office.tech_center.chat),
        "duty": _texts(office.duty.chat),
    }
    for number, level in numbers:
        for purpose in ROUTES[level]:
            cards = [t for t in groups[purpose] if number in t and "Fault site" in t]
            assert cards, f"{number} ({level}) never reached {purpose}"
    for person in [*passive, office.staff, office.leader, office.tech, office.duty]:
        assert any(TITLE in t for t in _texts(person.chat)), f"{person.name} missed the warning"
    assert not any(TITLE in t for t in _texts(blocker.chat))
    print(
        f"random-faults: {sum(chaos.fired.values())} faults {chaos.fired}, "
        f"{len(numbers)} reports, {ledger.sent} outbox sends, {ledger.duplicates} duplicate "
        f"copies, {ledger.flagged} flagged possible_duplicate"
    )
