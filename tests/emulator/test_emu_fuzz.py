"""Random parameters to every implemented method: Telegram-style refusals, never a crash."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator import Emulator
from emulator.spec import UploadedFile, api, method_spec
from tests.emulator.emu_helpers import TOKEN

IMPLEMENTED = sorted(name[3:] for name in dir(Emulator) if name.startswith("_m_"))

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.sampled_from(["1", "-1", "true", "HTML", "MarkdownV2", "{}", "[]", "[[{}]]", "attach://x"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


def world() -> tuple[Emulator, int]:
    """An emulator with a started user and a group, so requests can reach real chats."""
    emu = Emulator()
    bot = emu.register_bot(TOKEN)
    user = emu.create_user("Li")
    emu.send_user_message(user, emu.private_chat(user, bot), "/start")
    emu.create_group("Ops", [user])
    return emu, user.id


TYPES = api()["types"]
texts = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        ["<b>x</b>", "a < b", "<i>x", "*x*", "1.5", "&amp;", "http://127.0.0.1:9/hook", "HTML"]
    ),
)


def typed(names: list[str], depth: int = 0) -> st.SearchStrategy[Any]:
    """Values that mostly fit a declared api.json type (so requests get past validation)."""
    options = [_one(name, depth) for name in names]
    return st.one_of(*options) if len(options) > 1 else options[0]


def _one(name: str, depth: int) -> st.SearchStrategy[Any]:
    """A strategy for one type expression."""
    if name.startswith("Array of "):
        return st.lists(_one(name[9:], depth + 1), max_size=3)
    simple: dict[str, st.SearchStrategy[Any]] = {
        "Integer": st.one_of(st.integers(-3, 5), st.sampled_from([100000001, -4000000001])),
        "String": texts,
        "Boolean": st.booleans(),
        "Float": st.floats(-10, 10),
        "InputFile": st.builds(UploadedFile, st.text(max_size=8), st.just("text/plain"),
                               st.binary(max_size=16)),
    }  # fmt: skip
    if name in simple:
        return simple[name]
    spec = TYPES.get(name)
    if spec is None or depth > 3:
        return values
    if spec.get("subtypes"):
        return st.one_of(*(_one(sub, depth + 1) for sub in spec["subtypes"]))
    fields = spec.get("fields") or []
    required = {f["name"]: typed(f["types"], depth + 1) for f in fields if f.get("required")}
    optional = {f["name"]: typed(f["types"], depth + 1) for f in fields if not f.get("required")}
    return st.fixed_dictionaries(required, optional=optional)


@pytest.mark.reliability
@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(IMPLEMENTED), st.data())
def test_random_requests_never_crash(method: str, data: st.DataObject) -> None:
    emu, user_id = world()
    spec = method_spec(method)
    assert spec is not None
    params: dict[str, Any] = {}
    for name, types in spec.types.items():
        if name in spec.required or data.draw(st.integers(0, 3)) == 0:
            params[name] = data.draw(values if data.draw(st.integers(0, 9)) == 0 else typed(types))
    if "chat_id" in spec.converters and data.draw(st.booleans()):
        params["chat_id"] = data.draw(st.sampled_from([user_id, -4000000001, str(user_id)]))
    if method == "getupdates":
        params["timeout"] = 0

    async def call() -> tuple[int, dict[str, Any]]:
        """One request, then stop any webhook delivery it started."""
        try:
            return await emu.handle_request(TOKEN, method, params)
        finally:
            await emu.aclose()

    status, body = asyncio.run(call())
    assert status != 500, (method, params, body, emu.log.records[-1].error)
    assert body["ok"] is (status == 200)
    if status != 200:
        assert body["description"].split(":")[0] in (
            "Bad Request", "Forbidden", "Conflict", "Too Many Requests",
        ), body  # fmt: skip
