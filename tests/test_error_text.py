"""Refusal texts: parameters that name a word of the plan are in the reader's language (R15)."""

from __future__ import annotations

from messages.common import error_text


def test_a_refused_level_is_named_in_chinese_and_in_english() -> None:
    """R5 R15: the level in a refusal is translated, not the code's word."""
    chinese = error_text("zh_CN", "incidents.not_your_level", level="large")
    assert "大型" in chinese and "large" not in chinese
    assert "may not handle a large incident" in error_text(
        "en", "incidents.not_your_level", level="large"
    )
