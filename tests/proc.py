"""The real bot as a separate process, which a test can kill with SIGKILL and start again."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from emulator.core import Emulator
from emulator.server import EmulatorServer
from tests.harness import TOKEN

ROOT = Path(__file__).resolve().parent.parent

FAST_POLICY = """
scheduler_tick_seconds = 0.1
[delivery]
messages_per_second = 500
private_chat_per_second = 200
group_per_minute = 100000
request_timeout_seconds = 3
"""


class BotProcess:
    """`incident-bot run` in a subprocess, talking to an in-test emulator over HTTP."""

    def __init__(
        self,
        *,
        emulator: Emulator,
        server: EmulatorServer,
        database_url: str,
        workdir: Path,
        admin_ids: list[int],
        policy_toml: str = FAST_POLICY,
        env: dict[str, str] | None = None,
    ) -> None:
        self.emulator = emulator
        self.server = server
        self.workdir = workdir
        self.config = workdir / "config.toml"
        self.config.write_text(policy_toml, encoding="utf-8")
        self.clock_file = workdir / "clock-offset"
        self.clock_file.write_text("0", encoding="utf-8")
        self.log_path = workdir / "bot.log"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "ADMIN_"))},
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_BASE_URL": server.base_url,
            "DATABASE_URL": database_url,
            "ADMIN_IDS": ",".join(str(i) for i in admin_ids),
            "INCIDENT_BOT_CONFIG": str(self.config),
            "INCIDENT_BOT_CLOCK_OFFSET_FILE": str(self.clock_file),
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0
        self._offset = 0.0

    async def start(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        """Start the bot and wait until it polls the emulator for updates."""
        mark = self.emulator.log.records[-1].seq if self.emulator.log.records else 0
        log = self.log_path.open("ab")
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "app.cli",
            "run",
            cwd=str(self.workdir),
            env=self.env,
            stdout=log,
            stderr=log,
        )
        log.close()
        self.starts += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(r.method.lower() == "getupdates" for r in self.emulator.log.since(mark)):
                return
            if self.process.returncode is not None:
                break
            # Waiting for another process to come up: nothing in this process to wait on.
            await asyncio.sleep(0.05)
        raise AssertionError(f"the bot did not start polling; its log:\n{self.log()}")

    def kill9(self) -> None:
        """Kill the bot at once, as a power cut or the OOM killer would."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)

    async def wait_dead(self) -> int:
        """Wait for the killed or stopping process to be gone."""
        assert self.process is not None
        return await self.process.wait()

    async def stop(self) -> None:
        """Stop the bot gracefully (SIGINT, as Ctrl-C), or kill it if it hangs."""
        if self.process is None or self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(self.process.wait(), 15)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()

    async def advance(self, **delta: float) -> None:
        """Move the bot process's clock forward (it reads the offset file on every tick)."""
        from datetime import timedelta

        self._offset += timedelta(**delta).total_seconds()
        # Written whole, then swapped in: the bot never reads a half-written file.
        fresh = self.clock_file.with_suffix(".new")
        fresh.write_text(str(self._offset), encoding="utf-8")
        os.replace(fresh, self.clock_file)

    def log(self) -> str:
        """Everything the process wrote so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def logged_errors(self) -> list[str]:
        """Lines of the log that report errors (tracebacks and ERROR records)."""
        return [
            line
            for line in self.log().splitlines()
            if " ERROR " in line or " CRITICAL " in line or line.startswith("Traceback")
        ]

    def info(self) -> dict[str, Any]:
        """For failure messages."""
        return {"starts": self.starts, "pid": self.process.pid if self.process else None}
