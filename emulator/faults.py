"""Fault injection: make chosen Bot API requests fail, stall or lose their connection."""

from __future__ import annotations

import itertools
import random
from dataclasses import asdict, dataclass, field
from typing import Any

from .spec import ApiError

__all__ = ["DropConnection", "Fault", "FaultSet"]

_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request: injected fault",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


class DropConnection(Exception):
    """Raised inside request handling to make the server cut the connection."""


@dataclass(eq=False)
class Fault:
    """One injected fault and how often it may still fire."""

    id: int
    method: str | None = None
    chat_id: int | None = None
    times: int | None = 1
    probability: float | None = None
    http_status: int | None = None
    retry_after: int | None = None
    description: str | None = None
    delay: float = 0.0
    drop: bool = False
    fired: int = 0

    def matches(self, method: str, chat_id: int | None) -> bool:
        """True when this fault applies to a request (before the probability roll)."""
        if self.method is None:
            if method == "getupdates":
                return False  # a catch-all fault must not be eaten by the polling loop
        elif self.method.lower() != method:
            return False
        return self.chat_id is None or self.chat_id == chat_id

    def error(self) -> ApiError | None:
        """The error this fault answers with, if it answers with one."""
        if self.http_status is None:
            return None
        status = self.http_status
        if status == 429:
            retry_after = self.retry_after if self.retry_after is not None else 1
            description = self.description or f"Too Many Requests: retry after {retry_after}"
            return ApiError(429, description, {"retry_after": retry_after})
        description = self.description or _DEFAULT_DESCRIPTIONS.get(status, f"Error {status}")
        return ApiError(status, description)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly description."""
        return asdict(self)

    def label(self) -> str:
        """Short text for the request log."""
        parts = []
        if self.http_status is not None:
            parts.append(str(self.http_status))
        if self.delay:
            parts.append(f"delay={self.delay}")
        if self.drop:
            parts.append("drop")
        return f"fault#{self.id}(" + ",".join(parts) + ")"


@dataclass(eq=False)
class FaultSet:
    """The faults waiting to fire; consumed as they fire."""

    seed: int | None = None
    _faults: list[Fault] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _random: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        self._random.seed(self.seed)

    def add(
        self,
        method: str | None = None,
        *,
        chat_id: int | None = None,
        times: int | None = None,
        probability: float | None = None,
        http_status: int | None = None,
        retry_after: int | None = None,
        description: str | None = None,
        delay: float = 0.0,
        drop: bool = False,
    ) -> Fault:
        """Add a fault; with neither `times` nor `probability` it fires once."""
        if http_status is None and not delay and not drop:
            raise ValueError("a fault needs http_status, delay or drop")
        if probability is not None and not 0.0 <= probability <= 1.0:
            raise ValueError("probability must be within 0..1")
        if times is None and probability is None:
            times = 1
        if http_status == 429 and retry_after is None:
            retry_after = 1
        fault = Fault(
            id=next(self._ids),
            method=method,
            chat_id=chat_id,
            times=times,
            probability=probability,
            http_status=http_status,
            retry_after=retry_after,
            description=description,
            delay=delay,
            drop=drop,
        )
        self._faults.append(fault)
        return fault

    def list(self) -> list[Fault]:
        """Faults still armed."""
        return list(self._faults)

    def remove(self, fault: Fault | int) -> None:
        """Disarm one fault (by object or id)."""
        fault_id = fault if isinstance(fault, int) else fault.id
        self._faults = [f for f in self._faults if f.id != fault_id]

    def clear(self) -> None:
        """Disarm every fault."""
        self._faults.clear()

    def __len__(self) -> int:
        return len(self._faults)

    def take(self, method: str, chat_id: int | None) -> Fault | None:
        """The first fault firing for this request, consumed by one use."""
        if not self._faults:
            return None
        for fault in self._faults:
            if not fault.matches(method, chat_id):
                continue
            if fault.probability is not None and self._random.random() >= fault.probability:
                continue
            fault.fired += 1
            if fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
            return fault
        return None
