"""Flood limits: on by default with Telegram's numbers, answered 429 as Telegram answers."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from telegram import Bot
from telegram.error import RetryAfter

from emulator import Emulator, EmulatorServer, FloodLimits, TelegramWorld
from emulator.core import FLOOD_METHODS, flood_items
from emulator.testing import UserHandle
from tests.emulator.emu_helpers import OTHER_TOKEN, TOKEN, ApiCall

# A 1×1 PNG, for albums.
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


def too_many(retry_after: int) -> dict[str, Any]:
    """Telegram's answer to a send over a flood limit."""
    return {
        "ok": False,
        "error_code": 429,
        "description": f"Too Many Requests: retry after {retry_after}",
        "parameters": {"retry_after": retry_after},
    }


@pytest.fixture
async def staff(tg: TelegramWorld) -> UserHandle:
    """A user who started the bot."""
    user = tg.user("Staff Li")
    await user.send("/start")
    return user


async def test_telegrams_limits_are_on_by_default(
    api: ApiCall, emu: Emulator, staff: UserHandle
) -> None:
    """Three messages at once to a person go (a short burst), the fourth is refused."""
    assert emu.limits is not None
    assert emu.limits.to_dict() == {
        "per_second": 30,
        "per_chat_per_second": 1,
        "per_group_per_minute": 20,
        "private_burst": 3,
        "paid_per_second": 1000,
    }
    for n in range(3):
        assert (await api("sendMessage", chat_id=staff.id, text=str(n)))[0] == 200
    status, body = await api("sendMessage", chat_id=staff.id, text="3")
    assert (status, body) == (429, too_many(1))
    record = emu.log.by_method("sendMessage")[-1]
    assert (record.status, record.outcome) == (429, "error")
    assert [m.text for m in staff.messages()] == ["0", "1", "2"], "a refused send posts nothing"


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_python_telegram_bot_sees_retry_after(
    server: EmulatorServer, staff: UserHandle
) -> None:
    async with Bot(TOKEN, base_url=server.base_url) as bot:
        for n in range(3):
            await bot.send_message(staff.id, str(n))
        with pytest.raises(RetryAfter, match="Retry in 1 seconds"):
            await bot.send_message(staff.id, "3")


def test_private_chat_bucket_refills_at_one_a_second(emu: Emulator) -> None:
    """After the burst, one message a second; an idle chat saves up no more than the burst."""
    bot = emu.register_bot(TOKEN)
    chat = emu.private_chat(emu.create_user("Li"), bot)
    limits = FloodLimits()
    for _ in range(3):
        assert limits.check(bot.id, chat, 100.0) is None
        limits.record(bot.id, chat, 100.0)
    assert limits.check(bot.id, chat, 100.0) == 1
    assert limits.check(bot.id, chat, 100.5) == 1
    assert limits.check(bot.id, chat, 101.0) is None
    limits.record(bot.id, chat, 101.0)
    assert limits.check(bot.id, chat, 101.2) == 1
    for _ in range(3):
        assert limits.check(bot.id, chat, 200.0) is None
        limits.record(bot.id, chat, 200.0)
    assert limits.check(bot.id, chat, 200.0) == 1, "an hour idle still allows only the burst"


def test_overall_limit_is_thirty_a_second_over_all_chats(emu: Emulator) -> None:
    bot = emu.register_bot(TOKEN)
    chats = [emu.private_chat(emu.create_user(f"P{n}"), bot) for n in range(31)]
    limits = FloodLimits()
    for chat in chats[:30]:
        assert limits.check(bot.id, chat, 10.0) is None
        limits.record(bot.id, chat, 10.0)
    assert limits.check(bot.id, chats[30], 10.5) == 1
    assert limits.check(bot.id, chats[30], 11.0) is None, "the window slides"
    other = emu.register_bot(OTHER_TOKEN)
    assert limits.check(other.id, chats[30], 10.5) is None, "each bot has its own limits"


def test_paid_broadcasts_go_up_to_a_thousand_a_second(emu: Emulator) -> None:
    """allow_paid_broadcast lifts the overall limit to 1000 a second, and only for that send."""
    bot = emu.register_bot(TOKEN)
    chats = [emu.private_chat(emu.create_user(f"P{n}"), bot) for n in range(1001)]
    limits = FloodLimits()
    for chat in chats[:30]:
        limits.record(bot.id, chat, 10.0)
    assert limits.check(bot.id, chats[30], 10.0) == 1
    for chat in chats[30:1000]:
        assert limits.check(bot.id, chat, 10.0, paid=True) is None
        limits.record(bot.id, chat, 10.0)
    assert limits.check(bot.id, chats[1000], 10.0, paid=True) == 1


async def test_paid_flag_on_the_wire(api: ApiCall, emu: Emulator, tg: TelegramWorld) -> None:
    emu.enforce_limits(per_second=2, paid_per_second=3)
    people = [tg.user(f"P{n}") for n in range(4)]
    for person in people:
        await person.send("/start")
    for person in people[:2]:
        assert (await api("sendMessage", chat_id=person.id, text="x"))[0] == 200
    assert (await api("sendMessage", chat_id=people[2].id, text="x"))[0] == 429
    paid = {"allow_paid_broadcast": True}
    assert (await api("sendMessage", chat_id=people[2].id, text="x", **paid))[0] == 200
    assert (await api("sendMessage", chat_id=people[3].id, text="x", **paid))[0] == 429


async def test_group_limit_is_twenty_a_minute(
    api: ApiCall, tg: TelegramWorld, staff: UserHandle
) -> None:
    admin = tg.user("Admin")
    ops = tg.group("Ops", members=[admin])
    other = tg.group("Other", members=[admin])
    for n in range(20):
        assert (await api("sendMessage", chat_id=ops.id, text=str(n)))[0] == 200
    status, body = await api("sendMessage", chat_id=ops.id, text="20")
    assert status == 429
    assert body == too_many(60), "the first of the twenty leaves the window a minute after it"
    assert (await api("sendMessage", chat_id=other.id, text="x"))[0] == 200
    assert (await api("sendMessage", chat_id=staff.id, text="x"))[0] == 200


async def test_edits_count_and_housekeeping_does_not(
    api: ApiCall, emu: Emulator, tg: TelegramWorld, staff: UserHandle
) -> None:
    """Edits change a message in the chat, so they count; deletes, answers, getters do not."""
    emu.enforce_limits(private_burst=1)
    markup = {"inline_keyboard": [[{"text": "Ack", "callback_data": "ack"}]]}
    status, body = await api("sendMessage", chat_id=staff.id, text="card", reply_markup=markup)
    assert status == 200
    card = body["result"]["message_id"]
    status, body = await api("editMessageText", chat_id=staff.id, message_id=card, text="card 2")
    assert (status, body) == (429, too_many(1))
    query = emu.press_button(staff.user, staff.messages()[-1].message, label="Ack")
    assert (await api("answerCallbackQuery", callback_query_id=query.id))[0] == 200
    assert (await api("sendChatAction", chat_id=staff.id, action="typing"))[0] == 200
    assert (await api("getMe"))[0] == 200
    assert (await api("getChat", chat_id=staff.id))[0] == 200
    commands = [{"command": "start", "description": "Start"}]
    assert (await api("setMyCommands", commands=commands))[0] == 200
    assert (await api("getUpdates"))[0] == 200
    assert (await api("deleteMessage", chat_id=staff.id, message_id=card))[0] == 200
    assert "editmessagetext" in FLOOD_METHODS and "deletemessage" not in FLOOD_METHODS
    assert flood_items("getme", {}) == 0


async def test_each_item_of_an_album_counts(
    api: ApiCall, emu: Emulator, tg: TelegramWorld, staff: UserHandle
) -> None:
    """In a group an album takes one place per item; to a person it goes as one burst."""
    emu.enforce_limits(per_group_per_minute=5)
    admin = tg.user("Admin")
    ops = tg.group("Ops", members=[admin])

    sizes = (await staff.send_photo(PIXEL)).photo
    assert sizes is not None
    photo = sizes[-1].file_id

    async def album(chat_id: int, size: int) -> tuple[int, dict[str, Any]]:
        media = [{"type": "photo", "media": photo} for _ in range(size)]
        return await api("sendMediaGroup", chat_id=chat_id, media=media)

    assert (await album(ops.id, 3))[0] == 200
    status, body = await album(ops.id, 3)
    assert (status, body["description"]) == (429, "Too Many Requests: retry after 60")
    assert (await api("sendMessage", chat_id=ops.id, text="4"))[0] == 200
    assert (await api("sendMessage", chat_id=ops.id, text="5"))[0] == 200
    assert (await api("sendMessage", chat_id=ops.id, text="6"))[0] == 429
    status, body = await album(staff.id, 10)
    assert status == 200 and len(body["result"]) == 10
    status, body = await api("sendMessage", chat_id=staff.id, text="after")
    assert (status, body) == (429, too_many(8)), "ten photos leave seven seconds of debt"
    assert flood_items("sendmediagroup", {"media": [{}, {}, {}]}) == 3
    assert flood_items("forwardmessages", {"message_ids": [1, 2]}) == 2


async def test_limits_are_per_bot(api: ApiCall, emu: Emulator, staff: UserHandle) -> None:
    other = emu.register_bot(OTHER_TOKEN)
    emu.private_chat(staff.user, other).started = True
    for n in range(3):
        assert (await api("sendMessage", chat_id=staff.id, text=str(n)))[0] == 200
    assert (await api("sendMessage", chat_id=staff.id, text="x"))[0] == 429
    status, _ = await api("sendMessage", _token=OTHER_TOKEN, chat_id=staff.id, text="x")
    assert status == 200


async def test_limits_off_scaled_and_back_after_a_reset(
    api: ApiCall, emu: Emulator, staff: UserHandle
) -> None:
    emu.disable_limits()
    for n in range(10):
        assert (await api("sendMessage", chat_id=staff.id, text=str(n)))[0] == 200
    limits = emu.enforce_limits(per_second=500, per_chat_per_second=200, per_group_per_minute=1e5)
    assert limits.to_dict()["per_chat_per_second"] == 200
    assert emu.limits is limits
    emu.reset()
    assert emu.limits is not None and emu.limits.to_dict() == FloodLimits().to_dict()
    assert Emulator(limits=None).limits is None
    custom = FloodLimits(per_second=2, per_chat_per_second=None)
    scaled = Emulator(limits=custom)
    assert scaled.limits is not custom, "each emulator counts on its own"
    assert scaled.limits is not None and scaled.limits.to_dict() == custom.to_dict()
    scaled.disable_limits()
    scaled.reset()
    assert scaled.limits is not None and scaled.limits.per_second == 2


def test_fractional_rates_and_bad_numbers(emu: Emulator) -> None:
    bot = emu.register_bot(TOKEN)
    group = emu.create_group("Ops", [emu.create_user("Li")], bot=bot)
    limits = FloodLimits(per_group_per_minute=0.5)  # one message every two minutes
    assert limits.check(bot.id, group, 0.0) is None
    limits.record(bot.id, group, 0.0)
    assert limits.check(bot.id, group, 60.0) == 60
    assert limits.check(bot.id, group, 120.0) is None
    with pytest.raises(ValueError, match="per_second must be positive"):
        FloodLimits(per_second=0)
    with pytest.raises(ValueError, match="private_burst"):
        FloodLimits(private_burst=0)
