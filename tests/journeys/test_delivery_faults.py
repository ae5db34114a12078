"""Telegram misbehaving during routing: every card still arrives once, in the right chat (R4)."""

from __future__ import annotations

from storage import access as access_q
from tests.harness import Stage
from tests.journeys.cast import open_office, report


async def test_cards_arrive_once_through_429_500_timeout_403_and_a_migration(
    stage: Stage,
) -> None:
    """R4: 429 with retry_after, 500s, a timeout, a blocked officer and a group migration."""
    office = await open_office(stage)
    emulator = stage.emulator
    await office.leader.send("/special_period on")
    await office.leadership.wait_for("特殊时期")
    old_tech_id = office.tech_center.id
    new_tech_id = await office.tech_center.migrate_to_supergroup(by=office.admin)
    assert new_tech_id != old_tech_id

    emulator.faults.add(
        "sendMessage", chat_id=office.leadership.id, http_status=429, retry_after=2, times=1
    )
    emulator.faults.add("sendMessage", chat_id=office.leadership.id, delay=4.0, drop=True, times=1)
    emulator.faults.add("sendMessage", chat_id=new_tech_id, http_status=500, times=2)
    # A blocked user answers 403 every time; the bot must stop after the first.
    emulator.faults.add(
        "sendMessage",
        chat_id=office.duty.id,
        http_status=403,
        description="Forbidden: bot was blocked by the user",
        times=5,
    )

    number = await report(office.staff, category="Other", subtype=None, level="small", source=None)
    await office.leadership.wait_for(number, timeout=20)
    await office.tech_center.wait_for(number, timeout=20)
    await office.bot.drain()
    await stage.settle()

    assert len([m for m in office.leadership.messages() if number in m.text]) == 1
    tech_cards = [m for m in office.tech_center.messages() if number in m.text]
    assert len(tech_cards) == 1 and tech_cards[0].chat_id == new_tech_id
    assert not [m for m in office.duty.messages() if number in m.text]
    fired = sorted(r.fault.split("(")[1] for r in emulator.log.records if r.fault)
    assert fired == ["403)", "429)", "500)", "500)", "delay=4.0,drop)"], fired

    async with office.bot.ctx.db.transaction() as session:
        duty = await access_q.get_user(session=session, user_id=office.duty.id)
        tech_chat = await access_q.chat_for_purpose(session=session, purpose="tech_center")
    assert duty is not None and duty.blocked_bot
    assert tech_chat is not None and tech_chat.id == new_tech_id
