"""slot overlap: each item_slots row keeps its project's overlap, its capacity's other factor

Every statement that recomputes ``open`` now reads the capacity (``units`` × ``overlap``)
from the row it updates, under that row's lock. Before, the hand-out and ending
statements took the overlap as a parameter read earlier in the rater's request, so on
PostgreSQL one racing an admin's overlap change computed ``open`` from the old value
and could over-fill an item. The column is backfilled from the project; new rows take
the project's overlap in the insert trigger (on PostgreSQL reading the project row FOR
SHARE, so an overlap change in flight is waited for and its value is the one stored),
and the item update trigger computes ``open`` from the row.

Revision ID: integ_slot_overlap
Revises: screen_people
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "integ_slot_overlap"
down_revision: str | None = "screen_people"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SLOT_COLUMNS = (
    "item_id, project_id, priority, is_gold, flagged, expertise_key, taken, skips, open, rand"
)
SQLITE_KEY = (
    "COALESCE((SELECT group_concat(v, '|') FROM (SELECT DISTINCT lower(value) AS v"
    " FROM json_each(NEW.expertise) ORDER BY v)), '')"
)
SQLITE_RAND = "(abs(random()) % 1000000000) / 1000000000.0"
PROJECT_OVERLAP = "(SELECT overlap FROM project WHERE id = NEW.project_id)"
# The triggers as revision integ_pairs left them (the insert one as assign1 wrote it),
# and as this revision writes them: the row's own overlap.
OPEN = {
    "before": "(NOT NEW.is_gold AND NOT NEW.flagged AND item_slots.taken < "
    f"item_slots.units * {PROJECT_OVERLAP})",
    "after": "(NOT NEW.is_gold AND NOT NEW.flagged AND item_slots.taken < "
    "item_slots.units * item_slots.overlap)",
}
COLUMNS = {"before": SLOT_COLUMNS, "after": f"{SLOT_COLUMNS}, overlap"}


def _sqlite_triggers(version: str) -> list[str]:
    overlap = f", {PROJECT_OVERLAP}" if version == "after" else ""
    return [
        f"""CREATE TRIGGER item_slots_insert AFTER INSERT ON item BEGIN
  INSERT INTO item_slots ({COLUMNS[version]}) VALUES (NEW.id, NEW.project_id, NEW.priority,
    NEW.is_gold, NEW.flagged, {SQLITE_KEY}, 0, 0,
    NOT NEW.is_gold AND NOT NEW.flagged, {SQLITE_RAND}{overlap});
END""",
        f"""CREATE TRIGGER item_slots_update AFTER UPDATE OF priority, is_gold, flagged, expertise
ON item BEGIN
  UPDATE item_slots SET priority = NEW.priority, is_gold = NEW.is_gold, flagged = NEW.flagged,
    expertise_key = {SQLITE_KEY},
    open = {OPEN[version]}
  WHERE item_id = NEW.id;
END""",
    ]


def _pg_function(version: str) -> str:
    if version == "after":
        # FOR SHARE: an overlap change holds the project row until it commits; the new
        # row waits for it and stores the overlap that committed (settings.change_overlap
        # updates only the rows its own statement sees).
        declare = "DECLARE\n  cap integer;\n"
        read = "    SELECT overlap INTO cap FROM project WHERE id = NEW.project_id FOR SHARE;\n"
        overlap = ", cap"
    else:
        declare = read = overlap = ""
    return f"""CREATE OR REPLACE FUNCTION rankroom_item_slots_sync() RETURNS trigger
LANGUAGE plpgsql AS $$
{declare}BEGIN
  IF TG_OP = 'INSERT' THEN
{read}    INSERT INTO item_slots ({COLUMNS[version]}) VALUES (NEW.id, NEW.project_id, NEW.priority,
      NEW.is_gold, NEW.flagged, rankroom_expertise_key(NEW.expertise), 0, 0,
      NOT NEW.is_gold AND NOT NEW.flagged, random(){overlap});
    RETURN NEW;
  ELSIF TG_OP = 'UPDATE' THEN
    UPDATE item_slots SET priority = NEW.priority, is_gold = NEW.is_gold,
      flagged = NEW.flagged, expertise_key = rankroom_expertise_key(NEW.expertise),
      open = {OPEN[version]}
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
    # SQLite adds a NOT NULL column only with a default; every row gets its value next
    # and the triggers always give one (PostgreSQL drops the default; the model has none).
    op.add_column(
        "item_slots", sa.Column("overlap", sa.Integer(), nullable=False, server_default="1")
    )
    op.execute(
        "UPDATE item_slots SET overlap = "
        "(SELECT overlap FROM project WHERE project.id = item_slots.project_id)"
    )
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column("item_slots", "overlap", server_default=None)
    _set_triggers("after")


def downgrade() -> None:
    # The old triggers first: SQLite refuses to drop a column a trigger still names.
    _set_triggers("before")
    # ALTER TABLE DROP COLUMN (SQLite 3.35+) in place: no copy of the table.
    with op.batch_alter_table("item_slots", recreate="never") as batch:
        batch.drop_column("overlap")
