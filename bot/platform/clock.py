"""Where 'now' comes from: the system clock, or a clock a test or a drill can move."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Anything that can tell the current UTC time."""

    def now(self) -> datetime:
        """The current time, aware, in UTC."""
        ...


class SystemClock:
    """The real time."""

    def now(self) -> datetime:
        """The current time, aware, in UTC."""
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to (tests, the sandbox)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime.now(UTC)

    def now(self) -> datetime:
        """The current time, aware, in UTC."""
        return self._now

    def set(self, value: datetime) -> None:
        """Jump to a given time."""
        self._now = value

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        """Move forward by a timedelta or by keyword parts (minutes=5)."""
        self._now += delta or timedelta(**kwargs)
        return self._now


class OffsetFileClock:
    """The system clock shifted by a number of seconds read from a file.

    Lets a supervisor (a test, a drill trainer) move a separate bot process forward
    in time without restarting it: write the offset into the file.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._offset = 0.0

    def now(self) -> datetime:
        """The current time plus the file's offset (the last one read, if it cannot be read)."""
        try:
            with open(self.path, encoding="utf-8") as handle:
                text = handle.read().strip()
            # Empty while a writer is halfway through: keep the last offset, never jump back.
            if text:
                self._offset = float(text)
        except (OSError, ValueError):
            pass
        return datetime.now(UTC) + timedelta(seconds=self._offset)


class ShiftedClock:
    """The system clock plus an offset that only grows (tests jump ahead in time)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        """The current time plus the offset."""
        return datetime.now(UTC) + self.offset

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        """Jump forward by a timedelta or by keyword parts (minutes=5)."""
        self.offset += delta or timedelta(**kwargs)
        return self.now()
