"""Random input: 10,000 random updates into the running bot (R3 R14, every handler).

Hypothesis draws batches of actions: who (staff, a leader, an unknown user, a pending user),
where (their private chat, a bound group, an unbound group) and what (text of any kind and
length, real and made-up commands with random arguments, photos and files at any step,
presses of real buttons on the bot's messages, forged callback data). Each batch is sent
quickly, then the test waits until the bot has handled it and checks: nothing logged as an
error and no request Telegram would refuse (the `stage` fixture), every private message got a
reply, every button press got its answer, and an unbound group got at most the short note.
A failure prints the falsifying batch and a blob to replay it; `--hypothesis-seed=N` fixes
the draw, INCIDENT_BOT_RANDOM_BATCHES=N runs fewer batches while working on a fix.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import app.build  # noqa: F401  (every feature, and so every button kind)
from bot.platform.buttons import kinds
from emulator.models import CallbackQuery
from emulator.testing import GroupHandle, UserHandle
from tests.harness import Stage
from tests.journeys.cast import Office, open_office

# Ten thousand updates: a busy machine needs more than the default two minutes.
pytestmark = [pytest.mark.reliability, pytest.mark.timeout(360)]

BATCHES = int(os.environ.get("INCIDENT_BOT_RANDOM_BATCHES", "100"))
BATCH = 100
WHO = ("staff", "leader", "unknown", "pending")
COMMANDS = [
    "start",
    "help",
    "report",
    "cancel",
    "contacts",
    "lang",
    "language",
    "incidents",
    "incident",
    "update",
    "report_doc",
    "drill",
    "special_period",
    "warn",
    "warnings",
    "lift",
    "duty",
    "patrols",
    "invite",
    "users",
    "role",
    "bind",
    "unbind",
]
# Every typed button kind's prefix (and one retired prefix): forged data of each kind.
PREFIXES = tuple(sorted({f"{kind.prefix}:" for kind in kinds()} | {"rep:"}))
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)

text = st.text(min_size=1, max_size=4096).filter(lambda t: t.strip() != "")
short = st.text(min_size=1, max_size=40).filter(lambda t: t.strip() != "")
command = st.builds(
    lambda name, args, bot: f"/{name}{'@incident_test_bot' if bot else ''} {args}".rstrip(),
    st.one_of(st.sampled_from(COMMANDS), st.from_regex(r"[a-z_]{1,20}", fullmatch=True)),
    st.one_of(st.just(""), short, st.sampled_from(["on", "off", "en", "zh", "staff", "2026-0001"])),
    st.booleans(),
)
html = st.builds(
    lambda a, b: f"<b>{a}</b><a href='{b}'>&amp;</a><script>{a}</script>", short, short
)
control = st.text(
    alphabet=st.characters(codec="utf-8", categories=["Cc", "Cf", "Zs", "Zl"]), min_size=1
).map(lambda t: f"x{t}x")
forged = st.one_of(
    st.none(),
    st.text(min_size=1, max_size=64).filter(lambda t: len(t.encode()) <= 64),
    st.builds(lambda p, s: (p + s)[:64], st.sampled_from(PREFIXES), short).filter(
        lambda t: len(t.encode()) <= 64
    ),
)
where = st.sampled_from(["private", "private", "private", "bound", "unbound"])
action = st.one_of(
    st.tuples(st.just("text"), st.sampled_from(WHO), where, st.one_of(text, html, control)),
    st.tuples(st.just("command"), st.sampled_from(WHO), where, command),
    st.tuples(st.just("photo"), st.sampled_from(WHO), where, st.just("")),
    st.tuples(st.just("document"), st.sampled_from(WHO), where, short),
    st.tuples(st.just("press"), st.sampled_from(WHO), where, st.integers(0, 10_000)),
    st.tuples(st.just("forge"), st.sampled_from(WHO), where, forged),
)


@dataclass
class Tally:
    """What was sent, and what the checks counted."""

    updates: int = 0
    private: int = 0
    presses: int = 0


class Crowd:
    """The people who act and the chats they act in."""

    def __init__(self, stage: Stage, office: Office, unknown: UserHandle, pending: UserHandle):
        self.stage = stage
        self.office = office
        self.people = {
            "staff": office.staff,
            "leader": office.leader,
            "unknown": unknown,
            "pending": pending,
        }
        self.bound: GroupHandle = office.all_staff
        self.unbound = stage.tg.group("Random chat", members=list(self.people.values()))
        self.tally = Tally()

    def chat(self, who: str, where: str) -> Any:
        """Where the person acts: their private chat, or a group they belong to."""
        person = self.people[who]
        if where == "bound" and self.bound.chat.is_member(person.id):
            return self.bound
        if where == "unbound":
            return self.unbound
        return person


async def _act(crowd: Crowd, step: tuple[str, str, str, Any], queries: list[CallbackQuery]) -> int:
    """Do one action; returns how many private messages need a reply."""
    kind, who, where, value = step
    person = crowd.people[who]
    chat = crowd.chat(who, where)
    private = chat is person
    emulator = crowd.stage.emulator
    if kind in ("text", "command"):
        if private:
            await person.send(value)
        else:
            await chat.send(person, value)
        return int(private)
    if kind == "photo":
        if private:
            await person.send_photo(PNG)
        else:
            await chat.send_photo(person, PNG)
        return int(private)
    if kind == "document":
        if private:
            await person.send_document(value.encode(), "notes.txt")
        else:
            await chat.send_document(person, value.encode(), "notes.txt")
        return int(private)
    messages = [m for m in chat.messages() if kind == "forge" or m.buttons]
    if not messages:
        return 0
    message = messages[value % len(messages)] if kind == "press" else messages[-1]
    if kind == "press":
        buttons = [b for row in message.buttons for b in row if b.callback_data]
        if not buttons:
            return 0
        button = buttons[value % len(buttons)]
        queries.append(
            emulator.press_button(person.user, message.message, data=button.callback_data)
        )
    else:
        queries.append(emulator.forge_callback(person.user, message.message, value))
    return 0


@pytest.fixture
async def crowd(stage: Stage) -> AsyncIterator[Crowd]:
    """One office for all the examples, with an unknown and a pending user."""
    office = await open_office(stage)
    unknown = stage.tg.user("Nobody Known", lang="en")
    pending = stage.tg.user("Still Waiting", lang="zh")
    await pending.send("/start")
    await pending.wait_for("管理员")
    for person in (office.staff, office.leader, unknown):
        await person.send("/help")
    await stage.settle()
    found = Crowd(stage, office, unknown, pending)
    yield found
    tally = found.tally
    print(
        f"\nrandom input: {tally.updates} updates ({tally.private} private messages, "
        f"{tally.presses} button presses) in {BATCHES} batches"
    )
    assert tally.updates == BATCHES * BATCH


@settings(
    max_examples=BATCHES,
    deadline=None,
    database=None,
    print_blob=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
@given(steps=st.lists(action, min_size=BATCH, max_size=BATCH))
async def test_r14_random_updates_are_all_answered_and_never_break_the_bot(
    crowd: Crowd, steps: list[tuple[str, str, str, Any]]
) -> None:
    """R14 R3: random text, commands, files, presses and forged buttons from anyone, anywhere."""
    stage = crowd.stage
    people = crowd.people.values()
    before = {p.id: _counts(p) for p in people}
    queries: list[CallbackQuery] = []
    expected: Counter[int] = Counter()
    for step in steps:
        if await _act(crowd, step, queries):
            expected[crowd.people[step[1]].id] += 1
        crowd.tally.updates += 1
    await stage.settle()
    inactive = {crowd.people["unknown"].id, crowd.people["pending"].id}
    for person in people:
        mine, theirs = _counts(person)
        replies = theirs - before[person.id][1]
        assert mine - before[person.id][0] == expected[person.id]
        if person.id in inactive:
            # One short note a minute for an account that is not active; a flood gets no more.
            assert replies <= 2, f"{person.name} (not active) got {replies} replies"
            continue
        assert replies >= expected[person.id], (
            f"{person.name} sent {expected[person.id]} private messages, got {replies} replies"
        )
    unanswered = [q.data for q in queries if not q.answered.is_set()]
    assert not unanswered, f"button presses never answered: {unanswered[:5]}"
    shown = [m.text for m in crowd.unbound.messages()]
    notes = [t for t in shown if "尚未绑定" in t]
    # At most the short note, and one refusal for each person who tried /bind or /unbind.
    assert len(notes) <= 1 and len(shown) - len(notes) <= len(crowd.people), shown
    crowd.tally.private += sum(expected.values())
    crowd.tally.presses += len(queries)


def _counts(person: UserHandle) -> tuple[int, int]:
    """Messages the person wrote in their private chat, and messages the bot wrote there."""
    messages = person.chat.current.messages.values()
    bot_id = person.world.bot.id
    theirs = sum(1 for m in messages if m.sender.id == bot_id)
    return len(messages) - theirs, theirs
