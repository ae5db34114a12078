"""Catalogs: zh_CN (the default) and en, read from the .po files at start-up."""

from __future__ import annotations

import gettext
from functools import cache
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALES = Path(__file__).parent / "locales"
DEFAULT_LANGUAGE = "zh_CN"
LANGUAGES = ("zh_CN", "en")


def N_(message: str) -> str:
    """Mark a string for the catalog without translating it yet."""
    return message


def language_from_telegram(code: str | None) -> str:
    """Map Telegram's language_code to a catalog: en* is English, everything else Chinese."""
    if code and code.lower().startswith("en"):
        return "en"
    return DEFAULT_LANGUAGE


def normalize_language(value: str | None) -> str:
    """Return a supported language, falling back to the default."""
    return value if value in LANGUAGES else DEFAULT_LANGUAGE


@cache
def translations(language: str) -> gettext.NullTranslations:
    """All catalogs of a language merged into one; English is the source language."""
    folder = LOCALES / language / "LC_MESSAGES"
    merged: gettext.NullTranslations | None = None
    for po_file in sorted(folder.glob("*.po")):
        with po_file.open("rb") as handle:
            catalog = read_po(handle, locale=language)
        buffer = BytesIO()
        write_mo(buffer, catalog, use_fuzzy=False)
        buffer.seek(0)
        loaded = Translations(fp=buffer)
        if merged is None:
            merged = loaded
        else:
            assert isinstance(merged, Translations)
            merged.merge(loaded)
    return merged or gettext.NullTranslations()


def gettext_for(language: str, message: str) -> str:
    """Translate one message into a language."""
    return translations(normalize_language(language)).gettext(message)
