"""Handling to closure on the card: its buttons at each stage, its extra lines, its timers."""

from __future__ import annotations

from typing import Literal

from bot.access.permissions import has_any_role
from bot.handling.buttons import HandlingPress
from bot.incidents.model import Status
from bot.platform.context import AppContext
from bot.platform.errors import NotAllowed
from bot.platform.keyboards import Button, Keyboard
from bot.platform.roles import Role
from messages import handling as texts
from storage.models import Incident, User

# Drills are organised by the tech center and the leadership group (§四(四)).
DRILL_ROLES = (Role.TECH_CENTER, Role.LEADER, Role.ADMIN)


def may_start_drill(user: User | None) -> None:
    """Refuse anyone who may not start a drill."""
    if not has_any_role(user, DRILL_ROLES):
        raise NotAllowed("handling.drill_roles")


def card_buttons(ctx: AppContext, language: str, incident: Incident) -> Keyboard:
    """The card's handling buttons, each only at the stages where it makes sense."""

    def button(message: str, action: Literal["list", "upd", "lvl", "res", "over"]) -> Button:
        data = HandlingPress(action=action, incident_id=incident.id).pack()
        return Button(ctx.renderer.label(language, message), data=data)

    if incident.status == Status.REPORTED:
        return [[button(texts.RELEVEL, "lvl")]]
    if incident.status in (Status.ACKNOWLEDGED, Status.IN_PROGRESS):
        return [
            [button(texts.CHECKLIST, "list"), button(texts.UPDATE, "upd")],
            [button(texts.RELEVEL, "lvl"), button(texts.RESOLVE, "res")],
        ]
    if incident.status == Status.RESOLVED:
        return [[button(texts.DECLARE_OVER, "over")]]
    return []
