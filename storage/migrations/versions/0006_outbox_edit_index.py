"""index the outbox's edit_of foreign key

Revision ID: 0006
Revises: 0004
Create Date: 2026-11-26 08:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this migration."""
    op.create_index(op.f("ix_outbox_edit_of"), "outbox", ["edit_of"], unique=False)


def downgrade() -> None:
    """Revert this migration."""
    op.drop_index(op.f("ix_outbox_edit_of"), table_name="outbox")
