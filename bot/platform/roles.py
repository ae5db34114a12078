"""The vocabulary shared by every layer: roles, positions, levels, chat purposes."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """What a user may do; a user can hold several."""

    STAFF = "staff"
    DUTY = "duty"
    TECH_CENTER = "tech_center"
    LEADER = "leader"
    ADMIN = "admin"


class UserStatus(StrEnum):
    """Where a user stands with the bot."""

    PENDING = "pending"
    ACTIVE = "active"
    DISABLED = "disabled"
    REJECTED = "rejected"


class Position(StrEnum):
    """A named post on the contacts card and in the escalation chain."""

    LEADER = "leader"
    DEPUTY = "deputy"
    LIAISON = "liaison"
    TECH_LEAD = "tech_lead"
    TECH_RESPONSIBLE = "tech_responsible"
    DUTY_OFFICER = "duty_officer"


class ChatPurpose(StrEnum):
    """What a bound group chat is for."""

    LEADERSHIP = "leadership"
    TECH_CENTER = "tech_center"
    ALL_STAFF = "all_staff"
    DUTY = "duty"


class Level(StrEnum):
    """An incident's level, as the plan defines them (§一(四))."""

    LARGE = "large"
    MEDIUM = "medium"
    SMALL = "small"

    @property
    def rank(self) -> int:
        """Bigger means more severe."""
        return {"small": 1, "medium": 2, "large": 3}[self.value]


ROLE_ORDER = [Role.STAFF, Role.DUTY, Role.TECH_CENTER, Role.LEADER, Role.ADMIN]
