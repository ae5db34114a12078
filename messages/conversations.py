"""Names of the guided conversations, for reminders and expiry notices."""

from __future__ import annotations

from messages.i18n import N_, gettext_for

KINDS = {
    "report": N_("incident report"),
    "drill": N_("drill report"),
    "contact_add": N_("new contact"),
    "contact_edit": N_("contact change"),
    "warning": N_("early warning"),
    "close": N_("situation report"),
    "update": N_("progress update"),
    "relevel": N_("level change"),
    "over": N_("declaration that the emergency is over"),
    "patrol_note": N_("patrol note"),
    "lift": N_("warning lift"),
}


def kind_label(language: str, kind: str) -> str:
    """A conversation kind's name in a language."""
    message = KINDS.get(kind)
    return gettext_for(language, message) if message else kind


TEMPLATE_HELPERS = {"kind_name": kind_label}

EDITS_NOT_READ = N_("I do not read edited messages. Please send your answer as a new message.")
SENT_PRIVATELY = N_("I sent you a private message to continue.")
START_PRIVATE = N_("Please start a private chat with me first (send me /start).")

ERRORS = {
    "conversations.want_button": N_("Please choose with the buttons below."),
    "conversations.want_text": N_("Please answer in words."),
}
