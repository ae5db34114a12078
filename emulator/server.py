"""The HTTP face of the emulator: the Bot API, file downloads, /control and the web chat."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiohttp import BodyPartReader, web
from aiohttp.web_request import FileField

from .core import Emulator, EmulatorError, parse_token
from .faults import DropConnection
from .models import CallbackQuery, Chat, User
from .spec import UploadedFile
from .web import ALLOWED_HOSTS_KEY, WebChat, file_response

__all__ = ["EmulatorServer", "create_app"]

EMULATOR_KEY: web.AppKey[Emulator] = web.AppKey("emulator", Emulator)
_MAX_BODY = 60 * 1024 * 1024
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _json(payload: Any, status: int = 200) -> web.Response:
    """A compact JSON response."""
    return web.Response(
        body=_dumps(payload).encode("utf-8"), status=status, content_type="application/json"
    )


async def _read_params(request: web.Request) -> dict[str, Any]:
    """Query string merged with a JSON, form or multipart body."""
    params: dict[str, Any] = dict(request.query)
    if request.method != "POST" or not request.body_exists:
        return params
    ctype = request.content_type
    if ctype == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise _BadBody("Bad Request: can't parse JSON request body") from None
        if isinstance(body, dict):
            params.update(body)
        elif body is not None:
            raise _BadBody("Bad Request: request body must be a JSON object")
    elif ctype == "multipart/form-data":
        reader = await request.multipart()
        async for part in reader:
            if not isinstance(part, BodyPartReader) or part.name is None:
                continue
            if part.filename is not None:
                data = await part.read()
                content_type = part.headers.get("Content-Type", "application/octet-stream")
                params[part.name] = UploadedFile(part.filename, content_type, bytes(data))
            else:
                params[part.name] = await part.text()
    else:
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, FileField):
                params[key] = UploadedFile(value.filename, value.content_type, value.file.read())
            elif isinstance(value, str):
                params[key] = value
            else:
                params[key] = bytes(value).decode("utf-8", "replace")
    return params


class _BadBody(Exception):
    """The request body could not be read."""


def _emu(request: web.Request) -> Emulator:
    """The emulator behind this app."""
    return request.app[EMULATOR_KEY]


async def _bot_api(request: web.Request) -> web.StreamResponse:
    """POST|GET /bot<token>/<method>."""
    emulator = _emu(request)
    token = request.match_info["token"]
    method = request.match_info["method"]
    try:
        params = await _read_params(request)
    except _BadBody as exc:
        return _json({"ok": False, "error_code": 400, "description": str(exc)}, 400)
    try:
        status, payload = await emulator.handle_request(token, method, params)
    except DropConnection:
        transport = request.transport
        if transport is not None:
            transport.abort()
        raise asyncio.CancelledError() from None
    return _json(payload, status)


async def _bot_root(request: web.Request) -> web.Response:
    """/bot<token>/ without a method: Telegram's 404."""
    return _json({"ok": False, "error_code": 404, "description": "Not Found"}, 404)


async def _download(request: web.Request) -> web.Response:
    """GET /file/bot<token>/<file_path>."""
    emulator = _emu(request)
    if parse_token(request.match_info["token"]) is None:
        return _json({"ok": False, "error_code": 401, "description": "Unauthorized"}, 401)
    stored = emulator.files_by_path.get(request.match_info["path"])
    if stored is None:
        return _json({"ok": False, "error_code": 404, "description": "Not Found"}, 404)
    return file_response(stored)


# ---------------------------------------------------------------------- control API

Route = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _control(handler: Callable[[web.Request], Awaitable[Any]]) -> Route:
    """Wrap a control handler: JSON result, EmulatorError as 400, lookups as 404."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        """Run the handler and encode its result."""
        try:
            result = await handler(request)
        except EmulatorError as exc:
            return _json({"ok": False, "error": str(exc)}, 400)
        except (KeyError, ValueError, TypeError) as exc:
            return _json({"ok": False, "error": f"bad control request: {exc!r}"}, 400)
        if isinstance(result, web.StreamResponse):
            return result
        return _json({"ok": True, "result": result})

    return wrapped


async def _body(request: web.Request) -> dict[str, Any]:
    """JSON body of a control request (empty when absent)."""
    if not request.body_exists:
        return {}
    data = await request.json()
    if not isinstance(data, dict):
        raise EmulatorError("control requests take a JSON object")
    return data


def _user_view(user: User) -> dict[str, Any]:
    """A user as the control API shows it."""
    return user.to_api()


def _chat_view(emulator: Emulator, chat: Chat) -> dict[str, Any]:
    """A chat as the control API shows it."""
    view = chat.to_api()
    if not chat.is_private:
        view["members"] = [
            {"user": chat.member_users[uid].to_api(), "status": status}
            for uid, status in chat.members.items()
        ]
        view["bots"] = {str(bid): status for bid, status in chat.bots.items()}
        view["migrated_to_chat_id"] = chat.migrated_to.id if chat.migrated_to else None
    else:
        view["started"] = chat.started
        view["blocked"] = chat.blocked
        view["bot_id"] = chat.bot_id
    return view


def _callback_view(query: CallbackQuery) -> dict[str, Any]:
    """A callback query and the bot's answer, if any."""
    answer = query.answer
    return {
        "id": query.id,
        "user_id": query.user.id,
        "chat_id": query.message.chat.id,
        "message_id": query.message.message_id,
        "data": query.data,
        "forged": query.forged,
        "answered": answer is not None,
        "answer": None
        if answer is None
        else {
            "text": answer.text,
            "show_alert": answer.show_alert,
            "url": answer.url,
            "cache_time": answer.cache_time,
        },
    }


def _chat_from(request: web.Request) -> Chat:
    """The chat named in the path (private chats by user id, with ?bot_id=)."""
    emulator = _emu(request)
    chat_id = int(request.match_info["chat_id"])
    bot_id = request.query.get("bot_id")
    return emulator.chat(chat_id, int(bot_id) if bot_id else None)


async def _c_state(request: web.Request) -> Any:
    """GET /control/state."""
    emulator = _emu(request)
    return {
        "bots": [
            {
                **b.user.to_api(),
                "pending_updates": len(b.updates),
                "webhook": b.webhook.url if b.webhook else None,
            }
            for b in emulator.bots.values()
        ],
        "users": [_user_view(u) for u in emulator.users.values()],
        "chats": [_chat_view(emulator, c) for c in emulator.chats.values()]
        + [_chat_view(emulator, c) for c in emulator.private.values()],
    }


async def _c_users_list(request: web.Request) -> Any:
    """GET /control/users."""
    return [_user_view(u) for u in _emu(request).users.values()]


async def _c_users_create(request: web.Request) -> Any:
    """POST /control/users."""
    body = await _body(request)
    name = str(body.get("first_name") or body.get("name") or "User")
    first, _, last = name.partition(" ") if "first_name" not in body else (name, "", "")
    user = _emu(request).create_user(
        first,
        last_name=body.get("last_name") or (last or None),
        username=body.get("username"),
        language_code=body.get("language_code") or _lang(body.get("lang", "en")),
        note=body.get("note"),
    )
    return _user_view(user)


def _lang(lang: str | None) -> str | None:
    """Telegram language_code for a short language name."""
    if lang is None:
        return None
    return {"zh": "zh-hans"}.get(lang, lang)


async def _c_groups_create(request: web.Request) -> Any:
    """POST /control/groups."""
    emulator = _emu(request)
    body = await _body(request)
    members = [emulator.user(int(uid)) for uid in body.get("members", [])]
    admins = [emulator.user(int(uid)) for uid in body.get("admins", [])]
    chat = emulator.create_group(
        str(body.get("title", "Group")),
        members,
        supergroup=bool(body.get("supergroup")),
        bot=body.get("bot_id"),
        bot_member=bool(body.get("bot_member", True)),
        bot_admin=bool(body.get("bot_admin")),
        admins=admins,
    )
    return _chat_view(emulator, chat)


async def _c_chats(request: web.Request) -> Any:
    """GET /control/chats."""
    emulator = _emu(request)
    chats = list(emulator.chats.values()) + list(emulator.private.values())
    return [_chat_view(emulator, c) for c in chats]


async def _c_chat(request: web.Request) -> Any:
    """GET /control/chats/{chat_id}."""
    return _chat_view(_emu(request), _chat_from(request))


async def _c_messages(request: web.Request) -> Any:
    """GET /control/chats/{chat_id}/messages."""
    emulator = _emu(request)
    chat = _chat_from(request).current
    everything = request.query.get("all") in ("1", "true")
    deleted = request.query.get("deleted") in ("1", "true")
    messages = [
        m
        for m in chat.messages.values()
        if (everything or m.sender.is_bot) and (deleted or not m.deleted)
    ]
    return [emulator.message_view(m) for m in messages]


async def _c_send(request: web.Request) -> Any:
    """POST /control/chats/{chat_id}/send."""
    emulator = _emu(request)
    chat = _chat_from(request)
    body = await _body(request)
    if "user_id" in body:
        user = emulator.user(int(body["user_id"]))
    elif chat.user is not None:
        user = chat.user
    else:
        raise EmulatorError("user_id is required in groups")
    reply_to = None
    if body.get("reply_to_message_id") is not None:
        reply_to = chat.current.messages.get(int(body["reply_to_message_id"]))
    if "album_base64" in body:
        album = [base64.b64decode(item) for item in body["album_base64"]]
        sent = emulator.send_user_album(
            user, chat, album, caption=body.get("caption"), reply_to=reply_to
        )
        return [emulator.message_view(m) for m in sent]
    photo = base64.b64decode(body["photo_base64"]) if "photo_base64" in body else None
    document = base64.b64decode(body["document_base64"]) if "document_base64" in body else None
    message = emulator.send_user_message(
        user,
        chat,
        body.get("text"),
        photo=photo,
        document=document,
        filename=body.get("filename"),
        mime_type=body.get("mime_type"),
        caption=body.get("caption"),
        reply_to=reply_to,
    )
    return emulator.message_view(message)


async def _c_edit(request: web.Request) -> Any:
    """POST /control/chats/{chat_id}/edit: a user edits their message's text or caption."""
    emulator = _emu(request)
    chat = _chat_from(request).current
    body = await _body(request)
    if "user_id" in body:
        user = emulator.user(int(body["user_id"]))
    elif chat.user is not None:
        user = chat.user
    else:
        raise EmulatorError("user_id is required in groups")
    message = chat.messages.get(int(body["message_id"]))
    if message is None:
        raise EmulatorError(f"no message {body['message_id']} in chat {chat.id}")
    text = body.get("text")
    if not isinstance(text, str):
        raise EmulatorError("text is required")
    return emulator.message_view(emulator.edit_user_message(user, message, text))


async def _c_press(request: web.Request) -> Any:
    """POST /control/chats/{chat_id}/press."""
    emulator = _emu(request)
    chat = _chat_from(request).current
    body = await _body(request)
    if "user_id" in body:
        user = emulator.user(int(body["user_id"]))
    elif chat.user is not None:
        user = chat.user
    else:
        raise EmulatorError("user_id is required in groups")
    message = chat.messages.get(int(body["message_id"]))
    if message is None:
        raise EmulatorError(f"no message {body['message_id']} in chat {chat.id}")
    if body.get("forge"):
        query = emulator.forge_callback(user, message, body.get("callback_data"))
    else:
        query = emulator.press_button(
            user, message, label=body.get("label"), data=body.get("callback_data")
        )
    wait = float(body.get("wait", 0) or 0)
    if wait > 0:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(query.answered.wait(), wait)
    return _callback_view(query)


async def _c_callback(request: web.Request) -> Any:
    """GET /control/callbacks/{query_id}."""
    query = _emu(request).callbacks.get(request.match_info["query_id"])
    if query is None:
        raise EmulatorError("unknown callback query")
    wait = float(request.query.get("wait", 0) or 0)
    if wait > 0 and query.answer is None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(query.answered.wait(), wait)
    return _callback_view(query)


async def _c_migrate(request: web.Request) -> Any:
    """POST /control/chats/{chat_id}/migrate."""
    emulator = _emu(request)
    body = await _body(request)
    by = emulator.user(int(body["by"])) if body.get("by") else None
    new = emulator.migrate_group(_chat_from(request), by)
    return _chat_view(emulator, new)


async def _c_group_bot(request: web.Request) -> Any:
    """POST /control/chats/{chat_id}/bot."""
    emulator = _emu(request)
    body = await _body(request)
    chat = _chat_from(request)
    by = emulator.user(int(body["by"]))
    action = body.get("action", "add")
    if action == "add":
        emulator.add_bot(chat, by, body.get("bot_id"), admin=bool(body.get("admin")))
    elif action == "remove":
        emulator.remove_bot(chat, by, body.get("bot_id"))
    elif action in ("promote", "demote"):
        emulator.set_bot_admin(chat, action == "promote", by, body.get("bot_id"))
    else:
        raise EmulatorError(f"unknown action {action!r}")
    return _chat_view(emulator, chat.current)


async def _c_group_members(request: web.Request) -> Any:
    """POST /control/chats/{chat_id}/members."""
    emulator = _emu(request)
    body = await _body(request)
    chat = _chat_from(request)
    user = emulator.user(int(body["user_id"]))
    by = emulator.user(int(body["by"])) if body.get("by") else None
    if body.get("action", "add") == "add":
        emulator.add_member(chat, user, by)
    else:
        emulator.remove_member(chat, user, by)
    return _chat_view(emulator, chat.current)


async def _c_block(request: web.Request) -> Any:
    """POST /control/users/{user_id}/{action:block|unblock}."""
    emulator = _emu(request)
    user = emulator.user(int(request.match_info["user_id"]))
    if request.match_info["action"] == "block":
        emulator.block_bot(user)
    else:
        emulator.unblock_bot(user)
    return _chat_view(emulator, emulator.private_chat(user))


async def _c_faults_list(request: web.Request) -> Any:
    """GET /control/faults."""
    return [f.to_dict() for f in _emu(request).faults.list()]


async def _c_faults_add(request: web.Request) -> Any:
    """POST /control/faults."""
    body = await _body(request)
    allowed = {
        "method",
        "chat_id",
        "times",
        "probability",
        "http_status",
        "retry_after",
        "description",
        "delay",
        "drop",
    }
    unknown = set(body) - allowed
    if unknown:
        raise EmulatorError(f"unknown fault fields {sorted(unknown)}")
    try:
        fault = _emu(request).faults.add(**body)
    except ValueError as exc:
        raise EmulatorError(str(exc)) from None
    return fault.to_dict()


async def _c_faults_clear(request: web.Request) -> Any:
    """DELETE /control/faults."""
    _emu(request).faults.clear()
    return True


async def _c_requests(request: web.Request) -> Any:
    """GET /control/requests."""
    emulator = _emu(request)
    since = int(request.query.get("since", 0))
    method = request.query.get("method")
    records = emulator.log.since(since)
    if method:
        records = [r for r in records if r.method.lower() == method.lower()]
    return [r.to_dict() for r in records]


async def _c_reset(request: web.Request) -> Any:
    """POST /control/reset."""
    _emu(request).reset()
    return True


async def _c_limits(request: web.Request) -> Any:
    """GET, POST and DELETE /control/limits: the flood limits in force (null: none)."""
    emulator = _emu(request)
    if request.method == "DELETE":
        emulator.disable_limits()
        return None
    if request.method == "POST":
        body = await _body(request)
        unknown = set(body) - {
            "per_second",
            "per_chat_per_second",
            "per_group_per_minute",
            "private_burst",
            "paid_per_second",
        }
        if unknown:
            raise EmulatorError(f"unknown limit fields {sorted(unknown)}")
        try:
            emulator.enforce_limits(
                body.get("per_second", 30),
                body.get("per_chat_per_second", 1),
                body.get("per_group_per_minute", 20),
                int(body.get("private_burst", 3)),
                body.get("paid_per_second", 1000),
            )
        except (TypeError, ValueError) as exc:
            raise EmulatorError(str(exc)) from None
    return emulator.limits.to_dict() if emulator.limits is not None else None


async def _c_file(request: web.Request) -> web.Response:
    """GET /control/files/{file_id}."""
    emulator = _emu(request)
    stored = emulator.files.get(request.match_info["file_id"])
    if stored is None:
        return _json({"ok": False, "error": "unknown file_id"}, 404)
    return file_response(stored)


def create_app(emulator: Emulator, *, allowed_hosts: Iterable[str] = ()) -> web.Application:
    """The aiohttp application serving the Bot API, the control API and the web chat.

    The web chat and the control API answer only requests whose Host is the server's own
    address (or localhost, 127.0.0.1, [::1], at its port), or one of `allowed_hosts`: a name
    ("sandbox.lan", at the server's port) or a name and port ("sandbox.lan:8443").
    """
    app = web.Application(client_max_size=_MAX_BODY)
    app[EMULATOR_KEY] = emulator
    app[ALLOWED_HOSTS_KEY] = frozenset(h.strip().lower() for h in allowed_hosts if h.strip())
    r = app.router
    r.add_route("*", "/bot{token}/{method}", _bot_api)
    r.add_route("*", "/bot{token}/", _bot_root)
    r.add_get("/file/bot{token}/{path:.+}", _download)
    c = "/control"
    r.add_get(f"{c}/state", _control(_c_state))
    r.add_get(f"{c}/users", _control(_c_users_list))
    r.add_post(f"{c}/users", _control(_c_users_create))
    r.add_post(f"{c}/users/{{user_id}}/{{action:block|unblock}}", _control(_c_block))
    r.add_post(f"{c}/groups", _control(_c_groups_create))
    r.add_get(f"{c}/chats", _control(_c_chats))
    r.add_get(f"{c}/chats/{{chat_id}}", _control(_c_chat))
    r.add_get(f"{c}/chats/{{chat_id}}/messages", _control(_c_messages))
    r.add_post(f"{c}/chats/{{chat_id}}/send", _control(_c_send))
    r.add_post(f"{c}/chats/{{chat_id}}/edit", _control(_c_edit))
    r.add_post(f"{c}/chats/{{chat_id}}/press", _control(_c_press))
    r.add_post(f"{c}/chats/{{chat_id}}/migrate", _control(_c_migrate))
    r.add_post(f"{c}/chats/{{chat_id}}/bot", _control(_c_group_bot))
    r.add_post(f"{c}/chats/{{chat_id}}/members", _control(_c_group_members))
    r.add_get(f"{c}/callbacks/{{query_id}}", _control(_c_callback))
    r.add_get(f"{c}/faults", _control(_c_faults_list))
    r.add_post(f"{c}/faults", _control(_c_faults_add))
    r.add_delete(f"{c}/faults", _control(_c_faults_clear))
    r.add_get(f"{c}/requests", _control(_c_requests))
    r.add_post(f"{c}/reset", _control(_c_reset))
    r.add_get(f"{c}/limits", _control(_c_limits))
    r.add_post(f"{c}/limits", _control(_c_limits))
    r.add_delete(f"{c}/limits", _control(_c_limits))
    r.add_get(f"{c}/files/{{file_id}}", _c_file)
    WebChat(emulator).register(app)
    return app


class EmulatorServer:
    """Serve an Emulator over HTTP for the lifetime of an `async with` block."""

    def __init__(
        self,
        emulator: Emulator,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        allowed_hosts: Iterable[str] = (),
    ) -> None:
        self.emulator = emulator
        self.host = host
        self.port = port
        # The name it was told to listen on is its own (a wildcard address is not a name).
        own = [] if host in ("", "0.0.0.0", "::") else [host]
        self.app = create_app(emulator, allowed_hosts=[*own, *allowed_hosts])
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """Root URL of the server."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What to give python-telegram-bot as base_url."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        """What to give python-telegram-bot as base_file_url."""
        return f"{self.url}/file/bot"

    @property
    def control_url(self) -> str:
        """Root of the control API."""
        return f"{self.url}/control"

    async def start(self) -> None:
        """Bind and start serving (port 0 picks a free port)."""
        self.emulator._closing = False
        runner = web.AppRunner(
            self.app, access_log=None, handle_signals=False, shutdown_timeout=5.0
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self._runner = runner
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = sockets[0].getsockname()[1]
        self.emulator.control_url = self.control_url

    async def stop(self) -> None:
        """Stop serving and background work."""
        await self.emulator.aclose()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> EmulatorServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
