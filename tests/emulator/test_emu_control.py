"""The /control HTTP API through EmulatorClient, the event stream, and `python -m emulator`."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator

import aiohttp
import pytest

from emulator import Emulator, EmulatorServer
from emulator.client import ControlError, EmulatorClient
from tests.emulator.emu_helpers import TOKEN, ApiCall


@pytest.fixture
async def client(server: EmulatorServer, emu: Emulator) -> AsyncIterator[EmulatorClient]:
    """A control client for the served emulator (with the test bot registered)."""
    emu.register_bot(TOKEN)
    async with EmulatorClient(server.url) as c:
        yield c


async def test_users_groups_messages_and_presses(
    client: EmulatorClient, api: ApiCall, emu: Emulator
) -> None:
    admin = await client.create_user("Admin Wang", lang="zh", username="wang")
    assert admin["first_name"] == "Admin" and admin["language_code"] == "zh-hans"
    sent = await client.send(admin["id"], "/start")
    assert sent["text"] == "/start" and sent["is_bot"] is False
    markup = {"inline_keyboard": [[{"text": "Approve", "callback_data": "ap"}]]}
    status, body = await api(
        "sendMessage",
        chat_id=admin["id"],
        text="<b>Card</b>",
        parse_mode="HTML",
        reply_markup=markup,
    )
    assert status == 200
    card_id = body["result"]["message_id"]
    messages = await client.messages(admin["id"])
    assert [m["html"] for m in messages] == ["<b>Card</b>"]
    assert messages[0]["buttons"] == [[{"text": "Approve", "callback_data": "ap", "url": None}]]
    assert len(await client.messages(admin["id"], include_users=True)) == 2
    pressed = await client.press(admin["id"], card_id, label="Approve", wait=0)
    assert pressed["data"] == "ap" and pressed["answered"] is False
    assert (await api("answerCallbackQuery", callback_query_id=pressed["id"], text="ok"))[0] == 200
    answered = await client.callback(pressed["id"])
    assert answered["answer"] == {"text": "ok", "show_alert": False, "url": None, "cache_time": 0}
    with pytest.raises(ControlError, match="no button with label 'Nope'"):
        await client.press(admin["id"], card_id, label="Nope")
    forged = await client.press(admin["id"], card_id, callback_data="evil", forge=True, wait=0)
    assert forged["forged"] is True and forged["data"] == "evil"


async def test_groups_migration_blocking_and_bot_membership(
    client: EmulatorClient, api: ApiCall
) -> None:
    admin = await client.create_user("Admin")
    group = await client.create_group("Ops", [admin["id"]])
    assert group["type"] == "group" and group["members"][0]["status"] == "creator"
    await client.send(group["id"], "/bind ops", user_id=admin["id"])
    new = await client.migrate(group["id"], by=admin["id"])
    assert new["type"] == "supergroup"
    assert (await api("sendMessage", chat_id=group["id"], text="x"))[1]["parameters"] == {
        "migrate_to_chat_id": new["id"]
    }
    await client.remove_bot(new["id"], by=admin["id"])
    assert (await api("sendMessage", chat_id=new["id"], text="x"))[0] == 403
    await client.add_bot(new["id"], by=admin["id"])
    assert (await api("sendMessage", chat_id=new["id"], text="x"))[0] == 200
    await client.send(admin["id"], "/start")
    await client.block(admin["id"])
    assert (await api("sendMessage", chat_id=admin["id"], text="x"))[0] == 403
    await client.unblock(admin["id"])
    assert (await api("sendMessage", chat_id=admin["id"], text="x"))[0] == 200
    with pytest.raises(ControlError, match="not blocked"):
        await client.unblock(admin["id"])


async def test_faults_log_files_limits_and_reset(
    client: EmulatorClient, api: ApiCall, server: EmulatorServer, http: aiohttp.ClientSession
) -> None:
    user = await client.create_user("Li")
    await client.send_document(user["id"], b"hello", "hello.txt")
    state = await client.state()
    assert [u["id"] for u in state["users"]] == [user["id"]]
    fault = await client.add_fault(method="sendMessage", http_status=500, times=1)
    assert (await client.faults())[0]["id"] == fault["id"]
    assert (await api("sendMessage", chat_id=user["id"], text="x"))[0] == 500
    assert await client.faults() == []
    with pytest.raises(ControlError, match="unknown fault fields"):
        await client.add_fault(method="x", colour="red")
    log = await client.requests(method="sendMessage")
    assert log[0]["outcome"] == "fault" and log[0]["status"] == 500
    assert (await api("sendMessage", chat_id=user["id"], text="x"))[0] == 200
    since = log[-1]["seq"]
    assert [r["outcome"] for r in await client.requests(since=since)] == ["ok"]
    await api("sendDocument", chat_id=user["id"], document=(await _user_doc(client, user["id"])))
    bot_doc = (await client.messages(user["id"]))[-1]["document"]
    assert bot_doc["url"].startswith(server.url)
    async with http.get(bot_doc["url"]) as response:
        assert await response.read() == b"hello"
    assert await client.file_bytes(bot_doc["file_id"]) == b"hello"
    await client.enforce_limits(per_chat_per_second=1, private_burst=1)
    assert (await client.limits()) == {
        "per_second": 30,
        "per_chat_per_second": 1,
        "per_group_per_minute": 20,
        "private_burst": 1,
        "paid_per_second": 1000,
    }
    assert (await api("sendMessage", chat_id=user["id"], text="x"))[0] == 200
    assert (await api("sendMessage", chat_id=user["id"], text="x"))[0] == 429
    async with http.post(f"{server.control_url}/limits", json={"per_hour": 5}) as response:
        assert response.status == 400
        assert "unknown limit fields ['per_hour']" in (await response.json())["error"]
    await client.disable_limits()
    assert await client.limits() is None
    assert (await api("sendMessage", chat_id=user["id"], text="x"))[0] == 200
    await client.reset()
    assert (await client.state())["users"] == []
    assert await client.requests() == []
    assert (await client.limits())["private_burst"] == 3, "a reset brings back Telegram's limits"


async def _user_doc(client: EmulatorClient, user_id: int) -> str:
    """file_id of the first document the user sent."""
    messages = await client.messages(user_id, include_users=True)
    file_id: str = next(m["document"]["file_id"] for m in messages if m.get("document"))
    return file_id


async def test_event_subscription(emu: Emulator, api: ApiCall) -> None:
    user = emu.create_user("Li")
    with emu.subscribe() as events:
        message = emu.send_user_message(
            user, emu.private_chat(user, emu.register_bot(TOKEN)), "/start"
        )
        first = await events.get(timeout=1)
        assert (first.kind, first.message) == ("message", message)
        _, body = await api("sendMessage", chat_id=user.id, text="hi")
        mid = body["result"]["message_id"]
        await api("editMessageText", chat_id=user.id, message_id=mid, text="hi!")
        await api("deleteMessage", chat_id=user.id, message_id=mid)
        kinds = [(await events.get(timeout=1)).kind for _ in range(3)]
        assert kinds == ["message", "edit", "delete"]


async def test_command_line_server() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "emulator",
        "--port",
        "0",
        "--token",
        TOKEN,
        "--no-limits",
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
        assert "base_url" in line
        base_url = line.split()[-1]
        lines = [line]
        while not lines[-1].startswith("Flood limits"):
            lines.append((await asyncio.wait_for(process.stdout.readline(), 20)).decode())
        assert lines[-1].split() == ["Flood", "limits:", "off"]
        control = next(x.split()[-1] for x in lines if x.startswith("Control API"))
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base_url}{TOKEN}/getMe") as resp:
                body = await resp.json()
            assert body["result"]["username"] == "incident_test_bot"
            async with http.get(f"{control}/limits") as resp:
                assert (await resp.json())["result"] is None, "--no-limits switches them off"
    finally:
        process.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(process.wait(), 20) in (0, -signal.SIGINT)
