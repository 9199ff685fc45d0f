"""judgment.shown_sha256: a hash of exactly what the rater was shown

Every judgment stores the sha256 of its prompt (or conversation), the responses' texts
in the order the rater saw them and the guideline version (``service/rating/shown.py``), so
exports can carry it and a consumer can check a row's text against it. Judgments made
before this revision are backfilled from the content stored now: judged items cannot
be changed, but an older version could change an item under a live lease, so for those
rows the hash says what is stored, not necessarily what was seen (a response no longer
stored hashes as null).

SQLite adds a NOT NULL column only with a default; a trigger refuses an insert without
a real hash instead, so both databases hold every judgment to it.

Revision ID: integ_shown
Revises: assign2
Create Date: 2026-12-05 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from service.rating.shown import shown_sha256

revision: str = "integ_shown"
down_revision: str | None = "assign2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The append-only guard of revision 0002, lifted only while the backfill runs.
GUARD = "judgments are append-only: record a new version instead"
SQLITE_GUARD = (
    "CREATE TRIGGER judgment_no_update BEFORE UPDATE ON judgment "
    f"BEGIN SELECT RAISE(ABORT, '{GUARD}'); END"
)
SQLITE_REQUIRE = (
    "CREATE TRIGGER judgment_shown_sha256 BEFORE INSERT ON judgment "
    "WHEN NEW.shown_sha256 IS NULL OR length(NEW.shown_sha256) != 64 "
    "BEGIN SELECT RAISE(ABORT, 'NOT NULL constraint failed: judgment.shown_sha256'); END"
)
BATCH = 1000

judgment = sa.table(
    "judgment",
    sa.column("id", sa.Integer),
    sa.column("item_id", sa.Integer),
    sa.column("shown_order", sa.JSON),
    sa.column("guideline_version", sa.Integer),
    sa.column("shown_sha256", sa.String),
)
item = sa.table(
    "item",
    sa.column("id", sa.Integer),
    sa.column("prompt", sa.Text),
    sa.column("messages", sa.JSON),
)
response = sa.table(
    "response",
    sa.column("item_id", sa.Integer),
    sa.column("external_id", sa.String),
    sa.column("content", sa.Text),
)


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.add_column(
        "judgment",
        sa.Column(
            "shown_sha256",
            sa.String(length=64),
            nullable=not sqlite,
            server_default="" if sqlite else None,
        ),
    )
    if sqlite:
        op.execute("DROP TRIGGER judgment_no_update")
    else:
        op.execute("ALTER TABLE judgment DISABLE TRIGGER judgment_append_only")
    _backfill()
    if sqlite:
        op.execute(SQLITE_GUARD)
        op.execute(SQLITE_REQUIRE)
    else:
        op.execute("ALTER TABLE judgment ENABLE TRIGGER judgment_append_only")
        op.alter_column("judgment", "shown_sha256", nullable=False)


def _backfill() -> None:
    """Hash every judgment from its item's content now, a batch of judgments at a time."""
    conn = op.get_bind()
    last = 0
    while True:
        rows = conn.execute(
            sa.select(
                judgment.c.id,
                judgment.c.item_id,
                judgment.c.shown_order,
                judgment.c.guideline_version,
            )
            .where(judgment.c.id > last)
            .order_by(judgment.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        ids = {r.item_id for r in rows}
        items = {
            i.id: (i.prompt, i.messages)
            for i in conn.execute(
                sa.select(item.c.id, item.c.prompt, item.c.messages).where(item.c.id.in_(ids))
            )
        }
        texts: dict[int, dict[str, str]] = {}
        for r in conn.execute(
            sa.select(response.c.item_id, response.c.external_id, response.c.content).where(
                response.c.item_id.in_(ids)
            )
        ):
            texts.setdefault(r.item_id, {})[r.external_id] = r.content
        values = []
        for r in rows:
            prompt, messages = items[r.item_id]
            given = texts.get(r.item_id, {})
            digest = shown_sha256(
                prompt=prompt,
                messages=messages,
                responses=[given.get(rid) for rid in r.shown_order or []],
                guideline_version=r.guideline_version,
            )
            values.append({"b_id": r.id, "b_sha": digest})
        conn.execute(
            judgment.update()
            .where(judgment.c.id == sa.bindparam("b_id"))
            .values(shown_sha256=sa.bindparam("b_sha")),
            values,
        )
        last = rows[-1].id


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER judgment_shown_sha256")
        # SQLite (3.35+) drops a column in place; a batch copy would lose the triggers.
        op.execute("ALTER TABLE judgment DROP COLUMN shown_sha256")
        return
    op.drop_column("judgment", "shown_sha256")
