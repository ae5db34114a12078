"""The `incident-bot` command: run, sandbox, migrate, check-config, alerts test."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bot.platform.config import ConfigError, Policy, Settings, load_policy, load_settings
from bot.platform.redaction import redact_logs

log = logging.getLogger("incident_bot")

NO_TOKEN = """\
TELEGRAM_BOT_TOKEN is not set, so the bot cannot talk to Telegram.

  1. Create a bot with @BotFather in Telegram and copy its token.
  2. export TELEGRAM_BOT_TOKEN=123456:ABC...   (or put it in a .env file)
  3. export ADMIN_IDS=<your Telegram user id>   so that you can approve others
  4. run again.

To try the bot without Telegram, run `incident-bot sandbox`.
"""


def _load() -> tuple[Settings, Policy]:
    settings = load_settings()
    policy = load_policy(settings.incident_bot_config)
    return settings, policy


def _configure_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # httpx logs every request URL, and the URL carries the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.ERROR)


async def _migrate(url: str) -> None:
    from storage.db import Database

    db = Database(url)
    try:
        await db.migrate()
    finally:
        await db.dispose()


def cmd_check_config(_args: argparse.Namespace) -> int:
    """Validate the environment and the policy file; name the bad key."""
    try:
        settings, policy = _load()
    except ConfigError as exc:
        print(f"configuration error:\n{exc}", file=sys.stderr)
        return 2
    source = settings.incident_bot_config
    print(f"environment: ok (token {'set' if settings.telegram_bot_token else 'NOT set'})")
    print(
        f"policy: ok ({source if source.exists() else 'built-in defaults'}; "
        f"time zone {policy.timezone}; {len(policy.contacts)} contacts)"
    )
    alerts = policy.alerts
    state = f"on at {alerts.listen}:{alerts.port}" if alerts.enabled else "off"
    print(f"alerts: {state} ({len(alerts.sources)} sources, {len(alerts.rules)} rules)")
    tokens = {s.token_env for s in alerts.sources} if alerts.enabled else set()
    for unset in sorted(t for t in tokens if not os.environ.get(t)):
        print(f"warning: alerts: the token variable {unset} is not set", file=sys.stderr)
    return 0


def _categories() -> dict[str, tuple[str, ...]]:
    from bot.incidents.model import SUBTYPES, Category

    return {category.value: tuple(SUBTYPES.get(category, ())) for category in Category}


def cmd_alerts_test(args: argparse.Namespace) -> int:
    """Show what each alert of a payload would become under the policy's rules."""
    from bot.alerts.formats import BadPayload
    from bot.alerts.trial import NoSource, as_data, as_text, trial

    try:
        _settings, policy = _load()
    except ConfigError as exc:
        print(f"configuration error:\n{exc}", file=sys.stderr)
        return 2
    try:
        body = Path(args.file).read_bytes()
    except OSError as exc:
        print(f"cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    try:
        source, batch, decisions = trial(
            body, policy=policy.alerts, categories=_categories(), source_name=args.source
        )
    except (BadPayload, NoSource) as exc:
        print(f"{args.file}: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(as_data(source, batch, decisions), ensure_ascii=False, indent=2))
    else:
        print(as_text(source, batch, decisions))
    return 0


def cmd_migrate(_args: argparse.Namespace) -> int:
    """Bring the database schema up to date."""
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"configuration error:\n{exc}", file=sys.stderr)
        return 2
    asyncio.run(_migrate(settings.database_url))
    print("database is up to date")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Migrate, then run the bot until interrupted."""
    try:
        settings, policy = _load()
    except ConfigError as exc:
        print(f"configuration error:\n{exc}", file=sys.stderr)
        return 2
    if settings.telegram_bot_token is None:
        print(NO_TOKEN, file=sys.stderr)
        return 2
    from bot.cluster import single

    # Held until the process ends: on SQLite a second instance would undo the first one's work.
    only_one = single.for_database(settings.database_url)
    if only_one is not None:
        try:
            only_one.acquire()
        except single.AlreadyRunning as exc:
            print(exc, file=sys.stderr)
            return 1
    _configure_logging(args.verbose)
    redact_logs(settings.token, *settings.secrets())
    asyncio.run(_migrate(settings.database_url))
    from telegram import Update

    from app.build import build_application, build_context

    ctx = build_context(settings, policy)
    app = build_application(ctx)
    from telegram.error import NetworkError

    try:
        if settings.webhook_url:
            log.info(
                "taking updates by webhook on %s:%s", settings.webhook_listen, settings.webhook_port
            )
            asyncio.run(_serve_webhook(app))
        else:
            log.info("taking updates by long polling")
            app.run_polling(allowed_updates=Update.ALL_TYPES)
    except NetworkError as exc:
        log.error("could not reach Telegram's Bot API, stopping: %s", exc)
        asyncio.run(_close_clients(app))
        return 1
    return 0


async def _close_clients(app: Any) -> None:
    """Close the HTTP clients a start that never finished left open."""
    # PTB shuts down only what finished starting; its two request objects opened before.
    for request in app.bot._request:
        await request.shutdown()


async def _serve_webhook(app: Any) -> None:
    """Run the application on our webhook endpoint until SIGINT or SIGTERM."""
    import signal

    from app.build import on_start, on_stop
    from app.webhook import open_webhook

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await app.initialize()
    await on_start(app)
    await app.start()
    server = await open_webhook(app)
    try:
        await stop.wait()
    finally:
        await server.stop()
        await app.stop()
        await on_stop(app)
        await app.shutdown()


def cmd_sandbox(args: argparse.Namespace) -> int:
    """Run the emulator, its web chat and the bot with a ready office, on this machine only."""
    from app import sandbox

    data_dir = Path(args.data_dir)
    if args.reset:
        removed = sandbox.reset(data_dir)
        print(f"sandbox reset: {len(removed)} file(s) removed from {data_dir}")
    try:
        settings, policy = _load()
    except ConfigError as exc:
        print(f"configuration error:\n{exc}", file=sys.stderr)
        return 2
    _configure_logging(args.verbose)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    port = settings.sandbox_port if args.port is None else args.port
    running = sandbox.Sandbox(data_dir=data_dir, host=args.host, port=port, policy=policy)
    try:
        asyncio.run(sandbox.serve(running))
    except sandbox.SandboxError as exc:
        print(f"{exc}\nChoose another port with --port.", file=sys.stderr)
        return 2
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    parser = argparse.ArgumentParser(prog="incident-bot", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="migrate the database and start the bot")
    run.add_argument("-v", "--verbose", action="store_true")
    run.set_defaults(func=cmd_run)
    box = sub.add_parser("sandbox", help="try the bot in a browser, without Telegram")
    box.add_argument("--reset", action="store_true", help="start over with an empty database")
    box.add_argument("--host", default="127.0.0.1", help="address of the web chat")
    box.add_argument("--port", type=int, help="port of the web chat (default 8080; 0: any)")
    box.add_argument("--data-dir", default="data/sandbox", help="where the sandbox keeps data")
    box.add_argument("-v", "--verbose", action="store_true")
    box.set_defaults(func=cmd_sandbox)
    sub.add_parser("migrate", help="bring the database schema up to date").set_defaults(
        func=cmd_migrate
    )
    sub.add_parser(
        "check-config", help="validate the environment and the policy file"
    ).set_defaults(func=cmd_check_config)
    alerts = sub.add_parser("alerts", help="monitoring alerts").add_subparsers(
        dest="alerts_command", required=True
    )
    trial = alerts.add_parser(
        "test", help="show what each alert of a payload would become (creates nothing)"
    )
    trial.add_argument("file", help="a JSON body as the monitoring system would post it")
    trial.add_argument("--source", help="the [[alerts.sources]] name it would come to")
    trial.add_argument("--json", action="store_true", help="print JSON")
    trial.set_defaults(func=cmd_alerts_test)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
