"""A dry run: what each alert of a payload would become, without creating anything (R16).

Used by ``incident-bot alerts test FILE.json [--source NAME]`` so that an admin can try a
monitoring system's payload against the policy's rules before switching the intake on. The
output is for the admin at the console (English, like the rest of the command line).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.alerts.formats import Batch, guess_kind, parse
from bot.alerts.rules import Decision, Rulebook
from bot.platform.config import AlertSource, AlertsPolicy

TRIAL_SOURCE = "trial"


class NoSource(Exception):
    """The payload cannot be tied to one configured source; the message says what to give."""


def choose_source(policy: AlertsPolicy, body: bytes, name: str | None) -> AlertSource:
    """The source named, else the only one configured, else the only one of the body's kind.

    With no source of that kind configured, a stand-in of the guessed kind with the built-in
    defaults is used, so that a payload can be tried before any source is set up.
    """
    if name is not None:
        source = policy.source(name)
        if source is None:
            known = ", ".join(s.name for s in policy.sources) or "none configured"
            raise NoSource(f"no source {name!r} in [[alerts.sources]] ({known})")
        return source
    if len(policy.sources) == 1:
        return policy.sources[0]
    kind = guess_kind(body)
    same = [source for source in policy.sources if source.kind == kind]
    if len(same) > 1:
        names = ", ".join(source.name for source in same)
        raise NoSource(f"the payload looks like {kind}, sent by {names}: give --source NAME")
    if same:
        return same[0]
    return AlertSource(name=TRIAL_SOURCE, kind=kind, token_env="UNSET")


def trial(
    body: bytes,
    *,
    policy: AlertsPolicy,
    categories: Mapping[str, Sequence[str]],
    source_name: str | None = None,
) -> tuple[AlertSource, Batch, list[Decision]]:
    """Parse the body as its source would be and decide every alert; BadPayload, NoSource."""
    source = choose_source(policy, body, source_name)
    batch = parse(body, kind=source.kind, source=source.name, max_bytes=policy.max_body_bytes)
    book = Rulebook(policy, categories=categories)
    return source, batch, [book.decide(alert) for alert in batch.alerts]


def as_text(source: AlertSource, batch: Batch, decisions: list[Decision]) -> str:
    """The dry run for a person."""
    count = len(decisions)
    lines = [f"source {source.name!r} ({source.kind}): {count} alert{'s' * (count != 1)}"]
    if batch.truncated:
        lines.append(f"  ({batch.truncated} more left out by the sender's max_alerts)")
    for number, decision in enumerate(decisions, start=1):
        alert = decision.alert
        lines.append(f"{number}. [{alert.status}] {alert.title}")
        if alert.labels:
            pairs = ", ".join(f"{k}={v}" for k, v in sorted(alert.labels.items()))
            lines.append(f"   labels: {pairs}")
        lines.append(f"   fingerprint: {alert.fingerprint}")
        lines.append(f"   rule: {decision.rule or f'none (defaults of source {source.name!r})'}")
        if decision.dropped:
            lines.append("   -> dropped")
        else:
            kind = decision.category + (f"/{decision.subtype}" if decision.subtype else "")
            extra = ", auto-resolve" if decision.auto_resolve else ""
            lines.append(
                f"   -> incident: {kind}, level {decision.level.value}, "
                f"where {decision.where or '(not given)'!r}{extra}"
            )
        lines.extend(f"   note: {note}" for note in decision.notes)
    return "\n".join(lines)


def as_data(source: AlertSource, batch: Batch, decisions: list[Decision]) -> dict[str, Any]:
    """The dry run as JSON-ready data."""
    return {
        "source": source.name,
        "kind": source.kind,
        "truncated": batch.truncated,
        "alerts": [
            {
                "status": d.alert.status,
                "title": d.alert.title,
                "fingerprint": d.alert.fingerprint,
                "labels": d.alert.labels,
                "rule": d.rule,
                "dropped": d.dropped,
                "category": d.category,
                "subtype": d.subtype,
                "level": d.level.value,
                "where": d.where,
                "auto_resolve": d.auto_resolve,
                "notes": list(d.notes),
            }
            for d in decisions
        ],
    }
