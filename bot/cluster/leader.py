"""One active instance among several on one PostgreSQL database, the others standing by.

PostgreSQL decides, not this module: the active instance is the one whose session holds
`pg_try_advisory_lock(LOCK_KEY)` (storage/cluster.py). That session is opened only for this,
kept alive by a heartbeat every second, and ends (freeing the lock) when the process dies,
its host vanishes (TCP keepalives), or it is paused for longer than `idle_session_timeout`.
A standby asks for the lock every second. On getting it, it ends the previous holder's other
sessions, numbers a new term (the epoch) and reports `became_active(epoch)`; outbox claims
and timer firings then carry that epoch and are refused once a later term has begun. On any
trouble with its session, the active instance reports `lost(epoch)` at once and stands by.

See docs/cluster.md for why this is safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import inspect
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from storage import cluster as q

log = logging.getLogger(__name__)

ActiveListener = Callable[[int], Awaitable[None] | None]
LostListener = Callable[[int], Awaitable[None] | None]


class Role(enum.StrEnum):
    """What an instance is doing."""

    ACTIVE = "active"
    STANDBY = "standby"


@dataclass(frozen=True)
class Timing:
    """How fast leadership moves, in seconds.

    A paused active instance loses the lock `idle_session_timeout` after its last heartbeat;
    a standby takes it within `retry_every` after that. A running active instance notices
    trouble within `heartbeat_every + heartbeat_timeout`, which must come first.
    """

    idle_session_timeout: float = 5.0
    heartbeat_every: float = 1.0
    heartbeat_timeout: float = 2.0
    retry_every: float = 1.0
    statement_timeout: float = 3.0
    connect_timeout: float = 5.0
    keepalive: q.Keepalive = field(default_factory=q.Keepalive)

    def __post_init__(self) -> None:
        if self.heartbeat_every + self.heartbeat_timeout >= self.idle_session_timeout:
            raise ValueError(
                "heartbeat_every + heartbeat_timeout must be below idle_session_timeout, "
                "or a live active instance would find itself cut off"
            )
        if self.retry_every >= self.idle_session_timeout:
            raise ValueError("retry_every must be below idle_session_timeout")


def default_holder() -> str:
    """This process's name in the cluster: host name and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


def database_options(holder: str) -> dict[str, Any]:
    """Engine options that tag every pooled session with the instance's name.

    Pass them to `Database(url, **database_options(holder))` on PostgreSQL: at a takeover the
    new active instance ends the tagged sessions of the previous one, so that a paused
    instance caught inside a fenced claim cannot hold the takeover up.
    """
    return {"connect_args": {"server_settings": {"application_name": q.session_tag(holder)}}}


class _Trouble(Exception):
    """The leadership session can no longer be trusted."""


# What a lost, cut or misbehaving session raises.
_SESSION_ERRORS = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    OSError,
    TimeoutError,
    _Trouble,
)


class Leadership:
    """Contends for the active role and reports each change of role.

    `start()` begins contending in the background; `stop()` gives the role up. Listeners added
    with `on_active` get the new epoch; those added with `on_lost` get the epoch that ended.
    A listener may be a plain function (called at once) or a coroutine function (run as a task).
    """

    def __init__(self, url: str, *, holder: str | None = None, timing: Timing | None = None):
        self.url = url
        self.holder = holder or default_holder()
        self.timing = timing or Timing()
        self.tag = q.session_tag(self.holder)
        self.role = Role.STANDBY
        self.epoch: int | None = None
        self.since: datetime | None = None
        self.idle_timeout_enforced: bool | None = None
        self._on_active: list[ActiveListener] = []
        self._on_lost: list[LostListener] = []
        self._reached = {Role.ACTIVE: asyncio.Event(), Role.STANDBY: asyncio.Event()}
        self._reached[Role.STANDBY].set()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._listener_tasks: set[asyncio.Future[Any]] = set()
        self._conn: asyncpg.Connection | None = None

    # The outside view.

    @property
    def is_active(self) -> bool:
        """Whether this instance may poll, dispatch and fire timers now."""
        return self.role is Role.ACTIVE

    def on_active(self, listener: ActiveListener) -> None:
        """Call `listener(epoch)` each time this instance becomes active."""
        self._on_active.append(listener)

    def on_lost(self, listener: LostListener) -> None:
        """Call `listener(epoch)` each time this instance stops being active."""
        self._on_lost.append(listener)

    async def wait_for(self, role: Role) -> None:
        """Wait until this instance has the role."""
        await self._reached[role].wait()

    async def start(self) -> None:
        """Begin contending in the background."""
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.create_task(self._run(), name="leadership")

    async def stop(self) -> None:
        """Give the role up (reporting `lost` first), free the lock and close the session."""
        self._stopping.set()
        if self._task is not None:
            await self._task
            self._task = None
        for task in list(self._listener_tasks):
            with contextlib.suppress(Exception):
                await task

    # The contention loop.

    async def _run(self) -> None:
        while not self._stopping.is_set():
            conn: asyncpg.Connection | None = None
            try:
                conn = await self._connect()
                await self._contend(conn)
            except _SESSION_ERRORS as exc:
                log.warning("leadership session failed (%s): %s", type(exc).__name__, exc)
            except Exception:
                log.exception("leadership loop failed")
            finally:
                self._lose()
                if conn is not None:
                    await self._close(conn)
            await self._pause(self.timing.retry_every)

    async def _connect(self) -> asyncpg.Connection:
        t = self.timing
        conn, enforced = await asyncio.wait_for(
            q.open_leader_connection(
                self.url,
                tag=self.tag,
                idle_session_timeout=t.idle_session_timeout,
                statement_timeout=t.statement_timeout,
                keepalive=t.keepalive,
                connect_timeout=t.connect_timeout,
            ),
            t.connect_timeout * 2,
        )
        if not enforced and self.idle_timeout_enforced is not False:
            log.warning(
                "PostgreSQL older than 14: no idle_session_timeout, so a paused active "
                "instance keeps the role until it resumes or its session is ended"
            )
        self.idle_timeout_enforced = enforced
        conn.add_termination_listener(self._on_terminated)
        self._conn = conn
        return conn

    async def _contend(self, conn: asyncpg.Connection) -> None:
        t = self.timing
        while not await self._call(q.try_lock(conn)):
            if await self._pause(t.retry_every):
                return
        epoch, since = await self._take_over(conn)
        self._become_active(epoch, since)
        while not await self._pause(t.heartbeat_every):
            if conn.is_closed():
                raise _Trouble("the leadership session was closed")
            alive = await self._call(q.heartbeat(conn, epoch=epoch))
            if not alive:
                raise _Trouble(f"epoch {epoch} is no longer current")
        # A clean stop: stop claiming first, then free the lock for a standby.
        self._lose(clean=True)
        await self._call(q.unlock(conn))

    async def _take_over(self, conn: asyncpg.Connection) -> tuple[int, datetime]:
        """End the previous holder's sessions and number a new term, retrying while held up."""
        t = self.timing
        # The server's statement_timeout must fire before the client gives up on an answer.
        late = t.statement_timeout + t.heartbeat_timeout
        while True:
            previous = await self._call(q.previous_holder(conn), late)
            if previous is not None and previous != self.holder:
                try:
                    ended = await self._call(
                        q.end_sessions(conn, tag=q.session_tag(previous)), late
                    )
                except asyncpg.InsufficientPrivilegeError as exc:
                    log.warning("could not end the previous holder's sessions: %s", exc)
                else:
                    if ended:
                        log.info("ended %d session(s) of the previous holder %s", ended, previous)
            try:
                return await self._call(q.begin_term(conn, holder=self.holder), 3 * late)
            except asyncpg.QueryCanceledError:
                # A claim under the old term still holds the state row; ask again.
                log.warning("a claim of the previous term held the takeover up; trying again")
            if self._stopping.is_set():
                raise _Trouble("stopping during a takeover")

    async def _call(self, coro: Awaitable[Any], timeout: float | None = None) -> Any:  # noqa: ASYNC109
        """One statement on the leadership session, given up on when the answer is late."""
        return await asyncio.wait_for(coro, timeout or self.timing.heartbeat_timeout * 1.5)

    async def _pause(self, seconds: float) -> bool:
        """Wait, or less if asked to stop; True when stopping."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
        return self._stopping.is_set()

    async def _close(self, conn: asyncpg.Connection) -> None:
        if self._conn is conn:
            self._conn = None
        conn.remove_termination_listener(self._on_terminated)
        if conn.is_closed():
            return
        try:
            await asyncio.wait_for(conn.close(), self.timing.heartbeat_timeout)
        except Exception:
            conn.terminate()

    def _on_terminated(self, conn: Any) -> None:
        """The server or the network ended the leadership session: lose at once."""
        if self._conn is not None and self._conn is conn:
            log.warning("the leadership session ended")
            self._lose()

    # Role changes.

    def _become_active(self, epoch: int, since: datetime) -> None:
        self.role, self.epoch, self.since = Role.ACTIVE, epoch, since
        log.info("active as %s (epoch %d)", self.holder, epoch)
        self._notify()
        for listener in self._on_active:
            self._call_listener(listener, epoch)

    def _lose(self, *, clean: bool = False) -> None:
        if self.role is not Role.ACTIVE:
            return
        epoch = self.epoch
        assert epoch is not None
        self.role, self.epoch, self.since = Role.STANDBY, None, None
        if clean:
            log.info("giving up the active role (epoch %d)", epoch)
        else:
            log.warning("no longer active (epoch %d ended); standing by", epoch)
        self._notify()
        for listener in self._on_lost:
            self._call_listener(listener, epoch)

    def _notify(self) -> None:
        for role, reached in self._reached.items():
            if role is self.role:
                reached.set()
            else:
                reached.clear()

    def _call_listener(self, listener: Callable[[int], Any], epoch: int) -> None:
        try:
            result = listener(epoch)
        except Exception:
            log.exception("a leadership listener failed")
            return
        if inspect.isawaitable(result):
            self._track(asyncio.ensure_future(result))

    def _track(self, task: asyncio.Future[Any]) -> None:
        self._listener_tasks.add(task)
        task.add_done_callback(self._listener_done)

    def _listener_done(self, task: asyncio.Future[Any]) -> None:
        self._listener_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a leadership listener failed", exc_info=task.exception())
