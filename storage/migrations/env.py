"""Alembic environment: runs on the connection the caller hands in."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from storage.models import Base

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    # Used by `alembic revision --autogenerate` from a developer's shell.
    url = context.config.get_main_option("sqlalchemy.url") or "sqlite:///./data/dev.sqlite3"
    with create_engine(url).connect() as conn:
        _run(conn)
        conn.commit()
