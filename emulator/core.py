"""The in-process Telegram world: the Bot API methods and what users do, without any transport."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import json
import logging
import math
import mimetypes
import random
import re
import secrets
import struct
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from .faults import DropConnection, FaultSet
from .html import ParseError, detect_commands, parse_text, utf16_len
from .models import (
    ACTIVE_STATUSES,
    BotAccount,
    CallbackAnswer,
    CallbackQuery,
    Chat,
    Edit,
    Event,
    Message,
    StoredFile,
    User,
    WebhookConfig,
    member_object,
)
from .requestlog import SEND_METHODS, RequestLog, RequestRecord
from .spec import ApiError, UploadedFile, bad_request, forbidden, method_spec, validate

__all__ = [
    "FLOOD_METHODS",
    "Emulator",
    "EmulatorError",
    "FloodLimits",
    "Subscription",
    "flood_items",
    "parse_token",
]

logger = logging.getLogger("emulator")

_TOKEN_RE = re.compile(r"^(\d{1,20}):([A-Za-z0-9_-]{30,50})$")
_URL_RE = re.compile(r"^(https?|tg)://[^\s/?#]+[^\s]*$", re.IGNORECASE)
_COMMAND_NAME = re.compile(r"^[a-z0-9_]{1,32}$")
_BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
_FILE_PREFIX = {"photo": "AgACAgIAAxk", "document": "BQACAgIAAxk"}
_FILE_FOLDER = {"photo": "photos", "document": "documents"}
_MAX_UPLOAD = 50 * 1024 * 1024
_MAX_DOWNLOAD = 20 * 1024 * 1024
_QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"
_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the "
    "same as a current content and reply markup of the message"
)


class EmulatorError(ValueError):
    """A test or control request asked for something a real user could not do."""


def parse_token(token: str) -> int | None:
    """The bot id of a well-formed token, else None."""
    match = _TOKEN_RE.match(token)
    return int(match.group(1)) if match else None


def _peek_chat_id(raw: dict[str, Any]) -> int | None:
    """The integer chat_id of a raw request, if it has one."""
    value = raw.get("chat_id")
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return int(value)
    return None


def _image_size(data: bytes) -> tuple[int, int]:
    """Width and height of PNG, GIF or JPEG bytes (a default when unknown)."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return int(width), int(height)
    if data[:2] == b"\xff\xd8":
        pos = 2
        while pos + 9 < len(data):
            if data[pos] != 0xFF:
                break
            marker = data[pos + 1]
            length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
            if marker in (0xC0, 0xC1, 0xC2) and pos + 9 <= len(data):
                height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
                return int(width), int(height)
            pos += 2 + length
    return 320, 240


# Methods that post or change a message in a chat: what Telegram's flood limits count.
# Deleting, pinning, chat actions, callback answers and every getter or setter are not counted
# (Telegram does not document limits for them, and a bot cleaning up should not be refused).
FLOOD_METHODS = SEND_METHODS | frozenset(
    {
        "forwardmessages",
        "copymessages",
        "sendpaidmedia",
        "sendchecklist",
        "sendinvoice",
        "sendgame",
        "editmessagetext",
        "editmessagecaption",
        "editmessagemedia",
        "editmessagereplymarkup",
        "editmessagelivelocation",
        "stopmessagelivelocation",
        "editmessagechecklist",
        "stoppoll",
    }
)
# How many messages one request posts (the others post one).
_ITEM_PARAMS = {
    "sendmediagroup": "media",
    "forwardmessages": "message_ids",
    "copymessages": "message_ids",
}


def flood_items(method: str, params: dict[str, Any]) -> int:
    """How many messages a call counts for under the flood limits (0: not counted)."""
    if method not in FLOOD_METHODS:
        return 0
    key = _ITEM_PARAMS.get(method)
    if key is None:
        return 1
    items = params.get(key)
    return max(len(items), 1) if isinstance(items, list) else 1


@dataclass(eq=False)
class FloodLimits:
    """Telegram's flood limits, kept per bot: what a bot may post, and how fast.

    - `per_second` messages a second over all chats (a sliding one-second window);
    - `per_chat_per_second` in one private chat, as a bucket holding `private_burst` messages:
      Telegram's FAQ asks for one a second "but may allow short bursts", so a bot may reply
      with two or three messages at once, then must slow to the rate. An album leaves the
      bucket in debt instead of being refused (bots send ten photos to a person at once);
    - `per_group_per_minute` in one group or supergroup (a sliding one-minute window);
    - `paid_per_second` over all chats for sends that pass `allow_paid_broadcast` (Telegram
      lets those go up to 1000 a second for a fee); they count in the overall window too.

    Each item of an album or of forwardMessages counts. None switches one limit off.
    Rates may be fractions or far above Telegram's own (tests scale them with the bot's policy).
    """

    per_second: float | None = 30
    per_chat_per_second: float | None = 1
    per_group_per_minute: float | None = 20
    private_burst: int = 3
    paid_per_second: float | None = 1000
    _global: dict[int, deque[float]] = field(default_factory=dict, repr=False)
    _groups: dict[tuple[int, int], deque[float]] = field(default_factory=dict, repr=False)
    _buckets: dict[tuple[int, int], tuple[float, float]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for name in (
            "per_second",
            "per_chat_per_second",
            "per_group_per_minute",
            "paid_per_second",
        ):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive (None switches it off)")
        if self.private_burst < 1:
            raise ValueError("private_burst must be at least 1")

    @classmethod
    def telegram(cls) -> FloodLimits:
        """Telegram's published numbers."""
        return cls()

    def fresh(self) -> FloodLimits:
        """The same limits with nothing counted yet."""
        return FloodLimits(
            self.per_second,
            self.per_chat_per_second,
            self.per_group_per_minute,
            self.private_burst,
            self.paid_per_second,
        )

    def to_dict(self) -> dict[str, Any]:
        """The numbers, for the control API."""
        return {
            "per_second": self.per_second,
            "per_chat_per_second": self.per_chat_per_second,
            "per_group_per_minute": self.per_group_per_minute,
            "private_burst": self.private_burst,
            "paid_per_second": self.paid_per_second,
        }

    @staticmethod
    def _window(rate: float, seconds: float) -> tuple[int, float]:
        """`rate` events per `seconds` as (events, window): 0.5 a second is one in two seconds."""
        if rate >= 1:
            return int(rate), seconds
        return 1, seconds / rate

    @staticmethod
    def _window_wait(times: deque[float], limit: int, window: float, now: float, n: int) -> float:
        """Seconds until a sliding window admits n more events (0 when it does now)."""
        while times and now - times[0] >= window:
            times.popleft()
        n = min(n, limit)  # more than the window ever holds: it goes once the window is empty
        excess = len(times) + n - limit
        if excess <= 0:
            return 0.0
        return times[excess - 1] + window - now

    def _tokens(self, key: tuple[int, int], now: float) -> float:
        """The private chat's bucket now."""
        rate = self.per_chat_per_second
        assert rate is not None
        tokens, at = self._buckets.get(key, (float(self.private_burst), now))
        return min(float(self.private_burst), tokens + (now - at) * rate)

    def check(
        self, bot_id: int, chat: Chat, now: float, items: int = 1, *, paid: bool = False
    ) -> int | None:
        """retry_after seconds when posting `items` messages to `chat` now is over a limit."""
        waits = [0.0]
        overall = self.paid_per_second if paid else self.per_second
        if overall is not None:
            limit, window = self._window(overall, 1.0)
            times = self._global.setdefault(bot_id, deque())
            waits.append(self._window_wait(times, limit, window, now, items))
        key = (bot_id, chat.id)
        if chat.is_private:
            if self.per_chat_per_second is not None:
                tokens = self._tokens(key, now)
                if tokens < 1:
                    waits.append((1 - tokens) / self.per_chat_per_second)
        elif self.per_group_per_minute is not None:
            limit, window = self._window(self.per_group_per_minute, 60.0)
            times = self._groups.setdefault(key, deque())
            waits.append(self._window_wait(times, limit, window, now, items))
        wait = max(waits)
        return max(1, math.ceil(wait)) if wait > 0 else None

    def record(self, bot_id: int, chat: Chat, now: float, items: int = 1) -> None:
        """Count `items` accepted messages."""
        if self.per_second is not None or self.paid_per_second is not None:
            self._global.setdefault(bot_id, deque()).extend([now] * items)
        key = (bot_id, chat.id)
        if chat.is_private:
            if self.per_chat_per_second is not None:
                self._buckets[key] = (self._tokens(key, now) - items, now)
        elif self.per_group_per_minute is not None:
            self._groups.setdefault(key, deque()).extend([now] * items)


class Subscription:
    """A stream of world events (new, edited, deleted messages, callback answers...)."""

    def __init__(self, emulator: Emulator) -> None:
        self._emulator = emulator
        self.queue: asyncio.Queue[Event] = asyncio.Queue()
        emulator._subscribers.add(self.queue)

    async def get(self, timeout: float | None = None) -> Event:  # noqa: ASYNC109
        """Next event (raises TimeoutError after `timeout` seconds)."""
        return await asyncio.wait_for(self.queue.get(), timeout)

    def close(self) -> None:
        """Stop receiving events."""
        self._emulator._subscribers.discard(self.queue)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        return await self.queue.get()


Handler = Callable[[BotAccount, dict[str, Any], dict[str, Any]], Any]


class Emulator:
    """A Telegram world with bots, users, chats and messages, answering Bot API calls."""

    def __init__(
        self,
        *,
        bot_username: str = "incident_test_bot",
        bot_first_name: str = "Incident Test Bot",
        privacy_mode: bool = True,
        callback_timeout: float | None = 15.0,
        webhook_retry_delay: float = 0.2,
        seed: int | None = None,
        first_message_id: int = 1,
        limits: FloodLimits | Literal["telegram"] | None = "telegram",
    ) -> None:
        """A world with no users yet.

        `limits`: Telegram's flood limits by default ("telegram"), custom numbers (a
        FloodLimits), or None for none; sends over a limit are answered 429 with retry_after.
        """
        # first_message_id > 1 continues an earlier world: a bot that kept the ids of old
        # messages never finds a new message under one of them.
        self.first_message_id = first_message_id
        self.bot_username = bot_username
        self.bot_first_name = bot_first_name
        self.privacy_mode = privacy_mode
        self.callback_timeout = callback_timeout
        self.webhook_retry_delay = webhook_retry_delay
        self.seed = seed
        self.faults = FaultSet(seed=seed)
        self.log = RequestLog()
        self._limits_setting = FloodLimits.telegram() if limits == "telegram" else limits
        self.limits: FloodLimits | None = (
            self._limits_setting.fresh() if self._limits_setting is not None else None
        )
        self.control_url: str | None = None
        self._subscribers: set[asyncio.Queue[Event]] = set()
        self._listeners: list[Callable[[Event], None]] = []
        self._changed = asyncio.Event()
        self._handlers: dict[str, tuple[Handler, bool]] = {}
        for name in dir(self):
            if name.startswith("_m_"):
                func = getattr(self, name)
                self._handlers[name[3:]] = (func, inspect.iscoroutinefunction(func))
        self._closing = False
        self._reset_state()

    def _reset_state(self) -> None:
        """Start from an empty world (bots keep their registration settings only)."""
        self._rng = random.Random(self.seed)
        self.users: dict[int, User] = {}
        self.bots: dict[int, BotAccount] = getattr(self, "bots", {})
        self.chats: dict[int, Chat] = {}
        self.private: dict[tuple[int, int], Chat] = {}
        self.files: dict[str, StoredFile] = {}
        self.files_by_path: dict[str, StoredFile] = {}
        self.callbacks: dict[str, CallbackQuery] = {}
        self._user_ids = itertools.count(100_000_001)
        self._group_ids = itertools.count(4_000_000_001)
        self._supergroup_ids = itertools.count(3_000_000_001)
        self._file_seq = itertools.count(1)
        self._request_seq = itertools.count(1)
        self._media_group_seq = itertools.count(13_000_000_000_000_001)
        for bot in self.bots.values():
            self._stop_webhook(bot)
            bot.updates.clear()
            bot.next_update_id = 1
            bot.allowed_updates = None
            bot.webhook = None
            bot.commands.clear()
            bot.menu_buttons.clear()
            bot.profile.clear()
            bot.callback_queries.clear()
            bot.logged_out = False
            bot.signal_updates()

    def reset(self) -> None:
        """Forget users, chats, messages, files, updates, faults and the request log.

        Flood limits go back to what the emulator was created with, with nothing counted.
        """
        self._reset_state()
        self.faults.clear()
        self.log.clear()
        setting = self._limits_setting
        self.limits = setting.fresh() if setting is not None else None
        self._emit(Event("reset"))

    # ------------------------------------------------------------------ events

    def subscribe(self) -> Subscription:
        """Receive every later event on a queue (close the subscription when done)."""
        return Subscription(self)

    def change_signal(self) -> asyncio.Event:
        """An event set at the next change: take it before checking, then await it."""
        return self._changed

    def add_listener(self, listener: Callable[[Event], None]) -> None:
        """Call `listener(event)` at every change, at once (benchmarks react without a wait)."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[Event], None]) -> None:
        """Stop calling a listener."""
        self._listeners.remove(listener)

    def _emit(self, event: Event) -> None:
        """Tell subscribers, listeners and waiters about a change."""
        for queue in self._subscribers:
            queue.put_nowait(event)
        for listener in self._listeners:
            listener(event)
        signal = self._changed
        self._changed = asyncio.Event()
        signal.set()

    # ------------------------------------------------------------------ bots, users, chats

    def register_bot(
        self,
        token: str,
        *,
        username: str | None = None,
        first_name: str | None = None,
        privacy_mode: bool | None = None,
    ) -> BotAccount:
        """Declare a bot for a token (done implicitly on its first request)."""
        bot_id = parse_token(token)
        if bot_id is None:
            raise EmulatorError(f"malformed bot token {token!r}")
        bot = self.bots.get(bot_id)
        if bot is None:
            taken = {b.username for b in self.bots.values()}
            default = self.bot_username if self.bot_username not in taken else f"bot{bot_id}_bot"
            user = User(
                id=bot_id,
                first_name=first_name or self.bot_first_name,
                username=username or default,
                is_bot=True,
            )
            bot = BotAccount(
                user=user,
                token=token,
                privacy_mode=self.privacy_mode if privacy_mode is None else privacy_mode,
            )
            self.bots[bot_id] = bot
        else:
            if username:
                bot.user.username = username
            if first_name:
                bot.user.first_name = first_name
            if privacy_mode is not None:
                bot.privacy_mode = privacy_mode
            bot.token = token
        return bot

    @property
    def default_bot(self) -> BotAccount:
        """The first bot that registered or spoke to the emulator."""
        if not self.bots:
            raise EmulatorError("no bot is known yet: register a token or let the bot connect")
        return next(iter(self.bots.values()))

    def _bot(self, bot: BotAccount | int | None) -> BotAccount:
        """Resolve a bot argument (None means the default bot)."""
        if bot is None:
            return self.default_bot
        if isinstance(bot, BotAccount):
            return bot
        found = self.bots.get(bot)
        if found is None:
            raise EmulatorError(f"unknown bot {bot}")
        return found

    def create_user(
        self,
        first_name: str,
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
        user_id: int | None = None,
        note: str | None = None,
    ) -> User:
        """A new user (who has not talked to any bot yet); `note` is shown in the web chat."""
        if user_id is None:
            user_id = next(self._user_ids)
            while user_id in self.users or user_id in self.bots:
                user_id = next(self._user_ids)
        elif user_id in self.users:
            raise EmulatorError(f"user {user_id} exists")
        user = User(
            id=user_id,
            first_name=first_name,
            last_name=last_name,
            username=username,
            language_code=language_code,
            note=note,
        )
        self.users[user_id] = user
        return user

    def user(self, user_id: int) -> User:
        """A known user by id."""
        found = self.users.get(user_id)
        if found is None:
            raise EmulatorError(f"unknown user {user_id}")
        return found

    def private_chat(self, user: User, bot: BotAccount | int | None = None) -> Chat:
        """The private chat between `user` and a bot (created on demand, not yet started)."""
        account = self._bot(bot)
        key = (account.id, user.id)
        chat = self.private.get(key)
        if chat is None:
            chat = Chat(
                id=user.id,
                type="private",
                user=user,
                bot_id=account.id,
                chat_instance=self._chat_instance(),
                next_message_id=self.first_message_id,
            )
            self.private[key] = chat
        return chat

    def chat(self, chat_id: int, bot: BotAccount | int | None = None) -> Chat:
        """A chat by id: a group, or a user's private chat with the (default) bot."""
        if chat_id > 0:
            return self.private_chat(self.user(chat_id), bot)
        found = self.chats.get(chat_id)
        if found is None:
            raise EmulatorError(f"unknown chat {chat_id}")
        return found

    def _chat_instance(self) -> str:
        """A fresh chat_instance string."""
        return str(self._rng.randrange(10**18, 10**19) * (-1 if self._rng.random() < 0.5 else 1))

    def create_group(
        self,
        title: str,
        members: Iterable[User] = (),
        *,
        supergroup: bool = False,
        bot: BotAccount | int | None = None,
        bot_member: bool = True,
        bot_admin: bool = False,
        admins: Iterable[User] = (),
        creator: User | None = None,
    ) -> Chat:
        """A group (or supergroup); its first member is the creator; the bot joins unless told."""
        members = list(members)
        if supergroup:
            chat_id = -(1_000_000_000_000 + next(self._supergroup_ids))
        else:
            chat_id = -next(self._group_ids)
        chat = Chat(
            id=chat_id,
            type="supergroup" if supergroup else "group",
            title=title,
            chat_instance=self._chat_instance(),
            next_message_id=self.first_message_id,
        )
        owner = creator or (members[0] if members else None)
        admin_ids = {u.id for u in admins}
        for user in [*members, *admins] + ([owner] if owner else []):
            chat.member_users[user.id] = user
            if owner is not None and user.id == owner.id:
                chat.members[user.id] = "creator"
            elif user.id in admin_ids:
                chat.members[user.id] = "administrator"
            else:
                chat.members[user.id] = "member"
        self.chats[chat_id] = chat
        self._emit(Event("chat", chat_id, detail={"action": "created"}))
        if bot_member:
            account = self._bot(bot)
            by = owner or self._system_user()
            chat.bots[account.id] = "administrator" if bot_admin else "member"
            self._push_member_update(account, chat, by, "left", chat.bots[account.id])
            if supergroup:
                self._service(
                    chat,
                    by,
                    {
                        "new_chat_members": [account.user.to_api()],
                        "new_chat_member": account.user.to_api(),
                        "new_chat_participant": account.user.to_api(),
                    },
                )
            else:
                self._service(chat, by, {"group_chat_created": True})
        return chat

    def _system_user(self) -> User:
        """Telegram's service account, used when no user is named."""
        user = self.users.get(777000)
        if user is None:
            user = User(id=777000, first_name="Telegram")
            self.users[777000] = user
        return user

    def add_member(self, chat: Chat, user: User, by: User | None = None) -> Message:
        """Add a user to a group; the bots there see the service message."""
        chat = chat.current
        if chat.is_private:
            raise EmulatorError("private chats have no members to add")
        chat.members[user.id] = "member"
        chat.member_users[user.id] = user
        return self._service(
            chat,
            by or user,
            {
                "new_chat_members": [user.to_api()],
                "new_chat_member": user.to_api(),
                "new_chat_participant": user.to_api(),
            },
        )

    def remove_member(self, chat: Chat, user: User, by: User | None = None) -> Message:
        """Remove a user from a group (they leave, or `by` removes them)."""
        chat = chat.current
        if not chat.is_member(user.id):
            raise EmulatorError(f"{user.full_name} is not a member of {chat.title}")
        chat.members[user.id] = "left" if by is None or by.id == user.id else "kicked"
        return self._service(
            chat,
            by or user,
            {"left_chat_member": user.to_api(), "left_chat_participant": user.to_api()},
        )

    def add_bot(
        self, chat: Chat, by: User, bot: BotAccount | int | None = None, *, admin: bool = False
    ) -> None:
        """A member adds the bot to a group: my_chat_member plus the service message."""
        chat = chat.current
        account = self._bot(bot)
        if chat.is_private:
            raise EmulatorError("bots cannot be added to private chats")
        if not chat.is_member(by.id):
            raise EmulatorError(f"{by.full_name} is not a member of {chat.title}")
        old = chat.bots.get(account.id, "left")
        if old in ACTIVE_STATUSES:
            raise EmulatorError("the bot is already a member")
        chat.bots[account.id] = "administrator" if admin else "member"
        chat.bot_kicked.pop(account.id, None)
        self._push_member_update(account, chat, by, old, chat.bots[account.id])
        self._service(
            chat,
            by,
            {
                "new_chat_members": [account.user.to_api()],
                "new_chat_member": account.user.to_api(),
                "new_chat_participant": account.user.to_api(),
            },
        )

    def remove_bot(self, chat: Chat, by: User, bot: BotAccount | int | None = None) -> None:
        """A member removes the bot from a group: my_chat_member, later sends get 403."""
        chat = chat.current
        account = self._bot(bot)
        old = chat.bots.get(account.id)
        if old not in ACTIVE_STATUSES:
            raise EmulatorError("the bot is not a member")
        if not chat.is_member(by.id):
            raise EmulatorError(f"{by.full_name} is not a member of {chat.title}")
        new = "kicked" if chat.type == "supergroup" else "left"
        chat.bots[account.id] = new
        chat.bot_kicked[account.id] = True
        self._push_member_update(account, chat, by, old or "member", new)
        self._service(
            chat,
            by,
            {
                "left_chat_member": account.user.to_api(),
                "left_chat_participant": account.user.to_api(),
            },
        )

    def set_bot_admin(
        self, chat: Chat, admin: bool, by: User, bot: BotAccount | int | None = None
    ) -> None:
        """Promote or demote the bot in a group (my_chat_member follows)."""
        chat = chat.current
        account = self._bot(bot)
        old = chat.bots.get(account.id)
        if old not in ACTIVE_STATUSES:
            raise EmulatorError("the bot is not a member")
        new = "administrator" if admin else "member"
        if old != new:
            chat.bots[account.id] = new
            self._push_member_update(account, chat, by, old or "member", new)

    def migrate_group(self, chat: Chat, by: User | None = None) -> Chat:
        """Upgrade a group to a supergroup; the old id then answers with the migration error."""
        if chat.type != "group" or chat.migrated_to is not None:
            raise EmulatorError("only a basic group that was not migrated can be migrated")
        by = (
            by
            or next((chat.member_users[u] for u, s in chat.members.items() if s == "creator"), None)
            or self._system_user()
        )
        new_id = -(1_000_000_000_000 + next(self._supergroup_ids))
        new = Chat(
            id=new_id, type="supergroup", title=chat.title, chat_instance=self._chat_instance()
        )
        new.members = dict(chat.members)
        new.member_users = dict(chat.member_users)
        new.bots = dict(chat.bots)
        new.pinned = list(chat.pinned)
        new.migrated_from = chat.id
        self._service(chat, by, {"migrate_to_chat_id": new_id})
        new.messages = chat.messages
        for message in new.messages.values():
            message.chat = new
        new.next_message_id = chat.next_message_id
        chat.messages = {}
        chat.migrated_to = new
        self.chats[new_id] = new
        self._service(new, by, {"migrate_from_chat_id": chat.id})
        self._emit(Event("chat", chat.id, detail={"action": "migrated", "to": new_id}))
        return new

    def block_bot(self, user: User, bot: BotAccount | int | None = None) -> None:
        """The user blocks the bot: sends get 403, the bot gets my_chat_member (kicked)."""
        chat = self.private_chat(user, bot)
        if chat.blocked:
            raise EmulatorError("already blocked")
        chat.blocked = True
        self._push_member_update(self._bot(bot), chat, user, "member", "kicked")
        self._emit(Event("chat", chat.id, detail={"action": "blocked"}))

    def unblock_bot(self, user: User, bot: BotAccount | int | None = None) -> None:
        """The user unblocks the bot: sends work again, the bot gets my_chat_member (member)."""
        chat = self.private_chat(user, bot)
        if not chat.blocked:
            raise EmulatorError("not blocked")
        chat.blocked = False
        self._push_member_update(self._bot(bot), chat, user, "kicked", "member")
        self._emit(Event("chat", chat.id, detail={"action": "unblocked"}))

    # ------------------------------------------------------------------ users acting

    def send_user_message(
        self,
        user: User,
        chat: Chat,
        text: str | None = None,
        *,
        photo: bytes | None = None,
        document: bytes | None = None,
        filename: str | None = None,
        mime_type: str | None = None,
        caption: str | None = None,
        reply_to: Message | None = None,
        media_group_id: str | None = None,
    ) -> Message:
        """A user posts text, a photo or a document in a chat; bots get the update."""
        if chat.migrated_to is not None:
            raise EmulatorError(f"chat {chat.id} was migrated to {chat.current.id}")
        if chat.is_private:
            if chat.user is not user:
                raise EmulatorError("only the chat's user can write in a private chat")
            if chat.blocked:
                raise EmulatorError(f"{user.full_name} has blocked the bot; unblock it first")
        elif not chat.is_member(user.id):
            raise EmulatorError(f"{user.full_name} is not a member of {chat.title!r}")
        if sum(x is not None for x in (text, photo, document)) != 1:
            raise EmulatorError("send exactly one of text, photo or document")
        message = Message(
            chat=chat,
            message_id=chat.allocate_id(),
            date=self._now(),
            sender=user,
            reply_to=reply_to,
            media_group_id=media_group_id,
        )
        if text is not None:
            if not text.strip():
                raise EmulatorError("Telegram does not send empty messages")
            message.text = text
            message.entities = detect_commands(text)
        elif photo is not None:
            message.photo = [self._store_file("photo", photo, filename, mime_type or "image/jpeg")]
        elif document is not None:
            message.document = self._store_file("document", document, filename or "file", mime_type)
        if caption and text is None:
            message.caption = caption
            message.caption_entities = detect_commands(caption)
        chat.messages[message.message_id] = message
        if chat.is_private:
            chat.started = True
        self._emit(Event("message", chat.id, message))
        self._deliver(message)
        return message

    def send_user_album(
        self,
        user: User,
        chat: Chat,
        photos: list[bytes],
        *,
        caption: str | None = None,
        reply_to: Message | None = None,
    ) -> list[Message]:
        """A user posts 2-10 photos at once: messages sharing a media_group_id, one update each.

        As from Telegram's apps, the caption goes with the first photo.
        """
        if not 2 <= len(photos) <= 10:
            raise EmulatorError("an album holds 2 to 10 photos")
        if not all(photos):
            raise EmulatorError("every photo of an album needs bytes")
        group_id = str(next(self._media_group_seq))
        return [
            self.send_user_message(
                user,
                chat,
                photo=data,
                caption=caption if n == 0 else None,
                reply_to=reply_to,
                media_group_id=group_id,
            )
            for n, data in enumerate(photos)
        ]

    def edit_user_message(self, user: User, message: Message, text: str) -> Message:
        """A user edits their own message: its text, or a photo's or file's caption.

        The stored message changes in place, and each bot that could see it gets an
        `edited_message` update: the message as it is now, with `edit_date`.
        """
        chat = message.chat
        if message.sender.id != user.id:
            raise EmulatorError("a user can only edit their own messages")
        if message.deleted:
            raise EmulatorError(f"message {message.message_id} was deleted")
        if message.is_service:
            raise EmulatorError("service messages cannot be edited")
        if chat.is_private and chat.blocked:
            raise EmulatorError(f"{user.full_name} has blocked the bot; unblock it first")
        if not chat.is_private and not chat.is_member(user.id):
            raise EmulatorError(f"{user.full_name} is no longer a member of {chat.title!r}")
        if not text.strip():
            raise EmulatorError("Telegram does not keep an empty message: delete it instead")
        if message.text is not None:
            if text == message.text:
                raise EmulatorError("the message is not modified")
            message.text = text
            message.entities = detect_commands(text)
        else:
            if text == message.caption:
                raise EmulatorError("the caption is not modified")
            message.caption = text
            message.caption_entities = detect_commands(text)
        self._record_edit(message)
        self._deliver(message, kind="edited_message")
        return message

    def press_button(
        self,
        user: User,
        message: Message,
        *,
        label: str | None = None,
        data: str | None = None,
    ) -> CallbackQuery:
        """A user presses an inline button the message carries now (by label or data)."""
        if message.deleted:
            raise EmulatorError(f"message {message.message_id} was deleted")
        rows = (message.reply_markup or {}).get("inline_keyboard") or []
        buttons = [b for row in rows for b in row]
        for button in buttons:
            if (label is not None and button.get("text") == label) or (
                label is None and data is not None and button.get("callback_data") == data
            ):
                if "callback_data" not in button:
                    raise EmulatorError(f"button {button.get('text')!r} has no callback data")
                return self._callback(user, message, button["callback_data"], forged=False)
        wanted = f"label {label!r}" if label is not None else f"callback_data {data!r}"
        shown = [(b.get("text"), b.get("callback_data") or b.get("url")) for b in buttons]
        raise EmulatorError(
            f"message {message.message_id} has no button with {wanted}; it shows {shown}"
        )

    def forge_callback(self, user: User, message: Message, data: str | None) -> CallbackQuery:
        """A callback query with arbitrary data, as a modified client could send."""
        return self._callback(user, message, data, forged=True)

    def _callback(
        self, user: User, message: Message, data: str | None, forged: bool
    ) -> CallbackQuery:
        """Create a callback query and send it to the bot that posted the message."""
        chat = message.chat
        if not chat.is_member(user.id):
            raise EmulatorError(f"{user.full_name} cannot see chat {chat.id}")
        if not message.sender.is_bot:
            raise EmulatorError("only bot messages carry inline buttons")
        bot = self._bot(message.sender.id)
        query = CallbackQuery(
            id=str(self._rng.randrange(10**17, 10**19)),
            bot_id=bot.id,
            user=user,
            message=message,
            data=data,
            chat_instance=chat.chat_instance,
            created_monotonic=time.monotonic(),
            forged=forged,
        )
        bot.callback_queries[query.id] = query
        self.callbacks[query.id] = query
        self._push(bot, "callback_query", query.to_api())
        self._emit(Event("callback_query", chat.id, message, query))
        return query

    # ------------------------------------------------------------------ internals: updates

    def _now(self) -> int:
        """Unix time for message dates."""
        return int(time.time())

    def _push(self, bot: BotAccount, kind: str, payload: dict[str, Any]) -> None:
        """Queue an update for a bot if its allowed_updates accept the kind."""
        allowed = bot.allowed_updates
        if allowed is None:
            if kind in _DEFAULT_EXCLUDED_UPDATES:
                return
        elif kind not in allowed:
            return
        bot.updates.append({"update_id": bot.next_update_id, kind: payload})
        bot.next_update_id += 1
        bot.signal_updates()

    def _push_member_update(
        self, bot: BotAccount, chat: Chat, by: User, old: str, new: str
    ) -> None:
        """Queue a my_chat_member update about the bot's own status."""
        payload = {
            "chat": chat.to_api(),
            "from": by.to_api(),
            "date": self._now(),
            "old_chat_member": member_object(bot.user, old),
            "new_chat_member": member_object(bot.user, new),
        }
        self._push(bot, "my_chat_member", payload)

    def _service(self, chat: Chat, by: User, fields: dict[str, Any]) -> Message:
        """Store a service message and deliver it to the bots in the chat."""
        message = Message(
            chat=chat, message_id=chat.allocate_id(), date=self._now(), sender=by, extra=fields
        )
        chat.messages[message.message_id] = message
        self._emit(Event("message", chat.id, message))
        self._deliver(message, service=True)
        return message

    def _deliver(self, message: Message, *, service: bool = False, kind: str = "message") -> None:
        """Send a chat message (or its edit) as an update to each bot that may see it."""
        chat = message.chat
        if chat.is_private:
            if chat.bot_id is not None and not message.sender.is_bot:
                self._push(self.bots[chat.bot_id], kind, message.to_api())
            return
        payload: dict[str, Any] | None = None
        for bot_id, status in chat.bots.items():
            if status not in ACTIVE_STATUSES or bot_id == message.sender.id:
                continue
            bot = self.bots[bot_id]
            if (
                bot.privacy_mode
                and status != "administrator"
                and not service
                and not self._meant_for(bot, message)
            ):
                continue
            if payload is None:
                payload = message.to_api()
            self._push(bot, kind, payload)

    @staticmethod
    def _meant_for(bot: BotAccount, message: Message) -> bool:
        """Whether a bot in privacy mode receives a group message."""
        if message.reply_to is not None and message.reply_to.sender.id == bot.id:
            return True
        text = message.text if message.text is not None else message.caption or ""
        if not text.startswith("/"):
            return False
        command = text.split(maxsplit=1)[0] if text.strip() else ""
        _, at, target = command.partition("@")
        return not at or target.lower() == bot.username.lower()

    # ------------------------------------------------------------------ internals: files

    def _store_file(
        self,
        kind: str,
        data: bytes,
        filename: str | None = None,
        mime_type: str | None = None,
        source_url: str | None = None,
    ) -> StoredFile:
        """Keep bytes under a new file_id and file_path."""
        number = next(self._file_seq)
        if kind == "photo":
            ext = ".jpg"
            mime_type = mime_type or "image/jpeg"
        else:
            guessed = mimetypes.guess_type(filename or "")[0]
            if guessed:
                mime_type = guessed
            elif not mime_type or mime_type == "application/octet-stream":
                mime_type = "application/octet-stream"
            ext = ""
            if filename and "." in filename:
                ext = "." + filename.rsplit(".", 1)[1][:10]
        prefix = _FILE_PREFIX.get(kind, "CAACAgIAAxk")
        stored = StoredFile(
            file_id=f"{prefix}{number:06d}{secrets.token_urlsafe(18)}",
            file_unique_id=f"AgAD{number:04d}{secrets.token_hex(3)}",
            kind=kind,
            data=data,
            file_path=f"{_FILE_FOLDER.get(kind, 'files')}/file_{number}{ext}",
            filename=filename if kind != "photo" else None,
            mime_type=mime_type if kind != "photo" else None,
            source_url=source_url,
        )
        if kind == "photo":
            stored.width, stored.height = _image_size(data)
        self.files[stored.file_id] = stored
        self.files_by_path[stored.file_path] = stored
        return stored

    def _input_file(self, value: Any, kind: str, raw: dict[str, Any]) -> StoredFile:
        """A file from an upload, an attach:// reference, a file_id or a URL."""
        if isinstance(value, str) and value.startswith("attach://"):
            value = raw.get(value[len("attach://") :])
            if not isinstance(value, UploadedFile):
                raise bad_request("wrong file identifier/HTTP URL specified")
        if isinstance(value, UploadedFile):
            if not value.data:
                raise bad_request("file must be non-empty")
            if len(value.data) > _MAX_UPLOAD:
                raise ApiError(413, "Request Entity Too Large")
            return self._store_file(kind, value.data, value.filename, value.content_type)
        if not isinstance(value, str) or not value:
            raise bad_request(f"there is no {kind} in the request")
        if value.lower().startswith(("http://", "https://")):
            # the emulator cannot fetch; it keeps an empty placeholder naming the URL
            name = value.rsplit("/", 1)[-1] or "file"
            return self._store_file(kind, b"", name, None, source_url=value)
        stored = self.files.get(value)
        if stored is None:
            raise bad_request("wrong file identifier/HTTP URL specified")
        if (stored.kind == "photo") != (kind == "photo"):
            raise bad_request("type of file mismatch")
        return stored

    # ------------------------------------------------------------------ internals: checks

    def _target(self, bot: BotAccount, chat_id: Any, *, write: bool = True) -> Chat:
        """The chat a Bot API call addresses, refusing as Telegram refuses."""
        if isinstance(chat_id, str):
            try:
                chat_id = int(chat_id)
            except ValueError:
                raise bad_request("chat not found") from None
        if chat_id > 0:
            if chat_id not in self.users:
                raise bad_request("chat not found")
            chat = self.private.get((bot.id, chat_id))
            if chat is None or not chat.started:
                if write:
                    raise forbidden("bot can't initiate conversation with a user")
                raise bad_request("chat not found")
            if write and chat.blocked:
                raise forbidden("bot was blocked by the user")
            return chat
        group = self.chats.get(chat_id)
        if group is None:
            raise bad_request("chat not found")
        if group.migrated_to is not None:
            raise bad_request(
                "group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": group.current.id},
            )
        status = group.bots.get(bot.id)
        if status not in ACTIVE_STATUSES:
            if status is None:
                raise bad_request("chat not found")
            kind = "supergroup" if group.type == "supergroup" else "group"
            if status == "kicked" or group.bot_kicked.get(bot.id):
                raise forbidden(f"bot was kicked from the {kind} chat")
            raise forbidden(f"bot is not a member of the {kind} chat")
        return group

    def _format(
        self,
        text: str,
        parse_mode: str | None,
        entities: list[dict[str, Any]] | None,
        *,
        caption: bool = False,
    ) -> tuple[str, list[dict[str, Any]]]:
        """Parse text or a caption; enforce Telegram's length limits."""
        if parse_mode and parse_mode.lower() not in ("html", "markdownv2", "markdown"):
            raise bad_request("unsupported parse_mode")
        try:
            plain, found = parse_text(text, parse_mode, entities, self._user_lookup)
        except ParseError as exc:
            raise bad_request(f"can't parse entities: {exc}") from None
        length = utf16_len(plain)
        if caption:
            if length > 1024:
                raise bad_request("message caption is too long")
        else:
            if not plain:
                raise bad_request("message text is empty")
            if length > 4096:
                raise bad_request("message is too long")
        return plain, found

    def _user_lookup(self, user_id: int) -> dict[str, Any] | None:
        """User objects for tg://user?id= links."""
        user = self.users.get(user_id)
        return user.to_api() if user is not None else None

    def _markup(
        self, markup: dict[str, Any] | None, *, inline_only: bool = False
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """Validate reply_markup; returns (inline keyboard, other keyboard)."""
        if markup is None:
            return None, None
        if "inline_keyboard" in markup:
            return self._inline_keyboard(markup), None
        if inline_only:
            raise bad_request("inline keyboard expected")
        if "keyboard" in markup:
            rows = markup["keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise bad_request(
                    'field "keyboard" of the ReplyKeyboardMarkup should be an Array of Arrays'
                )
            normalized = []
            for row in rows:
                new_row = []
                for button in row:
                    if isinstance(button, str):
                        button = {"text": button}
                    if not isinstance(button, dict) or not str(button.get("text") or ""):
                        raise bad_request(
                            'can\'t parse keyboard button: Field "text" must be of type String'
                        )
                    new_row.append(button)
                if new_row:
                    normalized.append(new_row)
            if not normalized:
                raise bad_request("keyboard must be non-empty")
            return None, {**markup, "keyboard": normalized}
        return None, markup

    def _inline_keyboard(self, markup: dict[str, Any]) -> dict[str, Any] | None:
        """Check an InlineKeyboardMarkup as Telegram does; None when it has no buttons."""
        rows = markup.get("inline_keyboard")
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise bad_request(
                'field "inline_keyboard" of the InlineKeyboardMarkup should be an Array of Arrays'
            )
        total = 0
        clean_rows = []
        for row in rows:
            clean_row = []
            for button in row:
                if not isinstance(button, dict):
                    raise bad_request(
                        "can't parse inline keyboard button: InlineKeyboardButton must be an Object"
                    )
                text = button.get("text")
                if not isinstance(text, str):
                    raise bad_request(
                        'can\'t parse inline keyboard button: Field "text" must be of type String'
                    )
                if not text.strip():
                    raise bad_request("BUTTON_TEXT_INVALID")
                clean = {k: v for k, v in button.items() if v is not None}
                actions = [a for a in _BUTTON_ACTIONS if a in clean]
                if not actions:
                    raise bad_request(
                        "can't parse inline keyboard button: "
                        "Text buttons are unallowed in the inline keyboard"
                    )
                if len(actions) > 1:
                    raise bad_request(
                        "can't parse inline keyboard button: exactly one of the "
                        f"optional fields must be used, found {actions}"
                    )
                if "callback_data" in clean:
                    data = clean["callback_data"]
                    if not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= 64:
                        raise bad_request("BUTTON_DATA_INVALID")
                if "url" in clean:
                    url = clean["url"]
                    if not isinstance(url, str) or not _URL_RE.match(url):
                        raise bad_request("BUTTON_URL_INVALID")
                clean_row.append(clean)
                total += 1
            if clean_row:
                clean_rows.append(clean_row)
        if total > 100:
            raise bad_request("reply markup is too long")
        if not clean_rows:
            return None
        return {"inline_keyboard": clean_rows}

    def _reply_target(self, chat: Chat, params: dict[str, Any]) -> Message | None:
        """The message a send replies to (reply_parameters), refusing unknown ones."""
        reply = params.get("reply_parameters")
        if not reply:
            return None
        target_chat = chat
        if reply.get("chat_id") not in (None, chat.id):
            with contextlib.suppress(EmulatorError, ValueError, TypeError):
                target_chat = self.chat(int(reply["chat_id"]))
        found = target_chat.messages.get(int(reply.get("message_id", 0)))
        if found is None or found.deleted:
            if reply.get("allow_sending_without_reply"):
                return None
            raise bad_request("message to be replied not found")
        return found

    def _bot_message(self, bot: BotAccount, chat: Chat, **content: Any) -> Message:
        """Store a message the bot sent."""
        message = Message(
            chat=chat, message_id=chat.allocate_id(), date=self._now(), sender=bot.user, **content
        )
        chat.messages[message.message_id] = message
        markup = message.reply_keyboard
        if markup is not None:
            if "keyboard" in markup:
                chat.reply_keyboard = markup
            elif markup.get("remove_keyboard"):
                chat.reply_keyboard = None
        self._emit(Event("message", chat.id, message))
        return message

    def _find_message(self, chat: Chat, message_id: Any, missing: str) -> Message:
        """A live message of a chat, or the given Telegram error."""
        message = chat.messages.get(message_id) if isinstance(message_id, int) else None
        if message is None or message.deleted:
            raise bad_request(missing)
        return message

    def _editable(self, bot: BotAccount, params: dict[str, Any]) -> Message:
        """The bot's own message an edit method targets."""
        if "inline_message_id" in params and "chat_id" not in params:
            raise bad_request("inline messages are not supported by the emulator")
        if "chat_id" not in params:
            raise bad_request("chat_id is empty")
        if "message_id" not in params:
            raise bad_request("message identifier is not specified")
        chat = self._target(bot, params["chat_id"])
        message = self._find_message(chat, params["message_id"], "message to edit not found")
        if message.sender.id != bot.id:
            raise bad_request("message can't be edited")
        return message

    def _record_edit(self, message: Message) -> None:
        """Remember an edit's time and resulting content."""
        now = self._now()
        message.edit_date = now
        message.edits.append(
            Edit(
                date=now,
                monotonic=time.monotonic(),
                text=message.text,
                entities=list(message.entities),
                caption=message.caption,
                caption_entities=list(message.caption_entities),
                reply_markup=message.reply_markup,
            )
        )
        self._emit(Event("edit", message.chat.id, message))

    # ------------------------------------------------------------------ request entry point

    def enforce_limits(
        self,
        per_second: float | None = 30,
        per_chat_per_second: float | None = 1,
        per_group_per_minute: float | None = 20,
        private_burst: int = 3,
        paid_per_second: float | None = 1000,
    ) -> FloodLimits:
        """Enforce these flood limits from now on (Telegram's by default), counting afresh."""
        self.limits = FloodLimits(
            per_second, per_chat_per_second, per_group_per_minute, private_burst, paid_per_second
        )
        return self.limits

    def disable_limits(self) -> None:
        """Stop enforcing flood limits (until enforce_limits, or a reset)."""
        self.limits = None

    async def handle_request(
        self, token: str, method: str, raw: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        """Answer one Bot API call: (HTTP status, Telegram JSON envelope)."""
        received = time.monotonic()
        lower = method.lower()
        bot_id = parse_token(token)
        record = RequestRecord(
            seq=next(self._request_seq),
            method=method,
            bot_id=bot_id,
            params=raw,
            chat_id=_peek_chat_id(raw),
            received_monotonic=received,
            received_wall=time.time(),
        )
        self.log.append(record)
        outcome = "error"
        status = 0
        try:
            if bot_id is None:
                raise ApiError(401, "Unauthorized")
            spec = method_spec(lower)
            if spec is None:
                raise ApiError(404, "Not Found")
            record.method = spec.name
            bot = self.bots.get(bot_id) or self.register_bot(token)
            fault = self.faults.take(lower, record.chat_id) if len(self.faults) else None
            if fault is not None:
                record.fault = fault.label()
                if fault.delay:
                    await asyncio.sleep(fault.delay)
                if fault.drop:
                    outcome = "dropped"
                    raise DropConnection()
                error = fault.error()
                if error is not None:
                    outcome = "fault"
                    raise error
            entry = self._handlers.get(lower)
            if entry is None:
                logger.warning("emulator: method %s is not implemented", spec.name)
                raise bad_request(f"method {spec.name} is not supported by the emulator")
            params = validate(spec, raw)
            limits = self.limits
            chat_for_limits: Chat | None = None
            items = flood_items(lower, params) if limits is not None else 0
            if limits is not None and items and "chat_id" in params:
                chat_for_limits = self._target(bot, params["chat_id"])
                paid = params.get("allow_paid_broadcast") is True
                retry_after = limits.check(bot.id, chat_for_limits, received, items, paid=paid)
                if retry_after is not None:
                    raise ApiError(
                        429,
                        f"Too Many Requests: retry after {retry_after}",
                        {"retry_after": retry_after},
                    )
            func, is_async = entry
            # Every counted method is synchronous: nothing else runs between check and record.
            result = await func(bot, params, raw) if is_async else func(bot, params, raw)
            if chat_for_limits is not None and limits is not None:
                limits.record(bot.id, chat_for_limits, received, items)
            outcome = "ok"
            status = 200
            return 200, {"ok": True, "result": result}
        except ApiError as exc:
            record.error = exc.description
            status = exc.code
            return exc.code, exc.payload()
        except DropConnection:
            record.error = "connection dropped"
            raise
        except Exception as exc:
            logger.exception("emulator: %s failed", method)
            record.error = f"Internal Server Error: {exc!r}"
            status = 500
            return 500, {"ok": False, "error_code": 500, "description": "Internal Server Error"}
        finally:
            self.log.finish(record, outcome, status, time.monotonic())

    # ------------------------------------------------------------------ Bot API methods

    def _m_getme(self, bot: BotAccount, p: dict[str, Any], raw: dict[str, Any]) -> Any:
        """Bot API getMe."""
        data = bot.user.to_api()
        data.update(
            can_join_groups=True,
            can_read_all_group_messages=not bot.privacy_mode,
            supports_inline_queries=False,
            can_connect_to_business=False,
            has_main_web_app=False,
        )
        return data

    def _m_logout(self, bot: BotAccount, p: dict[str, Any], raw: dict[str, Any]) -> Any:
        """Bot API logOut."""
        bot.logged_out = True
        return True

    def _m_close(self, bot: BotAccount, p: dict[str, Any], raw: dict[str, Any]) -> Any:
        """Bot API close."""
        return True

    async def _m_getupdates(self, bot: BotAccount, p: dict[str, Any], raw: dict[str, Any]) -> Any:
        """Bot API getUpdates."""
        if bot.webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        if "allowed_updates" in p:
            allowed = p["allowed_updates"]
            bot.allowed_updates = frozenset(allowed) if allowed else None
        offset = p.get("offset")
        if offset is not None:
            self._confirm(bot, offset)
        limit = min(max(p.get("limit", 100), 1), 100)
        timeout = max(p.get("timeout", 0), 0)
        bot.poll_generation += 1
        generation = bot.poll_generation
        bot.signal_updates()  # wakes an older long poll so it ends with 409 like Telegram's
        if not bot.updates and timeout > 0 and not self._closing:
            deadline = time.monotonic() + timeout
            while not bot.updates:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                signal = bot.update_signal
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(signal.wait(), remaining)
                if bot.poll_generation != generation:
                    raise ApiError(
                        409,
                        "Conflict: terminated by other getUpdates request; "
                        "make sure that only one bot instance is running",
                    )
                if bot.webhook is not None or self._closing:
                    break
        return list(itertools.islice(bot.updates, limit))

    @staticmethod
    def _confirm(bot: BotAccount, offset: int) -> None:
        """Drop updates confirmed by `offset` (negative: keep only the last -offset)."""
        updates = bot.updates
        if offset < 0:
            while len(updates) > -offset:
                updates.popleft()
            return
        while updates and updates[0]["update_id"] < offset:
            updates.popleft()

    def _m_setwebhook(self, bot: BotAccount, p: dict[str, Any], raw: dict[str, Any]) -> Any:
        """Bot API setWebhook."""
        url = p["url"]
        if not url:
            return self._m_deletewebhook(bot, p, raw)
        if not re.match(r"^https?://[^\s/]+", url, re.IGNORECASE):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = p.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            raise bad_request("bad webhook: secret token contains unallowed characters")
        if p.get("drop_pending_updates"):
            bot.updates.clear()
        self._stop_webhook(bot)
        allowed = p.get("allowed_updates")
        if "allowed_updates" in p:
            bot.allowed_updates = frozenset(allowed) if allowed else None
        bot.webhook = WebhookConfig(
            url=url,
            secret_token=secret,
            max_connections=p.get("max_connections", 40),
            allowed_updates=allowed,
        )
        bot.webhook.task = asyncio.get_running_loop().create_task(self._webhook_worker(bot))
        bot.signal_updates()
        return True

    def _m_deletewebhook(self, bot: BotAccount, p: dict[str, Any], raw: dict[str, Any]) -> Any:
        """Bot API deleteWebhook."""
        self._stop_webhook(bot)
        bot.webhook = None
        if p.get("drop_pending_updates"):
            bot.updates.clear()
        bot.signal_updates()
        return True

    def _m_getwebhookinfo(self, bot: BotAccount, p: dict[str, Any], raw: dict[str, Any]) -> Any:
        """Bot API getWebhookInfo."""
        hook = bot.webhook
        info: dict[str, Any] = {
            "url": hook.url if hook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(bot.updates),
        }
        if hook is not None:
            info["max_connections"] = hook.max_connections
            info["ip_address"] = "127.0.0.1"
            if hook.allowed_updates:
                info["allowed_updates"] = hook.allowed_updates
            if hook.last_error_date is not None:
                info["last_error_date"] = hook.last_error_date
                info["last_error_message"] = hook.last_error_message
        return info

    @staticmethod
    def _stop_webhook(bot: BotAccount) -> None:
        """Cancel a bot's webhook delivery task."""
        if bot.webhook is not None and bot.webhook.task is not None:
            bot.webhook.task.cancel()
            bot.webhook.task = None

    async def _webhook_worker(self, bot: BotAccount) -> None:
        """POST queued updates to the webhook in order, retrying failures."""
        import aiohttp  # local: the core itself does not need aiohttp otherwise

        hook = bot.webhook
        assert hook is not None
        headers = {"Content-Type": "application/json"}
        if hook.secret_token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = hook.secret_token
        delay = self.webhook_retry_delay
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            while bot.webhook is hook:
                if not bot.updates:
                    await bot.update_signal.wait()
                    continue
                update = bot.updates[0]
                try:
                    async with session.post(
                        hook.url, data=json.dumps(update), headers=headers
                    ) as response:
                        await response.read()
                        ok = 200 <= response.status < 300
                        error = (
                            f"Wrong response from the webhook: {response.status} {response.reason}"
                        )
                except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                    ok = False
                    error = f"Connection failed: {exc.__class__.__name__}"
                if ok:
                    if bot.updates and bot.updates[0] is update:
                        bot.updates.popleft()
                    hook.delivered += 1
                    delay = self.webhook_retry_delay
                else:
                    hook.last_error_date = self._now()
                    hook.last_error_message = error
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)

    async def aclose(self) -> None:
        """Stop background work: end pending long polls, stop webhook deliveries."""
        self._closing = True
        tasks = []
        for bot in self.bots.values():
            bot.signal_updates()
            if bot.webhook is not None and bot.webhook.task is not None:
                tasks.append(bot.webhook.task)
                bot.webhook.task.cancel()
                bot.webhook.task = None
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _m_sendmessage(self, bot: BotAccount, p: dict[str, Any], raw: dict[str, Any]) -> Any:
        """Bot API sendMessage."""
        chat = self._target(bot, p["chat_id"])
        text, entities = self._format(p["text"], p.get("parse_mode"), p.get("entities"))
        inline, other = self._markup(p.get("reply_markup"))
        reply_to = self._reply_target(chat, p)
        extra: dict[str, Any] = {}
        if "link_preview_options" in p:
            extra["link_preview_options"] = p["link_preview_options"]
        message = self._bot_message(
            bot,
            chat,
            text=text,
            entities=entities,
            reply_markup=inline,
            reply_keyboard=other,
            reply_to=reply_to,
            extra=extra,
        )
        return message.to_api()

    def _send_media(
        self, bot: BotAccount, p: dict[str, Any], raw: dict[str, Any], kind: str
    ) -> Any:
        """sendPhoto and sendDocument."""
        chat = self._target(bot, p["chat_id"])
        caption: str | None = None
        caption_entities: list[dict[str, Any]] = []
        if p.get("caption"):
            caption, caption_entities = self._format(
                p["caption"], p.get("parse_mode"), p.get("caption_entities"), caption=True
            )
        stored = self._input_file(p.get(kind), kind, raw)
        inline, other = self._markup(p.get("reply_markup"))
        reply_to = self._reply_target(chat, p)
        content: dict[str, Any] = {"photo": [stored]} if kind == "photo" else {"document": stored}
        message = self._bot_message(
            bot,
            chat,
            caption=caption or None,
            caption_entities=caption_entities,
            reply_markup=inline,
            reply_keyboard=other,
            reply_to=reply_to,
            **content,
        )
        return message.to_api()

    def _m_sendphoto(self, bot: BotAccount, p: dict[str, Any], raw: dict[str, Any]) -> Any:
        """Bot API sendPhoto."""
        return self._send_media(bot, p, raw, "photo")

    def _m_senddocument(self, bot: BotAccount, p: dict[str, Any], raw: dict[str, Any]) -> Any:
        """Bot API sendDocument."""
        return self._send_media(bot, p, raw, "document")

    def _m_sendmediagroup(self, bot: BotAccount, p: dict[str, Any], raw: dict[str, Any]) -> Any:
        """Bot API sendMediaGroup."""
        chat = self._target(bot, p["chat_id"])
        media = p["media"]
        if not 2 <= len(media) <= 10:
            raise bad_request("media must include 2-10 items")
        kinds = {item["type"] for item in media}
        if "document" in kinds and len(kinds) > 1:
            raise bad_request("document can't be mixed with other media types")
        unsupported = kinds - {"photo", "document"}
        if unsupported:
            raise bad_request(
                f"media type {sorted(unsupported)[0]} is not supported by the emulator"
            )
        prepared = []
        for item in media:
            caption: str | None = None
            caption_entities: list[dict[str, Any]] = []
            if item.get("caption"):
                caption, caption_entities = self._format(
                    item["caption"],
                    item.get("parse_mode"),
                    item.get("caption_entities"),
                    caption=True,
                )
            stored = self._input_file(item.get("media"), item["type"], raw)
            prepared.append((item["type"], stored, caption, caption_entities))
        reply_to = self._reply_target(chat, p)
        group_id = str(next(self._media_group_seq))
        results = []
        for kind, stored, caption, caption_entities in prepared:
            content: dict[str, Any] = (
                {"photo": [stored]} if kind == "photo" else {"document": stored}
            )
            message = self._bot_message(
                bot,
                chat,
                caption=caption,
                caption_entities=caption_entities,
                reply_to=reply_to,
                media_group_id=group_id,
                **content,
            )
            results.append(message.to_api())
        return results

    def _m_copymessage(self, bot: BotAccount, p: dict[str, Any], raw: dict[str, Any]) -> Any:
        """Bot API copyMessage."""
        chat = self._target(bot, p["chat_id"])
        source_chat = self._target(bot, p["from_chat_id"], write=False)
        source = self._find_message(source_chat, p["message_id"], "message to copy not found")
        if source.is_service:
            raise bad_request("message can't be copied")
        inline, other = self._markup(p.get("reply_markup"))
        content: dict[str, Any] = {
            "text": source.text,
            "entities": list(source.entities),
            "photo": source.photo,
            "document": source.document,
            "caption": source.caption,
            "caption_entities": list(source.caption_entities),
        }
        if "caption" in p and source.text is None:
            caption, caption_entities = self._format(
                p["caption"], p.get("parse_mode"), p.get("caption_entities"), caption=True
            )
            content.update(caption=caption or None, caption_entities=caption_entities)
        message = self._bot_message(
            bot,
            chat,
            reply_markup=inline,
            reply_keyboard=other,
            reply_to=self._reply_target(chat, p),
            **content,
        )
        return {"message_id": message.message_id}

    def _m_forwardmessage(self, bot: BotAccount, p: dict[str, Any], raw: dict[str, Any]) -> Any:
        """Bot API forwardMessage."""
        chat = self._target(bot, p["chat_id"])
        source_chat = self._target(bot, p["from_chat_id"], write=False)
        source = self._find_message(source_chat, p["message_id"], "message to forward not found")
        if source.is_service:
            raise bad_request("message can't be forwarded")
        origin = {"type": "user", "sender_user": source.sender.to_api(), "date": source.date}
        message = self._bot_message(
            bot,
            chat,
            text=source.text,
            entities=list(source.entities),
            photo=source.photo,
            document=source.document,
            caption=source.caption,
            caption_entities=list(source.caption_entities),
            extra={"forward_origin": origin},
        )
        return message.to_api()

    def _m_editmessagetext(self, bot: BotAccount, p: dict[str, Any], raw: dict[str, Any]) -> Any:
        """Bot API editMessageText."""
        message = self._editable(bot, p)
        if message.text is None:
            raise bad_request("there is no text in the message to edit")
        text, entities = self._format(p["text"], p.get("parse_mode"), p.get("entities"))
        inline, _ = self._markup(p.get("reply_markup"), inline_only=True)
        if text == message.text and entities == message.entities and inline == message.reply_markup:
            raise bad_request(_NOT_MODIFIED)
        message.text, message.entities, message.reply_markup = text, entities, inline
        if "link_preview_options" in p:
            message.extra["link_preview_options"] = p["link_preview_options"]
        self._record_edit(message)
        return message.to_api()

    def _m_editmessagecaption(self, bot: BotAccount, p: dict[str, Any], raw: dict[str, Any]) -> Any:
        """Bot API editMessageCaption."""
        message = self._editable(bot, p)
        if message.text is not None or message.is_service:
            raise bad_request("there is no caption in the message to edit")
        caption: str | None = None
        caption_entities: list[dict[str, Any]] = []
        if p.get("caption"):
            caption, caption_entities = self._format(
                p["caption"], p.get("parse_mode"), p.get("caption_entities"), caption=True
            )
        inline, _ = self._markup(p.get("reply_markup"), inline_only=True)
        if (
            (caption or None) == message.caption
            and caption_entities == message.caption_entities
            and inline == message.reply_markup
        ):
            raise bad_request(_NOT_MODIFIED)
        message.caption = caption or None
        message.caption_entities = caption_entities
        message.reply_markup = inline
        self._record_edit(message)
        return message.to_api()

    def _m_editmessagereplymarkup(
        self, bot: BotAccount, p: dict[str, Any], raw: dict[str, Any]
    ) -> Any:
        """Bot API editMessageReplyMarkup."""
        message = self._editable(bot, p)
        inline, _ = self._markup(p.get("reply_markup"), inline_only=True)
        if inline == message.reply_markup:
            raise bad_request(_NOT_MODIFIED)
        message.reply_markup = inline
        self._record_edit(message)
        return message.to_api()

    def _delete(self, bot: BotAccount, chat: Chat, message_id: Any) -> None:
        """Delete one message, checking the bot's right to."""
        message = self._find_message(chat, message_id, "message to delete not found")
        if (
            message.sender.id != bot.id
            and not chat.is_private
            and chat.bots.get(bot.id) != "administrator"
        ):
            raise bad_request("message can't be deleted")
        message.deleted = True
        message.deleted_date = self._now()
        self._emit(Event("delete", chat.id, message))

    def _m_deletemessage(self, bot: BotAccount, p: dict[str, Any], raw: dict[str, Any]) -> Any:
        """Bot API deleteMessage."""
        chat = self._target(bot, p["chat_id"])
        self._delete(bot, chat, p["message_id"])
        return True

    def _m_deletemessages(self, bot: BotAccount, p: dict[str, Any], raw: dict[str, Any]) -> Any:
        """Bot API deleteMessages."""
        chat = self._target(bot, p["chat_id"])
        ids = p["message_ids"]
        if not 1 <= len(ids) <= 100:
            raise bad_request("too many messages to delete")
        deleted = 0
        for message_id in ids:
            with contextlib.suppress(ApiError):
                self._delete(bot, chat, message_id)
                deleted += 1
        if not deleted:
            raise bad_request("message to delete not found")
        return True

    def _m_answercallbackquery(
        self, bot: BotAccount, p: dict[str, Any], raw: dict[str, Any]
    ) -> Any:
        """Bot API answerCallbackQuery."""
        query = bot.callback_queries.get(p["callback_query_id"])
        if query is None or query.answer is not None:
            raise bad_request(_QUERY_TOO_OLD)
        if (
            self.callback_timeout is not None
            and time.monotonic() - query.created_monotonic > self.callback_timeout
        ):
            raise bad_request(_QUERY_TOO_OLD)
        text = p.get("text")
        if text is not None and len(text) > 200:
            raise bad_request("MESSAGE_TOO_LONG")
        query.answer = CallbackAnswer(
            text=text,
            show_alert=bool(p.get("show_alert", False)),
            url=p.get("url"),
            cache_time=p.get("cache_time", 0),
        )
        query.answered.set()
        self._emit(Event("callback_answer", query.message.chat.id, query.message, query))
        return True

    def _m_getfile(self, bot: BotAccount, p: dict[str, Any], raw: dict[str, Any]) -> Any:
        """Bot API getFile."""
        stored = self.files.get(p["file_id"])
        if stored is None:
            raise bad_request("invalid file_id")
        if stored.size > _MAX_DOWNLOAD:
            raise bad_request("file is too big")
        return stored.file()

    def _m_sendchataction(self, bot: BotAccount, p: dict[str, Any], raw: dict[str, Any]) -> Any:
        """Bot API sendChatAction."""
        chat = self._target(bot, p["chat_id"])
        if p["action"] not in _CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        chat.actions.append((time.monotonic(), p["action"]))
        return True

    @staticmethod
    def _scope_key(scope: dict[str, Any] | None) -> tuple[str, Any, Any]:
        """Hashable key for a BotCommandScope."""
        if not scope:
            return ("default", None, None)
        chat_id = scope.get("chat_id")
        if isinstance(chat_id, str):
            with contextlib.suppress(ValueError):
                chat_id = int(chat_id)
        return (str(scope.get("type", "default")), chat_id, scope.get("user_id"))

    def _m_setmycommands(self, bot: BotAccount, p: dict[str, Any], raw: dict[str, Any]) -> Any:
        """Bot API setMyCommands."""
        commands = p["commands"]
        if len(commands) > 100:
            raise bad_request("too many commands")
        clean = []
        for command in commands:
            name = str(command.get("command", ""))
            description = str(command.get("description", ""))
            if not _COMMAND_NAME.match(name):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(description) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
            clean.append({"command": name, "description": description})
        key = (self._scope_key(p.get("scope")), p.get("language_code", ""))
        if clean:
            bot.commands[key] = clean
        else:
            bot.commands.pop(key, None)
        return True

    def _m_getmycommands(self, bot: BotAccount, p: dict[str, Any], raw: dict[str, Any]) -> Any:
        """Bot API getMyCommands."""
        key = (self._scope_key(p.get("scope")), p.get("language_code", ""))
        return list(bot.commands.get(key, []))

    def _m_deletemycommands(self, bot: BotAccount, p: dict[str, Any], raw: dict[str, Any]) -> Any:
        """Bot API deleteMyCommands."""
        bot.commands.pop((self._scope_key(p.get("scope")), p.get("language_code", "")), None)
        return True

    def _m_setchatmenubutton(self, bot: BotAccount, p: dict[str, Any], raw: dict[str, Any]) -> Any:
        """Bot API setChatMenuButton."""
        chat_id = p.get("chat_id")
        if chat_id is not None:
            self._target(bot, chat_id, write=False)
        bot.menu_buttons[chat_id] = p.get("menu_button") or {"type": "default"}
        return True

    def _m_getchatmenubutton(self, bot: BotAccount, p: dict[str, Any], raw: dict[str, Any]) -> Any:
        """Bot API getChatMenuButton."""
        chat_id = p.get("chat_id")
        return bot.menu_buttons.get(chat_id) or bot.menu_buttons.get(None) or {"type": "commands"}

    def _profile_setter(
        self, bot: BotAccount, p: dict[str, Any], field_name: str, limit: int
    ) -> Any:
        """setMyName / setMyDescription / setMyShortDescription."""
        value = p.get(field_name, "")
        if len(value) > limit:
            raise bad_request(f"{field_name} is too long")
        bot.profile[(field_name, p.get("language_code", ""))] = value
        return True

    def _m_setmyname(self, bot: BotAccount, p: dict[str, Any], raw: dict[str, Any]) -> Any:
        """Bot API setMyName."""
        return self._profile_setter(bot, p, "name", 64)

    def _m_getmyname(self, bot: BotAccount, p: dict[str, Any], raw: dict[str, Any]) -> Any:
        """Bot API getMyName."""
        name = bot.profile.get(("name", p.get("language_code", ""))) or bot.user.first_name
        return {"name": name}

    def _m_setmydescription(self, bot: BotAccount, p: dict[str, Any], raw: dict[str, Any]) -> Any:
        """Bot API setMyDescription."""
        return self._profile_setter(bot, p, "description", 512)

    def _m_getmydescription(self, bot: BotAccount, p: dict[str, Any], raw: dict[str, Any]) -> Any:
        """Bot API getMyDescription."""
        return {"description": bot.profile.get(("description", p.get("language_code", "")), "")}

    def _m_setmyshortdescription(
        self, bot: BotAccount, p: dict[str, Any], raw: dict[str, Any]
    ) -> Any:
        """Bot API setMyShortDescription."""
        return self._profile_setter(bot, p, "short_description", 120)

    def _m_getmyshortdescription(
        self, bot: BotAccount, p: dict[str, Any], raw: dict[str, Any]
    ) -> Any:
        """Bot API getMyShortDescription."""
        key = ("short_description", p.get("language_code", ""))
        return {"short_description": bot.profile.get(key, "")}

    def _m_getchat(self, bot: BotAccount, p: dict[str, Any], raw: dict[str, Any]) -> Any:
        """Bot API getChat."""
        chat = self._target(bot, p["chat_id"], write=False)
        info = chat.to_api()
        info.update(
            accent_color_id=0,
            max_reaction_count=11,
            accepted_gift_types={
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        )
        if chat.pinned:
            pinned = chat.messages.get(chat.pinned[-1])
            if pinned is not None and not pinned.deleted:
                info["pinned_message"] = pinned.to_api(nested=False)
        if chat.migrated_from is not None:
            info["migrated_from_chat_id"] = chat.migrated_from  # not in Telegram; harmless extra
        if not chat.is_private:
            info["permissions"] = {"can_send_messages": True}
        return info

    def _member_status(self, chat: Chat, user_id: int) -> tuple[User, str]:
        """A user's (or bot's) status in a chat."""
        bot = self.bots.get(user_id)
        if bot is not None:
            if chat.is_private:
                return bot.user, "kicked" if chat.blocked else "member"
            return bot.user, chat.bots.get(user_id, "left")
        user = self.users.get(user_id)
        if user is None:
            raise bad_request("user not found")
        if chat.is_private:
            if chat.user is not None and chat.user.id == user_id:
                return user, "member"
            raise bad_request("user not found")
        return user, chat.members.get(user_id, "left")

    def _m_getchatmember(self, bot: BotAccount, p: dict[str, Any], raw: dict[str, Any]) -> Any:
        """Bot API getChatMember."""
        chat = self._target(bot, p["chat_id"], write=False)
        user, status = self._member_status(chat, p["user_id"])
        return member_object(user, status)

    def _m_getchatadministrators(
        self, bot: BotAccount, p: dict[str, Any], raw: dict[str, Any]
    ) -> Any:
        """Bot API getChatAdministrators."""
        chat = self._target(bot, p["chat_id"], write=False)
        if chat.is_private:
            raise bad_request("there are no administrators in the private chat")
        admins = [
            member_object(chat.member_users[uid], status)
            for uid, status in chat.members.items()
            if status in ("creator", "administrator")
        ]
        admins += [
            member_object(self.bots[bid].user, "administrator")
            for bid, status in chat.bots.items()
            if status == "administrator"
        ]
        return admins

    def _m_getchatmembercount(self, bot: BotAccount, p: dict[str, Any], raw: dict[str, Any]) -> Any:
        """Bot API getChatMemberCount."""
        chat = self._target(bot, p["chat_id"], write=False)
        if chat.is_private:
            return 2
        humans = sum(1 for s in chat.members.values() if s in ACTIVE_STATUSES)
        return humans + sum(1 for s in chat.bots.values() if s in ACTIVE_STATUSES)

    def _m_leavechat(self, bot: BotAccount, p: dict[str, Any], raw: dict[str, Any]) -> Any:
        """Bot API leaveChat."""
        chat = self._target(bot, p["chat_id"], write=False)
        if chat.is_private:
            raise bad_request("chat member status can't be changed in private chats")
        old = chat.bots.get(bot.id, "member")
        chat.bots[bot.id] = "left"
        chat.bot_kicked.pop(bot.id, None)
        self._push_member_update(bot, chat, bot.user, old, "left")
        self._service(
            chat,
            bot.user,
            {"left_chat_member": bot.user.to_api(), "left_chat_participant": bot.user.to_api()},
        )
        return True

    def _can_pin(self, bot: BotAccount, chat: Chat) -> None:
        """Refuse pin changes where the bot lacks the right."""
        if not chat.is_private and chat.bots.get(bot.id) != "administrator":
            raise bad_request("not enough rights to manage pinned messages in the chat")

    def _m_pinchatmessage(self, bot: BotAccount, p: dict[str, Any], raw: dict[str, Any]) -> Any:
        """Bot API pinChatMessage."""
        chat = self._target(bot, p["chat_id"])
        self._can_pin(bot, chat)
        message = self._find_message(chat, p["message_id"], "message to pin not found")
        if message.message_id in chat.pinned:
            chat.pinned.remove(message.message_id)
        chat.pinned.append(message.message_id)
        service = Message(
            chat=chat,
            message_id=chat.allocate_id(),
            date=self._now(),
            sender=bot.user,
            extra={"pinned_message": message},
        )
        chat.messages[service.message_id] = service
        self._emit(Event("message", chat.id, service))
        return True

    def _m_unpinchatmessage(self, bot: BotAccount, p: dict[str, Any], raw: dict[str, Any]) -> Any:
        """Bot API unpinChatMessage."""
        chat = self._target(bot, p["chat_id"])
        self._can_pin(bot, chat)
        message_id = p.get("message_id")
        if message_id is None:
            if chat.pinned:
                chat.pinned.pop()
        elif message_id in chat.pinned:
            chat.pinned.remove(message_id)
        else:
            raise bad_request("message to unpin not found")
        self._emit(Event("chat", chat.id, detail={"action": "unpinned"}))
        return True

    def _m_unpinallchatmessages(
        self, bot: BotAccount, p: dict[str, Any], raw: dict[str, Any]
    ) -> Any:
        """Bot API unpinAllChatMessages."""
        chat = self._target(bot, p["chat_id"])
        self._can_pin(bot, chat)
        chat.pinned.clear()
        self._emit(Event("chat", chat.id, detail={"action": "unpinned"}))
        return True

    # ------------------------------------------------------------------ views

    def bot_messages(self, chat: Chat, *, include_deleted: bool = False) -> list[Message]:
        """Messages bots put in a chat, oldest first, in their current state."""
        return [
            m
            for m in chat.current.messages.values()
            if m.sender.is_bot and (include_deleted or not m.deleted)
        ]

    def file(self, file_id: str) -> StoredFile:
        """A stored file by id."""
        stored = self.files.get(file_id)
        if stored is None:
            raise EmulatorError(f"unknown file_id {file_id!r}")
        return stored

    def file_url(self, stored: StoredFile) -> str | None:
        """Control-API download URL for a file, once a server has published its address."""
        if self.control_url is None:
            return None
        return f"{self.control_url}/files/{stored.file_id}"

    def message_view(self, message: Message) -> dict[str, Any]:
        """A JSON-friendly view of a message for the control API and web chat."""
        from .html import to_html

        view: dict[str, Any] = {
            "chat_id": message.chat.id,
            "message_id": message.message_id,
            "date": message.date,
            "from": message.sender.to_api(),
            "is_bot": message.sender.is_bot,
            "text": message.text,
            "entities": message.entities,
            "caption": message.caption,
            "caption_entities": message.caption_entities,
            "html": to_html(message.text, message.entities)
            if message.text is not None
            else (to_html(message.caption, message.caption_entities) if message.caption else None),
            "buttons": [
                [
                    {
                        "text": b.get("text"),
                        "callback_data": b.get("callback_data"),
                        "url": b.get("url"),
                    }
                    for b in row
                ]
                for row in (message.reply_markup or {}).get("inline_keyboard", [])
            ],
            "reply_keyboard": message.reply_keyboard,
            "edit_count": message.edit_count,
            "edits": [
                {
                    "date": e.date,
                    "text": e.text,
                    "caption": e.caption,
                    "html": to_html(e.text, e.entities) if e.text is not None else None,
                }
                for e in message.edits
            ],
            "deleted": message.deleted,
            "reply_to_message_id": message.reply_to.message_id if message.reply_to else None,
            "media_group_id": message.media_group_id,
            "service": {
                k: (v.message_id if isinstance(v, Message) else v) for k, v in message.extra.items()
            }
            or None,
        }
        if message.photo:
            largest = message.photo[-1]
            view["photo"] = {
                "file_id": largest.file_id,
                "width": largest.width,
                "height": largest.height,
                "size": largest.size,
                "url": self.file_url(largest),
            }
        if message.document is not None:
            doc = message.document
            view["document"] = {
                "file_id": doc.file_id,
                "file_name": doc.filename,
                "mime_type": doc.mime_type,
                "size": doc.size,
                "url": self.file_url(doc),
            }
        return view
