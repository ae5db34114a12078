"""What every benchmark shares: the machine, a database, the emulator, people, and the JSON."""

from __future__ import annotations

import json
import os
import platform
import statistics
import tempfile
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from emulator.core import Emulator
from emulator.models import User as EmulatorUser
from emulator.server import EmulatorServer
from storage.db import Database
from tests.harness import BOT_USERNAME, TOKEN, enrol

RESULTS = Path(__file__).resolve().parent / "results"
# `make bench` uses SQLite; BENCH_DB=postgresql measures on the local PostgreSQL instead.
BACKEND = os.environ.get("BENCH_DB", "sqlite")
PG_SERVER = os.environ.get("INCIDENT_BOT_TEST_PG", "postgresql+asyncpg://postgres@127.0.0.1:5432")

__all__ = [
    "BACKEND",
    "TOKEN",
    "add_people",
    "emit",
    "fresh_database",
    "machine",
    "percentiles",
    "rate_figures",
    "running_emulator",
]


def machine() -> dict[str, Any]:
    """The machine a figure was measured on."""
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "system": f"{platform.system()} {platform.release()}",
        "database": BACKEND,
    }


def emit(name: str, result: dict[str, Any]) -> dict[str, Any]:
    """Print a benchmark's JSON and keep it under benchmarks/results/."""
    payload = {
        "benchmark": name,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        **result,
    }
    text_ = json.dumps(payload, ensure_ascii=False, indent=2)
    print(text_, flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(text_ + "\n", encoding="utf-8")
    return payload


def percentiles(values: Sequence[float]) -> dict[str, float]:
    """p50, p99 and max of a sample, in milliseconds (values are seconds)."""
    ordered = sorted(values)
    cuts = statistics.quantiles(ordered, n=100, method="inclusive") if len(ordered) > 1 else []
    p50 = cuts[49] if cuts else ordered[0]
    p99 = cuts[98] if cuts else ordered[0]
    return {
        "p50_ms": round(p50 * 1000, 2),
        "p99_ms": round(p99 * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


def rate_figures(times: Iterable[float], limit: float) -> dict[str, Any]:
    """Achieved rate and the busiest one-second window of sends, against a limit."""
    ordered = sorted(times)
    count = len(ordered)
    span = ordered[-1] - ordered[0] if count > 1 else 0.0
    # n sends spaced evenly at the limit take (n - 1) / limit seconds.
    achieved = (count - 1) / span if span > 0 else float("nan")
    peak = 0
    start = 0
    for end, moment in enumerate(ordered):
        while moment - ordered[start] >= 1.0:
            start += 1
        peak = max(peak, end - start + 1)
    return {
        "messages": count,
        "seconds": round(span, 3),
        "achieved_per_second": round(achieved, 2),
        "achieved_over_limit": round(achieved / limit, 3),
        "peak_one_second_window": peak,
        "peak_over_limit": round(peak / limit, 3),
    }


async def _migrate(url: str) -> None:
    db = Database(url)
    try:
        await db.migrate()
    finally:
        await db.dispose()


@asynccontextmanager
async def fresh_database(label: str) -> AsyncIterator[str]:
    """A URL to an empty, migrated database, dropped afterwards."""
    if BACKEND == "postgresql":
        name = f"incident_bot_bench_{label}"
        admin = create_async_engine(f"{PG_SERVER}/test", isolation_level="AUTOCOMMIT")
        try:
            async with admin.connect() as conn:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                await conn.execute(text(f'CREATE DATABASE "{name}"'))
            url = f"{PG_SERVER}/{name}"
            await _migrate(url)
            yield url
        finally:
            async with admin.connect() as conn:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await admin.dispose()
        return
    with tempfile.TemporaryDirectory(prefix=f"bench-{label}-") as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.sqlite3'}"
        await _migrate(url)
        yield url


@asynccontextmanager
async def running_emulator() -> AsyncIterator[tuple[Emulator, EmulatorServer]]:
    """The emulator on a free local port, refusing all it refuses except sends over a flood limit.

    The benchmarks measure how fast the bot goes, and most run it with its own limits off;
    the broadcast benchmark checks the bot's pacing itself, from the request log.
    """
    emulator = Emulator(bot_username=BOT_USERNAME, limits=None)
    server = EmulatorServer(emulator, host="127.0.0.1", port=0)
    await server.start()
    try:
        yield emulator, server
    finally:
        await server.stop()


async def add_people(
    emulator: Emulator, database_url: str, count: int, *, role: str = "staff", prefix: str = "P"
) -> list[EmulatorUser]:
    """Approved users who have started the bot, made directly rather than through chat."""
    people = [
        emulator.create_user(f"{prefix}{i:06d}", language_code="zh-hans" if i % 2 == 0 else "en")
        for i in range(count)
    ]
    db = Database(database_url)
    try:
        for start in range(0, count, 2000):
            async with db.transaction() as session:
                await enrol(session, emulator, people[start : start + 2000], roles=[role])
    finally:
        await db.dispose()
    return people
