"""R16: the office's rules turn an alert into an incident's category, level and place."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.cli import main
from bot.alerts.formats import Alert
from bot.alerts.rules import Rulebook, render
from bot.alerts.trial import NoSource, choose_source, trial
from bot.incidents.model import SUBTYPES, Category
from bot.platform.config import AlertsPolicy
from bot.platform.roles import Level

CATEGORIES = {category.value: tuple(SUBTYPES.get(category, ())) for category in Category}


def _policy(rules: list[dict[str, Any]], **defaults: Any) -> AlertsPolicy:
    return AlertsPolicy.model_validate(
        {
            "sources": [
                {
                    "name": "prometheus",
                    "kind": "alertmanager",
                    "token_env": "T1",
                    "defaults": defaults or {"category": "network_failure", "where": "{instance}"},
                },
                {"name": "scripts", "kind": "json", "token_env": "T2"},
            ],
            "rules": rules,
        }
    )


def _alert(source: str = "prometheus", **fields: Any) -> Alert:
    kind = "json" if source == "scripts" else "alertmanager"
    return Alert(kind=kind, source=source, status="firing", title="t", **fields)


def _book(rules: list[dict[str, Any]], **defaults: Any) -> Rulebook:
    return Rulebook(_policy(rules, **defaults), categories=CATEGORIES)


def test_the_first_matching_rule_wins() -> None:
    """R16: rules are tried in order; every condition of a rule must hold."""
    book = _book(
        [
            {"name": "db", "match": {"job": "node", "env": "prod"}, "level": "large"},
            {"match": {"job": "node"}, "level": "medium"},
            {"match": {"job": "node"}, "level": "small", "category": "virus"},
        ]
    )
    both = book.decide(_alert(labels={"job": "node", "env": "prod"}))
    assert (both.rule, both.level) == ("db (rules[0])", Level.LARGE)
    one = book.decide(_alert(labels={"job": "node", "env": "test"}))
    assert (one.rule, one.level, one.category) == ("rules[1]", Level.MEDIUM, "network_failure")
    none = book.decide(_alert(labels={"job": "web"}))
    assert none.rule is None
    assert (none.level, none.category) == (Level.SMALL, "network_failure")


def test_regular_expressions_match_the_whole_value() -> None:
    """R16: match_re is anchored, as in Alertmanager."""
    book = _book([{"match_re": {"instance": r"db-\d+(:\d+)?"}, "level": "large"}])
    assert book.decide(_alert(labels={"instance": "db-12:9100"})).rule == "rules[0]"
    assert book.decide(_alert(labels={"instance": "db-12x"})).rule is None
    assert book.decide(_alert(labels={"instance": "old-db-12"})).rule is None


def test_a_missing_label_counts_as_empty() -> None:
    """R16: as in Prometheus, an absent label equals ""."""
    book = _book(
        [
            {"match": {"severity": ""}, "level": "small", "name": "no severity"},
            {"match_re": {"team": "|ops"}, "level": "medium"},
        ]
    )
    assert book.decide(_alert(labels={})).rule == "no severity (rules[0])"
    assert book.decide(_alert(labels={"severity": "x"})).rule == "rules[1]"
    assert book.decide(_alert(labels={"severity": "x", "team": "dev"})).rule is None


def test_a_rule_can_be_limited_to_a_source() -> None:
    """R16: match on the source the alert came through."""
    book = _book([{"source": "scripts", "level": "large"}])
    assert book.decide(_alert("scripts")).rule == "rules[0]"
    assert book.decide(_alert("prometheus")).rule is None


def test_drop_and_auto_resolve() -> None:
    """R16: a rule may drop an alert, or mark its incident to resolve with it."""
    book = _book(
        [
            {"match": {"severity": "info"}, "drop": True},
            {"match": {"severity": "page"}, "auto_resolve": True},
        ]
    )
    dropped = book.decide(_alert(labels={"severity": "info"}))
    assert dropped.dropped and not dropped.auto_resolve
    kept = book.decide(_alert(labels={"severity": "page"}))
    assert not kept.dropped and kept.auto_resolve
    plain = book.decide(_alert(labels={}))
    assert not plain.dropped and not plain.auto_resolve


def test_each_part_comes_from_the_rule_then_the_hint_then_the_source() -> None:
    """R16: the rule overrides the alert's hints, which override the source's defaults."""
    book = _book(
        [{"match": {"team": "web"}, "category": "tampering", "where": "门户网站 {instance}"}],
        category="network_failure",
        level="medium",
        where="{instance}",
    )
    hinted = _alert(
        labels={"team": "web", "instance": "www"},
        category="virus",
        level=Level.LARGE,
        where="机房",
    )
    decided = book.decide(hinted)
    assert (decided.category, decided.level, decided.where) == (
        "tampering",  # the rule's
        Level.LARGE,  # the hint's: the rule sets no level
        "门户网站 www",  # the rule's, with the label put in
    )
    no_rule = book.decide(_alert(labels={"instance": "db-1"}, category="virus", where="机房"))
    assert (no_rule.category, no_rule.level, no_rule.where) == ("virus", Level.MEDIUM, "机房")
    bare = book.decide(_alert(labels={"instance": "db-1"}))
    assert (bare.category, bare.level, bare.where) == ("network_failure", Level.MEDIUM, "db-1")


def test_an_empty_where_falls_through() -> None:
    """R16: a where-template whose labels are missing gives way to the next source of a place."""
    book = _book([{"match": {}, "where": "{host}"}], where="{instance}")
    assert book.decide(_alert(labels={"instance": "db-1"})).where == "db-1"
    assert book.decide(_alert(labels={})).where == ""


def test_an_unknown_source_gets_the_built_in_defaults() -> None:
    decided = _book([]).decide(_alert("elsewhere"))
    assert (decided.category, decided.level, decided.where) == ("other", Level.SMALL, "")


def test_sub_types_must_fit_the_category() -> None:
    """R16: a sub-type counts only for its category; a missing one is noted."""
    book = _book([{"match": {"k": "ids"}, "category": "intrusion", "subtype": "extranet"}])
    ruled = book.decide(_alert(labels={"k": "ids"}, subtype="internet"))
    assert (ruled.category, ruled.subtype, ruled.notes) == ("intrusion", "extranet", ())
    hinted = book.decide(_alert("scripts", category="intrusion", subtype="internet"))
    assert (hinted.category, hinted.subtype, hinted.notes) == ("intrusion", "internet", ())
    missing = book.decide(_alert("scripts", category="intrusion"))
    assert missing.subtype is None
    assert missing.notes == ("no sub-type for 'intrusion' (internet or extranet)",)
    misfit = book.decide(_alert("scripts", category="virus", subtype="internet"))
    assert misfit.subtype is None
    assert misfit.notes == ("sub-type 'internet' in the alert does not fit 'virus'",)


def test_an_unknown_hinted_category_is_ignored_and_noted() -> None:
    """R16: the sender's words never invent a category."""
    decided = _book([]).decide(_alert("scripts", category="flood"))
    assert decided.category == "other"
    assert decided.notes == ("unknown category 'flood' in the alert was ignored",)


def test_the_rulebook_checks_the_callers_categories() -> None:
    """R16: categories come from the caller; the policy's must be among them."""
    policy = _policy([{"category": "tampering"}])
    narrow = {k: v for k, v in CATEGORIES.items() if k != "tampering"}
    with pytest.raises(ValueError, match=r"rules\[0\]: unknown category 'tampering'"):
        Rulebook(policy, categories=narrow)
    with pytest.raises(ValueError, match="must include 'other'"):
        Rulebook(policy, categories={"tampering": ()})
    defaults = _policy([], category="intrusion", subtype="internet")
    with pytest.raises(ValueError, match="'internet' is not a sub-type of 'intrusion'"):
        Rulebook(defaults, categories={**CATEGORIES, "intrusion": ("lan",)})


def test_render_puts_labels_in() -> None:
    assert render("{instance} ({job})", {"instance": "db-1", "job": "node"}) == "db-1 (node)"
    assert render("{{literal}} {x}", {}) == "{literal}"
    assert render("  a   {x}  b ", {"x": " y "}) == "a y b"
    assert render("{x}", {"x": "z" * 300}).endswith("…")
    with pytest.raises(ValueError):
        render("{x.y}", {"x": "1"})


_labels = st.dictionaries(
    st.sampled_from(["job", "instance", "severity", "team", "k"]), st.text(max_size=8), max_size=5
)


@settings(max_examples=200, deadline=None)
@given(
    _labels,
    st.sampled_from(["prometheus", "scripts", "other"]),
    st.sampled_from([None, *CATEGORIES, "flood"]),
    st.sampled_from([None, "internet", "extranet", "lan"]),
    st.sampled_from([None, *Level]),
    st.none() | st.text(max_size=8),
)
def test_any_alert_gets_a_valid_decision(
    labels: dict[str, str],
    source: str,
    category: str | None,
    subtype: str | None,
    level: Level | None,
    where: str | None,
) -> None:
    """R16: whatever the alert carries, the decision is one the incidents accept."""
    book = _book(
        [
            {"match_re": {"severity": "crit.*"}, "level": "large"},
            {"match": {"team": "sec"}, "category": "intrusion", "subtype": "internet"},
            {"match": {"k": ""}, "where": "{instance}/{job}"},
        ]
    )
    alert = _alert(
        source,
        labels=labels,
        category=category,
        subtype=subtype,
        level=level,
        where=where,
    )
    decided = book.decide(alert)
    assert decided.category in CATEGORIES
    assert decided.subtype is None or decided.subtype in CATEGORIES[decided.category]
    assert isinstance(decided.level, Level)
    assert len(decided.where) <= 200
    assert decided.title == alert.title


# --- The dry run ---------------------------------------------------------------------------

ALERTMANAGER_BODY = {
    "version": "4",
    "groupKey": "{}:{}",
    "status": "firing",
    "receiver": "bot",
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "ProbeFailure", "instance": "www", "severity": "critical"},
            "annotations": {"summary": "Portal down"},
            "startsAt": "2024-05-01T00:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "fingerprint": "aa",
        },
        {
            "status": "firing",
            "labels": {"alertname": "Chatty", "severity": "info"},
            "annotations": {},
            "startsAt": "2024-05-01T00:00:00Z",
            "fingerprint": "bb",
        },
    ],
}

TOML = """\
[alerts]

[[alerts.sources]]
name = "prometheus"
kind = "alertmanager"
token_env = "ALERTS_PROMETHEUS_TOKEN"
defaults = { category = "network_failure", where = "{instance}" }

[[alerts.sources]]
name = "scripts"
kind = "json"
token_env = "ALERTS_SCRIPTS_TOKEN"

[[alerts.rules]]
name = "portal"
match = { alertname = "ProbeFailure" }
category = "tampering"
level = "large"
auto_resolve = true

[[alerts.rules]]
match = { severity = "info" }
drop = true
"""


@pytest.fixture
def configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(TOML, "utf-8")
    monkeypatch.setenv("INCIDENT_BOT_CONFIG", str(config))
    return tmp_path


def test_alerts_test_prints_what_each_alert_would_become(
    configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """R16: `incident-bot alerts test` shows rule, category, level, place, or dropped."""
    payload = configured / "payload.json"
    payload.write_text(json.dumps(ALERTMANAGER_BODY), "utf-8")
    assert main(["alerts", "test", str(payload)]) == 0
    out = capsys.readouterr().out
    assert "source 'prometheus' (alertmanager): 2 alerts" in out
    assert "1. [firing] Portal down" in out
    assert "rule: portal (rules[0])" in out
    assert "-> incident: tampering, level large, where 'www', auto-resolve" in out
    assert "2. [firing] Chatty" in out
    assert "rule: rules[1]\n   -> dropped" in out


def test_alerts_test_as_json_for_a_named_source(
    configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """R16: --source picks the source; --json prints the decisions as data."""
    payload = configured / "plain.json"
    payload.write_text(json.dumps({"title": "备份失败", "level": "medium", "where": "NAS"}))
    assert main(["alerts", "test", str(payload), "--source", "scripts", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["source"] == "scripts"
    (alert,) = data["alerts"]
    assert alert["title"] == "备份失败"
    assert (alert["rule"], alert["dropped"]) == (None, False)
    assert (alert["category"], alert["level"], alert["where"]) == ("other", "medium", "NAS")


@pytest.mark.parametrize(
    ("content", "args", "expected"),
    [
        ("{not json", [], "not JSON"),
        (json.dumps({"title": "x"}), ["--source", "nope"], "no source 'nope'"),
        (json.dumps({"title": "x"}), ["--source", "prometheus"], "no 'alerts'"),
    ],
)
def test_alerts_test_refusals(
    configured: Path,
    capsys: pytest.CaptureFixture[str],
    content: str,
    args: list[str],
    expected: str,
) -> None:
    """R16: a bad payload or source is one line on stderr and exit status 2."""
    payload = configured / "payload.json"
    payload.write_text(content, "utf-8")
    assert main(["alerts", "test", str(payload), *args]) == 2
    assert expected in capsys.readouterr().err
    assert main(["alerts", "test", str(configured / "absent.json")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_the_source_is_chosen_by_the_payloads_kind() -> None:
    """R16: without --source, the one source of the payload's kind, else a stand-in."""
    policy = _policy([])
    body = json.dumps(ALERTMANAGER_BODY).encode()
    assert choose_source(policy, body, None).name == "prometheus"
    assert choose_source(policy, b'{"title": "x"}', None).name == "scripts"
    grafana = json.dumps({**ALERTMANAGER_BODY, "version": "1", "orgId": 1}).encode()
    stand_in = choose_source(policy, grafana, None)
    assert (stand_in.name, stand_in.kind) == ("trial", "grafana")
    two = AlertsPolicy.model_validate(
        {
            "sources": [
                {"name": "a", "kind": "json", "token_env": "A"},
                {"name": "b", "kind": "json", "token_env": "B"},
            ]
        }
    )
    with pytest.raises(NoSource, match="give --source"):
        choose_source(two, b'{"title": "x"}', None)
    _, batch, decisions = trial(body, policy=policy, categories=CATEGORIES)
    assert len(batch.alerts) == len(decisions) == 2
