"""Shared constants for the emulator's tests (a module name that no other test dir uses)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"
OTHER_TOKEN = "222333444:BBHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw2"

ApiCall = Callable[..., Awaitable[tuple[int, dict[str, Any]]]]
