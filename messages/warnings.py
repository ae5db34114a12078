"""Texts of early warnings: levels, buttons, figures and the refusals of each step."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

from messages import common
from messages.common import error_text, role_label
from messages.fit import truncate_text
from messages.i18n import N_, gettext_for

LEVEL_ICONS = {"blue": "🔵", "yellow": "🟡", "orange": "🟠", "red": "🔴"}
LEVEL_BUTTONS = {
    "blue": N_("Blue"),
    "yellow": N_("Yellow"),
    "orange": N_("Orange"),
    "red": N_("Red"),
}
LEVEL_NAMES = {
    "blue": N_("Blue warning"),
    "yellow": N_("Yellow warning"),
    "orange": N_("Orange warning"),
    "red": N_("Red warning"),
}
LEVEL_MEANINGS = {
    "blue": N_(
        "Blue (general): a threat has appeared elsewhere or was announced by a security "
        "site, and could reach us. Stay alert."
    ),
    "yellow": N_(
        "Yellow (serious): the threat is likely to reach us. Check your systems and follow "
        "the advice."
    ),
    "orange": N_(
        "Orange (severe): the threat is spreading nearby or has begun here. Take the "
        "defensive steps now."
    ),
    "red": N_(
        "Red (very severe): a major threat is imminent or under way. Follow the instructions "
        "at once. A red warning needs a leader's approval."
    ),
}
STEP_NAMES = {
    "level": N_("Level"),
    "title": N_("Warning title"),
    "what": N_("What is happening"),
    "defence": N_("How to defend"),
    "source": N_("Source"),
    "audience": N_("Audience"),
    "preview": N_("Preview"),
    "note": N_("Closing note"),
}

EVERYONE = N_("👥 Everyone")
CHOSEN_ROLES = N_("Continue with the chosen roles")
SEND = N_("📢 Send")
APPROVE = N_("✅ Approve")
REJECT = N_("✖️ Reject")
SENDING_ALERT = N_("Sending. Your progress message follows.")
WAITING_ALERT = N_("Sent to the leadership group for approval.")
APPROVED_ALERT = N_("Approved. The warning is going out.")
REJECTED_ALERT = N_("Rejected. The sender has been told.")

CMD_WARN = N_("publish an early warning")
CMD_WARNINGS = N_("warnings in force")
CMD_LIFT = N_("lift a warning")

AGE_MINUTES = N_("%(minutes)s min")
AGE_HOURS = N_("%(hours)s h %(minutes)s min")
AGE_DAYS = N_("%(days)s d %(hours)s h")

ERRORS = {
    "warnings.not_allowed": N_(
        "Only the tech center and the leadership group can publish or lift warnings."
    ),
    "warnings.private_only": N_("Please do this in a private chat with me."),
    "warnings.bad_title": N_("Send a title of 1 to 100 characters. Yours has %(length)s."),
    "warnings.bad_what": N_(
        "Describe what is happening in 1 to 2000 characters. Yours has %(length)s."
    ),
    "warnings.bad_defence": N_(
        "Say how to defend against it in 1 to 2000 characters. Yours has %(length)s."
    ),
    "warnings.too_long": N_(
        "Together the texts would not fit in one message. Please shorten this answer by at "
        "least %(over)s characters."
    ),
    "warnings.bad_url": N_(
        "That is not a valid web link. Send a full link starting with http:// or https://, "
        "for example https://www.cert.org.cn/, or press Skip."
    ),
    "warnings.want_text": N_("Please answer in words; photos and files cannot be attached."),
    "warnings.choose_roles": N_("Choose at least one role, or Everyone."),
    "warnings.incomplete": N_("The warning is missing: %(fields)s."),
    "warnings.no_approver": N_(
        "A red warning needs a leader's approval, but there is no leadership group chat "
        "and no leader to ask. Ask an admin to bind the leadership chat."
    ),
    "warnings.leaders_only": N_("Only the leadership group can approve or reject a red warning."),
    "warnings.not_found": N_("No such warning."),
    "warnings.already_decided": N_("This warning has already been decided."),
    "warnings.not_active": N_("This warning is not in force."),
    "warnings.cannot_lift": N_(
        "Only the tech center or the leadership group can lift this warning."
    ),
    "warnings.cannot_lift_leader": N_(
        "A leader published this warning, so only the leadership group can lift it."
    ),
    "warnings.usage_lift": N_(
        "Usage: /lift followed by the warning's number, e.g. /lift 1. /warnings lists the "
        "warnings in force with their numbers."
    ),
    "warnings.bad_note": N_("Send a closing note of 1 to 1000 characters. Yours has %(length)s."),
}


def level_icon(language: str, level: str) -> str:
    """The coloured circle of a level."""
    return LEVEL_ICONS.get(level, "⚠️")


def warning_level_name(language: str, level: str) -> str:
    """'Yellow warning' in a language."""
    message = LEVEL_NAMES.get(level)
    return gettext_for(language, message) if message else level


def warning_level_meaning(language: str, level: str) -> str:
    """A level's one-line meaning."""
    message = LEVEL_MEANINGS.get(level)
    return gettext_for(language, message) if message else level


def level_button(language: str, level: str) -> str:
    """A level's button label: its colour and name."""
    return f"{level_icon(language, level)} {gettext_for(language, LEVEL_BUTTONS[level])}"


def step_name(language: str, step: str) -> str:
    """A step's short name in a language."""
    message = STEP_NAMES.get(step)
    return gettext_for(language, message) if message else step


def role_toggle(language: str, role: str, chosen: bool) -> str:
    """An audience button: ✅ for a role chosen, ⬜ for one not."""
    return f"{'✅' if chosen else '⬜'} {role_label(language, role)}"


def audience_label(language: str, roles: list[str]) -> str:
    """Who a warning goes to: everyone, or the roles chosen."""
    if not roles:
        return gettext_for(language, EVERYONE)
    return ", ".join(role_label(language, role) for role in roles)


_BUTTONS = {"send": SEND, "back": common.BACK, "cancel": common.CANCEL}


def button_name(language: str, button: str) -> str:
    """A button's label as the composer's keyboard shows it, to name it in a text."""
    return gettext_for(language, _BUTTONS[button])


def refusal(language: str, key: str, params: dict[str, object]) -> str:
    """A service's refusal, said in a template."""
    return error_text(language, key, **params)


def short_url(language: str, url: str) -> str:
    """A link as shown: host and path without the scheme, cut to 60 characters."""
    parts = urlsplit(url)
    shown = (parts.netloc + parts.path).rstrip("/") if parts.netloc else url
    if parts.query:
        shown += "?" + parts.query
    return truncate_text(shown, 60)


def age(language: str, since: datetime | None, now: datetime) -> str:
    """How long ago, in minutes, hours or days."""
    if since is None:
        return ""
    minutes = max(int((now - since).total_seconds() // 60), 0)
    hours, minutes_left = divmod(minutes, 60)
    days, hours_left = divmod(hours, 24)
    if days:
        return gettext_for(language, AGE_DAYS) % {"days": days, "hours": hours_left}
    if hours:
        return gettext_for(language, AGE_HOURS) % {"hours": hours, "minutes": minutes_left}
    return gettext_for(language, AGE_MINUTES) % {"minutes": minutes}


def progress_bar(language: str, done: int, total: int) -> str:
    """A ten-cell bar and a percentage: ▓▓▓▓▓▓░░░░ 60%."""
    share = 1.0 if total <= 0 else done / total
    filled = int(share * 10)
    return "▓" * filled + "░" * (10 - filled) + f" {int(share * 100)}%"


TEMPLATE_HELPERS = {
    "level_icon": level_icon,
    "warning_level_name": warning_level_name,
    "warning_level_meaning": warning_level_meaning,
    "short_url": short_url,
    "age": age,
    "progress_bar": progress_bar,
    "warning_button": button_name,
    "audience_name": audience_label,
    "warning_refusal": refusal,
}
