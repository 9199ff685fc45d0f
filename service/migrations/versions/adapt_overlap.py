"""adaptive overlap: per-project setting, per-item raised target and audit flag

``project.adaptive_overlap`` (off by default), ``overlap_max`` and ``audit_share`` hold the
setting (service/rating/agreement_rule.py has the rule). ``item_slots.raised`` counts the
raters an item wants beyond ``overlap`` on each unit, summed over its units, and
``item_slots.audit`` marks the audit sample; an item's capacity becomes
``units * overlap + raised`` (``slots.capacity``), so the triggers that recompute ``open``
on an item update (priority, gold, flag, expertise) read ``raised`` too.

Revision ID: adapt_overlap
Revises: ann_rewrite
Create Date: 2026-12-05 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "adapt_overlap"
down_revision: str | None = "ann_rewrite"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SLOT_COLUMNS = (
    "item_id, project_id, priority, is_gold, flagged, expertise_key, taken, skips, open, rand, "
    "overlap"
)
SQLITE_KEY = (
    "COALESCE((SELECT group_concat(v, '|') FROM (SELECT DISTINCT lower(value) AS v"
    " FROM json_each(NEW.expertise) ORDER BY v)), '')"
)
SQLITE_RAND = "(abs(random()) % 1000000000) / 1000000000.0"
PROJECT_OVERLAP = "(SELECT overlap FROM project WHERE id = NEW.project_id)"
# The update trigger's ``open`` as integ_slot_overlap left it, and with ``raised``.
CAPACITY = {
    "before": "item_slots.units * item_slots.overlap",
    "after": "item_slots.units * item_slots.overlap + item_slots.raised",
}


def _open(version: str) -> str:
    return f"(NOT NEW.is_gold AND NOT NEW.flagged AND item_slots.taken < {CAPACITY[version]})"


def _sqlite_triggers(version: str) -> list[str]:
    return [
        f"""CREATE TRIGGER item_slots_insert AFTER INSERT ON item BEGIN
  INSERT INTO item_slots ({SLOT_COLUMNS}) VALUES (NEW.id, NEW.project_id, NEW.priority,
    NEW.is_gold, NEW.flagged, {SQLITE_KEY}, 0, 0,
    NOT NEW.is_gold AND NOT NEW.flagged, {SQLITE_RAND}, {PROJECT_OVERLAP});
END""",
        f"""CREATE TRIGGER item_slots_update AFTER UPDATE OF priority, is_gold, flagged, expertise
ON item BEGIN
  UPDATE item_slots SET priority = NEW.priority, is_gold = NEW.is_gold, flagged = NEW.flagged,
    expertise_key = {SQLITE_KEY},
    open = {_open(version)}
  WHERE item_id = NEW.id;
END""",
    ]


def _pg_function(version: str) -> str:
    return f"""CREATE OR REPLACE FUNCTION rankroom_item_slots_sync() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  cap integer;
BEGIN
  IF TG_OP = 'INSERT' THEN
    SELECT overlap INTO cap FROM project WHERE id = NEW.project_id FOR SHARE;
    INSERT INTO item_slots ({SLOT_COLUMNS}) VALUES (NEW.id, NEW.project_id, NEW.priority,
      NEW.is_gold, NEW.flagged, rankroom_expertise_key(NEW.expertise), 0, 0,
      NOT NEW.is_gold AND NOT NEW.flagged, random(), cap);
    RETURN NEW;
  ELSIF TG_OP = 'UPDATE' THEN
    UPDATE item_slots SET priority = NEW.priority, is_gold = NEW.is_gold,
      flagged = NEW.flagged, expertise_key = rankroom_expertise_key(NEW.expertise),
      open = {_open(version)}
    WHERE item_id = NEW.id;
    RETURN NEW;
  END IF;
  DELETE FROM item_slots WHERE item_id = OLD.id;
  RETURN OLD;
END
$$"""


def _set_triggers(version: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER item_slots_insert")
        op.execute("DROP TRIGGER item_slots_update")
        for statement in _sqlite_triggers(version):
            op.execute(statement)
    else:
        op.execute(_pg_function(version))


def upgrade() -> None:
    op.add_column(
        "project",
        sa.Column("adaptive_overlap", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column(
        "project", sa.Column("overlap_max", sa.Integer(), nullable=False, server_default="5")
    )
    op.add_column(
        "project", sa.Column("audit_share", sa.Float(), nullable=False, server_default="0.1")
    )
    op.add_column(
        "item_slots", sa.Column("raised", sa.Integer(), nullable=False, server_default="0")
    )
    op.add_column(
        "item_slots", sa.Column("audit", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    _set_triggers("after")


def downgrade() -> None:
    # The old triggers first: SQLite refuses to drop a column a trigger still names.
    _set_triggers("before")
    with op.batch_alter_table("item_slots", recreate="never") as batch:
        batch.drop_column("audit")
        batch.drop_column("raised")
    op.drop_column("project", "audit_share")
    op.drop_column("project", "overlap_max")
    op.drop_column("project", "adaptive_overlap")
