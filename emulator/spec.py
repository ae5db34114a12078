"""The Bot API reference (api.json) loaded once and compiled into per-method request validators."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

__all__ = [
    "ApiError",
    "MethodSpec",
    "UploadedFile",
    "api",
    "method_spec",
    "validate",
]


class ApiError(Exception):
    """A Bot API failure answered as Telegram answers it."""

    def __init__(
        self, code: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters

    def payload(self) -> dict[str, Any]:
        """The JSON body Telegram sends for this error."""
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.code,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(description: str, parameters: dict[str, Any] | None = None) -> ApiError:
    """A 400 error with Telegram's `Bad Request: ` prefix."""
    return ApiError(400, f"Bad Request: {description}", parameters)


def forbidden(description: str) -> ApiError:
    """A 403 error with Telegram's `Forbidden: ` prefix."""
    return ApiError(403, f"Forbidden: {description}")


@dataclass(slots=True)
class UploadedFile:
    """A file part of a multipart request."""

    filename: str
    content_type: str
    data: bytes


class _Mismatch(Exception):
    """A value does not fit a declared type (internal)."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message)
        self.message = message


Converter = Callable[[Any], Any]

# Telegram's own wording for some missing required parameters
_MISSING: dict[tuple[str, str], str] = {
    ("*", "chat_id"): "chat_id is empty",
    ("*", "text"): "message text is empty",
    ("*", "message_id"): "message identifier is not specified",
    ("*", "from_chat_id"): "chat_id is empty",
    ("*", "photo"): "there is no photo in the request",
    ("*", "document"): "there is no document in the request",
    ("*", "user_id"): "user not found",
    (
        "*",
        "callback_query_id",
    ): "query is too old and response timeout expired or query ID is invalid",
    ("*", "action"): "wrong parameter action in request",
    ("*", "file_id"): "wrong file_id specified",
    ("*", "media"): 'parameter "media" is required',
}
_INT_RE = re.compile(r"^\s*[-+]?\d+\s*$")
_FLOAT_RE = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")
_TRUE = frozenset({"true", "1", "True", "TRUE"})
_FALSE = frozenset({"false", "0", "False", "FALSE"})
_MUST_BE = re.compile(r"must be \*?\"?([a-z_]+)\"?\*?")


@cache
def api() -> dict[str, Any]:
    """The parsed api.json (methods and types)."""
    text = (Path(__file__).parent / "api.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def _to_int(value: Any) -> int:
    """Coerce to Integer as the Bot API server does."""
    if isinstance(value, bool):
        raise _Mismatch
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INT_RE.match(value):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise _Mismatch


def _to_str(value: Any) -> str:
    """Coerce to String; numbers are accepted as Telegram does."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise _Mismatch


def _to_bool(value: Any) -> bool:
    """Coerce to Boolean ("true"/"false"/"1"/"0" strings included)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise _Mismatch


def _to_float(value: Any) -> float:
    """Coerce to Float."""
    if isinstance(value, bool):
        raise _Mismatch
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and _FLOAT_RE.match(value):
        return float(value)
    raise _Mismatch


def _to_input_file(value: Any) -> Any:
    """Accept a multipart file part for an InputFile."""
    if isinstance(value, UploadedFile):
        return value
    raise _Mismatch


def _decode_json(value: Any) -> Any:
    """Decode a JSON string (form and multipart bodies carry objects that way)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise _Mismatch from None
    return value


class _Compiler:
    """Builds converters for api.json type expressions, memoized by type name."""

    def __init__(self, types: Mapping[str, Any]) -> None:
        self.types = types
        self.cache: dict[str, Converter] = {}

    def union(self, names: list[str]) -> Converter:
        """Converter accepting any of the declared alternatives, in order."""
        converters = [self.one(name) for name in names]
        if len(converters) == 1:
            return converters[0]
        has_object = any(not _is_scalar(name) for name in names)

        def convert(value: Any) -> Any:
            """Try each alternative; JSON strings become objects when one is expected."""
            candidates = [value]
            if has_object and isinstance(value, str) and value[:1] in ("{", "["):
                with contextlib.suppress(ValueError):
                    candidates.insert(0, json.loads(value))
            last: _Mismatch | None = None
            for candidate in candidates:
                for conv in converters:
                    try:
                        return conv(candidate)
                    except _Mismatch as exc:
                        if last is None or (exc.message and not last.message):
                            last = exc
            raise last or _Mismatch

        return convert

    def one(self, name: str) -> Converter:
        """Converter for one type expression such as "Array of MessageEntity"."""
        if name in self.cache:
            return self.cache[name]
        if name.startswith("Array of "):
            inner_name = name[len("Array of ") :]
            conv = self._array(inner_name)
        elif name == "Integer":
            conv = _to_int
        elif name == "String":
            conv = _to_str
        elif name == "Boolean":
            conv = _to_bool
        elif name == "Float":
            conv = _to_float
        elif name == "InputFile":
            conv = _to_input_file
        else:
            self.cache[name] = lambda value: self.cache[name](value)  # recursion guard
            conv = self._object(name)
        self.cache[name] = conv
        return conv

    def _array(self, inner_name: str) -> Converter:
        """Converter for arrays (JSON strings decoded first)."""
        holder: list[Converter] = []

        def convert(value: Any) -> Any:
            """Convert each element."""
            value = _decode_json(value)
            if not isinstance(value, list):
                raise _Mismatch
            if not holder:
                holder.append(self.one(inner_name))
            inner = holder[0]
            return [inner(item) for item in value]

        return convert

    def _object(self, name: str) -> Converter:
        """Converter for an object type or a union of subtypes."""
        spec = self.types.get(name)
        if spec is None:
            return _decode_json
        subtypes: list[str] = spec.get("subtypes") or []
        if subtypes:
            subs = [self.one(sub) for sub in subtypes]

            def convert_union(value: Any) -> Any:
                """Accept the first subtype that fits."""
                value = _decode_json(value)
                if not isinstance(value, dict):
                    raise _Mismatch
                for sub in subs:
                    try:
                        return sub(value)
                    except _Mismatch:
                        continue
                raise _Mismatch(f"can't parse {name}")

            return convert_union
        fields: list[dict[str, Any]] = spec.get("fields") or []
        required = [f["name"] for f in fields if f.get("required")]
        field_types = {f["name"]: f["types"] for f in fields}
        fixed_type: str | None = None
        for f in fields:
            if f["name"] == "type" and f.get("required"):
                match = _MUST_BE.search(f.get("description", ""))
                if match:
                    fixed_type = match.group(1)
        converters: dict[str, Converter] = {}

        def convert_object(value: Any) -> Any:
            """Check required fields and convert known ones."""
            value = _decode_json(value)
            if not isinstance(value, dict):
                raise _Mismatch
            if fixed_type is not None and value.get("type") != fixed_type:
                raise _Mismatch  # another subtype of the union may fit
            for key in required:
                if key not in value:
                    raise _Mismatch(f'can\'t parse {name}: field "{key}" is required')
            out = dict(value)
            for key, item in value.items():
                types = field_types.get(key)
                if types is None or item is None:
                    continue
                conv = converters.get(key)
                if conv is None:
                    conv = converters[key] = self.union(types)
                try:
                    out[key] = conv(item)
                except _Mismatch as exc:
                    if exc.message:
                        raise
                    if types[0].startswith("Array of Array of"):
                        raise _Mismatch(
                            f'field "{key}" of the {name} should be an Array of Arrays'
                        ) from None
                    raise _Mismatch(f'field "{key}" must be of type {" or ".join(types)}') from None
            return out

        return convert_object


def _is_scalar(name: str) -> bool:
    """True for the Bot API's primitive type names."""
    return name in ("Integer", "String", "Boolean", "Float", "InputFile")


@dataclass(slots=True)
class MethodSpec:
    """A compiled Bot API method: its fields and converters."""

    name: str
    required: tuple[str, ...]
    converters: dict[str, Converter]
    types: dict[str, list[str]]
    file_fields: frozenset[str] = field(default_factory=frozenset)

    def missing_message(self, name: str) -> str:
        """Telegram's wording for a missing required parameter."""
        return (
            _MISSING.get((self.name, name))
            or _MISSING.get(("*", name))
            or (f'parameter "{name}" is required')
        )


@cache
def _methods() -> dict[str, MethodSpec]:
    """All methods compiled once, keyed by lower-cased name."""
    data = api()
    compiler = _Compiler(data["types"])
    compiled: dict[str, MethodSpec] = {}
    for name, method in data["methods"].items():
        fields: list[dict[str, Any]] = method.get("fields") or []
        compiled[name.lower()] = MethodSpec(
            name=name,
            required=tuple(f["name"] for f in fields if f.get("required")),
            converters={f["name"]: compiler.union(f["types"]) for f in fields},
            types={f["name"]: f["types"] for f in fields},
            file_fields=frozenset(f["name"] for f in fields if "InputFile" in f["types"]),
        )
    return compiled


def method_spec(name: str) -> MethodSpec | None:
    """The compiled spec for a method name (case-insensitive), or None when unknown."""
    return _methods().get(name.lower())


def validate(spec: MethodSpec, params: Mapping[str, Any]) -> dict[str, Any]:
    """Coerce request parameters to declared types; raise ApiError like Telegram."""
    out: dict[str, Any] = {}
    converters = spec.converters
    for key, value in params.items():
        conv = converters.get(key)
        if conv is None:
            continue  # Telegram ignores unknown parameters
        if value is None or value == "":
            continue
        try:
            out[key] = conv(value)
        except _Mismatch as exc:
            types = spec.types[key]
            if exc.message:
                raise bad_request(exc.message) from None
            if not _is_scalar(types[0]) and isinstance(value, str):
                raise bad_request(f"can't parse {key} JSON object") from None
            raise bad_request(f'field "{key}" must be of type {" or ".join(types)}') from None
    for key in spec.required:
        if key not in out:
            raise bad_request(spec.missing_message(key))
    return out
