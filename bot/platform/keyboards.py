"""Inline keyboards as plain data, so services can build them without Telegram types."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CALLBACK_DATA_LIMIT = 64


@dataclass(frozen=True, slots=True)
class Button:
    """One inline button: a callback (`data`) or a link (`url`)."""

    text: str
    data: str | None = None
    url: str | None = None

    def __post_init__(self) -> None:
        if (self.data is None) == (self.url is None):
            raise ValueError("a button needs exactly one of data or url")
        if self.data is not None and not 0 < len(self.data.encode()) <= CALLBACK_DATA_LIMIT:
            raise ValueError(f"callback data must be 1-64 bytes: {self.data!r}")

    def to_dict(self) -> dict[str, str]:
        """The Bot API's InlineKeyboardButton as JSON."""
        if self.url is not None:
            return {"text": self.text, "url": self.url}
        assert self.data is not None
        return {"text": self.text, "callback_data": self.data}


Keyboard = list[list[Button]]


def keyboard_to_dict(rows: Keyboard | None) -> dict[str, Any] | None:
    """The Bot API's InlineKeyboardMarkup as JSON, or None for no keyboard."""
    if not rows:
        return None
    return {"inline_keyboard": [[button.to_dict() for button in row] for row in rows]}


def keyboard_from_dict(markup: dict[str, Any] | None) -> Keyboard:
    """Read back a keyboard stored as JSON."""
    if not markup:
        return []
    return [
        [Button(b["text"], data=b.get("callback_data"), url=b.get("url")) for b in row]
        for row in markup.get("inline_keyboard", [])
    ]


def chunked(buttons: list[Button], per_row: int) -> Keyboard:
    """Lay buttons out in rows of a given width."""
    return [buttons[i : i + per_row] for i in range(0, len(buttons), per_row)]
