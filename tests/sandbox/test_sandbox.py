"""The sandbox: a ready office, the real bot on the emulator, its data folder, the command."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from app.sandbox import (
    CAST,
    DATABASE_FILE,
    MESSAGE_IDS_PER_RUN,
    RUNS_FILE,
    Sandbox,
    SandboxError,
    persona,
    reset,
)
from bot.patrols import duty
from bot.platform.config import Policy
from bot.platform.roles import ChatPurpose
from emulator.testing import UserHandle
from storage import access as access_q
from tests.journeys.cast import report
from tests.sandbox.conftest import Cast


async def test_the_office_is_ready_and_everyone_is_greeted(sandbox: Sandbox, cast: Cast) -> None:
    """R14 R15 R2: the cast is approved with roles, the groups are bound, the card is filled."""
    for person in CAST:
        await cast[person.key].wait_for("Welcome" if person.language == "en" else "欢迎")
    assert sandbox.ctx is not None
    async with sandbox.ctx.db.transaction() as session:
        users = {u.id: u for u in await access_q.list_users(session=session)}
        bound = {c.purpose: c.id for c in await access_q.bound_chats(session=session)}
        on_duty = await duty.officers_on_duty(
            session=session, ctx=sandbox.ctx, at=sandbox.ctx.now()
        )
    for person in CAST:
        user = users[person.user_id]
        assert user.status == "active" and user.name == person.name
        assert set(user.role_names) == {r.value for r in person.roles}
    assert users[persona("staff_3").user_id].language == "en"
    assert bound == {purpose.value: chat.id for purpose, chat in sandbox.groups.items()}
    # R11: the daily rotation puts exactly one of the two duty officers on duty.
    assert len(on_duty) == 1 and on_duty[0].name in {"郑强", "冯静"}

    await cast["staff_1"].send("/contacts")
    card = await cast["staff_1"].wait_for("赵建国")
    assert "+86 138 0000 0002" in card.text and "周涛" in card.text


async def test_a_report_in_the_sandbox_reaches_the_leaders_who_acknowledge(
    sandbox: Sandbox, cast: Cast
) -> None:
    """R3 R4 R5: the English-speaking staff member reports; the leader acknowledges."""
    reporter = cast["staff_3"]
    await reporter.wait_for("Welcome")
    number = await report(reporter, level="large", source=None)
    card = await cast.groups[ChatPurpose.LEADERSHIP.value].wait_for(number)
    await cast.groups[ChatPurpose.TECH_CENTER.value].wait_for(number)
    await card.press("✅ 确认", by=cast["leader"])
    await card.wait_until("已由 赵建国 于")
    await reporter.wait_for(f"Your report {number} was acknowledged by 赵建国")


async def test_restart_keeps_the_data_and_reset_wipes_it(tmp_path: Path) -> None:
    """The data folder outlives a restart (a chosen language stays); --reset starts over."""
    data = tmp_path / "sandbox"
    first = Sandbox(data_dir=data, port=0, policy=Policy())
    await first.start()
    try:
        staff = UserHandle(Cast(first).world, first.users["staff_1"])
        first_welcome = await staff.wait_for("欢迎")
        await staff.send("/lang en")
        await staff.wait_for("English")
    finally:
        await first.stop()
    assert (data / DATABASE_FILE).exists()

    second = Sandbox(data_dir=data, port=0, policy=Policy())
    await second.start()
    try:
        welcome = await UserHandle(Cast(second).world, second.users["staff_1"]).wait_for("Welcome")
    finally:
        await second.stop()
    # The chats start empty again, numbered past the first run's messages.
    assert welcome.message_id > MESSAGE_IDS_PER_RUN > first_welcome.message_id

    assert reset(data)
    assert not list(data.glob(f"{DATABASE_FILE}*")) and not (data / RUNS_FILE).exists()
    third = Sandbox(data_dir=data, port=0, policy=Policy())
    await third.start()
    try:
        await UserHandle(Cast(third).world, third.users["staff_1"]).wait_for("欢迎")
    finally:
        await third.stop()


async def test_the_port_in_use_is_named(tmp_path: Path) -> None:
    """A taken port is refused with a message that names it."""
    first = Sandbox(data_dir=tmp_path / "a", port=0, policy=Policy())
    await first.start()
    try:
        second = Sandbox(data_dir=tmp_path / "b", port=first.server.port, policy=Policy())
        try:
            await second.start()
        except SandboxError as exc:
            assert str(first.server.port) in str(exc)
        else:
            await second.stop()
            raise AssertionError("a second sandbox started on a taken port")
    finally:
        await first.stop()


@pytest.mark.subprocess
async def test_the_command_prints_the_address_and_serves_the_page(tmp_path: Path) -> None:
    """`incident-bot sandbox` prints where the web chat is; the page opens; Ctrl+C stops it."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TELEGRAM_", "DATABASE_URL", "ADMIN_IDS", "INCIDENT_BOT_CONFIG"))
    }
    command = Path(sys.executable).with_name("incident-bot")
    process = await asyncio.create_subprocess_exec(
        str(command),
        "sandbox",
        "--port",
        "0",
        "--data-dir",
        str(tmp_path / "data"),
        "--reset",
        cwd=tmp_path,
        env={**env, "PYTHONUNBUFFERED": "1"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    output: list[str] = []
    try:
        while True:
            line = (await asyncio.wait_for(process.stdout.readline(), 60)).decode()
            assert line, f"the sandbox ended early:\n{''.join(output)}"
            output.append(line)
            if "Open  http://" in line:
                break
        url = line.split("Open")[1].split()[0]
        async with aiohttp.ClientSession() as http:
            async with http.get(url) as response:
                page = await response.text()
            async with http.get(f"{url}web/personas") as response:
                personas = (await response.json())["result"]
        assert "沙盒" in page and "Nothing leaves this machine" in page
        assert [p["name"] for p in personas] == [p.name for p in CAST]
        assert any(p["note"] == "组长 · Leader" for p in personas)
    finally:
        process.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(process.wait(), 30)
    assert code == 0, "".join(output)
    assert "sandbox reset" in output[0]
