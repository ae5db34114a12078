"""One Jinja2 environment per language, autoescaping for Telegram HTML."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache, partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from messages.fit import TEXT_LIMIT, split_html, truncate_html
from messages.i18n import LANGUAGES, gettext_for, normalize_language, translations

TEMPLATES = Path(__file__).parent / "templates"
HERE = Path(__file__).parent
NOT_FEATURES = {"__init__", "__main__", "catalog", "i18n", "render", "fit"}


@cache
def template_helpers() -> dict[str, Callable[..., Any]]:
    """Every feature module's TEMPLATE_HELPERS: functions taking the language first."""
    helpers: dict[str, Callable[..., Any]] = {}
    for path in sorted(HERE.glob("*.py")):
        if path.stem in NOT_FEATURES:
            continue
        module = importlib.import_module(f"messages.{path.stem}")
        for name, function in getattr(module, "TEMPLATE_HELPERS", {}).items():
            if name in helpers and helpers[name] is not function:
                raise RuntimeError(f"template helper {name!r} is defined twice ({path.stem})")
            helpers[name] = function
    return helpers


class Renderer:
    """Renders message templates and labels in a user's language."""

    def __init__(self, *, timezone: str = "Asia/Shanghai") -> None:
        self.tz = ZoneInfo(timezone)
        self._envs = {language: self._environment(language) for language in LANGUAGES}

    def _environment(self, language: str) -> Environment:
        env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(["j2", "html"], default_for_string=True),
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
            undefined=StrictUndefined,
            extensions=["jinja2.ext.i18n"],
        )
        env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
        env.policies["ext.i18n.trimmed"] = True
        env.filters["dt"] = self.format_datetime
        env.filters["hm"] = self.format_time
        env.filters["date"] = self.format_date
        env.globals["lang"] = language
        for name, function in template_helpers().items():
            bound = partial(function, language)
            env.globals[name] = bound
            env.filters[name] = bound
        return env

    def to_local(self, value: datetime) -> datetime:
        """A UTC instant in the office's time zone."""
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(self.tz)

    def format_datetime(self, value: datetime | None) -> str:
        """'2026-11-26 09:30' in the office's time zone."""
        return "" if value is None else self.to_local(value).strftime("%Y-%m-%d %H:%M")

    def format_time(self, value: datetime | None) -> str:
        """'09:30' in the office's time zone."""
        return "" if value is None else self.to_local(value).strftime("%H:%M")

    def format_date(self, value: datetime | None) -> str:
        """'2026-11-26' in the office's time zone."""
        return "" if value is None else self.to_local(value).strftime("%Y-%m-%d")

    def render(self, language: str, name: str, **context: Any) -> Markup:
        """Render `templates/<name>.html.j2`, cut cleanly to one message's length."""
        return Markup(truncate_html(self.render_full(language, name, **context), TEXT_LIMIT))

    def render_full(self, language: str, name: str, **context: Any) -> Markup:
        """Render a template without any length limit (safe Telegram HTML)."""
        env = self._envs[normalize_language(language)]
        return Markup(env.get_template(f"{name}.html.j2").render(**context).strip())

    def render_parts(self, language: str, name: str, **context: Any) -> list[Markup]:
        """Render a template, split into as many messages as it needs."""
        return [
            Markup(part)
            for part in split_html(self.render_full(language, name, **context), TEXT_LIMIT)
        ]

    def label(self, language: str, message: str, **values: Any) -> str:
        """A translated plain-text label (a button, an alert); escaped if sent as a message."""
        text = gettext_for(language, message)
        return text % values if values else text

    def html_label(self, language: str, message: str, **values: Any) -> Markup:
        """A translated label with its values escaped, for use inside HTML."""
        escaped = {key: Markup.escape(value) for key, value in values.items()}
        return (
            Markup(gettext_for(language, message)) % escaped
            if values
            else Markup(gettext_for(language, message))
        )


def as_html(text: str) -> str:
    """Telegram HTML for a text: rendered templates pass, plain text is escaped."""
    return str(text) if isinstance(text, Markup) else str(Markup.escape(text))
