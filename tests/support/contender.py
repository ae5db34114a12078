"""An instance contending for the active role, reporting each change as a JSON line.

    python -m tests.support.contender --url URL --name NAME [--claim-every SECONDS]

It does what the outbox dispatcher will do with its role: on becoming active it releases
the rows left in flight by earlier terms, and while it believes itself active it claims due
rows under its epoch (without sending them). Lines on stdout, one JSON object each:
`started`, `active` (epoch), `lost` (epoch), `released` (epoch, count), `claimed` (epoch,
ids), `fenced` (a claim under an epoch that is no longer current took nothing),
`claim_failed` (the database refused, e.g. its session was ended). With `--claim-on-wake` it
claims once more under its last epoch when it resumes from SIGSTOP. SIGTERM stops it cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from datetime import UTC, datetime
from typing import Any

from bot.cluster.leader import Leadership, Timing, database_options
from storage import cluster as cluster_q
from storage import platform as q
from storage.db import Database


def say(event: str, **fields: Any) -> None:
    """One line of JSON on stdout, at once."""
    print(json.dumps({"event": event, "at": time.time(), **fields}), flush=True)


async def claim(db: Database, epoch: int, *, quiet: bool = True) -> str:
    """Claim due rows under an epoch, say what came of it, and return the event's name."""
    try:
        async with db.transaction() as session:
            rows = await q.claim_due_outbox(
                session=session, now=datetime.now(UTC), limit=100, epoch=epoch
            )
            state = await cluster_q.get_state(session=session)
    except Exception as exc:
        say("claim_failed", epoch=epoch, error=type(exc).__name__)
        return "claim_failed"
    if rows:
        say("claimed", epoch=epoch, ids=[r.id for r in rows])
        return "claimed"
    if state is None or state.epoch != epoch:
        say("fenced", epoch=epoch, current=state.epoch if state else None)
        return "fenced"
    if not quiet:
        say("claimed", epoch=epoch, ids=[])
    return "claimed"


async def claim_on_wake(db: Database, epoch: int) -> None:
    """Claim under an old epoch, again if the database ended the pooled session first."""
    for _ in range(3):
        if await claim(db, epoch, quiet=False) != "claim_failed":
            return


async def claim_loop(leadership: Leadership, db: Database, every: float) -> None:
    """Claim due rows under the epoch this process believes current."""
    while True:
        if leadership.epoch is not None:
            await claim(db, leadership.epoch)
        await asyncio.sleep(every)


async def main() -> int:
    """Contend until SIGTERM."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--claim-every", type=float, default=0.0)
    parser.add_argument("--idle-session-timeout", type=float, default=5.0)
    parser.add_argument(
        "--claim-on-wake",
        action="store_true",
        help="on SIGCONT, claim once under the last epoch held, active or not (as a dispatcher "
        "paused between reading its epoch and claiming would)",
    )
    args = parser.parse_args()

    leadership = Leadership(
        args.url, holder=args.name, timing=Timing(idle_session_timeout=args.idle_session_timeout)
    )
    db = Database(args.url, **database_options(leadership.holder))

    held: list[int] = []

    async def on_active(epoch: int) -> None:
        held.append(epoch)
        say("active", epoch=epoch, holder=leadership.holder)
        async with db.transaction() as session:
            count = await q.release_in_flight(session=session, epoch=epoch)
        say("released", epoch=epoch, count=count)

    leadership.on_active(on_active)
    leadership.on_lost(lambda epoch: say("lost", epoch=epoch))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    woken: set[asyncio.Task[None]] = set()

    def on_wake() -> None:
        if held:
            task = asyncio.create_task(claim_on_wake(db, held[-1]))
            woken.add(task)
            task.add_done_callback(woken.discard)

    if args.claim_on_wake:
        loop.add_signal_handler(signal.SIGCONT, on_wake)
    await leadership.start()
    say("started", holder=leadership.holder)
    claims = (
        asyncio.create_task(claim_loop(leadership, db, args.claim_every))
        if args.claim_every > 0
        else None
    )
    await stop.wait()
    if claims is not None:
        claims.cancel()
    await leadership.stop()
    await db.dispose()
    say("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
