"""Settings from the environment and the policy TOML, validated at start-up."""

from __future__ import annotations

import re
import tomllib
from datetime import time
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.phones import BadPhone, international
from bot.roles import Level, Position, Role

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
    request_timeout_seconds: float = Field(default=10, gt=0)
    workers: int = Field(default=8, ge=1, le=256)

    @property
    def global_rate(self) -> float:
        """Messages per second overall."""
        return self.paid_messages_per_second if self.paid_broadcast else self.messages_per_second


class AccessPolicy(_Section):
    """Invites and registration."""

    invite_days: float = Field(default=7, gt=0)


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

        from bot.cron import trigger

        try:
            trigger(value, ZoneInfo("UTC"))
        except ValueError as exc:
            raise ValueError(
                f"not a cron expression (minute hour day month weekday): {exc}"
            ) from exc
        return value


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
    warnings: WarningPolicy = Field(default_factory=WarningPolicy)
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


def _line_of(text: str, loc: tuple[str | int, ...]) -> int | None:
    """Best-effort line number of the TOML key at a validation error's location."""
    lines = text.splitlines()
    keys = [part for part in loc if isinstance(part, str)]
    if not keys:
        return None
    start = 0
    # Walk down the table headers ([a], [a.b], [[a]]) before looking for the leaf key.
    for depth in range(len(keys) - 1, 0, -1):
        header = ".".join(keys[:depth])
        pattern = re.compile(r"^\s*\[\[?\s*" + re.escape(header) + r"\s*\]\]?\s*$")
        for number, line in enumerate(lines):
            if pattern.match(line):
                start = number
                break
        else:
            continue
        break
    leaf = re.compile(r"^\s*" + re.escape(keys[-1]) + r"\s*=")
    for number in range(start, len(lines)):
        if leaf.match(lines[number]):
            return number + 1
    return None


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


LevelName = Literal["large", "medium", "small"]
