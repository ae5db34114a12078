"""The emulator's world: users, bots, chats, messages, files and callback queries."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BotAccount",
    "CallbackAnswer",
    "CallbackQuery",
    "Chat",
    "Edit",
    "Event",
    "Message",
    "StoredFile",
    "User",
    "WebhookConfig",
]

ACTIVE_STATUSES = frozenset({"creator", "administrator", "member", "restricted"})
_ADMIN_RIGHTS = (
    "can_manage_chat",
    "can_delete_messages",
    "can_manage_video_chats",
    "can_restrict_members",
    "can_promote_members",
    "can_change_info",
    "can_invite_users",
    "can_post_stories",
    "can_edit_stories",
    "can_delete_stories",
    "can_pin_messages",
)


@dataclass(eq=False)
class User:
    """A Telegram user (or a bot's own user record)."""

    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    is_bot: bool = False
    # Shown under the name in the web chat (e.g. the person's role); never sent to bots.
    note: str | None = None

    @property
    def full_name(self) -> str:
        """First and last name joined."""
        return f"{self.first_name} {self.last_name}" if self.last_name else self.first_name

    def to_api(self) -> dict[str, Any]:
        """The Bot API `User` object."""
        data: dict[str, Any] = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        if self.last_name:
            data["last_name"] = self.last_name
        if self.username:
            data["username"] = self.username
        if self.language_code and not self.is_bot:
            data["language_code"] = self.language_code
        return data


@dataclass(eq=False)
class WebhookConfig:
    """A bot's webhook settings and delivery state."""

    url: str
    secret_token: str | None = None
    max_connections: int = 40
    allowed_updates: list[str] | None = None
    last_error_date: int | None = None
    last_error_message: str | None = None
    delivered: int = 0
    task: asyncio.Task[None] | None = None


@dataclass(eq=False)
class BotAccount:
    """A bot known to the emulator (one per token's numeric id)."""

    user: User
    token: str
    privacy_mode: bool = True
    updates: deque[dict[str, Any]] = field(default_factory=deque)
    next_update_id: int = 1
    allowed_updates: frozenset[str] | None = None
    webhook: WebhookConfig | None = None
    commands: dict[tuple[tuple[str, Any, Any], str], list[dict[str, Any]]] = field(
        default_factory=dict
    )
    menu_buttons: dict[int | None, dict[str, Any]] = field(default_factory=dict)
    profile: dict[tuple[str, str], str] = field(default_factory=dict)
    callback_queries: dict[str, CallbackQuery] = field(default_factory=dict)
    update_signal: asyncio.Event = field(default_factory=asyncio.Event)
    poll_generation: int = 0
    logged_out: bool = False

    @property
    def id(self) -> int:
        """The bot's user id (the token's digits)."""
        return self.user.id

    @property
    def username(self) -> str:
        """The bot's username without '@'."""
        return self.user.username or ""

    def signal_updates(self) -> None:
        """Wake every long poll and webhook worker waiting for updates."""
        signal = self.update_signal
        self.update_signal = asyncio.Event()
        signal.set()


@dataclass(eq=False)
class StoredFile:
    """Bytes the emulator keeps for a file_id, downloadable through file_path."""

    file_id: str
    file_unique_id: str
    kind: str
    data: bytes
    file_path: str
    filename: str | None = None
    mime_type: str | None = None
    width: int = 0
    height: int = 0
    source_url: str | None = None

    @property
    def size(self) -> int:
        """Size in bytes."""
        return len(self.data)

    def photo_size(self) -> dict[str, Any]:
        """The Bot API `PhotoSize` object."""
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.size,
            "width": self.width,
            "height": self.height,
        }

    def document(self) -> dict[str, Any]:
        """The Bot API `Document` object."""
        data: dict[str, Any] = {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.size,
        }
        if self.filename:
            data["file_name"] = self.filename
        if self.mime_type:
            data["mime_type"] = self.mime_type
        return data

    def file(self) -> dict[str, Any]:
        """The Bot API `File` object."""
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.size,
            "file_path": self.file_path,
        }


@dataclass(eq=False)
class Chat:
    """A private chat (one user with one bot), a group or a supergroup."""

    id: int
    type: str
    title: str | None = None
    user: User | None = None
    bot_id: int | None = None
    members: dict[int, str] = field(default_factory=dict)
    member_users: dict[int, User] = field(default_factory=dict)
    bots: dict[int, str] = field(default_factory=dict)
    messages: dict[int, Message] = field(default_factory=dict)
    next_message_id: int = 1
    started: bool = False
    blocked: bool = False
    migrated_to: Chat | None = None
    migrated_from: int | None = None
    bot_kicked: dict[int, bool] = field(default_factory=dict)
    pinned: list[int] = field(default_factory=list)
    chat_instance: str = ""
    actions: list[tuple[float, str]] = field(default_factory=list)
    reply_keyboard: dict[str, Any] | None = None

    @property
    def is_private(self) -> bool:
        """True for one-to-one chats with a bot."""
        return self.type == "private"

    @property
    def current(self) -> Chat:
        """This chat, or the supergroup it was migrated to."""
        chat = self
        while chat.migrated_to is not None:
            chat = chat.migrated_to
        return chat

    def to_api(self) -> dict[str, Any]:
        """The Bot API `Chat` object."""
        if self.user is not None:
            data: dict[str, Any] = {
                "id": self.id,
                "type": "private",
                "first_name": self.user.first_name,
            }
            if self.user.last_name:
                data["last_name"] = self.user.last_name
            if self.user.username:
                data["username"] = self.user.username
            return data
        return {"id": self.id, "type": self.type, "title": self.title or ""}

    def allocate_id(self) -> int:
        """Next message id in this chat."""
        message_id = self.next_message_id
        self.next_message_id += 1
        return message_id

    def is_member(self, user_id: int) -> bool:
        """True when the user currently belongs to the chat."""
        if self.user is not None:
            return self.user.id == user_id
        return self.members.get(user_id) in ACTIVE_STATUSES

    def bot_active(self, bot_id: int) -> bool:
        """True when the bot is currently a member of the chat."""
        if self.user is not None:
            return self.bot_id == bot_id and not self.blocked
        return self.bots.get(bot_id) in ACTIVE_STATUSES


@dataclass(eq=False)
class Edit:
    """One edit of a message: its time and the content after it."""

    date: int
    monotonic: float
    text: str | None
    entities: list[dict[str, Any]]
    caption: str | None
    caption_entities: list[dict[str, Any]]
    reply_markup: dict[str, Any] | None


@dataclass(eq=False)
class Message:
    """A message stored in a chat's history, in its current state."""

    chat: Chat
    message_id: int
    date: int
    sender: User
    text: str | None = None
    entities: list[dict[str, Any]] = field(default_factory=list)
    caption: str | None = None
    caption_entities: list[dict[str, Any]] = field(default_factory=list)
    photo: list[StoredFile] | None = None
    document: StoredFile | None = None
    reply_markup: dict[str, Any] | None = None
    reply_keyboard: dict[str, Any] | None = None
    reply_to: Message | None = None
    media_group_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    edits: list[Edit] = field(default_factory=list)
    edit_date: int | None = None
    deleted: bool = False
    deleted_date: int | None = None
    created_monotonic: float = field(default_factory=time.monotonic)

    @property
    def chat_id(self) -> int:
        """Id of the chat that holds the message now."""
        return self.chat.id

    @property
    def from_bot(self) -> bool:
        """True when a bot sent the message."""
        return self.sender.is_bot

    @property
    def edit_count(self) -> int:
        """How many times the message was edited."""
        return len(self.edits)

    @property
    def plain(self) -> str:
        """Text or caption, whichever the message has (empty when neither)."""
        if self.text is not None:
            return self.text
        return self.caption or ""

    @property
    def is_service(self) -> bool:
        """True for service messages (member changes, migrations, pins...)."""
        return self.text is None and self.photo is None and self.document is None

    def to_api(self, nested: bool = True) -> dict[str, Any]:
        """The Bot API `Message` object."""
        data: dict[str, Any] = {
            "message_id": self.message_id,
            "date": self.date,
            "chat": self.chat.to_api(),
            "from": self.sender.to_api(),
        }
        if self.text is not None:
            data["text"] = self.text
            if self.entities:
                data["entities"] = self.entities
        if self.photo:
            data["photo"] = [size.photo_size() for size in self.photo]
        if self.document is not None:
            data["document"] = self.document.document()
        if self.caption:
            data["caption"] = self.caption
            if self.caption_entities:
                data["caption_entities"] = self.caption_entities
        if self.media_group_id:
            data["media_group_id"] = self.media_group_id
        if self.reply_markup is not None:
            data["reply_markup"] = self.reply_markup
        if self.edit_date is not None:
            data["edit_date"] = self.edit_date
        if nested and self.reply_to is not None:
            data["reply_to_message"] = self.reply_to.to_api(nested=False)
        if self.extra:
            for key, value in self.extra.items():
                data[key] = value.to_api(nested=False) if isinstance(value, Message) else value
        return data


@dataclass(eq=False)
class CallbackAnswer:
    """What the bot said with answerCallbackQuery."""

    text: str | None
    show_alert: bool
    url: str | None = None
    cache_time: int = 0


@dataclass(eq=False)
class CallbackQuery:
    """A button press waiting for (or having) the bot's answer."""

    id: str
    bot_id: int
    user: User
    message: Message
    data: str | None
    chat_instance: str
    created_monotonic: float
    forged: bool = False
    answer: CallbackAnswer | None = None
    answered: asyncio.Event = field(default_factory=asyncio.Event)

    def to_api(self) -> dict[str, Any]:
        """The Bot API `CallbackQuery` object."""
        data: dict[str, Any] = {
            "id": self.id,
            "from": self.user.to_api(),
            "message": self.message.to_api(),
            "chat_instance": self.chat_instance,
        }
        if self.data is not None:
            data["data"] = self.data
        return data


@dataclass(frozen=True, slots=True)
class Event:
    """A change in the world that subscribers hear about."""

    kind: str  # "message", "edit", "delete", "callback_query", "callback_answer", "chat"
    chat_id: int | None = None
    message: Message | None = None
    callback: CallbackQuery | None = None
    detail: dict[str, Any] | None = None


def member_object(user: User, status: str, *, kicked_until: int = 0) -> dict[str, Any]:
    """A Bot API `ChatMember` object for a status."""
    data: dict[str, Any] = {"status": status, "user": user.to_api()}
    if status == "creator":
        data["is_anonymous"] = False
    elif status == "administrator":
        data["can_be_edited"] = False
        data["is_anonymous"] = False
        for right in _ADMIN_RIGHTS:
            data[right] = True
    elif status == "kicked":
        data["until_date"] = kicked_until
    elif status == "restricted":
        data["is_member"] = True
        data["until_date"] = 0
    return data
