"""The web chat: a Telegram-like page for acting as any user of the world, live over SSE.

It stays local: the page, its API and the control API answer only requests addressed to the
server by its own address (the `Host` header), and refuse posts from other sites (`Origin`),
so a web page elsewhere cannot drive the world through the browser of someone running the
sandbox (DNS rebinding, cross-site posts). Uploaded files are served as downloads unless
their bytes are an image the page shows, and every response carries a strict
Content-Security-Policy. These few checks are written here rather than pulled in as a
library: the rules are the server's own (its address, its page's needs).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from aiohttp import web
from aiohttp.web_request import FileField

from .core import Emulator, EmulatorError, Subscription
from .models import BotAccount, Chat, Event, Message, StoredFile, User

__all__ = [
    "ALLOWED_HOSTS_KEY",
    "CONTENT_SECURITY_POLICY",
    "STATIC_DIR",
    "WebChat",
    "file_response",
    "sniff_image",
]

STATIC_DIR = Path(__file__).parent / "static"
_SYSTEM_USER_ID = 777000
_CLOSING = "web_closing"
_KEEPALIVE_SECONDS = 15.0
_PRESS_WAIT_SECONDS = 10.0
_PREVIEW_CHARS = 80
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_Route = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Nothing but the page's own files; no inline script or style, no frames, no plugins.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
_SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
# Paths a browser is pointed at: the page, its API and the control API. The Bot API and file
# downloads are left alone: bots reach the server under any name (a container's service name)
# and they need the bot's token anyway.
_GUARDED = ("/web/", "/static/", "/control/")
# Extra Host values to accept (e.g. "sandbox.lan:8080" behind a name, or a forwarded port).
ALLOWED_HOSTS_KEY = web.AppKey("allowed_hosts", frozenset[str])
_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def sniff_image(data: bytes) -> str | None:
    """The MIME type of PNG, JPEG, GIF or WebP bytes, judged by the bytes alone; else None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def file_response(stored: StoredFile, *, download: bool = False) -> web.Response:
    """A stored file's bytes, shown inline only when they are an image, else as a download.

    The uploader's content type is not trusted: a page or a script sent as a "photo" is
    served as an attachment (with nosniff, added to every response), so it never runs here.
    """
    image = sniff_image(stored.data)
    name = stored.filename or stored.file_path.rsplit("/", 1)[-1]
    if image is not None and not download:
        content_type, kind = image, "inline"
    else:
        content_type, kind = image or stored.mime_type or "application/octet-stream", "attachment"
    return web.Response(
        body=stored.data,
        content_type=content_type,
        headers={
            "Content-Disposition": _content_disposition(kind, name),
            "Cache-Control": "private, max-age=3600",
        },
    )


def _split_host(value: str) -> tuple[str, int | None] | None:
    """A Host header's name (lowercase, IPv6 without brackets) and port; None if malformed."""
    value = value.strip().lower()
    if value.startswith("["):
        name, bracket, rest = value[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            return None
        port_text = rest[1:]
    else:
        name, _, port_text = value.partition(":")
        if ":" in port_text:
            return None
    if not name:
        return None
    if not port_text:
        return name, None
    if not port_text.isdigit():
        return None
    return name, int(port_text)


def _address(value: str) -> str:
    """An IP address in one canonical form (IPv4-mapped IPv6 as IPv4); other text as is."""
    try:
        ip = ipaddress.ip_address(value.split("%", 1)[0])
    except ValueError:
        return value.lower()
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ip)


def _own_host(request: web.Request) -> bool:
    """Whether the Host header names this server: its address and port, or loopback names."""
    header = request.headers.get("Host")
    if header is None:
        return False
    extra = request.app.get(ALLOWED_HOSTS_KEY, frozenset())
    if header.strip().lower() in extra:
        return True
    parsed = _split_host(header)
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    if parsed is None or not sockname:
        return False
    name, port = parsed
    local_ip, local_port = str(sockname[0]), int(sockname[1])
    if (port or 80) != local_port:
        return False
    names = _LOOPBACK_NAMES | {_address(local_ip)} | {h for h in extra if ":" not in h}
    return _address(name) in names


def _own_origin(request: web.Request) -> bool:
    """Whether an Origin header, when there is one, is the page's own origin."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    parts = urlsplit(origin)
    host = request.headers.get("Host", "")
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host.strip().lower()


@web.middleware
async def _stay_local(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Refuse (403, nothing done) browser-facing requests for another host or from another site."""
    if request.path == "/" or request.path.startswith(_GUARDED):
        if not _own_host(request):
            return _json({"ok": False, "error": "this server answers only to its own address"}, 403)
        if not _own_origin(request):
            return _json({"ok": False, "error": "requests from other sites are refused"}, 403)
    return await handler(request)


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Add the security headers to every response, streamed ones included."""
    for name, value in _SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


class _Forbidden(Exception):
    """The persona may not see or act in that chat."""


def _json(payload: Any, status: int = 200) -> web.Response:
    """A compact JSON response."""
    return web.Response(
        body=_dumps(payload).encode("utf-8"), status=status, content_type="application/json"
    )


def _content_disposition(kind: str, filename: str) -> str:
    """A Content-Disposition header that survives non-ASCII names (RFC 6266/5987)."""
    fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\' else "_" for ch in filename)
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def service_note(message: Message) -> str:
    """A short bilingual line describing a service message (member changes, pins...)."""
    extra = message.extra
    actor = message.sender.full_name
    if extra.get("group_chat_created"):
        return f"{actor} 创建了群组 · created the group"
    if "new_chat_members" in extra:
        names = "、".join(str(m.get("first_name", "")) for m in extra["new_chat_members"])
        joined = [m.get("id") for m in extra["new_chat_members"]]
        if joined == [message.sender.id]:
            return f"{actor} 加入了群组 · joined the group"
        return f"{actor} 添加了 {names} · added {names}"
    if "left_chat_member" in extra:
        name = str(extra["left_chat_member"].get("first_name", ""))
        if extra["left_chat_member"].get("id") == message.sender.id:
            return f"{name} 离开了群组 · left the group"
        return f"{actor} 移除了 {name} · removed {name}"
    if "pinned_message" in extra:
        return f"{actor} 置顶了一条消息 · pinned a message"
    if "migrate_to_chat_id" in extra or "migrate_from_chat_id" in extra:
        return "群组已升级为超级群组 · the group became a supergroup"
    return "服务消息 · service message"


def _preview(message: Message) -> str:
    """One line for the chat list."""
    if message.is_service:
        return service_note(message)
    if message.text is not None:
        text = message.text
    elif message.photo:
        text = "🖼 照片 Photo" + (f": {message.caption}" if message.caption else "")
    elif message.document is not None:
        text = f"📎 {message.document.filename or '文件 File'}"
    else:
        text = message.caption or ""
    line = " ".join(text.split())
    return line if len(line) <= _PREVIEW_CHARS else line[: _PREVIEW_CHARS - 1] + "…"


@dataclass(eq=False)
class _Stream:
    """One connected browser: its persona and its event subscription."""

    user: User
    subscription: Subscription


@dataclass(eq=False)
class WebChat:
    """Routes of the web chat, and what it remembers (read marks, open streams)."""

    emulator: Emulator
    # Per chat (forgotten with it, e.g. on reset): user id -> last message id read.
    read_marks: weakref.WeakKeyDictionary[Chat, dict[int, int]] = field(
        default_factory=weakref.WeakKeyDictionary
    )
    streams: set[_Stream] = field(default_factory=set)

    def register(self, app: web.Application) -> None:
        """Add the page, its static files and the /web API to an aiohttp app."""
        app.middlewares.append(_stay_local)
        app.on_response_prepare.append(_security_headers)
        r = app.router
        r.add_get("/", self.index)
        r.add_static("/static", STATIC_DIR)
        r.add_get("/web/personas", self._wrap(self.personas))
        r.add_get("/web/chats", self._wrap(self.chats))
        r.add_get("/web/chats/{chat_id}/messages", self._wrap(self.messages))
        r.add_get("/web/chats/{chat_id}/commands", self._wrap(self.commands))
        r.add_post("/web/chats/{chat_id}/send", self._wrap(self.send))
        r.add_post("/web/chats/{chat_id}/press", self._wrap(self.press))
        r.add_post("/web/chats/{chat_id}/read", self._wrap(self.read))
        r.add_get("/web/files/{file_id}", self.file)
        r.add_get("/web/events", self.events)
        app.on_shutdown.append(self._close_streams)

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _wrap(handler: Callable[[web.Request], Awaitable[Any]]) -> _Route:
        """JSON result; refusals as 400 (bad request) or 403 (not the persona's chat)."""

        async def wrapped(request: web.Request) -> web.StreamResponse:
            """Run the handler and encode its result."""
            try:
                result = await handler(request)
            except _Forbidden as exc:
                return _json({"ok": False, "error": str(exc)}, 403)
            except EmulatorError as exc:
                return _json({"ok": False, "error": str(exc)}, 400)
            except (KeyError, ValueError, TypeError) as exc:
                return _json({"ok": False, "error": f"bad request: {exc!r}"}, 400)
            return _json({"ok": True, "result": result})

        return wrapped

    def _persona(self, value: Any) -> User:
        """The user the page acts as."""
        user = self.emulator.user(int(value))
        if user.is_bot or user.id == _SYSTEM_USER_ID:
            raise EmulatorError(f"user {user.id} cannot be a persona")
        return user

    def _bot(self, value: Any) -> BotAccount | None:
        """A bot named by id, or the default bot, or None when no bot is known."""
        if value not in (None, ""):
            found = self.emulator.bots.get(int(value))
            if found is None:
                raise EmulatorError(f"unknown bot {value}")
            return found
        return next(iter(self.emulator.bots.values()), None)

    def _chat(self, request: web.Request, user: User, bot_id: Any = None) -> Chat:
        """The chat in the path, refusing chats the persona is not in."""
        chat_id = int(request.match_info["chat_id"])
        if chat_id > 0:
            if chat_id != user.id:
                raise _Forbidden("a persona only sees its own private chats")
            bot = self._bot(bot_id if bot_id is not None else request.query.get("bot_id"))
            if bot is None:
                raise EmulatorError("no bot is known yet")
            return self.emulator.private_chat(user, bot)
        chat = self.emulator.chat(chat_id).current
        if not chat.is_member(user.id):
            raise _Forbidden(f"{user.full_name} is not a member of {chat.title!r}")
        return chat

    @staticmethod
    def _visible(chat: Chat, user: User) -> bool:
        """Whether a persona sees what happens in a chat."""
        if chat.is_private:
            return chat.user is user
        return chat.is_member(user.id)

    def _unread(self, chat: Chat, user: User) -> int:
        """Messages from others the persona has not read yet."""
        mark = self.read_marks.get(chat, {}).get(user.id, 0)
        return sum(
            1
            for m in chat.messages.values()
            if m.message_id > mark and not m.deleted and not m.is_service and m.sender.id != user.id
        )

    def message(self, message: Message) -> dict[str, Any]:
        """A message as the page shows it (file links relative to the page)."""
        view = self.emulator.message_view(message)
        view.pop("edits", None)
        for key in ("photo", "document"):
            if key in view:
                view[key]["url"] = f"/web/files/{view[key]['file_id']}"
        view["sender_name"] = message.sender.full_name
        view["service_note"] = service_note(message) if message.is_service else None
        return view

    def _chat_view(self, chat: Chat, user: User) -> dict[str, Any]:
        """A chat in the persona's chat list."""
        live = [m for m in chat.messages.values() if not m.deleted]
        last = live[-1] if live else None
        if chat.is_private:
            bot = self.emulator.bots.get(chat.bot_id or 0)
            title = bot.user.first_name if bot else "Bot"
            username = bot.username if bot else None
            members = 2
        else:
            title = chat.title or ""
            username = None
            members = sum(1 for uid in chat.members if chat.is_member(uid))
        return {
            "id": chat.id,
            "bot_id": chat.bot_id,
            "type": chat.type,
            "title": title,
            "username": username,
            "members": members,
            "started": chat.started if chat.is_private else True,
            "blocked": chat.blocked,
            "last_text": _preview(last) if last else "",
            "last_date": last.date if last else 0,
            "unread": self._unread(chat, user),
            "reply_keyboard": chat.reply_keyboard,
        }

    def _chats_of(self, user: User) -> list[Chat]:
        """Private chats with every bot, then the groups the persona belongs to."""
        found = [self.emulator.private_chat(user, bot) for bot in self.emulator.bots.values()]
        found += [
            c
            for c in self.emulator.chats.values()
            if c.migrated_to is None and c.is_member(user.id)
        ]
        return found

    # ------------------------------------------------------------------ routes

    async def index(self, request: web.Request) -> web.StreamResponse:
        """GET /: the web chat page."""
        return web.FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    async def personas(self, request: web.Request) -> Any:
        """GET /web/personas: every user the page can act as, with their unread count."""
        return [
            {
                "id": u.id,
                "name": u.full_name,
                "note": u.note,
                "username": u.username,
                "language_code": u.language_code,
                "unread": sum(self._unread(c, u) for c in self._chats_of(u)),
            }
            for u in self.emulator.users.values()
            if not u.is_bot and u.id != _SYSTEM_USER_ID
        ]

    async def chats(self, request: web.Request) -> Any:
        """GET /web/chats?user_id=: the persona's chats, most recent first, with unread counts."""
        user = self._persona(request.query["user_id"])
        views = [self._chat_view(c, user) for c in self._chats_of(user)]
        views.sort(key=lambda v: -v["last_date"])
        return views

    async def messages(self, request: web.Request) -> Any:
        """GET /web/chats/{id}/messages?user_id=: the chat's history as the persona sees it."""
        user = self._persona(request.query["user_id"])
        chat = self._chat(request, user)
        return [self.message(m) for m in chat.messages.values() if not m.deleted]

    async def commands(self, request: web.Request) -> Any:
        """GET /web/chats/{id}/commands?user_id=: the bot's command menu for the persona there."""
        user = self._persona(request.query["user_id"])
        chat = self._chat(request, user)
        bot = self.emulator.bots.get(chat.bot_id or 0) if chat.is_private else self._bot(None)
        if bot is None:
            return []
        scopes: list[tuple[str, int | None, int | None]]
        if chat.is_private:
            scopes = [("chat", chat.id, None), ("all_private_chats", None, None)]
        else:
            admin = chat.members.get(user.id) in ("creator", "administrator")
            scopes = [("chat_member", chat.id, user.id)]
            scopes += [("chat_administrators", chat.id, None)] if admin else []
            scopes += [("chat", chat.id, None)]
            scopes += [("all_chat_administrators", None, None)] if admin else []
            scopes += [("all_group_chats", None, None)]
        scopes.append(("default", None, None))
        languages = [(user.language_code or "")[:2], ""]
        for scope in scopes:
            for language in languages:
                found = bot.commands.get((scope, language))
                if found:
                    return found
        return []

    async def send(self, request: web.Request) -> Any:
        """POST /web/chats/{id}/send: the persona posts text (JSON) or a photo/file (multipart)."""
        if request.content_type == "multipart/form-data":
            form = await request.post()
            user = self._persona(form["user_id"])
            chat = self._chat(request, user, form.get("bot_id"))
            upload = form["file"]
            if not isinstance(upload, FileField):
                raise EmulatorError("the file field must be a file")
            data = upload.file.read()
            if not data:
                raise EmulatorError("the file is empty")
            as_photo = form.get("kind") == "photo"
            caption = str(form.get("caption") or "") or None
            message = self.emulator.send_user_message(
                user,
                chat,
                photo=data if as_photo else None,
                document=None if as_photo else data,
                filename=upload.filename,
                mime_type=upload.content_type,
                caption=caption,
            )
        else:
            body = await request.json()
            user = self._persona(body["user_id"])
            chat = self._chat(request, user, body.get("bot_id"))
            message = self.emulator.send_user_message(user, chat, str(body.get("text", "")))
        return self.message(message)

    async def press(self, request: web.Request) -> Any:
        """POST /web/chats/{id}/press: press an inline button; waits briefly for the answer."""
        body = await request.json()
        user = self._persona(body["user_id"])
        chat = self._chat(request, user, body.get("bot_id"))
        message = chat.messages.get(int(body["message_id"]))
        if message is None or message.deleted:
            raise EmulatorError("that message is gone")
        data = body.get("callback_data")
        query = self.emulator.press_button(
            user, message, label=None if data else body.get("text"), data=data
        )
        wait = min(float(body.get("wait", _PRESS_WAIT_SECONDS)), 30.0)
        if wait > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(query.answered.wait(), wait)
        answer = query.answer
        return {
            "id": query.id,
            "answered": answer is not None,
            "answer": None
            if answer is None
            else {"text": answer.text, "show_alert": answer.show_alert, "url": answer.url},
        }

    async def read(self, request: web.Request) -> Any:
        """POST /web/chats/{id}/read: the persona has read the chat (up to message_id)."""
        body = await request.json()
        user = self._persona(body["user_id"])
        chat = self._chat(request, user, body.get("bot_id"))
        upto = body.get("message_id")
        if upto is None:
            upto = max(chat.messages, default=0)
        marks = self.read_marks.setdefault(chat, {})
        marks[user.id] = max(marks.get(user.id, 0), int(upto))
        return {"unread": self._unread(chat, user)}

    async def file(self, request: web.Request) -> web.StreamResponse:
        """GET /web/files/{file_id}[?download=1]: a photo or document's bytes."""
        stored = self.emulator.files.get(request.match_info["file_id"])
        if stored is None:
            return _json({"ok": False, "error": "unknown file"}, 404)
        return file_response(stored, download=request.query.get("download") in ("1", "true"))

    async def events(self, request: web.Request) -> web.StreamResponse:
        """GET /web/events?user_id=: server-sent events about the persona's chats."""
        try:
            user = self._persona(request.query["user_id"])
        except (KeyError, ValueError, EmulatorError) as exc:
            return _json({"ok": False, "error": f"bad request: {exc}"}, 400)
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        await response.prepare(request)
        stream = _Stream(user=user, subscription=self.emulator.subscribe())
        self.streams.add(stream)
        try:
            # The subscription exists before "hello": a page that loads after it misses nothing.
            await response.write(b"retry: 1000\nevent: hello\ndata: {}\n\n")
            while True:
                try:
                    event = await stream.subscription.get(timeout=_KEEPALIVE_SECONDS)
                except TimeoutError:
                    await response.write(b": keep-alive\n\n")
                    continue
                if event.kind == _CLOSING:
                    break
                payload = self._event_payload(event, user)
                if payload is not None:
                    await response.write(b"data: " + _dumps(payload).encode("utf-8") + b"\n\n")
        except ConnectionError:
            pass  # the page went away
        finally:
            stream.subscription.close()
            self.streams.discard(stream)
        return response

    def _event_payload(self, event: Event, user: User) -> dict[str, Any] | None:
        """What one world event means to a persona's page (None: nothing it can see)."""
        if event.kind == "reset":
            return {"type": "reset"}
        if event.kind == "chat":
            return {"type": "chats"}
        if event.kind in ("message", "edit", "delete") and event.message is not None:
            chat = event.message.chat
            if not self._visible(chat, user):
                # Someone else got a message: only the persona switcher's counts change.
                return {"type": "elsewhere"} if event.kind == "message" else None
            return {
                "type": event.kind,
                "chat_id": chat.id,
                "bot_id": chat.bot_id,
                "message": self.message(event.message),
            }
        return None

    async def _close_streams(self, app: web.Application) -> None:
        """End every open event stream so the server can stop at once."""
        for stream in list(self.streams):
            stream.subscription.queue.put_nowait(Event(_CLOSING))
