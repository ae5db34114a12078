"""Incidents, their timeline, attachments and where they were routed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.models.base import Base
from storage.types import BigIntPK


class Incident(Base):
    """One reported incident (突发性事件), from report to the end of the emergency."""

    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    number: Mapped[str] = mapped_column(String(16), unique=True)
    year: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    is_drill: Mapped[bool] = mapped_column(default=False, index=True)
    category: Mapped[str] = mapped_column(String(24), index=True)
    subtype: Mapped[str | None] = mapped_column(String(24))
    level: Mapped[str] = mapped_column(String(8), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    occurred_at: Mapped[datetime]
    occurred_precision: Mapped[str] = mapped_column(String(16), default="exact")
    reported_at: Mapped[datetime] = mapped_column(index=True)
    location: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(String(200))
    source_kind: Mapped[str | None] = mapped_column(String(16))
    reporter_id: Mapped[int] = mapped_column(BigInteger, index=True)
    special_period: Mapped[bool] = mapped_column(default=False)
    acknowledged_by: Mapped[int | None] = mapped_column(BigInteger)
    acknowledged_at: Mapped[datetime | None]
    handler_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    taken_at: Mapped[datetime | None]
    last_update_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    escalation_round: Mapped[int] = mapped_column(default=0)
    escalation_step: Mapped[int] = mapped_column(default=0)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)

    attachments: Mapped[list[Attachment]] = relationship(
        lazy="selectin", order_by="Attachment.id", cascade="all, delete-orphan"
    )

    __table_args__ = (UniqueConstraint("is_drill", "year", "seq", name="uq_incidents_seq"),)


class Attachment(Base):
    """A photo or file the reporter attached, kept by Telegram file id."""

    __tablename__ = "incident_attachments"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    file_id: Mapped[str] = mapped_column(String(255))
    file_unique_id: Mapped[str] = mapped_column(String(64), default="")
    file_name: Mapped[str] = mapped_column(String(255), default="")


class TimelineEntry(Base):
    """Something that happened to an incident, with who and when."""

    __tablename__ = "incident_timeline"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime]
    actor_id: Mapped[int | None] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(24))
    text: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Route(Base):
    """A chat an incident was sent to, and why."""

    __tablename__ = "incident_routes"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    chat_id: Mapped[int] = mapped_column(BigInteger)
    target: Mapped[str] = mapped_column(String(32))
    added_at: Mapped[datetime]

    __table_args__ = (Index("uq_incident_routes_chat", "incident_id", "chat_id", unique=True),)


class Counter(Base):
    """The last number handed out in a series (incidents per year, drills per year)."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(default=0)
