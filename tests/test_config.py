"""Configuration: environment settings and the policy TOML (R14 set-up, R2 contacts)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.platform.config import ConfigError, Policy, load_policy, load_settings

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_follow_the_plan() -> None:
    """R4/R5 defaults: routing by level and the escalation chain come from the plan."""
    policy = Policy()
    assert policy.timezone == "Asia/Shanghai"
    assert policy.routing.large == ["leadership", "tech_center"]
    assert policy.routing.medium == ["tech_center"]
    assert policy.routing.small == ["duty_officer", "tech_center"]
    assert [p.value for p in policy.escalation.chain] == [
        "duty_officer",
        "tech_lead",
        "deputy",
        "leader",
    ]
    assert policy.escalation.timeout_minutes.large == 5


def test_missing_file_means_builtin_defaults(tmp_path: Path) -> None:
    assert load_policy(tmp_path / "absent.toml") == Policy()


def test_bad_key_is_named_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        'timezone = "Asia/Shanghai"\n\n[escalation]\nmax_rounds = 3\n\n'
        "[escalation.timeout_minutes]\nlarge = 5\nmedium = -1\nsmall = 30\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_policy(path)
    message = str(caught.value)
    assert "escalation.timeout_minutes.medium" in message
    assert f"{path}:8" in message


def test_unknown_key_and_bad_timezone_are_named(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('timezone = "Mars/Olympus"\n[routing]\nhuge = ["leadership"]\n', "utf-8")
    with pytest.raises(ConfigError) as caught:
        load_policy(path)
    assert "timezone" in str(caught.value)
    assert "routing.huge" in str(caught.value)


def test_contact_phones_are_written_in_international_form(tmp_path: Path) -> None:
    """R2: numbers from the TOML are normalised so Telegram makes them tappable."""
    path = tmp_path / "config.toml"
    path.write_text(
        'phone_area_code = "028"\n'
        '[[contacts]]\nposition = "leader"\nname = "王主任"\n'
        'office_phone = "87654321"\nmobile = "13800138000"\n',
        encoding="utf-8",
    )
    policy = load_policy(path)
    assert policy.contacts[0].office_phone == "+86 28 8765 4321"
    assert policy.contacts[0].mobile == "+86 138 0013 8000"


def test_bad_phone_in_toml_names_the_contact(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[[contacts]]\nposition = "deputy"\nname = "李"\nmobile = "12345"\n', "utf-8")
    with pytest.raises(ConfigError) as caught:
        load_policy(path)
    assert "contacts[0].mobile" in str(caught.value)


def test_admin_ids_are_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMIN_IDS", "101, 202,303")
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:abc")
    settings = load_settings()
    assert settings.admin_ids == [101, 202, 303]
    assert "123:abc" not in repr(settings)
    assert "123:abc" not in str(settings.model_dump())


def test_file_url_is_derived_from_the_api_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", "http://127.0.0.1:8081/bot")
    assert load_settings().file_base_url == "http://127.0.0.1:8081/file/bot"


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k not in ("TELEGRAM_BOT_TOKEN",)}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=ROOT,
        timeout=60,
    )


def test_check_config_names_the_bad_key(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[delivery]\nmessages_per_second = 0\n", "utf-8")
    result = _cli("check-config", env={"INCIDENT_BOT_CONFIG": str(path)})
    assert result.returncode == 2
    assert "delivery.messages_per_second" in result.stderr
    assert f"{path}:2" in result.stderr


def test_run_without_token_explains_what_to_set(tmp_path: Path) -> None:
    result = _cli("run", env={"INCIDENT_BOT_CONFIG": str(tmp_path / "none.toml")})
    assert result.returncode != 0
    assert "TELEGRAM_BOT_TOKEN" in result.stderr
    assert "BotFather" in result.stderr


def test_the_example_configuration_is_valid() -> None:
    """The commented example in the repository loads without errors."""
    policy = load_policy(ROOT / "config.example.toml")
    assert policy.contacts and policy.contacts[0].office_phone == "+86 28 8765 4321"
