"""Typed callback data: each kind of button is a small declared type, packed and parsed here.

A button kind is a frozen dataclass with a short prefix and typed fields:

    @dataclass(frozen=True)
    class IncidentAction(ButtonData, prefix="ia"):
        action: Literal["ack", "take", "info"]
        incident_id: int

`IncidentAction(action="ack", incident_id=42).pack()` gives ``"ia:ack:42"``, and
`IncidentAction.parse("ia:ack:42")` gives the value back. Anything else (another prefix, a
missing or extra field, a letter where digits belong, unicode digits such as "²", a number
with more digits than the field allows, a value outside a Literal or an enum) parses to None,
so a forged or stale button is one polite refusal and never a traceback. The longest value a
kind can pack is known from its declaration; a test holds every kind to Telegram's 64 bytes.

Field types: ``int`` (ASCII digits, at most `MAX_INT_DIGITS` unless annotated with
`Digits(n)`), a ``StrEnum``, a ``Literal`` of strings, ``bool``, ``str`` annotated with
`Text(max_length)` (letters, digits, ``_``, ``-`` and ``.`` only), ``str`` annotated with
`Rest(max_bytes)` (any text, the separator too, as a kind's last field: a search phrase a
button carries), and ``None`` unions of those (packed as an empty field). A kind may refuse a
combination of values in ``__post_init__`` (raise ValueError): parsing gives None for it too.
"""

from __future__ import annotations

import dataclasses
import enum
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Self

CALLBACK_DATA_LIMIT = 64
SEPARATOR = ":"
MAX_INT_DIGITS = 18  # below 2**63, so PostgreSQL's bigint and SQLite's integer hold it
_DIGITS = re.compile(r"[0-9]+", re.ASCII)
_TEXT = re.compile(r"[A-Za-z0-9_.\-]+", re.ASCII)
_PREFIX = re.compile(r"[a-z][a-z0-9]{0,5}", re.ASCII)


@dataclass(frozen=True)
class Digits:
    """`Annotated[int, Digits(n)]`: an int field of at most n digits."""

    length: int


@dataclass(frozen=True)
class Text:
    """`Annotated[str, Text(n)]`: a short token of at most n safe characters."""

    length: int


@dataclass(frozen=True)
class Rest:
    """`Annotated[str, Rest(n)]`: the last field, any text of at most n UTF-8 bytes."""

    length: int


@dataclass(frozen=True)
class _Field:
    name: str
    parse: Callable[[str], Any]
    pack: Callable[[Any], str]
    longest: int
    rest: bool = False


class _Refused(ValueError):
    pass


def _int_field(name: str, digits: int) -> _Field:
    def parse(raw: str) -> int:
        if len(raw) > digits or not _DIGITS.fullmatch(raw):
            raise _Refused(name)
        return int(raw)

    def pack(value: int) -> str:
        text = str(value)
        if value < 0 or len(text) > digits:
            raise ValueError(f"{name}={value} does not fit {digits} digits")
        return text

    return _Field(name, parse, pack, digits)


def _choice_field(name: str, values: dict[str, Any]) -> _Field:
    def parse(raw: str) -> Any:
        if raw not in values:
            raise _Refused(name)
        return values[raw]

    def pack(value: Any) -> str:
        text = value.value if isinstance(value, enum.Enum) else str(value)
        if text not in values:
            raise ValueError(f"{name}={value!r} is not one of {sorted(values)}")
        return text

    return _Field(name, parse, pack, max(len(v.encode()) for v in values))


def _bool_field(name: str) -> _Field:
    def parse(raw: str) -> bool:
        if raw not in ("0", "1"):
            raise _Refused(name)
        return raw == "1"

    return _Field(name, parse, lambda value: "1" if value else "0", 1)


def _text_field(name: str, length: int) -> _Field:
    def parse(raw: str) -> str:
        if len(raw) > length or not _TEXT.fullmatch(raw):
            raise _Refused(name)
        return raw

    def pack(value: str) -> str:
        if len(value) > length or not _TEXT.fullmatch(value):
            raise ValueError(f"{name}={value!r} is not a short token")
        return value

    return _Field(name, parse, pack, length)


def _rest_field(name: str, length: int) -> _Field:
    def parse(raw: str) -> str:
        if not raw or len(raw.encode()) > length:
            raise _Refused(name)
        return raw

    def pack(value: str) -> str:
        if not value or len(value.encode()) > length:
            raise ValueError(f"{name}={value!r} is empty or over {length} bytes")
        return value

    return _Field(name, parse, pack, length, rest=True)


def _optional(field: _Field) -> _Field:
    def parse(raw: str) -> Any:
        return None if raw == "" else field.parse(raw)

    def pack(value: Any) -> str:
        return "" if value is None else field.pack(value)

    return _Field(field.name, parse, pack, field.longest, field.rest)


def _field_for(name: str, hint: Any) -> _Field:
    metadata: tuple[Any, ...] = ()
    if typing.get_origin(hint) is typing.Annotated:
        hint, *extra = typing.get_args(hint)
        metadata = tuple(extra)
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(members) != 1:
            raise TypeError(f"{name}: only `X | None` unions are supported")
        inner = members[0]
        if metadata:
            inner = typing.Annotated[(inner, *metadata)]
        return _optional(_field_for(name, inner))
    if hint is bool:
        return _bool_field(name)
    if hint is int:
        digits = next((m.length for m in metadata if isinstance(m, Digits)), MAX_INT_DIGITS)
        return _int_field(name, digits)
    if origin is Literal:
        return _choice_field(name, {str(v): v for v in typing.get_args(hint)})
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return _choice_field(name, {str(m.value): m for m in hint})
    if hint is str:
        rest = next((m for m in metadata if isinstance(m, Rest)), None)
        if rest is not None:
            return _rest_field(name, rest.length)
        text = next((m for m in metadata if isinstance(m, Text)), None)
        if text is None:
            raise TypeError(f"{name}: a str field needs Annotated[str, Text(max_length)]")
        return _text_field(name, text.length)
    raise TypeError(f"{name}: unsupported button field type {hint!r}")


class ButtonData:
    """Base of every button kind: a frozen dataclass declared with a prefix.

    @dataclass(frozen=True)
    class IncidentAction(ButtonData, prefix="ia"):
        action: Literal["ack", "take", "info"]
        incident_id: int
    """

    prefix: ClassVar[str]
    _layout: ClassVar[tuple[_Field, ...] | None]

    def __init_subclass__(cls, *, prefix: str, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not _PREFIX.fullmatch(prefix):
            raise ValueError(f"a button prefix is a short lowercase word: {prefix!r}")
        cls.prefix = prefix
        cls._layout = None

    @classmethod
    def _fields(cls) -> tuple[_Field, ...]:
        if cls._layout is None:
            if not dataclasses.is_dataclass(cls):
                raise TypeError(f"{cls.__name__} must be a frozen dataclass")
            hints = typing.get_type_hints(cls, include_extras=True)
            layout = tuple(_field_for(f.name, hints[f.name]) for f in dataclasses.fields(cls))
            if any(f.rest for f in layout[:-1]):
                raise TypeError(f"{cls.__name__}: only the last field may be Rest(...)")
            cls._layout = layout
        return cls._layout

    def pack(self) -> str:
        """The callback data for this value (checked to fit Telegram's 64 bytes)."""
        parts = [self.prefix, *(f.pack(getattr(self, f.name)) for f in self._fields())]
        data = SEPARATOR.join(parts)
        if len(data.encode()) > CALLBACK_DATA_LIMIT:
            raise ValueError(f"callback data over {CALLBACK_DATA_LIMIT} bytes: {data!r}")
        return data

    @classmethod
    def parse(cls, data: object) -> Self | None:
        """The value a button carries, or None for anything this kind would never pack."""
        if not isinstance(data, str) or not data or len(data.encode()) > CALLBACK_DATA_LIMIT:
            return None
        fields = cls._fields()
        # A Rest field takes everything after the fields before it, separators included.
        parts = data.split(SEPARATOR, len(fields) if fields and fields[-1].rest else -1)
        if parts[0] != cls.prefix or len(parts) != len(fields) + 1:
            return None
        try:
            values = {f.name: f.parse(raw) for f, raw in zip(fields, parts[1:], strict=True)}
            return cls(**values)
        except ValueError:
            # A field the codec refused, or a combination the kind's __post_init__ refused.
            return None

    @classmethod
    def matches(cls, data: object) -> bool:
        """Whether callback data parses as this kind (a PTB handler pattern)."""
        return cls.parse(data) is not None

    @classmethod
    def longest(cls) -> int:
        """The most bytes a value of this kind can pack to."""
        return len(cls.prefix) + sum(1 + f.longest for f in cls._fields())


def kinds() -> list[type[ButtonData]]:
    """Every button kind declared so far (in modules already imported)."""
    found: list[type[ButtonData]] = []
    pending = list(ButtonData.__subclasses__())
    while pending:
        kind = pending.pop()
        found.append(kind)
        pending.extend(kind.__subclasses__())
    return found
