"""Phone numbers in international form, which Telegram's apps make tappable."""

from __future__ import annotations

import phonenumbers


class BadPhone(ValueError):
    """Not a phone number we can write in international form."""


def international(value: str, *, region: str = "CN", area_code: str = "") -> str:
    """Format a number as '+86 28 8765 4321'; a local number gets the office's area code."""
    value = value.strip()
    if not value:
        return ""
    candidates = [value]
    digits = "".join(ch for ch in value if ch.isdigit())
    if area_code and not value.startswith("+") and not digits.startswith("0"):
        candidates.append(area_code + digits)
    for candidate in candidates:
        try:
            number = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    raise BadPhone(f"not a valid phone number: {value!r}")
