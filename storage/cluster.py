"""Which instance is active on a shared PostgreSQL database: its lock, its epoch, the fence.

Two kinds of function live here. Those taking an asyncpg `Connection` run on the leadership's
own connection (bot/cluster/leader.py). They use asyncpg directly rather than SQLAlchemy
because a session-level advisory lock lives and dies with one database session: SQLAlchemy's
pool hands connections around, pings and recycles them, and would lose or leak the lock.
The caller bounds how long it waits for each answer; the
server's `statement_timeout` on that connection bounds each statement. Those taking an
`AsyncSession` are the fence that outbox claims and timer firings run in
their own transactions (storage/platform.py).

PostgreSQL is the arbiter throughout: `pg_try_advisory_lock` says who is active, the death
of that lock's session (process killed, host gone, or idle past `idle_session_timeout`, which
catches a paused process) frees it, and the epoch row numbers the terms so that a claim made
under an older term is refused. On SQLite there is one instance and the fence lets all pass.
"""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ClusterState

log = logging.getLogger(__name__)

# The advisory lock's key: "incident" in ASCII, as a signed 64-bit number. Every instance on
# one database contends for this key; nothing else of ours takes advisory locks.
LOCK_KEY = int.from_bytes(b"incident", "big", signed=True)
STATE_ID = 1
# PostgreSQL cuts application_name at 63 bytes; tags are cut the same way on both sides.
_TAG_LIMIT = 63


def session_tag(holder: str) -> str:
    """The application_name every connection of one instance carries.

    At a takeover the new active instance ends the sessions carrying the previous holder's
    tag: a paused instance may be stuck inside a fenced claim, holding the lock that the
    epoch's increment waits for.
    """
    return ("incident-bot " + holder).encode("utf-8")[:_TAG_LIMIT].decode("utf-8", "ignore")


def asyncpg_dsn(url: str) -> str:
    """A SQLAlchemy URL (postgresql+asyncpg://...) in the form asyncpg takes."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass(frozen=True)
class Keepalive:
    """How fast a dead peer is noticed on the leadership's TCP connection, in seconds."""

    idle: int = 2
    interval: int = 1
    count: int = 3


async def open_leader_connection(
    url: str,
    *,
    tag: str,
    idle_session_timeout: float,
    statement_timeout: float,
    keepalive: Keepalive,
    connect_timeout: float,
) -> tuple[asyncpg.Connection, bool]:
    """Open the leadership's own session; also say whether the server enforces idleness.

    The server's TCP keepalives end the session when this host vanishes; the client's end the
    connection when the server's host does. Neither catches a paused (SIGSTOPped) process,
    whose kernel still answers keepalives: `idle_session_timeout` (PostgreSQL 14 and later)
    does, since a paused process stops heartbeating and its session turns idle.
    """
    settings = {
        "application_name": tag,
        "statement_timeout": str(int(statement_timeout * 1000)),
        "tcp_keepalives_idle": str(keepalive.idle),
        "tcp_keepalives_interval": str(keepalive.interval),
        "tcp_keepalives_count": str(keepalive.count),
    }
    conn = await asyncpg.connect(
        asyncpg_dsn(url),
        timeout=connect_timeout,
        server_settings=settings,
        statement_cache_size=0,
    )
    try:
        _client_keepalive(conn, keepalive)
        enforced = conn.get_server_version().major >= 14
        if enforced:
            # Set here rather than at connect: older servers refuse an unknown setting there.
            await conn.execute(f"SET idle_session_timeout = {int(idle_session_timeout * 1000)}")
    except BaseException:
        conn.terminate()
        raise
    return conn, enforced


def _client_keepalive(conn: asyncpg.Connection, keepalive: Keepalive) -> None:
    # asyncpg has no keepalive options; its transport is reached through a private attribute.
    # The heartbeat's own timeout (bot/cluster/leader.py) is the guard that does not rely on it.
    transport = getattr(conn, "_transport", None)
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (
        ("TCP_KEEPIDLE", keepalive.idle),
        ("TCP_KEEPINTVL", keepalive.interval),
        ("TCP_KEEPCNT", keepalive.count),
    ):
        option = getattr(socket, name, None)
        if option is not None:
            sock.setsockopt(socket.IPPROTO_TCP, option, value)


async def try_lock(conn: asyncpg.Connection) -> bool:
    """Take the active instance's lock if no other session holds it."""
    return bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", LOCK_KEY))


async def unlock(conn: asyncpg.Connection) -> None:
    """Give the lock up (on a clean stop; a dead session gives it up by itself)."""
    await conn.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)


async def previous_holder(conn: asyncpg.Connection) -> str | None:
    """Who held the last epoch (read without waiting for any lock)."""
    holder = await conn.fetchval("SELECT holder FROM cluster_state WHERE id = $1", STATE_ID)
    return str(holder) if holder is not None else None


async def end_sessions(conn: asyncpg.Connection, *, tag: str) -> int:
    """End every other session of this database carrying an instance's tag; how many."""
    ended = await conn.fetchval(
        """
        SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))
        FROM pg_stat_activity
        WHERE application_name = $1 AND pid <> pg_backend_pid()
          AND datname = current_database()
        """,
        tag,
    )
    return int(ended or 0)


async def begin_term(conn: asyncpg.Connection, *, holder: str) -> tuple[int, datetime]:
    """Number a new term: increment the epoch and name its holder, in one transaction.

    `FOR UPDATE` waits for every fenced claim still running under the old epoch (they hold
    the row `FOR KEY SHARE`), so once this commits no claim of the old term can still land.
    """
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO cluster_state (id, epoch) VALUES ($1, 0) ON CONFLICT (id) DO NOTHING",
            STATE_ID,
        )
        await conn.execute("SELECT epoch FROM cluster_state WHERE id = $1 FOR UPDATE", STATE_ID)
        row = await conn.fetchrow(
            """
            UPDATE cluster_state
            SET epoch = epoch + 1, holder = $2,
                since = timezone('utc', clock_timestamp()),
                heartbeat_at = timezone('utc', clock_timestamp())
            WHERE id = $1
            RETURNING epoch, since
            """,
            STATE_ID,
            holder,
        )
    assert row is not None
    return int(row["epoch"]), row["since"].replace(tzinfo=UTC)


async def heartbeat(conn: asyncpg.Connection, *, epoch: int) -> bool:
    """Show the session is alive and note the time; False when the epoch has moved on."""
    found = await conn.fetchval(
        """
        UPDATE cluster_state SET heartbeat_at = timezone('utc', clock_timestamp())
        WHERE id = $1 AND epoch = $2
        RETURNING epoch
        """,
        STATE_ID,
        epoch,
    )
    return found is not None


def _is_sqlite(session: AsyncSession) -> bool:
    return session.bind is not None and session.bind.dialect.name == "sqlite"


async def epoch_is_current(*, session: AsyncSession, epoch: int) -> bool:
    """The fence: whether `epoch` is the current term, held so until the transaction ends.

    `FOR KEY SHARE` keeps a takeover's increment (which takes the row `FOR UPDATE`) waiting
    until this transaction ends, yet lets the active instance's heartbeat update the row. On
    SQLite there is one instance, and every epoch passes.
    """
    if _is_sqlite(session):
        return True
    found = await session.scalar(
        select(ClusterState.epoch)
        .where(ClusterState.id == STATE_ID, ClusterState.epoch == epoch)
        .with_for_update(read=True, key_share=True)
    )
    return found is not None


async def get_state(*, session: AsyncSession) -> ClusterState | None:
    """The current term: its epoch, holder, start and last heartbeat (None before any)."""
    return await session.get(ClusterState, STATE_ID)
