"""The network-trouble helpers do what tests rely on: silence, and a refused connection."""

from __future__ import annotations

import asyncio
import socket
import time

import aiohttp
import pytest
from telegram import Bot
from telegram.error import NetworkError, TimedOut
from telegram.request import HTTPXRequest

from tests.support.network import BlackHole, closed_port

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"


async def test_black_hole_takes_the_request_and_never_answers() -> None:
    async with BlackHole() as hole, aiohttp.ClientSession() as http:
        assert hole.url == f"http://127.0.0.1:{hole.port}"
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            async with http.get(hole.url, timeout=aiohttp.ClientTimeout(sock_read=0.3)):
                pass
        assert 0.25 <= time.monotonic() - started < 5
        assert hole.connections == 1
        assert hole.received > 0, "the request was sent: only the answer is missing"


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_a_bot_talking_to_a_black_hole_times_out() -> None:
    async with BlackHole() as hole:
        request = HTTPXRequest(read_timeout=0.3, connect_timeout=0.3)
        with pytest.raises(TimedOut):
            await Bot(TOKEN, base_url=f"{hole.url}/bot", request=request).get_me()


async def test_stopping_drops_the_waiting_connections() -> None:
    hole = await BlackHole().start()
    async with aiohttp.ClientSession() as http:
        waiting = asyncio.create_task(http.get(hole.url))
        await asyncio.wait_for(hole.connected.wait(), 5)
        await hole.stop()
        with pytest.raises(aiohttp.ClientError):
            await asyncio.wait_for(waiting, 5)
    with pytest.raises(RuntimeError, match="not started"):
        _ = hole.url
    await hole.stop()  # a second stop does nothing


async def test_closed_port_refuses_at_once() -> None:
    port = closed_port()
    assert port != closed_port(), "each call gives its own port"
    started = time.monotonic()
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)
    assert time.monotonic() - started < 1
    with socket.socket() as other, pytest.raises(OSError):
        other.bind(("127.0.0.1", port))  # held: nothing else can take it and start answering
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.ClientConnectorError):
            await http.get(f"http://127.0.0.1:{port}/")


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_a_bot_at_a_closed_port_gets_a_network_error() -> None:
    bot = Bot(TOKEN, base_url=f"http://127.0.0.1:{closed_port()}/bot")
    with pytest.raises(NetworkError) as caught:
        await bot.get_me()
    assert not isinstance(caught.value, TimedOut), "refused, not slow"
