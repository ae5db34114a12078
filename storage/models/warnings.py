"""Early warnings (预警) and their broadcasts, each broadcast one outbox batch."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base
from storage.types import BigIntPK


class EarlyWarning(Base):
    """A warning to every network user, in force from sending until it is lifted."""

    __tablename__ = "warnings"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    level: Mapped[str] = mapped_column(String(8))
    title: Mapped[str] = mapped_column(String(100))
    what: Mapped[str] = mapped_column(Text)
    defence: Mapped[str] = mapped_column(Text)
    source_url: Mapped[str | None] = mapped_column(Text)
    # Roles the warning is for; empty means every active user.
    audience_roles: Mapped[list[Any]] = mapped_column(default=list)
    sender_id: Mapped[int] = mapped_column(BigInteger, index=True)
    sender_role: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(20), index=True)
    created_at: Mapped[datetime]
    approved_by: Mapped[int | None] = mapped_column(BigInteger)
    decided_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    batch_id: Mapped[int | None] = mapped_column(BigInteger)
    lifted_at: Mapped[datetime | None]
    lifted_by: Mapped[int | None] = mapped_column(BigInteger)
    closing_note: Mapped[str | None] = mapped_column(Text)
    lift_batch_id: Mapped[int | None] = mapped_column(BigInteger)
    repeats: Mapped[int] = mapped_column(default=0)


class WarningBroadcast(Base):
    """One sending of a warning (first, repeat or lift): an outbox batch and its progress."""

    __tablename__ = "warning_broadcasts"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    warning_id: Mapped[int] = mapped_column(
        BigIntPK, ForeignKey("warnings.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(8))
    batch_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    created_at: Mapped[datetime]
    # Whom the progress message goes to, and its outbox row (which holds the message id).
    status_user_id: Mapped[int | None] = mapped_column(BigInteger)
    status_outbox_id: Mapped[int | None] = mapped_column(BigInteger)
    status_edited_at: Mapped[datetime | None]
    status_counts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    finished_at: Mapped[datetime | None] = mapped_column(index=True)
