"""Fixtures for the emulator's tests: an emulator, its server, a DSL world and raw calls."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from emulator import Emulator, EmulatorServer, TelegramWorld
from tests.emulator.emu_helpers import TOKEN, ApiCall


@pytest.fixture
def emu() -> Emulator:
    """A fresh in-process emulator."""
    return Emulator()


@pytest.fixture
async def server(emu: Emulator) -> AsyncIterator[EmulatorServer]:
    """The emulator served on a free loopback port."""
    async with EmulatorServer(emu, host="127.0.0.1", port=0) as running:
        yield running


@pytest.fixture
def tg(emu: Emulator) -> TelegramWorld:
    """A DSL world around the test bot."""
    return TelegramWorld(emu, bot_token=TOKEN)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain HTTP client session."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def api(server: EmulatorServer, http: aiohttp.ClientSession) -> ApiCall:
    """Call a Bot API method over HTTP; `_as` picks a JSON, form or query-string request."""

    async def call(
        method: str, _as: str = "json", _token: str = TOKEN, **params: Any
    ) -> tuple[int, dict[str, Any]]:
        url = f"{server.base_url}{_token}/{method}"
        if _as == "json":
            response = await http.post(url, json=params)
        elif _as == "form":
            form = {k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()}
            response = await http.post(url, data=form)
        elif _as == "query":
            query = {k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()}
            response = await http.get(url, params=query)
        else:
            raise ValueError(_as)
        async with response:
            return response.status, await response.json()

    return call
