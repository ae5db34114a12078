"""Telegram text formatting: HTML and MarkdownV2 into plain text plus entities, and back."""

from __future__ import annotations

import html as _html
import re
from collections.abc import Callable, Iterable
from typing import Any

__all__ = [
    "ParseError",
    "detect_commands",
    "normalize_entities",
    "parse_html",
    "parse_markdown",
    "parse_markdown_v2",
    "parse_text",
    "to_html",
    "utf16_len",
]

Entity = dict[str, Any]

SUPPORTED_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "s",
        "strike",
        "del",
        "u",
        "ins",
        "tg-spoiler",
        "tg-emoji",
        "span",
        "pre",
        "code",
        "blockquote",
    }
)
_SIMPLE_TAG_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
}
_SPACES = frozenset(" \t\r\n\v\f\0")
_TRIM = " \t\r\n"
_TEXT_RUN = re.compile(r"[^<&]+")
_NAME_TOKEN = re.compile(r"[A-Za-z0-9.\-]*")
_USER_LINK = re.compile(r"^tg://user\?id=(\d+)$", re.IGNORECASE)
_BARE_HOST = re.compile(r"^[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)+(:\d+)?([/?#].*)?$")
_COMMAND = re.compile(r"(?<![\w/@])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?![\w/])")


class ParseError(ValueError):
    """An entity parsing failure worded as Telegram words it (without the prefix)."""


def utf16_len(text: str) -> int:
    """Length of `text` in UTF-16 code units."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(text: str, index: int) -> int:
    """UTF-8 byte offset of character `index` of `text`."""
    prefix = text[:index]
    return len(prefix) if prefix.isascii() else len(prefix.encode("utf-8"))


def _decode_entity(text: str, pos: int) -> tuple[str, int] | None:
    """Decode an HTML character reference at `pos` like Telegram does (the `;` is optional)."""
    n = len(text)
    end = pos + 1
    if end < n and text[end] == "#":
        end += 1
        value = 0
        if end < n and text[end] == "x":
            end += 1
            while end < n and text[end] in "0123456789abcdefABCDEF":
                value = value * 16 + int(text[end], 16)
                end += 1
                if value >= 0x10FFFF:
                    return None
        else:
            while end < n and "0" <= text[end] <= "9":
                value = value * 10 + ord(text[end]) - 48
                end += 1
                if value >= 0x10FFFF:
                    return None
        if value == 0 or end - pos >= 10 or 0xD800 <= value <= 0xDFFF:
            return None
        char = chr(value)
    else:
        while end < n and text[end].isascii() and text[end].isalpha():
            end += 1
        name = text[pos + 1 : end]
        named = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}.get(name)
        if named is None:
            return None
        char = named
    if end < n and text[end] == ";":
        end += 1
    return char, end


def check_url(url: str) -> str | None:
    """Normalize a link target the way Telegram does, or None when Telegram would drop it."""
    url = url.strip()
    if not url or any(c in _SPACES for c in url):
        return None
    lowered = url.lower()
    if lowered.startswith("tg://") or lowered.startswith("ton://"):
        return url
    if lowered.startswith(("http://", "https://", "ftp://")):
        scheme, _, rest = url.partition("://")
        if not rest or rest.startswith(("/", "?", "#")):
            return None
        host, sep, tail = rest.partition("/")
        if not sep and not any(c in host for c in "?#"):
            return f"{scheme.lower()}://{host}/"
        return f"{scheme.lower()}://{host}{sep}{tail}"
    if "://" in url or ":" in url.split("/", 1)[0].rsplit(":", 1)[0]:
        return None
    if _BARE_HOST.match(url):
        return check_url("http://" + url)
    return None


def _link_entity(offset: int, length: int, url: str, users: UserLookup | None) -> Entity | None:
    """Entity for `<a href>`: text_mention for tg://user links to known users, else text_link."""
    match = _USER_LINK.match(url)
    if match and users is not None:
        user = users(int(match.group(1)))
        if user is not None:
            return {"type": "text_mention", "offset": offset, "length": length, "user": user}
    checked = check_url(url)
    if checked is None:
        return None
    return {"type": "text_link", "offset": offset, "length": length, "url": checked}


UserLookup = Callable[[int], dict[str, Any] | None]


def parse_html(text: str, users: UserLookup | None = None) -> tuple[str, list[Entity]]:
    """Parse Telegram HTML into plain text and entities (UTF-16 offsets); raise ParseError."""
    out: list[str] = []
    entities: list[Entity] = []
    # open tags: [tag, argument, utf16 offset, index into `out` where the content starts]
    stack: list[list[Any]] = []
    offset = 0
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c != "<" and c != "&":
            run = _TEXT_RUN.match(text, i)
            assert run is not None
            chunk = run.group()
            out.append(chunk)
            offset += utf16_len(chunk)
            i = run.end()
            continue
        if c == "&":
            decoded = _decode_entity(text, i)
            if decoded is None:
                out.append("&")
                offset += 1
                i += 1
            else:
                char, i = decoded
                out.append(char)
                offset += 1 if ord(char) <= 0xFFFF else 2
            continue
        begin = i
        i += 1
        if i < n and text[i] == "/":
            if not stack:
                raise ParseError(f"Unexpected end tag at byte offset {_byte_offset(text, begin)}")
            while i < n and text[i] not in _SPACES and text[i] != ">":
                i += 1
            end_name = text[begin + 2 : i]
            while i < n and text[i] in _SPACES:
                i += 1
            if i >= n or text[i] != ">":
                raise ParseError(f"Unclosed end tag at byte offset {_byte_offset(text, begin)}")
            tag, argument, start, out_index = stack.pop()
            if end_name and end_name != tag:
                raise ParseError(
                    f"Unmatched end tag at byte offset {_byte_offset(text, begin)}, "
                    f'expected "</{tag}>", found "</{end_name}>"'
                )
            if offset > start:
                _close_html_tag(
                    tag, argument, start, offset - start, out, out_index, entities, users
                )
            i += 1
            continue
        while i < n and text[i] not in _SPACES and text[i] != ">":
            i += 1
        if i >= n:
            raise ParseError(f"Unclosed start tag at byte offset {_byte_offset(text, begin)}")
        tag = text[begin + 1 : i].lower()
        if tag not in SUPPORTED_TAGS:
            raise ParseError(
                f'Unsupported start tag "{tag}" at byte offset {_byte_offset(text, begin)}'
            )
        argument = ""
        while i >= n or text[i] != ">":
            while i < n and text[i] in _SPACES:
                i += 1
            if i < n and text[i] == ">":
                break
            attr_begin = i
            while i < n and text[i] not in _SPACES and text[i] != "=" and text[i] != ">":
                i += 1
            attr_name = text[attr_begin:i]
            if not attr_name:
                raise ParseError(
                    f'Empty attribute name in the tag "{tag}" at byte offset '
                    f"{_byte_offset(text, begin)}"
                )
            while i < n and text[i] in _SPACES:
                i += 1
            if i >= n or text[i] != "=":
                if tag == "blockquote" and attr_name == "expandable":
                    argument = "1"
                    continue
                raise ParseError(
                    f'Expected equal sign in declaration of an attribute of the tag "{tag}" '
                    f"at byte offset {_byte_offset(text, begin)}"
                )
            i += 1
            while i < n and text[i] in _SPACES:
                i += 1
            if i >= n:
                raise ParseError(
                    f'Unclosed start tag "{tag}" at byte offset {_byte_offset(text, begin)}'
                )
            if text[i] not in "'\"":
                token = _NAME_TOKEN.match(text, i)
                assert token is not None
                value = token.group().lower()
                token_begin = i
                i = token.end()
                if i < n and text[i] not in _SPACES and text[i] != ">":
                    raise ParseError(
                        f"Unexpected end of name token at byte offset "
                        f"{_byte_offset(text, token_begin)}"
                    )
            else:
                quote = text[i]
                i += 1
                parts: list[str] = []
                while i < n and text[i] != quote:
                    if text[i] == "&":
                        decoded = _decode_entity(text, i)
                        if decoded is not None:
                            parts.append(decoded[0])
                            i = decoded[1]
                            continue
                    parts.append(text[i])
                    i += 1
                if i < n:
                    i += 1
                value = "".join(parts)
            if i >= n:
                raise ParseError(f"Unclosed start tag at byte offset {_byte_offset(text, begin)}")
            if tag == "a" and attr_name == "href":
                argument = value
            elif tag == "code" and attr_name == "class" and value.startswith("language-"):
                argument = value[9:]
            elif tag == "span" and attr_name == "class" and value.startswith("tg-"):
                argument = value[3:]
            elif tag == "tg-emoji" and attr_name == "emoji-id":
                argument = value
            elif tag == "blockquote" and attr_name == "expandable":
                argument = "1"
        if tag == "span" and argument != "spoiler":
            raise ParseError(
                'Tag "span" must have class "tg-spoiler" at byte offset '
                f"{_byte_offset(text, begin)}"
            )
        stack.append([tag, argument, offset, len(out)])
        i += 1
    if stack:
        raise ParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    return _finish("".join(out), entities)


def _close_html_tag(
    tag: str,
    argument: str,
    start: int,
    length: int,
    out: list[str],
    out_index: int,
    entities: list[Entity],
    users: UserLookup | None,
) -> None:
    """Append the entity produced by closing `tag` (mutates `entities`)."""
    simple = _SIMPLE_TAG_TYPES.get(tag)
    if simple is not None:
        entities.append({"type": simple, "offset": start, "length": length})
    elif tag == "a":
        url = argument or "".join(out[out_index:])
        entity = _link_entity(start, length, url, users)
        if entity is not None:
            entities.append(entity)
    elif tag == "tg-emoji":
        if argument.isdigit():
            entities.append(
                {
                    "type": "custom_emoji",
                    "offset": start,
                    "length": length,
                    "custom_emoji_id": argument,
                }
            )
    elif tag == "blockquote":
        kind = "expandable_blockquote" if argument else "blockquote"
        entities.append({"type": kind, "offset": start, "length": length})
    elif tag == "pre":
        last = entities[-1] if entities else None
        if (
            last is not None
            and last["type"] == "code"
            and last["offset"] == start
            and last["length"] == length
            and last.get("language")
        ):
            last["type"] = "pre"
        else:
            entities.append({"type": "pre", "offset": start, "length": length})
    elif tag == "code":
        last = entities[-1] if entities else None
        if (
            last is not None
            and last["type"] == "pre"
            and last["offset"] == start
            and last["length"] == length
            and argument
        ):
            last["language"] = argument
        elif argument:
            entities.append(
                {"type": "code", "offset": start, "length": length, "language": argument}
            )
        else:
            entities.append({"type": "code", "offset": start, "length": length})


def _finish(text: str, entities: list[Entity]) -> tuple[str, list[Entity]]:
    """Trim surrounding whitespace like Telegram, fixing entity offsets, and sort entities."""
    for entity in entities:
        if entity["type"] == "code" and "language" in entity:
            del entity["language"]  # a lone <code class=...> carries no language in Telegram
    stripped = text.strip(_TRIM)
    if stripped != text:
        left = utf16_len(text[: len(text) - len(text.lstrip(_TRIM))])
        new_len = utf16_len(stripped)
        fixed: list[Entity] = []
        for entity in entities:
            start = max(entity["offset"] - left, 0)
            end = min(entity["offset"] + entity["length"] - left, new_len)
            if end > start:
                entity["offset"] = start
                entity["length"] = end - start
                fixed.append(entity)
        entities = fixed
        text = stripped
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return text, entities


_MD2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")


def parse_markdown_v2(text: str, users: UserLookup | None = None) -> tuple[str, list[Entity]]:
    """Parse Telegram MarkdownV2 into plain text and entities; raise ParseError."""
    out: list[str] = []
    entities: list[Entity] = []
    stack: list[list[Any]] = []  # [type, argument, utf16 offset, byte offset index, out index]
    offset = 0
    n = len(text)
    i = 0
    quote_start: int | None = None
    quote_expandable = False
    line_start = True
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and 0 < ord(text[i + 1]) <= 126:
            out.append(text[i + 1])
            offset += 1
            if text[i + 1] == "\n":
                line_start = True
            i += 2
            continue
        if line_start and c == ">" and not stack:
            if quote_start is None:
                quote_start = offset
                quote_expandable = False
            i += 1
            line_start = False
            continue
        if c == "\n":
            if quote_start is not None and not (i + 1 < n and text[i + 1] == ">"):
                _close_quote(entities, quote_start, offset, quote_expandable)
                quote_start = None
            line_start = True
        else:
            line_start = False
        top = stack[-1][0] if stack else None
        in_code = top in ("code", "pre")
        if (in_code and c != "`") or (not in_code and c not in _MD2_RESERVED):
            out.append(c)
            offset += 1 if ord(c) <= 0xFFFF else 2
            i += 1
            continue
        nxt = text[i + 1] if i + 1 < n else ""
        is_end = False
        if top is not None:
            is_end = {
                "bold": c == "*",
                "italic": c == "_" and nxt != "_",
                "code": c == "`",
                "pre": c == "`" and text[i + 1 : i + 3] == "``",
                "text_link": c == "]",
                "underline": c == "_" and nxt == "_",
                "strikethrough": c == "~",
                "spoiler": c == "|" and nxt == "|",
                "custom_emoji": c == "]",
            }[top]
        if not is_end:
            if (
                quote_start is not None
                and c == "*"
                and text[i : i + 2] == "**"
                and _quote_ends(text, i + 2)
            ):
                quote_expandable = True
                i += 2
                continue
            byte_at = i
            argument = ""
            if c == "_":
                kind = "underline" if nxt == "_" else "italic"
                i += 2 if nxt == "_" else 1
            elif c == "*":
                kind = "bold"
                i += 1
            elif c == "~":
                kind = "strikethrough"
                i += 1
            elif c == "|" and nxt == "|":
                kind = "spoiler"
                i += 2
            elif c == "[":
                kind = "text_link"
                i += 1
            elif c == "!" and nxt == "[":
                kind = "custom_emoji"
                i += 2
            elif c == "`":
                if text[i + 1 : i + 3] == "``":
                    i += 3
                    kind = "pre"
                    lang_end = i
                    while lang_end < n and text[lang_end] not in _SPACES and text[lang_end] != "`":
                        lang_end += 1
                    if i != lang_end and lang_end < n and text[lang_end] != "`":
                        argument = text[i:lang_end]
                        i = lang_end
                    if i < n and text[i] in "\r\n":
                        if i + 1 < n and text[i + 1] in "\r\n" and text[i] != text[i + 1]:
                            i += 2
                        else:
                            i += 1
                else:
                    kind = "code"
                    i += 1
            else:
                raise ParseError(
                    f"Character '{c}' is reserved and must be escaped with the preceding '\\'"
                )
            stack.append([kind, argument, offset, byte_at, len(out)])
            continue
        kind, argument, start, _byte_at, out_index = stack.pop()
        skip = offset == start
        i += 1
        entity: Entity | None = None
        if kind in ("underline", "spoiler"):
            i += 1
        elif kind == "pre":
            i += 2
        if kind in ("text_link", "custom_emoji"):
            url = ""
            if i < n and text[i] == "(":
                i += 1
                url_begin = i
                parts: list[str] = []
                while i < n and text[i] != ")":
                    if text[i] == "\\" and i + 1 < n and 0 < ord(text[i + 1]) <= 126:
                        parts.append(text[i + 1])
                        i += 2
                        continue
                    parts.append(text[i])
                    i += 1
                if i >= n:
                    raise ParseError(
                        f"Can't find end of a URL at byte offset {_byte_offset(text, url_begin)}"
                    )
                i += 1
                url = "".join(parts)
            elif kind == "text_link":
                url = "".join(out[out_index:])
            if kind == "custom_emoji":
                match = re.match(r"^tg://emoji\?id=(\d+)$", url)
                if match is None:
                    raise ParseError("Custom emoji entity must contain a tg://emoji URL")
                entity = {"type": "custom_emoji", "custom_emoji_id": match.group(1)}
            else:
                entity = _link_entity(start, offset - start, url, users)
                if entity is None:
                    skip = True
        elif kind == "pre":
            entity = {"type": "pre"}
            if argument:
                entity["language"] = argument
        else:
            entity = {"type": kind}
        if not skip and entity is not None:
            entity["offset"] = start
            entity["length"] = offset - start
            entities.append(entity)
    if stack:
        raise ParseError(
            "Can't find end of the entity starting at byte offset "
            f"{_byte_offset(text, stack[-1][3])}"
        )
    if quote_start is not None:
        _close_quote(entities, quote_start, offset, quote_expandable)
    return _finish("".join(out), entities)


def _quote_ends(text: str, pos: int) -> bool:
    """True when position `pos` is the end of a line (where `**` closes an expandable quote)."""
    return pos >= len(text) or text[pos] == "\n"


def _close_quote(entities: list[Entity], start: int, end: int, expandable: bool) -> None:
    """Append a (possibly expandable) blockquote entity when it is not empty."""
    if end > start:
        kind = "expandable_blockquote" if expandable else "blockquote"
        entities.append({"type": kind, "offset": start, "length": end - start})


def parse_markdown(text: str, users: UserLookup | None = None) -> tuple[str, list[Entity]]:
    """Parse legacy Telegram Markdown (*bold*, _italic_, `code`, ```pre```, [text](url))."""
    out: list[str] = []
    entities: list[Entity] = []
    offset = 0
    n = len(text)
    i = 0
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and text[i + 1] in "_*`[":
            out.append(text[i + 1])
            offset += 1
            i += 2
            continue
        if c not in "_*`[":
            out.append(c)
            offset += 1 if ord(c) <= 0xFFFF else 2
            i += 1
            continue
        begin = i
        start = offset
        if c == "[":
            close = text.find("]", i + 1)
            if close < 0:
                raise ParseError(
                    "Can't find end of the entity starting at byte offset "
                    f"{_byte_offset(text, begin)}"
                )
            label = text[i + 1 : close]
            i = close + 1
            url = ""
            if i < n and text[i] == "(":
                end = text.find(")", i)
                if end < 0:
                    raise ParseError(
                        "Can't find end of the entity starting at byte offset "
                        f"{_byte_offset(text, begin)}"
                    )
                url = text[i + 1 : end]
                i = end + 1
            out.append(label)
            offset += utf16_len(label)
            entity = _link_entity(start, offset - start, url or label, users)
            if entity is not None and offset > start:
                entities.append(entity)
            continue
        marker = "```" if text.startswith("```", i) else c
        content_begin = i + len(marker)
        language = ""
        if marker == "```":
            line_end = text.find("\n", content_begin)
            word = text[content_begin:line_end] if line_end >= 0 else ""
            if word and not any(ch in _SPACES or ch == "`" for ch in word):
                language = word
                content_begin = line_end + 1
        end = text.find(marker, content_begin)
        if end < 0:
            raise ParseError(
                f"Can't find end of the entity starting at byte offset {_byte_offset(text, begin)}"
            )
        content = text[content_begin:end]
        if marker == "```" and content.startswith("\n"):
            content = content[1:]
        out.append(content)
        offset += utf16_len(content)
        i = end + len(marker)
        if offset > start:
            kind = {"*": "bold", "_": "italic", "`": "code", "```": "pre"}[marker]
            entity = {"type": kind, "offset": start, "length": offset - start}
            if language:
                entity["language"] = language
            entities.append(entity)
    return _finish("".join(out), entities)


_ENTITY_TYPES = frozenset(
    {
        "mention",
        "hashtag",
        "cashtag",
        "bot_command",
        "url",
        "email",
        "phone_number",
        "bold",
        "italic",
        "underline",
        "strikethrough",
        "spoiler",
        "blockquote",
        "expandable_blockquote",
        "code",
        "pre",
        "text_link",
        "text_mention",
        "custom_emoji",
        "date_time",
    }
)


def normalize_entities(text: str, entities: Iterable[dict[str, Any]]) -> list[Entity]:
    """Check explicit `entities` against `text`; drop empty or out-of-range ones like Telegram."""
    total = utf16_len(text)
    result: list[Entity] = []
    for raw in entities:
        kind = raw.get("type")
        if kind not in _ENTITY_TYPES:
            raise ParseError(f'Unsupported entity type "{kind}"')
        offset = int(raw.get("offset", 0))
        length = int(raw.get("length", 0))
        if offset < 0 or length <= 0 or offset >= total:
            continue
        entity: Entity = {"type": kind, "offset": offset, "length": min(length, total - offset)}
        if kind == "text_link":
            url = check_url(str(raw.get("url", "")))
            if url is None:
                continue
            entity["url"] = url
        elif kind == "text_mention":
            if not isinstance(raw.get("user"), dict):
                continue
            entity["user"] = raw["user"]
        elif kind == "pre" and raw.get("language"):
            entity["language"] = str(raw["language"])
        elif kind == "custom_emoji":
            entity["custom_emoji_id"] = str(raw.get("custom_emoji_id", ""))
        result.append(entity)
    result.sort(key=lambda e: (e["offset"], -e["length"]))
    return result


def parse_text(
    text: str,
    parse_mode: str | None = None,
    entities: Iterable[dict[str, Any]] | None = None,
    users: UserLookup | None = None,
) -> tuple[str, list[Entity]]:
    """Apply `parse_mode` (HTML, MarkdownV2, Markdown) or explicit `entities` to `text`."""
    if entities is not None and not parse_mode:
        stripped = text.strip(_TRIM)
        if stripped != text:
            lead = utf16_len(text[: len(text) - len(text.lstrip(_TRIM))])
            shifted = [dict(e, offset=int(e.get("offset", 0)) - lead) for e in entities]
            return stripped, normalize_entities(stripped, shifted)
        return text, normalize_entities(text, entities)
    mode = (parse_mode or "").lower()
    if not mode:
        return _finish(text, [])
    if mode == "html":
        return parse_html(text, users)
    if mode == "markdownv2":
        return parse_markdown_v2(text, users)
    if mode == "markdown":
        return parse_markdown(text, users)
    raise ParseError(f'Unsupported parse_mode "{parse_mode}"')


def detect_commands(text: str) -> list[Entity]:
    """Find bot_command entities the way Telegram marks them in incoming messages."""
    if "/" not in text:
        return []
    found: list[Entity] = []
    ascii_text = text.isascii()
    for match in _COMMAND.finditer(text):
        start, end = match.span()
        if ascii_text:
            offset, length = start, end - start
        else:
            offset, length = utf16_len(text[:start]), utf16_len(match.group())
        found.append({"type": "bot_command", "offset": offset, "length": length})
    return found


def _tags(entity: Entity) -> tuple[str, str] | None:
    """Opening and closing HTML for an entity, or None when it renders as plain text."""
    kind = entity["type"]
    simple = {
        "bold": "b",
        "italic": "i",
        "underline": "u",
        "strikethrough": "s",
        "spoiler": "tg-spoiler",
        "code": "code",
        "blockquote": "blockquote",
    }.get(kind)
    if simple:
        return f"<{simple}>", f"</{simple}>"
    if kind == "expandable_blockquote":
        return "<blockquote expandable>", "</blockquote>"
    if kind == "pre":
        language = entity.get("language")
        if language:
            lang = _html.escape(str(language), quote=True)
            return f'<pre><code class="language-{lang}">', "</code></pre>"
        return "<pre>", "</pre>"
    if kind == "text_link":
        return f'<a href="{_html.escape(str(entity.get("url", "")), quote=True)}">', "</a>"
    if kind == "text_mention":
        user_id = (entity.get("user") or {}).get("id", 0)
        return f'<a href="tg://user?id={user_id}">', "</a>"
    if kind == "custom_emoji":
        emoji_id = _html.escape(str(entity.get("custom_emoji_id", "")), quote=True)
        return f'<tg-emoji emoji-id="{emoji_id}">', "</tg-emoji>"
    return None


def to_html(text: str, entities: Iterable[dict[str, Any]] | None) -> str:
    """Render plain text plus entities back into Telegram HTML."""
    tagged = []
    for entity in entities or ():
        tags = _tags(entity)
        if tags is not None and entity["length"] > 0:
            start = entity["offset"]
            tagged.append((start, start + entity["length"], tags))
    if not tagged:
        return _html.escape(text, quote=False)
    tagged.sort(key=lambda t: (t[0], -t[1]))
    if text.isascii():
        cut = list(range(len(text) + 1))
    else:
        cut = []
        for idx, ch in enumerate(text):
            cut.append(idx)
            if ord(ch) > 0xFFFF:
                cut.append(idx + 1)
        cut.append(len(text))
    points = sorted({p for s, e, _ in tagged for p in (s, e)} | {0, utf16_len(text)})
    parts: list[str] = []
    open_stack: list[tuple[int, int, tuple[str, str]]] = []
    pending = 0
    prev = 0
    for point in points:
        if point > prev:
            parts.append(_html.escape(text[cut[prev] : cut[min(point, len(cut) - 1)]], quote=False))
        prev = point
        if any(end == point for _, end, _ in open_stack):
            reopen = []
            while any(end == point for _, end, _ in open_stack):
                item = open_stack.pop()
                parts.append(item[2][1])
                if item[1] != point:
                    reopen.append(item)
            for item in reversed(reopen):
                parts.append(item[2][0])
                open_stack.append(item)
        while pending < len(tagged) and tagged[pending][0] == point:
            item = tagged[pending]
            pending += 1
            parts.append(item[2][0])
            open_stack.append(item)
    while open_stack:
        parts.append(open_stack.pop()[2][1])
    return "".join(parts)
