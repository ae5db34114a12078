"""How the bot meets Telegram: webhook mode, command menus, blocked users (R14 R15)."""

from __future__ import annotations

import json
import socket

import aiohttp

from app.webhook import HEADER
from storage import access as access_q
from tests.harness import TOKEN, Stage


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_webhook_mode_takes_updates_with_the_secret_token(stage: Stage) -> None:
    """R14: with WEBHOOK_URL set the bot registers a webhook with a secret of its own (not
    derived from the token) and answers on it; a call with a wrong or missing secret gets 401
    and is not handled, the right one is."""
    admin = stage.tg.user("Admin", lang="en")
    port = _free_port()
    await stage.start_bot(admins=[admin], webhook_port=port)
    bot = stage.emulator.default_bot
    assert bot is not None and bot.webhook is not None
    assert bot.webhook.url.startswith(f"http://127.0.0.1:{port}/")
    assert bot.webhook.secret_token
    mark = stage.emulator.log.records[-1].seq
    await admin.send("/start")
    await admin.wait_for("Welcome")
    assert not [r for r in stage.emulator.log.since(mark) if r.method.lower() == "getupdates"]
    secret = bot.webhook.secret_token
    assert secret not in TOKEN and len(secret) >= 32
    help_update = {
        "update_id": 10_000,
        "message": {
            "message_id": 9_999,
            "date": 1_700_000_000,
            "chat": {"id": admin.id, "type": "private", "first_name": "Admin"},
            "from": {"id": admin.id, "is_bot": False, "first_name": "Admin"},
            "text": "/help",
            "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
        },
    }
    before = len(admin.messages())
    async with aiohttp.ClientSession() as http:
        missing = await http.post(bot.webhook.url, json=help_update)
        wrong = await http.post(
            bot.webhook.url, json=help_update, headers={HEADER: secret[:-1] + "x"}
        )
        assert (missing.status, wrong.status) == (401, 401)
        await stage.settle()
        assert len(admin.messages()) == before  # neither was handled
        right = await http.post(bot.webhook.url, json=help_update, headers={HEADER: secret})
        assert right.status == 200
    await admin.wait_for("/report")


async def test_command_menus_are_set_in_chinese_and_english(stage: Stage) -> None:
    """R15: setMyCommands in both languages; the default menu is Chinese."""
    admin = stage.tg.user("Admin", lang="en")
    await stage.start_bot(admins=[admin])
    await admin.send("/start")
    await admin.wait_for("Welcome")
    calls = [r for r in stage.emulator.log.records if r.method.lower() == "setmycommands"]
    by_language = {
        (r.params.get("language_code") or ""): r
        for r in calls
        if "scope" not in r.params or "all_group_chats" not in str(r.params["scope"])
    }
    assert {"zh", "en", ""} <= set(by_language)

    def descriptions(code: str) -> list[str]:
        commands = by_language[code].params["commands"]
        commands = json.loads(commands) if isinstance(commands, str) else commands
        return [c["description"] for c in commands]

    assert "报告突发事件" in descriptions("zh")
    assert "report an incident" in descriptions("en")
    assert "报告突发事件" in descriptions("")


async def test_a_user_blocking_the_bot_is_marked_and_unmarked(stage: Stage) -> None:
    """R14: my_chat_member updates record who blocked the bot."""
    admin = stage.tg.user("Admin", lang="en")
    bot = await stage.start_bot(admins=[admin])
    await admin.send("/start")
    await admin.wait_for("Welcome")
    await admin.block_bot()
    await stage.settle()
    async with bot.ctx.db.transaction() as session:
        user = await access_q.get_user(session=session, user_id=admin.id)
        assert user is not None and user.blocked_bot
    await admin.unblock_bot()
    await stage.settle()
    async with bot.ctx.db.transaction() as session:
        user = await access_q.get_user(session=session, user_id=admin.id)
        assert user is not None and not user.blocked_bot


async def test_removing_the_bot_from_a_bound_group_is_reported_to_admins(stage: Stage) -> None:
    """R14: a bound chat that removed the bot is marked, and admins are told at once."""
    admin = stage.tg.user("Admin", lang="en")
    bot = await stage.start_bot(admins=[admin])
    await admin.send("/start")
    await admin.wait_for("Welcome")
    group = stage.tg.group("技术应用中心", members=[admin])
    await group.send(admin, "/bind tech_center")
    await group.wait_for("本群已绑定")
    await group.remove_bot(by=admin)
    notice = await admin.wait_for("I was removed from")
    assert "技术应用中心" in notice.text and "/bind" in notice.text
    async with bot.ctx.db.transaction() as session:
        chat = await access_q.get_chat(session=session, chat_id=group.id)
    assert chat is not None and chat.bot_removed
