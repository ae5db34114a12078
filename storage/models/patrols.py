"""The duty roster's overrides and the patrol log (R11)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Date, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base
from storage.types import BigIntPK


class DutyOverride(Base):
    """A duty day handed to someone other than the rotation says."""

    __tablename__ = "duty_overrides"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger)
    set_by: Mapped[int] = mapped_column(BigInteger)
    set_at: Mapped[datetime]


class PatrolRound(Base):
    """One patrol round: when it is due, who was asked, and what they answered."""

    __tablename__ = "patrol_rounds"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))
    # The kind's name and checklist as they were when the round was planned.
    name: Mapped[str] = mapped_column(String(60))
    checklist: Mapped[list[Any]] = mapped_column(default=list)
    irregular: Mapped[bool] = mapped_column(default=False)
    day: Mapped[date] = mapped_column(Date, index=True)
    due_at: Mapped[datetime] = mapped_column(index=True)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    late: Mapped[bool] = mapped_column(default=False)
    officer_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    recipients: Mapped[list[Any]] = mapped_column(default=list)
    answer: Mapped[str | None] = mapped_column(String(16))
    answered_at: Mapped[datetime | None]
    answered_by: Mapped[int | None] = mapped_column(BigInteger)
    note: Mapped[str | None] = mapped_column(Text)
    missed_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]
    incident_id: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (Index("uq_patrol_rounds_kind_due", "kind", "due_at", unique=True),)
