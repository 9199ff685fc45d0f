"""which images an item shows: a rater may fetch only the images of items they hold or judged

``item_image`` links an item to the sha256 of each image its content shows (prompt,
messages, responses and their tool turns; never metadata), written by the import with
the content (service/items/images.py). The image route checks it with the rater's
leases in one indexed query. Existing items are linked here from their markers.

Revision ID: item_images
Revises: judge_run_lease
Create Date: 2026-12-06 02:10:00
"""

import json
import re
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "item_images"
down_revision: str | None = "judge_run_lease"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The image marker as it was at this revision (service/images.py).
_MARKER = re.compile(r"!\[image\]\(rankroom-image:([0-9a-f]{64})\)")
_CHUNK = 500


def upgrade() -> None:
    op.create_table(
        "item_image",
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["item.id"]),
        sa.PrimaryKeyConstraint("item_id", "sha256"),
    )
    op.create_index("ix_item_image_sha256", "item_image", ["sha256"])
    _link_existing()


def _link_existing() -> None:
    """Link the items of projects that hold images to the images their content shows."""
    bind = op.get_bind()
    item, response = (
        sa.table("item", *_cols("id", "project_id", "prompt", "messages")),
        sa.table("response", *_cols("item_id", "content", "tool_turns")),
    )
    image = sa.table("image", sa.column("project_id"))
    with_images = sa.select(image.c.project_id).distinct()
    ids = (
        bind.execute(
            sa.select(item.c.id).where(item.c.project_id.in_(with_images)).order_by(item.c.id)
        )
        .scalars()
        .all()
    )
    links = sa.table("item_image", sa.column("item_id"), sa.column("sha256"))
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        texts: dict[int, list[str]] = {i: [] for i in chunk}
        for i, prompt, messages in bind.execute(
            sa.select(item.c.id, item.c.prompt, item.c.messages).where(item.c.id.in_(chunk))
        ):
            texts[i] += [prompt or "", *_contents(messages)]
        for i, content, tool_turns in bind.execute(
            sa.select(response.c.item_id, response.c.content, response.c.tool_turns).where(
                response.c.item_id.in_(chunk)
            )
        ):
            texts[i] += [content or "", *_contents(tool_turns)]
        rows = [
            {"item_id": i, "sha256": sha}
            for i, parts in texts.items()
            for sha in sorted(set(_MARKER.findall("\n".join(parts))))
        ]
        if rows:
            bind.execute(sa.insert(links), rows)


def _cols(*names: str) -> list[sa.ColumnClause]:
    return [sa.column(n) for n in names]


def _contents(turns: object) -> list[str]:
    """Return the ``content`` texts of a JSON list of turns (a driver may give it as text).

    As the import reads them (``items.images.shown_shas``): a marker stands only there.
    """
    if isinstance(turns, str):
        turns = json.loads(turns)
    if not isinstance(turns, list):
        return []
    return [
        t["content"] for t in turns if isinstance(t, dict) and isinstance(t.get("content"), str)
    ]


def downgrade() -> None:
    op.drop_index("ix_item_image_sha256", table_name="item_image")
    op.drop_table("item_image")
