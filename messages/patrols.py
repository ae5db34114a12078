"""Texts of the duty roster and patrols: buttons, answers, log columns and refusals."""

from __future__ import annotations

from datetime import date

from babel.dates import format_date

from messages.i18n import N_, gettext_for, normalize_language

ALL_NORMAL = N_("✅ All normal")
FOUND_PROBLEM = N_("⚠️ Found a problem")
ADD_NOTE = N_("📝 Add a note")
LOGGED_ALERT = N_("Logged: all normal. Thank you.")
PROBLEM_ALERT = N_("Logged: found a problem. Please report it now.")
NOTE_FIELD = N_("Note")
REGULAR = N_("regular")
IRREGULAR = N_("irregular")
ANSWERS = {
    "normal": N_("all normal"),
    "problem": N_("found a problem"),
}
NO_ANSWER = N_("no answer")
CSV_COLUMNS = (
    N_("Round"),
    N_("Day"),
    N_("Patrol"),
    N_("Type"),
    N_("Due"),
    N_("Sent"),
    N_("Late"),
    N_("Officer"),
    N_("Answered at"),
    N_("Answered by"),
    N_("Answer"),
    N_("Note"),
    N_("Reported missed at"),
    N_("Lead told at"),
    N_("Incident"),
)

CMD_DUTY = N_("the duty roster; leads change it")
CMD_PATROLS = N_("today's patrols and missed ones; export the log")

ERRORS = {
    "patrols.roster_not_allowed": N_(
        "Sorry, the duty roster is for duty officers, the tech center and the leadership group."
    ),
    "patrols.roster_editors_only": N_(
        "Only the tech center lead named on the contacts card, or an admin, can change the roster."
    ),
    "patrols.past_day": N_("%(day)s has already passed. Choose today or a later day."),
    "patrols.no_such_user": N_(
        "I know nobody called %(ref)s. Give their @username or Telegram id; "
        "they must have registered with me."
    ),
    "patrols.not_an_officer": N_(
        "%(name)s is neither a duty officer nor in the tech center, so cannot be put on duty."
    ),
    "patrols.swap_same_day": N_("Give two different days to swap."),
    "patrols.swap_needs_officers": N_(
        "Both days need someone on duty to be swapped. Use /duty set for a day with nobody."
    ),
    "patrols.bad_date": N_(
        "“%(value)s” is not a date. Write it like 2026-11-26, 11-26, today or tomorrow."
    ),
    "patrols.usage_duty": N_(
        "Usage: /duty to see the roster; /duty set 2026-12-01 @username to put someone on duty "
        "that day; /duty swap 2026-12-01 2026-12-03 to exchange two days."
    ),
    "patrols.usage_patrols": N_(
        "Usage: /patrols for today's rounds; /patrols export 2026-11-01 2026-11-30 for the log "
        "as a CSV file (without dates: the last 30 days)."
    ),
    "patrols.no_such_round": N_("This patrol round does not exist."),
    "patrols.not_your_round": N_("This patrol round was not sent to you."),
    "patrols.already_answered": N_("This patrol round has already been answered."),
    "patrols.bad_answer": N_("Please answer with the buttons."),
    "patrols.no_note_here": N_("A note can only be added to a round you answered “All normal”."),
    "patrols.bad_note": N_("Write the note in 1 to %(limit)s characters. Yours has %(length)s."),
    "patrols.want_text": N_("Please send the note as text, or /cancel."),
    "patrols.busy": N_(
        "You have an unfinished %(what)s. Finish it or send /cancel, then press again."
    ),
    "patrols.log_not_allowed": N_(
        "Sorry, the patrol log is for the tech center, the leadership group and admins."
    ),
    "patrols.bad_range": N_("The first date must not be after the second."),
    "patrols.range_too_long": N_("Export at most %(days)s days at a time."),
}


def answer_label(language: str, answer: str | None) -> str:
    """An answer's name in a language ("no answer" for none)."""
    message = ANSWERS.get(answer or "", NO_ANSWER)
    return gettext_for(language, message)


def weekday_label(language: str, day: date) -> str:
    """A day's short weekday name in a language (周四, Thu)."""
    return format_date(day, "EEE", locale=normalize_language(language))


TEMPLATE_HELPERS = {"answer_name": answer_label, "weekday": weekday_label}
