"""Chat state: edits, deletes, blocking, groups, migration, commands, members and pins."""

from __future__ import annotations

from typing import Any

import pytest

from emulator import Emulator, TelegramWorld
from emulator.testing import UserHandle
from tests.emulator.emu_helpers import ApiCall

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)


@pytest.fixture
async def staff(tg: TelegramWorld) -> UserHandle:
    """A user who started the bot."""
    user = tg.user("Staff Li", username="li")
    await user.send("/start")
    return user


async def send(api: ApiCall, chat_id: int, text: str, **extra: Any) -> dict[str, Any]:
    """sendMessage that must succeed; returns the Message."""
    status, body = await api("sendMessage", chat_id=chat_id, text=text, **extra)
    assert status == 200, body
    result: dict[str, Any] = body["result"]
    return result


def updates_of(emu: Emulator, kind: str) -> list[dict[str, Any]]:
    """Queued updates of one kind for the default bot."""
    return [u[kind] for u in emu.default_bot.updates if kind in u]


async def test_message_ids_increase_per_chat(
    api: ApiCall, staff: UserHandle, tg: TelegramWorld
) -> None:
    other = tg.user("Other")
    await other.send("/start")
    first = await send(api, staff.id, "a")
    second = await send(api, staff.id, "b")
    elsewhere = await send(api, other.id, "c")
    assert second["message_id"] == first["message_id"] + 1
    assert elsewhere["message_id"] == 2  # after the user's own /start


async def test_edit_records_history_and_refuses_no_change(
    api: ApiCall, emu: Emulator, staff: UserHandle
) -> None:
    emu.disable_limits()  # five edits at once would meet the flood limit (test_emu_limits)
    markup = {"inline_keyboard": [[{"text": "Ack", "callback_data": "ack"}]]}
    sent = await send(api, staff.id, "<b>case</b> open", parse_mode="HTML", reply_markup=markup)
    mid = sent["message_id"]
    status, body = await api(
        "editMessageText",
        chat_id=staff.id,
        message_id=mid,
        text="<b>case</b> open",
        parse_mode="HTML",
        reply_markup=markup,
    )
    assert (status, body["description"]) == (400, NOT_MODIFIED)
    # same text, but the keyboard would go away: that is a modification
    status, body = await api(
        "editMessageText",
        chat_id=staff.id,
        message_id=mid,
        text="<b>case</b> open",
        parse_mode="HTML",
    )
    assert status == 200
    assert "reply_markup" not in body["result"]
    assert "edit_date" in body["result"]
    status, body = await api("editMessageText", chat_id=staff.id, message_id=mid, text="case open")
    assert status == 200, "dropping the bold entity is a change"
    card = staff.messages()[-1]
    assert card.edit_count == 2
    assert [e.text for e in card.edits] == ["case open", "case open"]
    assert card.edits[0].entities == [{"type": "bold", "offset": 0, "length": 4}]
    status, body = await api("editMessageReplyMarkup", chat_id=staff.id, message_id=mid)
    assert (status, body["description"]) == (400, NOT_MODIFIED)


async def test_edit_unknown_deleted_and_foreign_messages(api: ApiCall, staff: UserHandle) -> None:
    status, body = await api("editMessageText", chat_id=staff.id, message_id=999, text="x")
    assert (status, body["description"]) == (400, "Bad Request: message to edit not found")
    sent = await send(api, staff.id, "temporary")
    assert await api("deleteMessage", chat_id=staff.id, message_id=sent["message_id"]) == (
        200,
        {"ok": True, "result": True},
    )
    status, body = await api(
        "editMessageText", chat_id=staff.id, message_id=sent["message_id"], text="y"
    )
    assert body["description"] == "Bad Request: message to edit not found"
    status, body = await api("deleteMessage", chat_id=staff.id, message_id=sent["message_id"])
    assert body["description"] == "Bad Request: message to delete not found"
    status, body = await api("editMessageText", chat_id=staff.id, message_id=1, text="y")
    assert body["description"] == "Bad Request: message can't be edited"
    messages = staff.messages(include_deleted=True)
    assert messages[-1].deleted is True
    assert sent["message_id"] not in [m.message_id for m in staff.messages()]


async def test_edit_caption_and_text_kinds(api: ApiCall, staff: UserHandle) -> None:
    sent = await send(api, staff.id, "text only")
    _status, body = await api(
        "editMessageCaption", chat_id=staff.id, message_id=sent["message_id"], caption="c"
    )
    assert body["description"] == "Bad Request: there is no caption in the message to edit"


async def test_block_and_unblock(api: ApiCall, emu: Emulator, staff: UserHandle) -> None:
    emu.default_bot.updates.clear()
    await staff.block_bot()
    status, body = await api("sendMessage", chat_id=staff.id, text="x")
    assert (status, body) == (
        403,
        {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"},
    )
    member_updates = updates_of(emu, "my_chat_member")
    assert member_updates[-1]["old_chat_member"]["status"] == "member"
    assert member_updates[-1]["new_chat_member"]["status"] == "kicked"
    assert member_updates[-1]["chat"]["id"] == staff.id
    with pytest.raises(AssertionError, match="has blocked the bot"):
        await staff.send("hello?")
    await staff.unblock_bot()
    assert updates_of(emu, "my_chat_member")[-1]["new_chat_member"]["status"] == "member"
    await send(api, staff.id, "welcome back")


async def test_group_creation_membership_and_removal(
    api: ApiCall, emu: Emulator, tg: TelegramWorld
) -> None:
    admin = tg.user("Admin Wang", lang="zh")
    assert admin.user.language_code == "zh-hans"
    group = tg.group("Leadership", members=[admin])
    assert group.id < 0
    joined = updates_of(emu, "my_chat_member")[-1]
    assert (joined["old_chat_member"]["status"], joined["new_chat_member"]["status"]) == (
        "left",
        "member",
    )
    assert updates_of(emu, "message")[-1]["group_chat_created"] is True
    sent = await send(api, group.id, "hello group")
    assert sent["chat"] == {"id": group.id, "type": "group", "title": "Leadership"}
    status, body = await api("getChatMember", chat_id=group.id, user_id=admin.id)
    assert body["result"]["status"] == "creator"
    status, body = await api("getChatAdministrators", chat_id=group.id)
    assert [m["user"]["id"] for m in body["result"]] == [admin.id]
    await group.remove_bot(by=admin)
    removed = updates_of(emu, "my_chat_member")[-1]
    assert removed["from"]["id"] == admin.id
    assert removed["new_chat_member"]["status"] == "left"
    status, body = await api("sendMessage", chat_id=group.id, text="x")
    assert (status, body["description"]) == (403, "Forbidden: bot was kicked from the group chat")
    await group.add_bot(by=admin)
    assert updates_of(emu, "my_chat_member")[-1]["new_chat_member"]["status"] == "member"
    assert updates_of(emu, "message")[-1]["new_chat_members"][0]["id"] == emu.default_bot.id
    await send(api, group.id, "back")


async def test_privacy_mode_filters_group_messages(emu: Emulator, tg: TelegramWorld) -> None:
    admin = tg.user("Admin")
    group = tg.group("Ops", members=[admin])
    emu.default_bot.updates.clear()
    await group.send(admin, "just chatting")
    await group.send(admin, "/bind@incident_test_bot leadership")
    await group.send(admin, "/bind@some_other_bot x")
    texts = [m["text"] for m in updates_of(emu, "message")]
    assert texts == ["/bind@incident_test_bot leadership"]
    entity = updates_of(emu, "message")[0]["entities"][0]
    assert entity == {"type": "bot_command", "offset": 0, "length": 23}


async def test_migration_to_supergroup(api: ApiCall, emu: Emulator, tg: TelegramWorld) -> None:
    admin = tg.user("Admin")
    group = tg.group("Ops", members=[admin])
    old_id = group.id
    before = await send(api, old_id, "before")
    new_id = await group.migrate_to_supergroup()
    assert new_id != old_id and str(new_id).startswith("-100")
    assert group.id == new_id
    status, body = await api("sendMessage", chat_id=old_id, text="x")
    assert (status, body) == (
        400,
        {
            "ok": False,
            "error_code": 400,
            "description": "Bad Request: group chat was upgraded to a supergroup chat",
            "parameters": {"migrate_to_chat_id": new_id},
        },
    )
    service = updates_of(emu, "message")[-2:]
    assert service[0]["chat"]["id"] == old_id and service[0]["migrate_to_chat_id"] == new_id
    assert service[1]["chat"]["id"] == new_id and service[1]["migrate_from_chat_id"] == old_id
    after = await send(api, new_id, "after")
    assert after["chat"]["type"] == "supergroup"
    assert after["message_id"] > before["message_id"]
    # the old message is now part of the supergroup's history and can be edited there
    status, body = await api(
        "editMessageText", chat_id=new_id, message_id=before["message_id"], text="edited"
    )
    assert status == 200 and body["result"]["chat"]["id"] == new_id
    assert [m.text for m in group.messages()] == ["edited", "after"]
    await group.remove_bot(by=admin)
    status, body = await api("sendMessage", chat_id=new_id, text="x")
    assert body["description"] == "Forbidden: bot was kicked from the supergroup chat"


async def test_leave_chat(api: ApiCall, emu: Emulator, tg: TelegramWorld) -> None:
    admin = tg.user("Admin")
    group = tg.group("Ops", members=[admin], supergroup=True)
    assert await api("leaveChat", chat_id=group.id) == (200, {"ok": True, "result": True})
    assert updates_of(emu, "my_chat_member")[-1]["new_chat_member"]["status"] == "left"
    _status, body = await api("sendMessage", chat_id=group.id, text="x")
    assert body["description"] == "Forbidden: bot is not a member of the supergroup chat"


async def test_commands_per_scope_and_language(api: ApiCall) -> None:
    general = [{"command": "start", "description": "Start"}]
    chinese = [{"command": "start", "description": "开始"}]
    admins = [{"command": "stats", "description": "Statistics"}]
    assert (await api("setMyCommands", commands=general))[0] == 200
    assert (await api("setMyCommands", commands=chinese, language_code="zh"))[0] == 200
    scope = {"type": "chat", "chat_id": 42}
    assert (await api("setMyCommands", commands=admins, scope=scope))[0] == 200
    assert (await api("getMyCommands"))[1]["result"] == general
    assert (await api("getMyCommands", language_code="zh"))[1]["result"] == chinese
    assert (await api("getMyCommands", scope=scope))[1]["result"] == admins
    assert (await api("getMyCommands", scope={"type": "all_group_chats"}))[1]["result"] == []
    assert (await api("deleteMyCommands", scope=scope))[0] == 200
    assert (await api("getMyCommands", scope=scope))[1]["result"] == []
    status, body = await api("setMyCommands", commands=[{"command": "Bad-Cmd", "description": "x"}])
    assert (status, body["description"]) == (400, "Bad Request: BOT_COMMAND_INVALID")


async def test_menu_button_chat_action_and_get_chat(api: ApiCall, staff: UserHandle) -> None:
    assert (await api("setChatMenuButton", menu_button={"type": "commands"}))[0] == 200
    assert (await api("getChatMenuButton"))[1]["result"] == {"type": "commands"}
    assert (await api("sendChatAction", chat_id=staff.id, action="typing"))[0] == 200
    _, body = await api("sendChatAction", chat_id=staff.id, action="dancing")
    assert body["description"] == "Bad Request: wrong parameter action in request"
    assert staff.actions == ["typing"]
    _status, body = await api("getChat", chat_id=staff.id)
    assert body["result"]["type"] == "private" and body["result"]["username"] == "li"


async def test_pins_need_rights_in_groups(
    api: ApiCall, tg: TelegramWorld, staff: UserHandle
) -> None:
    sent = await send(api, staff.id, "pin me")
    assert (await api("pinChatMessage", chat_id=staff.id, message_id=sent["message_id"]))[0] == 200
    status, body = await api("getChat", chat_id=staff.id)
    assert body["result"]["pinned_message"]["text"] == "pin me"
    assert (await api("unpinChatMessage", chat_id=staff.id))[0] == 200
    admin = tg.user("Admin")
    group = tg.group("Ops", members=[admin])
    in_group = await send(api, group.id, "x")
    status, body = await api("pinChatMessage", chat_id=group.id, message_id=in_group["message_id"])
    assert (
        body["description"]
        == "Bad Request: not enough rights to manage pinned messages in the chat"
    )
    await group.promote_bot(by=admin)
    status, _ = await api("pinChatMessage", chat_id=group.id, message_id=in_group["message_id"])
    assert status == 200


async def test_copy_and_forward(api: ApiCall, tg: TelegramWorld, staff: UserHandle) -> None:
    boss = tg.user("Boss")
    await boss.send("/start")
    original = await send(api, staff.id, "<i>report</i>", parse_mode="HTML")
    status, body = await api(
        "copyMessage", chat_id=boss.id, from_chat_id=staff.id, message_id=original["message_id"]
    )
    assert status == 200 and set(body["result"]) == {"message_id"}
    copied = boss.messages()[-1]
    assert copied.text == "report" and copied.html == "<i>report</i>"
    status, body = await api("forwardMessage", chat_id=boss.id, from_chat_id=staff.id, message_id=1)
    assert body["result"]["forward_origin"]["sender_user"]["id"] == staff.id
    status, body = await api("copyMessage", chat_id=boss.id, from_chat_id=staff.id, message_id=99)
    assert body["description"] == "Bad Request: message to copy not found"


async def test_delete_user_message_in_group_needs_admin(api: ApiCall, tg: TelegramWorld) -> None:
    admin = tg.user("Admin")
    group = tg.group("Ops", members=[admin])
    posted = await group.send(admin, "/report")
    _status, body = await api("deleteMessage", chat_id=group.id, message_id=posted.message_id)
    assert body["description"] == "Bad Request: message can't be deleted"
    await group.promote_bot(by=admin)
    assert (await api("deleteMessage", chat_id=group.id, message_id=posted.message_id))[0] == 200
