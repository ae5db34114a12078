"""R16: monitoring systems' request bodies read into one shape, and refused with one clear line."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.alerts.formats import (
    KINDS,
    MAX_BODY_BYTES,
    PLAIN_SCHEMA,
    BadPayload,
    PayloadTooLarge,
    guess_kind,
    parse,
)
from bot.incidents.model import SUBTYPES, Category
from bot.platform.roles import Level

# Shaped as Alertmanager's notify/webhook Message (version 4), times as Go writes them.
ALERTMANAGER: dict[str, Any] = {
    "receiver": "incident-bot",
    "status": "firing",
    "alerts": [
        {
            "status": "firing",
            "labels": {
                "alertname": "ProbeFailure",
                "instance": "https://www.example.org",
                "job": "blackbox",
                "severity": "critical",
            },
            "annotations": {
                "summary": "Portal unreachable: https://www.example.org",
                "description": "The probe has failed for 5 minutes.",
            },
            "startsAt": "2024-05-01T09:30:15.123456789+08:00",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph?g0.expr=probe_success+%3D%3D+0",
            "fingerprint": "1a30ba71cca2921f",
        },
        {
            "status": "resolved",
            "labels": {"alertname": "DiskFull", "instance": "db-1:9100"},
            "annotations": {},
            "startsAt": "2024-05-01T01:00:00Z",
            "endsAt": "2024-05-01T01:20:00.5Z",
            "generatorURL": "",
            "fingerprint": "77ab0c0e3b9a0d1f",
        },
    ],
    "groupLabels": {"alertname": "ProbeFailure"},
    "commonLabels": {"job": "blackbox"},
    "commonAnnotations": {},
    "externalURL": "http://alertmanager:9093",
    "version": "4",
    "groupKey": '{}:{alertname="ProbeFailure"}',
    "truncatedAlerts": 2,
}

# Shaped as Grafana's webhook contact point body (grafana/alerting receivers/webhook, v1).
GRAFANA: dict[str, Any] = {
    "receiver": "incident-bot",
    "status": "firing",
    "orgId": 1,
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "High memory usage", "team": "blue", "zone": "us-1"},
            "annotations": {
                "description": "The system has high memory usage",
                "runbook_url": "https://runbooks.example.org/1234",
                "summary": "This alert was triggered for zone us-1",
            },
            "startsAt": "2021-10-12T09:51:03.157076+02:00",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "https://grafana.example.org/alerting/1afz29v7z/edit",
            "fingerprint": "c6eadffa33fcdf37",
            "silenceURL": "https://grafana.example.org/alerting/silence/new?matchers=team%3Dblue",
            "dashboardURL": "",
            "panelURL": "",
            "values": {"B": 44.23943737541908, "C": 1},
            "valueString": "[ var='B' labels={} value=44.2 ]",
        },
        {
            "status": "firing",
            "labels": {"alertname": "No data"},
            "annotations": {},
            "startsAt": "2021-10-12T09:56:03Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "",
            "fingerprint": "bc97ff14869b13e3",
            "silenceURL": "",
            "dashboardURL": "https://grafana.example.org/d/abc",
            "panelURL": "https://grafana.example.org/d/abc?viewPanel=2",
            "values": None,
        },
    ],
    "groupLabels": {},
    "commonLabels": {"team": "blue"},
    "commonAnnotations": {},
    "externalURL": "https://grafana.example.org/",
    "version": "1",
    "groupKey": '{}/{team="blue"}:{}',
    "truncatedAlerts": 0,
    "title": "[FIRING:2]  (blue)",
    "state": "alerting",
    "message": "**Firing**\n\nValue: B=44.2",
}


def _body(data: Any) -> bytes:
    return json.dumps(data).encode()


def _reason(body: bytes, kind: str) -> str:
    with pytest.raises(BadPayload) as caught:
        parse(body, kind=kind, source="src")
    assert "\n" not in caught.value.reason
    return caught.value.reason


def test_alertmanager_webhook_is_read_into_alerts() -> None:
    """R16: each alert of an Alertmanager group, times in UTC, Go's zero time as unset."""
    batch = parse(_body(ALERTMANAGER), kind="alertmanager", source="prometheus")
    assert batch.kind == "alertmanager"
    assert batch.truncated == 2
    assert batch.group_key == '{}:{alertname="ProbeFailure"}'
    firing, resolved = batch.alerts
    assert firing.kind == "alertmanager" and firing.source == "prometheus"
    assert firing.status == "firing"
    assert firing.title == "Portal unreachable: https://www.example.org"
    assert firing.description == "The probe has failed for 5 minutes."
    assert firing.labels["severity"] == "critical"
    assert firing.annotations["summary"].startswith("Portal unreachable")
    assert firing.fingerprint == "1a30ba71cca2921f"
    assert firing.group_key == batch.group_key
    assert firing.starts_at == datetime(2024, 5, 1, 1, 30, 15, 123456, tzinfo=UTC)
    assert firing.ends_at is None
    assert firing.generator_url.startswith("http://prometheus:9090/graph")
    assert firing.links == {"external": "http://alertmanager:9093"}
    assert firing.origin == "incident-bot"
    assert (firing.level, firing.category, firing.where) == (None, None, None)
    # No summary: the alert's name is its title.
    assert resolved.status == "resolved"
    assert resolved.title == "DiskFull"
    assert resolved.ends_at == datetime(2024, 5, 1, 1, 20, 0, 500000, tzinfo=UTC)


def test_grafana_webhook_is_read_with_its_links_and_values() -> None:
    """R16: Grafana's unified-alerting webhook (version 1), values and links kept."""
    batch = parse(_body(GRAFANA), kind="grafana", source="grafana")
    first, second = batch.alerts
    assert first.kind == "grafana"
    assert first.title == "This alert was triggered for zone us-1"
    assert first.description == "The system has high memory usage"
    assert first.values == {"B": 44.23943737541908, "C": 1.0}
    assert first.links == {
        "silence": "https://grafana.example.org/alerting/silence/new?matchers=team%3Dblue",
        "external": "https://grafana.example.org/",
    }
    assert first.starts_at == datetime(2021, 10, 12, 7, 51, 3, 157076, tzinfo=UTC)
    assert first.ends_at is None
    assert first.fingerprint == "c6eadffa33fcdf37"
    assert second.title == "No data"
    assert second.values == {}
    assert second.links["panel"].endswith("viewPanel=2")


def test_a_missing_fingerprint_is_derived_from_the_labels() -> None:
    """R16: repeats of one problem need one key even when the sender gives none."""
    data = copy.deepcopy(ALERTMANAGER)
    for alert in data["alerts"]:
        del alert["fingerprint"]
    first = parse(_body(data), kind="alertmanager", source="p").alerts
    data["alerts"][0]["annotations"]["summary"] = "changed wording"
    again = parse(_body(data), kind="alertmanager", source="p").alerts
    assert first[0].fingerprint == again[0].fingerprint
    assert first[0].fingerprint != first[1].fingerprint


@pytest.mark.parametrize(
    ("data", "kind", "expected"),
    [
        (GRAFANA, "alertmanager", "version 4"),
        (ALERTMANAGER, "grafana", "version 1"),
        ({"title": "disk"}, "alertmanager", "no 'alerts'"),
        ([ALERTMANAGER], "alertmanager", "JSON object, not a list"),
        ({**ALERTMANAGER, "alerts": {}}, "alertmanager", "alerts must be a list"),
        ({**ALERTMANAGER, "alerts": ["x"]}, "alertmanager", "alerts[0] must be an object"),
        ({**ALERTMANAGER, "truncatedAlerts": -1}, "alertmanager", "truncatedAlerts"),
        ({**GRAFANA, "orgId": "1"}, "grafana", "orgId"),
        # Grafana's legacy alerting webhook is not the unified format.
        ({"ruleName": "cpu", "state": "alerting", "evalMatches": []}, "grafana", "no 'alerts'"),
        (ALERTMANAGER, "json", "unknown fields"),
    ],
)
def test_a_body_of_another_format_is_refused(data: Any, kind: str, expected: str) -> None:
    """R16: a body that is not what the source's kind sends is refused, saying why."""
    assert expected in _reason(_body(data), kind)


def _alertmanager_alert(**changes: Any) -> bytes:
    data = copy.deepcopy(ALERTMANAGER)
    data["alerts"][0].update(changes)
    return _body(data)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (_alertmanager_alert(status="pending"), "alerts[0].status must be 'firing' or 'resolved'"),
        (_alertmanager_alert(labels={"a": 1}), "alerts[0].labels.a must be a string"),
        (_alertmanager_alert(annotations=[]), "alerts[0].annotations must be an object"),
        (_alertmanager_alert(startsAt="yesterday"), "alerts[0].startsAt is not an RFC 3339"),
        (_alertmanager_alert(startsAt="2024-02-30T00:00:00Z"), "not a valid time"),
        (_alertmanager_alert(endsAt=1714550400), "alerts[0].endsAt must be an RFC 3339"),
        (_alertmanager_alert(fingerprint=7), "alerts[0].fingerprint must be a string"),
    ],
)
def test_a_bad_alert_field_is_named(body: bytes, expected: str) -> None:
    """R16: the reason names the field, so the sender's admin can fix the template."""
    assert expected in _reason(body, "alertmanager")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"", "empty"),
        (b"  \n", "empty"),
        (b"<html>", "not JSON"),
        (b'{"title": "x"', "not JSON"),
        (b"\xff\xfe\x00", "not JSON"),
        (b'{"title": NaN}', "not JSON"),
        (b"[" * 50_000 + b"]" * 50_000, "nested too deeply"),
        (b"1" * 5000, "not JSON"),
    ],
)
@pytest.mark.parametrize("kind", KINDS)
def test_what_is_not_json_is_refused(body: bytes, expected: str, kind: str) -> None:
    """R16: not JSON at all, for every kind of source."""
    assert expected in _reason(body, kind)


def test_a_body_over_the_limit_is_too_large() -> None:
    """R16: over max_body_bytes is refused before it is read (the HTTP layer answers 413)."""
    body = _body({"title": "x", "description": "y" * 100})
    with pytest.raises(PayloadTooLarge) as caught:
        parse(body, kind="json", source="s", max_bytes=len(body) - 1)
    assert caught.value.status == 413
    assert f"at most {len(body) - 1}" in caught.value.reason
    assert parse(body, kind="json", source="s", max_bytes=len(body)).alerts
    with pytest.raises(PayloadTooLarge):
        parse(b" " * (MAX_BODY_BYTES + 1), kind="alertmanager", source="s")
    assert BadPayload("x").status == 400


def test_times_keep_microseconds_and_read_offsets() -> None:
    """R16: Go's nanoseconds are cut to microseconds, offsets turned into UTC."""
    cases = {
        "2024-01-01T00:00:00.123456789+08:00": datetime(2023, 12, 31, 16, 0, 0, 123456, UTC),
        "2024-01-01T00:00:00-05:30": datetime(2024, 1, 1, 5, 30, tzinfo=UTC),
        "2024-01-01t00:00:00.5z": datetime(2024, 1, 1, 0, 0, 0, 500000, UTC),
        "0001-01-01T00:00:00Z": None,
        "0001-01-01T00:00:00+08:00": None,
    }
    for text, expected in cases.items():
        batch = parse(_alertmanager_alert(startsAt=text), kind="alertmanager", source="p")
        assert batch.alerts[0].starts_at == expected, text


def test_strings_are_made_fit_for_a_database() -> None:
    """R16: lone surrogates and NULs become U+FFFD; an overlong summary is cut."""
    body = _alertmanager_alert(
        labels={"alertname": "bad\ud800name", "instance": "a\x00b"},
        annotations={"summary": "s" * 500},
    )
    alert = parse(body, kind="alertmanager", source="p").alerts[0]
    assert alert.labels == {"alertname": "bad\ufffdname", "instance": "a\ufffdb"}
    assert len(alert.title) == 200 and alert.title.endswith("…")
    alert.title.encode("utf-8")


def test_plain_alert_with_hints() -> None:
    """R16: our plain JSON, one object: the hints are kept for the rules."""
    body = _body(
        {
            "title": "Backup failed",
            "level": "medium",
            "category": "other",
            "where": "  机房 NAS ",
            "description": "rsync exited with 23",
            "source": "backup-script",
            "labels": {"job": "nightly"},
            "url": "https://nas.example.org/log",
        }
    )
    (alert,) = parse(body, kind="json", source="scripts").alerts
    assert alert.kind == "json" and alert.source == "scripts"
    assert alert.status == "firing"
    assert alert.title == "Backup failed"
    assert alert.level is Level.MEDIUM
    assert alert.category == "other"
    assert alert.where == "机房 NAS"
    assert alert.description == "rsync exited with 23"
    assert alert.origin == "backup-script"
    assert alert.labels == {"job": "nightly"}
    assert alert.generator_url == "https://nas.example.org/log"
    assert alert.fingerprint and alert.group_key == alert.fingerprint


def test_plain_list_and_fingerprints() -> None:
    """R16: a list; one problem keeps one fingerprint, another place is another problem."""
    body = _body(
        [
            {"title": "Disk full", "where": "db-1"},
            {"title": "Disk full", "where": "db-1", "status": "resolved"},
            {"title": "Disk full", "where": "db-2"},
            {"title": "Disk full", "fingerprint": "mine"},
        ]
    )
    a, b, c, d = parse(body, kind="json", source="s").alerts
    assert (a.status, b.status) == ("firing", "resolved")
    assert a.fingerprint == b.fingerprint != c.fingerprint
    assert d.fingerprint == "mine"


PLAIN_REFUSALS = [
    ({}, "has no title"),
    ({"title": ""}, "title must not be empty"),
    ({"title": "x" * 201}, "longer than 200"),
    ({"title": 5}, "title must be a string"),
    ({"title": "x", "level": "huge"}, "level must be one of large, medium, small"),
    ({"title": "x", "category": "flood"}, "category must be one of"),
    ({"title": "x", "status": "ok"}, "status must be one of firing, resolved"),
    ({"title": "x", "titel": "y"}, 'unknown fields: "titel"'),
    ({"title": "x", "labels": {"a": 1}}, "labels.a must be a string"),
    ({"title": "x", "labels": []}, "labels must be an object"),
    ({"title": "x", "labels": {"": "v"}}, "must not be empty"),
    ({"title": "x", "where": None}, "where must be a string"),
    ([], "a list of 0 alerts"),
    ([{"title": "x"}] * 1001, "a list of 1001 alerts"),
    ([{"title": "x"}, "y"], "[1] must be an object"),
    ("x", "expected an alert object or a list of them, not a string"),
]


@pytest.mark.parametrize(("data", "expected"), PLAIN_REFUSALS)
def test_plain_refusals_say_why(data: Any, expected: str) -> None:
    """R16: the plain format is enforced, each refusal in one line."""
    assert expected in _reason(_body(data), "json")


def test_guess_kind_tells_the_formats_apart() -> None:
    assert guess_kind(_body(ALERTMANAGER)) == "alertmanager"
    assert guess_kind(_body(GRAFANA)) == "grafana"
    assert guess_kind(_body({"title": "x"})) == "json"
    assert guess_kind(_body([{"title": "x"}])) == "json"
    with pytest.raises(BadPayload):
        guess_kind(b"nope")


# --- The schema file and the parser agree --------------------------------------------------


def test_the_schema_is_valid_draft_2020_12_and_names_the_bots_values() -> None:
    """R16: plain.schema.json is a valid schema whose enums are the bot's own values."""
    jsonschema.Draft202012Validator.check_schema(PLAIN_SCHEMA)
    properties = PLAIN_SCHEMA["$defs"]["alert"]["properties"]
    assert properties["level"]["enum"] == [level.value for level in Level]
    assert properties["category"]["enum"] == [category.value for category in Category]
    assert properties["subtype"]["enum"] == [s for subs in SUBTYPES.values() for s in subs]


VALIDATOR = jsonschema.Draft202012Validator(PLAIN_SCHEMA)


def _parser_accepts(data: Any) -> bool:
    try:
        parse(_body(data), kind="json", source="s")
    except BadPayload:
        return False
    return True


GOOD_PLAIN = [
    {"title": "x"},
    {"title": "x", "status": "resolved", "level": "large", "category": "intrusion"},
    {"title": "x", "subtype": "internet", "where": "", "description": "", "source": ""},
    {"title": "x", "labels": {}, "url": "u", "fingerprint": "f"},
    {"title": "日志告警", "labels": {"主机": "一号机"}},
    [{"title": "a"}, {"title": "b", "level": "small"}],
]


@pytest.mark.parametrize("data", GOOD_PLAIN)
def test_schema_and_parser_accept_the_same_examples(data: Any) -> None:
    """R16: every example the schema accepts, the parser accepts."""
    VALIDATOR.validate(data)
    assert _parser_accepts(data)


@pytest.mark.parametrize(("data", "_expected"), PLAIN_REFUSALS)
def test_schema_and_parser_refuse_the_same_examples(data: Any, _expected: str) -> None:
    """R16: every example the parser refuses, the schema refuses."""
    assert not VALIDATOR.is_valid(data)
    assert not _parser_accepts(data)


_PROPERTIES = sorted(PLAIN_SCHEMA["$defs"]["alert"]["properties"])
_short_text = st.text(max_size=5) | st.text(min_size=195, max_size=205)
_values = (
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.sampled_from(["large", "small", "firing", "resolved", "intrusion", "internet", "x", ""])
    | _short_text
    | st.dictionaries(st.text(max_size=3), st.text(max_size=3) | st.integers(), max_size=3)
    | st.lists(st.text(max_size=2), max_size=2)
)
_plain_alerts = st.dictionaries(
    st.sampled_from([*_PROPERTIES, "extra"]), _values, max_size=6
) | st.fixed_dictionaries(
    {"title": st.text(min_size=1, max_size=10)},
    optional={name: _values for name in _PROPERTIES if name != "title"},
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.one_of(_plain_alerts, st.lists(_plain_alerts, max_size=3), _values))
def test_schema_and_parser_agree_on_any_body(data: Any) -> None:
    """R16: for generated bodies, the schema accepts exactly what the parser accepts."""
    assert VALIDATOR.is_valid(data) == _parser_accepts(data)


# --- Whatever the body, only the clear error ------------------------------------------------


def _parses_or_refuses(body: bytes, kind: str) -> None:
    try:
        batch = parse(body, kind=kind, source="s")
    except BadPayload as exc:
        assert exc.reason and "\n" not in exc.reason
        assert exc.status in (400, 413)
    else:
        for alert in batch.alerts:
            for text in (alert.title, alert.description, alert.fingerprint, *alert.labels):
                text.encode("utf-8")  # no lone surrogates left


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.sampled_from(KINDS))
def test_any_bytes_give_alerts_or_the_clear_error(body: bytes, kind: str) -> None:
    """R16: arbitrary bytes never raise anything but BadPayload."""
    _parses_or_refuses(body, kind)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(_json, st.sampled_from(KINDS))
def test_any_json_gives_alerts_or_the_clear_error(data: Any, kind: str) -> None:
    """R16: arbitrary JSON values never raise anything but BadPayload."""
    _parses_or_refuses(json.dumps(data).encode(), kind)


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += _paths(value, (*prefix, index))
    return found


@st.composite
def _mutated(draw: st.DrawFn) -> tuple[bytes, str]:
    """A real payload with a few of its values replaced or removed, sent to any kind."""
    kind = draw(st.sampled_from(KINDS))
    base = {"alertmanager": ALERTMANAGER, "grafana": GRAFANA, "json": {"title": "t"}}
    data: Any = copy.deepcopy(base[draw(st.sampled_from(sorted(base)))])
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(data)))
        if not path:
            continue
        parent = data
        for step in path[:-1]:
            parent = parent[step]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(
                _json | st.sampled_from(["0001-01-01T00:00:00Z", "9999-12-31T23:59:59-23:59"])
            )
    return json.dumps(data).encode(), kind


@settings(max_examples=300, deadline=None)
@given(_mutated())
def test_damaged_real_payloads_give_alerts_or_the_clear_error(case: tuple[bytes, str]) -> None:
    """R16: payloads close to real ones, damaged at random, never raise anything else."""
    _parses_or_refuses(*case)
