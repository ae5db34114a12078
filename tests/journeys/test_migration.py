"""A group that became a supergroup while the bot was down: cards are edited where they are now.

R4 R5: after a restart the bot knows no message ids in memory; every row naming the old group
(sent card copies, routes, the binding) moves to the new id in one transaction, and a
"group chat was upgraded" answer is followed once, never in a loop.
"""

from __future__ import annotations

import pytest

from storage import access as access_q
from storage import incidents as incident_q
from tests.harness import Stage, fast_policy
from tests.journeys.cast import open_office, report


@pytest.mark.parametrize("bot_sees_the_migration", [True, False])
async def test_r5_a_card_sent_before_the_migration_is_edited_in_the_supergroup_after_a_restart(
    stage: Stage, bot_sees_the_migration: bool
) -> None:
    """R5: acknowledged after a restart, the card copy sent to the old group id is edited in
    the supergroup; the old id is tried at most once; the binding and route follow (whether
    the bot saw the migration's service message or only learns from an edit's answer)."""
    policy = fast_policy()
    office = await open_office(stage, policy)
    number = await report(office.staff, level="large")
    card = await office.tech_center.wait_for(number)
    lead_card = await office.leadership.wait_for(number)
    old_id = office.tech_center.id
    await office.bot.drain()
    await stage.stop_bot(office.bot)

    new_id = await office.tech_center.migrate_to_supergroup(by=office.admin)
    if not bot_sees_the_migration:
        # Only an edit's "group chat was upgraded" answer will tell the bot.
        stage.tg.bot.updates.clear()
    bot = await stage.start_bot(admins=[office.admin], policy=policy)

    # Acknowledged in the leadership group: the tech center's copy is edited in the supergroup.
    answer = await lead_card.press("✅ 确认", by=office.leader)
    assert not answer.show_alert
    await card.wait_until("Leader Zhao")
    await bot.drain()
    await stage.settle()

    assert card.chat_id == new_id
    upgraded = [
        r
        for r in stage.emulator.log.records
        if r.method == "editMessageText" and "upgraded" in (r.error or "")
    ]
    assert len(upgraded) <= (0 if bot_sees_the_migration else 1)
    async with bot.ctx.db.transaction() as session:
        bound = await access_q.chat_for_purpose(session=session, purpose="tech_center")
        incident = await incident_q.get_by_number(session=session, number=number)
        assert incident is not None
        routed = {
            r.chat_id for r in await incident_q.routes(session=session, incident_id=incident.id)
        }
        moves = await access_q.audit_entries(session=session, action="chat.migrated")
    assert bound is not None and bound.id == new_id
    assert new_id in routed and old_id not in routed
    assert len(list(moves)) == 1
