"""Who may do what, decided from the roles stored now, never from button data."""

from __future__ import annotations

from collections.abc import Iterable

from bot.platform.config import Policy
from bot.platform.roles import Level, Role, UserStatus
from storage.models import User


def is_active(user: User | None) -> bool:
    """Whether the user is registered and approved."""
    return user is not None and user.status == UserStatus.ACTIVE


def has_any_role(user: User | None, roles: Iterable[str]) -> bool:
    """Whether an active user holds at least one of the roles."""
    if not is_active(user):
        return False
    assert user is not None
    return bool(user.role_names & {str(r) for r in roles})


def is_admin(user: User | None) -> bool:
    """Whether the user is an active admin."""
    return has_any_role(user, [Role.ADMIN])


def is_leader(user: User | None) -> bool:
    """Whether the user is an active member of the leadership group."""
    return has_any_role(user, [Role.LEADER])


def can_handle(policy: Policy, user: User | None, level: Level) -> bool:
    """Whether the user may acknowledge or take charge of an incident of this level."""
    return has_any_role(user, policy.acknowledge.roles(level))


def is_handler(user: User | None) -> bool:
    """Whether the user handles incidents at all (duty, tech center or leadership)."""
    return has_any_role(user, [Role.DUTY, Role.TECH_CENTER, Role.LEADER])
