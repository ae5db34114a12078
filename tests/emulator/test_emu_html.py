"""Telegram HTML and MarkdownV2 parsing: entities, offsets and Telegram's error wording."""

from __future__ import annotations

import html

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.html import (
    ParseError,
    detect_commands,
    parse_html,
    parse_markdown_v2,
    parse_text,
    to_html,
    utf16_len,
)


def test_basic_tags_become_entities() -> None:
    text, entities = parse_html("<b>bold</b> <i>it</i> <u>u</u> <s>s</s> <code>c</code>")
    assert text == "bold it u s c"
    assert [(e["type"], e["offset"], e["length"]) for e in entities] == [
        ("bold", 0, 4),
        ("italic", 5, 2),
        ("underline", 8, 1),
        ("strikethrough", 10, 1),
        ("code", 12, 1),
    ]


def test_aliases_spoiler_blockquote_and_pre_language() -> None:
    text, entities = parse_html(
        "<strong>a</strong><em>b</em><ins>c</ins><del>d</del><strike>e</strike>"
        '<span class="tg-spoiler">f</span><tg-spoiler>g</tg-spoiler>'
        "<blockquote>h</blockquote><blockquote expandable>i</blockquote>"
        '<pre><code class="language-python">j</code></pre>'
    )
    assert text == "abcdefghij"
    kinds = [e["type"] for e in entities]
    assert kinds == [
        "bold",
        "italic",
        "underline",
        "strikethrough",
        "strikethrough",
        "spoiler",
        "spoiler",
        "blockquote",
        "expandable_blockquote",
        "pre",
    ]
    assert entities[-1]["language"] == "python"


def test_offsets_are_utf16_code_units() -> None:
    text, entities = parse_html("😀 <b>x</b> 中<i>文</i>")
    assert text == "😀 x 中文"
    assert entities[0] == {"type": "bold", "offset": 3, "length": 1}
    assert entities[1] == {"type": "italic", "offset": 6, "length": 1}
    assert utf16_len("😀") == 2


def test_links_are_normalized_and_bad_links_dropped() -> None:
    text, entities = parse_html('<a href="https://example.com">x</a> <a href="javascript:1">y</a>')
    assert text == "x y"
    assert entities == [
        {"type": "text_link", "offset": 0, "length": 1, "url": "https://example.com/"}
    ]


def test_text_mention_for_known_users() -> None:
    users = {42: {"id": 42, "is_bot": False, "first_name": "Li"}}
    _, entities = parse_html('<a href="tg://user?id=42">Li</a>', users.get)
    assert entities[0]["type"] == "text_mention"
    assert entities[0]["user"]["id"] == 42


def test_only_four_named_entities_and_numeric_references() -> None:
    text, _ = parse_html("&lt;&gt;&amp;&quot; &#39;&#x27; &nbsp; AT&T")
    assert text == "<>&\" '' &nbsp; AT&T"


def test_surrounding_whitespace_is_trimmed_with_entities_shifted() -> None:
    text, entities = parse_html("  \n<b> hi</b>  ")
    assert text == "hi"
    assert entities == [{"type": "bold", "offset": 0, "length": 2}]


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("<div>x</div>", 'Unsupported start tag "div" at byte offset 0'),
        ("<b>x", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b><i>hello</b>", 'Unmatched end tag at byte offset 11, expected "</i>", found "</b>"'),
        ("<i>hello, </b>", 'Unmatched end tag at byte offset 10, expected "</i>", found "</b>"'),
        ("a < b", 'Unsupported start tag "" at byte offset 2'),
        ("x<5", "Unclosed start tag at byte offset 1"),
        ("</b>", "Unexpected end tag at byte offset 0"),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        (
            "<a href>x</a>",
            'Expected equal sign in declaration of an attribute of the tag "a" at byte offset 0',
        ),
        ("中<p>", 'Unsupported start tag "p" at byte offset 3'),
    ],
)
def test_telegram_errors(source: str, error: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_html(source)
    assert str(caught.value) == error


def test_markdown_v2_entities_and_reserved_characters() -> None:
    text, entities = parse_markdown_v2("*b* _i_ __u__ ~s~ ||p|| [l](http://a.io) `c` 1\\.5")
    assert text == "b i u s p l c 1.5"
    assert [e["type"] for e in entities] == [
        "bold",
        "italic",
        "underline",
        "strikethrough",
        "spoiler",
        "text_link",
        "code",
    ]
    with pytest.raises(ParseError, match=r"Character '\.' is reserved"):
        parse_markdown_v2("1.5")
    with pytest.raises(ParseError, match="Can't find end of the entity starting at byte offset 0"):
        parse_markdown_v2("*open")


def test_parse_text_with_explicit_entities_and_no_mode() -> None:
    assert parse_text("<b>x</b>") == ("<b>x</b>", [])
    _text, entities = parse_text("hello", None, [{"type": "bold", "offset": 0, "length": 99}])
    assert entities == [{"type": "bold", "offset": 0, "length": 5}]
    with pytest.raises(ParseError):
        parse_text("x", "Klingon")


def test_detect_commands() -> None:
    assert detect_commands("/start") == [{"type": "bot_command", "offset": 0, "length": 6}]
    assert detect_commands("/bind@incident_test_bot leadership") == [
        {"type": "bot_command", "offset": 0, "length": 23}
    ]
    assert detect_commands("a/b no") == []


def test_to_html_renders_nested_and_overlapping_entities() -> None:
    source = '<b>Report <i>#1</i></b> &lt;x&gt; <a href="https://e.org/">link</a>'
    text, entities = parse_html(source)
    assert to_html(text, entities) == source
    overlapping = [
        {"type": "bold", "offset": 0, "length": 4},
        {"type": "italic", "offset": 2, "length": 4},
    ]
    rendered = to_html("abcdef", overlapping)
    assert rendered == "<b>ab<i>cd</i></b><i>ef</i>"
    assert parse_html(rendered)[0] == "abcdef"


texts = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=200,
)


@settings(max_examples=300, deadline=None)
@given(texts)
def test_escaped_text_always_parses_back(raw: str) -> None:
    text, entities = parse_html(html.escape(raw))
    assert text == raw.strip(" \t\r\n")
    assert entities == []


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="<>&/ab;#x1 \"='", max_size=60))
def test_unescaped_markup_is_refused_or_consistent(raw: str) -> None:
    try:
        text, entities = parse_html(raw)
    except ParseError as exc:
        assert str(exc)
        return
    total = utf16_len(text)
    for entity in entities:
        assert entity["length"] > 0
        assert entity["offset"] >= 0 and entity["offset"] + entity["length"] <= total
    again = parse_html(to_html(text, entities))
    assert again[0] == text


@settings(max_examples=200, deadline=None)
@given(texts, st.sampled_from(["b", "i", "u", "s", "code", "tg-spoiler"]))
def test_wrapped_escaped_text_round_trips_through_to_html(raw: str, tag: str) -> None:
    text, entities = parse_html(f"<{tag}>{html.escape(raw)}</{tag}>")
    assert parse_html(to_html(text, entities)) == (text, entities)
