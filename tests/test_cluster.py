"""R20: several instances on one PostgreSQL, one active; only one instance at all on SQLite.

The PostgreSQL tests run real processes (tests/support/contender.py) against the test
database and kill or pause them; they need PostgreSQL and are skipped on the SQLite run.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bot.cluster import single
from bot.cluster.leader import Leadership, Role, Timing, database_options
from storage import cluster as cluster_q
from storage import platform as q
from storage.db import Database
from storage.models import OutboxMessage
from tests.conftest import BACKEND

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
FAR = datetime(2099, 1, 1, tzinfo=UTC)
# What "within seconds" means for a takeover (R20).
TAKEOVER_LIMIT = 10.0

needs_postgresql = pytest.mark.skipif(
    BACKEND != "postgresql",
    reason="several instances are a PostgreSQL feature (INCIDENT_BOT_TEST_DB=postgresql)",
)


async def wait_until(
    check: Callable[[], Awaitable[bool]], *, within: float = 15.0, what: str = "it"
) -> None:
    """Ask again every 50 ms until `check` is true (the state lives in another process)."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {within} s for {what}")
        await asyncio.sleep(0.05)


class Contender:
    """tests/support/contender.py as a subprocess, with the JSON lines it printed."""

    def __init__(
        self,
        name: str,
        url: str,
        workdir: Path,
        *,
        claim_every: float = 0.0,
        claim_on_wake: bool = False,
    ) -> None:
        self.name = name
        self.url = url
        self.claim_every = claim_every
        self.claim_on_wake = claim_on_wake
        self.stderr_path = workdir / f"{name}.stderr"
        self.events: list[dict[str, Any]] = []
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        """Start it and wait for its first line."""
        with self.stderr_path.open("wb") as stderr:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.support.contender",
                "--url",
                self.url,
                "--name",
                self.name,
                "--claim-every",
                str(self.claim_every),
                *(["--claim-on-wake"] if self.claim_on_wake else []),
                cwd=str(ROOT),
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
            )
        await self.next("started")

    async def next(self, *kinds: str, within: float = 20.0) -> dict[str, Any]:
        """Read lines until one of these kinds comes."""
        assert self.process is not None and self.process.stdout is not None
        deadline = time.monotonic() + within
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{self.name}: no {kinds} in {within} s; {self.report()}")
            try:
                line = await asyncio.wait_for(self.process.stdout.readline(), left)
            except TimeoutError:
                continue
            if not line:
                raise AssertionError(f"{self.name} ended before {kinds}; {self.report()}")
            event = json.loads(line)
            self.events.append(event)
            if event["event"] in kinds:
                return event

    def signal(self, signum: int) -> None:
        """Send a signal (SIGKILL, SIGSTOP, SIGCONT...)."""
        assert self.process is not None
        os.kill(self.process.pid, signum)

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL if it hangs."""
        if self.process is None or self.process.returncode is not None:
            return
        self.signal(signal.SIGCONT)
        self.process.terminate()
        try:
            await asyncio.wait_for(self.process.wait(), 15)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()

    def report(self) -> str:
        """For failure messages."""
        return f"events {self.events}; stderr:\n{self.stderr_path.read_text(errors='replace')}"


@pytest.fixture
async def contenders(database_url: str, tmp_path: Path) -> AsyncIterator[Callable[..., Contender]]:
    """Make contender processes; all are stopped at the end."""
    made: list[Contender] = []

    def make(name: str, **kwargs: Any) -> Contender:
        contender = Contender(name, database_url, tmp_path, **kwargs)
        made.append(contender)
        return contender

    yield make
    for contender in made:
        await contender.stop()


async def _pg(url: str, **settings: str) -> asyncpg.Connection:
    return await asyncpg.connect(cluster_q.asyncpg_dsn(url), server_settings=settings or None)


async def _has_tried(admin: asyncpg.Connection, contender: Contender) -> bool:
    """Whether the contender's session has asked for the lock (and so been refused)."""
    query = await admin.fetchval(
        """
        SELECT query FROM pg_stat_activity
        WHERE datname = current_database() AND application_name = $1 AND query LIKE $2
        """,
        cluster_q.session_tag(contender.name),
        "%pg_try_advisory_lock%",
    )
    return query is not None


async def _lock_holders(admin: asyncpg.Connection) -> list[str]:
    """application_name of every session holding the active instance's lock."""
    key = cluster_q.LOCK_KEY
    rows = await admin.fetch(
        """
        SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.granted
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND l.classid = $1 AND l.objid = $2 AND l.objsubid = 1
        """,
        (key >> 32) & 0xFFFFFFFF,
        key & 0xFFFFFFFF,
    )
    return [r["application_name"] for r in rows]


async def _add_rows(db: Database, count: int, *, not_before: datetime) -> list[int]:
    async with db.transaction() as session:
        rows = [
            await q.add_outbox(
                session=session,
                created_at=NOW,
                not_before=not_before,
                chat_id=100 + i,
                method="send_message",
                payload={"text": "x"},
            )
            for i in range(count)
        ]
    return [r.id for r in rows]


async def _rows(db: Database, ids: list[int]) -> dict[int, OutboxMessage]:
    async with db.transaction() as session:
        return {i: row for i in ids if (row := await q.get_outbox(session=session, outbox_id=i))}


@needs_postgresql
async def test_r20_one_active_and_a_killed_one_is_replaced_within_seconds(
    contenders: Callable[..., Contender], database_url: str
) -> None:
    """R20: of two instances exactly one is active; kill -9 it and the other takes over."""
    first, second = contenders("first"), contenders("second")
    await first.start()
    one = await first.next("active")
    await second.start()
    admin = await _pg(database_url)
    try:
        await wait_until(lambda: _has_tried(admin, second), what="the second to ask for the lock")
        assert await _lock_holders(admin) == [cluster_q.session_tag("first")]
        assert not [e for e in second.events if e["event"] == "active"]

        killed = time.monotonic()
        first.signal(signal.SIGKILL)
        two = await second.next("active")
        took = time.monotonic() - killed
        print(f"\nR20 takeover after kill -9: {took:.2f} s")
        assert took <= TAKEOVER_LIMIT
        assert two["epoch"] == one["epoch"] + 1
        assert await _lock_holders(admin) == [cluster_q.session_tag("second")]
        state = await admin.fetchrow("SELECT epoch, holder FROM cluster_state WHERE id = 1")
        assert (state["epoch"], state["holder"]) == (two["epoch"], "second")
    finally:
        await admin.close()


@needs_postgresql
async def test_r20_a_paused_active_is_replaced_and_fenced_when_it_wakes(
    contenders: Callable[..., Contender], db: Database
) -> None:
    """R20: SIGSTOP the active; the other takes over and re-queues what was in flight as
    possible duplicates; SIGCONT the old one: it reports it lost, and its claim under the old
    epoch takes nothing although rows are waiting."""
    first = contenders("first", claim_every=0.05, claim_on_wake=True)
    second = contenders("second")
    await first.start()
    one = (await first.next("active"))["epoch"]
    await second.start()
    # Due by the processes' own clock (they claim with the real time).
    due = datetime.now(UTC) - timedelta(minutes=1)
    in_flight = await _add_rows(db, 3, not_before=due)
    claimed: set[int] = set()
    while claimed != set(in_flight):
        claimed |= set((await first.next("claimed"))["ids"])

    paused = time.monotonic()
    first.signal(signal.SIGSTOP)
    two = (await second.next("active"))["epoch"]
    took = time.monotonic() - paused
    print(f"\nR20 takeover after SIGSTOP (idle_session_timeout 5 s): {took:.2f} s")
    assert took <= TAKEOVER_LIMIT
    assert two == one + 1
    assert (await second.next("released"))["count"] == 3
    waiting = await _add_rows(db, 2, not_before=due)
    before = await _rows(db, in_flight + waiting)
    assert {r.status for r in before.values()} == {q.PENDING}
    assert [before[i].possible_duplicate for i in in_flight + waiting] == [True] * 3 + [False] * 2

    seen = len(first.events)
    first.signal(signal.SIGCONT)
    # In either order: it reports the loss, and its claim under the old epoch is refused.
    while not {"lost", "fenced"} <= {e["event"] for e in first.events[seen:]}:
        await first.next("lost", "fenced")
    woken = first.events[seen:]
    print(f"the woken instance's lines: {[e['event'] for e in woken]}")
    assert not [e for e in woken if e["event"] == "claimed"], first.report()
    assert {e["epoch"] for e in woken if e["event"] in ("lost", "fenced")} == {one}
    after = await _rows(db, in_flight + waiting)
    assert [(r.status, r.claimed_epoch) for r in after.values()] == [
        (b.status, b.claimed_epoch) for b in before.values()
    ]

    # The same fence in this process: nothing under the old epoch, everything under the new.
    async with db.transaction() as session:
        await q.add_timer(session=session, kind="t", ref_id=1, due_at=NOW, now=NOW)
    async with db.transaction() as session:
        assert await q.claim_due_outbox(session=session, now=due, limit=10, epoch=one) == []
        assert await q.claim_due_timer(session=session, now=NOW, epoch=one) is None
        assert await q.release_in_flight(session=session, epoch=one) == 0
    async with db.transaction() as session:
        taken = await q.claim_due_outbox(session=session, now=due, limit=10, epoch=two)
        assert sorted(r.id for r in taken) == in_flight + waiting
        assert await q.claim_due_timer(session=session, now=NOW, epoch=two) is not None
    assert first.process is not None and first.process.returncode is None


@needs_postgresql
async def test_r20_takeover_ends_the_sessions_a_paused_holder_left_inside_a_claim(
    contenders: Callable[..., Contender], database_url: str
) -> None:
    """R20: a paused instance caught inside a fenced claim holds the state row; the takeover
    ends the previous holder's sessions instead of waiting on it for ever."""
    first, second = contenders("first"), contenders("second")
    await first.start()
    one = (await first.next("active"))["epoch"]
    await second.start()
    # One of the first instance's pooled sessions, stuck mid-claim (as if its process paused).
    stuck = Database(database_url, **database_options("first"))
    try:
        async with stuck.sessions() as session:
            await session.begin()
            assert await cluster_q.epoch_is_current(session=session, epoch=one)
            killed = time.monotonic()
            first.signal(signal.SIGKILL)
            two = (await second.next("active"))["epoch"]
            took = time.monotonic() - killed
            print(f"\nR20 takeover past a stuck claim: {took:.2f} s")
            assert took <= TAKEOVER_LIMIT
            assert two == one + 1
            with pytest.raises(Exception, match=r"terminat|closed|connection"):
                await cluster_q.epoch_is_current(session=session, epoch=one)
    finally:
        await stuck.dispose()


@needs_postgresql
async def test_r20_a_takeover_waits_for_a_running_claim_then_releases_its_rows(
    db: Database, database_url: str
) -> None:
    """R20 fencing: the epoch's increment waits for a claim under the old epoch, so no claim
    of the old term lands after the new term's release; rows of the current term stay."""
    leader = await _pg(database_url)
    bumper = await _pg(database_url, application_name="bumper")
    admin = await _pg(database_url)
    try:
        one, _ = await cluster_q.begin_term(leader, holder="one")
        ids = await _add_rows(db, 2, not_before=NOW)
        async with db.transaction() as session:
            taken = await q.claim_due_outbox(session=session, now=NOW, limit=1, epoch=one)
            assert [r.id for r in taken] == ids[:1]
            bump = asyncio.create_task(cluster_q.begin_term(bumper, holder="two"))

            async def bump_waits() -> bool:
                wait = await admin.fetchval(
                    """
                    SELECT wait_event_type FROM pg_stat_activity
                    WHERE datname = current_database() AND application_name = $1
                    """,
                    "bumper",
                )
                return bool(wait == "Lock")

            await wait_until(bump_waits, what="the increment to wait for the claim")
            assert not bump.done()
        two, _ = await bump
        assert two == one + 1
        async with db.transaction() as session:
            assert await q.claim_due_outbox(session=session, now=NOW, limit=10, epoch=one) == []
            mine = await q.claim_due_outbox(session=session, now=NOW, limit=10, epoch=two)
            assert [r.id for r in mine] == ids[1:]
        async with db.transaction() as session:
            # Only the row claimed under the old epoch goes back, as a possible duplicate.
            assert await q.release_in_flight(session=session, epoch=two) == 1
        rows = await _rows(db, ids)
        assert [(rows[i].status, rows[i].possible_duplicate) for i in ids] == [
            (q.PENDING, True),
            (q.IN_FLIGHT, False),
        ]
        async with db.transaction() as session:
            # A retry written under the old epoch does not touch a row the new term holds.
            await q.retry_outbox(
                session=session, outbox_id=ids[1], not_before=FAR, error="late", epoch=one
            )
        assert (await _rows(db, ids[1:]))[ids[1]].status == q.IN_FLIGHT
    finally:
        for conn in (leader, bumper, admin):
            await conn.close()


@needs_postgresql
async def test_r20_leadership_in_process_reports_its_role_and_gives_it_up_on_stop(
    database_url: str,
) -> None:
    """R20: the Leadership object's own view: role, epoch, since, holder, listeners; a clean
    stop reports lost first and frees the lock for the next one at once."""
    timing = Timing()
    first = Leadership(database_url, holder="first", timing=timing)
    second = Leadership(database_url, holder="second", timing=timing)
    seen: list[tuple[str, str, int]] = []
    for leadership in (first, second):
        name = leadership.holder
        leadership.on_active(lambda e, name=name: seen.append((name, "active", e)))
        leadership.on_lost(lambda e, name=name: seen.append((name, "lost", e)))
    await first.start()
    await asyncio.wait_for(first.wait_for(Role.ACTIVE), 15)
    assert first.epoch is not None and first.since is not None
    assert first.idle_timeout_enforced is True
    one = first.epoch
    await second.start()
    try:
        assert second.role is Role.STANDBY and second.epoch is None
        stopped = time.monotonic()
        await first.stop()
        assert first.role is Role.STANDBY
        await asyncio.wait_for(second.wait_for(Role.ACTIVE), 15)
        print(f"\nR20 handover after a clean stop: {time.monotonic() - stopped:.2f} s")
        assert seen == [
            ("first", "active", one),
            ("first", "lost", one),
            ("second", "active", one + 1),
        ]
    finally:
        await second.stop()
        await first.stop()


def test_r20_timing_keeps_a_live_heartbeat_inside_the_idle_timeout() -> None:
    """A heartbeat slower than the server's idle timeout would cut off a live active one."""
    with pytest.raises(ValueError, match="idle_session_timeout"):
        Timing(idle_session_timeout=2.0, heartbeat_every=1.0, heartbeat_timeout=1.5)
    Timing(idle_session_timeout=3.0, heartbeat_every=1.0, heartbeat_timeout=1.5)


async def test_r20_the_epoch_fence_lets_everything_through_on_sqlite(db: Database) -> None:
    """One instance on SQLite: an epoch changes nothing there (on PostgreSQL, without a
    current term, the same claim is refused)."""
    ids = await _add_rows(db, 1, not_before=NOW)
    async with db.transaction() as session:
        taken = await q.claim_due_outbox(session=session, now=NOW, limit=10, epoch=7)
    assert [r.id for r in taken] == (ids if db.is_sqlite else [])


async def test_r20_a_second_instance_on_sqlite_exits_at_once(tmp_path: Path) -> None:
    """R20 on SQLite: while one instance holds the database, `incident-bot run` refuses to
    start, with one clear line and a non-zero status, before touching the database; once the
    holder is killed, the lock is free again."""
    database = tmp_path / "data" / "bot.sqlite3"
    url = f"sqlite+aiosqlite:///{database}"
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import sys; from bot.cluster import single; lock = single.for_database(sys.argv[1]); "
        "lock.acquire(); print('locked', flush=True); sys.stdin.read()",
        url,
        cwd=str(ROOT),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None
        assert await asyncio.wait_for(holder.stdout.readline(), 20) == b"locked\n"
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("TELEGRAM_", "ADMIN_", "DATABASE_", "INCIDENT_BOT_"))
        }
        started = time.monotonic()
        second = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "app.cli",
            "run",
            cwd=str(tmp_path),
            env={**env, "TELEGRAM_BOT_TOKEN": "123:fake", "DATABASE_URL": url},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(second.communicate(), 30)
        assert second.returncode == 1, (out, err)
        lines = err.decode().strip().splitlines()
        assert len(lines) == 1, lines
        assert lines[0].startswith(f"another incident-bot is already running on {database};")
        assert not database.exists(), "the refused instance must not touch the database"
        print(f"\nR20 second instance on SQLite refused in {time.monotonic() - started:.2f} s")
    finally:
        holder.kill()
        await holder.wait()
    lock = single.for_database(url)
    assert lock is not None
    lock.acquire()
    lock.release()
