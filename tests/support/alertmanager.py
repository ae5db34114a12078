"""The real Prometheus Alertmanager, for tests of the alert intake (R16).

``running_alertmanager`` starts the ``alertmanager`` binary (Debian's package names it
``prometheus-alertmanager``; ``make test`` installs it; ``ALERTMANAGER=...`` picks another)
on a free local port with a throw-away configuration whose only receiver is a webhook to the
URL the test gives, with ``send_resolved: true`` and short group timings so that a test waits
a fraction of a second, storage in the test's temporary folder and clustering switched off.
``Alertmanager.fire`` and ``resolve`` post alerts to its API (``POST /api/v2/alerts``;
resolving is posting the alert again with ``endsAt`` in the past), as Prometheus does.

``webhook_receiver`` is a tiny aiohttp server that puts every request it gets in a queue;
tests wait on the queue (with a timeout) for the payload they expect, never on the clock.

When the binary is missing a test is skipped, except under CI=true, where it fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

BINARY_NAMES = ("prometheus-alertmanager", "alertmanager")
START_TIMEOUT = 30.0


def find_binary() -> str | None:
    """The Alertmanager to run: $ALERTMANAGER, else the first binary of its names on PATH."""
    chosen = os.environ.get("ALERTMANAGER")
    if chosen:
        return chosen if os.access(chosen, os.X_OK) else None
    return next((path for name in BINARY_NAMES if (path := shutil.which(name))), None)


def require_binary() -> str:
    """The binary, or the test stops: skipped on a developer's machine, failed under CI."""
    binary = find_binary()
    if binary is not None:
        return binary
    reason = (
        "no Alertmanager binary (prometheus-alertmanager): `make alertmanager` installs "
        "Debian's package with apt-get; set ALERTMANAGER=... to use another one"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def free_port() -> int:
    """A local TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Received:
    """One request the webhook receiver got."""

    body: bytes
    headers: dict[str, str]

    @property
    def data(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    """Collects what is posted to it; ``url`` is where to post."""

    url: str
    queue: asyncio.Queue[Received] = field(default_factory=asyncio.Queue)

    async def wait_for(
        self, predicate: Callable[[Received], bool], *, within: float = 20.0
    ) -> Received:
        """The next request for which predicate holds (others are passed over)."""
        passed: list[Any] = []

        async def _next() -> Received:
            while True:
                got = await self.queue.get()
                if predicate(got):
                    return got
                passed.append(got.data)

        try:
            return await asyncio.wait_for(_next(), within)
        except TimeoutError:
            raise AssertionError(
                f"no matching webhook within {within}s; passed over: {passed}"
            ) from None


@contextlib.asynccontextmanager
async def webhook_receiver(path: str = "/hook") -> AsyncIterator[WebhookReceiver]:
    """A local HTTP server that queues every POST to ``path``."""
    app = web.Application()
    receiver = WebhookReceiver(url="")

    async def take(request: web.Request) -> web.Response:
        body = await request.read()
        receiver.queue.put_nowait(Received(body=body, headers=dict(request.headers)))
        return web.Response(text="ok")

    app.router.add_post(path, take)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    receiver.url = f"http://{host}:{port}{path}"
    try:
        yield receiver
    finally:
        await runner.cleanup()


@dataclass
class Alertmanager:
    """A running Alertmanager and the alerts posted to it."""

    url: str
    process: asyncio.subprocess.Process
    log: list[str]
    started: dict[tuple[tuple[str, str], ...], datetime] = field(default_factory=dict)

    async def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        """POST /api/v2/alerts, as Prometheus sends them."""
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{self.url}/api/v2/alerts", json=alerts) as response,
        ):
            text = await response.text()
            assert response.status == 200, f"Alertmanager refused the alerts: {text}"

    async def fire(
        self,
        labels: dict[str, str],
        *,
        annotations: dict[str, str] | None = None,
        starts_at: datetime | None = None,
        generator_url: str = "",
    ) -> datetime:
        """Post a firing alert (no end); returns its start (a minute ago unless given)."""
        start = starts_at or datetime.now(UTC) - timedelta(minutes=1)
        self.started[tuple(sorted(labels.items()))] = start
        await self.post_alerts(
            [
                {
                    "labels": labels,
                    "annotations": annotations or {},
                    "startsAt": _rfc3339(start),
                    "generatorURL": generator_url,
                }
            ]
        )
        return start

    async def resolve(
        self,
        labels: dict[str, str],
        *,
        annotations: dict[str, str] | None = None,
        ends_at: datetime | None = None,
    ) -> datetime:
        """Post the alert again with its end in the past; returns the end."""
        start = self.started[tuple(sorted(labels.items()))]
        end = ends_at or max(start, datetime.now(UTC) - timedelta(seconds=1))
        await self.post_alerts(
            [
                {
                    "labels": labels,
                    "annotations": annotations or {},
                    "startsAt": _rfc3339(start),
                    "endsAt": _rfc3339(end),
                }
            ]
        )
        return end

    async def alerts(self) -> list[dict[str, Any]]:
        """GET /api/v2/alerts: what Alertmanager holds, with its fingerprints."""
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{self.url}/api/v2/alerts") as response,
        ):
            assert response.status == 200
            found: list[dict[str, Any]] = await response.json()
            return found


def _write_config(
    workdir: Path,
    webhook_url: str,
    *,
    bearer_token: str | None,
    group_by: tuple[str, ...],
    group_wait: str,
    group_interval: str,
    repeat_interval: str,
    max_alerts: int,
) -> Path:
    # JSON is YAML, so the configuration is written without a YAML library.
    webhook: dict[str, Any] = {"url": webhook_url, "send_resolved": True, "max_alerts": max_alerts}
    if bearer_token is not None:
        webhook["http_config"] = {"authorization": {"credentials": bearer_token}}
    config = {
        "route": {
            "receiver": "incident-bot",
            "group_by": list(group_by),
            "group_wait": group_wait,
            "group_interval": group_interval,
            "repeat_interval": repeat_interval,
        },
        "receivers": [{"name": "incident-bot", "webhook_configs": [webhook]}],
    }
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "alertmanager.yml"
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    return path


@contextlib.asynccontextmanager
async def running_alertmanager(
    workdir: Path,
    *,
    webhook_url: str,
    bearer_token: str | None = None,
    group_by: tuple[str, ...] = ("alertname",),
    group_wait: str = "50ms",
    group_interval: str = "250ms",
    repeat_interval: str = "1h",
    max_alerts: int = 0,
) -> AsyncIterator[Alertmanager]:
    """Start Alertmanager for one test; it is stopped (and killed if need be) afterwards."""
    binary = require_binary()
    config = _write_config(
        workdir,
        webhook_url,
        bearer_token=bearer_token,
        group_by=group_by,
        group_wait=group_wait,
        group_interval=group_interval,
        repeat_interval=repeat_interval,
        max_alerts=max_alerts,
    )
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        binary,
        f"--config.file={config}",
        f"--storage.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
        "--log.level=info",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    log: list[str] = []
    listening = asyncio.Event()

    async def read_log() -> None:
        assert process.stderr is not None
        async for raw in process.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            log.append(line)
            if 'msg="Listening on"' in line:
                listening.set()
        listening.set()  # it exited: stop waiting

    reader = asyncio.create_task(read_log())
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(listening.wait(), START_TIMEOUT)
        if process.returncode is not None or not any("Listening on" in x for x in log):
            tail = "\n".join(log[-20:])
            raise AssertionError(f"Alertmanager did not start on port {port}:\n{tail}")
        yield Alertmanager(url=f"http://127.0.0.1:{port}", process=process, log=log)
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()
        await reader
