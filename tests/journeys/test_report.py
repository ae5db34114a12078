"""Reporting: the guided report, routing by level, acknowledgement, escalation (R1 R3 R4 R5)."""

from __future__ import annotations

import re

from tests.harness import Stage, fast_policy
from tests.journeys.cast import open_office, report

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00"
    b"\x00\x00\x00IEND\xaeB`\x82"
)


async def test_large_intrusion_reaches_leadership_and_a_leader_acknowledges(
    stage: Stage,
) -> None:
    """R3 R4 R5: a staff member reports; both chats get the card; a leader acknowledges."""
    office = await open_office(stage)
    number = await report(office.staff, level="large", photo=PNG)
    assert re.fullmatch(r"\d{4}-0001", number)
    told = office.staff.messages()[-1].text
    assert "leadership group chat" in told and "tech center chat" in told

    lead_card = await office.leadership.wait_for(number)
    tech_card = await office.tech_center.wait_for(number)
    for card in (lead_card, tech_card):
        assert "大型" in card.text and "入侵（来自互联网）" in card.text
        assert "203.0.113.7" in card.text and "Portal web server" in card.text
        assert "Staff Zheng" in card.text
    assert await office.leadership.wait_for(lambda m: m.photo is not None)
    assert await office.tech_center.wait_for(lambda m: m.photo is not None)

    answer = await lead_card.press("✅ 确认", by=office.leader)
    assert not answer.show_alert
    for card in (lead_card, tech_card):
        await card.wait_until("已由 Leader Zhao 于")
        assert all(b.text != "✅ 确认" for row in card.buttons for b in row)
    notice = await office.staff.wait_for("was acknowledged by Leader Zhao")
    assert number in notice.text


async def test_duty_officer_cannot_acknowledge_a_large_incident(stage: Stage) -> None:
    """R5: the wrong role is refused politely and nothing changes."""
    office = await open_office(stage)
    number = await report(office.staff, level="large")
    card = await office.tech_center.wait_for(number)
    answer = await card.press("✅ 确认", by=office.duty)
    assert answer.show_alert and "may not handle a large incident" in (answer.text or "")
    await stage.settle()
    assert card.edit_count == 0
    lead_card = await office.leadership.wait_for(number)
    assert lead_card.edit_count == 0


async def test_medium_incident_escalates_along_the_chain_until_acknowledged(
    stage: Stage,
) -> None:
    """R5: unacknowledged, a medium incident climbs duty → tech lead → deputy at each timeout."""
    policy = fast_policy(
        escalation={"timeout_minutes": {"large": 5, "medium": 15, "small": 30}, "max_rounds": 3}
    )
    office = await open_office(stage, policy)
    await _contacts(stage, office)
    number = await report(
        office.staff, category="Network failure", subtype=None, level="medium", source=None
    )
    card = await office.tech_center.wait_for(number)
    assert office.leadership.messages()[-1].text.find(number) == -1

    await office.bot.advance(minutes=14)
    await stage.settle()
    assert not [m for m in office.duty.messages() if "Escalation" in m.text]

    await office.bot.advance(minutes=1)
    await office.duty.wait_for("Escalation")
    await office.tech_center.wait_for("已 15 分钟无人确认")

    await office.bot.advance(minutes=15)
    await office.tech_lead.wait_for("Escalation")
    await office.bot.advance(minutes=15)
    await office.deputy.wait_for("Escalation")

    await card.press("✅ 确认", by=office.tech)
    await card.wait_until("Tech Sun")
    await office.bot.advance(minutes=60)
    await stage.settle()
    assert not [m for m in office.leader.messages() if "Escalation" in m.text]


async def test_escalation_stops_after_the_repeat_cap(stage: Stage) -> None:
    """R5: with one round of a two-step chain, exactly two escalations happen."""
    policy = fast_policy(
        escalation={
            "chain": ["duty_officer", "tech_lead"],
            "max_rounds": 1,
            "timeout_minutes": {"large": 5, "medium": 15, "small": 30},
        }
    )
    office = await open_office(stage, policy)
    await _contacts(stage, office)
    number = await report(
        office.staff, category="Virus spread", subtype=None, level="medium", source=None
    )
    await office.tech_center.wait_for(number)
    for _ in range(6):
        await office.bot.advance(minutes=15)
    await office.tech_lead.wait_for("Escalation")
    await stage.settle()
    reminders = [m for m in office.tech_center.messages() if "无人确认" in m.text]
    assert len(reminders) == 2
    assert len([m for m in office.duty.messages() if "Escalation" in m.text]) == 1


async def test_special_period_sends_small_incidents_to_leadership(stage: Stage) -> None:
    """R4: during a special period a small incident also reaches the leadership chat."""
    office = await open_office(stage)
    await office.leader.send("/special_period on")
    await office.leadership.wait_for("特殊时期")
    await office.tech_center.wait_for("特殊时期")
    number = await report(office.staff, category="Other", subtype=None, level="small", source=None)
    await office.leadership.wait_for(number)
    await office.tech_center.wait_for(number)
    await office.duty.wait_for(number)


async def test_small_incident_without_special_period_skips_leadership(stage: Stage) -> None:
    """R4: by default a small incident goes to the duty officer and the tech center only."""
    office = await open_office(stage)
    number = await report(office.staff, category="Other", subtype=None, level="small", source=None)
    await office.duty.wait_for(number)
    await office.tech_center.wait_for(number)
    await stage.settle()
    assert not [m for m in office.leadership.messages() if number in m.text]


async def test_staff_cannot_declare_a_special_period(stage: Stage) -> None:
    """R4 R14: only leaders may declare the special period."""
    office = await open_office(stage)
    await office.staff.send("/special_period on")
    await office.staff.wait_for("Only the leadership group")
    await stage.settle()
    assert not [m for m in office.leadership.messages() if "特殊时期" in m.text]


async def _contacts(stage: Stage, office: object) -> None:
    """Put the tech lead, deputy and leader on the contacts card with their Telegram ids."""
    from bot.access import contacts
    from bot.platform.roles import Position

    bot = office.bot  # type: ignore[attr-defined]
    async with bot.ctx.db.transaction() as session:
        for handle, position in (
            (office.tech_lead, Position.TECH_LEAD),  # type: ignore[attr-defined]
            (office.deputy, Position.DEPUTY),  # type: ignore[attr-defined]
            (office.leader, Position.LEADER),
        ):  # type: ignore[attr-defined]
            await contacts.add(
                session=session,
                ctx=bot.ctx,
                admin_id=office.admin.id,  # type: ignore[attr-defined]
                position=position,
                name=handle.name,
                telegram_id=handle.id,
            )


async def test_take_charge_incidents_list_and_details_with_timeline(stage: Stage) -> None:
    """R5 R13: taking charge shows on the card; /incidents lists it; /incident has the timeline."""
    office = await open_office(stage)
    number = await report(
        office.staff, category="Information tampering", subtype=None, level="medium", source=None
    )
    card = await office.tech_center.wait_for(number)
    answer = await card.press("🙋 由我负责", by=office.tech)
    assert "in charge" in (answer.text or "")
    await card.wait_until("负责人：Tech Sun")
    await office.staff.wait_for("was acknowledged by Tech Sun")

    await office.tech.send("/incidents")
    listing = await office.tech.wait_for("Open incidents")
    assert number in listing.text and "being handled" in listing.text
    await office.tech.send(f"/incident {number}")
    detail = await office.tech.wait_for("Timeline")
    lines = detail.text.split("Timeline")[1]
    assert lines.index("reported") < lines.index("acknowledged") < lines.index("taken in charge")
    assert "Tech Sun" in lines

    await office.staff.send("/incidents")
    await office.staff.wait_for("records are for duty officers")
    info = await card.press("📄 详情", by=office.tech_lead)
    assert "private chat" in (info.text or "")
    await office.tech_lead.wait_for("Timeline")


async def test_a_missing_chat_is_reported_to_admins_not_dropped(stage: Stage) -> None:
    """R4: with no tech-center chat bound, admins are told and the reporter knows."""
    office = await open_office(stage)
    await office.tech_center.send(office.admin, "/unbind")
    await office.tech_center.wait_for("不再是")
    number = await report(
        office.staff, category="Network failure", subtype=None, level="medium", source=None
    )
    told = office.staff.messages()[-1].text
    assert "Could not be notified" in told and "tech center chat" in told
    alert = await office.admin.wait_for("No tech center chat is bound")
    assert number in alert.text and "/bind tech_center" in alert.text
