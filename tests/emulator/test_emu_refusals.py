"""The emulator refuses over HTTP what Telegram refuses, with Telegram's envelope and words."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import pytest

from emulator import Emulator, EmulatorServer, TelegramWorld
from tests.emulator.emu_helpers import TOKEN, ApiCall


@pytest.fixture
async def started(tg: TelegramWorld) -> int:
    """A user who has started the bot; returns the private chat id."""
    user = tg.user("Staff Li")
    await user.send("/start")
    return user.id


def keyboard(*buttons: dict[str, Any]) -> dict[str, Any]:
    """An inline keyboard with one row."""
    return {"inline_keyboard": [list(buttons)]}


async def test_envelope_on_success(api: ApiCall, started: int) -> None:
    status, body = await api("sendMessage", chat_id=started, text="hello")
    assert status == 200
    assert body["ok"] is True
    message = body["result"]
    assert message["text"] == "hello"
    assert message["chat"] == {
        "id": started,
        "type": "private",
        "first_name": "Staff",
        "last_name": "Li",
    }
    assert message["from"]["is_bot"] is True
    assert message["from"]["username"] == "incident_test_bot"


async def test_missing_chat_id(api: ApiCall) -> None:
    assert await api("sendMessage", text="x") == (
        400,
        {"ok": False, "error_code": 400, "description": "Bad Request: chat_id is empty"},
    )


async def test_missing_and_empty_text(api: ApiCall, started: int) -> None:
    for params in ({}, {"text": ""}, {"text": "<b></b>", "parse_mode": "HTML"}):
        status, body = await api("sendMessage", chat_id=started, **params)
        assert status == 400
        assert body["description"] == "Bad Request: message text is empty"


async def test_text_too_long_counts_utf16_after_parsing(api: ApiCall, started: int) -> None:
    status, body = await api("sendMessage", chat_id=started, text="x" * 5000)
    assert (status, body["description"]) == (400, "Bad Request: message is too long")
    # 4096 characters of text plus markup are fine: the limit applies after entity parsing
    status, _ = await api(
        "sendMessage", chat_id=started, text="<b>" + "x" * 4096 + "</b>", parse_mode="HTML"
    )
    assert status == 200
    # an emoji is two UTF-16 code units
    status, body = await api("sendMessage", chat_id=started, text="😀" * 2049)
    assert body["description"] == "Bad Request: message is too long"


@pytest.mark.parametrize(
    ("text", "description"),
    [
        ("<b>unclosed", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<div>x</div>", 'Unsupported start tag "div" at byte offset 0'),
        ("if a < b then", 'Unsupported start tag "" at byte offset 5'),
        ("<i>x</b>", 'Unmatched end tag at byte offset 4, expected "</i>", found "</b>"'),
    ],
)
async def test_html_errors(api: ApiCall, started: int, text: str, description: str) -> None:
    status, body = await api("sendMessage", chat_id=started, text=text, parse_mode="HTML")
    assert status == 400
    assert body["description"] == f"Bad Request: can't parse entities: {description}"


async def test_markdown_v2_error(api: ApiCall, started: int) -> None:
    status, body = await api("sendMessage", chat_id=started, text="v1.2", parse_mode="MarkdownV2")
    assert status == 400
    assert body["description"] == (
        "Bad Request: can't parse entities: Character '.' is reserved and must be escaped with "
        "the preceding '\\'"
    )


async def test_callback_data_limits(api: ApiCall, started: int) -> None:
    status, _ = await api(
        "sendMessage",
        chat_id=started,
        text="x",
        reply_markup=keyboard({"text": "ok", "callback_data": "d" * 64}),
    )
    assert status == 200
    for data in ("d" * 65, "", "é" * 33):
        status, body = await api(
            "sendMessage",
            chat_id=started,
            text="x",
            reply_markup=keyboard({"text": "ok", "callback_data": data}),
        )
        assert (status, body["description"]) == (400, "Bad Request: BUTTON_DATA_INVALID"), data


async def test_keyboard_structure(api: ApiCall, started: int) -> None:
    cases = [
        (keyboard({"text": "plain"}), "Text buttons are unallowed in the inline keyboard"),
        (
            keyboard({"text": "two", "callback_data": "a", "url": "https://e.org"}),
            "exactly one of the optional fields",
        ),
        (keyboard({"callback_data": "a"}), 'field "text" is required'),
        (keyboard({"text": "u", "url": "ftp://x"}), "BUTTON_URL_INVALID"),
        (keyboard({"text": "u", "url": "not a url"}), "BUTTON_URL_INVALID"),
        ({"inline_keyboard": [{"text": "x"}]}, "should be an Array of Arrays"),
    ]
    for markup, needle in cases:
        status, body = await api("sendMessage", chat_id=started, text="x", reply_markup=markup)
        assert status == 400, markup
        assert needle in body["description"], (markup, body)
    for url in ("https://example.com/a?b=1", "http://127.0.0.1:8080/", "tg://user?id=1"):
        status, _ = await api(
            "sendMessage",
            chat_id=started,
            text="x",
            reply_markup=keyboard({"text": "u", "url": url}),
        )
        assert status == 200, url


async def test_unknown_and_unsupported_methods(
    api: ApiCall, caplog: pytest.LogCaptureFixture
) -> None:
    assert await api("sendTelepathy") == (
        404,
        {"ok": False, "error_code": 404, "description": "Not Found"},
    )
    with caplog.at_level(logging.WARNING, logger="emulator"):
        status, body = await api("sendDice", chat_id=1)
    assert status == 400
    assert "not supported by the emulator" in body["description"]
    assert any("sendDice" in r.getMessage() for r in caplog.records)


async def test_malformed_token_is_unauthorized(api: ApiCall) -> None:
    for token in ("nonsense", "123:short", "abc:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"):
        assert await api("getMe", _token=token) == (
            401,
            {"ok": False, "error_code": 401, "description": "Unauthorized"},
        )


async def test_any_wellformed_token_is_a_bot(api: ApiCall) -> None:
    status, body = await api("getMe", _token="987654:" + "Z" * 35)
    assert status == 200
    assert body["result"]["id"] == 987654
    assert body["result"]["is_bot"] is True


async def test_wrong_types(api: ApiCall, started: int) -> None:
    status, body = await api("sendMessage", chat_id={"a": 1}, text="x")
    assert status == 400
    assert body["description"] == 'Bad Request: field "chat_id" must be of type Integer or String'
    status, body = await api("sendMessage", chat_id=started, text="x", disable_notification="maybe")
    assert (
        body["description"] == 'Bad Request: field "disable_notification" must be of type Boolean'
    )
    status, body = await api("getUpdates", _as="form", offset="abc")
    assert body["description"] == 'Bad Request: field "offset" must be of type Integer'
    status, body = await api(
        "sendMessage", _as="form", chat_id=str(started), text="x", reply_markup="{not json"
    )
    assert body["description"] == "Bad Request: can't parse reply_markup JSON object"


async def test_coercion_of_form_and_query_strings(api: ApiCall, started: int) -> None:
    markup = keyboard({"text": "Go", "callback_data": "go"})
    for mode in ("form", "query"):
        status, body = await api(
            "sendMessage",
            _as=mode,
            chat_id=str(started),
            text="hi",
            disable_notification="true",
            reply_markup=markup,
        )
        assert status == 200, body
        assert body["result"]["reply_markup"] == markup


async def test_method_names_are_case_insensitive(api: ApiCall, started: int) -> None:
    status, _body = await api("SENDMESSAGE", chat_id=started, text="x")
    assert status == 200
    status, _ = await api("getme")
    assert status == 200


async def test_chat_errors(api: ApiCall, emu: Emulator, tg: TelegramWorld) -> None:
    status, body = await api("sendMessage", chat_id=555, text="x")
    assert (status, body["description"]) == (400, "Bad Request: chat not found")
    silent = tg.user("Never Started")
    status, body = await api("sendMessage", chat_id=silent.id, text="x")
    assert (status, body["description"]) == (
        403,
        "Forbidden: bot can't initiate conversation with a user",
    )
    status, body = await api("sendMessage", chat_id=-100999, text="x")
    assert (status, body["description"]) == (400, "Bad Request: chat not found")


async def test_reply_to_unknown_message(api: ApiCall, started: int) -> None:
    status, body = await api(
        "sendMessage", chat_id=started, text="x", reply_parameters={"message_id": 999}
    )
    assert (status, body["description"]) == (400, "Bad Request: message to be replied not found")
    status, body = await api(
        "sendMessage", chat_id=started, text="x", reply_parameters={"message_id": 1}
    )
    assert body["result"]["reply_to_message"]["text"] == "/start"


async def test_answer_callback_query_text_limit_and_unknown_id(api: ApiCall) -> None:
    status, body = await api("answerCallbackQuery", callback_query_id="123")
    assert (status, body["description"]) == (
        400,
        "Bad Request: query is too old and response timeout expired or query ID is invalid",
    )


async def test_bad_json_body(server: EmulatorServer, http: aiohttp.ClientSession) -> None:
    async with http.post(
        f"{server.base_url}{TOKEN}/getMe",
        data=b"{oops",
        headers={"Content-Type": "application/json"},
    ) as response:
        assert response.status == 400
        assert (await response.json())["ok"] is False


async def test_unsupported_parse_mode(api: ApiCall, started: int) -> None:
    status, body = await api("sendMessage", chat_id=started, text="x", parse_mode="BBCode")
    assert (status, body["description"]) == (400, "Bad Request: unsupported parse_mode")
