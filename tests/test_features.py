"""The composition root installs features explicitly; a context holds only what it installed.

R5 R6 R7 R9 R11 R13: each feature's contributions (card buttons and lines, what follows a
report, a take-over or an approval, the roster, timers and periodic checks) reach the rest of
the bot only through `ctx.features` and `ctx.scheduler`, built by `app.build.build_context`.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.build import FEATURES, build_context
from bot.handling import actions, progress
from bot.incidents import escalation, incident_card
from bot.incidents.model import Status
from bot.patrols import patrol_rounds, roster
from bot.platform.clock import ManualClock
from bot.platform.config import Policy, Settings
from bot.platform.context import AppContext
from bot.records import stats
from bot.warnings import early_warning
from storage.models import Incident

NOW = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)


def _context(features: list[str] | None = None) -> AppContext:
    return build_context(
        Settings(telegram_bot_token="1:x", database_url="sqlite+aiosqlite:///:memory:"),
        Policy(),
        clock=ManualClock(NOW),
        features=features,
    )


def _incident(status: Status) -> Incident:
    return Incident(id=7, number="2026-0007", status=status, level="large", category="virus")


def test_every_feature_is_installed_by_default_with_its_contributions() -> None:
    """Built for running, the context has every feature's hooks, timers and checks."""
    ctx = _context()
    assert ctx.features.installed == list(FEATURES)
    assert ctx.features.card_buttons == [actions.card_buttons]
    assert progress.card_context in ctx.features.card_lines
    assert ctx.features.on_taken == [progress.on_taken]
    assert ctx.features.on_submitted == [patrol_rounds.link_incident]
    assert ctx.features.on_activated == [early_warning.send_active_to]
    assert ctx.features.roster is roster.lookup
    assert {
        escalation.KIND,
        progress.REMINDER,
        patrol_rounds.DUE,
        roster.HANDOVER,
        early_warning.REPEAT,
        stats.SUMMARY,
    } <= ctx.scheduler.kinds
    assert ctx.scheduler.sweeper_names == ("conversations", "patrols", "warning_status", "records")


def test_a_context_without_handling_has_no_handling_buttons_on_the_card() -> None:
    """R6: without the handling feature the card keeps its own buttons and gains none.

    A context with every feature is built first, in the same process: nothing it installed
    leaks into the next one (the old import-time hook lists did).
    """
    full = _context()
    bare = _context([name for name in FEATURES if name != "handling"])
    assert not bare.features.has("handling") and full.features.has("handling")
    assert bare.features.card_buttons == [] and bare.features.card_lines == []
    assert bare.features.on_taken == []
    assert progress.REMINDER not in bare.scheduler.kinds
    for status in (Status.REPORTED, Status.ACKNOWLEDGED, Status.IN_PROGRESS, Status.RESOLVED):
        incident = _incident(status)
        handling_rows = actions.card_buttons(full, "zh_CN", incident)
        assert handling_rows, status
        with_handling = incident_card.card_keyboard(full, "zh_CN", incident)
        without = incident_card.card_keyboard(bare, "zh_CN", incident)
        handling_data = {b.data for row in handling_rows for b in row}
        assert handling_data <= {b.data for row in with_handling for b in row}
        assert not handling_data & {b.data for row in without for b in row}
        assert without == [row for row in with_handling if row not in handling_rows]


def test_a_context_without_patrols_has_no_roster_and_no_patrol_timers() -> None:
    """R11: who is on duty comes from the roster only when patrols are installed."""
    ctx = _context(["incidents", "handling"])
    assert ctx.features.roster is None and ctx.features.on_submitted == []
    assert patrol_rounds.DUE not in ctx.scheduler.kinds
    assert ctx.scheduler.sweeper_names == ("conversations",)


def test_an_unknown_feature_is_refused() -> None:
    """A misspelt feature name fails at start-up instead of silently leaving it out."""
    with pytest.raises(ValueError, match="handlnig"):
        _context(["incidents", "handlnig"])
