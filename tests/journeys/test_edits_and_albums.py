"""What people do on their phones: edit a sent message, send an album (R3 R7).

An edit is not a new command or a new answer: editing `/update …` posts nothing twice, and
editing an answered step is met with "edits are not read" and the current question again.
An album of photos at the report's photo step is acknowledged once, with the count.
"""

from __future__ import annotations

from tests.harness import Stage
from tests.journeys.cast import open_office, report
from tests.journeys.test_report import PNG


async def test_r7_editing_an_update_command_posts_nothing_again(stage: Stage) -> None:
    """R7: `/update` edited after it was posted: no second progress update anywhere."""
    office = await open_office(stage)
    number = await report(
        office.staff, category="Network failure", subtype=None, level="medium", source=None
    )
    card = await office.tech_center.wait_for(number)
    await card.press("✅ 确认", by=office.tech)
    await card.wait_until("Tech Sun")
    sent = await office.tech.send(f"/update {number} Core switch rebooted")
    await office.tech.wait_for("was posted")
    await office.tech_center.wait_for("Core switch rebooted")
    await office.tech.edit(sent, f"/update {number} Core switch rebooted twice")
    await stage.settle()
    await office.bot.drain()
    updates = [m for m in office.tech_center.messages() if not m.text.startswith("🚨")]
    posted = [m for m in updates if "Core switch rebooted" in m.text]
    assert len(posted) == 1 and "twice" not in posted[0].text
    assert not [m for m in office.tech.messages() if "twice" in m.text]


async def test_r3_editing_an_answered_step_is_not_taken_as_the_next_answer(stage: Stage) -> None:
    """R3: the place typed at step 4, edited at step 5: told edits are not read, asked again."""
    office = await open_office(stage)
    staff = office.staff
    await staff.send("/report")
    await (await staff.wait_for("What kind of incident")).press("Network failure")
    prompt = await staff.wait_for("Choose the level")
    await prompt.press(next(b.text for row in prompt.buttons for b in row if "medium" in b.text))
    await (await staff.wait_for("When did it happen")).press("Just now")
    await staff.wait_for("Where did it happen")
    where = await staff.send("Core switch room")
    await staff.wait_for("What do you see")
    await staff.edit(where, "Server room B")
    await staff.wait_for("do not read edited messages")
    await staff.wait_for("What do you see")
    await staff.send("All floors lost the network")
    await (await staff.wait_for("Do you know where it comes from")).press("Skip")
    await (await staff.wait_for("Add photos or files")).press("Done")
    review = await staff.wait_for("Please check your report")
    assert "Core switch room" in review.text and "Server room B" not in review.text
    assert "All floors lost the network" in review.text


async def test_r3_an_album_at_the_photo_step_is_acknowledged_once(stage: Stage) -> None:
    """R3: three photos sent as one album: one "Received (3 …)" reply, three attachments."""
    office = await open_office(stage)
    staff = office.staff
    await staff.send("/report")
    await (await staff.wait_for("What kind of incident")).press("Other")
    prompt = await staff.wait_for("Choose the level")
    await prompt.press(next(b.text for row in prompt.buttons for b in row if "small" in b.text))
    await (await staff.wait_for("When did it happen")).press("Just now")
    await staff.wait_for("Where did it happen")
    await staff.send("Printer room")
    await staff.wait_for("What do you see")
    await staff.send("Smoke from the printer")
    await (await staff.wait_for("Do you know where it comes from")).press("Skip")
    await staff.wait_for("Add photos or files")
    await staff.send_album([PNG, PNG, PNG])
    received = await staff.wait_for("Received (3 of at most 10)")
    await stage.settle()
    assert len([m for m in staff.messages() if m.text.startswith("Received")]) == 1
    await received.press("Done")
    review = await staff.wait_for("Please check your report")
    assert "Photos and files: 3" in review.text
