"""Run the emulator: `python -m emulator --port 8081 [--host 127.0.0.1] [--no-limits]`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging

from .core import Emulator, EmulatorError
from .server import EmulatorServer


def _parser() -> argparse.ArgumentParser:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        prog="python -m emulator", description="A local Telegram Bot API server for tests."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8081, help="port (0 picks a free one)")
    parser.add_argument("--token", help="register this bot token up front")
    parser.add_argument("--bot-username", default="incident_test_bot", help="the bot's username")
    parser.add_argument(
        "--no-privacy",
        action="store_true",
        help="let the bot see every group message (privacy mode off)",
    )
    parser.add_argument(
        "--no-limits",
        action="store_true",
        help="answer every send, however fast (Telegram's flood limits are on by default)",
    )
    return parser


async def _serve(args: argparse.Namespace) -> None:
    """Serve until cancelled."""
    emulator = Emulator(
        bot_username=args.bot_username,
        privacy_mode=not args.no_privacy,
        limits=None if args.no_limits else "telegram",
    )
    if args.token:
        emulator.register_bot(args.token)
    async with EmulatorServer(emulator, host=args.host, port=args.port) as server:
        print(f"Bot API base_url:      {server.base_url}", flush=True)
        print(f"Bot API base_file_url: {server.base_file_url}", flush=True)
        print(f"Control API:           {server.control_url}", flush=True)
        print(f"Web chat:              {server.url}/", flush=True)
        limits = "off" if emulator.limits is None else "Telegram's (--no-limits to switch off)"
        print(f"Flood limits:          {limits}", flush=True)
        await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    """Entry point."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_serve(args))
    except EmulatorError as exc:
        raise SystemExit(str(exc)) from None


if __name__ == "__main__":
    main()
