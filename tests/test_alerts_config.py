"""R16: the [alerts] section of the policy, and how its mistakes are reported."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import get_args

import pytest

from bot.alerts.formats import KINDS
from bot.incidents.model import SUBTYPES, Category
from bot.platform.config import (
    CATEGORY_NAMES,
    CATEGORY_SUBTYPES,
    AlertSourceKind,
    AlertsPolicy,
    ConfigError,
    Policy,
    load_policy,
)
from bot.platform.roles import Level
from tests.test_config import _cli

ROOT = Path(__file__).resolve().parent.parent

SOURCES = """\
[alerts]
enabled = true

[[alerts.sources]]
name = "prometheus"
kind = "alertmanager"
token_env = "ALERTS_PROMETHEUS_TOKEN"

[[alerts.sources]]
name = "scripts"
kind = "json"
token_env = "ALERTS_SCRIPTS_TOKEN"
defaults = { category = "intrusion", subtype = "extranet", level = "medium", where = "{host}" }
"""


def _load(tmp_path: Path, text: str) -> Policy:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return load_policy(path)


def _error(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, text)
    return str(caught.value)


def test_alerts_are_off_by_default() -> None:
    """R16: nobody listens for alerts unless the policy says so."""
    alerts = Policy().alerts
    assert alerts.enabled is False
    assert alerts.listen == "127.0.0.1"
    assert alerts.max_body_bytes == 1_048_576
    assert alerts.edit_every_seconds == 60
    assert alerts.sources == [] and alerts.rules == []


def test_categories_and_kinds_are_the_owners_own() -> None:
    """The policy's copies of the categories, sub-types and source kinds are their owners'."""
    assert get_args(AlertSourceKind) == KINDS
    assert list(CATEGORY_NAMES) == [category.value for category in Category]
    assert {str(k): v for k, v in SUBTYPES.items()} == CATEGORY_SUBTYPES


def test_the_commented_example_is_valid_once_uncommented() -> None:
    """R16: config.example.toml's [alerts] block, uncommented, loads as written."""
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    block = text[text.index("# [alerts]\n") :]
    toml = "\n".join(re.sub(r"^# ?", "", line) for line in block.splitlines())
    policy = AlertsPolicy.model_validate(tomllib.loads(toml)["alerts"])
    assert policy.enabled
    assert [s.name for s in policy.sources] == ["prometheus", "scripts"]
    assert policy.sources[0].defaults.where == "{instance}"
    assert [r.name for r in policy.rules][:2] == ["portal defaced", "probe down"]
    assert policy.rules[-1].drop


def test_sources_and_rules_load(tmp_path: Path) -> None:
    policy = _load(
        tmp_path,
        SOURCES
        + """
[[alerts.rules]]
name = "web"
source = "prometheus"
match = { job = "blackbox" }
match_re = { instance = "https://.*" }
category = "tampering"
level = "large"
where = "门户网站 {instance}"
auto_resolve = true
""",
    ).alerts
    assert policy.source("scripts") is not None
    assert policy.source("scripts").defaults.level is Level.MEDIUM  # type: ignore[union-attr]
    assert policy.source("nope") is None
    rule = policy.rules[0]
    assert (rule.source, rule.category, rule.level, rule.auto_resolve) == (
        "prometheus",
        "tampering",
        Level.LARGE,
        True,
    )


def _rules(*bodies: str) -> str:
    return SOURCES + "".join(f"\n[[alerts.rules]]\n{body}" for body in bodies)


def _line(text: str, needle: str, occurrence: int = 1) -> int:
    """The line number of the n-th line that starts with needle."""
    numbers = [n for n, line in enumerate(text.splitlines(), 1) if line.startswith(needle)]
    return numbers[occurrence - 1]


def test_a_bad_rule_is_named_with_its_own_line(tmp_path: Path) -> None:
    """R16: unknown category, bad regex and unknown source, each at the second rule's line."""
    text = _rules(
        'source = "prometheus"\nmatch_re = { job = "a.*" }\ncategory = "virus"\n',
        'source = "grafana"\nmatch_re = { job = "db-(" }\ncategory = "flood"\n',
    )
    message = _error(tmp_path, text)
    path = tmp_path / "config.toml"
    assert re.search(
        rf"{path}:{_line(text, 'source', 2)}: alerts\.rules\.1\.source: .*unknown source "
        r"'grafana'",
        message,
    ), message
    assert f"{path}:{_line(text, 'match_re', 2)}: alerts.rules.1.match_re: " in message
    assert "'db-(' is not a regular expression" in message
    assert f"{path}:{_line(text, 'category', 2)}: alerts.rules.1.category: " in message
    assert "unknown category 'flood'" in message


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('drop = true\nlevel = "large"\n', "drop = true sets nothing else"),
        ('match = { job = "x" }\n', "set category, subtype, level, where or auto_resolve"),
        ('subtype = "internet"\n', "needs a category that has sub-types"),
        ('category = "intrusion"\n', "needs a subtype: internet or extranet"),
        ('category = "intrusion"\nsubtype = "lan"\n', "is not one of intrusion's"),
        ('where = "{instance"\n', "for a label's value"),
        ('where = "{instance.__class__}"\n', "only plain label fields"),
        ('where = "{0}"\n', "only plain label fields"),
        ('level = "huge"\n', "alerts.rules.0.level"),
        ('match = { "bad-name" = "x" }\nlevel = "large"\n', "'bad-name' is not a label name"),
        ('category = "virus"\nmatchers = ["a=b"]\n', "alerts.rules.0.matchers"),
    ],
)
def test_rule_mistakes_are_refused(tmp_path: Path, body: str, expected: str) -> None:
    """R16: a rule that cannot mean anything is refused at start-up, not when an alert comes."""
    assert expected in _error(tmp_path, _rules(body))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[alerts]\nenabled = true\n", "needs at least one [[alerts.sources]]"),
        (SOURCES.replace('name = "scripts"', 'name = "prometheus"'), "used twice"),
        (SOURCES.replace("ALERTS_SCRIPTS_TOKEN", "my token"), "alerts.sources.1.token_env"),
        (SOURCES.replace('kind = "json"', 'kind = "zabbix"'), "alerts.sources.1.kind"),
        (SOURCES.replace('"{host}"', '"{host!s}"'), "alerts.sources.1.defaults.where"),
        (SOURCES.replace('subtype = "extranet", ', ""), "'intrusion' needs a subtype"),
        (SOURCES.replace("enabled = true", 'listen = "a b"'), "neither an IP address"),
        (SOURCES.replace("enabled = true", "port = 0"), "alerts.port"),
        (SOURCES.replace("enabled = true", "max_body_bytes = 10"), "alerts.max_body_bytes"),
        ('[[alerts.rules]]\nsource = "x"\nlevel = "large"\n', "unknown source 'x'"),
    ],
)
def test_section_mistakes_are_refused(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in _error(tmp_path, text)


def test_a_source_defaults_mistake_is_named_with_its_line(tmp_path: Path) -> None:
    """R16: the line of the second source's inline defaults."""
    text = SOURCES.replace('category = "intrusion"', 'category = "quake"')
    message = _error(tmp_path, text)
    assert f":{_line(text, 'defaults')}: alerts.sources.1.defaults.category" in message


def test_check_config_reports_a_bad_rule_with_its_line(tmp_path: Path) -> None:
    """R16: `incident-bot check-config` names the rule's line and exits 2."""
    path = tmp_path / "config.toml"
    text = _rules('category = "virus"\n', 'match_re = { job = "(" }\nlevel = "small"\n')
    path.write_text(text, "utf-8")
    result = _cli("check-config", env={"INCIDENT_BOT_CONFIG": str(path)})
    assert result.returncode == 2
    assert f"{path}:{_line(text, 'match_re')}: alerts.rules.1.match_re" in result.stderr


def test_check_config_says_whether_alerts_are_on_and_which_token_is_missing(
    tmp_path: Path,
) -> None:
    """R16: the token variable is named when unset, and its value never printed."""
    path = tmp_path / "config.toml"
    path.write_text(SOURCES, "utf-8")
    result = _cli(
        "check-config",
        env={"INCIDENT_BOT_CONFIG": str(path), "ALERTS_PROMETHEUS_TOKEN": "s3cret-value"},
    )
    assert result.returncode == 0, result.stderr
    assert "alerts: on at 127.0.0.1:9095 (2 sources, 0 rules)" in result.stdout
    assert "ALERTS_SCRIPTS_TOKEN is not set" in result.stderr
    assert "ALERTS_PROMETHEUS_TOKEN" not in result.stderr
    assert "s3cret-value" not in result.stdout + result.stderr


def test_array_of_tables_lines_point_at_the_right_element(tmp_path: Path) -> None:
    """The line of an error in the second [[patrols.kinds]] is that kind's, not the first's."""
    text = (
        '[patrols]\n\n[[patrols.kinds]]\nkey = "a"\nname = "A"\nchecklist = ["x"]\n'
        'times = ["09:00"]\n\n[[patrols.kinds]]\nkey = "b"\nname = "B"\n'
        'checklist = ["x"]\ntimes = ["25:00"]\n'
    )
    message = _error(tmp_path, text)
    assert f":{_line(text, 'times', 2)}: patrols.kinds.1.times" in message
