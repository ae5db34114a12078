"""The offset-file clock a supervisor moves a bot process's time with (R11 R15 reliability)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.platform.clock import OffsetFileClock


def test_a_half_written_offset_file_never_moves_the_clock_back(tmp_path: Path) -> None:
    """R11: a round's times must not jump back while a supervisor rewrites the offset."""
    path = tmp_path / "offset"
    path.write_text("3600", encoding="utf-8")
    clock = OffsetFileClock(str(path))
    ahead = clock.now() - datetime.now(UTC)
    assert timedelta(minutes=59) < ahead < timedelta(minutes=61)
    path.write_text("", encoding="utf-8")  # the writer truncated it and has not written yet
    assert clock.now() - datetime.now(UTC) > timedelta(minutes=59)
    path.write_text("7200", encoding="utf-8")
    assert clock.now() - datetime.now(UTC) > timedelta(minutes=119)
