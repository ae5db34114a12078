"""Reliability fixtures: the journey stage, plus bots run as separate, killable processes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness import TOKEN
from tests.proc import BotProcess


@pytest.fixture
async def processes(database_url: str, tmp_path: Path) -> AsyncIterator[Callable[..., BotProcess]]:
    """Make bot processes against the test's stage; all are stopped at the end."""
    made: list[BotProcess] = []

    def make(stage: Any, *, admin_ids: list[int], **kwargs: Any) -> BotProcess:
        workdir = tmp_path / f"bot{len(made)}"
        workdir.mkdir()
        process = BotProcess(
            emulator=stage.emulator,
            server=stage.server,
            database_url=database_url,
            workdir=workdir,
            admin_ids=admin_ids,
            **kwargs,
        )
        made.append(process)
        return process

    yield make
    for process in made:
        await process.stop()
    for process in made:
        errors = process.logged_errors()
        assert not errors, f"the bot process logged errors:\n{process.log()}"
        assert TOKEN not in process.log(), "the bot token must never appear in the logs"


class _KilledClient(logging.Filter):
    """Drop the emulator's report of a request whose sender was killed while sending it."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, ConnectionResetError)


@pytest.fixture(autouse=True)
def killed_client_tolerated(request: pytest.FixtureRequest) -> Iterator[None]:
    """The kill -9 cuts requests in mid-air; the emulator's server logs each as an error."""
    if request.node.get_closest_marker("subprocess") is None:
        yield
        return
    server_log = logging.getLogger("aiohttp.server")
    quiet = _KilledClient()
    server_log.addFilter(quiet)
    yield
    server_log.removeFilter(quiet)
