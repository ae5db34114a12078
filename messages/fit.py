"""Keep Telegram HTML within a message's limit: split at line breaks or cut cleanly."""

from __future__ import annotations

import re

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
_TOKEN = re.compile(r"<[^>]*>|&#?\w+;|[^<&]+|[<&]")
_TAG = re.compile(r"<(/?)([a-zA-Z][\w-]*)[^>]*>")
_ELLIPSIS = "…"


def utf16_len(text: str) -> int:
    """Length as Telegram counts it, in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _visible_len(token: str) -> int:
    if token.startswith("<") and token.endswith(">") and len(token) > 1:
        return 0
    if token.startswith("&") and token.endswith(";"):
        return 1
    return utf16_len(token)


def _closing(stack: list[tuple[str, str]]) -> str:
    return "".join(f"</{name}>" for name, _ in reversed(stack))


def _reopening(stack: list[tuple[str, str]]) -> str:
    return "".join(tag for _, tag in stack)


def _tokens(html: str) -> list[str]:
    tokens: list[str] = []
    for match in _TOKEN.finditer(html):
        token = match.group(0)
        if token.startswith("<") or token.startswith("&"):
            tokens.append(token)
        else:
            # Keep line breaks as their own tokens so chunks can end on them.
            tokens.extend(part for part in re.split(r"(\n)", token) if part)
    return tokens


def split_html(html: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Split HTML into chunks of at most `limit` visible characters, tags balanced."""
    if utf16_len(html) <= limit:
        return [html]
    chunks: list[str] = []
    stack: list[tuple[str, str]] = []
    current: list[str] = []
    visible = 0
    # Where the current chunk could end on a line break, and the tags open there.
    line_break: tuple[int, list[tuple[str, str]]] | None = None
    for token in _tokens(html):
        size = _visible_len(token)
        while size and visible + size > limit:
            if line_break is not None and line_break[0] > 1:
                index, open_tags = line_break
                head, tail = current[:index], current[index:]
                chunks.append("".join(head) + _closing(open_tags))
                current = [_reopening(open_tags), *tail]
                visible = sum(_visible_len(t) for t in tail)
            else:
                if not token.startswith(("<", "&")):
                    piece, token = _cut_text(token, limit - visible)
                    current.append(piece)
                    size = _visible_len(token)
                chunks.append("".join(current) + _closing(stack))
                current = [_reopening(stack)]
                visible = 0
            line_break = None
        current.append(token)
        visible += size
        _track(stack, token)
        if token == "\n":
            line_break = (len(current), list(stack))
    chunks.append("".join(current))
    return [chunk for chunk in chunks if _TAG.sub("", chunk).strip()]


def _cut_text(token: str, room: int) -> tuple[str, str]:
    out: list[str] = []
    used = 0
    for index, char in enumerate(token):
        width = utf16_len(char)
        if used + width > room:
            return "".join(out), token[index:]
        out.append(char)
        used += width
    return token, ""


def _track(stack: list[tuple[str, str]], token: str) -> None:
    match = _TAG.fullmatch(token)
    if not match:
        return
    closing, name = match.group(1), match.group(2).lower()
    if closing:
        for index in range(len(stack) - 1, -1, -1):
            if stack[index][0] == name:
                del stack[index:]
                break
    else:
        stack.append((name, token))


def truncate_html(html: str, limit: int = TEXT_LIMIT) -> str:
    """Cut HTML to at most `limit` visible characters, closing open tags, ending with '…'."""
    if utf16_len(html) <= limit:
        return html
    stack: list[tuple[str, str]] = []
    out: list[str] = []
    visible = 0
    budget = limit - 1
    for token in _tokens(html):
        size = _visible_len(token)
        if size and visible + size > budget:
            if not (token.startswith("&") and token.endswith(";")):
                piece, _ = _cut_text(token, budget - visible)
                out.append(piece)
            break
        out.append(token)
        visible += size
        _track(stack, token)
    return "".join(out) + _ELLIPSIS + _closing(stack)


def truncate_text(text: str, limit: int) -> str:
    """Cut plain text to `limit` UTF-16 units, ending with '…' when cut."""
    if utf16_len(text) <= limit:
        return text
    piece, _ = _cut_text(text, limit - 1)
    return piece + _ELLIPSIS


def visible_len(html: str) -> int:
    """How many characters Telegram counts in a piece of HTML (tags not, entities as one)."""
    return sum(_visible_len(token) for token in _tokens(html))
