"""The request log: every Bot API request, its timing and outcome."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .spec import UploadedFile

__all__ = ["SEND_METHODS", "RequestLog", "RequestRecord"]

# methods that put a new message into a chat (what flood limits and benchmarks count)
SEND_METHODS = frozenset(
    {
        "sendmessage",
        "sendphoto",
        "senddocument",
        "sendmediagroup",
        "copymessage",
        "forwardmessage",
        "sendaudio",
        "sendvideo",
        "sendvoice",
        "sendanimation",
        "sendsticker",
        "sendlocation",
        "sendcontact",
        "sendpoll",
        "senddice",
        "sendvenue",
        "sendvideonote",
    }
)


@dataclass(slots=True, eq=False)
class RequestRecord:
    """One Bot API request as the emulator received and answered it."""

    seq: int
    method: str
    bot_id: int | None
    params: dict[str, Any]
    chat_id: int | None
    received_monotonic: float
    received_wall: float
    outcome: str = "pending"  # "ok", "error", "fault", "dropped"
    status: int = 0
    error: str | None = None
    fault: str | None = None
    finished_monotonic: float | None = None

    @property
    def accepted(self) -> bool:
        """True when the request succeeded."""
        return self.outcome == "ok"

    @property
    def is_send(self) -> bool:
        """True for methods that post a new message."""
        return self.method.lower() in SEND_METHODS

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly view (uploaded files summarized)."""
        params = {
            key: (
                {"filename": value.filename, "size": len(value.data)}
                if isinstance(value, UploadedFile)
                else value
            )
            for key, value in self.params.items()
        }
        return {
            "seq": self.seq,
            "method": self.method,
            "bot_id": self.bot_id,
            "params": params,
            "chat_id": self.chat_id,
            "received_monotonic": self.received_monotonic,
            "received_wall": self.received_wall,
            "outcome": self.outcome,
            "status": self.status,
            "error": self.error,
            "fault": self.fault,
            "finished_monotonic": self.finished_monotonic,
        }


@dataclass(eq=False)
class RequestLog:
    """All requests in arrival order, with cheap counters for accepted sends."""

    records: list[RequestRecord] = field(default_factory=list)
    _sends_by_chat: Counter[int | None] = field(default_factory=Counter)
    _send_times: list[tuple[float, int | None]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[RequestRecord]:
        return iter(self.records)

    def append(self, record: RequestRecord) -> None:
        """Add a record (its outcome is filled in by `finish`)."""
        self.records.append(record)

    def finish(self, record: RequestRecord, outcome: str, status: int, now: float) -> None:
        """Fill in a record's outcome and update the counters."""
        record.outcome = outcome
        record.status = status
        record.finished_monotonic = now
        if outcome == "ok" and record.method.lower() in SEND_METHODS:
            self._sends_by_chat[record.chat_id] += 1
            self._send_times.append((record.received_monotonic, record.chat_id))

    def clear(self) -> None:
        """Forget every record."""
        self.records.clear()
        self._sends_by_chat.clear()
        self._send_times.clear()

    def since(self, seq: int) -> list[RequestRecord]:
        """Records with seq greater than `seq`."""
        if not self.records or seq < self.records[0].seq:
            return list(self.records)
        start = seq - self.records[0].seq + 1
        return self.records[start:]

    def by_method(self, method: str) -> list[RequestRecord]:
        """Records for one method (case-insensitive)."""
        lowered = method.lower()
        return [r for r in self.records if r.method.lower() == lowered]

    def errors(self) -> list[RequestRecord]:
        """Records that did not succeed."""
        return [r for r in self.records if r.outcome not in ("ok", "pending")]

    def accepted_sends(self, chat_id: int | None = None) -> int:
        """Accepted message sends, in one chat or (chat_id=None) in all chats."""
        if chat_id is None:
            return sum(self._sends_by_chat.values())
        return self._sends_by_chat[chat_id]

    def sends_per_chat(self) -> dict[int | None, int]:
        """Accepted message sends counted per chat."""
        return dict(self._sends_by_chat)

    def max_per_window(self, chat_id: int | None = None, window: float = 1.0) -> int:
        """Most accepted sends whose arrival fell within any one `window` seconds."""
        times: Iterable[float] = (t for t, c in self._send_times if chat_id is None or c == chat_id)
        ordered = sorted(times)
        best = 0
        start = 0
        for end, t in enumerate(ordered):
            while t - ordered[start] >= window:
                start += 1
            best = max(best, end - start + 1)
        return best

    def max_per_second(self, chat_id: int | None = None) -> int:
        """Most accepted sends within any one-second window."""
        return self.max_per_window(chat_id, 1.0)
