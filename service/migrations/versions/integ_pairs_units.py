"""pair units: a pairwise project's ``pairs`` setting and each item's units in item_slots

Overlap now means raters per pair unit: an item wants ``overlap`` × ``units`` raters,
where ``units`` is how many pairs of its responses the project collects (one unless a
pairwise item has more than two responses). Existing pairwise projects collect every
pair, so their items with 3 or more responses reopen until each pair has its raters.
The item trigger that recomputes ``open`` learns the capacity.

Revision ID: integ_pairs
Revises: integ_shown
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "integ_pairs"
down_revision: str | None = "integ_shown"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SLOT_COLUMNS = (
    "item_id, project_id, priority, is_gold, flagged, expertise_key, taken, skips, open, rand"
)
SQLITE_KEY = (
    "COALESCE((SELECT group_concat(v, '|') FROM (SELECT DISTINCT lower(value) AS v"
    " FROM json_each(NEW.expertise) ORDER BY v)), '')"
)
OVERLAP = "(SELECT overlap FROM project WHERE id = {i}.project_id)"
OPEN = {
    # As migration assign1 wrote it, and with the capacity: overlap on each pair unit.
    "assign2": "(NOT NEW.is_gold AND NOT NEW.flagged AND item_slots.taken < "
    + OVERLAP.format(i="NEW")
    + ")",
    "integ_pairs": "(NOT NEW.is_gold AND NOT NEW.flagged AND item_slots.taken < "
    "item_slots.units * " + OVERLAP.format(i="NEW") + ")",
}


def _sqlite_update_trigger(open_: str) -> str:
    return f"""CREATE TRIGGER item_slots_update AFTER UPDATE OF priority, is_gold, flagged, expertise
ON item BEGIN
  UPDATE item_slots SET priority = NEW.priority, is_gold = NEW.is_gold, flagged = NEW.flagged,
    expertise_key = {SQLITE_KEY},
    open = {open_}
  WHERE item_id = NEW.id;
END"""


def _pg_function(open_: str) -> str:
    return f"""CREATE OR REPLACE FUNCTION rankroom_item_slots_sync() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO item_slots ({SLOT_COLUMNS}) VALUES (NEW.id, NEW.project_id, NEW.priority,
      NEW.is_gold, NEW.flagged, rankroom_expertise_key(NEW.expertise), 0, 0,
      NOT NEW.is_gold AND NOT NEW.flagged, random());
    RETURN NEW;
  ELSIF TG_OP = 'UPDATE' THEN
    UPDATE item_slots SET priority = NEW.priority, is_gold = NEW.is_gold,
      flagged = NEW.flagged, expertise_key = rankroom_expertise_key(NEW.expertise),
      open = {open_}
    WHERE item_id = NEW.id;
    RETURN NEW;
  END IF;
  DELETE FROM item_slots WHERE item_id = OLD.id;
  RETURN OLD;
END
$$"""


def _set_trigger(revision_: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER item_slots_update")
        op.execute(_sqlite_update_trigger(OPEN[revision_]))
    else:
        op.execute(_pg_function(OPEN[revision_]))


def _reopen(capacity: str) -> None:
    op.execute(
        "UPDATE item_slots SET open = (NOT is_gold AND NOT flagged AND taken < "
        f"{capacity} * {OVERLAP.format(i='item_slots')})"
    )


def upgrade() -> None:
    op.add_column(
        "project",
        sa.Column("pairs", sa.String(length=16), nullable=False, server_default="all"),
    )
    op.add_column("project", sa.Column("pair_reference", sa.String(length=200), nullable=True))
    op.add_column(
        "item_slots", sa.Column("units", sa.Integer(), nullable=False, server_default="1")
    )
    # Every pair of a pairwise item's responses (pairs.unit_count for "all").
    op.execute(
        "UPDATE item_slots SET units = (SELECT CASE WHEN count(*) > 2"
        " THEN count(*) * (count(*) - 1) / 2 ELSE 1 END"
        " FROM response r WHERE r.item_id = item_slots.item_id)"
        " WHERE project_id IN (SELECT id FROM project WHERE mode = 'pairwise')"
    )
    _reopen("units")
    _set_trigger("integ_pairs")


def downgrade() -> None:
    _set_trigger("assign2")
    _reopen("1")
    op.drop_column("item_slots", "units")
    op.drop_column("project", "pair_reference")
    op.drop_column("project", "pairs")
