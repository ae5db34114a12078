"""The real bot as its own process on the emulator, with an office set up through chat."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emulator.core import Emulator
from emulator.models import Chat, Event, Message
from emulator.server import EmulatorServer
from emulator.testing import TelegramWorld, UserHandle
from tests.harness import BOT_USERNAME, TOKEN, Stage
from tests.journeys.cast import Office, open_office
from tests.proc import BotProcess

# Rate limits off, and nothing that comes due by itself while a benchmark runs.
NO_LIMITS_POLICY = """
scheduler_tick_seconds = 1.0
[delivery]
messages_per_second = 1000000
private_chat_per_second = 1000000
group_per_minute = 100000000
request_timeout_seconds = 10
[escalation.timeout_minutes]
large = 100000
medium = 100000
small = 100000
[updates.remind_after_minutes]
large = 100000
medium = 100000
small = 100000
[drafts]
remind_after_minutes = 100000
expire_after_minutes = 100000
"""


@dataclass
class Running:
    """The emulator, its world, the bot process and the office."""

    emulator: Emulator
    server: EmulatorServer
    tg: TelegramWorld
    bot: BotProcess
    office: Office
    database_url: str


@asynccontextmanager
async def office_with_bot(
    database_url: str, emulator: Emulator, server: EmulatorServer
) -> AsyncIterator[Running]:
    """Start `incident-bot run` as a process with rate limits off and set up an office."""
    tg = TelegramWorld(emulator, TOKEN, bot_username=BOT_USERNAME)
    with tempfile.TemporaryDirectory(prefix="bench-bot-") as folder:
        workdir = Path(folder)
        stage = Stage(
            emulator=emulator, server=server, tg=tg, database_url=database_url, tmp_path=workdir
        )
        started: list[BotProcess] = []

        async def starter(admins: list[UserHandle], _people: dict[str, UserHandle]) -> Any:
            process = BotProcess(
                emulator=emulator,
                server=server,
                database_url=database_url,
                workdir=workdir,
                admin_ids=[a.id for a in admins],
                policy_toml=NO_LIMITS_POLICY,
            )
            await process.start()
            started.append(process)
            return process

        try:
            office = await open_office(stage, starter=starter)
            yield Running(
                emulator=emulator,
                server=server,
                tg=tg,
                bot=started[0],
                office=office,
                database_url=database_url,
            )
        finally:
            for process in started:
                await process.stop()
            errors = [line for p in started for line in p.logged_errors()]
            if errors:
                print("the bot logged errors:\n" + "\n".join(errors[:20]), flush=True)


def last_bot_message(chat: Chat) -> Message | None:
    """The newest message a bot put in a chat."""
    chat = chat.current
    for message_id in range(chat.next_message_id - 1, 0, -1):
        message = chat.messages.get(message_id)
        if message is not None and message.sender.is_bot:
            return message
    return None


def buttons_data(message: Message | None) -> list[str]:
    """The callback data of a message's inline buttons."""
    rows = ((message.reply_markup or {}).get("inline_keyboard") or []) if message else []
    return [b.get("callback_data", "") for row in rows for b in row]


async def wait_all(
    emulator: Emulator,
    pending: set[int],
    done: Callable[[int], bool],
    *,
    timeout: float,  # noqa: ASYNC109 - a benchmark names its deadline
    what: str,
) -> None:
    """Wait until `done(key)` holds for every key, rechecking only on changes."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    left = set(pending)
    while True:
        signal = emulator.change_signal()
        left = {key for key in left if not done(key)}
        if not left:
            return
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise AssertionError(f"{len(left)} of {len(pending)} did not get {what}")
        try:
            await asyncio.wait_for(signal.wait(), remaining)
        except TimeoutError:
            continue
        # Many changes come in a burst: look again once the burst has passed.
        await asyncio.sleep(0.01)


__all__ = ["Event", "Running", "buttons_data", "last_bot_message", "office_with_bot", "wait_all"]
