"""An async Python client for the emulator's /control HTTP API."""

from __future__ import annotations

import base64
from typing import Any

import aiohttp

__all__ = ["ControlError", "EmulatorClient"]


class ControlError(RuntimeError):
    """The control API refused a request."""


class EmulatorClient:
    """Drive a running emulator over HTTP (`async with EmulatorClient(url) as c: ...`)."""

    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        if self.url.endswith("/control"):
            self.url = self.url[: -len("/control")]
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> EmulatorClient:
        self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        """The session, opened on first use."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        """One control request; returns its result or raises ControlError."""
        url = f"{self.url}/control{path}"
        query = {k: str(v) for k, v in (params or {}).items() if v is not None}
        async with self._http().request(method, url, json=body, params=query) as response:
            data = await response.json()
        if not data.get("ok"):
            raise ControlError(data.get("error", f"HTTP {response.status}"))
        return data.get("result")

    async def state(self) -> dict[str, Any]:
        """Bots, users and chats."""
        result: dict[str, Any] = await self._call("GET", "/state")
        return result

    async def create_user(
        self, name: str, *, lang: str | None = "en", username: str | None = None
    ) -> dict[str, Any]:
        """Create a user ("First Last"); returns the User object."""
        body: dict[str, Any] = {"name": name, "username": username}
        if lang is not None:
            body["lang"] = lang
        result: dict[str, Any] = await self._call("POST", "/users", body)
        return result

    async def create_group(
        self,
        title: str,
        members: list[int],
        *,
        supergroup: bool = False,
        bot_member: bool = True,
        bot_admin: bool = False,
        admins: list[int] | None = None,
    ) -> dict[str, Any]:
        """Create a group; returns the chat with its members."""
        result: dict[str, Any] = await self._call(
            "POST",
            "/groups",
            {
                "title": title,
                "members": members,
                "supergroup": supergroup,
                "bot_member": bot_member,
                "bot_admin": bot_admin,
                "admins": admins or [],
            },
        )
        return result

    async def send(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int | None = None,
        reply_to_message_id: int | None = None,
    ) -> dict[str, Any]:
        """Post text as a user (in private chats chat_id is the user's id)."""
        body: dict[str, Any] = {"text": text}
        if user_id is not None:
            body["user_id"] = user_id
        if reply_to_message_id is not None:
            body["reply_to_message_id"] = reply_to_message_id
        result: dict[str, Any] = await self._call("POST", f"/chats/{chat_id}/send", body)
        return result

    async def send_album(
        self,
        chat_id: int,
        photos: list[bytes],
        *,
        user_id: int | None = None,
        caption: str | None = None,
    ) -> list[dict[str, Any]]:
        """Post 2-10 photos as one album (one message each, sharing a media_group_id)."""
        body: dict[str, Any] = {
            "album_base64": [base64.b64encode(p).decode() for p in photos],
            "caption": caption,
        }
        if user_id is not None:
            body["user_id"] = user_id
        result: list[dict[str, Any]] = await self._call("POST", f"/chats/{chat_id}/send", body)
        return result

    async def edit(
        self, chat_id: int, message_id: int, text: str, *, user_id: int | None = None
    ) -> dict[str, Any]:
        """Edit a user's message (its text, or its caption); the bot gets edited_message."""
        body: dict[str, Any] = {"message_id": message_id, "text": text}
        if user_id is not None:
            body["user_id"] = user_id
        result: dict[str, Any] = await self._call("POST", f"/chats/{chat_id}/edit", body)
        return result

    async def send_photo(
        self, chat_id: int, data: bytes, *, user_id: int | None = None, caption: str | None = None
    ) -> dict[str, Any]:
        """Post a photo as a user."""
        body: dict[str, Any] = {"photo_base64": base64.b64encode(data).decode(), "caption": caption}
        if user_id is not None:
            body["user_id"] = user_id
        result: dict[str, Any] = await self._call("POST", f"/chats/{chat_id}/send", body)
        return result

    async def send_document(
        self,
        chat_id: int,
        data: bytes,
        filename: str,
        *,
        user_id: int | None = None,
        caption: str | None = None,
        mime_type: str | None = None,
    ) -> dict[str, Any]:
        """Post a document as a user."""
        body: dict[str, Any] = {
            "document_base64": base64.b64encode(data).decode(),
            "filename": filename,
            "caption": caption,
            "mime_type": mime_type,
        }
        if user_id is not None:
            body["user_id"] = user_id
        result: dict[str, Any] = await self._call("POST", f"/chats/{chat_id}/send", body)
        return result

    async def press(
        self,
        chat_id: int,
        message_id: int,
        *,
        label: str | None = None,
        callback_data: str | None = None,
        user_id: int | None = None,
        forge: bool = False,
        wait: float = 5.0,
    ) -> dict[str, Any]:
        """Press a button; waits up to `wait` seconds for the bot's answer."""
        body: dict[str, Any] = {
            "message_id": message_id,
            "label": label,
            "callback_data": callback_data,
            "forge": forge,
            "wait": wait,
        }
        if user_id is not None:
            body["user_id"] = user_id
        result: dict[str, Any] = await self._call("POST", f"/chats/{chat_id}/press", body)
        return result

    async def callback(self, query_id: str, *, wait: float = 0.0) -> dict[str, Any]:
        """A callback query and its answer."""
        result: dict[str, Any] = await self._call(
            "GET", f"/callbacks/{query_id}", params={"wait": wait}
        )
        return result

    async def messages(
        self, chat_id: int, *, include_users: bool = False, include_deleted: bool = False
    ) -> list[dict[str, Any]]:
        """A chat's messages (bot messages unless include_users)."""
        params = {
            "all": "1" if include_users else None,
            "deleted": "1" if include_deleted else None,
        }
        result: list[dict[str, Any]] = await self._call(
            "GET", f"/chats/{chat_id}/messages", params=params
        )
        return result

    async def migrate(self, chat_id: int, *, by: int | None = None) -> dict[str, Any]:
        """Upgrade a group to a supergroup; returns the new chat."""
        result: dict[str, Any] = await self._call("POST", f"/chats/{chat_id}/migrate", {"by": by})
        return result

    async def block(self, user_id: int) -> None:
        """The user blocks the bot."""
        await self._call("POST", f"/users/{user_id}/block")

    async def unblock(self, user_id: int) -> None:
        """The user unblocks the bot."""
        await self._call("POST", f"/users/{user_id}/unblock")

    async def add_bot(self, chat_id: int, *, by: int, admin: bool = False) -> dict[str, Any]:
        """A member adds the bot to a group."""
        result: dict[str, Any] = await self._call(
            "POST", f"/chats/{chat_id}/bot", {"action": "add", "by": by, "admin": admin}
        )
        return result

    async def remove_bot(self, chat_id: int, *, by: int) -> dict[str, Any]:
        """A member removes the bot from a group."""
        result: dict[str, Any] = await self._call(
            "POST", f"/chats/{chat_id}/bot", {"action": "remove", "by": by}
        )
        return result

    async def add_fault(self, **fault: Any) -> dict[str, Any]:
        """Arm a fault (same fields as FaultSet.add)."""
        result: dict[str, Any] = await self._call("POST", "/faults", fault)
        return result

    async def faults(self) -> list[dict[str, Any]]:
        """Armed faults."""
        result: list[dict[str, Any]] = await self._call("GET", "/faults")
        return result

    async def clear_faults(self) -> None:
        """Disarm all faults."""
        await self._call("DELETE", "/faults")

    async def requests(self, *, since: int = 0, method: str | None = None) -> list[dict[str, Any]]:
        """The request log (records after `since`)."""
        result: list[dict[str, Any]] = await self._call(
            "GET", "/requests", params={"since": since, "method": method}
        )
        return result

    async def enforce_limits(
        self,
        per_second: float | None = 30,
        per_chat_per_second: float | None = 1,
        per_group_per_minute: float | None = 20,
        private_burst: int = 3,
        paid_per_second: float | None = 1000,
    ) -> dict[str, Any]:
        """Enforce these flood limits (Telegram's by default), counting afresh."""
        result: dict[str, Any] = await self._call(
            "POST",
            "/limits",
            {
                "per_second": per_second,
                "per_chat_per_second": per_chat_per_second,
                "per_group_per_minute": per_group_per_minute,
                "private_burst": private_burst,
                "paid_per_second": paid_per_second,
            },
        )
        return result

    async def limits(self) -> dict[str, Any] | None:
        """The flood limits in force (None: switched off)."""
        result: dict[str, Any] | None = await self._call("GET", "/limits")
        return result

    async def disable_limits(self) -> None:
        """Switch flood limits off."""
        await self._call("DELETE", "/limits")

    async def reset(self) -> None:
        """Empty the world."""
        await self._call("POST", "/reset")

    async def file_bytes(self, file_id: str) -> bytes:
        """The bytes of a stored file."""
        async with self._http().get(f"{self.url}/control/files/{file_id}") as response:
            if response.status != 200:
                raise ControlError(f"file {file_id}: HTTP {response.status}")
            return await response.read()
