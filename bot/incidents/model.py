"""Incidents as data: categories, statuses and the draft of a report."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Category(StrEnum):
    """Kinds of incident the plan names (§三(二)3)."""

    NATURAL_DISASTER = "natural_disaster"
    VIRUS = "virus"
    INTRUSION = "intrusion"
    TAMPERING = "tampering"
    NETWORK_FAILURE = "network_failure"
    OTHER = "other"


SUBTYPES: dict[str, tuple[str, ...]] = {Category.INTRUSION: ("internet", "extranet")}


class Status(StrEnum):
    """Where an incident stands."""

    REPORTED = "reported"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"


OPEN = {Status.REPORTED, Status.ACKNOWLEDGED, Status.IN_PROGRESS, Status.RESOLVED}


@dataclass
class Draft:
    """The answers of a guided report, as kept in the conversation row."""

    category: str | None = None
    subtype: str | None = None
    level: str | None = None
    occurred_at: str | None = None
    precision: str = "exact"
    location: str | None = None
    description: str | None = None
    source: str | None = None
    source_kind: str | None = None
    source_done: bool = False
    files: list[dict[str, str]] = field(default_factory=list)
    files_done: bool = False
    is_drill: bool = False
    context: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Draft:
        """Read a draft from stored JSON."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def to_data(self) -> dict[str, Any]:
        """The draft as JSON for the conversation row."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @property
    def occurred(self) -> datetime | None:
        """When it happened, as a datetime."""
        return datetime.fromisoformat(self.occurred_at) if self.occurred_at else None

    def missing(self) -> list[str]:
        """Required answers not given yet."""
        needed = {
            "category": self.category,
            "level": self.level,
            "occurred_at": self.occurred_at,
            "location": self.location,
            "description": self.description,
        }
        gaps = [name for name, value in needed.items() if not value]
        if self.category in SUBTYPES and not self.subtype:
            gaps.append("subtype")
        return gaps
