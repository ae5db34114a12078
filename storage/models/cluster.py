"""Which instance is active on a shared PostgreSQL database, and since which epoch."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base


class ClusterState(Base):
    """One row (id 1): the epoch of the current active instance, bumped at every takeover.

    The advisory lock decides who is active; this row only numbers the terms, so that a
    claim made under an older term can be refused (fencing, see docs/cluster.md).
    """

    __tablename__ = "cluster_state"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    epoch: Mapped[int] = mapped_column(BigInteger, default=0)
    holder: Mapped[str | None] = mapped_column(String(200))
    since: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
