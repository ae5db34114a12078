"""Queries for the outbox, timers and conversations."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.cluster import epoch_is_current
from storage.models import Conversation, Counter, OutboxMessage, Timer

PENDING = "pending"
IN_FLIGHT = "in_flight"
SENT = "sent"
SKIPPED = "skipped"
BATCH_SERIES = "outbox_batch"


def _skip_locked(session: AsyncSession) -> dict[str, Any]:
    # PostgreSQL lets two bot instances share the queue without taking the same row.
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        return {"skip_locked": True}
    return {}


async def add_outbox(*, session: AsyncSession, **fields: Any) -> OutboxMessage:
    """Queue one outgoing message."""
    row = OutboxMessage(**fields)
    session.add(row)
    await session.flush()
    return row


async def add_outbox_many(*, session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Queue many outgoing messages in one statement (broadcasts)."""
    if rows:
        await session.execute(insert(OutboxMessage), rows)


async def claim_due_outbox(
    *, session: AsyncSession, now: datetime, limit: int, epoch: int | None = None
) -> Sequence[OutboxMessage]:
    """Take due rows, most urgent first, and mark them in flight.

    With an `epoch` (several instances on PostgreSQL), nothing is taken unless it is the
    current term's, and the rows remember it (`claimed_epoch`).
    """
    if epoch is not None and not await epoch_is_current(session=session, epoch=epoch):
        return []
    query = (
        select(OutboxMessage)
        .where(OutboxMessage.status == PENDING, OutboxMessage.not_before <= now)
        .order_by(OutboxMessage.priority.desc(), OutboxMessage.id)
        .limit(limit)
        .with_for_update(**_skip_locked(session))
    )
    rows = (await session.execute(query)).scalars().all()
    if rows:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_([r.id for r in rows]))
            .values(status=IN_FLIGHT, claimed_epoch=epoch)
        )
        for row in rows:
            row.status = IN_FLIGHT
            row.claimed_epoch = epoch
    return rows


async def next_outbox_due(*, session: AsyncSession) -> datetime | None:
    """When the next pending row becomes due."""
    return await session.scalar(
        select(func.min(OutboxMessage.not_before)).where(OutboxMessage.status == PENDING)
    )


async def finish_outbox(
    *,
    session: AsyncSession,
    outbox_id: int,
    status: str,
    now: datetime,
    message_id: int | None = None,
    error: str | None = None,
) -> None:
    """Record the final outcome of a row."""
    values: dict[str, Any] = {"status": status, "last_error": error}
    if status == SENT:
        values.update(sent_at=now, message_id=message_id)
    await session.execute(
        update(OutboxMessage).where(OutboxMessage.id == outbox_id).values(**values)
    )


async def finish_outbox_many(
    *, session: AsyncSession, now: datetime, outcomes: list[tuple[int, str, int | None, str | None]]
) -> None:
    """Record the final outcomes (id, status, message id, error) of many rows at once."""
    sent = [
        {"id": i, "status": status, "last_error": error, "sent_at": now, "message_id": message}
        for i, status, message, error in outcomes
        if status == SENT
    ]
    other = [
        {"id": i, "status": status, "last_error": error}
        for i, status, _message, error in outcomes
        if status != SENT
    ]
    for rows in (sent, other):
        if rows:
            await session.execute(update(OutboxMessage), rows)


async def retry_outbox(
    *,
    session: AsyncSession,
    outbox_id: int,
    not_before: datetime,
    error: str,
    count_attempt: bool = True,
    possible_duplicate: bool = False,
    chat_id: int | None = None,
    epoch: int | None = None,
) -> None:
    """Put a row back in the queue for a later attempt.

    With an `epoch`, only while the row is still the one claimed under it: once a later term
    took the row over, its outcome is that term's to write.
    """
    values: dict[str, Any] = {"status": PENDING, "not_before": not_before, "last_error": error}
    if count_attempt:
        values["attempts"] = OutboxMessage.attempts + 1
    if possible_duplicate:
        values["possible_duplicate"] = True
    if chat_id is not None:
        values["chat_id"] = chat_id
    query = update(OutboxMessage).where(OutboxMessage.id == outbox_id)
    if epoch is not None:
        query = query.where(OutboxMessage.claimed_epoch == epoch)
    await session.execute(query.values(**values))


async def release_in_flight(*, session: AsyncSession, epoch: int | None = None) -> int:
    """After a crash: rows that were in flight go back to the queue, flagged as maybe sent.

    With an `epoch` (a takeover), only when it is the current term's, and only rows claimed
    under an earlier term: a row in flight under the current one belongs to the live instance.
    """
    query = update(OutboxMessage).where(OutboxMessage.status == IN_FLIGHT)
    if epoch is not None:
        if not await epoch_is_current(session=session, epoch=epoch):
            return 0
        query = query.where(
            or_(OutboxMessage.claimed_epoch.is_(None), OutboxMessage.claimed_epoch < epoch)
        )
    result = await session.execute(query.values(status=PENDING, possible_duplicate=True))
    return int(getattr(result, "rowcount", 0) or 0)


async def get_outbox(*, session: AsyncSession, outbox_id: int) -> OutboxMessage | None:
    """One outbox row."""
    return await session.get(OutboxMessage, outbox_id)


async def sent_copies(*, session: AsyncSession, ref: str) -> Sequence[OutboxMessage]:
    """Every delivered message carrying a reference (all copies of one card)."""
    result = await session.execute(
        select(OutboxMessage)
        .where(
            OutboxMessage.ref == ref,
            OutboxMessage.edit_of.is_(None),
        )
        .order_by(OutboxMessage.id)
    )
    return result.scalars().all()


async def newer_pending_edit(*, session: AsyncSession, edit_of: int, after_id: int) -> bool:
    """Whether a later edit of the same message is still waiting (this one can be skipped)."""
    found = await session.scalar(
        select(OutboxMessage.id)
        .where(
            OutboxMessage.edit_of == edit_of,
            OutboxMessage.id > after_id,
            OutboxMessage.status.in_([PENDING, IN_FLIGHT]),
        )
        .limit(1)
    )
    return found is not None


async def move_chat_outbox(*, session: AsyncSession, old_chat_id: int, new_chat_id: int) -> int:
    """Point every row of a group at its new id after it became a supergroup.

    Sent rows too: an edit of a card copy sent before the move finds the copy in the new chat.
    """
    moved = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.chat_id == old_chat_id)
        .values(chat_id=new_chat_id)
    )
    return int(moved.rowcount or 0)  # type: ignore[attr-defined]


async def outbox_status_counts(*, session: AsyncSession, batch_id: int) -> dict[str, int]:
    """How many rows of a batch are in each status."""
    result = await session.execute(
        select(OutboxMessage.status, func.count())
        .where(OutboxMessage.batch_id == batch_id)
        .group_by(OutboxMessage.status)
    )
    return {status: int(count) for status, count in result.all()}


async def outbox_duplicate_count(*, session: AsyncSession, batch_id: int) -> int:
    """How many rows of a batch may have been delivered twice."""
    return int(
        await session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(
                OutboxMessage.batch_id == batch_id,
                OutboxMessage.possible_duplicate.is_(True),
                OutboxMessage.status == SENT,
            )
        )
        or 0
    )


async def next_batch_id(*, session: AsyncSession) -> int:
    """A batch id no other broadcast uses, taken under a row lock."""
    counter = (
        (
            await session.execute(
                select(Counter).where(Counter.name == BATCH_SERIES).with_for_update()
            )
        )
        .scalars()
        .first()
    )
    if counter is None:
        counter = Counter(name=BATCH_SERIES, value=0)
        session.add(counter)
    counter.value += 1
    await session.flush()
    return counter.value


async def batch_has_chat(*, session: AsyncSession, batch_id: int, chat_id: int) -> bool:
    """Whether a batch already holds a message to a chat."""
    found = await session.scalar(
        select(OutboxMessage.id)
        .where(OutboxMessage.batch_id == batch_id, OutboxMessage.chat_id == chat_id)
        .limit(1)
    )
    return found is not None


async def skip_pending_batch(*, session: AsyncSession, batch_id: int, reason: str) -> int:
    """Drop a batch's rows that have not been handed to the dispatcher yet."""
    result = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.batch_id == batch_id, OutboxMessage.status == PENDING)
        .values(status=SKIPPED, last_error=reason)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def add_timer(
    *,
    session: AsyncSession,
    kind: str,
    ref_id: int,
    due_at: datetime,
    now: datetime,
    payload: dict[str, Any] | None = None,
) -> Timer:
    """Store a deadline."""
    timer = Timer(kind=kind, ref_id=ref_id, due_at=due_at, created_at=now, payload=payload or {})
    session.add(timer)
    await session.flush()
    return timer


async def cancel_timers(*, session: AsyncSession, kind: str, ref_id: int) -> int:
    """Cancel every pending deadline of a kind for one thing."""
    result = await session.execute(
        update(Timer)
        .where(
            Timer.kind == kind,
            Timer.ref_id == ref_id,
            Timer.fired_at.is_(None),
            Timer.cancelled.is_(False),
        )
        .values(cancelled=True)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def pending_timers(
    *, session: AsyncSession, kind: str | None = None, ref_id: int | None = None
) -> Sequence[Timer]:
    """Deadlines that have neither fired nor been cancelled."""
    query = select(Timer).where(Timer.fired_at.is_(None), Timer.cancelled.is_(False))
    if kind is not None:
        query = query.where(Timer.kind == kind)
    if ref_id is not None:
        query = query.where(Timer.ref_id == ref_id)
    result = await session.execute(query.order_by(Timer.due_at, Timer.id))
    return result.scalars().all()


async def claim_due_timer(
    *, session: AsyncSession, now: datetime, epoch: int | None = None
) -> Timer | None:
    """Take the oldest due deadline and mark it fired, in the caller's transaction.

    With an `epoch`, nothing fires unless it is the current term's; the fence holds until
    the caller's transaction (in which the timer's handler runs) ends.
    """
    if epoch is not None and not await epoch_is_current(session=session, epoch=epoch):
        return None
    query = (
        select(Timer)
        .where(Timer.fired_at.is_(None), Timer.cancelled.is_(False), Timer.due_at <= now)
        .order_by(Timer.due_at, Timer.id)
        .limit(1)
        .with_for_update(**_skip_locked(session))
    )
    timer = (await session.execute(query)).scalars().first()
    if timer is not None:
        timer.fired_at = now
        await session.flush()
    return timer


async def next_due_timer(*, session: AsyncSession, now: datetime) -> Timer | None:
    """The oldest due deadline, not locked: its owner is locked first (see take_timer)."""
    query = (
        select(Timer)
        .where(Timer.fired_at.is_(None), Timer.cancelled.is_(False), Timer.due_at <= now)
        .order_by(Timer.due_at, Timer.id)
        .limit(1)
    )
    return (await session.execute(query)).scalars().first()


async def take_timer(*, session: AsyncSession, timer_id: int, now: datetime) -> Timer | None:
    """Lock a due deadline and mark it fired, unless it was cancelled or fired meanwhile."""
    query = (
        select(Timer)
        .where(
            Timer.id == timer_id,
            Timer.fired_at.is_(None),
            Timer.cancelled.is_(False),
            Timer.due_at <= now,
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    timer = (await session.execute(query)).scalars().first()
    if timer is not None:
        timer.fired_at = now
        await session.flush()
    return timer


async def defer_timer(
    *, session: AsyncSession, timer_id: int, due_at: datetime, failures: int, error: str
) -> None:
    """Put a deadline whose handler failed back, due again later, counting the failures."""
    timer = await session.get(Timer, timer_id, with_for_update=True)
    if timer is None or timer.cancelled:
        return
    timer.fired_at = None
    timer.due_at = due_at
    timer.payload = {**(timer.payload or {}), "failures": failures, "last_error": error}
    await session.flush()


async def get_conversation(*, session: AsyncSession, user_id: int) -> Conversation | None:
    """A user's active conversation, if any."""
    return await session.get(Conversation, user_id)


async def save_conversation(
    *,
    session: AsyncSession,
    user_id: int,
    kind: str,
    step: str,
    data: dict[str, Any],
    now: datetime,
) -> None:
    """Create or move a user's conversation to a step with its data."""
    # The usual case, a step of the same conversation, is one statement.
    moved = await session.execute(
        update(Conversation)
        .where(Conversation.user_id == user_id, Conversation.kind == kind)
        .values(step=step, data=dict(data), updated_at=now, reminded_at=None)
    )
    if moved.rowcount:  # type: ignore[attr-defined]
        return
    convo = await session.get(Conversation, user_id)
    if convo is None or convo.kind != kind:
        if convo is not None:
            await session.delete(convo)
            await session.flush()
        convo = Conversation(
            user_id=user_id, kind=kind, step=step, data=dict(data), started_at=now, updated_at=now
        )
        session.add(convo)
    else:
        convo.step = step
        convo.data = dict(data)
        convo.updated_at = now
        convo.reminded_at = None
    await session.flush()


async def delete_conversation(*, session: AsyncSession, user_id: int) -> bool:
    """End a user's conversation; False when there was none."""
    convo = await session.get(Conversation, user_id)
    if convo is None:
        return False
    await session.delete(convo)
    await session.flush()
    return True


async def stale_conversations(
    *, session: AsyncSession, remind_before: datetime, expire_before: datetime
) -> tuple[Sequence[Conversation], Sequence[Conversation]]:
    """Conversations due a reminder, and those to expire."""
    remind = await session.execute(
        select(Conversation).where(
            Conversation.updated_at <= remind_before,
            Conversation.reminded_at.is_(None),
        )
    )
    expire = await session.execute(
        select(Conversation).where(
            Conversation.reminded_at.is_not(None),
            Conversation.reminded_at <= expire_before,
        )
    )
    return remind.scalars().all(), expire.scalars().all()
