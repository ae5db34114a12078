"""Texts users see: catalogs complete, long messages cut cleanly, typed input parsed (R3 R15)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html import escape
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.incidents.sources import parse_source
from bot.platform.errors import Invalid
from bot.platform.timeparse import parse_when
from emulator.html import parse_html
from messages import catalog, common
from messages import handling as handling_texts
from messages.fit import TEXT_LIMIT, split_html, truncate_html, utf16_len
from messages.render import Renderer

NOW = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
TZ = ZoneInfo("Asia/Shanghai")
TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300)


def test_every_message_has_a_chinese_translation() -> None:
    """R15: every text the code can show exists in zh_CN, with the same placeholders."""
    assert catalog.problems() == []


def test_english_and_chinese_render_differently() -> None:
    """R15: the same template speaks both languages."""
    r = Renderer()
    assert "What you can do" in r.render("en", "access/help", commands=[], roles="")
    assert "可用命令" in r.render("zh_CN", "access/help", commands=[], roles="")


def test_labels_handlers_show_come_from_messages() -> None:
    """R15: lists of roles, a level change's new targets and checklist buttons, in each language."""
    assert common.role_list("zh_CN", ["duty", "staff"]) == "值班人员, 工作人员"
    assert common.role_list("en", ["duty", "staff"]) == "duty officer, staff"
    assert common.choices(["leadership", "duty"]) == "leadership, duty"
    assert handling_texts.route_target("zh_CN", "duty_officer", "Wu") == "值班人员: Wu"
    assert handling_texts.route_target("zh_CN", "duty_officer") == "值班人员"
    assert handling_texts.route_target("en", "leadership", "Wu") == "leadership group chat"
    step = type("Step", (), {"text": "", "text_en": "", "key": "people_first"})()
    assert handling_texts.open_step_button("en", 3, step) == "⬜ 3. Keep people safe first"


@settings(max_examples=60, deadline=None)
@given(lines=st.lists(TEXT, min_size=1, max_size=60), bold=st.booleans())
def test_split_keeps_every_character_and_valid_html(lines: list[str], bold: bool) -> None:
    """Long messages are split within Telegram's limit into parts Telegram accepts."""
    body = "\n".join(f"<b>{escape(line)}</b>" if bold else escape(line) for line in lines * 20)
    plain, _ = parse_html(body)
    parts = split_html(body, 500)
    texts = []
    for part in parts:
        text, _ = parse_html(part)
        assert utf16_len(text) <= 500
        texts.append(text)
    # Telegram trims whitespace at a message's ends, so compare without it.
    assert "".join("".join(t.split()) for t in texts) == "".join(plain.split())


@settings(max_examples=60, deadline=None)
@given(text=TEXT, limit=st.integers(min_value=2, max_value=200))
def test_truncate_cuts_cleanly(text: str, limit: int) -> None:
    """A card that is too long is cut with '…' and its tags still close."""
    html = f"<b>{escape(text)}</b> <i>{escape(text)}</i>"
    cut = truncate_html(html, limit)
    plain, _ = parse_html(cut)
    assert utf16_len(plain) <= max(limit, utf16_len(parse_html(html)[0]))
    if utf16_len(html) > limit:
        assert utf16_len(plain) <= limit


def test_a_huge_template_is_cut_to_one_message() -> None:
    r = Renderer()
    user = type("U", (), {"name": "x" * 5000, "username": None, "id": 1, "created_at": NOW})()
    text = r.render("en", "access/approval_request", user=user)
    assert utf16_len(parse_html(text)[0]) <= TEXT_LIMIT


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("09:30", datetime(2026, 11, 26, 1, 30, tzinfo=UTC)),
        ("2026-11-26 09:30", datetime(2026, 11, 26, 1, 30, tzinfo=UTC)),
        ("2026/11/25 23:05", datetime(2026, 11, 25, 15, 5, tzinfo=UTC)),
        ("30分钟前", NOW - timedelta(minutes=30)),
        ("30 min ago", NOW - timedelta(minutes=30)),
        ("2小时前", NOW - timedelta(hours=2)),
        ("3 hours ago", NOW - timedelta(hours=3)),
        ("昨天 18:00", datetime(2026, 11, 25, 10, 0, tzinfo=UTC)),
        ("刚才", NOW),
    ],
)
def test_typed_times_in_both_languages(typed: str, expected: datetime) -> None:
    """R3: the typed forms the prompt promises are understood."""
    assert parse_when(typed, now=NOW, tz=TZ) == expected


@pytest.mark.parametrize(
    ("typed", "key"),
    [
        ("12:00", "report.future_time"),
        ("2099-01-01 00:00", "report.future_time"),
        ("25:00", "report.bad_time"),
        ("2026-02-30 10:00", "report.bad_time"),
        ("soon", "report.bad_time"),
        ("2020-01-01 10:00", "report.too_old"),
    ],
)
def test_impossible_times_are_refused(typed: str, key: str) -> None:
    """R3: never in the future, never nonsense."""
    with pytest.raises(Invalid) as caught:
        parse_when(typed, now=NOW, tz=TZ)
    assert caught.value.key == key


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=80))
def test_time_parser_never_crashes_and_never_returns_the_future(text: str) -> None:
    """R3: any text either gives a past moment or a clear refusal."""
    try:
        moment = parse_when(text, now=NOW, tz=TZ)
    except Invalid:
        return
    assert moment <= NOW


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("10.1.2.3", ("10.1.2.3", "ip")),
        (" 10.1.2.0/24 ", ("10.1.2.0/24", "cidr")),
        ("10.1.2.3/24", ("10.1.2.0/24", "cidr")),
        ("2001:db8::1", ("2001:db8::1", "ip")),
        ("li.lei@gov.cn", ("li.lei@gov.cn", "account")),
        ("DOMAIN\\wang", ("DOMAIN\\wang", "account")),
    ],
)
def test_sources(typed: str, expected: tuple[str, str]) -> None:
    """R3: IP addresses and networks are checked with ipaddress; accounts pass."""
    assert parse_source(typed) == expected


@pytest.mark.parametrize(
    ("typed", "key"),
    [
        ("300.1.1.1", "report.bad_ip"),
        ("1.2.3", "report.bad_ip"),
        ("10.0.0.0/33", "report.bad_cidr"),
        ("<b>x</b>", "report.bad_source"),
        ("two words", "report.bad_source"),
        ("", "report.bad_source"),
    ],
)
def test_bad_sources(typed: str, key: str) -> None:
    with pytest.raises(Invalid) as caught:
        parse_source(typed)
    assert caught.value.key == key


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=80))
def test_source_parser_never_crashes(text: str) -> None:
    """R3: any text is a valid source or a clear refusal, and a valid one has no markup."""
    try:
        value, kind = parse_source(text)
    except Invalid:
        return
    assert kind in {"ip", "cidr", "account"} and "<" not in value
