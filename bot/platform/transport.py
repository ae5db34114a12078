"""The bot's HTTP client for the Bot API, and the one way out every call takes (the pacer)."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

from bot.platform.ratelimit import Pacing

log = logging.getLogger(__name__)


class AiohttpRequest(BaseRequest):
    """Bot API requests over one aiohttp session with a bounded pool of connections.

    python-telegram-bot's default client (httpx) spends about a millisecond of CPU per
    request, which caps a paid broadcast well below 1,000 messages a second on one core;
    aiohttp does the same work in a fraction of that. Errors map as PTB's own client maps
    them: any timeout is `TimedOut` (the request may have reached Telegram), every other
    transport failure `NetworkError`.
    """

    def __init__(
        self,
        *,
        connection_pool_size: int = 256,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._media_write_timeout = media_write_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        """The default read timeout in seconds."""
        return self._read_timeout

    async def initialize(self) -> None:
        """Open the session (again, after a shutdown)."""
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._pool_size, limit_per_host=0)
            self._session = aiohttp.ClientSession(
                connector=connector, headers={"User-Agent": self.USER_AGENT}
            )

    async def shutdown(self) -> None:
        """Close the session and its connections."""
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Send one request and return its status and body."""
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data.multipart_data if request_data else None
        fields = request_data.json_parameters if request_data else None
        read = self._read_timeout if isinstance(read_timeout, DefaultValue) else read_timeout
        connect = (
            self._connect_timeout if isinstance(connect_timeout, DefaultValue) else connect_timeout
        )
        pool = self._pool_timeout if isinstance(pool_timeout, DefaultValue) else pool_timeout
        if isinstance(write_timeout, DefaultValue):
            write = self._media_write_timeout if files else self._write_timeout
        else:
            write = write_timeout
        # aiohttp has no separate write timeout: the whole exchange gets the sum of the parts.
        parts = [t for t in (read, write, connect, pool) if t is not None]
        total = sum(parts) if len(parts) == 4 else None
        timeout = aiohttp.ClientTimeout(
            total=total,
            sock_connect=connect,
            sock_read=read,
            connect=None if connect is None or pool is None else connect + pool,
        )
        data: Any = None
        if files:
            form = aiohttp.FormData()
            for name, value in (fields or {}).items():
                form.add_field(name, value)
            for name, upload in files.items():
                if isinstance(upload, tuple):
                    filename, content, *rest = upload
                    form.add_field(
                        name,
                        content,
                        filename=filename,
                        content_type=rest[0] if rest else "application/octet-stream",
                    )
                else:
                    form.add_field(name, upload)
            data = form
        elif fields:
            data = fields
        try:
            async with self._session.request(method, url, data=data, timeout=timeout) as response:
                return response.status, await response.read()
        # Errors are raised anew, without the original chained: aiohttp's texts can hold the
        # request's URL, and the URL holds the bot's token.
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            raise NotSent(f"could not reach the Bot API server ({_kind(exc)})") from None
        except TimeoutError as exc:
            raise TimedOut(f"the Bot API server did not answer in time ({_kind(exc)})") from None
        except aiohttp.ClientError as exc:
            raise NetworkError(
                f"the connection to the Bot API server failed ({_kind(exc)})"
            ) from None


def _kind(exc: BaseException) -> str:
    """An error's class and, for operating-system errors, its reason: never its URL."""
    reason = getattr(exc, "os_error", None) or (exc if isinstance(exc, OSError) else None)
    if isinstance(reason, OSError) and reason.strerror:
        return f"{exc.__class__.__name__}: {reason.strerror}"
    return exc.__class__.__name__


class NotSent(NetworkError):
    """The request never left: no connection could be made. Sending again is safe."""


# Methods whose second call does no harm if the first one did arrive.
IDEMPOTENT_PREFIXES = ("get", "set", "delete", "edit", "answer", "pin", "unpin", "leave")
# Methods that post into or change a chat: they count against that chat's limits too.
PER_CHAT_PREFIXES = ("send", "edit", "copy", "forward")
# Never paced: the update poller's own calls and the set-up of the connection.
UNPACED = frozenset(
    {"getupdates", "getme", "setwebhook", "deletewebhook", "getwebhookinfo", "close", "logout"}
)
RETRY_AFTER_LIMIT = 300.0
ATTEMPTS = 5


class PacedRequest(BaseRequest):
    """Every Bot API call the bot makes, through the one pacer shared with the outbox.

    python-telegram-bot lets a bot plug in its own request class; this one wraps the HTTP
    client so that replies, edits, callback answers, documents and photos all wait their
    turn in the same pacer as the outbox (at `priority`, ahead of broadcasts), and so that
    Telegram's 429 is waited out (`retry_after`) and the call made again, for a reply too.
    Failures where the request never left (no connection) and Telegram's 5xx (the call was not
    done) are retried with backoff. A timeout after the request left is retried only for calls
    that do no harm twice (edits, callback answers, reads): a message that timed out may have
    arrived, and sending it again could say it twice, so it is not sent again; the person sees
    whether it came and can ask again (a guided step is asked again on any answer).
    """

    def __init__(self, inner: BaseRequest, pacing: Pacing, *, priority: int) -> None:
        self._inner = inner
        self._pacing = pacing
        self._priority = priority

    @property
    def read_timeout(self) -> float | None:
        """The wrapped client's read timeout."""
        return self._inner.read_timeout

    async def initialize(self) -> None:
        """Open the wrapped client."""
        await self._inner.initialize()

    async def shutdown(self) -> None:
        """Close the wrapped client."""
        await self._inner.shutdown()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Wait for this call's turn, make it, and wait out 429s and safe failures."""
        api_method = url.rsplit("/", 1)[-1].lower()
        if api_method in UNPACED:
            return await self._inner.do_request(
                url,
                method,
                request_data,
                read_timeout,
                write_timeout,
                connect_timeout,
                pool_timeout,
            )
        chat_id = _chat_id(request_data) if api_method.startswith(PER_CHAT_PREFIXES) else None
        repeatable = api_method.startswith(IDEMPOTENT_PREFIXES)
        waited = 0.0
        attempt = 0
        while True:
            attempt += 1
            if chat_id is not None:
                await self._pacing.chats.wait(chat_id)
            send = await self._pacing.pacer.acquire(self._priority)
            try:
                status, body = await self._inner.do_request(
                    url,
                    method,
                    request_data,
                    read_timeout,
                    write_timeout,
                    connect_timeout,
                    pool_timeout,
                )
            except NotSent:
                if attempt >= ATTEMPTS:
                    raise
                await asyncio.sleep(_backoff(attempt))
                continue
            except (TimedOut, NetworkError):
                if not repeatable or attempt >= ATTEMPTS:
                    raise
                await asyncio.sleep(_backoff(attempt))
                continue
            finally:
                self._pacing.pacer.answered(send)
            if status == 429:
                wait = _retry_after(body)
                if waited + wait > RETRY_AFTER_LIMIT:
                    return status, body
                waited += wait
                self._pacing.pacer.pause(wait)
                log.info("Telegram asked to wait %ss before %s; waiting", wait, api_method)
                await asyncio.sleep(wait)
                continue
            if status >= 500 and attempt < ATTEMPTS:
                await asyncio.sleep(_backoff(attempt))
                continue
            return status, body


def _backoff(attempt: int) -> float:
    return min(0.25 * 2 ** (attempt - 1), 4.0)


def _chat_id(request_data: RequestData | None) -> int | None:
    if request_data is None:
        return None
    value = request_data.parameters.get("chat_id")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.lstrip("-").isascii() and value.lstrip("-").isdigit():
        return int(value)
    return None


def _retry_after(body: bytes) -> float:
    try:
        parameters = json.loads(body).get("parameters") or {}
        return max(float(parameters.get("retry_after", 1)), 0.0)
    except (ValueError, AttributeError, TypeError):
        return 1.0
