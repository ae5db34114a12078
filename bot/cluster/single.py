"""On SQLite only one instance may run: a lock on a file beside the database.

Two instances on one SQLite file would each re-queue the other's messages in flight, poll
Telegram against each other and fire every deadline twice. `flock` on `<database>.lock` is
held for the life of the process and freed by the kernel however the process ends (even
`kill -9`), so a stale lock file never keeps the bot down. Written by hand because it is a
dozen lines of the standard library.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from sqlalchemy.engine import make_url


class AlreadyRunning(Exception):
    """Another process holds the database's lock."""

    def __init__(self, database: Path) -> None:
        super().__init__(
            f"another incident-bot is already running on {database}; stop it first "
            "(running several instances needs PostgreSQL: see docs/cluster.md)"
        )
        self.database = database


class SingleInstance:
    """An exclusive lock on `<database>.lock`, held until `release()` or the process ends."""

    def __init__(self, database: Path) -> None:
        self.database = database
        self.path = database.with_name(database.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock at once, or raise `AlreadyRunning`."""
        if self._fd is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise AlreadyRunning(self.database) from None
        except BaseException:
            os.close(fd)
            raise
        # For whoever looks: which process holds it.
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        """Let another instance start."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def for_database(url: str) -> SingleInstance | None:
    """The lock for an SQLite database file; None for PostgreSQL or an in-memory database."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    if not parsed.database or parsed.database == ":memory:":
        return None
    return SingleInstance(Path(parsed.database).resolve())
