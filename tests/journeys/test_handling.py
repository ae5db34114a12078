"""Handling to closure: playbooks, updates, re-levelling, the situation report, the end, drills.

R6 R7 R1 R8 R10 R12.
"""

from __future__ import annotations

import io
import re

from docx import Document

from bot.handling.buttons import HandlingPress, StepTick
from bot.incidents.buttons import IncidentPress
from emulator.testing import BotMessage, GroupHandle, UserHandle
from storage import handling as handling_q
from storage import incidents as incident_q
from tests.harness import Stage, fast_policy
from tests.journeys.cast import Office, open_office, report

CHECKLIST = "📋 处置清单"
UPDATE = "💬 报告进展"
RELEVEL = "↕️ 调整级别"
RESOLVE = "🏁 处置完毕"
DECLARE_OVER = "📢 宣布应急期结束"


def labels(message: BotMessage) -> list[str]:
    """Every button label on a message."""
    return [b.text for row in message.buttons for b in row]


def has_button(label: str) -> object:
    """A wait condition: the message carries a button with this label."""

    def check(message: BotMessage) -> bool:
        return label in labels(message)

    check.__name__ = f"has button {label!r}"
    return check


async def acknowledged_card(
    office: Office, group: GroupHandle, number: str, by: UserHandle
) -> BotMessage:
    """The card of an incident in a group, acknowledged there by someone."""
    card = await group.wait_for(number)
    await card.press("✅ 确认", by=by)
    return await card.wait_until(has_button(CHECKLIST))  # type: ignore[arg-type]


def docx_text(data: bytes) -> str:
    """All the text of a Word document: paragraphs, then every table cell, row by row."""
    document = Document(io.BytesIO(data))
    lines = [p.text for p in document.paragraphs]
    lines += [p.text for p in document.sections[0].header.paragraphs]
    for table in document.tables:
        for row in table.rows:
            lines.append(" | ".join(cell.text for cell in row.cells))
    return "\n".join(lines)


async def close_incident(
    office: Office, handler: UserHandle, card: BotMessage, *, group_member: UserHandle | None = None
) -> None:
    """Walk the guided close quickly: every field answered, the process kept, ended now."""
    await card.press(RESOLVE, by=group_member or handler)
    await handler.wait_for("What were the consequences?")
    await handler.send("The portal showed a foreign banner for 20 minutes.")
    prompt = await handler.wait_for("How was it handled?")
    await prompt.press("✔️ Keep this text")
    await handler.wait_for("What was the result?")
    await handler.send("Page restored; the hole is closed.")
    prompt = await handler.wait_for("When did the incident end?")
    await prompt.press("Now")
    await handler.wait_for("How can a repeat be prevented?")
    await handler.send("Patch the CMS monthly.")
    review = await handler.wait_for("please check")
    await review.press("📨 Submit the report")
    await handler.wait_for("is resolved")


async def test_handler_ticks_three_intrusion_steps_in_order(stage: Stage) -> None:
    """R6: an internet intrusion is acknowledged; three ticked steps show, in order, with names
    and times, on every copy of the card and on the timeline."""
    office = await open_office(stage)
    number = await report(office.staff, level="medium")
    card = await acknowledged_card(office, office.tech_center, number, office.tech)

    answer = await card.press(CHECKLIST, by=office.tech)
    assert "private message" in (answer.text or "")
    checklist = await office.tech.wait_for("Checklist")
    assert "Intrusion from the internet" in checklist.text
    assert "general procedure" in checklist.text
    assert "0 of 11 done" in checklist.text
    steps = [
        "1. Locate the intruder's IP address",
        "2. Close the port used for the intrusion",
        "3. Restrict access from the intruder's IP address",
    ]
    for done, step in enumerate(steps, start=1):
        await office.bot.advance(minutes=7)
        answer = await checklist.press(f"⬜ {step}")
        assert answer.text == "Ticked."
        await checklist.wait_until(f"{done} of 11 done")
        assert f"✅ {step} — Tech Sun" in checklist.text
    assert all(not label.startswith("⬜ 1.") for label in labels(checklist))

    await card.wait_until("3/11")
    async with office.bot.ctx.db.transaction() as session:
        found = await incident_q.get_by_number(session=session, number=number)
        assert found is not None
        ticks = list(await handling_q.ticks(session=session, incident_id=found.id))
    times = [office.bot.ctx.renderer.format_datetime(t.ticked_at) for t in ticks]
    assert len(set(times)) == 3
    zh_steps = ["1. 定位入侵的IP地址", "2. 及时关闭入侵的端口", "3. 限制入侵地IP地址的访问"]
    lines = [f"✔️ {step} — Tech Sun · {time}" for step, time in zip(zh_steps, times, strict=True)]
    positions = [card.text.find(line) for line in lines]
    assert -1 not in positions, card.text
    assert positions == sorted(positions)
    assert "下一步: 4. 无法制止时断开网络连接" in card.text

    await office.tech.send(f"/incident {number}")
    detail = await office.tech.wait_for("Timeline")
    entries = [
        line for line in detail.text.splitlines() if "checklist step done — Tech Sun" in line
    ]
    assert len(entries) == 3
    for entry, time, step in zip(entries, times, steps, strict=True):
        assert entry.startswith(f"• {time}")
        assert entry.endswith(step.split(". ", 1)[1])


async def test_ticks_are_refused_for_non_handlers_forged_and_repeated_buttons(
    stage: Stage,
) -> None:
    """R6 R14: someone who does not handle incidents cannot tick; a forged step or a step
    ticked twice changes nothing; forged card and checklist buttons of each kind are refused
    politely."""
    office = await open_office(stage)
    number = await report(office.staff, level="medium")
    card = await acknowledged_card(office, office.tech_center, number, office.tech)
    await card.press(CHECKLIST, by=office.tech)
    checklist = await office.tech.wait_for("Checklist")
    tick = next(b for row in checklist.buttons for b in row if b.text.startswith("⬜ 1."))
    assert tick.callback_data is not None

    forged = tick.callback_data.rsplit(":", 1)[0] + ":ffffff"
    answer = await stage.tg.forge_press(office.tech, checklist, forged)
    assert answer.show_alert and "no longer" in (answer.text or "")
    not_a_handler = await card.press(CHECKLIST, by=office.admin)
    assert not_a_handler.show_alert and "work on incidents" in (not_a_handler.text or "")
    forged_by_admin = await stage.tg.forge_press(office.admin, card, tick.callback_data)
    assert forged_by_admin.show_alert and "work on incidents" in (forged_by_admin.text or "")

    for data, refusal in (
        (HandlingPress("res", 999_999).pack(), "No such incident"),
        (IncidentPress("ack", 999_999).pack(), "No such incident"),
        (StepTick(999_999, 0, "ffffff").pack(), "No such incident"),
        ("hd:res:x", "no longer active"),
        ("hd:tick:1", "no longer active"),
        ("hdt:1:1:abc:d", "no longer active"),
        ("inc:ok:1", "no longer active"),
    ):
        answer = await stage.tg.forge_press(office.tech, checklist, data)
        assert answer.show_alert and refusal in (answer.text or ""), data

    await checklist.press(tick.text)
    await checklist.wait_until("1 of 11 done")
    again = await stage.tg.forge_press(office.tech, checklist, tick.callback_data)
    assert again.show_alert and "already ticked" in (again.text or "")
    await stage.settle()
    await office.bot.drain()
    async with office.bot.ctx.db.transaction() as session:
        found = await incident_q.get_by_number(session=session, number=number)
        assert found is not None
        assert len(await handling_q.ticks(session=session, incident_id=found.id)) == 1


async def test_a_checklist_opened_twice_stays_one_live_checklist(stage: Stage) -> None:
    """R6: opening the checklist again retires the earlier copy (no buttons left on it), and a
    tick edits the live one in place."""
    office = await open_office(stage)
    number = await report(office.staff, level="medium")
    card = await acknowledged_card(office, office.tech_center, number, office.tech)
    await card.press(CHECKLIST, by=office.tech)
    first = await office.tech.wait_for("Checklist")
    await card.press(CHECKLIST, by=office.tech)
    second = await office.tech.wait_for("0 of 11 done")
    assert second.message_id != first.message_id
    await first.wait_until("opened again below")
    assert first.buttons == [] and number in first.text
    answer = await second.press("⬜ 1. Locate the intruder's IP address")
    assert answer.text == "Ticked."
    await second.wait_until("1 of 11 done")
    await stage.settle()
    live = [m.message_id for m in office.tech.messages() if "of 11 done" in m.text]
    assert live == [second.message_id]


async def test_updates_reach_every_routed_chat(stage: Stage) -> None:
    """R7: two updates, by command and by the card's button, reach both routed chats."""
    office = await open_office(stage)
    number = await report(office.staff, level="large")
    await acknowledged_card(office, office.leadership, number, office.leader)
    tech_card = await office.tech_center.wait_for(number)
    await tech_card.wait_until(has_button(UPDATE))  # type: ignore[arg-type]

    await office.leader.send(f"/update {number} Port 8080 closed at the firewall.")
    await office.leader.wait_for("was posted to 2 chat(s)")

    await tech_card.press(UPDATE, by=office.tech)
    await office.tech.wait_for("Send the progress update")
    await office.tech.send("Web server image restored <from backup>.")
    await office.tech.wait_for("was posted to 2 chat(s)")

    for group in (office.leadership, office.tech_center):
        first = await group.wait_for("Port 8080 closed at the firewall.")
        second = await group.wait_for("Web server image restored <from backup>.")
        assert f"{number} 处置进展" in first.text and "Leader Zhao" in first.text
        assert "Tech Sun" in second.text
    await tech_card.wait_until("Web server image restored <from backup>.")
    assert "Web server image restored &lt;from backup&gt;." in tech_card.html


async def test_silent_incident_reminds_its_handler_once_per_interval(stage: Stage) -> None:
    """R7: with no update for the level's interval, whoever took charge is reminded privately,
    once per interval; an update restarts the clock."""
    policy = fast_policy(updates={"remind_after_minutes": {"large": 5, "medium": 10, "small": 60}})
    office = await open_office(stage, policy)
    number = await report(office.staff, category="Network failure", subtype=None, level="medium")
    card = await office.tech_center.wait_for(number)
    await card.press("🙋 由我负责", by=office.tech)
    await card.wait_until("Tech Sun")

    def reminders() -> list[BotMessage]:
        return [m for m in office.tech.messages() if "has had no progress update" in m.text]

    await office.bot.advance(minutes=9)
    await stage.settle()
    await office.bot.drain()
    assert reminders() == []
    await office.bot.advance(minutes=1)
    first = await office.tech.wait_for("has had no progress update for 10 minutes")
    assert number in first.text and "💬 Post update" in labels(first)

    await office.bot.advance(minutes=9)
    await stage.settle()
    await office.bot.drain()
    assert len(reminders()) == 1
    await office.bot.advance(minutes=1)
    await office.tech.wait_for("has had no progress update for 20 minutes")
    assert len(reminders()) == 2

    await office.tech.send(f"/update {number} Core switch replaced.")
    await office.tech.wait_for("was posted")
    await office.bot.advance(minutes=9)
    await stage.settle()
    await office.bot.drain()
    assert len(reminders()) == 2
    await office.bot.advance(minutes=1)
    await office.tech.wait_for("has had no progress update for 10 minutes")
    assert len(reminders()) == 3
    assert not [m for m in office.tech_lead.messages() if "no progress update" in m.text]


async def test_raising_brings_leadership_in_with_the_story_and_lowering_is_announced(
    stage: Stage,
) -> None:
    """R1 R4: medium raised to large: the leadership chat gets the card with the earlier
    updates and everyone routed is told; lowered again, the change is announced."""
    office = await open_office(stage)
    number = await report(office.staff, level="medium")
    card = await acknowledged_card(office, office.tech_center, number, office.tech)
    for text in ("Intruder IP 203.0.113.7 blocked.", "Admin passwords rotated."):
        await office.tech.send(f"/update {number} {text}")
        await office.tech.wait_for("was posted to 1 chat(s)")
    await stage.settle()
    assert not [m for m in office.leadership.messages() if number in m.text]

    await card.press(RELEVEL, by=office.tech)
    prompt = await office.tech.wait_for("Choose the new level")
    assert labels(prompt)[:2] == ["large", "small"]
    await prompt.press("large")
    await office.tech.wait_for("Why?")
    await office.tech.send("Citizen data may have been copied.")
    done = await office.tech.wait_for("is now large")
    assert "leadership group chat" in done.text

    lead_card = await office.leadership.wait_for(number)
    assert "大型" in lead_card.text and "Tech Sun" in lead_card.text
    story = await office.leadership.wait_for("处置经过")
    assert "Intruder IP 203.0.113.7 blocked." in story.text
    assert "Admin passwords rotated." in story.text
    for group in (office.leadership, office.tech_center):
        told = await group.wait_for("级别调整")
        assert "由中型升为大型" in told.text and "Citizen data may have been copied." in told.text
    await card.wait_until("大型")

    await lead_card.press(RELEVEL, by=office.leader)
    prompt = await office.leader.wait_for("Choose the new level")
    await prompt.press("medium")
    await office.leader.wait_for("Why?")
    await office.leader.send("Forensics: nothing was copied.")
    await office.leader.wait_for("is now medium")
    for group in (office.leadership, office.tech_center):
        told = await group.wait_for("由大型降为中型")
        assert "Forensics: nothing was copied." in told.text


async def test_tech_center_cannot_lower_a_large_incident(stage: Stage) -> None:
    """R1 R14: only someone who handles the current level may change it."""
    office = await open_office(stage)
    number = await report(office.staff, level="large")
    await acknowledged_card(office, office.leadership, number, office.leader)
    card = await office.tech_center.wait_for(number)
    await card.wait_until(has_button(RELEVEL))  # type: ignore[arg-type]
    answer = await card.press(RELEVEL, by=office.tech)
    assert answer.show_alert and "may not handle a large incident" in (answer.text or "")
    await stage.settle()
    assert not [m for m in office.tech.messages() if "Choose the new level" in m.text]


async def test_resolve_writes_the_situation_report_and_its_word_document(stage: Stage) -> None:
    """R8: the guided close refuses an end before the report, the report names every field
    the plan asks for, and the .docx holds the number, the fields and the timeline rows."""
    office = await open_office(stage)
    number = await report(office.staff, level="medium")
    card = await acknowledged_card(office, office.tech_center, number, office.tech)
    await card.press(CHECKLIST, by=office.tech)
    checklist = await office.tech.wait_for("Checklist")
    await checklist.press("⬜ 1. Locate the intruder's IP address")
    await checklist.wait_until("1 of 11 done")
    await office.tech.send(f"/update {number} Firewall rule added for 203.0.113.7.")
    await office.tech.wait_for("was posted")
    await office.bot.advance(minutes=40)

    await card.press(RESOLVE, by=office.tech)
    await office.tech.wait_for("What were the consequences?")
    await office.tech.send("Portal defaced for 40 minutes; no data lost.")
    prompt = await office.tech.wait_for("How was it handled?")
    # Drafted in the office's language: it becomes part of the report the office files.
    assert "完成处置步骤 (Tech Sun): 定位入侵的IP地址" in prompt.text
    assert "进展报告 (Tech Sun): Firewall rule added for 203.0.113.7." in prompt.text
    await office.tech.send("Blocked the IP, closed port 8080, restored the page from backup.")
    await office.tech.wait_for("What was the result?")
    await office.tech.send("Danger removed; portal back to normal.")
    prompt = await office.tech.wait_for("When did the incident end?")
    await office.tech.send("2 hours ago")
    refusal = await office.tech.wait_for("cannot be before the incident was reported")
    assert "When did the incident end?" in refusal.text
    assert labels(refusal) == ["Now", "⬅️ Back", "✖️ Cancel"]
    await office.tech.send("20 min ago")
    await office.tech.wait_for("How can a repeat be prevented?")
    await office.tech.send("Patch the CMS monthly; add a WAF rule.")
    review = await office.tech.wait_for("please check")
    assert "Blocked the IP, closed port 8080" in review.text
    await review.press("📨 Submit the report")
    await office.tech.wait_for("is resolved")

    posted = await office.tech_center.wait_for(f"情况报告 {number}")
    for needle in (
        "发生时间",
        "地点: Portal web server",
        "级别: 中型",
        "造成的后果: Portal defaced for 40 minutes; no data lost.",
        "处置过程:\nBlocked the IP, closed port 8080, restored the page from backup.",
        "处置结果: Danger removed; portal back to normal.",
        "结束时间",
        "防范类似灾害的建议与方案: Patch the CMS monthly; add a WAF rule.",
    ):
        assert needle in posted.text, needle
    document = await office.tech_center.wait_for(lambda m: m.document is not None)
    assert document.document is not None and document.document.filename == (
        f"situation-report-{number}.docx"
    )
    assert number in document.text
    text = docx_text(document.document.data)
    for needle in (
        number,
        "信息化办公室",
        "网络安全突发事件情况报告",
        "Portal web server",
        "Portal defaced for 40 minutes; no data lost.",
        "Blocked the IP, closed port 8080, restored the page from backup.",
        "Danger removed; portal back to normal.",
        "Patch the CMS monthly; add a WAF rule.",
        "时间 | 事项 | 人员 | 说明",
        "完成处置步骤 | Tech Sun | 定位入侵的IP地址",
        "进展报告 | Tech Sun | Firewall rule added for 203.0.113.7.",
        "处置完毕，已编写情况报告 | Tech Sun",
    ):
        assert needle in text, needle
    await card.wait_until("已于")
    assert labels(card) == [DECLARE_OVER, "📄 详情"]
    own = await office.tech.wait_for(lambda m: m.document is not None)
    assert own.document is not None and "Situation report" in own.text

    await office.staff.send(f"/report_doc {number}")
    again = await office.staff.wait_for(lambda m: m.document is not None)
    assert again.document is not None
    assert "Portal defaced for 40 minutes" in docx_text(again.document.data)


async def test_only_a_leader_declares_the_emergency_over(stage: Stage) -> None:
    """R10: a duty officer is refused; a leader declares it over, all staff hear, it closes."""
    office = await open_office(stage)
    number = await report(office.staff, level="large")
    lead_card = await acknowledged_card(office, office.leadership, number, office.leader)
    tech_card = await office.tech_center.wait_for(number)
    await close_incident(office, office.leader, lead_card)
    await tech_card.wait_until(has_button(DECLARE_OVER))  # type: ignore[arg-type]
    edits = tech_card.edit_count

    refused = await tech_card.press(DECLARE_OVER, by=office.duty)
    assert refused.show_alert and "Only the leadership group" in (refused.text or "")
    await stage.settle()
    await office.bot.drain()
    assert tech_card.edit_count == edits
    assert not [m for m in office.all_staff.messages() if number in m.text]

    declare = lead_card.button(DECLARE_OVER).callback_data
    await lead_card.press(DECLARE_OVER, by=office.leader)
    await office.leader.wait_for("Declare the emergency over?")
    await office.leader.send("Expert group: the intrusion is fully contained.")
    await office.leader.wait_for("announced in 3 chat(s)")
    for group in (office.all_staff, office.leadership, office.tech_center):
        told = await group.wait_for(f"{number} 应急期结束")
        assert "Leader Zhao" in told.text
        assert "Expert group: the intrusion is fully contained." in told.text
    await tech_card.wait_until("已结束，应急期结束")
    assert labels(tech_card) == ["📄 详情"]
    late = await stage.tg.forge_press(office.leader, lead_card, declare)
    assert late.show_alert and "no longer open" in (late.text or "")
    async with office.bot.ctx.db.transaction() as session:
        found = await incident_q.get_by_number(session=session, number=number)
        assert found is not None and found.status == "closed" and found.closed_at is not None


async def test_a_drill_runs_end_to_end_marked_everywhere_and_stays_out_of_statistics(
    stage: Stage,
) -> None:
    """R12: /drill runs report → acknowledge → checklist → update → close → end; every
    message it causes carries the drill mark; it is left out of statistics and /incidents."""
    office = await open_office(stage)
    watched: list[UserHandle | GroupHandle] = [
        office.tech,
        office.leader,
        office.leadership,
        office.tech_center,
        office.all_staff,
    ]
    for chat in watched:
        chat.skip()
    start = {id(chat): chat.cursor for chat in watched}

    number = await report(office.tech, level="large", command="/drill")
    assert number.startswith("D")
    lead_card = await acknowledged_card(office, office.leadership, number, office.leader)
    tech_card = await office.tech_center.wait_for(number)
    await tech_card.wait_until(has_button(CHECKLIST))  # type: ignore[arg-type]
    await tech_card.press(CHECKLIST, by=office.tech)
    checklist = await office.tech.wait_for("Checklist")
    await checklist.press("⬜ 1. Locate the intruder's IP address")
    await checklist.wait_until("1 of 11 done")
    await office.tech.send(f"/update {number} Drill: firewall rule added.")
    await office.tech.wait_for("was posted")

    await office.deputy.send("/incidents")
    listed = await office.deputy.wait_for("Open incidents")
    assert number not in listed.text
    await office.deputy.send("/incidents drill")
    drills = await office.deputy.wait_for("Open drills")
    assert number in drills.text

    await close_incident(office, office.leader, lead_card)
    report_doc = await office.tech_center.wait_for(lambda m: m.document is not None)
    assert report_doc.document is not None
    assert report_doc.document.filename == f"drill-report-{number}.docx"
    assert "【演练】" in docx_text(report_doc.document.data)
    await lead_card.wait_until(has_button(DECLARE_OVER))  # type: ignore[arg-type]
    await lead_card.press(DECLARE_OVER, by=office.leader)
    prompt = await office.leader.wait_for("Declare the emergency over?")
    await prompt.press("📢 Declare over now")
    await office.all_staff.wait_for(f"{number} 应急期结束")
    await office.leader.wait_for("is declared over")
    await stage.settle()
    await office.bot.drain()

    for chat in watched:
        caused = [m for m in chat.messages() if m.message_id > start[id(chat)]]
        assert caused, chat
        mark = "【Drill】" if isinstance(chat, UserHandle) else "【演练】"
        unmarked = [m for m in caused if mark not in m.text]
        assert not unmarked, f"{chat}: {unmarked}"

    async with office.bot.ctx.db.transaction() as session:
        assert await incident_q.counts_by_level_and_category(session=session) == {}
        with_drills = await incident_q.counts_by_level_and_category(session=session, drills=True)
    assert with_drills == {("large", "intrusion"): 1}


async def test_drills_are_for_organisers_only(stage: Stage) -> None:
    """R12 R14: staff cannot start a drill."""
    office = await open_office(stage)
    await office.staff.send("/drill")
    refusal = await office.staff.wait_for("start drills")
    assert re.search("tech center", refusal.text)


# ---- a wrong answer in each handling flow: the reason, the question and its buttons again ------


async def test_an_overlong_update_is_refused_with_its_buttons_and_cancel_works(
    stage: Stage,
) -> None:
    """R7: an update over 2000 characters is refused with the reason, the question and the
    step's buttons; Cancel pressed on that refusal ends the flow and nothing is posted."""
    office = await open_office(stage)
    number = await report(office.staff, level="medium")
    card = await acknowledged_card(office, office.tech_center, number, office.tech)
    await card.press(UPDATE, by=office.tech)
    prompt = await office.tech.wait_for("Send the progress update")
    await office.tech.send("x" * 2001)
    refusal = await office.tech.wait_for("1 to 2000 characters. Yours has 2001")
    assert "Send the progress update" in refusal.text
    assert labels(refusal) == ["✖️ Cancel"]
    await prompt.wait_until(lambda m: m.buttons == [])  # one live prompt: the refusal
    await refusal.press("✖️ Cancel")
    await refusal.wait_until("progress update was cancelled")
    await office.tech.send("Anything")
    await office.tech.wait_for("did not understand")
    assert not [m for m in office.tech_center.messages() if "处置进展" in m.text]


async def test_a_level_change_refuses_typing_and_a_long_reason_with_its_buttons(
    stage: Stage,
) -> None:
    """R1: typing at the level step is answered with the level buttons, which work on that
    refusal; a reason over 500 characters is refused with Back, which works there too; when
    someone else changed the level meanwhile, the reason is refused with the step's buttons."""
    office = await open_office(stage)
    number = await report(office.staff, level="medium")
    card = await acknowledged_card(office, office.tech_center, number, office.tech)
    await card.press(RELEVEL, by=office.tech)
    await office.tech.wait_for("Choose the new level")
    await office.tech.send("large")
    refusal = await office.tech.wait_for("choose with the buttons")
    assert "Choose the new level" in refusal.text
    assert labels(refusal) == ["large", "small", "✖️ Cancel"]
    await refusal.press("large")
    await office.tech.wait_for("Why?")
    await office.tech.send("y" * 501)
    too_long = await office.tech.wait_for("1 to 500 characters")
    assert "Why?" in too_long.text
    assert labels(too_long) == ["⬅️ Back", "✖️ Cancel"]
    await too_long.press("⬅️ Back")
    again = await office.tech.wait_for("Choose the new level")
    await again.press("small")
    await office.tech.wait_for("Why?")

    await card.press(RELEVEL, by=office.tech_lead)
    other = await office.tech_lead.wait_for("Choose the new level")
    await other.press("small")
    await office.tech_lead.wait_for("Why?")
    await office.tech_lead.send("Only one PC is affected.")
    await office.tech_lead.wait_for("is now small")
    await card.wait_until("小型")

    await office.tech.send("Only one PC, I think.")
    late = await office.tech.wait_for("already the incident's level")
    assert "Why?" in late.text
    assert labels(late) == ["⬅️ Back", "✖️ Cancel"]
    await late.press("✖️ Cancel")
    await late.wait_until("level change was cancelled")
    async with office.bot.ctx.db.transaction() as session:
        found = await incident_q.get_by_number(session=session, number=number)
        assert found is not None
        changes = [
            e.text
            for e in await incident_q.timeline(session=session, incident_id=found.id)
            if e.kind == "relevelled"
        ]
    assert changes == ["Only one PC is affected."]


async def test_a_future_end_time_is_refused_with_now_which_works_there(stage: Stage) -> None:
    """R8: an end time in the future is refused with the reason, the question and Now; Now
    pressed on that refusal moves the close on, and the report is submitted."""
    office = await open_office(stage)
    number = await report(office.staff, level="medium")
    card = await acknowledged_card(office, office.tech_center, number, office.tech)
    await card.press(RESOLVE, by=office.tech)
    await office.tech.wait_for("What were the consequences?")
    await office.tech.send("Portal defaced.")
    prompt = await office.tech.wait_for("How was it handled?")
    await prompt.press("✔️ Keep this text")
    await office.tech.wait_for("What was the result?")
    await office.tech.send("Page restored.")
    await office.tech.wait_for("When did the incident end?")
    await office.tech.send("2099-01-01 09:00")
    refusal = await office.tech.wait_for("in the future")
    assert "When did the incident end?" in refusal.text
    assert labels(refusal) == ["Now", "⬅️ Back", "✖️ Cancel"]
    await refusal.press("Now")
    await office.tech.wait_for("How can a repeat be prevented?")
    await refusal.wait_until("✔️ End time:")
    await office.tech.send("Patch monthly.")
    review = await office.tech.wait_for("please check")
    await review.press("📨 Submit the report")
    await office.tech.wait_for("is resolved")
    await card.wait_until(has_button(DECLARE_OVER))  # type: ignore[arg-type]


async def test_an_overlong_note_is_refused_and_declare_now_works_on_the_refusal(
    stage: Stage,
) -> None:
    """R10: a note over 1000 characters is refused with the reason, the question and Declare
    now; that button pressed on the refusal ends the emergency."""
    office = await open_office(stage)
    number = await report(office.staff, level="large")
    lead_card = await acknowledged_card(office, office.leadership, number, office.leader)
    await close_incident(office, office.leader, lead_card)
    await lead_card.wait_until(has_button(DECLARE_OVER))  # type: ignore[arg-type]
    await lead_card.press(DECLARE_OVER, by=office.leader)
    await office.leader.wait_for("Declare the emergency over?")
    await office.leader.send("z" * 1001)
    refusal = await office.leader.wait_for("1 to 1000 characters")
    assert "Declare the emergency over?" in refusal.text
    assert labels(refusal) == ["📢 Declare over now", "✖️ Cancel"]
    await refusal.press("📢 Declare over now")
    await office.leader.wait_for("is declared over")
    await office.all_staff.wait_for(f"{number} 应急期结束")
    await lead_card.wait_until("已结束，应急期结束")
