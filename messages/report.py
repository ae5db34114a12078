"""Texts of the guided report: buttons, prompts' short labels and the answers' errors."""

from __future__ import annotations

from messages.common import level_label
from messages.i18n import N_, gettext_for

WHEN_NOW = N_("Just now")
WHEN_HOUR = N_("Within the last hour")
WHEN_TODAY = N_("Earlier today")
SUBMIT = N_("📨 Submit")
FIELDS = {
    "category": N_("Category"),
    "level": N_("Level"),
    "when": N_("When"),
    "where": N_("Where"),
    "what": N_("What is seen"),
    "source": N_("Source"),
    "files": N_("Photos and files"),
}
PRECISION = {
    "within_hour": N_("within the hour before"),
    "today": N_("earlier on the day, before"),
}
FILE_RECEIVED = N_("Received (%(count)s of at most 10). Send more, or press Done.")

CMD_REPORT = N_("report an incident")
CMD_CANCEL = N_("cancel what you are doing")

ERRORS = {
    "report.bad_time": N_(
        "I could not read that time. Use a button, or type for example 09:30, "
        "2026-11-26 09:30, 30分钟前 or 30 min ago."
    ),
    "report.future_time": N_("That time is in the future. When did it happen?"),
    "report.too_old": N_("That is more than a year ago. Please check the date."),
    "report.bad_where": N_("Send where it happened (the system or site), 1 to 200 characters."),
    "report.bad_what": N_("Describe what you see in 1 to 2000 characters. Yours has %(length)s."),
    "report.bad_source": N_(
        "Send an IP address (10.1.2.3), a network (10.1.2.0/24) or an account name, or press Skip."
    ),
    "report.bad_ip": N_("“%(value)s” is not a valid IP address. Check it, or press Skip."),
    "report.bad_cidr": N_("“%(value)s” is not a valid network. Check it, or press Skip."),
    "report.too_many_files": N_("At most 10 photos or files. Press Done to continue."),
    "report.photo_later": N_(
        "Photos and files can be added at step 7. Please answer this step first, in words."
    ),
    "report.want_files": N_("Send photos or files, or press Done."),
    "report.want_button": N_("Please choose with the buttons above."),
    "report.incomplete": N_("The report is missing: %(fields)s."),
    "report.private_only": N_("Please report in a private chat with me."),
}


LEVEL_ICONS = {"large": "🔴", "medium": "🟠", "small": "🟡"}


def level_button(language: str, level: str) -> str:
    """A level's button: its mark and its name."""
    return f"{LEVEL_ICONS.get(level, '')} {level_label(language, level)}".strip()


def when_text(language: str, moment: str, precision: str) -> str:
    """When it happened, as told: '09:30', or 'within the hour before 09:30'."""
    if precision in PRECISION:
        return f"{gettext_for(language, PRECISION[precision])} {moment}"
    return moment
