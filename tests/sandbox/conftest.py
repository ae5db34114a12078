"""Sandbox fixtures: the whole sandbox in-process, on this test's database."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.sandbox import TOKEN, Sandbox
from bot.platform.config import Policy
from emulator.testing import GroupHandle, TelegramWorld, UserHandle
from tests.harness import bad_requests


class _Errors(logging.Handler):
    """Collects the ERROR records logged while a test runs."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
async def sandbox(database_url: str, tmp_path: Path) -> AsyncIterator[Sandbox]:
    """A running sandbox on a free port; fails the test on logged errors or refused requests."""
    errors = _Errors()
    logging.getLogger().addHandler(errors)
    running = Sandbox(data_dir=tmp_path / "sandbox", port=0, policy=Policy(), database=database_url)
    try:
        await running.start()
        # The sandbox keeps Telegram's flood limits for people, who act a second or more apart;
        # these tests press and type within milliseconds, which no person does.
        running.emulator.disable_limits()
        yield running
        refused = bad_requests(running.emulator)
        assert not refused, f"the bot made requests Telegram would refuse: {refused}"
    finally:
        await running.stop()
        logging.getLogger().removeHandler(errors)
    logged = [f"{r.name}: {r.getMessage()}" for r in errors.records]
    assert not logged, f"the bot logged errors: {logged}"


class Cast:
    """DSL handles on the sandbox's people and groups."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.world = TelegramWorld(sandbox.emulator, TOKEN)
        self.people = {key: UserHandle(self.world, user) for key, user in sandbox.users.items()}
        self.groups = {p.value: GroupHandle(self.world, c) for p, c in sandbox.groups.items()}

    def __getitem__(self, key: str) -> UserHandle:
        return self.people[key]


@pytest.fixture
def cast(sandbox: Sandbox) -> Cast:
    """The sandbox's office as DSL handles."""
    return Cast(sandbox)
