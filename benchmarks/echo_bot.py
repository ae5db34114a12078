"""The reference for the update rate: a bare python-telegram-bot that answers and edits.

Run as `python -m benchmarks.echo_bot` with ECHO_TOKEN and ECHO_BASE_URL set; stops on SIGINT.
"""

from __future__ import annotations

import itertools
import os

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, ContextTypes

_PRESSES = itertools.count(1)


async def on_press(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer the press and edit the message's text, keeping its button."""
    query = update.callback_query
    assert query is not None and query.message is not None
    await query.answer()
    markup = getattr(query.message, "reply_markup", None)
    await query.edit_message_text(f"pressed {next(_PRESSES)}", reply_markup=markup)


def main() -> None:
    """Poll the Bot API server until interrupted."""
    app = (
        Application.builder()
        .token(os.environ["ECHO_TOKEN"])
        .base_url(os.environ["ECHO_BASE_URL"])
        .build()
    )
    app.add_handler(CallbackQueryHandler(on_press))
    app.run_polling(poll_interval=0, timeout=5, allowed_updates=Update.ALL_TYPES)


if __name__ == "__main__":
    main()
