"""Every Bot API call takes the one way out: replies survive 429s and safe failures (R3 R14).

Replies to the person who pressed or typed go through the same pacer as the outbox; a 429 is
waited out and the call made again, a failure where nothing was sent is retried, and a button
press is answered exactly once whatever happens on the way.
"""

from __future__ import annotations

from tests.harness import Stage
from tests.journeys.cast import open_office


async def test_r14_a_reply_hit_by_429_arrives_late_not_never(stage: Stage) -> None:
    """R14: /help's answer meets a 429; the bot waits retry_after and the answer arrives once."""
    office = await open_office(stage)
    emulator = stage.emulator
    emulator.faults.add("sendMessage", chat_id=office.staff.id, http_status=429, retry_after=1)
    await office.staff.send("/help")
    answer = await office.staff.wait_for("/report", timeout=10)
    await stage.settle()
    assert len([m for m in office.staff.messages() if m.message_id >= answer.message_id]) == 1
    refused = [r for r in emulator.log.records if r.status == 429 and r.chat_id == office.staff.id]
    assert len(refused) == 1
    sent = [
        r
        for r in emulator.log.records
        if r.method == "sendMessage" and r.chat_id == office.staff.id and r.status == 200
    ]
    assert sent[-1].received_monotonic - refused[0].received_monotonic >= 1.0


async def test_r3_a_button_press_is_answered_once_through_429_and_a_server_error(
    stage: Stage,
) -> None:
    """R3: the press's answer meets a 429 then a 500; it is answered once, and the step moves."""
    office = await open_office(stage)
    emulator = stage.emulator
    staff = office.staff
    await staff.send("/report")
    prompt = await staff.wait_for("What kind of incident")
    emulator.faults.add("answerCallbackQuery", http_status=429, retry_after=1)
    emulator.faults.add("answerCallbackQuery", http_status=500)
    emulator.faults.add("editMessageText", chat_id=staff.id, http_status=429, retry_after=1)
    emulator.faults.add("sendMessage", chat_id=staff.id, http_status=502)
    answer = await prompt.press("Virus spread", timeout=15)
    assert not answer.show_alert
    await staff.wait_for("Choose the level", timeout=15)
    await prompt.wait_until("✔️")
    await stage.settle()
    answers = [r for r in emulator.log.records if r.method == "answerCallbackQuery"]
    assert [r.status for r in answers] == [429, 500, 200]
    # The question after the answer was refused with 502 once: asked once all the same.
    assert len([m for m in staff.messages() if "Choose the level" in m.text]) == 1
