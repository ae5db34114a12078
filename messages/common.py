"""Names shared by every feature: roles, positions, levels, chat purposes, common buttons."""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from messages.i18n import N_, gettext_for

ROLES = {
    "staff": N_("staff"),
    "duty": N_("duty officer"),
    "tech_center": N_("tech center"),
    "leader": N_("leadership group"),
    "admin": N_("admin"),
}
POSITIONS = {
    "leader": N_("group leader"),
    "deputy": N_("deputy group leader"),
    "liaison": N_("liaison"),
    "tech_lead": N_("tech center lead"),
    "tech_responsible": N_("tech center responsible person"),
    "duty_officer": N_("duty officer"),
}
PURPOSES = {
    "leadership": N_("leadership group chat"),
    "tech_center": N_("tech center chat"),
    "all_staff": N_("all-staff chat"),
    "duty": N_("duty chat"),
}
LEVELS = {
    "large": N_("large"),
    "medium": N_("medium"),
    "small": N_("small"),
}
STATUSES = {
    "pending": N_("waiting for approval"),
    "active": N_("active"),
    "disabled": N_("disabled"),
    "rejected": N_("rejected"),
}

BACK = N_("⬅️ Back")
CANCEL = N_("✖️ Cancel")
SKIP = N_("Skip")
DONE = N_("Done")
CONFIRM = N_("Confirm")
YES = N_("Yes")
NO = N_("No")

EDIT_FIELD = N_("✏️ %(field)s")
RESUME = N_("Continue it")
RESTART = N_("Start over")

STALE_BUTTON = N_("This button is no longer active.")
UNKNOWN_ERROR = N_("Something went wrong. Please try again.")


def _name(table: dict[str, str], language: str, key: str) -> str:
    message = table.get(str(key))
    return gettext_for(language, message) if message else str(key)


def role_label(language: str, role: str) -> str:
    """A role's name in a language."""
    return _name(ROLES, language, role)


def position_label(language: str, position: str) -> str:
    """A position's name in a language."""
    return _name(POSITIONS, language, position)


def role_list(language: str, roles: Iterable[str]) -> str:
    """Roles' names in a language, in the order given, separated by commas."""
    return ", ".join(role_label(language, role) for role in roles)


def choices(values: Iterable[str]) -> str:
    """The words a command accepts (roles, purposes), listed for its usage text."""
    return ", ".join(values)


def purpose_label(language: str, purpose: str) -> str:
    """A chat purpose's name in a language."""
    return _name(PURPOSES, language, purpose)


def level_label(language: str, level: str) -> str:
    """A level's name in a language."""
    return _name(LEVELS, language, level)


def status_label(language: str, status: str) -> str:
    """A user status's name in a language."""
    return _name(STATUSES, language, status)


def error_text(language: str, key: str, **params: object) -> str:
    """The message for a service's refusal key such as 'access.admins_only'."""
    feature = key.split(".", 1)[0]
    try:
        module = importlib.import_module(f"messages.{feature}")
        message = getattr(module, "ERRORS", {}).get(key)
    except ImportError:
        message = None
    text = gettext_for(language, message or UNKNOWN_ERROR)
    if not (params and message):
        return text
    # A parameter naming a level is a word of the plan: say it in the reader's language.
    if isinstance(params.get("level"), str):
        params = {**params, "level": level_label(language, str(params["level"]))}
    return text % params


TEMPLATE_HELPERS = {
    "role_name": role_label,
    "position_name": position_label,
    "purpose_name": purpose_label,
    "level_name": level_label,
    "status_name": status_label,
}
