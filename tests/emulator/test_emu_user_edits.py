"""Users edit their own messages: the stored message changes and bots get `edited_message`."""

from __future__ import annotations

from typing import Any

import pytest
from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters

from emulator import Emulator, EmulatorServer, TelegramWorld
from emulator.client import ControlError, EmulatorClient
from tests.emulator.emu_helpers import TOKEN, ApiCall


def updates_of(emu: Emulator, kind: str) -> list[dict[str, Any]]:
    """Queued updates of one kind for the default bot."""
    return [u[kind] for u in emu.default_bot.updates if kind in u]


async def test_an_edit_reaches_the_bot_as_edited_message(
    api: ApiCall, emu: Emulator, tg: TelegramWorld
) -> None:
    li = tg.user("Li")
    sent = await li.send("/report at 10:00")
    edited = await li.edit(sent, "/report at 10:30")
    assert edited is sent and sent.text == "/report at 10:30"
    assert [e.text for e in sent.edits] == ["/report at 10:30"]
    _, body = await api("getUpdates")
    kinds = [next(k for k in u if k != "update_id") for u in body["result"]]
    assert kinds == ["message", "edited_message"]
    original, update = body["result"][0]["message"], body["result"][1]["edited_message"]
    assert update["message_id"] == original["message_id"]
    assert update["text"] == "/report at 10:30"
    assert original["text"] == "/report at 10:00", "the first update keeps what was sent"
    assert update["entities"] == [{"type": "bot_command", "offset": 0, "length": 7}]
    assert update["edit_date"] >= update["date"]
    assert "edit_date" not in original
    assert update["from"]["id"] == li.id and update["chat"]["id"] == li.id


async def test_a_caption_edit_and_allowed_updates(api: ApiCall, tg: TelegramWorld) -> None:
    li = tg.user("Li")
    photo = await li.send_photo(b"\xff\xd8\xff\xe0fakejpeg", caption="before")
    await li.edit(photo, "after")
    _, body = await api("getUpdates")
    assert body["result"][-1]["edited_message"]["caption"] == "after"
    assert "text" not in body["result"][-1]["edited_message"]
    await api("getUpdates", offset=body["result"][-1]["update_id"] + 1, allowed_updates=["message"])
    await li.edit(photo, "again")
    assert (await api("getUpdates"))[1]["result"] == [], "edited_message was not asked for"


async def test_group_edits_follow_privacy_mode(emu: Emulator, tg: TelegramWorld) -> None:
    """A bot in privacy mode hears of the edit of a command, not of chatter; an admin bot does."""
    li, wang = tg.user("Li"), tg.user("Wang")
    ops = tg.group("Ops", members=[li, wang])
    chatter = await ops.send(li, "lunch?")
    command = await ops.send(wang, "/status")
    await ops.edit(li, chatter, "lunch at noon?")
    await ops.edit(wang, command, "/status all")
    assert [m["text"] for m in updates_of(emu, "edited_message")] == ["/status all"]
    await ops.promote_bot(li)
    await ops.edit(li, chatter, "lunch at one?")
    assert [m["text"] for m in updates_of(emu, "edited_message")][-1] == "lunch at one?"


async def test_what_a_user_cannot_edit(emu: Emulator, tg: TelegramWorld, api: ApiCall) -> None:
    li, wang = tg.user("Li"), tg.user("Wang")
    ops = tg.group("Ops", members=[li, wang])
    mine = await ops.send(li, "/status")
    with pytest.raises(AssertionError, match="only edit their own"):
        await ops.edit(wang, mine, "/status hacked")
    with pytest.raises(AssertionError, match="not modified"):
        await ops.edit(li, mine, "/status")
    with pytest.raises(AssertionError, match="empty"):
        await ops.edit(li, mine, "  ")
    private = await li.send("/start")
    with pytest.raises(AssertionError, match="is not in group"):
        await ops.edit(li, private, "/start again")
    status, body = await api("sendMessage", chat_id=li.id, text="from the bot")
    assert status == 200
    bot_message = li.chat.messages[body["result"]["message_id"]]
    with pytest.raises(AssertionError, match="only edit their own"):
        await li.edit(bot_message, "changed")
    mine.deleted = True  # as if Li deleted it in the app
    with pytest.raises(AssertionError, match="was deleted"):
        await ops.edit(li, mine, "/status again")
    assert updates_of(emu, "edited_message") == []


async def test_edit_over_the_control_api(server: EmulatorServer, emu: Emulator) -> None:
    emu.register_bot(TOKEN)
    async with EmulatorClient(server.url) as client:
        user = await client.create_user("Li")
        sent = await client.send(user["id"], "hello")
        view = await client.edit(user["id"], sent["message_id"], "hello there")
        assert view["text"] == "hello there" and view["edit_count"] == 1
        with pytest.raises(ControlError, match="not modified"):
            await client.edit(user["id"], sent["message_id"], "hello there")
        with pytest.raises(ControlError, match="no message 999"):
            await client.edit(user["id"], 999, "x")
    assert updates_of(emu, "edited_message")[0]["text"] == "hello there"


async def test_python_telegram_bot_handles_the_edit(
    server: EmulatorServer, tg: TelegramWorld
) -> None:
    """A PTB bot polling the emulator sees update.edited_message and answers it."""
    seen: list[str] = []

    async def on_edit(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.edited_message is not None and update.edited_message.text is not None
        seen.append(update.edited_message.text)
        await update.edited_message.reply_text(f"noted: {update.edited_message.text}")

    app = Application.builder().token(TOKEN).base_url(server.base_url).build()
    app.add_handler(MessageHandler(filters.UpdateType.EDITED_MESSAGE, on_edit))
    li = tg.user("Li")
    sent = await li.send("first")
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=1)
        await li.edit(sent, "second")
        await li.wait_for("noted: second")
        await app.updater.stop()
        await app.stop()
    assert seen == ["second"]
