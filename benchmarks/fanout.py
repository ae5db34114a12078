"""Fan-out latency (issue 9, 2): a large incident's Submit press to its last routed card.

1,000 reporters walk the guided report to its review step (their answers queued in the
emulator in bulk, not measured). Then they press Submit one after another; each time the
benchmark waits until the reporter is told the number and every routed card (leadership and
tech-center chats) is stored by the emulator, and takes the time from the press being queued
in the emulator (which wakes the bot's waiting long poll) to the last card being stored. The
reference, in the same run, is the bot's round trip for a trivial update: a stranger's message
answered with "not registered".
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from typing import Any

from benchmarks.common import add_people, emit, fresh_database, percentiles, running_emulator
from benchmarks.office import Running, buttons_data, last_bot_message, office_with_bot, wait_all
from emulator.models import Message, User

INCIDENTS = int(os.environ.get("BENCH_FANOUT_INCIDENTS", "1000"))
REFERENCE_SAMPLES = 200
GOAL_P99_MS = 100.0
# How many reporters act at once while drafts are prepared (an emulator answer older than
# 15 s would be refused as too old).
CHUNK = 200
NUMBER = re.compile(r"\b\d{4}-\d{4,}\b")

# Each step: what the reporter does, and the button the bot's next question carries.
Step = tuple[str, str, str]
STEPS: list[Step] = [
    ("send", "/report", "rep:cat:virus"),
    ("press", "rep:cat:virus", "rep:lvl:large"),
    ("press", "rep:lvl:large", "rep:when:now"),
    ("press", "rep:when:now", "rep:back:where"),
    ("send", "Portal web server", "rep:back:what"),
    ("send", "The home page shows a foreign banner", "rep:skip"),
    ("press", "rep:skip", "rep:done"),
    ("press", "rep:done", "rep:submit"),
]


async def prepare_drafts(run: Running, reporters: list[User]) -> None:
    """Walk every reporter to the review step, a chunk of reporters at a time."""
    emulator = run.emulator
    for start in range(0, len(reporters), CHUNK):
        chunk = reporters[start : start + CHUNK]
        for kind, value, expect in STEPS:
            for user in chunk:
                chat = emulator.private_chat(user)
                if kind == "send":
                    emulator.send_user_message(user, chat, value)
                else:
                    message = last_bot_message(chat)
                    assert message is not None
                    emulator.press_button(user, message, data=value)

            def done(user_id: int, expect: str = expect) -> bool:
                return expect in buttons_data(last_bot_message(emulator.chat(user_id)))

            await wait_all(
                emulator, {u.id for u in chunk}, done, timeout=120, what=f"a {expect!r} button"
            )
        print(f"drafts ready: {start + len(chunk)}", file=sys.stderr, flush=True)


def _bot_messages_after(run: Running, chat_id: int, after: int) -> list[Message]:
    chat = run.emulator.chat(chat_id).current
    found = []
    for message_id in range(after + 1, chat.next_message_id):
        message = chat.messages.get(message_id)
        if message is not None and message.sender.is_bot:
            found.append(message)
    return found


async def submit_one(run: Running, reporter: User) -> tuple[float, float]:
    """Press Submit; (seconds from the press, from the update's delivery) to the last card."""
    emulator = run.emulator
    groups = [run.office.leadership.id, run.office.tech_center.id]
    private = emulator.private_chat(reporter)
    marks = {chat_id: emulator.chat(chat_id).current.next_message_id - 1 for chat_id in groups}
    private_mark = private.next_message_id - 1
    review = last_bot_message(private)
    assert review is not None and "rep:submit" in buttons_data(review)
    query = emulator.press_button(reporter, review, data="rep:submit")
    pressed = query.created_monotonic
    number: list[str] = []
    cards: dict[int, Message] = {}

    def done(_key: int) -> bool:
        if not number:
            for message in _bot_messages_after(run, private.id, private_mark):
                found = NUMBER.search(message.plain)
                if found:
                    number.append(found.group(0))
                    break
        if not number:
            return False
        for chat_id in groups:
            if chat_id not in cards:
                for message in _bot_messages_after(run, chat_id, marks[chat_id]):
                    if number[0] in message.plain:
                        cards[chat_id] = message
                        break
        return len(cards) == len(groups)

    await wait_all(emulator, {reporter.id}, done, timeout=30, what="every routed card")
    stored = max(card.created_monotonic for card in cards.values())
    deliveries = [
        r.finished_monotonic
        # The long poll that took the press started before it: look at the latest requests.
        for r in emulator.log.records[-500:]
        if r.method == "getUpdates"
        and r.finished_monotonic is not None
        and r.finished_monotonic >= pressed
    ]
    delivered = min(deliveries) if deliveries else pressed
    return stored - pressed, stored - delivered


async def reference(run: Running, samples: int) -> list[float]:
    """The bot's round trip for a trivial update: a stranger's text answered at once."""
    emulator = run.emulator
    stranger = emulator.create_user("Stranger", language_code="en")
    chat = emulator.private_chat(stranger)
    found: list[float] = []
    for index in range(samples):
        mark = chat.next_message_id - 1
        sent = emulator.send_user_message(stranger, chat, f"hello {index}")

        def done(_key: int, mark: int = mark) -> bool:
            return bool(_bot_messages_after(run, chat.id, mark))

        await wait_all(emulator, {stranger.id}, done, timeout=10, what="an answer")
        answer = _bot_messages_after(run, chat.id, mark)[0]
        found.append(answer.created_monotonic - sent.created_monotonic)
    return found


async def main() -> dict[str, Any]:
    """Run the benchmark and emit its JSON."""
    async with (
        fresh_database("fanout") as url,
        running_emulator() as (emulator, server),
        office_with_bot(url, emulator, server) as run,
    ):
        reporters = await add_people(emulator, url, INCIDENTS, role="staff", prefix="R")
        await prepare_drafts(run, reporters)
        from_press: list[float] = []
        from_delivery: list[float] = []
        for index, reporter in enumerate(reporters):
            press, delivery = await submit_one(run, reporter)
            from_press.append(press)
            from_delivery.append(delivery)
            if (index + 1) % 100 == 0:
                print(f"submitted: {index + 1}", file=sys.stderr, flush=True)
        trivial = await reference(run, REFERENCE_SAMPLES)
    figures = percentiles(from_press)
    return emit(
        "fanout",
        {
            "what": (
                "large incidents submitted one after another: time from the Submit press "
                "being queued in the emulator to the emulator storing the last routed card "
                "(leadership and tech-center chats); rate limits off"
            ),
            "incidents": len(from_press),
            "cards_per_incident": 2,
            "latency_from_press": figures,
            "latency_from_getupdates_delivery": percentiles(from_delivery),
            "reference_trivial_round_trip": {
                "what": "a stranger's message to the bot's 'not registered' answer",
                "samples": len(trivial),
                **percentiles(trivial),
            },
            "goal": {"p99_ms_at_most": GOAL_P99_MS},
            "meets_goal": figures["p99_ms"] <= GOAL_P99_MS,
        },
    )


if __name__ == "__main__":
    asyncio.run(main())
