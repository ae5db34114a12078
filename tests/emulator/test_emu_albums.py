"""Users send albums: several photo messages sharing a media_group_id, one update each."""

from __future__ import annotations

import base64

import pytest

from emulator import Emulator, EmulatorServer, TelegramWorld
from emulator.client import EmulatorClient
from tests.emulator.emu_helpers import TOKEN, ApiCall

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 16


async def test_an_album_arrives_as_one_update_per_photo(api: ApiCall, tg: TelegramWorld) -> None:
    li = tg.user("Li")
    await li.send("/start")
    sent = await li.send_album([PNG, JPEG, PNG], caption="the broken rack")
    assert len(sent) == 3
    assert len({m.media_group_id for m in sent}) == 1 and sent[0].media_group_id
    assert [m.message_id for m in sent] == [sent[0].message_id + n for n in range(3)]
    _, body = await api("getUpdates")
    album = [u["message"] for u in body["result"][1:]]
    assert len(body["result"]) == 4, "one update per photo"
    assert [m["message_id"] for m in album] == [m.message_id for m in sent]
    assert {m["media_group_id"] for m in album} == {sent[0].media_group_id}
    assert [m.get("caption") for m in album] == ["the broken rack", None, None]
    assert all(m["photo"] and "text" not in m for m in album)
    first = album[0]["photo"][-1]
    status, got = await api("getFile", file_id=first["file_id"])
    assert status == 200 and got["result"]["file_size"] == len(PNG)
    again = await li.send_album([PNG, PNG])
    assert again[0].media_group_id != sent[0].media_group_id, "each album has its own id"


async def test_album_sizes_and_group_privacy(emu: Emulator, tg: TelegramWorld) -> None:
    li = tg.user("Li")
    with pytest.raises(AssertionError, match="2 to 10 photos"):
        await li.send_album([PNG])
    with pytest.raises(AssertionError, match="2 to 10 photos"):
        await li.send_album([PNG] * 11)
    with pytest.raises(AssertionError, match="needs bytes"):
        await li.send_album([PNG, b""])
    ops = tg.group("Ops", members=[li])
    before = len(emu.default_bot.updates)
    await ops.send_album(li, [PNG, PNG], caption="no command here")
    assert len(emu.default_bot.updates) == before, "a bot in privacy mode does not see chatter"
    await ops.send_album(li, [PNG, PNG], caption="/report")
    new = [u["message"] for u in list(emu.default_bot.updates)[before:]]
    assert [m.get("caption") for m in new] == ["/report"], "only the captioned photo is for it"


async def test_album_over_the_control_api(server: EmulatorServer, emu: Emulator) -> None:
    emu.register_bot(TOKEN)
    async with EmulatorClient(server.url) as client:
        user = await client.create_user("Li")
        views = await client.send_album(user["id"], [PNG, JPEG], caption="two")
    assert [v["caption"] for v in views] == ["two", None]
    assert views[0]["media_group_id"] == views[1]["media_group_id"] is not None
    assert [u["message"]["media_group_id"] for u in emu.default_bot.updates] == [
        views[0]["media_group_id"]
    ] * 2
