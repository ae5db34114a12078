"""Texts of the records: the incident search, exports, statistics and the monthly summary."""

from __future__ import annotations

from datetime import date

from babel.dates import format_skeleton, get_month_names

from messages.i18n import N_, gettext_for, normalize_language

CMD_INCIDENTS = N_("incidents: the open ones, or search the records")
CMD_STATS = N_("statistics with a chart")
CMD_EXPORT = N_("export incidents, patrols or warnings as CSV or Excel")

OPEN_TITLE = N_("Open incidents")
OPEN_TITLE_DRILLS = N_("Open drills")
SEARCH_TITLE = N_("Incidents")
SEARCH_TITLE_DRILLS = N_("Drills")
STATUS_FILTERS = {
    "open": N_("open"),
    "closed": N_("closed"),
    "all": N_("open and closed"),
}
PREVIOUS = N_("◀️ Previous")
NEXT = N_("Next ▶️")

SHEET_TITLES = {
    "incidents": N_("Incidents"),
    "patrols": N_("Patrol log"),
    "warnings": N_("Early warnings"),
}
INCIDENT_COLUMNS = (
    N_("Number"),
    N_("Drill"),
    N_("Category"),
    N_("Level"),
    N_("Status"),
    N_("Occurred"),
    N_("Reported"),
    N_("Reporter"),
    N_("Where"),
    N_("What was seen"),
    N_("Source"),
    N_("Acknowledged"),
    N_("Acknowledged by"),
    N_("In charge"),
    N_("Resolved"),
    N_("Emergency over"),
    N_("Minutes to acknowledge"),
    N_("Minutes to resolve"),
    N_("Progress updates"),
)

WARNING_COLUMNS = (
    N_("Number"),
    N_("Level"),
    N_("Status"),
    N_("Warning title"),
    N_("What is happening"),
    N_("How to defend"),
    N_("Source"),
    N_("Audience"),
    N_("Sent by"),
    N_("Composed"),
    N_("Approved by"),
    N_("Sent"),
    N_("Delivered"),
    N_("Blocked the bot"),
    N_("Failed"),
    N_("Repeats"),
    N_("Lifted"),
    N_("Lifted by"),
    N_("Closing note"),
)
WARNING_STATUSES = {
    "pending_approval": N_("waiting for approval"),
    "active": N_("in force"),
    "rejected": N_("rejected"),
    "lifted": N_("lifted"),
}
EVERYONE = N_("everyone")

CHART_TITLE = N_("Incidents %(period)s (drills left out)")
CHART_TITLE_DRILLS = N_("Drills %(period)s")
BY_MONTH = N_("By month")
BY_LEVEL = N_("By level")
BY_CATEGORY = N_("By category")
AXIS_INCIDENTS = N_("Incidents")
MINUTES = N_("%(minutes)s min")
HOURS = N_("%(hours)s h %(minutes)s min")
DAYS = N_("%(days)s d %(hours)s h")

ERRORS = {
    "records.handlers_only": N_(
        "Sorry, the incident records are for duty officers, the tech center and the leadership "
        "group."
    ),
    "records.export_roles": N_("Sorry, exports are for the tech center and the leadership group."),
    "records.private_only": N_("Please ask for exports in a private chat with me."),
    "records.bad_word": N_("I do not understand “%(word)s”."),
    "records.twice": N_("“%(word)s”: give one of each kind of word only."),
    "records.text_too_long": N_(
        "The text in quotes is too long: at most %(limit)s letters, or a third as many Chinese "
        "characters."
    ),
    "records.bad_period": N_("“%(word)s” is not a month. Write a year or a month like 2026-11."),
    "records.usage_stats": N_(
        "I do not understand “%(word)s”. Usage: /stats for this year, /stats 2026-11 for a "
        "month, /stats 2025 for a year; add drill for drills instead of incidents."
    ),
    "records.usage_export": N_(
        "Usage: /export incidents 2026-11-01 2026-11-30, or /export patrols 2026-11 for a month, "
        "or /export warnings 2026 for a year; add xlsx for an Excel file. Without dates: the "
        "last 30 days."
    ),
}


def label(language: str, message: str, **values: object) -> str:
    """A translated label with its values filled in."""
    text = gettext_for(language, message)
    return text % values if values else text


def period_label(language: str, year: int, month: int | None = None) -> str:
    """'2026年11月' or 'November 2026'; a year alone as '2026年' or '2026'."""
    locale = normalize_language(language)
    skeleton = "yMMMM" if month else "y"
    return format_skeleton(skeleton, date(year, month or 1, 1), locale=locale)


def month_label(language: str, month: int) -> str:
    """A short month name: '11月' or 'Nov'."""
    return str(get_month_names("abbreviated", locale=normalize_language(language))[month])


def duration_text(language: str, seconds: float | None) -> str:
    """A duration rounded to the minute: '12 min', '3 h 05 min', '2 d 4 h' (or '—')."""
    if seconds is None:
        return "—"
    minutes = int(seconds / 60 + 0.5)
    if minutes < 60:
        return label(language, MINUTES, minutes=minutes)
    if minutes < 24 * 60:
        return label(language, HOURS, hours=minutes // 60, minutes=f"{minutes % 60:02d}")
    hours = int(seconds / 3600 + 0.5)
    return label(language, DAYS, days=hours // 24, hours=hours % 24)


def status_filter_label(language: str, status: str) -> str:
    """'open', 'closed' or 'open and closed'."""
    return gettext_for(language, STATUS_FILTERS.get(status, status))


def warning_status_label(language: str, status: str) -> str:
    """Where a warning stands, in a language."""
    message = WARNING_STATUSES.get(status)
    return gettext_for(language, message) if message else status


TEMPLATE_HELPERS = {
    "duration": duration_text,
    "period_name": period_label,
    "month_name": month_label,
    "status_filter_name": status_filter_label,
}
