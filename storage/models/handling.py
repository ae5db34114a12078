"""Handling an incident to its end: ticked checklist steps and the situation report."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base
from storage.types import BigIntPK


class ChecklistTick(Base):
    """A playbook step someone marked done on an incident."""

    __tablename__ = "checklist_ticks"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    step_key: Mapped[str] = mapped_column(String(80))
    position: Mapped[int] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(Text, default="")
    ticked_by: Mapped[int] = mapped_column(BigInteger)
    ticked_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("incident_id", "step_key", name="uq_checklist_ticks_step"),)


class SituationReport(Base):
    """The report the plan asks for when an incident is closed (§三(二)3(3))."""

    __tablename__ = "situation_reports"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), unique=True
    )
    consequences: Mapped[str] = mapped_column(Text)
    process: Mapped[str] = mapped_column(Text)
    result: Mapped[str] = mapped_column(Text)
    ended_at: Mapped[datetime]
    recommendations: Mapped[str] = mapped_column(Text)
    written_by: Mapped[int] = mapped_column(BigInteger)
    written_at: Mapped[datetime]
