"""The buttons of access: the main menu, approvals, languages and the contacts card's editing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bot.platform.buttons import ButtonData
from bot.platform.roles import Role

ContactField = Literal["name", "title", "area", "office_phone", "mobile"]
CONTACT_FIELDS: tuple[ContactField, ...] = ("name", "title", "area", "office_phone", "mobile")


@dataclass(frozen=True)
class MenuPress(ButtonData, prefix="m"):
    """A main-menu button: report an incident, the contacts card, or help."""

    item: Literal["report", "contacts", "help"]


@dataclass(frozen=True)
class AccessDecision(ButtonData, prefix="acc"):
    """An admin's answer to an access request: approve the user as a role, or reject (None)."""

    user_id: int
    role: Role | None


@dataclass(frozen=True)
class LanguageChoice(ButtonData, prefix="lang"):
    """A language to read the bot in (/lang)."""

    language: Literal["zh_CN", "en"]


@dataclass(frozen=True)
class ContactsMenu(ButtonData, prefix="ct"):
    """The contacts card's admin buttons: add, edit or remove someone, or the card again."""

    action: Literal["add", "edit", "remove", "card"]


@dataclass(frozen=True)
class ContactPick(ButtonData, prefix="ctp"):
    """A person on the card chosen to edit or to remove, or their removal confirmed."""

    action: Literal["edit", "remove", "confirm"]
    contact_id: int


@dataclass(frozen=True)
class ContactFieldPick(ButtonData, prefix="ctf"):
    """The field of a person on the card to change."""

    contact_id: int
    field: ContactField
