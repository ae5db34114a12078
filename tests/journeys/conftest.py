"""Journey fixtures: a stage with the emulator, and a guard against silent errors."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.harness import Stage, bad_requests, open_stage


class _ErrorCollector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
async def stage(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Stage]:
    """The emulator and a world to populate; fails the test on logged errors or bad requests."""
    collector = _ErrorCollector()
    root = logging.getLogger()
    root.addHandler(collector)
    try:
        async for current in open_stage(database_url, tmp_path):
            yield current
            if not request.node.get_closest_marker("allow_refusals"):
                refused = bad_requests(current.emulator)
                assert not refused, f"the bot made requests Telegram would refuse: {refused}"
    finally:
        root.removeHandler(collector)
    if not request.node.get_closest_marker("allow_errors"):
        messages = [f"{r.name}: {r.getMessage()}" for r in collector.records]
        assert not messages, f"the bot logged errors: {messages}"
