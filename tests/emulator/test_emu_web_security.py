"""The web chat stays local: foreign Host and Origin are refused, uploads cannot run as pages."""

from __future__ import annotations

import base64
from html.parser import HTMLParser
from typing import Any

import aiohttp
import pytest

from emulator import Emulator, EmulatorServer
from emulator.web import CONTENT_SECURITY_POLICY, STATIC_DIR, sniff_image
from tests.emulator.emu_helpers import TOKEN, ApiCall

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
SCRIPT = b"<html><script>fetch('/control/reset', {method: 'POST'})</script></html>"


@pytest.fixture
def li(emu: Emulator) -> Any:
    """A persona who has started the bot."""
    emu.register_bot(TOKEN)
    user = emu.create_user("Li")
    emu.private_chat(user).started = True
    return user


async def send_text(
    http: aiohttp.ClientSession, url: str, user_id: int, **headers: str
) -> tuple[int, dict[str, Any]]:
    """POST a text as a persona, with extra request headers."""
    async with http.post(url, json={"user_id": user_id, "text": "hi"}, headers=headers) as r:
        return r.status, await r.json()


async def upload(
    http: aiohttp.ClientSession,
    server: EmulatorServer,
    user_id: int,
    kind: str,
    data: bytes,
    **f: str,
) -> dict[str, Any]:
    """Upload a file through the web chat as the page does; returns the message view."""
    form = aiohttp.FormData()
    form.add_field("user_id", str(user_id))
    form.add_field("kind", kind)
    form.add_field("file", data, filename=f["filename"], content_type=f["content_type"])
    async with http.post(f"{server.url}/web/chats/{user_id}/send", data=form) as response:
        assert response.status == 200
        result: dict[str, Any] = (await response.json())["result"]
        return result


async def test_a_foreign_host_is_refused_and_nothing_happens(
    server: EmulatorServer, http: aiohttp.ClientSession, emu: Emulator, li: Any
) -> None:
    """DNS rebinding: a page on evil.example resolving to 127.0.0.1 sends Host: evil.example."""
    port = server.port
    send = f"{server.url}/web/chats/{li.id}/send"
    for host in ("evil.example", f"evil.example:{port}", "127.0.0.1:1", f"localhost.evil:{port}"):
        status, body = await send_text(http, send, li.id, Host=host)
        assert status == 403 and "own address" in body["error"], host
        for path in ("/", "/static/app.js", "/web/personas", "/control/state"):
            async with http.get(f"{server.url}{path}", headers={"Host": host}) as response:
                assert response.status == 403, (host, path)
        async with http.post(f"{server.url}/control/reset", headers={"Host": host}) as response:
            assert response.status == 403
    assert emu.private_chat(li).messages == {}, "a refused send posts nothing"
    assert emu.users, "a refused reset resets nothing"
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST:{port}", f"[::1]:{port}"):
        async with http.get(f"{server.url}/web/personas", headers={"Host": host}) as response:
            assert response.status == 200, host
    status, _ = await send_text(http, send, li.id)
    assert status == 200 and len(emu.private_chat(li).messages) == 1


async def test_the_bot_api_answers_under_any_name(
    server: EmulatorServer, http: aiohttp.ClientSession
) -> None:
    """Bots reach the server by a service name; their token is what they show."""
    url = f"{server.base_url}{TOKEN}/getMe"
    async with http.get(url, headers={"Host": "emulator:8081"}) as response:
        assert response.status == 200


async def test_a_post_from_another_site_is_refused(
    server: EmulatorServer, http: aiohttp.ClientSession, emu: Emulator, li: Any
) -> None:
    send = f"{server.url}/web/chats/{li.id}/send"
    for origin in ("http://evil.example", "null", f"http://localhost:{server.port}", "file://"):
        status, body = await send_text(http, send, li.id, Origin=origin)
        assert status == 403 and "other sites" in body["error"], origin
    async with http.post(
        f"{server.url}/control/reset", headers={"Origin": "http://evil.example"}
    ) as response:
        assert response.status == 403
    assert emu.private_chat(li).messages == {} and emu.users
    status, _ = await send_text(http, send, li.id, Origin=server.url)
    assert status == 200, "the page's own origin may post"


async def test_a_script_sent_as_a_photo_downloads_and_never_runs(
    server: EmulatorServer, http: aiohttp.ClientSession, api: ApiCall, li: Any
) -> None:
    sent = await upload(
        http, server, li.id, "photo", SCRIPT, filename="x.png", content_type="image/png"
    )
    async with http.get(f"{server.url}{sent['photo']['url']}") as response:
        assert response.status == 200 and await response.read() == SCRIPT
        assert response.headers["Content-Disposition"].startswith("attachment;")
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert not response.content_type.startswith(("image/", "text/"))
    page = await upload(
        http, server, li.id, "document", SCRIPT, filename="page.html", content_type="text/html"
    )
    file_id = page["document"]["file_id"]
    for path in (f"/web/files/{file_id}", f"/control/files/{file_id}"):
        async with http.get(f"{server.url}{path}") as response:
            assert response.headers["Content-Disposition"].startswith("attachment;"), path
            assert response.headers["X-Content-Type-Options"] == "nosniff"
    _, got = await api("getFile", file_id=file_id)
    async with http.get(f"{server.base_file_url}{TOKEN}/{got['result']['file_path']}") as response:
        assert response.headers["Content-Disposition"].startswith("attachment;")


async def test_real_images_show_inline_by_their_bytes(
    server: EmulatorServer, http: aiohttp.ClientSession, li: Any
) -> None:
    """A PNG shows inline as image/png even when the uploader called it something else."""
    sent = await upload(
        http, server, li.id, "document", PNG, filename="chart", content_type="text/html"
    )
    url = f"{server.url}{sent['document']['url']}"
    async with http.get(url) as response:
        assert response.content_type == "image/png"
        assert response.headers["Content-Disposition"].startswith("inline;")
    async with http.get(f"{url}?download=1") as response:
        assert response.headers["Content-Disposition"].startswith("attachment;")
    assert sniff_image(b"\xff\xd8\xff\xe0....") == "image/jpeg"
    assert sniff_image(b"GIF89a......") == "image/gif"
    assert sniff_image(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert sniff_image(b"<svg xmlns='http://www.w3.org/2000/svg'/>") is None


async def test_every_response_carries_a_strict_policy(
    server: EmulatorServer, http: aiohttp.ClientSession, li: Any
) -> None:
    paths = ["/", "/static/app.js", "/web/personas", "/web/files/nope", f"/bot{TOKEN}/getMe"]
    for path in paths:
        async with http.get(f"{server.url}{path}") as response:
            policy = response.headers.get("Content-Security-Policy")
            assert policy == CONTENT_SECURITY_POLICY, path
            assert response.headers["X-Content-Type-Options"] == "nosniff"
    async with http.get(f"{server.url}/", headers={"Host": "evil.example"}) as response:
        assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    async with http.get(f"{server.url}/web/events?user_id={li.id}") as response:
        assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    directives = dict(d.strip().split(" ", 1) for d in CONTENT_SECURITY_POLICY.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'", "no inline script, no eval"
    assert directives["img-src"] == "'self' data: blob:"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in CONTENT_SECURITY_POLICY


class _Inline(HTMLParser):
    """Finds what a strict policy would block in a page: inline script, handlers, styles."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if tag == "script" and "src" not in names:
            self.found.append("inline <script>")
        if tag == "style":
            self.found.append("inline <style>")
        self.found += [f"{tag} {name}=" for name in names if name.startswith("on")]
        self.found += [f"{tag} style=" for name in names if name == "style"]


def test_the_page_needs_nothing_the_policy_blocks() -> None:
    parser = _Inline()
    parser.feed((STATIC_DIR / "index.html").read_text(encoding="utf-8"))
    assert parser.found == []
    script = (STATIC_DIR / "app.js").read_text(encoding="utf-8")
    for blocked in ("eval(", "new Function", 'setAttribute("style"', "javascript:"):
        assert blocked not in script, blocked


async def test_extra_names_can_be_allowed(http: aiohttp.ClientSession) -> None:
    emu = Emulator()
    async with EmulatorServer(emu, allowed_hosts=["sandbox.lan", "proxy.lan:8443"]) as server:
        for host, status in (
            (f"sandbox.lan:{server.port}", 200),
            ("sandbox.lan:1", 403),
            ("proxy.lan:8443", 200),
            (f"proxy.lan:{server.port}", 403),
        ):
            async with http.get(f"{server.url}/web/personas", headers={"Host": host}) as response:
                assert response.status == status, host
