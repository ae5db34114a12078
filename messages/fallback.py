"""Texts for updates nothing else understood."""

from __future__ import annotations

from messages.i18n import N_

NOT_UNDERSTOOD = N_(
    "Sorry, I did not understand that. Send /help to see what you can do, "
    "or /report to report an incident."
)
