"""A small DSL for journey tests: users and groups that talk to the bot through the emulator."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Union

from .core import Emulator, EmulatorError
from .html import to_html
from .models import BotAccount, CallbackAnswer, Chat, Message, User

__all__ = [
    "BotMessage",
    "Button",
    "CallbackAnswer",
    "FileInfo",
    "GroupHandle",
    "TelegramWorld",
    "UserHandle",
]

DEFAULT_TIMEOUT = 5.0
Needle = Union[str, "re.Pattern[str]", Callable[["BotMessage"], bool]]


@contextmanager
def _as_assertion() -> Iterator[None]:
    """Turn the emulator's refusals into test failures with the same message."""
    try:
        yield
    except EmulatorError as exc:
        raise AssertionError(str(exc)) from None


def _language(lang: str | None) -> str | None:
    """Telegram's language_code for a short language name ("zh" -> "zh-hans")."""
    if lang is None:
        return None
    return {"zh": "zh-hans", "zh-cn": "zh-hans", "zh-tw": "zh-hant"}.get(lang.lower(), lang)


def _describe(needle: Needle) -> str:
    """Readable form of what a wait looks for."""
    if isinstance(needle, str):
        return repr(needle)
    if isinstance(needle, re.Pattern):
        return f"/{needle.pattern}/"
    return getattr(needle, "__name__", "predicate")


def _matches(needle: Needle, message: BotMessage) -> bool:
    """Whether a message's current plain text satisfies the needle."""
    if isinstance(needle, str):
        return needle in message.text
    if isinstance(needle, re.Pattern):
        return needle.search(message.text) is not None
    return bool(needle(message))


def _short(text: str, limit: int = 80) -> str:
    """One-line excerpt for failure messages."""
    flat = text.replace("\n", " / ")
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


@dataclass(frozen=True)
class Button:
    """An inline keyboard button as the user sees it."""

    text: str
    callback_data: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class FileInfo:
    """A file the bot sent: its name, bytes and type."""

    file_id: str
    filename: str | None
    data: bytes
    mime_type: str | None
    width: int = 0
    height: int = 0

    @property
    def size(self) -> int:
        """Size in bytes."""
        return len(self.data)

    @property
    def content(self) -> bytes:
        """The file's bytes (same as `data`)."""
        return self.data

    @property
    def mime(self) -> str | None:
        """The MIME type (same as `mime_type`)."""
        return self.mime_type


class BotMessage:
    """A live view of one message the bot sent (always shows its current state)."""

    def __init__(self, world: TelegramWorld, message: Message) -> None:
        self.world = world
        self.message = message

    def __repr__(self) -> str:
        state = " deleted" if self.deleted else ""
        return f"<BotMessage #{self.message_id} in {self.chat_id}{state}: {_short(self.text)!r}>"

    @property
    def message_id(self) -> int:
        """The message id."""
        return self.message.message_id

    @property
    def chat_id(self) -> int:
        """The id of the chat holding it now (follows migrations)."""
        return self.message.chat.id

    @property
    def text(self) -> str:
        """Plain text (or caption) as the user reads it."""
        return self.message.plain

    @property
    def html(self) -> str:
        """Text (or caption) re-rendered as Telegram HTML."""
        if self.message.text is not None:
            return to_html(self.message.text, self.message.entities)
        return to_html(self.message.caption or "", self.message.caption_entities)

    @property
    def entities(self) -> list[dict[str, Any]]:
        """Entities of the text (or caption)."""
        if self.message.text is not None:
            return self.message.entities
        return self.message.caption_entities

    @property
    def buttons(self) -> list[list[Button]]:
        """Inline keyboard rows."""
        rows = (self.message.reply_markup or {}).get("inline_keyboard") or []
        return [
            [Button(b.get("text", ""), b.get("callback_data"), b.get("url")) for b in row]
            for row in rows
        ]

    def button(self, label: str) -> Button:
        """The button with this label (AssertionError listing the labels when absent)."""
        for row in self.buttons:
            for button in row:
                if button.text == label:
                    return button
        labels = [b.text for row in self.buttons for b in row]
        raise AssertionError(f"{self!r} has no button {label!r}; buttons: {labels}")

    @property
    def reply_keyboard(self) -> list[list[str]] | None:
        """Reply keyboard rows this message set, if any."""
        markup = self.message.reply_keyboard
        if not markup or "keyboard" not in markup:
            return None
        return [[b.get("text", "") for b in row] for row in markup["keyboard"]]

    @property
    def edit_count(self) -> int:
        """How many times the bot edited it."""
        return self.message.edit_count

    @property
    def edits(self) -> list[Any]:
        """Edit records (time and content after each edit)."""
        return list(self.message.edits)

    @property
    def deleted(self) -> bool:
        """True once the bot deleted it."""
        return self.message.deleted

    @property
    def reply_to_message_id(self) -> int | None:
        """Id of the message it replies to."""
        return self.message.reply_to.message_id if self.message.reply_to else None

    @property
    def document(self) -> FileInfo | None:
        """The attached document."""
        doc = self.message.document
        if doc is None:
            return None
        return FileInfo(doc.file_id, doc.filename, doc.data, doc.mime_type)

    @property
    def photo(self) -> FileInfo | None:
        """The largest size of the attached photo."""
        if not self.message.photo:
            return None
        size = self.message.photo[-1]
        return FileInfo(
            size.file_id,
            size.filename,
            size.data,
            size.mime_type or "image/jpeg",
            size.width,
            size.height,
        )

    def to_api(self) -> dict[str, Any]:
        """The Bot API Message object for its current state."""
        return self.message.to_api()

    async def press(
        self,
        label: str | None = None,
        *,
        by: UserHandle | User | None = None,
        data: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - tests name their deadline
    ) -> CallbackAnswer:
        """Press a button (by label, or by callback `data`); return the bot's answer."""
        if label is None and data is None:
            raise AssertionError("press() needs a label or data")
        user = self.world._presser(self.message.chat, by)
        with _as_assertion():
            query = self.world.emulator.press_button(user, self.message, label=label, data=data)
        return await self.world._await_answer(query, timeout)

    async def wait_until(self, needle: Needle, timeout: float = DEFAULT_TIMEOUT) -> BotMessage:  # noqa: ASYNC109
        """Wait until the message (after edits) satisfies `needle`; returns itself."""
        emulator = self.world.emulator
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            signal = emulator.change_signal()
            if _matches(needle, self):
                return self
            remaining = deadline - loop.time()
            if remaining <= 0:
                history = [_short(e.text or e.caption or "") for e in self.message.edits]
                raise AssertionError(
                    f"{self!r} did not come to match {_describe(needle)} within {timeout}s; "
                    f"edits so far: {history}" + self.world._refusals(self.chat_id)
                )
            try:
                await asyncio.wait_for(signal.wait(), remaining)
            except TimeoutError:
                continue

    async def wait_deleted(self, timeout: float = DEFAULT_TIMEOUT) -> None:  # noqa: ASYNC109
        """Wait until the bot deletes this message."""
        await self.wait_until(lambda m: m.deleted, timeout)


class _ChatHandle:
    """Shared waiting logic for a chat seen from one handle (with its own cursor)."""

    world: TelegramWorld
    cursor: int

    def _chat(self) -> Chat:
        """The chat this handle watches."""
        raise NotImplementedError

    def _label(self) -> str:
        """How failure messages name this chat."""
        raise NotImplementedError

    def messages(self, *, include_deleted: bool = False) -> list[BotMessage]:
        """Everything the bot put in this chat, current state, oldest first."""
        bot_id = self.world.bot.id
        return [
            BotMessage(self.world, m)
            for m in self._chat().current.messages.values()
            if m.sender.id == bot_id and (include_deleted or not m.deleted)
        ]

    def last(self) -> BotMessage | None:
        """The newest bot message in the chat."""
        found = self.messages()
        return found[-1] if found else None

    def skip(self) -> None:
        """Move the cursor past everything already in the chat."""
        self.cursor = self._chat().current.next_message_id - 1

    async def wait_for(self, needle: Needle, timeout: float = DEFAULT_TIMEOUT) -> BotMessage:  # noqa: ASYNC109
        """Next bot message after the cursor whose text satisfies `needle`; moves the cursor."""
        emulator = self.world.emulator
        bot_id = self.world.bot.id
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            signal = emulator.change_signal()
            chat = self._chat().current
            for message_id in range(self.cursor + 1, chat.next_message_id):
                message = chat.messages.get(message_id)
                if message is None or message.sender.id != bot_id or message.deleted:
                    continue
                handle = BotMessage(self.world, message)
                if _matches(needle, handle):
                    self.cursor = message_id
                    return handle
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(self._timeout_message(needle, timeout))
            try:
                await asyncio.wait_for(signal.wait(), remaining)
            except TimeoutError:
                continue

    def _timeout_message(self, needle: Needle, timeout: float) -> str:
        """Explain a failed wait: what the chat did receive, and what the bot had refused."""
        chat = self._chat().current
        bot_id = self.world.bot.id
        newer = [m for mid, m in chat.messages.items() if mid > self.cursor]
        received = [
            f"#{m.message_id}{' (deleted)' if m.deleted else ''}: {_short(m.plain)!r}"
            for m in newer
            if m.sender.id == bot_id
        ]
        older = sum(
            1 for mid, m in chat.messages.items() if mid <= self.cursor and m.sender.id == bot_id
        )
        lines = [
            f"{self._label()}: no bot message matching {_describe(needle)} within {timeout}s.",
            f"Bot messages after the cursor (#{self.cursor}): "
            + ("; ".join(received) if received else "none"),
            f"({older} earlier bot messages were before the cursor.)",
        ]
        return "\n".join(lines) + self.world._refusals(chat.id)


class UserHandle(_ChatHandle):
    """A test user; talks to the bot in their private chat."""

    def __init__(self, world: TelegramWorld, user: User) -> None:
        self.world = world
        self.user = user
        self.cursor = 0

    def __repr__(self) -> str:
        return f"<UserHandle {self.user.full_name} ({self.user.id})>"

    @property
    def id(self) -> int:
        """The user id (also the private chat id)."""
        return self.user.id

    @property
    def name(self) -> str:
        """Full name."""
        return self.user.full_name

    @property
    def chat(self) -> Chat:
        """The private chat with the bot."""
        return self.world.emulator.private_chat(self.user, self.world.bot)

    def _chat(self) -> Chat:
        """The chat this handle watches."""
        return self.chat

    def _label(self) -> str:
        """How failure messages name this chat."""
        return f"private chat of {self.user.full_name}"

    @property
    def keyboard(self) -> list[list[str]] | None:
        """The reply keyboard the bot currently shows this user."""
        markup = self.chat.reply_keyboard
        if not markup or "keyboard" not in markup:
            return None
        return [[b.get("text", "") for b in row] for row in markup["keyboard"]]

    @property
    def actions(self) -> list[str]:
        """Chat actions (typing, upload_document...) the bot sent here."""
        return [action for _, action in self.chat.actions]

    async def send(self, text: str, *, reply_to: BotMessage | Message | None = None) -> Message:
        """Send text (a /command gets its bot_command entity) to the bot."""
        target = reply_to.message if isinstance(reply_to, BotMessage) else reply_to
        with _as_assertion():
            message = self.world.emulator.send_user_message(
                self.user, self.chat, text, reply_to=target
            )
        await asyncio.sleep(0)
        return message

    async def send_album(self, photos: list[bytes], caption: str | None = None) -> list[Message]:
        """Send 2-10 photos as one album: one message (and update) each, one media_group_id."""
        with _as_assertion():
            messages = self.world.emulator.send_user_album(
                self.user, self.chat, photos, caption=caption
            )
        await asyncio.sleep(0)
        return messages

    async def edit(self, message: Message, text: str) -> Message:
        """Edit a message I sent (its text, or its caption); the bot gets `edited_message`."""
        with _as_assertion():
            edited = self.world.emulator.edit_user_message(self.user, message, text)
        await asyncio.sleep(0)
        return edited

    async def send_photo(self, data: bytes, caption: str | None = None) -> Message:
        """Send a photo to the bot."""
        with _as_assertion():
            message = self.world.emulator.send_user_message(
                self.user, self.chat, photo=data, caption=caption
            )
        await asyncio.sleep(0)
        return message

    async def send_document(
        self,
        data: bytes,
        filename: str,
        caption: str | None = None,
        mime_type: str | None = None,
    ) -> Message:
        """Send a document to the bot."""
        with _as_assertion():
            message = self.world.emulator.send_user_message(
                self.user,
                self.chat,
                document=data,
                filename=filename,
                caption=caption,
                mime_type=mime_type,
            )
        await asyncio.sleep(0)
        return message

    async def block_bot(self) -> None:
        """Block the bot (it gets my_chat_member; its sends here get 403)."""
        with _as_assertion():
            self.world.emulator.block_bot(self.user, self.world.bot)
        await asyncio.sleep(0)

    async def unblock_bot(self) -> None:
        """Unblock the bot."""
        with _as_assertion():
            self.world.emulator.unblock_bot(self.user, self.world.bot)
        await asyncio.sleep(0)


class GroupHandle(_ChatHandle):
    """A test group (follows its migration to a supergroup)."""

    def __init__(self, world: TelegramWorld, chat: Chat) -> None:
        self.world = world
        self._group = chat
        self.cursor = 0

    def __repr__(self) -> str:
        return f"<GroupHandle {self.title!r} ({self.id})>"

    @property
    def chat(self) -> Chat:
        """The chat now (the supergroup after a migration)."""
        return self._group.current

    @property
    def id(self) -> int:
        """The chat id now."""
        return self.chat.id

    @property
    def title(self) -> str:
        """Group title."""
        return self.chat.title or ""

    def _chat(self) -> Chat:
        """The chat this handle watches."""
        return self.chat

    def _label(self) -> str:
        """How failure messages name this chat."""
        return f"group {self.title!r} ({self.id})"

    async def send(
        self,
        user: UserHandle,
        text: str,
        *,
        reply_to: BotMessage | Message | None = None,
    ) -> Message:
        """A member posts text in the group."""
        target = reply_to.message if isinstance(reply_to, BotMessage) else reply_to
        with _as_assertion():
            message = self.world.emulator.send_user_message(
                user.user, self.chat, text, reply_to=target
            )
        await asyncio.sleep(0)
        return message

    async def send_album(
        self, user: UserHandle, photos: list[bytes], caption: str | None = None
    ) -> list[Message]:
        """A member posts 2-10 photos as one album (one message each, one media_group_id)."""
        with _as_assertion():
            messages = self.world.emulator.send_user_album(
                user.user, self.chat, photos, caption=caption
            )
        await asyncio.sleep(0)
        return messages

    async def edit(self, user: UserHandle, message: Message, text: str) -> Message:
        """A member edits a message they posted here; bots that saw it get `edited_message`."""
        if message.chat.current is not self.chat:
            raise AssertionError(f"message {message.message_id} is not in {self._label()}")
        with _as_assertion():
            edited = self.world.emulator.edit_user_message(user.user, message, text)
        await asyncio.sleep(0)
        return edited

    async def send_photo(
        self, user: UserHandle, data: bytes, caption: str | None = None
    ) -> Message:
        """A member posts a photo."""
        with _as_assertion():
            message = self.world.emulator.send_user_message(
                user.user, self.chat, photo=data, caption=caption
            )
        await asyncio.sleep(0)
        return message

    async def send_document(
        self, user: UserHandle, data: bytes, filename: str, caption: str | None = None
    ) -> Message:
        """A member posts a document."""
        with _as_assertion():
            message = self.world.emulator.send_user_message(
                user.user, self.chat, document=data, filename=filename, caption=caption
            )
        await asyncio.sleep(0)
        return message

    async def migrate_to_supergroup(self, by: UserHandle | None = None) -> int:
        """Upgrade to a supergroup; returns the new chat id."""
        with _as_assertion():
            new = self.world.emulator.migrate_group(self.chat, by.user if by else None)
        await asyncio.sleep(0)
        return new.id

    async def add_bot(self, by: UserHandle, *, admin: bool = False) -> None:
        """A member adds the bot."""
        with _as_assertion():
            self.world.emulator.add_bot(self.chat, by.user, self.world.bot, admin=admin)
        await asyncio.sleep(0)

    async def remove_bot(self, by: UserHandle) -> None:
        """A member removes the bot."""
        with _as_assertion():
            self.world.emulator.remove_bot(self.chat, by.user, self.world.bot)
        await asyncio.sleep(0)

    async def promote_bot(self, by: UserHandle, admin: bool = True) -> None:
        """Make the bot an administrator (or demote it with admin=False)."""
        with _as_assertion():
            self.world.emulator.set_bot_admin(self.chat, admin, by.user, self.world.bot)
        await asyncio.sleep(0)

    async def add_member(self, user: UserHandle, by: UserHandle | None = None) -> None:
        """Add a user to the group."""
        with _as_assertion():
            self.world.emulator.add_member(self.chat, user.user, by.user if by else None)
        await asyncio.sleep(0)

    async def remove_member(self, user: UserHandle, by: UserHandle | None = None) -> None:
        """Remove a user (or let them leave when `by` is None)."""
        with _as_assertion():
            self.world.emulator.remove_member(self.chat, user.user, by.user if by else None)
        await asyncio.sleep(0)


class TelegramWorld:
    """Entry point of the DSL: create users and groups around one bot."""

    def __init__(
        self,
        emulator: Emulator,
        bot_token: str,
        *,
        bot_username: str | None = None,
        privacy_mode: bool | None = None,
    ) -> None:
        self.emulator = emulator
        with _as_assertion():
            self.bot: BotAccount = emulator.register_bot(
                bot_token, username=bot_username, privacy_mode=privacy_mode
            )

    def user(
        self,
        name: str,
        lang: str | None = "en",
        *,
        username: str | None = None,
    ) -> UserHandle:
        """A new user; "First Last" is split into first and last name."""
        first, _, last = name.partition(" ")
        user = self.emulator.create_user(
            first, last_name=last or None, username=username, language_code=_language(lang)
        )
        return UserHandle(self, user)

    def group(
        self,
        title: str,
        members: list[UserHandle] | tuple[UserHandle, ...] = (),
        *,
        supergroup: bool = False,
        bot_member: bool = True,
        bot_admin: bool = False,
        admins: list[UserHandle] | tuple[UserHandle, ...] = (),
    ) -> GroupHandle:
        """A group whose first member is its creator; the bot is a member unless told."""
        with _as_assertion():
            chat = self.emulator.create_group(
                title,
                [m.user for m in members],
                supergroup=supergroup,
                bot=self.bot,
                bot_member=bot_member,
                bot_admin=bot_admin,
                admins=[a.user for a in admins],
            )
        return GroupHandle(self, chat)

    def forge_callback(self, user: UserHandle, message: BotMessage, data: str | None) -> Any:
        """Send a callback query with arbitrary data, bypassing the button check."""
        with _as_assertion():
            return self.emulator.forge_callback(user.user, message.message, data)

    async def forge_press(
        self,
        user: UserHandle,
        message: BotMessage,
        data: str | None,
        timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - tests name their deadline
    ) -> CallbackAnswer:
        """forge_callback, then wait for the bot's answer."""
        query = self.forge_callback(user, message, data)
        return await self._await_answer(query, timeout)

    def _presser(self, chat: Chat, by: UserHandle | User | None) -> User:
        """Who presses: the private chat's user, or the named group member."""
        user = by.user if isinstance(by, UserHandle) else by
        if chat.is_private:
            assert chat.user is not None
            if user is not None and user.id != chat.user.id:
                raise AssertionError("only the chat's user can press buttons in a private chat")
            return chat.user
        if user is None:
            raise AssertionError(f"pressing in group {chat.title!r} needs by=<member>")
        return user

    async def _await_answer(self, query: Any, timeout: float) -> CallbackAnswer:  # noqa: ASYNC109
        """Wait for answerCallbackQuery on a query."""
        try:
            await asyncio.wait_for(query.answered.wait(), timeout)
        except TimeoutError:
            raise AssertionError(
                f"the bot did not answer callback query {query.id} (data {query.data!r}) "
                f"within {timeout}s" + self._refusals(query.message.chat.id)
            ) from None
        answer: CallbackAnswer = query.answer
        return answer

    def _refusals(self, chat_id: int) -> str:
        """Recent refused Bot API requests for a chat (for failure messages)."""
        refused = [
            r
            for r in self.emulator.log.records[-500:]
            if r.outcome not in ("ok", "pending")
            and r.chat_id in (chat_id, None)
            and r.method.lower() != "getupdates"
        ]
        if not refused:
            return ""
        lines = [f"  {r.method} -> {r.error}" for r in refused[-5:]]
        return "\nRecent refused requests:\n" + "\n".join(lines)
