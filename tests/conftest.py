"""Shared fixtures: a fresh database per test, on SQLite or PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from storage.db import Database
from storage.models import Base
from tests.harness import Stage, bad_requests, open_stage

# make test runs the suite twice: once as is (SQLite), once with this set to "postgresql".
BACKEND = os.environ.get("INCIDENT_BOT_TEST_DB", "sqlite")
PG_SERVER = os.environ.get("INCIDENT_BOT_TEST_PG", "postgresql+asyncpg://postgres@127.0.0.1:5432")


def pytest_report_header() -> str:
    """Say which database the suite runs on."""
    return f"incident-bot test database: {BACKEND}"


@pytest.fixture(scope="session")
def worker() -> str:
    """The xdist worker name, or 'main'."""
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


async def _pg_prepare(database: str) -> None:
    admin = create_async_engine(f"{PG_SERVER}/test", isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
            await conn.execute(text(f'CREATE DATABASE "{database}"'))
    finally:
        await admin.dispose()
    db = Database(f"{PG_SERVER}/{database}")
    try:
        await db.migrate()
    finally:
        await db.dispose()


async def _sqlite_prepare(path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{path}")
    try:
        await db.migrate()
    finally:
        await db.dispose()


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory, worker: str) -> Iterator[str]:
    """A database brought up by the real migrations once per worker."""
    if BACKEND == "postgresql":
        # Each checkout gets its own databases, so two checkouts can test at the same time.
        checkout = hashlib.sha1(str(Path(__file__).resolve().parent).encode()).hexdigest()[:8]
        name = f"incident_bot_test_{checkout}_{worker}"
        asyncio.run(_pg_prepare(name))
        yield f"{PG_SERVER}/{name}"
    else:
        path = tmp_path_factory.mktemp("template") / "template.sqlite3"
        asyncio.run(_sqlite_prepare(path))
        yield str(path)


@pytest.fixture
async def database_url(migrated_template: str, tmp_path: Path) -> AsyncIterator[str]:
    """A URL to an empty, migrated database for this test alone."""
    if BACKEND == "postgresql":
        engine = create_async_engine(migrated_template)
        try:
            async with engine.begin() as conn:
                names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
                await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        finally:
            await engine.dispose()
        yield migrated_template
    else:
        path = tmp_path / "bot.sqlite3"
        shutil.copy(migrated_template, path)
        yield f"sqlite+aiosqlite:///{path}"


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """A Database on this test's empty schema."""
    database = Database(database_url)
    try:
        yield database
    finally:
        await database.dispose()


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
                # Tests that kill the bot process see some updates handled twice.
                killed = request.node.get_closest_marker("subprocess") is not None
                repeated = request.node.get_closest_marker("repeated_answers") is not None
                refused = bad_requests(current.emulator, redelivered=killed or repeated)
                assert not refused, f"the bot made requests Telegram would refuse: {refused}"
    finally:
        root.removeHandler(collector)
    if not request.node.get_closest_marker("allow_errors"):
        messages = [f"{r.name}: {r.getMessage()}" for r in collector.records]
        assert not messages, f"the bot logged errors: {messages}"
