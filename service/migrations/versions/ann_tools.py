"""tool calls: an item's tool definitions, and a response's tool turns

``item.tools`` holds the OpenAI function definitions an item's conversation may call;
``response.tool_turns`` the assistant tool-call turns and tool results a tool-using
answer made before its final text (``response.content``). Both null when unused, so
existing rows are unchanged (service/items/tool_calls.py).

Revision ID: ann_tools
Revises: ann_images
Create Date: 2026-12-05 23:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "ann_tools"
down_revision: str | None = "ann_images"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("item", sa.Column("tools", sa.JSON(), nullable=True))
    op.add_column("response", sa.Column("tool_turns", sa.JSON(), nullable=True))


def downgrade() -> None:
    # In place on SQLite (3.35+): a batch copy would lose the tables' triggers.
    op.drop_column("response", "tool_turns")
    op.drop_column("item", "tools")
