"""The outbox held against what Telegram (the emulator) accepted: lost and duplicated copies."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import select

from emulator.core import Emulator
from storage.db import Database
from storage.models import OutboxMessage, Timer

# The outbox's method names and the Bot API requests that carry them out.
REQUESTS = {
    "send_message": "sendMessage",
    "send_document": "sendDocument",
    "send_photo": "sendPhoto",
    "send_media_group": "sendMediaGroup",
}
FINAL = {"sent", "blocked", "unreachable", "skipped"}

Key = tuple[int, str, str, tuple[str, ...]]


@dataclass
class Ledger:
    """What the outbox promised and what reached the chats."""

    rows: int = 0
    sent: int = 0
    flagged: int = 0
    duplicates: int = 0
    chats_with_duplicates: int = 0
    unfinished: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    most_copies: int = 1
    unexplained: list[str] = field(default_factory=list)
    edits: int = 0
    stale_copies: list[str] = field(default_factory=list)
    failed_edit_requests: int = 0

    def check(self, *, windows: int) -> None:
        """Nothing lost or left behind; every doubled copy is of a row flagged possible_duplicate.

        `windows` is how many times a send could have been cut off without an answer (kills,
        timeouts): each adds at most one copy of a row.
        """
        assert not self.unfinished, f"outbox rows never finished: {self.unfinished[:10]}"
        assert not self.missing, f"rows marked sent that no chat received: {self.missing[:10]}"
        assert not self.unexplained, (
            f"copies of rows not flagged possible_duplicate: {self.unexplained[:10]}"
        )
        assert self.chats_with_duplicates <= self.flagged
        assert self.most_copies <= 1 + windows
        assert not self.stale_copies, (
            f"copies not showing their last edit: {self.stale_copies[:10]}"
        )
        # Every edit was tried a bounded number of times: no loop against a moved chat.
        assert self.failed_edit_requests <= 5 * max(self.edits, 1) + windows


def _text(method: str, payload: dict[str, object]) -> str:
    if method == "send_message":
        return str(payload.get("text") or "")
    if method in ("send_document", "send_photo"):
        return str(payload.get("caption") or "")
    return ""


def _buttons(markup: object) -> tuple[str, ...]:
    """The buttons' data, so a direct reply with the same text as a notification differs."""
    if isinstance(markup, str):
        markup = json.loads(markup) if markup else None
    if not isinstance(markup, dict):
        return ()
    rows = markup.get("inline_keyboard") or []
    return tuple(str(b.get("callback_data") or b.get("url") or "") for row in rows for b in row)


def _current(emulator: Emulator, chat_id: int) -> int:
    """A group's id now: rows and messages from before its migration count for the supergroup."""
    chat = emulator.chats.get(chat_id)
    return chat.current.id if chat is not None else chat_id


def _request_text(method: str, params: dict[str, object]) -> str:
    if method == "sendMessage":
        return str(params.get("text") or "")
    if method in ("sendDocument", "sendPhoto"):
        return str(params.get("caption") or "")
    return ""


async def outbox_ledger(db: Database, emulator: Emulator) -> Ledger:
    """Match every outbox send against the requests the emulator accepted, by chat and text."""
    async with db.transaction() as session:
        everything = list((await session.execute(select(OutboxMessage))).scalars())
    rows = [r for r in everything if r.edit_of is None]
    edits = [r for r in everything if r.edit_of is not None]
    ledger = Ledger(rows=len(rows), edits=len(edits))
    _check_edits(ledger, emulator, rows, edits)
    promised: Counter[Key] = Counter()
    flagged: Counter[Key] = Counter()
    for row in rows:
        payload = row.payload or {}
        key = (
            _current(emulator, row.chat_id),
            REQUESTS[row.method],
            _text(row.method, payload),
            _buttons(payload.get("reply_markup")),
        )
        if row.status not in FINAL:
            ledger.unfinished.append(f"#{row.id} {row.method} to {row.chat_id}: {row.status}")
        if row.status == "sent":
            ledger.sent += 1
            promised[key] += 1
        if row.possible_duplicate:
            ledger.flagged += 1
            flagged[key] += 1
    received: Counter[Key] = Counter()
    wanted = set(REQUESTS.values())
    for record in emulator.log.records:
        if record.outcome != "ok" or record.method not in wanted or record.chat_id is None:
            continue
        key = (
            _current(emulator, record.chat_id),
            record.method,
            _request_text(record.method, record.params),
            _buttons(record.params.get("reply_markup")),
        )
        if key in promised or key in flagged:
            received[key] += 1
    doubled_chats: set[int] = set()
    for key, count in promised.items():
        got = received[key]
        if got < count:
            ledger.missing.append(f"{key[1]} to {key[0]}: {key[2][:60]!r} ({got} of {count})")
        extra = max(0, got - count)
        if extra:
            ledger.duplicates += extra
            doubled_chats.add(key[0])
            ledger.most_copies = max(ledger.most_copies, got // max(count, 1))
            if not flagged[key]:
                ledger.unexplained.append(
                    f"{key[1]} to {key[0]}: {key[2][:60]!r} x{got}, flagged {flagged[key]}"
                )
    ledger.chats_with_duplicates = len(doubled_chats)
    return ledger


def _check_edits(
    ledger: Ledger, emulator: Emulator, rows: list[OutboxMessage], edits: list[OutboxMessage]
) -> None:
    """Every edit ended; every copy shows the text of its last edit that went out."""
    originals = {r.id: r for r in rows}
    last_sent: dict[int, OutboxMessage] = {}
    for edit in sorted(edits, key=lambda r: r.id):
        if edit.status not in FINAL and edit.status != "failed":
            ledger.unfinished.append(f"edit #{edit.id} of #{edit.edit_of}: {edit.status}")
        if edit.status == "sent" and edit.method == "edit_message_text":
            assert edit.edit_of is not None
            last_sent[edit.edit_of] = edit
    shown: dict[tuple[int, int], str] = {}
    for record in emulator.log.records:
        if record.method != "editMessageText" or record.chat_id is None:
            continue
        if record.outcome != "ok":
            ledger.failed_edit_requests += 1
            continue
        key = (_current(emulator, record.chat_id), int(record.params.get("message_id") or 0))
        shown[key] = str(record.params.get("text") or "")
    for original_id, edit in last_sent.items():
        original = originals.get(original_id)
        if original is None or original.message_id is None or original.status != "sent":
            continue
        key = (_current(emulator, original.chat_id), original.message_id)
        wanted = str((edit.payload or {}).get("text") or "")
        if shown.get(key) != wanted and "not modified" not in (edit.last_error or ""):
            ledger.stale_copies.append(f"#{original_id} in {key[0]}: {wanted[:60]!r}")


async def overdue_timers(db: Database, *, before: object) -> list[str]:
    """Deadlines that passed (before the given moment) and never fired."""
    async with db.transaction() as session:
        rows = (
            await session.execute(
                select(Timer).where(
                    Timer.fired_at.is_(None),
                    Timer.cancelled.is_(False),
                    Timer.due_at < before,
                )
            )
        ).scalars()
        return [f"{t.kind}#{t.ref_id} due {t.due_at}" for t in rows]
