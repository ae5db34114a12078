"""Rows that keep the bot's promises across restarts: outbox, timers, conversations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base
from storage.types import BigIntPK


class OutboxMessage(Base):
    """One notification to deliver, written in the transaction that caused it."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    created_at: Mapped[datetime]
    chat_id: Mapped[int] = mapped_column(BigInteger, index=True)
    method: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    not_before: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    ref: Mapped[str | None] = mapped_column(String(64), index=True)
    batch_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    # Indexed: deleting outbox rows checks this foreign key, a table scan per row without it.
    edit_of: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"), index=True)
    possible_duplicate: Mapped[bool] = mapped_column(default=False)
    priority: Mapped[int] = mapped_column(default=0)
    # The active instance's epoch when it took the row (PostgreSQL with several instances).
    claimed_epoch: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_outbox_due", "status", "not_before"),)


class Timer(Base):
    """A deadline: when it passes, the scheduler hands it to the service for its kind."""

    __tablename__ = "timers"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    ref_id: Mapped[int] = mapped_column(BigInteger)
    due_at: Mapped[datetime]
    created_at: Mapped[datetime]
    fired_at: Mapped[datetime | None]
    cancelled: Mapped[bool] = mapped_column(default=False)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)

    __table_args__ = (
        Index("ix_timers_pending", "fired_at", "cancelled", "due_at"),
        Index("ix_timers_ref", "kind", "ref_id"),
    )


class Conversation(Base):
    """A user's half-finished guided conversation (a report draft, a warning...)."""

    __tablename__ = "conversations"

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(32))
    step: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    started_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    reminded_at: Mapped[datetime | None]
    prompt_message_id: Mapped[int | None] = mapped_column(BigInteger)
