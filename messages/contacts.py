"""Texts for the contacts card and its editing."""

from __future__ import annotations

from messages.i18n import N_, gettext_for

ADD = N_("➕ Add")
EDIT = N_("✏️ Edit")
REMOVE = N_("🗑 Remove")
POSITION = N_("Position")
LEAVE_EMPTY = N_("🗑 Leave it empty")

FIELD_NAMES = {
    "name": N_("Name"),
    "title": N_("Title"),
    "area": N_("Area of responsibility"),
    "office_phone": N_("Office phone"),
    "mobile": N_("Mobile"),
}

ERRORS = {
    "contacts.bad_phone": N_(
        "“%(value)s” is not a phone number I can use. Send it with the area code, "
        "e.g. 028-87654321 or 13800138000, or +country code for other countries."
    ),
    "contacts.bad_name": N_("Send a name of 1 to 100 characters."),
    "contacts.too_long": N_("Write it in at most %(limit)s characters. Yours has %(length)s."),
    "contacts.bad_field": N_("That field cannot be changed."),
    "contacts.gone": N_("That contact no longer exists."),
}


def field_label(language: str, field: str) -> str:
    """A contact field's name in a language."""
    message = FIELD_NAMES.get(field)
    return gettext_for(language, message) if message else field


TEMPLATE_HELPERS = {"contact_field": field_label}
