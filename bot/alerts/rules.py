"""The office's rules that turn an alert into an incident, or drop it (R16).

``[[alerts.rules]]`` are tried in order and the first that matches wins: its ``source`` (when
set) must be the configured source the alert came through, every ``match`` label must equal
the alert's, and every ``match_re`` expression must match the label's whole value (anchored,
as in Alertmanager); a label the alert lacks counts as the empty string, as in Prometheus.

Each part of the incident is taken from the first of these that gives it: the matching rule,
the alert's own hint (the plain format's level, category, sub-type and where), the source's
``defaults``, and last "other"/small/no place. A ``where`` may be a template: ``{instance}``
takes the alert's ``instance`` label ("" when it has none). A sub-type counts only when it
belongs to the category chosen. Nothing here touches the database: the decision is data that
the intake (and ``incident-bot alerts test``) acts on.

The categories and their sub-types are passed in by the caller (the incidents package owns
them); the policy's values are checked against them once, when the rulebook is built.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from bot.alerts.formats import Alert
from bot.platform.config import AlertDefaults, AlertRule, AlertsPolicy, template_fields
from bot.platform.roles import Level

FALLBACK_CATEGORY = "other"
FALLBACK_LEVEL = Level.SMALL
WHERE_CHARS = 200
_T = TypeVar("_T")


@dataclass(frozen=True)
class Decision:
    """What one alert becomes: an incident's category, sub-type, level and place, or nothing."""

    alert: Alert
    dropped: bool
    category: str
    subtype: str | None
    level: Level
    where: str
    auto_resolve: bool
    rule: str | None  # the rule that matched, by name or place ("rules[2]"); None: no rule
    notes: tuple[str, ...] = ()  # hints that were ignored, a missing sub-type

    @property
    def title(self) -> str:
        """The incident's title: the alert's."""
        return self.alert.title


@dataclass(frozen=True)
class CompiledRule:
    """A policy rule with its expressions compiled, named as messages name it."""

    label: str
    source: str | None
    equal: tuple[tuple[str, str], ...]
    patterns: tuple[tuple[str, re.Pattern[str]], ...]
    policy: AlertRule

    def matches(self, alert: Alert) -> bool:
        """Whether every condition of the rule holds for the alert."""
        if self.source is not None and alert.source != self.source:
            return False
        labels = alert.labels
        if any(labels.get(name, "") != value for name, value in self.equal):
            return False
        return all(pattern.fullmatch(labels.get(name, "")) for name, pattern in self.patterns)


def render(template: str, labels: Mapping[str, str]) -> str:
    """A where-template with the alert's labels put in (a missing label gives "")."""
    template_fields(template)  # refuses anything but plain {label} fields
    pieces = []
    for text, name, _spec, _conversion in string.Formatter().parse(template):
        pieces.append(text)
        if name is not None:
            pieces.append(labels.get(name, ""))
    place = " ".join("".join(pieces).split())
    return place if len(place) <= WHERE_CHARS else place[: WHERE_CHARS - 1] + "…"


class Rulebook:
    """The policy's rules and source defaults, checked against the bot's categories."""

    def __init__(self, policy: AlertsPolicy, *, categories: Mapping[str, Sequence[str]]) -> None:
        self.policy = policy
        self.categories = {name: tuple(subtypes) for name, subtypes in categories.items()}
        if FALLBACK_CATEGORY not in self.categories:
            raise ValueError(f"the categories must include {FALLBACK_CATEGORY!r}")
        self.rules: list[CompiledRule] = []
        for index, rule in enumerate(policy.rules):
            label = f"{rule.name} (rules[{index}])" if rule.name else f"rules[{index}]"
            self._check(label, rule.category, rule.subtype)
            self.rules.append(
                CompiledRule(
                    label=label,
                    source=rule.source,
                    equal=tuple(rule.match.items()),
                    patterns=tuple((k, re.compile(v)) for k, v in rule.match_re.items()),
                    policy=rule,
                )
            )
        for source in policy.sources:
            defaults = source.defaults
            self._check(f"sources {source.name!r} defaults", defaults.category, defaults.subtype)

    def _check(self, label: str, category: str | None, subtype: str | None) -> None:
        if category is not None and category not in self.categories:
            raise ValueError(f"{label}: unknown category {category!r}")
        if subtype is not None and subtype not in self.categories.get(category or "", ()):
            raise ValueError(f"{label}: {subtype!r} is not a sub-type of {category!r}")

    def match(self, alert: Alert) -> CompiledRule | None:
        """The first rule that matches the alert."""
        return next((rule for rule in self.rules if rule.matches(alert)), None)

    def decide(self, alert: Alert) -> Decision:
        """What the alert becomes, by the first matching rule, its hints and its source."""
        rule = self.match(alert)
        chosen = rule.policy if rule else None
        source = self.policy.source(alert.source)
        defaults = source.defaults if source else AlertDefaults()
        notes: list[str] = []

        hint_category = alert.category
        if hint_category is not None and hint_category not in self.categories:
            notes.append(f"unknown category {hint_category!r} in the alert was ignored")
            hint_category = None
        category = (
            _first(chosen.category if chosen else None, hint_category, defaults.category)
            or FALLBACK_CATEGORY
        )

        allowed = self.categories[category]
        offered = [chosen.subtype if chosen else None, alert.subtype, defaults.subtype]
        subtype = next((s for s in offered if s is not None and s in allowed), None)
        if alert.subtype is not None and alert.subtype not in allowed:
            notes.append(f"sub-type {alert.subtype!r} in the alert does not fit {category!r}")
        if allowed and subtype is None:
            notes.append(f"no sub-type for {category!r} ({' or '.join(allowed)})")

        level = _first(chosen.level if chosen else None, alert.level, defaults.level)
        where = _first(
            render(chosen.where, alert.labels) if chosen and chosen.where else None,
            alert.where,
            render(defaults.where, alert.labels),
        )
        return Decision(
            alert=alert,
            dropped=bool(chosen and chosen.drop),
            category=category,
            subtype=subtype,
            level=Level(level) if level else FALLBACK_LEVEL,
            where=where or "",
            auto_resolve=bool(chosen and chosen.auto_resolve),
            rule=rule.label if rule else None,
            notes=tuple(notes),
        )


def _first(*values: _T | None) -> _T | None:
    """The first value given that is neither None nor empty."""
    return next((value for value in values if value), None)
