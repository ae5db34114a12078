"""python-telegram-bot 22.8 works against the emulator unchanged: a Bot, and an Application."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    Update,
)
from telegram.constants import ParseMode
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
)

from emulator import Emulator, EmulatorServer, TelegramWorld
from tests.emulator.emu_helpers import TOKEN


async def test_bot_methods_round_trip(
    server: EmulatorServer, emu: Emulator, tg: TelegramWorld
) -> None:
    staff = tg.user("Staff Li", lang="en", username="li")
    await staff.send("/start")
    async with Bot(TOKEN, base_url=server.base_url, base_file_url=server.base_file_url) as bot:
        me = await bot.get_me()
        assert (me.id, me.username, me.is_bot) == (123456789, "incident_test_bot", True)
        markup = InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton("Approve", callback_data="ap:1"),
                    InlineKeyboardButton("Docs", url="https://example.org"),
                ]
            ]
        )
        sent = await bot.send_message(
            staff.id,
            "<b>Case</b> 2026-0001 &lt;new&gt;",
            parse_mode=ParseMode.HTML,
            reply_markup=markup,
        )
        assert sent.text == "Case 2026-0001 <new>"
        assert sent.entities[0].type == "bold"
        assert sent.reply_markup == markup
        edited = await bot.edit_message_text(
            "Case 2026-0001 closed", chat_id=staff.id, message_id=sent.message_id
        )
        assert isinstance(edited, type(sent)) and edited.edit_date is not None
        doc = await bot.send_document(staff.id, InputFile(b"\x00\x01binary", filename="r.bin"))
        assert doc.document is not None and doc.document.file_name == "r.bin"
        got = await bot.get_file(doc.document.file_id)
        assert bytes(await got.download_as_bytearray()) == b"\x00\x01binary"
        assert await bot.set_my_commands(
            [BotCommand("start", "Start"), BotCommand("report", "Report")]
        )
        assert [c.command for c in await bot.get_my_commands()] == ["start", "report"]
        chat = await bot.get_chat(staff.id)
        assert chat.username == "li"
    card = staff.messages()[0]
    assert card.text == "Case 2026-0001 closed" and card.edit_count == 1 and card.buttons == []
    assert staff.messages()[1].document is not None


def build_app(server: EmulatorServer) -> Application:  # type: ignore[type-arg]
    """A tiny bot: /start offers a button; pressing it answers and edits the card."""

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None and update.effective_user is not None
        lang = update.effective_user.language_code
        await update.effective_message.reply_text(
            f"Hello {update.effective_user.first_name} ({lang}), your request is pending",
            reply_markup=InlineKeyboardMarkup(
                [[InlineKeyboardButton("Confirm", callback_data="confirm")]]
            ),
        )

    async def bind(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text(f"bound as {' '.join(context.args or [])}")

    async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        await query.answer("Confirmed!")
        await query.edit_message_text("Your request is acknowledged")

    app = (
        ApplicationBuilder()
        .token(TOKEN)
        .base_url(server.base_url)
        .base_file_url(server.base_file_url)
        .build()
    )
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CommandHandler("bind", bind))
    app.add_handler(CallbackQueryHandler(pressed))
    return app


@pytest.fixture
async def running_app(server: EmulatorServer) -> AsyncIterator[Application]:  # type: ignore[type-arg]
    """The tiny bot polling the emulator with long polls."""
    app = build_app(server)
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0.0, timeout=5)
        yield app
        await app.updater.stop()
        await app.stop()


async def test_application_answers_over_long_polling(
    running_app: Application,
    tg: TelegramWorld,
    emu: Emulator,  # type: ignore[type-arg]
) -> None:
    admin = tg.user("Admin Wang", lang="zh")
    await admin.send("/start")
    card = await admin.wait_for("pending")
    assert card.text == "Hello Admin (zh-hans), your request is pending"
    answer = await card.press("Confirm")
    assert answer.text == "Confirmed!" and answer.show_alert is False
    await card.wait_until("acknowledged")
    assert card.edit_count == 1
    leaders = tg.group("Leadership", members=[admin])
    await leaders.send(admin, "/bind@incident_test_bot leadership")
    assert (await leaders.wait_for("bound as")).text == "bound as leadership"
    polls = emu.log.by_method("getUpdates")
    assert any(r.params.get("timeout") not in (None, "0", 0) for r in polls), "long polling used"
    assert all(r.outcome == "ok" for r in emu.log if r.method != "getUpdates")
