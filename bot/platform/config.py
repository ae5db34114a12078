"""Settings from the environment and the policy TOML, validated at start-up."""

from __future__ import annotations

import ipaddress
import re
import string
import tomllib
from contextvars import ContextVar
from datetime import date, time
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.access.phones import BadPhone, international
from bot.platform.roles import Level, Position, Role

TELEGRAM_API_BASE_URL = "https://api.telegram.org/bot"
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./data/incident-bot.sqlite3"


class ConfigError(Exception):
    """A configuration value is wrong; the message names the key (and the line when known)."""


class Settings(BaseSettings):
    """Secrets and wiring, read from the environment."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    telegram_bot_token: SecretStr | None = None
    telegram_api_base_url: str = TELEGRAM_API_BASE_URL
    telegram_api_base_file_url: str | None = None
    database_url: str = DEFAULT_DATABASE_URL
    admin_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    incident_bot_config: Path = Path("config.toml")
    webhook_url: str | None = None
    webhook_listen: str = "0.0.0.0"
    webhook_port: int = 8443
    # Telegram sends it with every webhook call; without it a call is refused unread.
    webhook_secret: SecretStr | None = None
    sandbox_port: int = 8080
    # Shifts this process's clock by the seconds written in the file (tests, drills).
    incident_bot_clock_offset_file: str | None = None

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_admin_ids(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [int(part) for part in re.split(r"[,\s]+", value.strip()) if part]
        if isinstance(value, int):
            return [value]
        return value

    @field_validator("telegram_api_base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/]+(/.*)?$", value):
            raise ValueError("must look like http://host:port/bot")
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return value

    @property
    def file_base_url(self) -> str:
        """Base URL for file downloads, derived from the API base URL unless given."""
        if self.telegram_api_base_file_url:
            return self.telegram_api_base_file_url
        if self.telegram_api_base_url.endswith("/bot"):
            return self.telegram_api_base_url[: -len("bot")] + "file/bot"
        return self.telegram_api_base_url.rstrip("/") + "/file/bot"

    def secrets(self) -> list[str]:
        """Every secret besides the token that must never reach a log."""
        return [self.webhook_secret.get_secret_value()] if self.webhook_secret else []

    @property
    def token(self) -> str:
        """The bot token, which must be set by the time anything talks to Telegram."""
        if self.telegram_bot_token is None:
            raise ConfigError("TELEGRAM_BOT_TOKEN is not set")
        return self.telegram_bot_token.get_secret_value()


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ContactEntry(_Section):
    """One person on the contacts card."""

    position: Position
    name: str = Field(min_length=1, max_length=100)
    title: str = ""
    area: str = ""
    office_phone: str = ""
    mobile: str = ""
    telegram_id: int | None = None


class RoutingPolicy(_Section):
    """Where a report goes, per level: purposes of bound chats plus 'duty_officer'."""

    large: list[str] = Field(default_factory=lambda: ["leadership", "tech_center"])
    medium: list[str] = Field(default_factory=lambda: ["tech_center"])
    small: list[str] = Field(default_factory=lambda: ["duty_officer", "tech_center"])
    special_period_adds: list[str] = Field(default_factory=lambda: ["leadership"])

    @model_validator(mode="after")
    def _check_targets(self) -> RoutingPolicy:
        allowed = {"leadership", "tech_center", "all_staff", "duty", "duty_officer"}
        for name in ("large", "medium", "small", "special_period_adds"):
            for target in getattr(self, name):
                if target not in allowed:
                    raise ValueError(
                        f"{name}: unknown target {target!r}; use one of {sorted(allowed)}"
                    )
        return self

    def targets(self, level: Level) -> list[str]:
        """Route targets for a level."""
        return list(getattr(self, level.value))


class AckPolicy(_Section):
    """Which roles may acknowledge or take charge of an incident of each level."""

    large: list[Role] = Field(default_factory=lambda: [Role.LEADER])
    medium: list[Role] = Field(default_factory=lambda: [Role.TECH_CENTER, Role.LEADER])
    small: list[Role] = Field(default_factory=lambda: [Role.DUTY, Role.TECH_CENTER, Role.LEADER])

    def roles(self, level: Level) -> set[Role]:
        """Roles allowed to handle a level."""
        return set(getattr(self, level.value))


class LevelMinutes(_Section):
    """A number of minutes per level."""

    large: float = Field(gt=0)
    medium: float = Field(gt=0)
    small: float = Field(gt=0)

    def for_level(self, level: Level) -> float:
        """Minutes for a level."""
        return float(getattr(self, level.value))


class EscalationPolicy(_Section):
    """Who is chased, in order, when nobody acknowledges, and how fast."""

    chain: list[Position] = Field(
        default_factory=lambda: [
            Position.DUTY_OFFICER,
            Position.TECH_LEAD,
            Position.DEPUTY,
            Position.LEADER,
        ]
    )
    timeout_minutes: LevelMinutes = Field(
        default_factory=lambda: LevelMinutes(large=5, medium=15, small=30)
    )
    max_rounds: int = Field(default=3, ge=1, le=20)


class DraftPolicy(_Section):
    """How long a half-finished conversation waits for a reminder, then (after it) expiry."""

    remind_after_minutes: float = Field(default=30, gt=0)
    expire_after_minutes: float = Field(default=30, gt=0)


class DeliveryPolicy(_Section):
    """Telegram's sending limits, as the outbox dispatcher applies them."""

    messages_per_second: float = Field(default=30, gt=0)
    paid_broadcast: bool = False
    paid_messages_per_second: float = Field(default=1000, gt=0)
    private_chat_per_second: float = Field(default=1, gt=0)
    group_per_minute: float = Field(default=20, gt=0)
    max_attempts: int = Field(default=12, ge=1)
    longest_retry_wait_seconds: float = Field(default=60, gt=0)
    request_timeout_seconds: float = Field(default=10, gt=0)
    workers: int = Field(default=8, ge=1, le=256)

    @property
    def global_rate(self) -> float:
        """Messages per second overall."""
        return self.paid_messages_per_second if self.paid_broadcast else self.messages_per_second


PLAYBOOK_NAMES = (
    "natural_disaster",
    "human_damage",
    "virus",
    "intrusion_internet",
    "intrusion_extranet",
    "tampering",
    "network_failure",
    "other",
)
# The plan's handling methods (§三(二)3): 流程一, 流程二 and its cases ①–⑤, as built-in step keys.
DEFAULT_PLAYBOOKS: dict[str, list[str]] = {
    "natural_disaster": ["people_first", "save_data", "save_equipment"],
    "human_damage": [
        "judge_source",
        "disconnect_devices",
        "cut_link",
        "lock_source",
        "repair_data",
        "restore_system",
    ],
    "virus": ["cut_spread", "identify_virus", "close_ports", "publish_defence"],
    "intrusion_internet": [
        "locate_ip",
        "close_port",
        "restrict_ip",
        "disconnect_if_unstoppable",
        "update_ids",
    ],
    "intrusion_extranet": ["find_source", "disconnect_switch_port", "update_ids"],
    "tampering": ["take_offline", "restore_content"],
    "network_failure": ["troubleshoot"],
    "other": ["general_principles", "ask_experts"],
}
CATEGORY_NAMES = ("natural_disaster", "virus", "intrusion", "tampering", "network_failure", "other")


class PlaybookStep(_Section):
    """One step of a checklist: a built-in step by key, or the office's own words."""

    key: str = Field(pattern=r"^[a-z0-9_]{1,32}$")
    text: str = Field(default="", max_length=120)
    text_en: str = Field(default="", max_length=120)


def _default_steps(name: str) -> Any:
    return Field(
        default_factory=lambda: [PlaybookStep(key=key) for key in DEFAULT_PLAYBOOKS[name]],
        min_length=1,
        max_length=30,
    )


class PlaybookPolicy(_Section):
    """The ordered checklists per kind of incident (R6); a string names a built-in step."""

    natural_disaster: list[PlaybookStep] = _default_steps("natural_disaster")
    human_damage: list[PlaybookStep] = _default_steps("human_damage")
    virus: list[PlaybookStep] = _default_steps("virus")
    intrusion_internet: list[PlaybookStep] = _default_steps("intrusion_internet")
    intrusion_extranet: list[PlaybookStep] = _default_steps("intrusion_extranet")
    tampering: list[PlaybookStep] = _default_steps("tampering")
    network_failure: list[PlaybookStep] = _default_steps("network_failure")
    other: list[PlaybookStep] = _default_steps("other")
    # Categories the plan treats as human or virus damage: they also get 流程二's general steps.
    general_for: list[str] = Field(default_factory=lambda: ["virus", "intrusion", "tampering"])

    @field_validator(*PLAYBOOK_NAMES, mode="before")
    @classmethod
    def _keys_as_steps(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"key": item} if isinstance(item, str) else item for item in value]
        return value

    @field_validator(*PLAYBOOK_NAMES)
    @classmethod
    def _check_steps(cls, steps: list[PlaybookStep]) -> list[PlaybookStep]:
        from messages.handling import PLAYBOOK_STEPS

        seen: set[str] = set()
        for step in steps:
            if step.key in seen:
                raise ValueError(f"step {step.key!r} appears twice")
            seen.add(step.key)
            if not step.text and step.key not in PLAYBOOK_STEPS:
                raise ValueError(
                    f"{step.key!r} is not a built-in step; give it a text "
                    f"(built-in: {', '.join(sorted(PLAYBOOK_STEPS))})"
                )
        return steps

    @field_validator("general_for")
    @classmethod
    def _check_categories(cls, categories: list[str]) -> list[str]:
        for category in categories:
            if category not in CATEGORY_NAMES:
                raise ValueError(f"unknown category {category!r}; use {list(CATEGORY_NAMES)}")
        return categories

    def steps(self, name: str) -> list[PlaybookStep]:
        """The steps of one playbook."""
        return list(getattr(self, name))


class UpdatePolicy(_Section):
    """How long an open incident may go without a progress update before its handler is told."""

    remind_after_minutes: LevelMinutes = Field(
        default_factory=lambda: LevelMinutes(large=30, medium=120, small=1440)
    )


class SituationReportPolicy(_Section):
    """The situation report's Word document."""

    header: str = Field(default="", max_length=200)  # empty: the office's name


class AccessPolicy(_Section):
    """Invites and registration."""

    invite_days: float = Field(default=7, gt=0)


class DutyPolicy(_Section):
    """The duty roster's rotation (R11): who is on duty when, before any override."""

    # Telegram user ids, or @usernames of registered users, in rotation order.
    officers: list[int | str] = Field(default_factory=list)
    shift: Literal["day", "week"] = "day"
    handover: str = "09:00"
    # The first officer's first shift begins at the hand-over time of this date.
    start: date = date(2024, 1, 1)

    @field_validator("officers")
    @classmethod
    def _check_officers(cls, value: list[int | str]) -> list[int | str]:
        for entry in value:
            if isinstance(entry, str) and not re.fullmatch(r"@?[A-Za-z0-9_]{3,32}", entry):
                raise ValueError(f"{entry!r} is neither a Telegram user id nor an @username")
            if isinstance(entry, int) and entry <= 0:
                raise ValueError(f"{entry} is not a Telegram user id")
        return value

    @field_validator("handover")
    @classmethod
    def _check_handover(cls, value: str) -> str:
        return _hhmm(value)

    @property
    def handover_time(self) -> time:
        """The local time at which one duty day hands over to the next."""
        return parse_hhmm(self.handover)


class IrregularSchedule(_Section):
    """A number of random times, drawn fresh each day, inside a daily window."""

    count: int = Field(ge=1, le=20)
    start: str
    end: str

    @field_validator("start", "end")
    @classmethod
    def _check_time(cls, value: str) -> str:
        return _hhmm(value)

    @model_validator(mode="after")
    def _check_window(self) -> IrregularSchedule:
        if self.window_minutes < self.count:
            raise ValueError(f"the window {self.start}-{self.end} has no room for {self.count}")
        return self

    @property
    def window_minutes(self) -> int:
        """How many whole minutes the window holds."""
        start, end = parse_hhmm(self.start), parse_hhmm(self.end)
        return (end.hour * 60 + end.minute) - (start.hour * 60 + start.minute)


class PatrolKind(_Section):
    """One kind of patrol: its checklist and when it is due (regular or irregular)."""

    key: str = Field(pattern=r"^[a-z][a-z0-9_]{0,23}$")
    name: str = Field(min_length=1, max_length=60)
    checklist: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(min_length=1)
    # Offered as the place when a patrol finds a problem.
    location: str = Field(default="", max_length=200)
    # Regular: local "HH:MM" times, and/or crontab lines ("0 9,16 * * mon-fri").
    times: list[str] = Field(default_factory=list)
    cron: list[str] = Field(default_factory=list)
    irregular: IrregularSchedule | None = None
    # "working": weekdays, less holidays, plus extra working days; "all": every day.
    days: Literal["working", "all"] = "working"

    @field_validator("times")
    @classmethod
    def _check_times(cls, value: list[str]) -> list[str]:
        return [_hhmm(item) for item in value]

    @field_validator("cron")
    @classmethod
    def _check_cron(cls, value: list[str]) -> list[str]:
        from apscheduler.triggers.cron import CronTrigger

        for line in value:
            try:
                CronTrigger.from_crontab(line, timezone="UTC")
            except ValueError as exc:
                raise ValueError(f"{line!r} is not a crontab line: {exc}") from exc
        return value

    @model_validator(mode="after")
    def _check_schedule(self) -> PatrolKind:
        regular = bool(self.times or self.cron)
        if regular == (self.irregular is not None):
            raise ValueError("give either times/cron (regular) or irregular, not both or neither")
        return self


class PatrolPolicy(_Section):
    """Patrol kinds, the grace period for answers, and the working-day calendar (R11)."""

    grace_minutes: float = Field(default=30, gt=0)
    plan_days_ahead: int = Field(default=1, ge=1, le=7)
    holidays: list[date] = Field(default_factory=list)
    working_days: list[date] = Field(default_factory=list)
    kinds: list[PatrolKind] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check_keys(self) -> PatrolPolicy:
        keys = [kind.key for kind in self.kinds]
        for key in keys:
            if keys.count(key) > 1:
                raise ValueError(f"kinds: the key {key!r} is used twice")
        return self

    def kind(self, key: str) -> PatrolKind | None:
        """A patrol kind by key."""
        return next((kind for kind in self.kinds if kind.key == key), None)


class RecordsPolicy(_Section):
    """The monthly summary of the records to the leadership group (R13)."""

    # Sent on the first working day of each month (as [patrols] defines working days).
    monthly_summary: bool = True
    summary_time: str = "09:00"

    @field_validator("summary_time")
    @classmethod
    def _check_time(cls, value: str) -> str:
        return _hhmm(value)

    @property
    def time_of_day(self) -> time:
        """The local time the summary is sent at."""
        return parse_hhmm(self.summary_time)


WarningLevelName = Literal["blue", "yellow", "orange", "red"]
_SEVERE_LEVELS: list[WarningLevelName] = ["orange", "red"]


class WarningPolicy(_Section):
    """Early warnings: which levels are announced again while in force, and when."""

    repeat_levels: list[WarningLevelName] = Field(default_factory=lambda: _SEVERE_LEVELS.copy())
    repeat_cron: str = "0 9 * * *"
    repeat_min_gap_minutes: float = Field(default=60, ge=0)
    status_every_seconds: float = Field(default=3, gt=0)

    @field_validator("repeat_cron")
    @classmethod
    def _check_cron(cls, value: str) -> str:
        from zoneinfo import ZoneInfo

        from bot.platform.cron import trigger

        try:
            trigger(value, ZoneInfo("UTC"))
        except ValueError as exc:
            raise ValueError(
                f"not a cron expression (minute hour day month weekday): {exc}"
            ) from exc
        return value


# --- Monitoring alerts (R16) ---------------------------------------------------------------

# The formats bot.alerts.formats reads (a test keeps them equal).
AlertSourceKind = Literal["alertmanager", "grafana", "json"]
# The sub-types a category has, as bot.incidents.model.SUBTYPES says (a test keeps them equal).
CATEGORY_SUBTYPES: dict[str, tuple[str, ...]] = {"intrusion": ("internet", "extranet")}
_LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# The names of the [[alerts.sources]] being validated, for the rules that name one.
_ALERT_SOURCE_NAMES: ContextVar[frozenset[str] | None] = ContextVar("alert_sources", default=None)


def template_fields(template: str) -> list[str]:
    """The labels a where-template such as "{instance} ({job})" uses; ValueError if malformed."""
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(
            f"{template!r}: {exc}; write {{label}} for a label's value and {{{{ for a brace"
        ) from exc
    names = []
    for _text, name, spec, conversion in parts:
        if name is None:
            continue
        if not _LABEL_NAME.fullmatch(name) or spec or conversion:
            raise ValueError(
                f"{template!r}: only plain label fields such as {{instance}} may be used"
            )
        names.append(name)
    return names


def _known_category(value: str | None) -> str | None:
    if value is not None and value not in CATEGORY_NAMES:
        raise ValueError(f"unknown category {value!r}; use one of {list(CATEGORY_NAMES)}")
    return value


def _known_subtype(category: str | None, subtype: str | None) -> None:
    allowed = CATEGORY_SUBTYPES.get(category or "", ())
    if subtype is None:
        if allowed:
            raise ValueError(f"category {category!r} needs a subtype: {' or '.join(allowed)}")
        return
    if not allowed:
        raise ValueError(f"subtype {subtype!r} needs a category that has sub-types")
    if subtype not in allowed:
        raise ValueError(f"subtype {subtype!r} is not one of {category}'s: {list(allowed)}")


class AlertDefaults(_Section):
    """What an alert from a source becomes when no rule says otherwise."""

    category: str = "other"
    subtype: str | None = None
    level: Level = Level.SMALL
    # Where the problem is; {label} takes a label's value, e.g. "{instance}".
    where: str = Field(default="", max_length=200)

    @field_validator("category")
    @classmethod
    def _check_category(cls, value: str) -> str:
        _known_category(value)
        return value

    @field_validator("where")
    @classmethod
    def _check_where(cls, value: str) -> str:
        template_fields(value)
        return value

    @model_validator(mode="after")
    def _check_subtype(self) -> AlertDefaults:
        _known_subtype(self.category, self.subtype)
        return self


class AlertSource(_Section):
    """A monitoring system that may post alerts: it posts to /alerts/<name> with its token."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")
    kind: AlertSourceKind
    # The NAME of the environment variable that holds the source's bearer token.
    token_env: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
    defaults: AlertDefaults = Field(default_factory=AlertDefaults)


class AlertRule(_Section):
    """Maps matching alerts to an incident (first match wins), or drops them."""

    name: str = Field(default="", max_length=60)
    source: str | None = None
    # Every condition must hold; a label the alert lacks counts as "" (as in Prometheus).
    match: dict[str, str] = Field(default_factory=dict)
    # Regular expressions that must match a label's whole value.
    match_re: dict[str, str] = Field(default_factory=dict)
    category: str | None = None
    subtype: str | None = None
    level: Level | None = None
    where: str | None = Field(default=None, max_length=200)
    drop: bool = False
    auto_resolve: bool = False

    @field_validator("category")
    @classmethod
    def _check_category(cls, value: str | None) -> str | None:
        return _known_category(value)

    @field_validator("source")
    @classmethod
    def _check_source(cls, value: str | None) -> str | None:
        names = _ALERT_SOURCE_NAMES.get()
        if value is not None and names is not None and value not in names:
            raise ValueError(f"unknown source {value!r}; [[alerts.sources]] has {sorted(names)}")
        return value

    @field_validator("match", "match_re")
    @classmethod
    def _check_labels(cls, value: dict[str, str]) -> dict[str, str]:
        for label in value:
            if not _LABEL_NAME.fullmatch(label):
                raise ValueError(f"{label!r} is not a label name")
        return value

    @field_validator("match_re")
    @classmethod
    def _check_patterns(cls, value: dict[str, str]) -> dict[str, str]:
        for label, pattern in value.items():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(
                    f"{label}: {pattern!r} is not a regular expression: {exc}"
                ) from exc
        return value

    @field_validator("where")
    @classmethod
    def _check_where(cls, value: str | None) -> str | None:
        if value is not None:
            template_fields(value)
        return value

    @model_validator(mode="after")
    def _check_effect(self) -> AlertRule:
        sets = [
            k for k in ("category", "subtype", "level", "where") if getattr(self, k) is not None
        ]
        if self.drop and (sets or self.auto_resolve):
            raise ValueError(
                f"a rule with drop = true sets nothing else (it sets {sets or 'auto_resolve'})"
            )
        if not self.drop and not sets and not self.auto_resolve:
            raise ValueError("set category, subtype, level, where or auto_resolve, or drop = true")
        _known_subtype(self.category, self.subtype)
        return self


class AlertsPolicy(_Section):
    """The intake of monitoring alerts (R16): where it listens, who may post, and the rules."""

    enabled: bool = False
    listen: str = "127.0.0.1"
    port: int = Field(default=9095, ge=1, le=65535)
    max_body_bytes: int = Field(default=1_048_576, ge=1024, le=64 * 1_048_576)
    storm_threshold_per_minute: int = Field(default=30, ge=1)
    edit_every_seconds: float = Field(default=60, ge=1)
    sources: list[AlertSource] = Field(default_factory=list)
    rules: list[AlertRule] = Field(default_factory=list)

    @model_validator(mode="wrap")
    @classmethod
    def _known_sources(
        cls, data: Any, handler: ModelWrapValidatorHandler[AlertsPolicy]
    ) -> AlertsPolicy:
        names: frozenset[str] | None = None
        if isinstance(data, dict):
            sources = data.get("sources", [])
            if isinstance(sources, list):
                names = frozenset(
                    s["name"]
                    for s in sources
                    if isinstance(s, dict) and isinstance(s.get("name"), str)
                )
        token = _ALERT_SOURCE_NAMES.set(names)
        try:
            return handler(data)
        finally:
            _ALERT_SOURCE_NAMES.reset(token)

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, value: str) -> str:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?", value):
                raise ValueError(f"{value!r} is neither an IP address nor a host name") from None
        return value

    @model_validator(mode="after")
    def _check_sources(self) -> AlertsPolicy:
        names = [source.name for source in self.sources]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"sources: the name {name!r} is used twice")
        for index, rule in enumerate(self.rules):
            if rule.source is not None and rule.source not in names:
                raise ValueError(f"rules[{index}]: unknown source {rule.source!r}")
        if self.enabled and not self.sources:
            raise ValueError("enabled = true needs at least one [[alerts.sources]]")
        return self

    def source(self, name: str) -> AlertSource | None:
        """A source by name."""
        return next((source for source in self.sources if source.name == name), None)


class Policy(_Section):
    """The office's policy: everything an admin may tune without touching code."""

    timezone: str = "Asia/Shanghai"
    office_name: str = "信息化办公室"
    phone_region: str = "CN"
    phone_area_code: str = ""
    contacts: list[ContactEntry] = Field(default_factory=list)
    routing: RoutingPolicy = Field(default_factory=RoutingPolicy)
    acknowledge: AckPolicy = Field(default_factory=AckPolicy)
    escalation: EscalationPolicy = Field(default_factory=EscalationPolicy)
    drafts: DraftPolicy = Field(default_factory=DraftPolicy)
    delivery: DeliveryPolicy = Field(default_factory=DeliveryPolicy)
    access: AccessPolicy = Field(default_factory=AccessPolicy)
    duty: DutyPolicy = Field(default_factory=DutyPolicy)
    patrols: PatrolPolicy = Field(default_factory=PatrolPolicy)
    playbooks: PlaybookPolicy = Field(default_factory=PlaybookPolicy)
    updates: UpdatePolicy = Field(default_factory=UpdatePolicy)
    situation_report: SituationReportPolicy = Field(default_factory=SituationReportPolicy)
    records: RecordsPolicy = Field(default_factory=RecordsPolicy)
    warnings: WarningPolicy = Field(default_factory=WarningPolicy)
    alerts: AlertsPolicy = Field(default_factory=AlertsPolicy)
    scheduler_tick_seconds: float = Field(default=1.0, gt=0, le=60)

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _normalize_phones(self) -> Policy:
        for index, contact in enumerate(self.contacts):
            for key in ("office_phone", "mobile"):
                try:
                    value = international(
                        getattr(contact, key),
                        region=self.phone_region,
                        area_code=self.phone_area_code,
                    )
                except BadPhone as exc:
                    raise ValueError(f"contacts[{index}].{key}: {exc}") from exc
                setattr(contact, key, value)
        return self

    @property
    def tz(self) -> ZoneInfo:
        """The office's time zone."""
        return ZoneInfo(self.timezone)


_TOML_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\[\]#]+?)\s*\]\]?\s*(#.*)?$")
_TOML_KEY = re.compile(r"^\s*([A-Za-z0-9_\-.\"' ]+?)\s*=")


def _dotted(key: str) -> list[str]:
    return [part.strip().strip("\"'") for part in key.split(".")]


def _toml_paths(text: str) -> list[tuple[tuple[str | int, ...], int]]:
    """Each table header and key of a TOML text with its line, as a validation location.

    The n-th ``[[a.b]]`` is ``("a", "b", n)``, as pydantic writes the location of a list item.
    """
    found: list[tuple[tuple[str | int, ...], int]] = []
    current: dict[tuple[str, ...], int] = {}  # array of tables -> index of its last element
    table: tuple[str | int, ...] = ()
    for number, line in enumerate(text.splitlines(), start=1):
        header = _TOML_HEADER.match(line)
        if header:
            names = _dotted(header.group(2))
            is_array = header.group(1) == "[["
            path: list[str | int] = []
            for depth, name in enumerate(names, start=1):
                path.append(name)
                prefix = tuple(names[:depth])
                if prefix in current and (depth < len(names) or not is_array):
                    path.append(current[prefix])
            if is_array:
                key = tuple(names)
                current[key] = current.get(key, -1) + 1
                for inner in [k for k in current if len(k) > len(key) and k[: len(key)] == key]:
                    del current[inner]
                path.append(current[key])
            table = tuple(path)
            found.append((table, number))
            continue
        leaf = _TOML_KEY.match(line)
        if leaf:
            found.append(((*table, *_dotted(leaf.group(1))), number))
    return found


def _line_of(text: str, loc: tuple[str | int, ...]) -> int | None:
    """Best-effort line of the TOML key or table that a validation error's location names."""
    best, best_depth = None, 0
    for path, number in _toml_paths(text):
        if best_depth < len(path) <= len(loc) and tuple(loc[: len(path)]) == path:
            best, best_depth = number, len(path)
    return best


def format_validation_error(exc: ValidationError, text: str, source: str) -> str:
    """Turn a pydantic error into lines naming each bad key and its line."""
    messages = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        key = ".".join(str(part) for part in loc) or "(top level)"
        line = _line_of(text, loc)
        where = f"{source}:{line}" if line else source
        messages.append(f"{where}: {key}: {error['msg']}")
    return "\n".join(messages)


def load_policy(path: Path | None) -> Policy:
    """Read the policy TOML, or the built-in defaults when the file does not exist."""
    if path is None or not path.exists():
        return Policy()
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, text, str(path))) from exc


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment; errors name the variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            key = ".".join(str(part) for part in error["loc"]).upper()
            lines.append(f"{key}: {error['msg']}")
        raise ConfigError("\n".join(lines)) from exc


def parse_hhmm(value: str) -> time:
    """Parse 'HH:MM' into a time."""
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def _hhmm(value: str) -> str:
    """Check a local time written as 'HH:MM' and return it zero-padded."""
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", value.strip())
    if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise ValueError(f"{value!r} is not a time of day like 09:30")
    return f"{int(match.group(1)):02d}:{match.group(2)}"


LevelName = Literal["large", "medium", "small"]
