"""Fault injection, the request log, and files going both ways."""

from __future__ import annotations

import asyncio
import json
import struct
import zlib

import aiohttp
import pytest
from telegram import Bot
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut
from telegram.request import HTTPXRequest

from emulator import Emulator, EmulatorServer, TelegramWorld
from emulator.testing import UserHandle
from tests.emulator.emu_helpers import TOKEN, ApiCall


def png(width: int, height: int) -> bytes:
    """A valid tiny PNG of the given size."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    raw = b"".join(b"\x00" + b"\x00\x00\x00" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
async def staff(tg: TelegramWorld) -> UserHandle:
    """A user who started the bot."""
    user = tg.user("Staff Li")
    await user.send("/start")
    return user


async def test_429_fault_with_retry_after(api: ApiCall, emu: Emulator, staff: UserHandle) -> None:
    emu.faults.add("sendMessage", http_status=429, retry_after=3)
    status, body = await api("sendMessage", chat_id=staff.id, text="x")
    assert (status, body) == (
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 3",
            "parameters": {"retry_after": 3},
        },
    )
    assert staff.messages() == [], "a refused send stores nothing"
    assert (await api("sendMessage", chat_id=staff.id, text="x"))[0] == 200, "consumed"
    record = emu.log.by_method("sendMessage")[0]
    assert record.outcome == "fault" and record.fault is not None and "429" in record.fault
    assert len(emu.faults) == 0


async def test_fault_filters_times_and_probability(
    api: ApiCall, emu: Emulator, tg: TelegramWorld, staff: UserHandle
) -> None:
    other = tg.user("Other")
    await other.send("/start")
    emu.faults.add("sendMessage", chat_id=other.id, times=2, http_status=500)
    assert (await api("sendMessage", chat_id=staff.id, text="x"))[0] == 200
    for _ in range(2):
        status, body = await api("sendMessage", chat_id=other.id, text="x")
        assert (status, body["description"]) == (500, "Internal Server Error")
    assert (await api("sendMessage", chat_id=other.id, text="x"))[0] == 200
    emu.faults.add(None, probability=0.0, http_status=500)
    assert (await api("getMe"))[0] == 200
    assert len(emu.faults) == 1, "a probability fault stays armed"
    emu.faults.clear()
    emu.faults.add(None, http_status=403)
    status, body = await api("getUpdates")
    assert status == 200, "catch-all faults leave the polling loop alone"
    status, body = await api("sendMessage", chat_id=staff.id, text="x")
    assert (status, body["description"]) == (403, "Forbidden: bot was blocked by the user")


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_faults_seen_by_python_telegram_bot(
    server: EmulatorServer, emu: Emulator, staff: UserHandle
) -> None:
    bot = Bot(TOKEN, base_url=server.base_url, base_file_url=server.base_file_url)
    async with bot:
        emu.faults.add("sendMessage", http_status=429, retry_after=2)
        with pytest.raises(RetryAfter) as caught:
            await bot.send_message(staff.id, "x")
        assert "Retry in 2 seconds" in str(caught.value)
        emu.faults.add("sendMessage", http_status=403)
        with pytest.raises(Forbidden):
            await bot.send_message(staff.id, "x")
        emu.faults.add("sendMessage", drop=True)
        with pytest.raises(NetworkError):
            await bot.send_message(staff.id, "x")
        assert emu.log.by_method("sendMessage")[-1].outcome == "dropped"
        with pytest.raises(BadRequest, match="Message text is empty"):
            await bot.send_message(staff.id, " ")


async def test_delay_makes_the_client_time_out_but_the_send_lands(
    server: EmulatorServer, emu: Emulator, staff: UserHandle
) -> None:
    request = HTTPXRequest(read_timeout=0.3)
    bot = Bot(TOKEN, base_url=server.base_url, request=request)
    async with bot:
        emu.faults.add("sendMessage", delay=1.0)
        with pytest.raises(TimedOut):
            await bot.send_message(staff.id, "slow")
        landed = await staff.wait_for("slow", timeout=5)
        assert landed.text == "slow", "like Telegram, a timed-out request may still succeed"
    assert emu.log.by_method("sendMessage")[0].fault is not None


async def test_request_log_counters(api: ApiCall, emu: Emulator, staff: UserHandle) -> None:
    emu.disable_limits()  # the counters are about a burst Telegram would slow down
    for n in range(5):
        await api("sendMessage", chat_id=staff.id, text=str(n))
    await api("sendMessage", chat_id=staff.id, text="")
    assert emu.log.accepted_sends(staff.id) == 5
    assert emu.log.accepted_sends() == 5
    assert emu.log.max_per_second(staff.id) == 5
    assert emu.log.sends_per_chat() == {staff.id: 5}
    last = emu.log.records[-1]
    assert last.outcome == "error" and last.status == 400
    assert last.chat_id == staff.id and last.received_wall > 0
    assert last.error == "Bad Request: message text is empty"


async def test_document_upload_getfile_and_download(
    server: EmulatorServer,
    api: ApiCall,
    emu: Emulator,
    staff: UserHandle,
    http: aiohttp.ClientSession,
) -> None:
    form = aiohttp.FormData()
    form.add_field("chat_id", str(staff.id))
    form.add_field("caption", "<b>report</b>")
    form.add_field("parse_mode", "HTML")
    form.add_field(
        "document", b"%PDF-1.4 data", filename="report.pdf", content_type="application/pdf"
    )
    async with http.post(f"{server.base_url}{TOKEN}/sendDocument", data=form) as response:
        body = await response.json()
    assert response.status == 200, body
    document = body["result"]["document"]
    assert document["file_name"] == "report.pdf"
    assert document["mime_type"] == "application/pdf"
    assert body["result"]["caption"] == "report"
    assert body["result"]["caption_entities"] == [{"type": "bold", "offset": 0, "length": 6}]
    sent = staff.messages()[-1]
    assert sent.document is not None and sent.document.data == b"%PDF-1.4 data"
    status, got = await api("getFile", file_id=document["file_id"])
    path = got["result"]["file_path"]
    async with http.get(f"{server.base_file_url}{TOKEN}/{path}") as response:
        assert response.status == 200
        assert await response.read() == b"%PDF-1.4 data"
    # resending by file_id reuses the stored file
    status, again = await api("sendDocument", chat_id=staff.id, document=document["file_id"])
    assert again["result"]["document"]["file_id"] == document["file_id"]
    status, body = await api("sendDocument", chat_id=staff.id, document="no-such-file")
    assert (status, body["description"]) == (
        400,
        "Bad Request: wrong file identifier/HTTP URL specified",
    )
    status, body = await api("sendPhoto", chat_id=staff.id)
    assert body["description"] == "Bad Request: there is no photo in the request"
    status, body = await api("sendMessage", chat_id=staff.id, text="x")
    async with http.get(f"{server.base_file_url}{TOKEN}/documents/nothing") as response:
        assert response.status == 404


async def test_caption_too_long(
    api: ApiCall, staff: UserHandle, server: EmulatorServer, http: aiohttp.ClientSession
) -> None:
    form = aiohttp.FormData()
    form.add_field("chat_id", str(staff.id))
    form.add_field("caption", "c" * 1025)
    form.add_field("photo", png(2, 2), filename="p.png", content_type="image/png")
    async with http.post(f"{server.base_url}{TOKEN}/sendPhoto", data=form) as response:
        body = await response.json()
    assert body["description"] == "Bad Request: message caption is too long"


async def test_user_photo_reaches_the_bot_and_downloads(
    server: EmulatorServer,
    api: ApiCall,
    emu: Emulator,
    staff: UserHandle,
    http: aiohttp.ClientSession,
) -> None:
    picture = png(64, 48)
    await staff.send_photo(picture, caption="broken switch")
    update = list(emu.default_bot.updates)[-1]["message"]
    assert update["caption"] == "broken switch"
    size = update["photo"][-1]
    assert (size["width"], size["height"]) == (64, 48)
    status, got = await api("getFile", file_id=size["file_id"])
    async with http.get(f"{server.base_file_url}{TOKEN}/{got['result']['file_path']}") as resp:
        assert await resp.read() == picture
    # the bot can send the user's photo on by file_id
    status, _body = await api("sendPhoto", chat_id=staff.id, photo=size["file_id"])
    assert status == 200
    assert staff.messages()[-1].photo is not None


async def test_media_group(
    server: EmulatorServer, staff: UserHandle, http: aiohttp.ClientSession
) -> None:
    form = aiohttp.FormData()
    form.add_field("chat_id", str(staff.id))
    form.add_field(
        "media",
        json.dumps(
            [
                {"type": "document", "media": "attach://a", "caption": "first"},
                {"type": "document", "media": "attach://b"},
            ]
        ),
    )
    form.add_field("a", b"AAA", filename="a.txt", content_type="text/plain")
    form.add_field("b", b"BBB", filename="b.csv", content_type="text/csv")
    async with http.post(f"{server.base_url}{TOKEN}/sendMediaGroup", data=form) as response:
        body = await response.json()
    assert response.status == 200, body
    messages = body["result"]
    assert len(messages) == 2
    assert messages[0]["media_group_id"] == messages[1]["media_group_id"]
    assert [m.document.data for m in staff.messages() if m.document] == [b"AAA", b"BBB"]


async def test_concurrent_sends_get_distinct_ids(
    api: ApiCall, emu: Emulator, staff: UserHandle
) -> None:
    emu.disable_limits()  # fifty at once to one person: Telegram would refuse most
    results = await asyncio.gather(
        *(api("sendMessage", chat_id=staff.id, text=str(n)) for n in range(50))
    )
    ids = [body["result"]["message_id"] for _, body in results]
    assert len(set(ids)) == 50
