"""The web chat's routes: the page, personas, chats, the event stream, sending, pressing, files."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from emulator import Emulator, EmulatorServer
from emulator.models import User
from emulator.web import STATIC_DIR
from tests.emulator.emu_helpers import TOKEN, ApiCall

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00"
    b"\x00\x00\x00IEND\xaeB`\x82"
)


class EventStream:
    """A reader of the server-sent events of one persona."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response

    async def next(self, timeout: float = 5.0) -> tuple[str, dict[str, Any]]:  # noqa: ASYNC109
        """The next event's name and data (comments and keep-alives skipped)."""
        name, data = "message", ""
        while True:
            raw = await asyncio.wait_for(self.response.content.readline(), timeout)
            if not raw:
                raise EOFError("the stream ended")
            line = raw.decode("utf-8").rstrip("\n")
            if not line:
                if data:
                    return name, json.loads(data)
                name = "message"
                continue
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                data += line[len("data: ") :]


@pytest.fixture
def world(emu: Emulator) -> dict[str, Any]:
    """Two people, the bot, a group with only one of them, and a started private chat."""
    bot = emu.register_bot(TOKEN)
    li = emu.create_user("Li", note="员工 · Staff", language_code="zh-hans")
    wang = emu.create_user("Wang", note="组长 · Leader")
    group = emu.create_group("Leaders", [wang])
    emu.send_user_message(li, emu.private_chat(li), "/start")
    return {"bot": bot, "li": li, "wang": wang, "group": group}


async def _get(http: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    """GET a /web route: status and JSON body."""
    async with http.get(url) as response:
        return response.status, await response.json()


async def _post(http: aiohttp.ClientSession, url: str, **kwargs: Any) -> tuple[int, Any]:
    """POST to a /web route: status and JSON body."""
    async with http.post(url, **kwargs) as response:
        return response.status, await response.json()


@pytest.fixture
async def events(
    server: EmulatorServer, http: aiohttp.ClientSession, world: dict[str, Any]
) -> AsyncIterator[EventStream]:
    """Li's event stream, open and greeted."""
    async with http.get(f"{server.url}/web/events?user_id={world['li'].id}") as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        stream = EventStream(response)
        assert await stream.next() == ("hello", {})
        yield stream


async def test_the_page_and_its_files_are_served_and_fetch_nothing_from_elsewhere(
    server: EmulatorServer, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{server.url}/") as response:
        page = await response.text()
    assert response.status == 200 and "沙盒" in page and "Nothing leaves this machine" in page
    for name in ("app.js", "style.css"):
        async with http.get(f"{server.url}/static/{name}") as response:
            assert response.status == 200
    for path in STATIC_DIR.iterdir():
        text = path.read_text(encoding="utf-8")
        assert "http://" not in text and "https://" not in text, path.name
        assert "@import" not in text and "url(" not in text.replace('url("data:', ""), path.name


async def test_personas_and_their_chats_with_unread_counts(
    server: EmulatorServer, http: aiohttp.ClientSession, api: ApiCall, world: dict[str, Any]
) -> None:
    li, wang, group = world["li"], world["wang"], world["group"]
    status, body = await _get(http, f"{server.url}/web/personas")
    assert status == 200
    assert [(p["name"], p["note"]) for p in body["result"]] == [
        ("Li", "员工 · Staff"),
        ("Wang", "组长 · Leader"),
    ]
    await api("sendMessage", chat_id=li.id, text="<b>hello</b> Li", parse_mode="HTML")
    await api("sendMessage", chat_id=group.id, text="card")
    li_chats = (await _get(http, f"{server.url}/web/chats?user_id={li.id}"))[1]["result"]
    assert [(c["type"], c["title"], c["unread"]) for c in li_chats] == [
        ("private", "Incident Test Bot", 1)
    ]
    assert li_chats[0]["last_text"] == "hello Li" and li_chats[0]["started"] is True
    wang_chats = (await _get(http, f"{server.url}/web/chats?user_id={wang.id}"))[1]["result"]
    by_title = {c["title"]: c for c in wang_chats}
    assert by_title["Leaders"]["unread"] == 1 and by_title["Leaders"]["members"] == 1
    assert by_title["Incident Test Bot"]["started"] is False
    personas = (await _get(http, f"{server.url}/web/personas"))[1]["result"]
    assert [p["unread"] for p in personas] == [1, 1]

    status, read = await _post(
        http, f"{server.url}/web/chats/{group.id}/read", json={"user_id": wang.id}
    )
    assert status == 200 and read == {"ok": True, "result": {"unread": 0}}
    wang_chats = (await _get(http, f"{server.url}/web/chats?user_id={wang.id}"))[1]["result"]
    assert {c["title"]: c["unread"] for c in wang_chats}["Leaders"] == 0

    _, messages = await _get(http, f"{server.url}/web/chats/{li.id}/messages?user_id={li.id}")
    assert [m["html"] for m in messages["result"]] == ["/start", "<b>hello</b> Li"]
    assert messages["result"][1]["sender_name"] == "Incident Test Bot"
    _, group_messages = await _get(
        http, f"{server.url}/web/chats/{group.id}/messages?user_id={wang.id}"
    )
    first = group_messages["result"][0]
    assert first["service_note"] == "Wang 创建了群组 · created the group"


async def test_a_persona_cannot_look_into_chats_it_is_not_in(
    server: EmulatorServer, http: aiohttp.ClientSession, world: dict[str, Any]
) -> None:
    li, wang, group = world["li"], world["wang"], world["group"]
    status, body = await _get(http, f"{server.url}/web/chats/{group.id}/messages?user_id={li.id}")
    assert status == 403 and "not a member" in body["error"]
    status, _ = await _get(http, f"{server.url}/web/chats/{wang.id}/messages?user_id={li.id}")
    assert status == 403
    status, _ = await _post(
        http, f"{server.url}/web/chats/{group.id}/send", json={"user_id": li.id, "text": "hi"}
    )
    assert status == 403
    status, body = await _get(http, f"{server.url}/web/chats?user_id=777000")
    assert status == 400


async def test_event_stream_carries_what_the_persona_sees_and_nothing_else(
    server: EmulatorServer,
    http: aiohttp.ClientSession,
    api: ApiCall,
    world: dict[str, Any],
    events: EventStream,
    emu: Emulator,
) -> None:
    li, group = world["li"], world["group"]
    await api("sendMessage", chat_id=group.id, text="only for the leaders")
    assert (await events.next())[1] == {"type": "elsewhere"}
    _, body = await api("sendMessage", chat_id=li.id, text="step <i>one</i>", parse_mode="HTML")
    mid = body["result"]["message_id"]
    kind, event = await events.next()
    assert (kind, event["type"], event["chat_id"]) == ("message", "message", li.id)
    assert event["message"]["html"] == "step <i>one</i>" and event["bot_id"] == world["bot"].id
    await api("editMessageText", chat_id=li.id, message_id=mid, text="step two")
    _, event = await events.next()
    assert event["type"] == "edit" and event["message"]["message_id"] == mid
    assert event["message"]["html"] == "step two" and event["message"]["edit_count"] == 1
    await api("deleteMessage", chat_id=li.id, message_id=mid)
    _, event = await events.next()
    assert (event["type"], event["message"]["message_id"]) == ("delete", mid)
    emu.reset()
    assert (await events.next())[1] == {"type": "reset"}


async def test_sending_text_as_a_persona_reaches_the_bot(
    server: EmulatorServer,
    http: aiohttp.ClientSession,
    api: ApiCall,
    world: dict[str, Any],
    events: EventStream,
) -> None:
    li = world["li"]
    status, body = await _post(
        http, f"{server.url}/web/chats/{li.id}/send", json={"user_id": li.id, "text": "/report"}
    )
    assert status == 200 and body["result"]["text"] == "/report"
    assert body["result"]["entities"] == [{"type": "bot_command", "offset": 0, "length": 7}]
    _, event = await events.next()
    assert event["type"] == "message" and event["message"]["from"]["id"] == li.id
    _, updates = await api("getUpdates", offset=0)
    assert updates["result"][-1]["message"]["text"] == "/report"
    status, body = await _post(
        http, f"{server.url}/web/chats/{li.id}/send", json={"user_id": li.id, "text": "  "}
    )
    assert status == 400 and "empty" in body["error"]


async def test_uploading_a_photo_and_a_file_and_downloading_them(
    server: EmulatorServer, http: aiohttp.ClientSession, api: ApiCall, world: dict[str, Any]
) -> None:
    li = world["li"]
    photo = aiohttp.FormData()
    photo.add_field("user_id", str(li.id))
    photo.add_field("kind", "photo")
    photo.add_field("caption", "the screen")
    photo.add_field("file", PNG, filename="screen.png", content_type="image/png")
    status, body = await _post(http, f"{server.url}/web/chats/{li.id}/send", data=photo)
    assert status == 200
    sent = body["result"]
    assert sent["photo"]["url"] == f"/web/files/{sent['photo']['file_id']}"
    assert sent["caption"] == "the screen"
    async with http.get(f"{server.url}{sent['photo']['url']}") as response:
        assert response.content_type == "image/png", "the type the bytes have"
        assert await response.read() == PNG
        assert response.headers["Content-Disposition"].startswith("inline")

    name = "情况报告 2026-0001.docx"
    document = aiohttp.FormData(quote_fields=False)  # raw UTF-8 names, as browsers send
    document.add_field("user_id", str(li.id))
    document.add_field("kind", "document")
    document.add_field("file", b"PK\x03\x04 report", filename=name)
    status, body = await _post(http, f"{server.url}/web/chats/{li.id}/send", data=document)
    assert status == 200
    doc = body["result"]["document"]
    assert doc["file_name"] == name and doc["mime_type"].endswith("wordprocessingml.document")
    _, updates = await api("getUpdates", offset=0)
    assert updates["result"][-1]["message"]["document"]["file_name"] == name
    async with http.get(f"{server.url}{doc['url']}?download=1") as response:
        assert await response.read() == b"PK\x03\x04 report"
        disposition = response.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="')
    assert "filename*=UTF-8''%E6%83%85%E5%86%B5" in disposition
    async with http.get(f"{server.url}/web/files/nope") as response:
        assert response.status == 404

    empty = aiohttp.FormData()
    empty.add_field("user_id", str(li.id))
    empty.add_field("file", b"", filename="empty.txt")
    status, body = await _post(http, f"{server.url}/web/chats/{li.id}/send", data=empty)
    assert status == 400 and "empty" in body["error"]


async def test_pressing_a_button_waits_for_the_bots_answer(
    server: EmulatorServer, http: aiohttp.ClientSession, api: ApiCall, world: dict[str, Any]
) -> None:
    wang, group = world["wang"], world["group"]
    markup = {"inline_keyboard": [[{"text": "✅ 确认", "callback_data": "inc:ack:1"}]]}
    _, body = await api("sendMessage", chat_id=group.id, text="card", reply_markup=markup)
    mid = body["result"]["message_id"]
    _, pending = await api("getUpdates", offset=0)
    offset = max((u["update_id"] for u in pending["result"]), default=0) + 1
    url = f"{server.url}/web/chats/{group.id}/press"
    press = asyncio.ensure_future(
        _post(http, url, json={"user_id": wang.id, "message_id": mid, "callback_data": "inc:ack:1"})
    )
    _, updates = await api("getUpdates", offset=offset, timeout=5)
    query = updates["result"][0]["callback_query"]
    assert query["data"] == "inc:ack:1" and query["from"]["id"] == wang.id
    await api("answerCallbackQuery", callback_query_id=query["id"], text="已确认", show_alert=True)
    status, body = await press
    assert status == 200
    assert body["result"]["answer"] == {"text": "已确认", "show_alert": True, "url": None}

    status, body = await _post(
        http, url, json={"user_id": wang.id, "message_id": mid, "text": "✅ 确认", "wait": 0}
    )
    assert status == 200 and body["result"]["answered"] is False
    status, body = await _post(
        http, url, json={"user_id": wang.id, "message_id": mid, "callback_data": "gone"}
    )
    assert status == 400 and "no button" in body["error"]


async def test_the_command_menu_follows_telegrams_scopes(
    server: EmulatorServer, http: aiohttp.ClientSession, api: ApiCall, world: dict[str, Any]
) -> None:
    li, wang, group = world["li"], world["wang"], world["group"]
    everyone = [{"command": "help", "description": "help"}]
    chinese = [{"command": "report", "description": "报告"}]
    groups = [{"command": "bind", "description": "bind"}]
    await api("setMyCommands", commands=everyone)
    await api("setMyCommands", commands=chinese, language_code="zh")
    await api("setMyCommands", commands=groups, scope={"type": "all_group_chats"})
    _, body = await _get(http, f"{server.url}/web/chats/{li.id}/commands?user_id={li.id}")
    assert body["result"] == chinese
    _, body = await _get(http, f"{server.url}/web/chats/{wang.id}/commands?user_id={wang.id}")
    assert body["result"] == everyone
    _, body = await _get(http, f"{server.url}/web/chats/{group.id}/commands?user_id={wang.id}")
    assert body["result"] == groups


async def test_stopping_the_server_ends_open_event_streams_at_once(
    emu: Emulator, world: dict[str, Any]
) -> None:
    li: User = world["li"]
    server = EmulatorServer(emu, port=0)
    await server.start()
    async with aiohttp.ClientSession() as http:
        response = await http.get(f"{server.url}/web/events?user_id={li.id}")
        stream = EventStream(response)
        assert (await stream.next())[0] == "hello"
        started = time.monotonic()
        await server.stop()
        assert time.monotonic() - started < 2
        with pytest.raises((EOFError, aiohttp.ClientPayloadError)):
            await stream.next()
        response.release()
