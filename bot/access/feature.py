"""Access as a feature: who may come in, and the contacts card's guided editing (R14 R2).

Always installed: every other feature relies on it.
"""

from __future__ import annotations

from bot.access import flows
from bot.platform.context import AppContext
from bot.platform.features import Features


def install(features: Features[AppContext], ctx: AppContext) -> None:
    """The admins' guided flows for adding and changing contacts."""
    ctx.flows.add(flows.CONTACT_ADD)
    ctx.flows.add(flows.CONTACT_EDIT)
