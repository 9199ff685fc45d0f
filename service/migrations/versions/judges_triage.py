"""judge triage: the item trigger keeps a slot's triage raise when the item's priority changes

Triage (service/rating/judged.py) raises ``item_slots.priority`` above the item's own
priority while its model judges disagree. The update trigger copied ``NEW.priority``
over it; it now moves the slot's priority by the item's change, so the raise stays
(``priority + NEW.priority - OLD.priority``: the slot's priority as stored in the row).

Revision ID: judges_triage
Revises: judges_schema
Create Date: 2026-12-05 23:50:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "judges_triage"
down_revision: str | None = "judges_schema"
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
OPEN = (
    "(NOT NEW.is_gold AND NOT NEW.flagged AND item_slots.taken < "
    "item_slots.units * item_slots.overlap + item_slots.raised)"
)
PRIORITY = {
    "before": "NEW.priority",
    "after": "item_slots.priority + NEW.priority - OLD.priority",
}


def _sqlite_trigger(version: str) -> str:
    return f"""CREATE TRIGGER item_slots_update AFTER UPDATE OF priority, is_gold, flagged, expertise
ON item BEGIN
  UPDATE item_slots SET priority = {PRIORITY[version]}, is_gold = NEW.is_gold,
    flagged = NEW.flagged, expertise_key = {SQLITE_KEY},
    open = {OPEN}
  WHERE item_id = NEW.id;
END"""


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
    UPDATE item_slots SET priority = {PRIORITY[version]}, is_gold = NEW.is_gold,
      flagged = NEW.flagged, expertise_key = rankroom_expertise_key(NEW.expertise),
      open = {OPEN}
    WHERE item_id = NEW.id;
    RETURN NEW;
  END IF;
  DELETE FROM item_slots WHERE item_id = OLD.id;
  RETURN OLD;
END
$$"""


def _set_trigger(version: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER item_slots_update")
        op.execute(_sqlite_trigger(version))
    else:
        op.execute(_pg_function(version))


def upgrade() -> None:
    _set_trigger("after")


def downgrade() -> None:
    _set_trigger("before")
