"""Storage on SQLite and PostgreSQL: migrations match the models; the queues behave."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection

from storage import access as access_q
from storage import platform as q
from storage.db import Database
from storage.models import Base

NOW = datetime(2026, 11, 26, 1, 30, tzinfo=UTC)


async def test_migrations_create_exactly_the_models(db: Database) -> None:
    """The schema Alembic builds is the schema the models describe (no missing migration)."""

    def diff(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    async with db.engine.connect() as conn:
        differences = await conn.run_sync(diff)
    assert differences == []


async def test_times_come_back_aware_and_in_utc(db: Database) -> None:
    async with db.transaction() as session:
        await access_q.add_user(
            session=session,
            user_id=1,
            name="王",
            username=None,
            language="zh_CN",
            status="active",
            now=NOW,
        )
    async with db.transaction() as session:
        user = await access_q.get_user(session=session, user_id=1)
        assert user is not None
        assert user.created_at == NOW
        assert user.created_at.tzinfo is not None


async def test_roles_are_replaced_and_queried(db: Database) -> None:
    async with db.transaction() as session:
        user = await access_q.add_user(
            session=session,
            user_id=7,
            name="Li",
            username="li",
            language="en",
            status="active",
            now=NOW,
        )
        await access_q.set_roles(session=session, user=user, roles=["leader", "admin"])
    async with db.transaction() as session:
        leaders = await access_q.users_with_role(session=session, role="leader")
        assert [u.id for u in leaders] == [7]
        user = await access_q.get_user_by_username(session=session, username="@LI")
        assert user is not None and user.role_names == {"leader", "admin"}
        await access_q.set_roles(session=session, user=user, roles=["staff"])
    async with db.transaction() as session:
        assert await access_q.users_with_role(session=session, role="leader") == []


async def test_invite_can_be_claimed_once(db: Database) -> None:
    """R14: an invite is single use even when two people race for it."""
    async with db.transaction() as session:
        await access_q.add_invite(
            session=session,
            token="t",
            role="duty",
            created_by=1,
            now=NOW,
            expires_at=NOW + timedelta(days=7),
        )
    async with db.transaction() as session:
        assert await access_q.claim_invite(session=session, token="t", user_id=2, now=NOW)
    async with db.transaction() as session:
        assert not await access_q.claim_invite(session=session, token="t", user_id=3, now=NOW)


async def test_outbox_claims_due_rows_by_priority_once(db: Database) -> None:
    """R4/R9 outbox: due rows are taken most-urgent first and never handed out twice."""
    async with db.transaction() as session:
        for chat_id, priority, delay in [(1, 0, 0), (2, 20, 0), (3, 10, 0), (4, 20, 60)]:
            await q.add_outbox(
                session=session,
                created_at=NOW,
                chat_id=chat_id,
                method="send_message",
                payload={"text": "x"},
                not_before=NOW + timedelta(seconds=delay),
                priority=priority,
            )
    async with db.transaction() as session:
        first = await q.claim_due_outbox(session=session, now=NOW, limit=2)
    async with db.transaction() as session:
        second = await q.claim_due_outbox(session=session, now=NOW, limit=10)
    assert [r.chat_id for r in first] == [2, 3]
    assert [r.chat_id for r in second] == [1]
    async with db.transaction() as session:
        released = await q.release_in_flight(session=session)
        again = await q.claim_due_outbox(session=session, now=NOW, limit=10)
    assert released == 3
    assert sorted(r.chat_id for r in again) == [1, 2, 3]
    assert all(r.possible_duplicate for r in again)


async def test_timers_fire_once_in_due_order_and_can_be_cancelled(db: Database) -> None:
    async with db.transaction() as session:
        await q.add_timer(session=session, kind="a", ref_id=1, due_at=NOW, now=NOW)
        await q.add_timer(
            session=session, kind="a", ref_id=2, due_at=NOW - timedelta(minutes=1), now=NOW
        )
        await q.add_timer(session=session, kind="b", ref_id=3, due_at=NOW, now=NOW)
        await q.add_timer(
            session=session, kind="a", ref_id=4, due_at=NOW + timedelta(hours=1), now=NOW
        )
        assert await q.cancel_timers(session=session, kind="b", ref_id=3) == 1
    fired = []
    while True:
        async with db.transaction() as session:
            timer = await q.claim_due_timer(session=session, now=NOW)
        if timer is None:
            break
        fired.append(timer.ref_id)
    assert fired == [2, 1]


async def test_conversation_keeps_step_and_data(db: Database) -> None:
    """R3: a draft is a row; its step and answers are there after any restart."""
    async with db.transaction() as session:
        await q.save_conversation(
            session=session,
            user_id=5,
            kind="report",
            step="where",
            data={"category": "intrusion"},
            now=NOW,
        )
    fresh = Database(db.url)
    try:
        async with fresh.transaction() as session:
            convo = await q.get_conversation(session=session, user_id=5)
            assert convo is not None
            assert (convo.kind, convo.step, convo.data) == (
                "report",
                "where",
                {"category": "intrusion"},
            )
    finally:
        await fresh.dispose()
