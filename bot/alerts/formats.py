"""Request bodies from monitoring systems, read into one normalised shape (R16).

Three formats, chosen by the kind of the configured source the request came to:

- ``alertmanager``: the Prometheus Alertmanager webhook, version "4". Its body is the
  ``Message`` of Alertmanager's ``notify/webhook`` package: the template ``Data`` of
  ``template/template.go`` (``receiver``, ``status``, ``alerts``, ``groupLabels``,
  ``commonLabels``, ``commonAnnotations``, ``externalURL``) plus ``version`` ("4"),
  ``groupKey`` and ``truncatedAlerts`` (alerts left out by the receiver's ``max_alerts``).
  Each alert has ``status``, ``labels``, ``annotations``, ``startsAt``, ``endsAt``,
  ``generatorURL`` and ``fingerprint``; times are Go's RFC 3339 with up to nanoseconds, and
  Go's zero time ("0001-01-01T00:00:00Z") means "not set" (a firing alert's ``endsAt``).
  See the webhook_config section of Alertmanager's configuration documentation.
- ``grafana``: Grafana's unified-alerting webhook contact point, ``version`` "1"
  (``receivers/webhook`` of grafana/alerting): the same group fields plus ``orgId``,
  ``title``, ``state``, ``message``, and per alert ``silenceURL``, ``dashboardURL``,
  ``panelURL``, ``values`` (reduced query values by ref id, or null), ``valueString``.
  A webhook with a custom payload template is not this format and is refused.
- ``json``: our own plain hook for anything else, documented by ``plain.schema.json``
  beside this module (JSON Schema draft 2020-12).

The plain format is checked here by hand rather than with a JSON Schema library: the checks
are a dozen lines, they give one-line reasons a sender can act on, and the limits (enums,
lengths) are read from the schema file itself so the two cannot drift;
tests/test_alerts_formats.py validates examples with a real JSON Schema validator to show
that the schema and this parser accept and refuse the same bodies.

Whatever the body, ``parse`` returns a :class:`Batch` or raises :class:`BadPayload`, whose
reason is one line (the HTTP layer answers 400, or 413 for :class:`PayloadTooLarge`).
Strings are kept as sent except that lone surrogates and NUL characters, which no database
column holds, become U+FFFD, and titles and descriptions are cut to a sane length.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Final, Literal

from bot.platform.roles import Level

Kind = Literal["alertmanager", "grafana", "json"]
KINDS: Final[tuple[Kind, ...]] = ("alertmanager", "grafana", "json")
Status = Literal["firing", "resolved"]

MAX_BODY_BYTES: Final = 1_048_576
TITLE_CHARS: Final = 200
DESCRIPTION_CHARS: Final = 4000
URL_CHARS: Final = 2000

SCHEMA_PATH: Final = Path(__file__).with_name("plain.schema.json")
PLAIN_SCHEMA: Final[dict[str, Any]] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


class BadPayload(Exception):
    """The body is not what the source's kind sends; ``reason`` says why in one line."""

    status = 400

    def __init__(self, reason: str) -> None:
        reason = " ".join(reason.split())
        super().__init__(reason)
        self.reason = reason


class PayloadTooLarge(BadPayload):
    """The body is over the size limit."""

    status = 413


@dataclass(frozen=True)
class Alert:
    """One alert, whatever sent it. Times are aware UTC; None where the sender left them unset.

    Frozen, but not hashable (labels and annotations are dicts): key on ``fingerprint``.
    """

    kind: Kind
    source: str  # the configured source it came through
    status: Status
    title: str
    description: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    fingerprint: str = ""
    group_key: str = ""
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    generator_url: str = ""
    # Other links the sender gave: silence, dashboard, panel (Grafana), external (the group's).
    links: dict[str, str] = field(default_factory=dict)
    values: dict[str, float] = field(default_factory=dict)
    # Hints the payload carries (the plain format); rules and the source's defaults decide.
    level: Level | None = None
    category: str | None = None
    subtype: str | None = None
    where: str | None = None
    # Who sent it by its own account: the Alertmanager/Grafana receiver, or the plain `source`.
    origin: str = ""


@dataclass(frozen=True)
class Batch:
    """The alerts of one request, with what the request says about them as a group."""

    kind: Kind
    alerts: list[Alert]
    group_key: str = ""
    truncated: int = 0  # alerts the sender left out (Alertmanager's and Grafana's max_alerts)


def parse(body: bytes, *, kind: str, source: str, max_bytes: int = MAX_BODY_BYTES) -> Batch:
    """Read a request body sent to a source of this kind; BadPayload says what is wrong."""
    if len(body) > max_bytes:
        raise PayloadTooLarge(f"the body has {len(body)} bytes; at most {max_bytes} are accepted")
    data = _load_json(body)
    if kind == "alertmanager":
        return _alertmanager(data, source=source)
    if kind == "grafana":
        return _grafana(data, source=source)
    if kind == "json":
        return _plain(data, source=source)
    raise ValueError(f"unknown source kind {kind!r}")


def guess_kind(body: bytes) -> Kind:
    """The kind a body looks like (for trying payloads out); BadPayload when it is not JSON."""
    data = _load_json(body)
    if isinstance(data, dict) and isinstance(data.get("alerts"), list):
        if "orgId" in data or data.get("version") == "1":
            return "grafana"
        return "alertmanager"
    return "json"


# --- JSON and its values -------------------------------------------------------------------


# JSON decoding joins surrogate pairs, so any surrogate left in a string is a lone one.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _load_json(body: bytes) -> Any:
    if not body.strip():
        raise BadPayload("the body is empty; expected JSON")
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except RecursionError:
        raise BadPayload("the JSON is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, huge integers
        raise BadPayload(f"not JSON: {exc}") from None


def _clean(text: str) -> str:
    """The text as a database can hold it: lone surrogates and NULs become U+FFFD."""
    return _UNSTORABLE.sub("\ufffd", text)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _string(value: Any, where: str, *, default: str = "", limit: int | None = None) -> str:
    if value is None:
        return default
    if not isinstance(value, str):
        raise BadPayload(f"{where} must be a string, not {_type_name(value)}")
    text = _clean(value)
    return _cut(text, limit) if limit else text


def _object(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadPayload(f"{where} must be an object, not {_type_name(value)}")
    return value


def _string_map(value: Any, where: str) -> dict[str, str]:
    return {
        _clean(key): _string(item, f"{where}.{key}", limit=DESCRIPTION_CHARS)
        for key, item in _object(value, where).items()
    }


def _status(value: Any, where: str) -> Status:
    if value == "firing":
        return "firing"
    if value == "resolved":
        return "resolved"
    raise BadPayload(f"{where} must be 'firing' or 'resolved', not {_shown(value)}")


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=True)
    return text if len(text) <= 40 else text[:37] + "..."


_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))",
    re.ASCII,
)
_GO_ZERO_YEAR = 1


def _time(value: Any, where: str) -> datetime | None:
    """An RFC 3339 time (Go writes nanoseconds) as aware UTC; Go's zero time is None."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise BadPayload(f"{where} must be an RFC 3339 time, not {_type_name(value)}")
    match = _RFC3339.fullmatch(value)
    if not match:
        raise BadPayload(f"{where} is not an RFC 3339 time: {_shown(value)}")
    year, month, day, hour, minute, second = (int(part) for part in match.group(1, 2, 3, 4, 5, 6))
    micro = int((match.group(7) or "0").ljust(6, "0")[:6])
    offset = timedelta(0)
    if match.group(9):
        offset = timedelta(hours=int(match.group(10)), minutes=int(match.group(11)))
        if match.group(9) == "-":
            offset = -offset
    try:
        local = datetime(year, month, day, hour, minute, second, micro, tzinfo=timezone(offset))
        if year == _GO_ZERO_YEAR:
            # Go's zero time (whatever the zone it is written in) means "not set".
            return None
        return local.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise BadPayload(f"{where} is not a valid time: {exc}") from None


def _digest(*parts: Any) -> str:
    canonical = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _title(labels: dict[str, str], annotations: dict[str, str], fallback: str = "") -> str:
    for candidate in (
        annotations.get("summary"),
        annotations.get("title"),
        labels.get("alertname"),
        fallback,
    ):
        if candidate and candidate.strip():
            return _cut(" ".join(candidate.split()), TITLE_CHARS)
    return "alert"


def _description(annotations: dict[str, str]) -> str:
    for key in ("description", "message"):
        if annotations.get(key, "").strip():
            return _cut(annotations[key].strip(), DESCRIPTION_CHARS)
    return ""


# --- Alertmanager and Grafana -------------------------------------------------------------


def _group(data: Any, *, name: str, version: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise BadPayload(f"{name} webhook is a JSON object, not {_type_name(data)}")
    if "alerts" not in data:
        raise BadPayload(f"not {name} webhook: no 'alerts'")
    if data.get("version") != version:
        raise BadPayload(
            f"not {name} webhook of version {version}: version is {_shown(data.get('version'))}"
        )
    if not isinstance(data["alerts"], list):
        raise BadPayload(f"alerts must be a list, not {_type_name(data['alerts'])}")
    return data


def _truncated(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadPayload(f"truncatedAlerts must be a whole number, not {_shown(value)}")
    return value


def _values(value: Any, where: str) -> dict[str, float]:
    found: dict[str, float] = {}
    for key, item in _object(value, where).items():
        if isinstance(item, bool) or not isinstance(item, int | float) or not math.isfinite(item):
            raise BadPayload(f"{where}.{key} must be a number, not {_shown(item)}")
        found[_clean(key)] = float(item)
    return found


def _monitoring_alert(
    raw: Any, index: int, *, kind: Kind, source: str, group: dict[str, Any]
) -> Alert:
    where = f"alerts[{index}]"
    if not isinstance(raw, dict):
        raise BadPayload(f"{where} must be an object, not {_type_name(raw)}")
    item = raw
    labels = _string_map(item.get("labels"), f"{where}.labels")
    annotations = _string_map(item.get("annotations"), f"{where}.annotations")
    links = {
        name: _string(item.get(key), f"{where}.{key}", limit=URL_CHARS)
        for name, key in (
            ("silence", "silenceURL"),
            ("dashboard", "dashboardURL"),
            ("panel", "panelURL"),
        )
    }
    links["external"] = _string(group.get("externalURL"), "externalURL", limit=URL_CHARS)
    fingerprint = _string(item.get("fingerprint"), f"{where}.fingerprint", limit=128)
    group_key = _string(group.get("groupKey"), "groupKey", limit=URL_CHARS)
    return Alert(
        kind=kind,
        source=source,
        status=_status(item.get("status"), f"{where}.status"),
        title=_title(labels, annotations, _string(group.get("title"), "title")),
        description=_description(annotations),
        labels=labels,
        annotations=annotations,
        fingerprint=fingerprint or _digest(sorted(labels.items())),
        group_key=group_key,
        starts_at=_time(item.get("startsAt"), f"{where}.startsAt"),
        ends_at=_time(item.get("endsAt"), f"{where}.endsAt"),
        generator_url=_string(item.get("generatorURL"), f"{where}.generatorURL", limit=URL_CHARS),
        links={name: url for name, url in links.items() if url},
        values=_values(item.get("values"), f"{where}.values") if kind == "grafana" else {},
        origin=_string(group.get("receiver"), "receiver", limit=200),
    )


def _monitoring(data: Any, *, kind: Kind, name: str, version: str, source: str) -> Batch:
    group = _group(data, name=name, version=version)
    for key in ("groupLabels", "commonLabels", "commonAnnotations"):
        _string_map(group.get(key), key)
    if group.get("status") is not None:
        _status(group["status"], "status")
    alerts = [
        _monitoring_alert(raw, index, kind=kind, source=source, group=group)
        for index, raw in enumerate(group["alerts"])
    ]
    return Batch(
        kind=kind,
        alerts=alerts,
        group_key=_string(group.get("groupKey"), "groupKey", limit=URL_CHARS),
        truncated=_truncated(group.get("truncatedAlerts")),
    )


def _alertmanager(data: Any, *, source: str) -> Batch:
    return _monitoring(
        data, kind="alertmanager", name="an Alertmanager", version="4", source=source
    )


def _grafana(data: Any, *, source: str) -> Batch:
    if isinstance(data, dict) and data.get("orgId") is not None:
        org = data["orgId"]
        if isinstance(org, bool) or not isinstance(org, int):
            raise BadPayload(f"orgId must be a whole number, not {_shown(org)}")
    return _monitoring(data, kind="grafana", name="a Grafana", version="1", source=source)


# --- Our plain JSON -----------------------------------------------------------------------

_ALERT_SCHEMA: Final[dict[str, Any]] = PLAIN_SCHEMA["$defs"]["alert"]
_LIST_SCHEMA: Final[dict[str, Any]] = PLAIN_SCHEMA["oneOf"][1]


def _plain_field(name: str, value: Any, where: str) -> Any:
    """One field of a plain alert, checked against its schema."""
    rule = _ALERT_SCHEMA["properties"][name]
    if "enum" in rule:
        if value not in rule["enum"] or not isinstance(value, str):
            raise BadPayload(f"{where}.{name} must be one of {', '.join(rule['enum'])}")
        return value
    if rule["type"] == "string":
        return _sized(value, f"{where}.{name}", rule)
    # labels: an object of strings.
    if not isinstance(value, dict):
        raise BadPayload(f"{where}.{name} must be an object, not {_type_name(value)}")
    labels: dict[str, Any] = value
    if len(labels) > rule["maxProperties"]:
        raise BadPayload(
            f"{where}.{name} has {len(labels)} labels; at most {rule['maxProperties']}"
        )
    found = {}
    for key, item in labels.items():
        _sized(key, f"{where}.{name} name {_shown(key)}", rule["propertyNames"])
        found[_clean(key)] = _sized(item, f"{where}.{name}.{key}", rule["additionalProperties"])
    return found


def _sized(value: Any, where: str, rule: dict[str, Any]) -> str:
    if not isinstance(value, str):
        raise BadPayload(f"{where} must be a string, not {_type_name(value)}")
    if len(value) < rule.get("minLength", 0):
        raise BadPayload(f"{where} must not be empty")
    if len(value) > rule.get("maxLength", len(value)):
        raise BadPayload(f"{where} is longer than {rule['maxLength']} characters")
    return _clean(value)


def _plain_alert(raw: Any, where: str, *, source: str) -> Alert:
    if not isinstance(raw, dict):
        raise BadPayload(f"{where} must be an object, not {_type_name(raw)}")
    unknown = sorted(set(raw) - set(_ALERT_SCHEMA["properties"]))
    if unknown:
        raise BadPayload(f"{where} has unknown fields: {', '.join(_shown(k) for k in unknown)}")
    for name in _ALERT_SCHEMA["required"]:
        if name not in raw:
            raise BadPayload(f"{where} has no {name}")
    got = {name: _plain_field(name, value, where) for name, value in raw.items()}
    title = " ".join(got["title"].split()) or got["title"]
    labels: dict[str, str] = got.get("labels", {})
    origin = got.get("source", "")
    place = (got.get("where") or "").strip()
    fingerprint = got.get("fingerprint") or _digest(origin, title, place, sorted(labels.items()))
    return Alert(
        kind="json",
        source=source,
        status="resolved" if got.get("status") == "resolved" else "firing",
        title=title,
        description=got.get("description", "").strip(),
        labels=labels,
        fingerprint=fingerprint,
        group_key=fingerprint,
        generator_url=got.get("url", ""),
        level=Level(got["level"]) if "level" in got else None,
        category=got.get("category"),
        subtype=got.get("subtype"),
        where=place or None,
        origin=origin,
    )


def _plain(data: Any, *, source: str) -> Batch:
    if isinstance(data, list):
        if not _LIST_SCHEMA["minItems"] <= len(data) <= _LIST_SCHEMA["maxItems"]:
            raise BadPayload(
                f"a list of {len(data)} alerts; send {_LIST_SCHEMA['minItems']} to "
                f"{_LIST_SCHEMA['maxItems']}"
            )
        alerts = [_plain_alert(raw, f"[{i}]", source=source) for i, raw in enumerate(data)]
    elif isinstance(data, dict):
        alerts = [_plain_alert(data, "the alert", source=source)]
    else:
        raise BadPayload(f"expected an alert object or a list of them, not {_type_name(data)}")
    return Batch(kind="json", alerts=alerts)
