"""Update delivery: getUpdates offsets, limits and long polling; webhooks with the secret header."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from telegram import Bot
from telegram.error import Conflict

from emulator import Emulator, EmulatorServer, TelegramWorld
from tests.emulator.emu_helpers import OTHER_TOKEN, TOKEN, ApiCall


async def poll_started(emu: Emulator, count: int) -> None:
    """Wait (bounded) until `count` getUpdates requests have reached the emulator."""
    for _ in range(500):
        if len(emu.log.by_method("getUpdates")) >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the long poll never reached the emulator")


async def test_offset_confirms_and_drops_forever(api: ApiCall, tg: TelegramWorld) -> None:
    user = tg.user("Li")
    for text in ("/start", "one", "two"):
        await user.send(text)
    _status, body = await api("getUpdates")
    ids = [u["update_id"] for u in body["result"]]
    assert ids == [1, 2, 3]
    assert body["result"][0]["message"]["text"] == "/start"
    # without confirmation the same updates come again
    assert [u["update_id"] for u in (await api("getUpdates"))[1]["result"]] == [1, 2, 3]
    assert [u["update_id"] for u in (await api("getUpdates", offset=3))[1]["result"]] == [3]
    # confirmed updates never return, even with a smaller offset
    assert [u["update_id"] for u in (await api("getUpdates", offset=1))[1]["result"]] == [3]
    assert (await api("getUpdates", offset=4))[1]["result"] == []
    await user.send("four")
    assert [u["update_id"] for u in (await api("getUpdates"))[1]["result"]] == [4]


async def test_limit_and_negative_offset(api: ApiCall, tg: TelegramWorld) -> None:
    user = tg.user("Li")
    for n in range(5):
        await user.send(f"m{n}")
    assert len((await api("getUpdates", limit=2))[1]["result"]) == 2
    last = (await api("getUpdates", offset=-1))[1]["result"]
    assert [u["message"]["text"] for u in last] == ["m4"]
    assert len((await api("getUpdates"))[1]["result"]) == 1


async def test_long_poll_returns_early_when_an_update_arrives(
    api: ApiCall, emu: Emulator, tg: TelegramWorld
) -> None:
    user = tg.user("Li")
    started = time.monotonic()
    poll = asyncio.create_task(api("getUpdates", timeout=20))
    await poll_started(emu, 1)
    assert not poll.done()
    await user.send("/start")
    status, body = await asyncio.wait_for(poll, 5)
    assert status == 200
    assert [u["message"]["text"] for u in body["result"]] == ["/start"]
    assert time.monotonic() - started < 10


async def test_long_poll_times_out_empty(api: ApiCall) -> None:
    started = time.monotonic()
    assert await api("getUpdates", timeout=1) == (200, {"ok": True, "result": []})
    assert time.monotonic() - started >= 0.9


TERMINATED = {
    "ok": False,
    "error_code": 409,
    "description": "Conflict: terminated by other getUpdates request; make sure that only one "
    "bot instance is running",
}
WEBHOOK_ACTIVE = {
    "ok": False,
    "error_code": 409,
    "description": "Conflict: can't use getUpdates method while webhook is active; use "
    "deleteWebhook to delete the webhook first",
}


async def test_second_poller_terminates_the_first(api: ApiCall, emu: Emulator) -> None:
    first = asyncio.create_task(api("getUpdates", timeout=20))
    await poll_started(emu, 1)
    second = asyncio.create_task(api("getUpdates", timeout=1))
    assert await asyncio.wait_for(first, 5) == (409, TERMINATED)
    assert (await second)[0] == 200


async def test_a_short_poll_also_terminates_a_long_poll(api: ApiCall, emu: Emulator) -> None:
    first = asyncio.create_task(api("getUpdates", timeout=20))
    await poll_started(emu, 1)
    assert await api("getUpdates") == (200, {"ok": True, "result": []})
    assert await asyncio.wait_for(first, 5) == (409, TERMINATED)


async def test_pollers_of_different_bots_do_not_conflict(api: ApiCall, emu: Emulator) -> None:
    first = asyncio.create_task(api("getUpdates", timeout=1))
    await poll_started(emu, 1)
    assert (await api("getUpdates", _token=OTHER_TOKEN, timeout=0))[0] == 200
    assert await asyncio.wait_for(first, 5) == (200, {"ok": True, "result": []})


async def test_python_telegram_bot_sees_the_conflict(
    server: EmulatorServer, api: ApiCall, emu: Emulator
) -> None:
    """A second instance of the bot makes the first one's long poll fail with Conflict."""
    first = asyncio.create_task(api("getUpdates", timeout=20))
    await poll_started(emu, 1)
    async with Bot(TOKEN, base_url=server.base_url) as bot:
        await bot.get_updates(timeout=0)
        assert await asyncio.wait_for(first, 5) == (409, TERMINATED)
        await api("setWebhook", url="http://127.0.0.1:9/hook")
        with pytest.raises(Conflict, match="webhook is active"):
            await bot.get_updates(timeout=0)


async def test_allowed_updates_filter_new_updates(
    api: ApiCall, emu: Emulator, tg: TelegramWorld
) -> None:
    user = tg.user("Li")
    await api("getUpdates", allowed_updates=["callback_query"])
    await user.send("/start")
    assert (await api("getUpdates"))[1]["result"] == []
    await api("getUpdates", allowed_updates=[])
    await user.send("again")
    assert [u["message"]["text"] for u in (await api("getUpdates"))[1]["result"]] == ["again"]


@pytest.fixture
async def receiver() -> AsyncIterator[
    tuple[str, list[tuple[dict[str, Any], dict[str, str]]], list[int]]
]:
    """A local webhook endpoint: (url, received updates with headers, statuses to answer)."""
    received: list[tuple[dict[str, Any], dict[str, str]]] = []
    statuses: list[int] = []
    arrived = asyncio.Event()

    async def hook(request: web.Request) -> web.Response:
        received.append((json.loads(await request.read()), dict(request.headers)))
        arrived.set()
        return web.Response(status=statuses.pop(0) if statuses else 200)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}/hook", received, statuses
    await runner.cleanup()


async def wait_until(condition: Any, timeout: float = 5.0) -> None:  # noqa: ASYNC109
    """Wait (bounded) for a condition on state changed by another task."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def test_webhook_delivery_with_secret_and_retry(
    api: ApiCall, emu: Emulator, tg: TelegramWorld, receiver: Any
) -> None:
    url, received, statuses = receiver
    emu.webhook_retry_delay = 0.05
    statuses.append(500)  # the first delivery fails and must be retried
    assert await api("setWebhook", url=url, secret_token="s3cret") == (
        200,
        {"ok": True, "result": True},
    )
    user = tg.user("Li")
    await user.send("/start")
    await wait_until(lambda: len(received) >= 2)
    (first, headers1), (second, headers2) = received[:2]
    assert first == second, "a failed update is delivered again, unchanged"
    assert first["message"]["text"] == "/start"
    assert headers1["X-Telegram-Bot-Api-Secret-Token"] == "s3cret"
    assert headers2["X-Telegram-Bot-Api-Secret-Token"] == "s3cret"
    await wait_until(lambda: not emu.default_bot.updates)
    info = (await api("getWebhookInfo"))[1]["result"]
    assert info["url"] == url and info["pending_update_count"] == 0
    assert "500" in info["last_error_message"]
    assert await api("getUpdates") == (409, WEBHOOK_ACTIVE)
    asked = time.monotonic()
    assert await api("getUpdates", timeout=5) == (409, WEBHOOK_ACTIVE)
    assert time.monotonic() - asked < 4, "a long poll is refused at once"
    assert (await api("deleteWebhook"))[0] == 200
    await user.send("polling again")
    assert [u["message"]["text"] for u in (await api("getUpdates"))[1]["result"]] == [
        "polling again"
    ]


async def test_webhook_without_secret_sends_no_header(
    api: ApiCall, tg: TelegramWorld, receiver: Any
) -> None:
    url, received, _ = receiver
    await api("setWebhook", url=url)
    await tg.user("Li").send("/start")
    await wait_until(lambda: len(received) >= 1)
    assert "X-Telegram-Bot-Api-Secret-Token" not in received[0][1]


async def test_stopping_the_server_ends_pending_long_polls() -> None:
    import aiohttp

    from emulator import EmulatorServer
    from tests.emulator.emu_helpers import TOKEN

    emu = Emulator()
    server = EmulatorServer(emu)
    await server.start()
    async with aiohttp.ClientSession() as http:
        poll = asyncio.create_task(http.get(f"{server.base_url}{TOKEN}/getUpdates?timeout=30"))
        await poll_started(emu, 1)
        started = time.monotonic()
        await server.stop()
        response = await asyncio.wait_for(poll, 5)
        assert await response.json() == {"ok": True, "result": []}
        assert time.monotonic() - started < 5
