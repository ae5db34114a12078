"""Update rate (issue 9, 3): button presses per second, against a bare echo bot in the same run.

Many users each keep one press queued in the emulator at all times: as soon as the bot has
handled a user's press, the emulator queues that user's next one, so the bot always finds a
backlog of presses from many chats. Our bot's presses are the guided report's level button
(the bot answers, edits the question into a one-line record, saves the draft and asks when)
and the when question's Back button (answers, saves the draft, asks the level again): each
reads and writes the database. A press counts as handled when the emulator stores the next
question. The reference is a bare python-telegram-bot process (`benchmarks/echo_bot.py`,
one CallbackQueryHandler that answers and edits the message) taking the same number of presses
from the same number of users on the same emulator; its press is handled at the edit. The rate
is (presses - 1) / (last handled - first handled).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import add_people, emit, fresh_database, running_emulator
from benchmarks.office import Running, buttons_data, last_bot_message, office_with_bot, wait_all
from emulator.core import Emulator
from emulator.models import Chat, Event, Message, User
from emulator.server import EmulatorServer

USERS = int(os.environ.get("BENCH_UPDATES_USERS", "200"))
PRESSES = int(os.environ.get("BENCH_UPDATES_PRESSES", "4000"))
GOAL_RATIO = 0.5
ECHO_TOKEN = "6123456789:AAHechoBotForTheUpdateRateBenchmark0"

# The press each question gets, and the button of the question that answers it.
NEXT = {"rep:lvl:large": "rep:when:now", "rep:back:when": "rep:lvl:large"}


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Stream:
    """Keeps one press per user queued; notes when each press was handled."""

    def __init__(self, emulator: Emulator, total: int) -> None:
        self.emulator = emulator
        self.total = total
        self.queued = 0
        self.handled: list[float] = []
        self.finished = asyncio.Event()

    def press(self, user: User, message: Message, data: str) -> None:
        """Queue one press, unless the stream has all its presses."""
        if self.queued >= self.total:
            return
        self.queued += 1
        self.emulator.press_button(user, message, data=data)

    def done(self) -> None:
        """Note a handled press."""
        self.handled.append(time.monotonic())
        if len(self.handled) >= self.total:
            self.finished.set()

    def figures(self) -> dict[str, Any]:
        """Presses, seconds between the first and last handled, and the rate."""
        ordered = sorted(self.handled)
        span = ordered[-1] - ordered[0]
        return {
            "presses": len(ordered),
            "seconds": round(span, 3),
            "per_second": round((len(ordered) - 1) / span, 1),
        }


async def run_stream(
    emulator: Emulator,
    stream: Stream,
    listener: Callable[[Event], None],
    start: Callable[[], None],
    timeout: float,  # noqa: ASYNC109 - a benchmark names its deadline
) -> None:
    """Start the stream and wait until every press is handled."""
    emulator.add_listener(listener)
    try:
        start()
        await asyncio.wait_for(stream.finished.wait(), timeout)
    finally:
        emulator.remove_listener(listener)


async def ours(run: Running, users: list[User]) -> dict[str, Any]:
    """Our bot taking the stream of level and Back presses."""
    emulator = run.emulator
    by_chat = {emulator.private_chat(u).id: u for u in users}
    for user in users:
        emulator.send_user_message(user, emulator.private_chat(user), "/report")

    def has(expect: str) -> Callable[[int], bool]:
        return lambda chat_id: expect in buttons_data(last_bot_message(emulator.chat(chat_id)))

    await wait_all(emulator, set(by_chat), has("rep:cat:virus"), timeout=120, what="a category")
    for user in users:
        message = last_bot_message(emulator.private_chat(user))
        assert message is not None
        emulator.press_button(user, message, data="rep:cat:virus")
    await wait_all(emulator, set(by_chat), has("rep:lvl:large"), timeout=120, what="a level")

    stream = Stream(emulator, PRESSES)

    def listener(event: Event) -> None:
        message = event.message
        if event.kind != "message" or message is None or not message.sender.is_bot:
            return
        user = by_chat.get(message.chat.id)
        if user is None:
            return
        data = buttons_data(message)
        for press in NEXT:
            if press in data:
                stream.done()
                stream.press(user, message, press)
                return

    def start() -> None:
        for user in users:
            message = last_bot_message(emulator.private_chat(user))
            assert message is not None
            stream.press(user, message, "rep:lvl:large")

    assert run.bot.process is not None
    before = cpu_seconds(run.bot.process.pid)
    await run_stream(emulator, stream, listener, start, timeout=600)
    used = cpu_seconds(run.bot.process.pid) - before
    return {**stream.figures(), "cpu_ms_per_press": round(used * 1000 / stream.total, 2)}


async def echo(emulator: Emulator, server: EmulatorServer, users: list[User]) -> dict[str, Any]:
    """The bare echo bot taking the same number of presses from as many users."""
    bot = emulator.register_bot(ECHO_TOKEN, username="bench_echo_bot")
    chats: dict[int, tuple[User, Chat]] = {}
    for user in users:
        chat = emulator.private_chat(user, bot)
        chat.started = True
        chats[chat.id] = (user, chat)
        keyboard = {"inline_keyboard": [[{"text": "Press", "callback_data": "echo"}]]}
        status, body = await emulator.handle_request(
            ECHO_TOKEN,
            "sendMessage",
            {"chat_id": chat.id, "text": "press", "reply_markup": json.dumps(keyboard)},
        )
        assert status == 200, body
    with tempfile.TemporaryDirectory(prefix="bench-echo-") as folder:
        log_path = Path(folder) / "echo.log"
        with log_path.open("wb") as log:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "benchmarks.echo_bot",
                env={**os.environ, "ECHO_TOKEN": ECHO_TOKEN, "ECHO_BASE_URL": server.base_url},
                stdout=log,
                stderr=log,
            )
        try:

            def polled(_key: int) -> bool:
                recent = emulator.log.records[-50:]
                return any(r.method == "getUpdates" and r.bot_id == bot.id for r in recent)

            await wait_all(emulator, {0}, polled, timeout=30, what="the echo bot polling")
            stream = Stream(emulator, PRESSES)

            def listener(event: Event) -> None:
                message = event.message
                if event.kind != "edit" or message is None or message.sender.id != bot.id:
                    return
                found = chats.get(message.chat.id)
                if found is None:
                    return
                stream.done()
                stream.press(found[0], message, "echo")

            def start() -> None:
                for user, chat in chats.values():
                    message = last_bot_message(chat)
                    assert message is not None
                    stream.press(user, message, "echo")

            before = cpu_seconds(process.pid)
            await run_stream(emulator, stream, listener, start, timeout=300)
            used = cpu_seconds(process.pid) - before
        finally:
            process.send_signal(signal.SIGINT)
            await process.wait()
        errors = [
            line for line in log_path.read_text(errors="replace").splitlines() if "Error" in line
        ]
        if errors:
            print("the echo bot logged errors:\n" + "\n".join(errors[:20]), file=sys.stderr)
    return {**stream.figures(), "cpu_ms_per_press": round(used * 1000 / stream.total, 2)}


async def main() -> dict[str, Any]:
    """Run the benchmark and emit its JSON."""
    async with (
        fresh_database("updates") as url,
        running_emulator() as (emulator, server),
    ):
        async with office_with_bot(url, emulator, server) as run:
            users = await add_people(emulator, url, USERS, role="staff", prefix="U")
            bot_figures = await ours(run, users)
        echo_figures = await echo(emulator, server, users)
    ratio = bot_figures["per_second"] / echo_figures["per_second"]
    return emit(
        "updates",
        {
            "what": (
                "button presses handled per second in a steady stream from many users, "
                "each reading and writing the database, against a bare python-telegram-bot "
                "echo bot (answer and edit) taking the same stream on the same emulator"
            ),
            "users": USERS,
            "incident_bot": {
                "presses": "report level button (answer, edit, save, ask) and Back (answer, "
                "save, ask), alternately",
                **bot_figures,
            },
            "echo_bot": {"presses": "answer and edit the message", **echo_figures},
            "ratio": round(ratio, 3),
            "goal": {"ratio_at_least": GOAL_RATIO},
            "meets_goal": ratio >= GOAL_RATIO,
        },
    )


if __name__ == "__main__":
    asyncio.run(main())
