"""The test DSL: waiting without races, pressing only real buttons, files and groups."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputFile
from telegram.error import BadRequest

from emulator import Emulator, EmulatorServer, TelegramWorld
from tests.emulator.emu_helpers import TOKEN


@pytest.fixture
async def bot(server: EmulatorServer) -> AsyncIterator[Bot]:
    """A python-telegram-bot Bot talking to the emulator (the test plays the bot's part)."""
    async with Bot(TOKEN, base_url=server.base_url, base_file_url=server.base_file_url) as b:
        yield b


def keyboard(*labels: str) -> InlineKeyboardMarkup:
    """One row of callback buttons whose data is the lower-cased label."""
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(x, callback_data=x.lower()) for x in labels]]
    )


async def test_wait_for_sees_earlier_messages_and_skips_non_matching(
    tg: TelegramWorld, bot: Bot
) -> None:
    staff = tg.user("Staff Li")
    await staff.send("/start")
    await bot.send_message(staff.id, "Welcome")
    await bot.send_message(staff.id, "Your report is pending")
    msg = await staff.wait_for("pending")
    assert msg.text == "Your report is pending"
    with pytest.raises(AssertionError) as caught:
        await staff.wait_for("Welcome", timeout=0.2)
    report = str(caught.value)
    assert "no bot message matching 'Welcome'" in report
    assert "(2 earlier bot messages were before the cursor.)" in report


async def test_wait_for_wakes_on_a_later_message(tg: TelegramWorld, bot: Bot) -> None:
    staff = tg.user("Staff Li")
    await staff.send("/start")
    waiter = asyncio.create_task(staff.wait_for(re.compile(r"case \d{4}-\d{4}")))
    await asyncio.sleep(0)
    assert not waiter.done()
    await bot.send_message(staff.id, "noise")
    await bot.send_message(staff.id, "case 2026-0001 opened")
    found = await asyncio.wait_for(waiter, 5)
    assert found.text == "case 2026-0001 opened"
    with pytest.raises(AssertionError):
        await staff.wait_for(lambda m: m.text == "noise", timeout=0.2)


async def test_timeout_report_lists_received_and_refused(tg: TelegramWorld, bot: Bot) -> None:
    staff = tg.user("Staff Li")
    await staff.send("/start")
    await bot.send_message(staff.id, "Something else")
    with pytest.raises(BadRequest):
        await bot.send_message(staff.id, "1 < 2 is <b>true</b>", parse_mode="HTML")
    with pytest.raises(AssertionError) as caught:
        await staff.wait_for("true", timeout=0.2)
    report = str(caught.value)
    assert "'Something else'" in report
    assert "sendMessage -> Bad Request: can't parse entities" in report


async def test_press_existing_buttons_and_read_the_answer(
    tg: TelegramWorld, bot: Bot, emu: Emulator
) -> None:
    admin = tg.user("Admin Wang", lang="zh")
    await admin.send("/start")
    await bot.send_message(admin.id, "Case 7: Approve?", reply_markup=keyboard("Approve", "Reject"))
    card = await admin.wait_for("Approve?")
    assert [[b.text for b in row] for row in card.buttons] == [["Approve", "Reject"]]
    assert card.button("Reject").callback_data == "reject"

    async def answer_next() -> None:
        updates = await bot.get_updates(timeout=5, allowed_updates=["callback_query"])
        query = updates[-1].callback_query
        assert query is not None and query.data == "approve"
        assert query.message is not None and query.message.message_id == card.message_id
        await query.answer("Approved", show_alert=True)
        await bot.get_updates(offset=updates[-1].update_id + 1)

    answering = asyncio.create_task(answer_next())
    answer = await card.press("Approve")
    await answering
    assert (answer.text, answer.show_alert) == ("Approved", True)
    with pytest.raises(AssertionError, match=r"no button with label 'Delete'"):
        await card.press("Delete")
    with pytest.raises(AssertionError, match="has no button 'Delete'"):
        card.button("Delete")


async def test_unanswered_press_fails_readably(tg: TelegramWorld, bot: Bot) -> None:
    staff = tg.user("Staff")
    await staff.send("/start")
    await bot.send_message(staff.id, "Pick", reply_markup=keyboard("One"))
    card = await staff.wait_for("Pick")
    with pytest.raises(AssertionError, match="did not answer callback query"):
        await card.press("One", timeout=0.2)


async def test_buttons_removed_by_an_edit_cannot_be_pressed(tg: TelegramWorld, bot: Bot) -> None:
    staff = tg.user("Staff")
    await staff.send("/start")
    sent = await bot.send_message(staff.id, "Ack?", reply_markup=keyboard("Ack"))
    card = await staff.wait_for("Ack?")
    waiter = asyncio.create_task(card.wait_until("acknowledged"))
    await bot.edit_message_text("Ack? acknowledged", chat_id=staff.id, message_id=sent.message_id)
    assert await asyncio.wait_for(waiter, 5) is card
    assert card.edit_count == 1 and card.buttons == []
    with pytest.raises(AssertionError, match="no button"):
        await card.press("Ack", timeout=0.2)


async def test_forge_callback_bypasses_the_button_check(
    tg: TelegramWorld, bot: Bot, emu: Emulator
) -> None:
    staff = tg.user("Staff")
    await staff.send("/start")
    await bot.send_message(staff.id, "Pick", reply_markup=keyboard("One"))
    card = await staff.wait_for("Pick")
    query = tg.forge_callback(staff, card, "admin:delete_everything")
    update = emu.default_bot.updates[-1]["callback_query"]
    assert update["data"] == "admin:delete_everything"
    assert update["id"] == query.id and query.forged


async def test_group_press_needs_a_member(tg: TelegramWorld, bot: Bot) -> None:
    admin = tg.user("Admin")
    outsider = tg.user("Outsider")
    leaders = tg.group("Leadership", members=[admin])
    await bot.send_message(leaders.id, "Case 2026-0001", reply_markup=keyboard("Ack"))
    card = await leaders.wait_for("2026-0001")
    with pytest.raises(AssertionError, match="needs by="):
        await card.press("Ack")
    with pytest.raises(AssertionError, match="cannot see chat"):
        await card.press("Ack", by=outsider)


async def test_files_both_ways(tg: TelegramWorld, bot: Bot, emu: Emulator) -> None:
    staff = tg.user("Staff")
    await staff.send("/start")
    await bot.send_document(
        staff.id, InputFile(b"a,b\n1,2\n", filename="cases.csv"), caption="export"
    )
    sent = await staff.wait_for("export")
    assert sent.document is not None
    assert (sent.document.filename, sent.document.data, sent.document.mime_type) == (
        "cases.csv",
        b"a,b\n1,2\n",
        "text/csv",
    )
    await staff.send_document(b"log line", "server.log", caption="logs")
    update = emu.default_bot.updates[-1]["message"]
    file = await bot.get_file(update["document"]["file_id"])
    assert bytes(await file.download_as_bytearray()) == b"log line"


async def test_group_migration_keeps_handles_working(tg: TelegramWorld, bot: Bot) -> None:
    admin = tg.user("Admin")
    leaders = tg.group("Leadership", members=[admin])
    await bot.send_message(leaders.id, "before", reply_markup=keyboard("Ack"))
    card = await leaders.wait_for("before")
    old_id = leaders.id
    new_id = await leaders.migrate_to_supergroup(by=admin)
    assert leaders.id == new_id != old_id
    assert card.chat_id == new_id
    await bot.send_message(new_id, "after")
    assert (await leaders.wait_for("after")).chat_id == new_id
    await leaders.send(admin, "/status")
    assert [m.text for m in leaders.messages()] == ["before", "after"]


async def test_reply_keyboards_and_html_views(tg: TelegramWorld, bot: Bot) -> None:
    from telegram import ForceReply, ReplyKeyboardMarkup, ReplyKeyboardRemove

    tg.emulator.disable_limits()  # four sends at once would meet the flood limit
    staff = tg.user("Staff")
    await staff.send("/start")
    sent = await bot.send_message(
        staff.id, "Choose", reply_markup=ReplyKeyboardMarkup([["Report", "Status"]])
    )
    assert sent.reply_markup is None, "Telegram returns only inline keyboards in messages"
    assert staff.keyboard == [["Report", "Status"]]
    await bot.send_message(staff.id, "Describe it", reply_markup=ForceReply())
    assert staff.keyboard == [["Report", "Status"]], "ForceReply leaves the keyboard alone"
    await bot.send_message(staff.id, "Done", reply_markup=ReplyKeyboardRemove())
    assert staff.keyboard is None
    await bot.send_message(
        staff.id,
        'See <a href="https://example.org">the <b>plan</b></a> &amp; go',
        parse_mode="HTML",
    )
    shown = await staff.wait_for("See")
    assert shown.text == "See the plan & go"
    assert shown.html == 'See <a href="https://example.org/">the <b>plan</b></a> &amp; go'
