"""Network trouble for tests: a server that never answers, and a port where nobody listens.

Hand-written on asyncio's and socket's own servers: what a test needs is the absence of an
answer (a read timeout) or a refused connection, which no HTTP test server offers, and each
takes a few lines here.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from types import TracebackType

__all__ = ["BlackHole", "closed_port"]

# Sockets bound, never listening, that hold the ports closed_port() gave out: while one is
# held, nothing else can listen there, so the port stays refused for the whole test run.
_HELD: list[socket.socket] = []


def closed_port(host: str = "127.0.0.1") -> int:
    """A local port where connecting is refused at once (ECONNREFUSED), for the test run."""
    held = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    held.bind((host, 0))
    _HELD.append(held)
    port: int = held.getsockname()[1]
    return port


class BlackHole:
    """A TCP server that accepts every connection, reads what comes, and never answers.

    A client's connect succeeds and its request is sent, then it waits for an answer that
    never comes: its read timeout is what a test sees. `stop()` closes every connection.
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self.connections = 0
        self.received = 0
        # Set at the first connection: a test waits on it rather than polling `connections`.
        self.connected = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        """http://host:port of the server (started first)."""
        if self._server is None:
            raise RuntimeError("the black hole is not started")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def _swallow(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Read until the client goes away; write nothing."""
        self.connections += 1
        self.connected.set()
        self._writers.add(writer)
        try:
            while chunk := await reader.read(65536):
                self.received += len(chunk)
        except ConnectionError:
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def start(self) -> BlackHole:
        """Listen on a free port."""
        self._server = await asyncio.start_server(self._swallow, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Stop listening and drop every open connection."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for writer in list(self._writers):
            writer.close()
        for writer in list(self._writers):
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
        await server.wait_closed()

    async def __aenter__(self) -> BlackHole:
        return await self.start()

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()
